//! Opaque access tokens, refresh tokens and revoked JWT ids. Tokens are
//! stored as the SHA-256 of their value, never in clear.

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, in_tx, on_db};

/// An opaque access token (RFC 6749 §1.4), looked up on every use.
#[derive(Debug, Clone, FromRow)]
pub struct AccessToken {
    pub token_hash: Vec<u8>,
    pub jti: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    /// The grant (refresh-token family) it came from, if any.
    pub grant_id: Option<Uuid>,
    pub scope: String,
    pub audiences: Json<Vec<String>>,
    /// The `groups` claim it carries (granted with the `groups` scope, or
    /// a service client's groups).
    pub groups: Option<Json<Vec<String>>>,
    /// The RFC 8693 `act` claim of an exchanged token.
    pub act: Option<Json<serde_json::Value>>,
    /// How the user signed in (tokens of a user's grant).
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Option<Json<Vec<String>>>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const INSERT_ACCESS: &str = "INSERT INTO access_tokens (token_hash, jti, client_id, user_id, grant_id, \
     scope, audiences, groups, act, issued_at, expires_at, auth_time, acr, amr) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

pub async fn insert_access(db: &Db, t: &AccessToken) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT_ACCESS)
        .bind(&t.token_hash).bind(&t.jti).bind(&t.client_id).bind(t.user_id).bind(t.grant_id)
        .bind(&t.scope).bind(&t.audiences).bind(&t.groups).bind(&t.act).bind(t.issued_at)
        .bind(t.expires_at).bind(t.auth_time).bind(&t.acr).bind(&t.amr)
        .execute(p).await.map(drop))
}

const FIND_ACCESS: &str = "SELECT token_hash, jti, client_id, user_id, grant_id, scope, audiences, \
     groups, act, issued_at, expires_at, revoked_at, auth_time, acr, amr \
     FROM access_tokens WHERE token_hash = $1";

pub async fn find_access(db: &Db, hash: &[u8]) -> Result<Option<AccessToken>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND_ACCESS).bind(hash).fetch_optional(p).await)
}

/// Revoking an opaque token also records its `jti` as revoked: the phantom
/// JWTs `/forward_auth` made from it carry that `jti` and must die with it.
macro_rules! remember_jtis_where {
    ($condition:literal) => {
        concat!(
            "INSERT INTO revoked_jtis (jti, client_id, expires_at) SELECT jti, client_id, expires_at \
             FROM access_tokens WHERE ",
            $condition,
            " AND revoked_at IS NULL ON CONFLICT (jti) DO NOTHING"
        )
    };
}

pub(super) const REMEMBER_USER_JTIS: &str = remember_jtis_where!("user_id = $1");
const REMEMBER_JTI: &str = remember_jtis_where!("token_hash = $1");
const REMEMBER_GRANT_JTIS: &str = remember_jtis_where!("grant_id = $1");
const REMEMBER_USER_CLIENT_JTIS: &str = remember_jtis_where!("user_id = $1 AND client_id = $2");

pub(super) const REVOKE_USER_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
pub(super) const REVOKE_USER_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";

const REVOKE_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL";

pub async fn revoke_access(db: &Db, hash: &[u8], now: i64) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(REMEMBER_JTI).bind(hash).execute(&mut *tx).await?;
        sqlx::query(REVOKE_ACCESS).bind(hash).bind(now).execute(&mut *tx).await?;
        Ok(())
    })
}

/// A refresh token; rotation chains tokens of one grant into a family.
#[derive(Debug, Clone, FromRow)]
pub struct RefreshToken {
    pub token_hash: Vec<u8>,
    pub family_id: Uuid,
    pub parent_hash: Option<Vec<u8>>,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub audiences: Json<Vec<String>>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The SSO session it is bound to; `None` for grants without a login.
    pub sid: Option<String>,
    /// `offline_access`: outlives the SSO session.
    pub offline: bool,
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Option<Json<Vec<String>>>,
}

macro_rules! refresh_columns {
    () => {
        "token_hash, family_id, parent_hash, client_id, user_id, scope, audiences, issued_at, \
         expires_at, rotated_at, revoked_at, sid, offline, auth_time, acr, amr"
    };
}

const INSERT_REFRESH: &str = concat!(
    "INSERT INTO refresh_tokens (",
    refresh_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

pub async fn insert_refresh(db: &Db, t: &RefreshToken) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT_REFRESH)
        .bind(&t.token_hash).bind(t.family_id).bind(&t.parent_hash).bind(&t.client_id)
        .bind(t.user_id).bind(&t.scope).bind(&t.audiences).bind(t.issued_at).bind(t.expires_at)
        .bind(t.rotated_at).bind(t.revoked_at).bind(&t.sid).bind(t.offline).bind(t.auth_time)
        .bind(&t.acr).bind(&t.amr)
        .execute(p).await.map(drop))
}

const FIND_REFRESH: &str = concat!(
    "SELECT ",
    refresh_columns!(),
    " FROM refresh_tokens WHERE token_hash = $1"
);

pub async fn find_refresh(db: &Db, hash: &[u8]) -> Result<Option<RefreshToken>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND_REFRESH).bind(hash).fetch_optional(p).await)
}

const ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1 \
     AND client_id = $3 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2";

const GRANT_LIVE: &str = "SELECT revoked_at FROM grants WHERE grant_id = $1";
const GRANT_LIVE_LOCKED: &str = "SELECT revoked_at FROM grants WHERE grant_id = $1 FOR SHARE";

