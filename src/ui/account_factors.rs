//! `/account`'s second factors: setting up an authenticator app, removing
//! it, passkeys (adding, naming, removing), new recovery codes. Each change is confirmed with the password, as a
//! password change is (a borrowed session cookie alone cannot add a factor
//! the owner then lacks, or take theirs away).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::account::{self, action, start_login, yourself};
use super::factor::{self, Enrol};
use super::{Lang, PageError, PagePost, lang_of};
use crate::audit::Origin;
use crate::authn;
use crate::routes::{ACCOUNT, ACCOUNT_TOTP_CONFIRM};
use crate::service::{self, Refused};
use crate::session::Purpose;
use crate::state::App;
use crate::store::users::User;
use crate::types::Secret;

/// The signed-in user of a factor change, their password checked (like a
/// login, throttling included); otherwise the page to show instead.
async fn confirmed(
    app: &App,
    post: &PagePost,
    origin: &Origin,
    headers: &HeaderMap,
    now: i64,
) -> Result<Result<User, Response>, PageError> {
    let Some(user) = action(app, post, now).await? else {
        return Ok(Err(start_login(app, headers, None).await?));
    };
    let password = Secret::new(post.field("password")?.unwrap_or_default().to_owned());
    let lang = lang_of(headers);
    let t = lang.texts();
    match authn::check(app, &user.username, &password, origin, now)
        .await
        .map_err(PageError::from)?
    {
        Ok(_) => Ok(Ok(user)),
        Err(refused) => {
            let error = super::login::refusal(t, &refused, t.password_wrong);
            let page =
                account::page(app, &post.session, &user, lang, None, Some(error), now).await?;
            Ok(Err(page))
        }
    }
}

