//! Logout requests POSTed to end_session, kept for the moment it takes the
//! browser to come back with a GET (and its session cookie), so that their
//! `id_token_hint` never goes into a URL.

use sqlx::types::Json;

use super::{Db, on_db};

const INSERT: &str = "INSERT INTO logout_requests (id, params, expires_at) VALUES ($1, $2, $3)";

pub async fn park(
    db: &Db,
    id: &str,
    params: &[(String, String)],
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT).bind(id).bind(Json(params)).bind(expires_at)
        .execute(p).await.map(drop))
}

const TAKE: &str = "DELETE FROM logout_requests WHERE id = $1 AND expires_at > $2 RETURNING params";

/// The parameters of a parked request, once.
pub async fn take(
    db: &Db,
    id: &str,
    now: i64,
) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let row: Option<Json<Vec<(String, String)>>> =
        on_db!(db, p => sqlx::query_scalar(TAKE).bind(id).bind(now).fetch_optional(p).await)?;
    Ok(row.map(|j| j.0))
}

const PURGE: &str = "DELETE FROM logout_requests WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
