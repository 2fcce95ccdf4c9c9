//! Passkeys at sign-in: without a password (a discoverable credential; the
//! login page's button, or the username field's autofill) and as the
//! second factor. Each ceremony's options are asked for by the page's
//! script (JSON), its state kept in the browser's session for that request
//! (`rid`) and purpose, and answered once by the form the script submits.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::authorize;
use super::login_factor::{self, Waiting, waiting_for};
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authorization::AuthorizationRequest;
use crate::service::passkeys::{self as service, NotVerified};
use crate::session::{Device, Login, Purpose};
use crate::state::App;
use crate::ui::factor::{options, refused};
use crate::ui::second_step;
use crate::ui::{PageError, PagePost, login};

/// `POST /login/passkey/options` (`csrf`, `rid`): a challenge for any
/// passkey of this site.
pub async fn sign_in_options(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, rid) = (&post.session, post.required("rid")?);
    let (request, _) = authorize::parked_request(&app, session, rid, &headers, now).await?;
    if !post.csrf_ok().await? {
        let t = request.lang.texts();
        return Ok(refused(StatusCode::FORBIDDEN, "expired", t.form_expired));
    }
    let Ok((value, state)) = service::start_sign_in(&app) else {
        return Ok(refused(StatusCode::NOT_FOUND, "off", "passkeys are off"));
    };
    let state = serde_json::to_value(&state).map_err(|e| PageError::server(&e))?;
    session
        .begin_ceremony(Purpose::SignIn, Some(rid), None, state, now)
        .await?;
    Ok(options(value))
}

/// `POST /login/passkey` (`csrf`, `rid`, `credential`): signs in with the
/// passkey alone (user verification required: it is two factors in one).
pub async fn sign_in(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, rid) = (&post.session, post.required("rid")?);
    let (request, client) = authorize::parked_request(&app, session, rid, &headers, now).await?;
    let t = request.lang.texts();
    let again = |message: &str| {
        let message = Some(message.to_owned());
        login::page(&app, session, &request, rid, &client.name, "", message)
    };
    if !post.csrf_ok().await? {
        return again(t.form_expired).await;
    }
    let ceremony = session
        .take_ceremony(Purpose::SignIn, Some(rid), now)
        .await?;
    let Some(state) = ceremony.and_then(|c| serde_json::from_value(c.state).ok()) else {
        return again(t.passkey_failed).await;
    };
    let credential = post.field("credential")?.unwrap_or_default();
    let (user, factor) = match service::sign_in(&app, credential, state, &origin, now).await? {
        Ok(verified) => verified,
        Err(NotVerified::PossibleClone) => return again(t.passkey_clone).await,
        Err(_) => return again(t.passkey_failed).await,
    };
    let device = Device {
        user_agent: origin.user_agent.clone(),
        ip: Some(origin.ip.to_string()),
    };
    let earlier = session.login(now).await?;
    let max_ttl = app.config.session_max_ttl;
    let login = Login::new(user.id, &[factor], earlier, device, max_ttl, now);
    session.log_in(&login, app.config.session_idle_ttl).await?;
    let request = AuthorizationRequest {
        logged_in: true,
        ..request
    };
    session.repark(rid, &request).await?;
    app.metrics.signed_in(&login.amr);
    tracing::info!(user = %user.username, client = %origin.ip, amr = %login.amr.join(" "), "login");
    let event = Event::new(Kind::LoginSucceeded)
        .by(Actor::User(user.id))
        .user(user.id)
        .client(&client.client_id)
        .from(&origin)
        .detail(json!({"username": user.username, "sid": login.sid, "amr": login.amr}));
    audit::record(&app.db, event, now).await;
    authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
}

/// `POST /login/factor/passkey/options` (`csrf`, `rid`): a challenge for
/// one of the waiting user's passkeys.
pub async fn factor_options(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, rid) = (&post.session, post.required("rid")?);
    let Waiting { request, user, .. } = waiting_for(&app, session, rid, &headers, now).await?;
    if !post.csrf_ok().await? {
        let t = request.lang.texts();
        return Ok(refused(StatusCode::FORBIDDEN, "expired", t.form_expired));
    }
    let Ok((value, state)) = service::start_second_factor(&app, &user).await else {
        return Ok(refused(StatusCode::NOT_FOUND, "none", "no passkey to use"));
    };
    let state = serde_json::to_value(&state).map_err(|e| PageError::server(&e))?;
    let purpose = Purpose::SecondFactor;
    session
        .begin_ceremony(purpose, Some(rid), Some(user.id), state, now)
        .await?;
    Ok(options(value))
}

/// `POST /login/factor/passkey` (`csrf`, `rid`, `credential`): the passkey
/// as the second factor (or the step up to `phr`).
pub async fn factor(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, rid) = (&post.session, post.required("rid")?);
    let Waiting {
        request,
        client,
        step,
        user,
    } = waiting_for(&app, session, rid, &headers, now).await?;
    let t = request.lang.texts();
    if !post.csrf_ok().await? {
        let expired = Some(t.form_expired.to_owned());
        return second_step::page(&app, session, &request, &step, &user, expired).await;
    }
    let ceremony = session
        .take_ceremony(Purpose::SecondFactor, Some(rid), now)
        .await?
        .filter(|c| c.user_id == Some(user.id));
    let Some(state) = ceremony.and_then(|c| serde_json::from_value(c.state).ok()) else {
        let failed = Some(t.passkey_failed.to_owned());
        return second_step::page(&app, session, &request, &step, &user, failed).await;
    };
    let credential = post.field("credential")?.unwrap_or_default();
    let verified = service::second_factor(&app, &user, credential, &state, &origin, now).await?;
    let factor = match verified {
        Ok(factor) => factor,
        Err(why) => {
            let message = match why {
                NotVerified::PossibleClone => t.passkey_clone,
                _ => t.passkey_failed,
            };
            let message = Some(message.to_owned());
            return second_step::page(&app, session, &request, &step, &user, message).await;
        }
    };
    let who = (&step, &user);
    login_factor::complete(
        &app, session, &origin, &request, &client, rid, who, factor, now,
    )
    .await?;
    authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
}
