//! SSO sessions, and their ending: whoever ends them, the clients signed
//! in to them hear of it (OIDC Back-Channel Logout).

use serde_json::json;
use uuid::Uuid;

use super::{Operator, Outcome, Refused};
use crate::audit::Kind;
use crate::page_error::PageError;
use crate::session::{BrowserSession, Login};
use crate::state::App;
use crate::store::sessions::Ended;
use crate::store::{self, Db};

/// A user's SSO session that has not expired.
pub struct UserSession {
    pub sid: String,
    /// When it ends if unused.
    pub expires_at: i64,
    /// How the user signed in, and where (none for a session whose data
    /// cannot be read).
    pub login: Option<Login>,
}

/// `user_id`'s SSO sessions, the latest to expire first.
pub async fn of_user(db: &Db, user_id: Uuid, now: i64) -> Outcome<Vec<UserSession>> {
    let sessions = store::sessions::of_user(db, user_id, now).await?;
    Ok(sessions
        .into_iter()
        .map(|s| UserSession {
            login: crate::session::login_of(&s.data.0),
            sid: s.sid,
            expires_at: s.expires_at,
        })
        .collect())
}

/// An operator ends one SSO session of `user_id`.
pub async fn end_one(op: &Operator<'_>, user_id: Uuid, sid: &str, now: i64) -> Outcome<()> {
    let db = op.db();
    let sessions = store::sessions::of_user(db, user_id, now).await?;
    if !sessions.iter().any(|s| s.sid == sid) {
        return Err(Refused::NotFound("no such session".into()));
    }
    let ended = store::sessions::end(db, sid, now).await?;
    op.sessions_ended(ended, now).await;
    let detail = json!({"sessions": 1, "sid": sid});
    op.record(Kind::SessionsEnded, user_id, detail, now).await;
    Ok(())
}

/// An operator ends every SSO session of `user_id`; returns how many.
pub async fn end_all(op: &Operator<'_>, user_id: Uuid, now: i64) -> Outcome<usize> {
    let ended = store::sessions::end_all_of_user(op.db(), user_id, now).await?;
    let sessions_ended = ended.len();
    op.sessions_ended(ended, now).await;
    let detail = json!({"sessions": sessions_ended});
    op.record(Kind::SessionsEnded, user_id, detail, now).await;
    Ok(sessions_ended)
}

/// After sessions ended, in the server: their clients are told (queued in
/// the outbox), and the phantoms of the tokens that ended with them go
/// here and on the other instances. Never fails the logout: problems are
/// logged.
pub async fn sessions_ended(app: &App, ended: Ended, now: i64) {
    app.phantoms.clear();
    let sids: Vec<String> = ended
        .iter()
        .filter_map(|data| crate::session::login_of(&data.0))
        .map(|login| login.sid)
        .collect();
    app.gateway_sessions.forget_sessions(&sids);
    crate::notices::announce(&app.db, crate::notices::Change::Tokens).await;
    crate::notices::announce(&app.db, crate::notices::Change::Sessions).await;
    app.backchannel.queue(&app.db, ended, now).await;
}

/// Ends the SSO session `sid` everywhere, and in this browser.
pub async fn sign_out(
    app: &App,
    session: &BrowserSession,
    sid: &str,
    now: i64,
) -> Result<(), PageError> {
    let ended = store::sessions::end(&app.db, sid, now).await?;
    session.log_out().await?;
    sessions_ended(app, ended, now).await;
    tracing::info!(sid, "signed out");
    Ok(())
}
