//! The page of a sign-in's second step (a code or a passkey, or setting up
//! a required app), and starting that step: what `/authorize` shows when a
//! session must step up, and `/login` after a password that is not enough
//! (the forms' handlers: `endpoints::login_factor`, `endpoints::passkey`).

use axum::response::Response;
use uuid::Uuid;

use super::factor::{self, Enrol};
use super::{PageError, Problem};
use crate::audit::{Actor, Origin};
use crate::authorization::AuthorizationRequest;
use crate::mfa::Level;
use crate::routes::{LOGIN_FACTOR, LOGIN_FACTOR_ENROL};
use crate::service::{self, Operator, RunsIn, Via};
use crate::session::{BrowserSession, SecondStep};
use crate::sign_in;
use crate::state::App;
use crate::store::{self, users::User};

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
pub async fn page(
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

/// The user of a step, while they exist and may sign in.
pub async fn user_of(
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

pub fn signing_in<'a>(app: &'a App, user_id: Uuid, origin: Option<&'a Origin>) -> Operator<'a> {
    Operator {
        actor: Actor::User(user_id),
        via: Via::SignIn,
        origin,
        runs_in: RunsIn::Server(app),
    }
}
