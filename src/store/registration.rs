//! Initial access tokens for dynamic client registration (RFC 7591 §3),
//! stored as their SHA-256.

use super::{Db, on_db};

const INSERT: &str = "INSERT INTO registration_tokens (token_hash, uses_left, expires_at, created_at) \
     VALUES ($1, $2, $3, $4)";

pub async fn insert(
    db: &Db,
    token_hash: &[u8],
    uses: Option<i64>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT).bind(token_hash).bind(uses).bind(expires_at).bind(now)
        .execute(p).await.map(drop))
}

const VALID: &str = "SELECT COUNT(*) FROM registration_tokens WHERE token_hash = $1 \
     AND (expires_at IS NULL OR expires_at > $2) AND (uses_left IS NULL OR uses_left > 0)";

/// Whether the token may register a client now.
pub async fn is_valid(db: &Db, token_hash: &[u8], now: i64) -> Result<bool, sqlx::Error> {
    let count: i64 = on_db!(db, p => sqlx::query_scalar(VALID).bind(token_hash).bind(now)
        .fetch_one(p).await)?;
    Ok(count > 0)
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
