//! Gateway session cookies (`gateway_sessions`): a token's SHA-256 bound to
//! one SSO session. A token is found only while its session lives: every
//! lookup joins the session row, so ending the session ends the token.

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, in_tx, on_db};

/// The session behind a gateway token, with the user it belongs to.
#[derive(Debug, Clone, FromRow)]
pub struct GatewaySessionRow {
    pub sid: String,
    pub user_id: Uuid,
    /// The session record (its login: level, sign-in time, end).
    pub data: Json<serde_json::Value>,
    pub expires_at: i64,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

const INSERT: &str =
    "INSERT INTO gateway_sessions (token_hash, sid, user_id, created_at) VALUES ($1, $2, $3, $4)";
const KEEP_NEWEST: &str = "DELETE FROM gateway_sessions WHERE sid = $1 AND id NOT IN \
     (SELECT id FROM gateway_sessions WHERE sid = $1 ORDER BY id DESC LIMIT $2)";

/// Stores a token of session `sid`, keeping the session's newest `keep`.
pub async fn insert(
    db: &Db,
    token_hash: &[u8],
    sid: &str,
    user_id: Uuid,
    now: i64,
    keep: i64,
) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(INSERT).bind(token_hash).bind(sid).bind(user_id).bind(now)
            .execute(&mut *tx).await?;
        sqlx::query(KEEP_NEWEST).bind(sid).bind(keep).execute(&mut *tx).await?;
        Ok(())
    })
}

/// The session must be logged in to the same user, not expired, and the
/// user not disabled.
const FIND: &str = "SELECT g.sid, g.user_id, s.data, s.expires_at, u.username, u.name, u.email \
     FROM gateway_sessions g \
     JOIN sessions s ON s.sid = g.sid AND s.user_id = g.user_id \
     JOIN users u ON u.id = g.user_id \
     WHERE g.token_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE";

pub async fn find(
    db: &Db,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<GatewaySessionRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND).bind(token_hash).bind(now).fetch_optional(p).await)
}

const DELETE: &str = "DELETE FROM gateway_sessions WHERE token_hash = $1";

pub async fn delete(db: &Db, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(token_hash).execute(p).await.map(drop))
}

const PURGE: &str = "DELETE FROM gateway_sessions WHERE created_at <= $1 \
     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.sid = gateway_sessions.sid)";

/// Tokens whose session has gone. Only rows older than `before`: a token
/// made a moment ago may belong to a session whose row is being replaced
/// (a new session id for the same sid).
pub async fn purge(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
