//! The login page. A successful login starts the SSO session (with a new
//! session id: no fixation) and resumes the authorization request that led
//! here.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{PageError, PageForm, Problem, Texts, render};
use crate::app::App;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authn::{self, Refused};
use crate::authorization::AuthorizationRequest;
use crate::endpoints::authorize;
use crate::session::{BrowserSession, Login};
use crate::tokens;
use crate::types::Secret;

pub const PATH: &str = "/login";

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
}

#[derive(Deserialize)]
pub struct Rid {
    rid: Option<String>,
}

pub async fn get(
    State(app): State<Arc<App>>,
    session: Session,
    headers: HeaderMap,
    Query(Rid { rid }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    // Without a request to continue, the account page is where one signs in.
    let Some(rid) = rid else {
        return Ok(Redirect::to(&format!(
            "{}{}",
            app.config.issuer.path(),
            super::account::PATH
        ))
        .into_response());
    };
    let session = BrowserSession::new(session);
    let (request, client) = authorize::parked_request(&app, &session, &rid, &headers, now).await?;
    let hint = request.login_hint.clone().unwrap_or_default();
    page(&app, &session, &request, &rid, &client.name, &hint, None).await
}

pub async fn post(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let bad = |detail: &str| {
        PageError::new(Problem::BadRequest, detail)
            .in_lang(super::lang_of(&headers), app.config.issuer.path())
    };
    let field = |name: &str| form.one(name).map_err(|_| bad("repeated field"));
    let rid = field("rid")?.ok_or_else(|| bad("rid is missing"))?;
    let session = BrowserSession::new(session);
    let (request, client) = authorize::parked_request(&app, &session, rid, &headers, now).await?;
    let username = field("username")?.unwrap_or_default();
    let t = request.lang.texts();
    if !session
        .csrf_matches(field("csrf")?.unwrap_or_default())
        .await?
    {
        return page(
            &app,
            &session,
            &request,
            rid,
            &client.name,
            username,
            Some(t.form_expired.to_owned()),
        )
        .await;
    }
    let password = Secret::new(field("password")?.unwrap_or_default().to_owned());
    let checked = authn::check(&app, username, &password, &origin, now)
        .await
        .map_err(|e| PageError::server(&e))?;
    let user = match checked {
        Ok(user) => user,
        Err(refused) => {
            tracing::info!(username, client = %origin.ip, reason = ?refused, "login failed");
            let message = refusal(t, &refused, t.wrong_credentials);
            return page(
                &app,
                &session,
                &request,
                rid,
                &client.name,
                username,
                Some(message),
            )
            .await;
        }
    };
    // The same user logging in again (prompt=login, max_age) keeps the SSO
    // session: its sid, and with it the refresh tokens of the other apps.
    let earlier = session.login(now).await?.filter(|l| l.user_id == user.id);
    let login = Login {
        user_id: user.id,
        sid: earlier
            .as_ref()
            .map_or_else(tokens::new_jti, |l| l.sid.clone()),
        auth_time: now,
        amr: vec!["pwd".to_owned()],
        acr: "1".to_owned(),
        ends_at: now + app.config.session_max_ttl,
        touched_at: now,
        clients: earlier.map(|l| l.clients).unwrap_or_default(),
        user_agent: origin.user_agent.clone(),
        ip: Some(origin.ip.to_string()),
    };
    session.log_in(&login, app.config.session_idle_ttl).await?;
    let request = AuthorizationRequest {
        logged_in: true,
        ..request
    };
    session.repark(rid, &request).await?;
    tracing::info!(user = %user.username, client = %origin.ip, "login");
    let event = Event::new(Kind::LoginSucceeded)
        .by(Actor::User(user.id))
        .user(user.id)
        .client(&client.client_id)
        .from(&origin)
        .detail(serde_json::json!({"username": user.username, "sid": login.sid}));
    audit::record(&app.db, event, now).await;
    authorize::proceed(&app, &session, &request, &client, Some(rid.to_owned()), now).await
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
        action: format!("{prefix}{PATH}"),
        csrf: session.csrf_token().await?,
        rid,
        client_name: Some(client_name),
        username,
        error,
    };
    Ok(render(&view))
}
