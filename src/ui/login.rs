//! The login page and what it tells a person whose password was refused
//! (its handlers: `endpoints::login`).

use askama::Template;
use axum::response::Response;

use super::{PageError, Texts, render};
use crate::authn::Refused;
use crate::authorization::AuthorizationRequest;
use crate::routes::{LOGIN, LOGIN_PASSKEY, LOGIN_PASSKEY_OPTIONS};
use crate::session::BrowserSession;
use crate::state::App;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    rid: &'a str,
    client_name: Option<&'a str>,
    username: &'a str,
    error: Option<String>,
    /// Passkeys are on: "Sign in with a passkey", and the username field
    /// offers them.
    passkeys: bool,
    passkey_action: String,
    passkey_options: String,
}

/// What a person is told about a refused password; `wrong` is the text for
/// a wrong one.
pub fn refusal(t: &Texts, refused: &Refused, wrong: &str) -> String {
    match refused {
        Refused::WrongCredentials => wrong.to_owned(),
        Refused::AccountLocked(secs) => t.account_locked.replace("{n}", &minutes(*secs)),
        Refused::AddressThrottled(secs) => t.address_throttled.replace("{n}", &minutes(*secs)),
        Refused::Disabled => t.account_disabled.to_owned(),
    }
}

/// Whole minutes, rounded up, for "try again in N minutes".
fn minutes(seconds: i64) -> String {
    ((seconds + 59) / 60).max(1).to_string()
}

/// The login page for a parked request.
pub async fn page(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    rid: &str,
    client_name: &str,
    username: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    let prefix = app.config.issuer.path();
    let view = LoginPage {
        lang: request.lang.code(),
        t: request.lang.texts(),
        static_prefix: prefix,
        action: format!("{prefix}{LOGIN}"),
        csrf: session.csrf_token().await?,
        rid,
        client_name: Some(client_name),
        username,
        error,
        passkeys: app.passkeys.is_some(),
        passkey_action: format!("{prefix}{LOGIN_PASSKEY}"),
        passkey_options: format!("{prefix}{LOGIN_PASSKEY_OPTIONS}"),
    };
    Ok(render(&view))
}
