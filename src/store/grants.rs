//! Grants: what one authorization (a code, a device approval) gave a client
//! for a user. Every token of a grant names it (refresh tokens by family,
//! opaque tokens by column, JWTs by their `grant_id` claim) and is live
//! only while the grant is: revoking the row reaches tokens that are not
//! stored. The revocations run inside the transactions that end what the
//! grant stood on (a session, a consent, the user's access), with the
//! statements below.

use uuid::Uuid;

use super::{Db, on_db};

#[derive(Debug, Clone)]
pub struct Grant {
    pub grant_id: Uuid,
    pub user_id: Uuid,
    pub client_id: String,
    /// The SSO session the grant ends with; `None` for `offline_access`
    /// and device grants.
    pub sid: Option<String>,
    pub created_at: i64,
}

const INSERT: &str = "INSERT INTO grants (grant_id, user_id, client_id, sid, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO NOTHING";

/// Records a grant; recording it again changes nothing (a refresh of a
/// grant made before grants were recorded records it then).
pub async fn insert(db: &Db, g: &Grant) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(g.grant_id).bind(g.user_id).bind(&g.client_id).bind(&g.sid).bind(g.created_at)
        .execute(p).await.map(drop))
}

const STATE: &str = "SELECT revoked_at FROM grants WHERE grant_id = $1";

/// What is known of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Live,
    Revoked,
    /// No row: never recorded, or gone with its user or client.
    Unknown,
}

pub async fn state(db: &Db, grant_id: Uuid) -> Result<State, sqlx::Error> {
    let row: Option<Option<i64>> =
        on_db!(db, p => sqlx::query_scalar(STATE).bind(grant_id).fetch_optional(p).await)?;
    Ok(match row {
        Some(None) => State::Live,
        Some(Some(_)) => State::Revoked,
        None => State::Unknown,
    })
}

/// `$1` grant id, `$2` now.
pub(super) const REVOKE: &str =
    "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
/// `$1` user, `$2` client, `$3` now.
pub(super) const REVOKE_USER_CLIENT: &str = "UPDATE grants SET revoked_at = $3 \
     WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL";
/// `$1` user, `$2` now: every grant of the user, offline ones too.
pub(super) const REVOKE_USER: &str =
    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
/// `$1` sid, `$2` now: the grants that end with the session.
pub(super) const REVOKE_SESSION: &str =
    "UPDATE grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL";
/// `$1` user, `$2` now: the grants bound to any of the user's sessions.
pub(super) const REVOKE_USER_SESSIONS: &str = "UPDATE grants SET revoked_at = $2 \
     WHERE user_id = $1 AND sid IS NOT NULL AND revoked_at IS NULL";
/// `$1` user, `$2` the session kept, `$3` now.
pub(super) const REVOKE_OTHER_SESSIONS: &str = "UPDATE grants SET revoked_at = $3 \
     WHERE user_id = $1 AND sid IS NOT NULL AND sid <> $2 AND revoked_at IS NULL";

const PURGE: &str = "DELETE FROM grants WHERE created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = grants.grant_id) \
     AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.grant_id)";

/// Deletes grants made before `before` that no refresh or opaque token
/// continues: nothing of theirs can still be live once their last access
/// token has expired (the caller passes now minus the longest access-token
/// life). A revoked grant stays while an opaque token of it is stored, so
/// that the token cannot outlive it.
pub async fn purge(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
