//! SSO sessions ending: whoever ends them, the clients signed in to them
//! hear of it (OIDC Back-Channel Logout).

use crate::page_error::PageError;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store;
use crate::store::sessions::Ended;

/// Tells the clients of the sessions that just ended, from the server.
/// Never fails the logout: problems are logged.
pub async fn notify_backchannel(app: &App, ended: Ended, now: i64) {
    let keys = app.keys.get();
    let issuer = app.config.issuer.as_str();
    for login in crate::session::logins_of(ended) {
        for client_id in &login.clients {
            match app.clients.get(&app.db, client_id).await {
                Ok(Some((client, _))) => app.backchannel.tell(&keys, issuer, &client, &login, now),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(client_id, error = %e, "back-channel logout: could not read the client");
                }
            }
        }
    }
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
    notify_backchannel(app, ended, now).await;
    tracing::info!(sid, "signed out");
    Ok(())
}
