//! Initial access tokens for dynamic client registration (RFC 7591 §3),
//! stored as their SHA-256, with what the clients they register may get
//! without a user.

use sqlx::types::Json;

use super::{Db, clients::ServiceLimit, on_db};
use crate::types::Scopes;

/// A token to store: its limits, and what its clients may have for
/// `client_credentials`.
pub struct NewToken<'a> {
    pub token_hash: &'a [u8],
    pub uses: Option<i64>,
    pub expires_at: Option<i64>,
    pub grants: &'a ServiceLimit,
}

const INSERT: &str = "INSERT INTO registration_tokens \
     (token_hash, uses_left, expires_at, created_at, scopes, audiences) \
     VALUES ($1, $2, $3, $4, $5, $6)";

pub async fn insert(db: &Db, t: &NewToken<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT).bind(t.token_hash).bind(t.uses).bind(t.expires_at).bind(now)
        .bind(Json(&t.grants.scopes)).bind(Json(&t.grants.audiences))
        .execute(p).await.map(drop))
}

const VALID: &str = "SELECT scopes, audiences FROM registration_tokens WHERE token_hash = $1 \
     AND (expires_at IS NULL OR expires_at > $2) AND (uses_left IS NULL OR uses_left > 0)";

/// What the token grants its clients, if it may register one now.
pub async fn valid(
    db: &Db,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<ServiceLimit>, sqlx::Error> {
    let row: Option<(Json<Scopes>, Json<Vec<String>>)> = on_db!(db, p => sqlx::query_as(VALID)
        .bind(token_hash).bind(now).fetch_optional(p).await)?;
    Ok(row.map(|(scopes, audiences)| ServiceLimit {
        scopes: scopes.0,
        audiences: audiences.0,
    }))
}

const USE: &str = "UPDATE registration_tokens SET uses_left = uses_left - 1 WHERE token_hash = $1 \
     AND (expires_at IS NULL OR expires_at > $2) AND (uses_left IS NULL OR uses_left > 0)";

/// Spends one use of the token; false when it has none left (or expired
/// meanwhile).
pub async fn spend(db: &Db, token_hash: &[u8], now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(USE).bind(token_hash).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const PURGE: &str = "DELETE FROM registration_tokens WHERE expires_at <= $1 OR uses_left <= 0";

pub async fn purge(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