/// "Set up an authenticator app": a new secret, shown with its QR code.
pub async fn start_totp(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let user = match confirmed(&app, &post, &origin, &headers, now).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    let lang = lang_of(&headers);
    let op = yourself(&app, user.id, &origin);
    match service::mfa::start_totp(&op, &user, now).await {
        Ok(enrolment) => enrol_page(&app, &post, lang, &enrolment, None).await,
        Err(Refused::Conflict(_)) => {
            let error = Some(lang.texts().mfa_already.to_owned());
            account::page(&app, &post.session, &user, lang, None, error, now).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn enrol_page(
    app: &App,
    post: &PagePost,
    lang: Lang,
    enrolment: &service::mfa::Enrolment,
    error: Option<String>,
) -> Result<Response, PageError> {
    let action = format!("{}{ACCOUNT_TOTP_CONFIRM}", app.config.issuer.path());
    let enrol = Enrol {
        action: &action,
        rid: None,
        required: false,
        enrolment,
        error,
    };
    factor::enrol_page(app, &post.session, lang, enrol).await
}

/// The app's first code: it counts from now on; the first factor comes
/// with recovery codes, shown once.
pub async fn confirm_totp(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, None).await;
    };
    let lang = lang_of(&headers);
    let t = lang.texts();
    let op = yourself(&app, user.id, &origin);
    let code = post.field("code")?.unwrap_or_default();
    let prefix = app.config.issuer.path();
    match service::mfa::confirm_totp(&op, &user, code, now).await {
        Ok(Some(codes)) => {
            let next = format!("{prefix}{ACCOUNT}");
            Ok(factor::recovery_codes_page(
                &app,
                lang,
                Some(t.mfa_enrolled),
                &codes,
                &next,
            ))
        }
        Ok(None) => Ok(Redirect::to(&format!("{prefix}{ACCOUNT}?done=mfa")).into_response()),
        Err(Refused::Invalid { .. }) => match service::mfa::pending_totp(&op, &user).await? {
            Some(enrolment) => {
                enrol_page(&app, &post, lang, &enrolment, Some(t.code_wrong.to_owned())).await
            }
            None => account::page(&app, &post.session, &user, lang, None, None, now).await,
        },
        // Nothing is being set up (a second click): back to the account.
        Err(Refused::NotFound(_)) => {
            account::page(&app, &post.session, &user, lang, None, None, now).await
        }
        Err(other) => Err(other.into()),
    }
}

/// Removes the authenticator app.
pub async fn remove_totp(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let user = match confirmed(&app, &post, &origin, &headers, now).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    match service::mfa::remove_totp(&yourself(&app, user.id, &origin), &user, now).await {
        Ok(()) | Err(Refused::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    tracing::info!(user = %user.username, "authenticator app removed on the account page");
    let prefix = app.config.issuer.path();
    Ok(Redirect::to(&format!("{prefix}{ACCOUNT}?done=mfa_removed")).into_response())
}

/// New recovery codes (the old ones stop working), shown once.
pub async fn regenerate_codes(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let user = match confirmed(&app, &post, &origin, &headers, now).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    let lang = lang_of(&headers);
    let op = yourself(&app, user.id, &origin);
    match service::mfa::regenerate_recovery_codes(&op, &user, now).await {
        Ok(codes) => {
            let next = format!("{}{ACCOUNT}", app.config.issuer.path());
            Ok(factor::recovery_codes_page(&app, lang, None, &codes, &next))
        }
        Err(Refused::Conflict(_)) => {
            account::page(&app, &post.session, &user, lang, None, None, now).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /account/passkeys/options` (`csrf`, `password`): the options for
/// a new passkey, as JSON for the page's script, once the password is
/// right.
pub async fn passkey_options(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let t = lang_of(&headers).texts();
    let Some(user) = account::signed_in_user(&app, &post.session, now).await? else {
        return Ok(factor::refused(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            t.form_expired,
        ));
    };
    if !post.csrf_ok().await? {
        return Ok(factor::refused(
            StatusCode::FORBIDDEN,
            "expired",
            t.form_expired,
        ));
    }
    let password = Secret::new(post.field("password")?.unwrap_or_default().to_owned());
    let checked = authn::check(&app, &user.username, &password, &origin, now)
        .await
        .map_err(PageError::from)?;
    if let Err(refused) = checked {
        let message = super::login::refusal(t, &refused, t.password_wrong);
        return Ok(factor::refused(StatusCode::FORBIDDEN, "password", &message));
    }
    let (options, state) = match service::passkeys::start_registration(&app, &user).await {
        Ok(started) => started,
        Err(Refused::Conflict(_)) => {
            return Ok(factor::refused(
                StatusCode::NOT_FOUND,
                "off",
                t.passkey_failed,
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let state = serde_json::to_value(&state).map_err(|e| PageError::server(&e))?;
    let purpose = Purpose::Register;
    post.session
        .begin_ceremony(purpose, None, Some(user.id), state, now)
        .await?;
    Ok(factor::options(options))
}

/// `POST /account/passkeys` (`csrf`, `name`, `credential`): stores the
/// passkey the browser made for the ceremony the options began; the first
/// second factor comes with recovery codes, shown once.
pub async fn add_passkey(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, None).await;
    };
    let lang = lang_of(&headers);
    let t = lang.texts();
    let ceremony = post
        .session
        .take_ceremony(Purpose::Register, None, now)
        .await?
        .filter(|c| c.user_id == Some(user.id));
    let state = ceremony.and_then(|c| serde_json::from_value(c.state).ok());
    let Some(state) = state else {
        let error = Some(t.passkey_failed.to_owned());
        return account::page(&app, &post.session, &user, lang, None, error, now).await;
    };
    let name = post.field("name")?.unwrap_or_default();
    let credential = post.field("credential")?.unwrap_or_default();
    let op = yourself(&app, user.id, &origin);
    let prefix = app.config.issuer.path();
    match service::passkeys::register(&op, &app, &user, name, credential, &state, now).await {
        Ok(Some(codes)) => {
            let next = format!("{prefix}{ACCOUNT}");
            Ok(factor::recovery_codes_page(
                &app,
                lang,
                Some(t.passkey_added),
                &codes,
                &next,
            ))
        }
        Ok(None) => Ok(Redirect::to(&format!("{prefix}{ACCOUNT}?done=passkey")).into_response()),
        Err(Refused::Invalid { .. } | Refused::Conflict(_)) => {
            let error = Some(t.passkey_failed.to_owned());
            account::page(&app, &post.session, &user, lang, None, error, now).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /account/passkeys/remove` (`csrf`, `password`, `id`).
pub async fn remove_passkey(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let user = match confirmed(&app, &post, &origin, &headers, now).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    let id = post
        .field("id")?
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(|| post.bad("id is not a passkey's"))?;
    match service::passkeys::remove(&yourself(&app, user.id, &origin), &user, id, now).await {
        Ok(()) | Err(Refused::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let prefix = app.config.issuer.path();
    Ok(Redirect::to(&format!("{prefix}{ACCOUNT}?done=passkey_removed")).into_response())
}
