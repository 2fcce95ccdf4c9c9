//! The consent page: a logged-in user allows (or denies) a client the scopes
//! it asked for. Consent is remembered per user and client; a deny goes
//! back to the client as `access_denied`.

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
use crate::authorization::{self, AuthorizationRequest};
use crate::consents::Needed;
use crate::endpoints::authorize::{self, RESUME_PATH};
use crate::session::BrowserSession;
use crate::store::{self, clients::Client};
use crate::types::Scopes;

pub const PATH: &str = "/consent";

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    rid: &'a str,
    client_name: &'a str,
    username: &'a str,
    /// What the app may know of the user (OpenID Connect scopes).
    scopes: Vec<String>,
    /// What it may do at each API.
    apis: Vec<ApiView>,
}

/// An API the app asks access to: its name (or identifier) and scopes.
pub struct ApiView {
    pub name: String,
    /// Shown beside the name, when there is one.
    pub identifier: Option<String>,
    /// What it may do there; nothing named: access as the user.
    pub scopes: Vec<String>,
}

/// What the app may know of the user; a request that names nothing still
/// tells the app who signed in, and says so.
pub fn shown_identity(needed: &Needed, t: &Texts) -> Vec<String> {
    if needed.identity.is_empty() && needed.apis.is_empty() {
        return vec![t.scope("openid")];
    }
    needed.identity.iter().map(|s| t.scope(s)).collect()
}

/// The APIs of `needed` as a consent page names them (`apis` for their
/// names), with each one's scopes described in the page's language.
pub fn api_views(needed: &Needed, apis: &crate::apis::Apis, t: &Texts) -> Vec<ApiView> {
    needed
        .apis
        .iter()
        .map(|(aud, scopes)| {
            let name = apis.get(aud).and_then(|api| api.name.clone());
            let mut described: Vec<String> = scopes.iter().map(|s| t.scope(s)).collect();
            if described.is_empty() {
                described.push(t.consent_api_access.to_owned());
            }
            ApiView {
                identifier: name.is_some().then(|| aud.clone()),
                name: name.unwrap_or_else(|| aud.clone()),
                scopes: described,
            }
        })
        .collect()
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
    let (request, client) = authorize::parked_request(&app, &session, &rid, &headers, now).await?;
    let Some(login) = session.login(now).await? else {
        return Ok(resume(&app, &rid));
    };
    let Some(user) = store::users::find_by_id(&app.db, login.user_id).await? else {
        return Ok(resume(&app, &rid));
    };
    page(&app, &session, &request, &rid, &client, &user.username).await
}

/// The consent page for a parked request.
pub async fn page(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    rid: &str,
    client: &Client,
    username: &str,
) -> Result<Response, PageError> {
    let prefix = app.config.issuer.path();
    let t = request.lang.texts();
    let apis = app.apis.current(&app.db).await?;
    let needed = Needed::of(
        &shown_scopes(request),
        &request.audience,
        &apis,
        app.config.issuer.as_str(),
    );
    let view = ConsentPage {
        lang: request.lang.code(),
        t,
        static_prefix: prefix,
        action: format!("{prefix}{PATH}"),
        csrf: session.csrf_token().await?,
        rid,
        client_name: &client.name,
        username,
        scopes: shown_identity(&needed, t),
        apis: api_views(&needed, &apis, t),
    };
    Ok(render(&view))
}

/// The scopes the page asks about: `offline_access` only where it can be
/// granted by this consent (with `prompt=consent`, OIDC Core §11).
fn shown_scopes(request: &AuthorizationRequest) -> Scopes {
    if request.prompt.consent {
        request.scope.clone()
    } else {
        authorization::without_offline(&request.scope)
    }
}

pub async fn post(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
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
    let (request, client) = authorize::parked_request(&app, &session, rid, &headers, now).await?;
    if !session
        .csrf_matches(field("csrf")?.unwrap_or_default())
        .await?
    {
        return Err(
            PageError::new(Problem::Expired, "CSRF token mismatch").in_lang(request.lang, prefix)
        );
    }
    let Some(login) = session.login(now).await? else {
        return Ok(resume(&app, rid));
    };
    match field("decision")? {
        Some("allow") => {
            let earlier = store::consents::get(&app.db, login.user_id, &client.client_id).await?;
            let apis = app.apis.current(&app.db).await?;
            let shown = Needed::of(
                &shown_scopes(&request),
                &request.audience,
                &apis,
                app.config.issuer.as_str(),
            );
            let merged = shown.merged_with(earlier.as_ref());
            store::consents::grant(&app.db, login.user_id, &client.client_id, &merged, now).await?;
            let request = AuthorizationRequest {
                consented: true,
                ..request
            };
            session.repark(rid, &request).await?;
            tracing::info!(client_id = %client.client_id, scope = %merged.0, "consent given");
            let event = Event::new(Kind::ConsentGranted)
                .by(Actor::User(login.user_id))
                .user(login.user_id)
                .client(&client.client_id)
                .from(&origin)
                .detail(serde_json::json!({
                    "scope": merged.0.to_string(),
                    "resources": merged.1,
                }));
            audit::record(&app.db, event, now).await;
            authorize::proceed(&app, &session, &request, &client, Some(rid.to_owned()), now).await
        }
        Some("deny") => {
            session.unpark(rid).await?;
            let issuer = app.config.issuer.as_str();
            let response = authorization::Response::error(
                &request.return_to,
                issuer,
                "access_denied",
                "the user denied access",
            );
            Ok(authorize::respond(&app, response, request.lang))
        }
        _ => Err(bad("decision must be allow or deny")),
    }
}

fn resume(app: &App, rid: &str) -> Response {
    Redirect::to(&format!(
        "{}{RESUME_PATH}?rid={rid}",
        app.config.issuer.path()
    ))
    .into_response()
}
