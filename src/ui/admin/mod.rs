//! The admin pages (`/admin`): server-rendered, usable without JavaScript,
//! CSRF-protected, in English and Japanese. They sign in like the account
//! page (through monban's own login), let in members of the `admin` group
//! only (checked on every request), and act through the service layer
//! (`service`): the same rules, refusals and audit events as the API and
//! the CLI, with the person as the actor.

use std::sync::Arc;

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::account::SignedInUser;
use super::{Lang, PageError, Problem, lang_of, render};
use crate::audit::{Actor, Origin};
use crate::form::Params;
use crate::routes::ADMIN;
use crate::service::{Operator, Refused, RunsIn};
use crate::session::BrowserSession;
use crate::state::App;
use crate::store;
use crate::types::ADMIN_GROUP;

pub mod clients;
pub mod settings;
mod texts;
pub mod users;

pub use texts::AdminTexts;

/// What every admin page shows around its content.
pub struct Frame {
    pub lang: &'static str,
    pub t: &'static AdminTexts,
    /// The issuer's path, before every link.
    pub prefix: String,
    pub csrf: String,
    pub username: String,
    /// The navigation entry to mark.
    pub section: &'static str,
    pub saved: bool,
    pub error: Option<String>,
}

/// A signed-in admin on a page: the frame, and who acts from where.
pub struct Visit {
    pub app: Arc<App>,
    pub frame: Frame,
    actor: Actor,
    origin: Origin,
    session: BrowserSession,
}

#[derive(Template)]
#[template(path = "admin/denied.html")]
struct Denied<'a> {
    lang: &'static str,
    t: &'static AdminTexts,
    static_prefix: &'a str,
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct Home<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
}

/// Why a page is not shown: an error, or the browser goes elsewhere first
/// (to the login, or told it is not allowed).
pub enum Leave {
    Error(PageError),
    /// Boxed: a response is large, and most pages are shown.
    To(Box<Response>),
}

impl From<PageError> for Leave {
    fn from(e: PageError) -> Leave {
        Leave::Error(e)
    }
}

impl From<sqlx::Error> for Leave {
    fn from(e: sqlx::Error) -> Leave {
        Leave::Error(e.into())
    }
}

impl From<tower_sessions::session::Error> for Leave {
    fn from(e: tower_sessions::session::Error) -> Leave {
        Leave::Error(e.into())
    }
}

impl From<crate::session::SessionError> for Leave {
    fn from(e: crate::session::SessionError) -> Leave {
        Leave::Error(e.into())
    }
}

/// A read that failed inside (reads refuse nothing else).
impl From<Refused> for Leave {
    fn from(refused: Refused) -> Leave {
        Leave::Error(refused.into())
    }
}

impl IntoResponse for Leave {
    fn into_response(self) -> Response {
        match self {
            Leave::Error(e) => e.into_response(),
            Leave::To(response) => *response,
        }
    }
}

/// What an admin page handler answers.
pub type Page = Result<Response, Leave>;

/// Lets a signed-in admin in (`SignedInUser` sent anyone else to sign in):
/// the visit, or `Leave::To` the page saying it is not allowed.
pub async fn enter(
    app: Arc<App>,
    SignedInUser { user, session }: SignedInUser,
    headers: &HeaderMap,
    origin: Origin,
    section: &'static str,
) -> Result<Visit, Leave> {
    let lang = lang_of(headers);
    let groups = store::groups::of_user(&app.db, user.id).await?;
    if !groups.iter().any(|g| g == ADMIN_GROUP) {
        let page = Denied {
            lang: lang.code(),
            t: texts::of(lang),
            static_prefix: app.config.issuer.path(),
        };
        let denied = (StatusCode::FORBIDDEN, render(&page)).into_response();
        return Err(Leave::To(Box::new(denied)));
    }
    let frame = Frame {
        lang: lang.code(),
        t: texts::of(lang),
        prefix: app.config.issuer.path().to_owned(),
        csrf: session.csrf_token().await?,
        username: user.username,
        section,
        saved: false,
        error: None,
    };
    Ok(Visit {
        app,
        frame,
        actor: Actor::User(user.id),
        origin,
        session,
    })
}

impl Visit {
    /// This admin, as the operator of what the page does.
    pub fn operator(&self) -> Operator<'_> {
        Operator {
            actor: self.actor.clone(),
            via: crate::service::Via::AdminPages,
            origin: Some(&self.origin),
            runs_in: RunsIn::Server(&self.app),
        }
    }

    /// What a refused operation shows on the page: its reason; a failure
    /// inside is an error page instead.
    pub fn reason(&self, refused: Refused) -> Result<String, Leave> {
        match refused {
            Refused::Database(_) | Refused::Failed(_) => Err(refused.into()),
            refused => Ok(refused.to_string()),
        }
    }

    /// A refused operation's reason, shown on the page.
    pub fn show_refusal(&mut self, refused: Refused) -> Result<(), Leave> {
        self.frame.error = Some(self.reason(refused)?);
        Ok(())
    }

    /// Checks a posted form's CSRF token.
    pub async fn check_csrf(&self, form: &Params) -> Result<(), PageError> {
        let token = form.one("csrf").ok().flatten().unwrap_or_default();
        if self.session.csrf_matches(token).await? {
            Ok(())
        } else {
            let lang = if self.frame.lang == "ja" {
                Lang::Ja
            } else {
                Lang::En
            };
            Err(PageError::new(Problem::Expired, "CSRF token mismatch")
                .in_lang(lang, &self.frame.prefix))
        }
    }

    /// Refuses a destructive form that was not confirmed ("I am sure"), as
    /// an operation would.
    pub fn confirm(&self, form: &Params) -> Result<(), Refused> {
        if field(form, "confirm") == "yes" {
            Ok(())
        } else {
            Err(Refused::Conflict(self.frame.t.not_confirmed.to_owned()))
        }
    }

    /// After a change: back to `page` (below /admin), saying it was saved.
    pub fn saved(&self, page: &str) -> Response {
        let separator = if page.contains('?') { '&' } else { '?' };
        Redirect::to(&format!(
            "{}{ADMIN}{page}{separator}saved=1",
            self.frame.prefix
        ))
        .into_response()
    }

    pub fn static_prefix(&self) -> &str {
        self.app.config.issuer.path()
    }
}

/// A form field, empty when absent or repeated.
pub fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.one(name).ok().flatten().unwrap_or_default()
}

/// A page answered with `status` (a missing user or client: 404).
pub fn with_status(page: Page, status: StatusCode) -> Page {
    page.map(|mut response| {
        *response.status_mut() = status;
        response
    })
}

/// A form field, `None` when empty.
pub fn optional(form: &Params, name: &str) -> Option<String> {
    Some(field(form, name).trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A query string of the non-empty pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub fn time(unix: i64) -> String {
    let rfc3339 = crate::keys::rfc3339(unix);
    rfc3339
        .get(..16)
        .map_or(rfc3339.clone(), |s| s.replace('T', " "))
}

#[derive(serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

impl Saved {
    pub fn is_set(&self) -> bool {
        self.saved.is_some()
    }
}

/// `GET /admin`.
pub async fn home(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "").await?;
    Ok(render(&Home {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
    }))
}
