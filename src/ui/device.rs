//! The device verification page (RFC 8628 §3.3): the code form, the
//! request to confirm (which app asks for what), and the answer. It only
//! renders; its handlers and the rules (wrong codes counted per user) are
//! `endpoints::device_verification`.

use askama::Template;
use axum::response::Response;

use super::{Lang, PageError, Texts, render};
use crate::apis::Apis;
use crate::consents::Needed;
use crate::routes::DEVICE;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store::users::User;
use crate::user_code::display;

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    username: &'a str,
    user_code: String,
    error: Option<String>,
    confirm: Option<Confirm>,
    done: Option<&'static str>,
}

struct Confirm {
    client_name: String,
    /// What the app may know of the user (OpenID Connect scopes)…
    scopes: Vec<String>,
    /// …and do at each API, as the consent page names them.
    apis: Vec<super::consent::ApiView>,
}

/// What every state of the page shares.
pub struct View<'a> {
    pub lang: Lang,
    prefix: &'a str,
    csrf: String,
    username: &'a str,
}

impl<'a> View<'a> {
    pub async fn new(
        app: &'a App,
        session: &BrowserSession,
        user: &'a User,
        lang: Lang,
    ) -> Result<View<'a>, PageError> {
        Ok(View {
            lang,
            prefix: app.config.issuer.path(),
            csrf: session.csrf_token().await?,
            username: &user.username,
        })
    }

    fn page(
        &self,
        user_code: String,
        error: Option<String>,
        confirm: Option<Confirm>,
        done: Option<&'static str>,
    ) -> Response {
        render(&DevicePage {
            lang: self.lang.code(),
            t: self.lang.texts(),
            static_prefix: self.prefix,
            action: format!("{}{DEVICE}", self.prefix),
            csrf: self.csrf.clone(),
            username: self.username,
            user_code,
            error,
            confirm,
            done,
        })
    }

    /// The code form (again, with `error`).
    pub fn entry(&self, user_code: String, error: Option<String>) -> Response {
        self.page(user_code, error, None, None)
    }

    /// The answer given.
    pub fn done(&self, message: &'static str) -> Response {
        self.page(String::new(), None, None, Some(message))
    }

    /// The code form again: too many wrong codes, for `minutes` more.
    pub fn throttled(&self, typed: &str, minutes: i64) -> Response {
        let t = self.lang.texts();
        let message = t.device_throttled.replace("{n}", &minutes.to_string());
        self.entry(typed.to_owned(), Some(message))
    }

    /// The code form again: no pending request has that code.
    pub fn unknown(&self, typed: &str) -> Response {
        let t = self.lang.texts();
        self.entry(typed.to_owned(), Some(t.device_unknown.to_owned()))
    }

    /// The request with `user_code` from `client_name`, asking for `needed`,
    /// to allow or deny.
    pub fn confirm(
        &self,
        user_code: &str,
        client_name: &str,
        needed: &Needed,
        apis: &Apis,
    ) -> Response {
        let t = self.lang.texts();
        let confirm = Confirm {
            client_name: client_name.to_owned(),
            scopes: super::consent::shown_identity(needed, t),
            apis: super::consent::api_views(needed, apis, t),
        };
        self.page(display(user_code), None, Some(confirm), None)
    }
}