/// Rotates an unused, unrevoked, unexpired refresh token of this client
/// into `successor`, in one transaction: exactly one of any number of
/// concurrent callers rotates it (RFC 9700 §4.14.2), and a token is never
/// rotated without its successor stored (a crash or an outage between the
/// two would leave the client with neither). False: it could not be
/// rotated (used, revoked or expired meanwhile, or its grant revoked);
/// nothing was written.
pub async fn rotate_into(
    db: &Db,
    parent: &[u8],
    client_id: &str,
    successor: &RefreshToken,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let t = successor;
    // Every revocation updates the grant row before its refresh tokens:
    // holding it shared makes a revocation wait for this rotation (and then
    // see the successor), or this rotation wait for the revocation (and
    // then see the grant revoked). SQLite's write lock already orders them.
    let grant_live = match db {
        Db::Postgres(_) => GRANT_LIVE_LOCKED,
        Db::Sqlite(_) => GRANT_LIVE,
    };
    Ok(in_tx!(db, tx => {
        let revoked: Option<Option<i64>> = sqlx::query_scalar(grant_live)
            .bind(t.family_id).fetch_optional(&mut *tx).await?;
        // No row: a family older than grants' records, which keeps working.
        if revoked.flatten().is_some() {
            return Ok(false);
        }
        let rotated = sqlx::query(ROTATE).bind(parent).bind(now).bind(client_id)
            .execute(&mut *tx).await?.rows_affected() == 1;
        if rotated {
            sqlx::query(INSERT_REFRESH)
                .bind(&t.token_hash).bind(t.family_id).bind(&t.parent_hash).bind(&t.client_id)
                .bind(t.user_id).bind(&t.scope).bind(&t.audiences).bind(t.issued_at)
                .bind(t.expires_at).bind(t.rotated_at).bind(t.revoked_at).bind(&t.sid)
                .bind(t.offline).bind(t.auth_time).bind(&t.acr).bind(&t.amr)
                .execute(&mut *tx).await?;
        }
        rotated
    }))
}

const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
const REVOKE_GRANT_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";

/// Revokes a grant: its row (so its JWTs too), every refresh token and the
/// opaque access tokens issued from it (RFC 7009 §2.1, RFC 9700 §4.14.2).
pub async fn revoke_grant(db: &Db, family_id: Uuid, now: i64) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(super::grants::REVOKE).bind(family_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(REVOKE_FAMILY).bind(family_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(REMEMBER_GRANT_JTIS).bind(family_id).execute(&mut *tx).await?;
        sqlx::query(REVOKE_GRANT_ACCESS).bind(family_id).bind(now).execute(&mut *tx).await?;
        Ok(())
    })
}

const REVOKE_USER_CLIENT_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL";
const REVOKE_USER_CLIENT_ACCESS: &str = "UPDATE access_tokens SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL";

/// Revokes every grant a user gave a client, with its refresh and opaque
/// access tokens (when the user withdraws consent).
pub async fn revoke_user_client(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(super::grants::REVOKE_USER_CLIENT).bind(user_id).bind(client_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(REVOKE_USER_CLIENT_REFRESH).bind(user_id).bind(client_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(REMEMBER_USER_CLIENT_JTIS).bind(user_id).bind(client_id).execute(&mut *tx).await?;
        sqlx::query(REVOKE_USER_CLIENT_ACCESS).bind(user_id).bind(client_id).bind(now).execute(&mut *tx).await?;
        Ok(())
    })
}

const CLIENTS_WITH_REFRESH: &str = "SELECT DISTINCT client_id FROM refresh_tokens \
     WHERE user_id = $1 AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > $2 \
     ORDER BY client_id";

/// The clients holding a live refresh token of `user_id` (apps that keep
/// access between sign-ins).
pub async fn clients_with_refresh(
    db: &Db,
    user_id: Uuid,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(CLIENTS_WITH_REFRESH).bind(user_id).bind(now).fetch_all(p).await)
}

const REVOKE_JTI: &str = "INSERT INTO revoked_jtis (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Records a JWT access token as revoked until it would have expired.
pub async fn revoke_jti(
    db: &Db,
    jti: &str,
    client_id: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(REVOKE_JTI).bind(jti).bind(client_id).bind(expires_at)
        .execute(p).await.map(drop))
}

const JTI_REVOKED: &str = "SELECT COUNT(*) FROM revoked_jtis WHERE jti = $1";

pub async fn is_jti_revoked(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar(JTI_REVOKED).bind(jti).fetch_one(p).await)?;
    Ok(n > 0)
}

const PURGE_ACCESS: &str = "DELETE FROM access_tokens WHERE expires_at <= $1";
const PURGE_REFRESH: &str = "DELETE FROM refresh_tokens WHERE expires_at <= $1";
const PURGE_JTIS: &str = "DELETE FROM revoked_jtis WHERE expires_at <= $1";

/// Deletes rows of tokens that expired before `now`; refresh tokens
/// `keep_refresh_for` seconds later, as the grant they continue must stay
/// while the access tokens they issued live (an API's may outlive a short
/// refresh token). Returns how many.
pub async fn purge_expired(db: &Db, now: i64, keep_refresh_for: i64) -> Result<u64, sqlx::Error> {
    let mut purged = 0;
    for (sql, before) in [
        (PURGE_ACCESS, now),
        (PURGE_REFRESH, now - keep_refresh_for),
        (PURGE_JTIS, now),
    ] {
        purged += on_db!(db, p => sqlx::query(sql).bind(before).execute(p).await.map(|r| r.rows_affected()))?;
    }
    Ok(purged)
}
