//! The second step of a sign-in, and stepping up a session: a code from
//! the user's authenticator app or a recovery code (`/login/factor`), or,
//! where a second factor is required and the user has none, setting up an
//! app now (`/login/factor/enrol`). The step waits in the browser's session
//! for one request (`SecondStep`): another browser, another request, or
//! another user's session cannot finish it.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::authorize;
use super::login::Rid;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authorization::AuthorizationRequest;
use crate::mfa::{Factor, Level};
use crate::routes;
use crate::service::{self, Refused};
use crate::session::{BrowserSession, Device, Login, SecondStep};
use crate::sign_in;
use crate::state::App;
use crate::store::{clients::Client, users::User};
use crate::ui::second_step::{page, signing_in, user_of};
use crate::ui::{PageError, PagePost, Problem, factor, login};

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(Rid { rid, .. }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let rid = rid.unwrap_or_default();
    let Waiting {
        request,
        step,
        user,
        ..
    } = waiting_for(&app, &session, &rid, &headers, now).await?;
    page(&app, &session, &request, &step, &user, None).await
}

/// A code from the user's app, or a recovery code.
pub async fn post(
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
        return page(&app, session, &request, &step, &user, expired).await;
    }
    // A code does not make a sign-in phishing-resistant.
    if step.target > Level::Mfa {
        let message = Some(t.passkey_needed.to_owned());
        return page(&app, session, &request, &step, &user, message).await;
    }
    let code = post.field("code")?.unwrap_or_default();
    let factor = match service::mfa::check_code(&app, &user, code, &origin, now).await? {
        Ok(factor) => factor,
        Err(refused) => {
            tracing::info!(user = %user.username, client = %origin.ip, reason = ?refused, "second factor refused");
            let message = login::refusal(t, &refused, t.code_wrong);
            return page(&app, session, &request, &step, &user, Some(message)).await;
        }
    };
    complete(
        &app,
        session,
        &origin,
        &request,
        &client,
        rid,
        (&step, &user),
        factor,
        now,
    )
    .await?;
    authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
}

/// The first code of the app being set up: the app counts from now on, and
/// the code is this sign-in's second factor. The recovery codes that come
/// with a first factor are shown before going on.
pub async fn enrol(
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
    // Setting an app up here is for a user who has no factor, for a level
    // an app can reach.
    let settable = step.target <= Level::Mfa && !sign_in::has_second_factor(&app, user.id).await?;
    if !post.csrf_ok().await? || !settable {
        let expired = Some(t.form_expired.to_owned());
        return page(&app, session, &request, &step, &user, expired).await;
    }
    let code = post.field("code")?.unwrap_or_default();
    let op = signing_in(&app, user.id, Some(&origin));
    let codes = match service::mfa::confirm_totp(&op, &user, code, now).await {
        Ok(codes) => codes,
        Err(Refused::Invalid { .. } | Refused::NotFound(_)) => {
            let wrong = Some(t.code_wrong.to_owned());
            return page(&app, session, &request, &step, &user, wrong).await;
        }
        Err(other) => return Err(other.into()),
    };
    let factor = Factor::Totp;
    complete(
        &app,
        session,
        &origin,
        &request,
        &client,
        rid,
        (&step, &user),
        factor,
        now,
    )
    .await?;
    let resume = format!(
        "{}{}?rid={}",
        app.config.issuer.path(),
        routes::AUTHORIZE_RESUME,
        rid
    );
    match codes {
        Some(codes) => Ok(factor::recovery_codes_page(
            &app,
            request.lang,
            Some(t.mfa_enrolled),
            &codes,
            &resume,
        )),
        None => {
            authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
        }
    }
}

/// A sign-in waiting for its second factor in this browser: the parked
/// request and its client, the step, and its user (who may still sign in).
pub(super) struct Waiting {
    pub request: AuthorizationRequest,
    pub client: std::sync::Arc<Client>,
    pub step: SecondStep,
    pub user: User,
}

/// The sign-in waiting for request `rid`, or the "expired" page.
pub(super) async fn waiting_for(
    app: &App,
    session: &BrowserSession,
    rid: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<Waiting, PageError> {
    let (request, client) = authorize::parked_request(app, session, rid, headers, now).await?;
    let step = waiting(app, session, &request, rid, now).await?;
    let user = user_of(app, &request, &step).await?;
    Ok(Waiting {
        request,
        client,
        step,
        user,
    })
}

/// The step this browser waits in for request `rid`, or the "expired" page.
async fn waiting(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    rid: &str,
    now: i64,
) -> Result<SecondStep, PageError> {
    session.second_step(rid, now).await?.ok_or_else(|| {
        PageError::new(Problem::Expired, "no second factor is awaited here")
            .in_lang(request.lang, app.config.issuer.path())
    })
}

/// The second factor is proved: a sign-in starts its SSO session (a new
/// session id), a step-up raises the session's level (and cycles its id
/// too); the request goes on as logged in.
#[allow(clippy::too_many_arguments)]
pub(super) async fn complete(
    app: &App,
    session: &BrowserSession,
    origin: &Origin,
    request: &AuthorizationRequest,
    client: &Client,
    rid: &str,
    (step, user): (&SecondStep, &User),
    factor: Factor,
    now: i64,
) -> Result<(), PageError> {
    let earlier = session.login(now).await?;
    let login = match (&step.sid, earlier) {
        (Some(_), Some(earlier)) => earlier.stepped_up(factor, now),
        // A step-up whose session ended: nothing to raise (`waiting` has
        // refused it already; the password was never given here).
        (Some(_), None) => {
            return Err(PageError::new(Problem::Expired, "the session ended")
                .in_lang(request.lang, app.config.issuer.path()));
        }
        (None, earlier) => {
            let device = Device {
                user_agent: origin.user_agent.clone(),
                ip: Some(origin.ip.to_string()),
            };
            let factors = [Factor::Password, factor];
            let max_ttl = app.config.session_max_ttl;
            Login::new(user.id, &factors, earlier, device, max_ttl, now)
        }
    };
    session.log_in(&login, app.config.session_idle_ttl).await?;
    let request = AuthorizationRequest {
        logged_in: true,
        ..request.clone()
    };
    session.repark(rid, &request).await?;
    app.metrics.signed_in(&login.amr);
    tracing::info!(user = %user.username, client = %origin.ip, amr = %login.amr.join(" "), "login");
    let event = Event::new(Kind::LoginSucceeded)
        .by(Actor::User(user.id))
        .user(user.id)
        .client(&client.client_id)
        .from(origin)
        .detail(serde_json::json!({
            "username": user.username,
            "sid": login.sid,
            "amr": login.amr,
            "step_up": step.sid.is_some(),
        }));
    audit::record(&app.db, event, now).await;
    Ok(())
}
