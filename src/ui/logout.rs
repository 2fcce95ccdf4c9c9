//! The logout confirmation and "signed out" pages (their handlers:
//! `endpoints::end_session`, `endpoints::gateway`), and the way out after a
//! sign-out.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{Lang, Texts, render};
use crate::routes::LOGOUT;
use crate::state::App;

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    rid: &'a str,
    username: Option<String>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct SignedOutPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
}

/// Where to go once signed out: a registered post-logout redirect URI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AfterLogout {
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub lang: Lang,
}

/// Back to the client, or the "signed out" page.
/// Every way out clears the gateway cookie too (its session has ended).
pub fn finish(app: &App, after: &AfterLogout) -> Response {
    let mut response = match after.redirect_uri.as_deref().map(url::Url::parse) {
        Some(Ok(mut url)) => {
            if let Some(state) = &after.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Redirect::to(url.as_str()).into_response()
        }
        _ => signed_out(app, after.lang),
    };
    if let Some(removal) = crate::gateway_session::removal(&app.config) {
        response.headers_mut().append(header::SET_COOKIE, removal);
    }
    response
}

pub fn signed_out(app: &App, lang: Lang) -> Response {
    render(&SignedOutPage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: app.config.issuer.path(),
    })
}

/// "Sign out of monban?", for the logout request parked under `rid`.
pub fn confirmation(
    app: &App,
    lang: Lang,
    csrf: String,
    rid: &str,
    username: Option<String>,
) -> Response {
    let prefix = app.config.issuer.path();
    render(&LogoutPage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: prefix,
        action: format!("{prefix}{LOGOUT}"),
        csrf,
        rid,
        username,
    })
}
