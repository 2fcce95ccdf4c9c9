//! The logout confirmation and "signed out" pages.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Lang, PageError, PageForm, Problem, Texts, render};
use crate::app::App;
use crate::endpoints::end_session::{self, AfterLogout};
use crate::session::BrowserSession;
use crate::store;

pub const PATH: &str = "/logout";
/// How long a logout request waits for its confirmation.
const PARKED_FOR: i64 = 30 * 60;

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

#[derive(Deserialize)]
pub struct Rid {
    rid: String,
}

pub async fn get(
    State(app): State<Arc<App>>,
    session: Session,
    headers: HeaderMap,
    Query(Rid { rid }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let session = BrowserSession::new(session);
    let after = parked(&app, &session, &rid, &headers, now).await?;
    let Some(login) = session.login(now).await? else {
        return Ok(end_session::finish(&app, &after));
    };
    let username = store::users::find_by_id(&app.db, login.user_id)
        .await?
        .map(|u| u.username);
    let prefix = app.config.issuer.path();
    Ok(render(&LogoutPage {
        lang: after.lang.code(),
        t: after.lang.texts(),
        static_prefix: prefix,
        action: format!("{prefix}{PATH}"),
        csrf: session.csrf_token().await?,
        rid: &rid,
        username,
    }))
}

pub async fn post(
    State(app): State<Arc<App>>,
    session: Session,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let prefix = app.config.issuer.path();
    let bad = |detail: &str| {
        PageError::new(Problem::BadRequest, detail).in_lang(super::lang_of(&headers), prefix)
    };
    let field = |name: &str| form.one(name).map_err(|_| bad("repeated field"));
    let rid = field("rid")?.ok_or_else(|| bad("rid is missing"))?;
    let session = BrowserSession::new(session);
    let after = parked(&app, &session, rid, &headers, now).await?;
    if !session
        .csrf_matches(field("csrf")?.unwrap_or_default())
        .await?
    {
        return Err(
            PageError::new(Problem::Expired, "CSRF token mismatch").in_lang(after.lang, prefix)
        );
    }
    match field("decision")? {
        Some("logout") => {
            if let Some(login) = session.login(now).await? {
                end_session::end(&app, &session, &login.sid, now).await?;
            }
            Ok(end_session::finish(&app, &after))
        }
        Some("stay") => {
            session.unpark(rid).await?;
            Ok(Redirect::to(&format!("{prefix}{}", super::account::PATH)).into_response())
        }
        _ => Err(bad("decision must be logout or stay")),
    }
}

async fn parked(
    app: &App,
    session: &BrowserSession,
    rid: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<AfterLogout, PageError> {
    session.parked(rid, PARKED_FOR, now).await?.ok_or_else(|| {
        PageError::new(Problem::Expired, "")
            .in_lang(super::lang_of(headers), app.config.issuer.path())
    })
}
