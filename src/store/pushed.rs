//! Pushed authorization requests (RFC 9126), kept by the SHA-256 of their
//! `request_uri` until used once or expired.

use sqlx::types::Json;

use super::{Db, on_db};

const INSERT: &str = "INSERT INTO pushed_requests (reference_hash, client_id, params, expires_at) \
     VALUES ($1, $2, $3, $4)";

pub async fn insert(
    db: &Db,
    reference_hash: &[u8],
    client_id: &str,
    params: &[(String, String)],
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT).bind(reference_hash).bind(client_id).bind(Json(params))
        .bind(expires_at).execute(p).await.map(drop))
}

const TAKE: &str = "DELETE FROM pushed_requests WHERE reference_hash = $1 AND client_id = $2 \
     AND expires_at > $3 RETURNING params";

/// The parameters of a pushed request of this client, once (RFC 9126 §4:
/// a `request_uri` is single use).
pub async fn take(
    db: &Db,
    reference_hash: &[u8],
    client_id: &str,
    now: i64,
) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let row: Option<Json<Vec<(String, String)>>> = on_db!(db, p => sqlx::query_scalar(TAKE)
        .bind(reference_hash).bind(client_id).bind(now).fetch_optional(p).await)?;
    Ok(row.map(|j| j.0))
}

const PURGE: &str = "DELETE FROM pushed_requests WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
