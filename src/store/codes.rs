//! Authorization codes (RFC 6749 §4.1.2), stored as SHA-256. A code is
//! consumed by one conditional UPDATE; its row stays until it expires so
//! that a replay can find it and revoke what it issued (§4.1.2).

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};

#[derive(Debug, Clone, FromRow)]
pub struct Code {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub user_id: Uuid,
    pub sid: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audiences: Json<Vec<String>>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Json<Vec<String>>,
    pub offline: bool,
    pub grant_id: Uuid,
    /// The `jti` the access token issued from this code gets.
    pub access_jti: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, sid, redirect_uri, scope, audiences, nonce, code_challenge, \
         auth_time, acr, amr, offline, grant_id, access_jti, created_at, expires_at, used_at"
    };
}

const TAKE: &str = concat!(
    "UPDATE authorization_codes SET used_at = $2 \
     WHERE code_hash = $1 AND client_id = $3 AND used_at IS NULL AND expires_at > $2 RETURNING ",
    code_columns!()
);

/// Consumes an unused, unexpired code of this client: exactly one caller
/// gets it. Another client's attempt leaves the code as it was.
pub async fn take(
    db: &Db,
    hash: &[u8],
    client_id: &str,
    now: i64,
) -> Result<Option<Code>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(TAKE).bind(hash).bind(now).bind(client_id).fetch_optional(p).await)
}

const FIND: &str = concat!(
    "SELECT ",
    code_columns!(),
    " FROM authorization_codes WHERE code_hash = $1"
);

pub async fn find(db: &Db, hash: &[u8]) -> Result<Option<Code>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND).bind(hash).fetch_optional(p).await)
}

/// A user's codes not yet redeemed stop being redeemable (signed out
/// everywhere): expired at 0, not at now, so that a redemption whose clock
/// read a moment earlier (or another instance's, behind) cannot take one.
pub(super) const EXPIRE_USER: &str = "UPDATE authorization_codes SET expires_at = 0 \
     WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2";

const REVOKE: &str = "UPDATE authorization_codes SET revoked_at = $2 WHERE code_hash = $1";
const REVOKED: &str = "SELECT revoked_at FROM authorization_codes WHERE code_hash = $1";

/// Marks a replayed code, so that its first use, if still issuing, notices.
pub async fn revoke(db: &Db, hash: &[u8], now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(REVOKE).bind(hash).bind(now).execute(p).await.map(drop))
}

pub async fn is_revoked(db: &Db, hash: &[u8]) -> Result<bool, sqlx::Error> {
    let at: Option<Option<i64>> =
        on_db!(db, p => sqlx::query_scalar(REVOKED).bind(hash).fetch_optional(p).await)?;
    Ok(at.flatten().is_some())
}

const PURGE: &str = "DELETE FROM authorization_codes WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
