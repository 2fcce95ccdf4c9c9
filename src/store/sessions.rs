//! Browser sessions (tower-sessions records), stored by the SHA-256 of their
//! id. A logged-in session also carries its user and its public `sid`, so
//! that a user's sessions can be listed and ended from any instance.

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, in_tx, on_db};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub data: Json<serde_json::Value>,
    pub expires_at: i64,
}

/// One row as it is written: the record plus what is copied out of it.
pub struct SessionWrite<'a> {
    pub id_hash: &'a [u8],
    pub user_id: Option<Uuid>,
    pub sid: Option<&'a str>,
    pub data: &'a serde_json::Value,
    pub expires_at: i64,
}

const INSERT: &str = "INSERT INTO sessions (id_hash, user_id, sid, data, expires_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";

/// Stores a new session; false when the id is taken (then nothing changed).
pub async fn insert(db: &Db, s: &SessionWrite<'_>) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(s.id_hash).bind(s.user_id).bind(s.sid).bind(Json(s.data)).bind(s.expires_at)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const UPSERT: &str = "INSERT INTO sessions (id_hash, user_id, sid, data, expires_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_hash) DO UPDATE SET \
     user_id = excluded.user_id, sid = excluded.sid, data = excluded.data, expires_at = excluded.expires_at";

pub async fn save(db: &Db, s: &SessionWrite<'_>) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(UPSERT)
        .bind(s.id_hash).bind(s.user_id).bind(s.sid).bind(Json(s.data)).bind(s.expires_at)
        .execute(p).await.map(drop))
}

const LOAD: &str = "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2";

pub async fn load(db: &Db, id_hash: &[u8], now: i64) -> Result<Option<SessionRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(LOAD).bind(id_hash).bind(now).fetch_optional(p).await)
}

const DELETE: &str = "DELETE FROM sessions WHERE id_hash = $1";

pub async fn delete(db: &Db, id_hash: &[u8]) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(id_hash).execute(p).await.map(drop))
}

const LIVE_SID: &str = "SELECT COUNT(*) FROM sessions WHERE sid = $1 AND expires_at > $2";

/// Whether the SSO session `sid` is still alive (on any instance).
pub async fn is_live(db: &Db, sid: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n: i64 =
        on_db!(db, p => sqlx::query_scalar(LIVE_SID).bind(sid).bind(now).fetch_one(p).await)?;
    Ok(n > 0)
}

/// A logged-in session as `/account` lists it.
#[derive(Debug, Clone, FromRow)]
pub struct UserSession {
    pub sid: String,
    pub data: Json<serde_json::Value>,
    pub expires_at: i64,
}

const OF_USER: &str = "SELECT sid, data, expires_at FROM sessions \
     WHERE user_id = $1 AND sid IS NOT NULL AND expires_at > $2 ORDER BY expires_at DESC";

pub async fn of_user(db: &Db, user_id: Uuid, now: i64) -> Result<Vec<UserSession>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(OF_USER).bind(user_id).bind(now).fetch_all(p).await)
}

const END_SID: &str = "DELETE FROM sessions WHERE sid = $1";
pub(super) const END_USER: &str = "DELETE FROM sessions WHERE user_id = $1 AND sid IS NOT NULL";
const REVOKE_SID_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE sid = $1 AND offline = FALSE AND revoked_at IS NULL";
pub(super) const REVOKE_USER_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
     WHERE user_id = $1 AND sid IS NOT NULL AND offline = FALSE AND revoked_at IS NULL";

/// Ends the SSO session `sid` for every client: the session and the refresh
/// tokens bound to it (not `offline_access` ones). Returns whether it existed.
pub async fn end(db: &Db, sid: &str, now: i64) -> Result<bool, sqlx::Error> {
    in_tx!(db, tx => {
        let ended = sqlx::query(END_SID).bind(sid).execute(&mut *tx).await?.rows_affected();
        sqlx::query(REVOKE_SID_REFRESH).bind(sid).bind(now).execute(&mut *tx).await?;
        Ok(ended > 0)
    })
}

/// Ends every SSO session of a user ("sign out everywhere").
pub async fn end_all_of_user(db: &Db, user_id: Uuid, now: i64) -> Result<u64, sqlx::Error> {
    in_tx!(db, tx => {
        let ended = sqlx::query(END_USER).bind(user_id).execute(&mut *tx).await?.rows_affected();
        sqlx::query(REVOKE_USER_REFRESH).bind(user_id).bind(now).execute(&mut *tx).await?;
        Ok(ended)
    })
}

const PURGE: &str = "DELETE FROM sessions WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
