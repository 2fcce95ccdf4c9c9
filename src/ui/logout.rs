//! The logout confirmation and "signed out" pages (their handlers:
//! `endpoints::end_session`).

use askama::Template;
use axum::response::Response;

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
