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
    pub ends_at: Option<i64>,
}

const INSERT: &str = "INSERT INTO sessions (id_hash, user_id, sid, data, expires_at, ends_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

/// Stores a new session; false when the id is taken (then nothing changed).
pub async fn insert(db: &Db, s: &SessionWrite<'_>) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(s.id_hash).bind(s.user_id).bind(s.sid).bind(Json(s.data)).bind(s.expires_at).bind(s.ends_at)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const UPDATE: &str = "UPDATE sessions SET user_id = $2, sid = $3, data = $4, expires_at = $5, ends_at = $6 \
     WHERE id_hash = $1";

/// Writes an existing session back. A plain UPDATE: a session deleted
/// meanwhile (logout, "sign out everywhere", a disabled user) stays deleted
/// instead of being written back by a request still in flight.
pub async fn save(db: &Db, s: &SessionWrite<'_>) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(UPDATE)
        .bind(s.id_hash).bind(s.user_id).bind(s.sid).bind(Json(s.data)).bind(s.expires_at).bind(s.ends_at)
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

const KEEP_ALIVE: &str = "UPDATE sessions SET expires_at = \
     CASE WHEN ends_at IS NOT NULL AND ends_at < $3 THEN ends_at ELSE $3 END \
     WHERE sid = $1 AND expires_at > $2";

/// Whether the SSO session `sid` is still alive (on any instance); if so,
/// its idle expiry moves to `until` (never past its absolute end): an app
/// refreshing its tokens keeps the session it belongs to alive.
pub async fn keep_alive(db: &Db, sid: &str, now: i64, until: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(KEEP_ALIVE).bind(sid).bind(now).bind(until)
        .execute(p).await.map(|r| r.rows_affected() > 0))
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

const IS_ACTIVE: &str = "SELECT COUNT(*) FROM sessions WHERE sid = $1 AND expires_at > $2";

/// Whether the SSO session `sid` is still going.
pub async fn is_active(db: &Db, sid: &str, now: i64) -> Result<bool, sqlx::Error> {
    let count: i64 =
        on_db!(db, p => sqlx::query_scalar(IS_ACTIVE).bind(sid).bind(now).fetch_one(p).await)?;
    Ok(count > 0)
}

const STILL_ACTIVE: &str =
    "UPDATE sessions SET expires_at = expires_at WHERE sid = $1 AND expires_at > $2";

/// Whether the SSO session `sid` is still going, read by writing its row:
/// on PostgreSQL a logout that is ending it (and revoking its grants) in a
/// transaction not yet committed is waited for, where a `SELECT` would see
/// the session as it was. Every logout deletes the session row before it
/// revokes grants, so a grant recorded before this returns `true` is seen
/// by that revocation.
pub async fn still_active(db: &Db, sid: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(STILL_ACTIVE).bind(sid).bind(now)
        .execute(p).await.map(|r| r.rows_affected() > 0))
}

const COUNT_ACTIVE: &str =
    "SELECT COUNT(*) FROM sessions WHERE sid IS NOT NULL AND expires_at > $1";

/// Logged-in sessions that have not expired (a metric).
pub async fn count_active(db: &Db, now: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(COUNT_ACTIVE).bind(now).fetch_one(p).await)
}

const END_SID: &str = "DELETE FROM sessions WHERE sid = $1 RETURNING data";
pub(super) const END_USER_RETURNING: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND sid IS NOT NULL RETURNING data";
const END_OTHERS: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND sid IS NOT NULL AND sid <> $2 RETURNING data";
const REVOKE_OTHERS_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $3 \
     WHERE user_id = $1 AND sid IS NOT NULL AND sid <> $2 AND offline = FALSE AND revoked_at IS NULL";
const REVOKE_SID_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE sid = $1 AND offline = FALSE AND revoked_at IS NULL";
pub(super) const REVOKE_USER_REFRESH: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
     WHERE user_id = $1 AND sid IS NOT NULL AND offline = FALSE AND revoked_at IS NULL";

/// The records of sessions just ended (to tell their clients).
pub type Ended = Vec<Json<serde_json::Value>>;

/// Ends the SSO session `sid` for every client: the session and the grants
/// and refresh tokens bound to it (not `offline_access` ones).
pub async fn end(db: &Db, sid: &str, now: i64) -> Result<Ended, sqlx::Error> {
    in_tx!(db, tx => {
        let ended = sqlx::query_scalar(END_SID).bind(sid).fetch_all(&mut *tx).await?;
        sqlx::query(super::grants::REVOKE_SESSION).bind(sid).bind(now).execute(&mut *tx).await?;
        sqlx::query(REVOKE_SID_REFRESH).bind(sid).bind(now).execute(&mut *tx).await?;
        Ok(ended)
    })
}

/// Ends every SSO session of a user ("sign out everywhere").
pub async fn end_all_of_user(db: &Db, user_id: Uuid, now: i64) -> Result<Ended, sqlx::Error> {
    in_tx!(db, tx => {
        let ended = sqlx::query_scalar(END_USER_RETURNING).bind(user_id).fetch_all(&mut *tx).await?;
        sqlx::query(super::grants::REVOKE_USER_SESSIONS).bind(user_id).bind(now).execute(&mut *tx).await?;
        sqlx::query(REVOKE_USER_REFRESH).bind(user_id).bind(now).execute(&mut *tx).await?;
        Ok(ended)
    })
}

/// Ends every SSO session of a user but `keep` (after a password change).
pub async fn end_others_of_user(
    db: &Db,
    user_id: Uuid,
    keep: &str,
    now: i64,
) -> Result<Ended, sqlx::Error> {
    in_tx!(db, tx => {
        let ended = sqlx::query_scalar(END_OTHERS).bind(user_id).bind(keep).fetch_all(&mut *tx).await?;
        sqlx::query(super::grants::REVOKE_OTHER_SESSIONS).bind(user_id).bind(keep).bind(now).execute(&mut *tx).await?;
        sqlx::query(REVOKE_OTHERS_REFRESH).bind(user_id).bind(keep).bind(now).execute(&mut *tx).await?;
        Ok(ended)
    })
}

const PURGE: &str = "DELETE FROM sessions WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
