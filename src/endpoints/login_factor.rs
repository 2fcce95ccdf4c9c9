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
use uuid::Uuid;

use super::authorize;
use super::login::Rid;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authorization::AuthorizationRequest;
use crate::mfa::{Factor, Level};
use crate::routes::{self, LOGIN_FACTOR, LOGIN_FACTOR_ENROL};
use crate::service::{self, Operator, Refused, RunsIn, Via};
use crate::session::{BrowserSession, Device, Login, SecondStep};
use crate::sign_in;
use crate::state::App;
use crate::store::{self, clients::Client, users::User};
use crate::ui::factor::{self, Enrol};
use crate::ui::{PageError, PagePost, Problem, login};

/// Waits for the second factor `step` names (a sign-in in progress, or a
/// session stepping up) and shows its page.
pub async fn start(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    step: SecondStep,
) -> Result<Response, PageError> {
    session.await_second_factor(&step).await?;
    let user = user_of(app, request, &step).await?;
    if !sign_in::has_second_factor(app, user.id).await? {
        // A new secret for this sign-in: never one an earlier visit (to
        // `/account`, by whoever) left waiting.
        let now = step.started_at;
        service::mfa::start_totp(&signing_in(app, user.id, None), &user, now).await?;
    }
    page(app, session, request, &step, &user, None).await
}

/// The page the step needs: a code or a passkey (only a passkey for
/// `phr`), or setting an app up.
pub(super) async fn page(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    step: &SecondStep,
    user: &User,
    error: Option<String>,
) -> Result<Response, PageError> {
    let prefix = app.config.issuer.path();
    let rid = step.rid.as_str();
    let factors = sign_in::factors(app, user.id).await?;
    if factors.any() {
        // Recovery codes stand in for any factor (a lost passkey too).
        let codes = factors.has_totp() || factors.recovery_codes_left > 0;
        let ways = factor::Ways {
            code: codes && step.target <= Level::Mfa,
            passkey: factors.has_passkey(),
        };
        let action = format!("{prefix}{LOGIN_FACTOR}");
        return factor::code_page(app, session, request.lang, &action, rid, ways, error).await;
    }
    let op = signing_in(app, user.id, None);
    let enrolment = match service::mfa::pending_totp(&op, user).await? {
        Some(pending) => pending,
        None => service::mfa::start_totp(&op, user, crate::unix_now()).await?,
    };
    let action = format!("{prefix}{LOGIN_FACTOR_ENROL}");
    let enrol = Enrol {
        action: &action,
        rid: Some(rid),
        required: true,
        enrolment: &enrolment,
        error,
    };
    factor::enrol_page(app, session, request.lang, enrol).await
}

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(Rid { rid }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let rid = rid.unwrap_or_default();
    let (request, _) = authorize::parked_request(&app, &session, &rid, &headers, now).await?;
    let step = waiting(&app, &session, &request, &rid, now).await?;
    let user = user_of(&app, &request, &step).await?;
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
    let (request, client) = authorize::parked_request(&app, session, rid, &headers, now).await?;
    let step = waiting(&app, session, &request, rid, now).await?;
    let user = user_of(&app, &request, &step).await?;
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
    let (request, client) = authorize::parked_request(&app, session, rid, &headers, now).await?;
    let step = waiting(&app, session, &request, rid, now).await?;
    let user = user_of(&app, &request, &step).await?;
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

/// The step this browser waits in for request `rid`, or the "expired" page.
pub(super) async fn waiting(
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

/// The user of a step, while they exist and may sign in.
pub(super) async fn user_of(
    app: &App,
    request: &AuthorizationRequest,
    step: &SecondStep,
) -> Result<User, PageError> {
    store::users::find_by_id(&app.db, step.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| {
            PageError::new(Problem::Expired, "the user cannot sign in")
                .in_lang(request.lang, app.config.issuer.path())
        })
}

fn signing_in<'a>(app: &'a App, user_id: Uuid, origin: Option<&'a Origin>) -> Operator<'a> {
    Operator {
        actor: Actor::User(user_id),
        via: Via::SignIn,
        origin,
        runs_in: RunsIn::Server(app),
    }
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
