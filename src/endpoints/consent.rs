//! The consent form's handlers: a logged-in user allows (or denies) a
//! client the scopes it asked for. Consent is remembered per user and
//! client; a deny goes back to the client as `access_denied`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::authorize;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authorization::{self, AuthorizationRequest};
use crate::consents::Needed;
use crate::error::ErrorCode;
use crate::routes::AUTHORIZE_RESUME;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store;
use crate::ui::{PageError, PagePost, consent};

#[derive(Deserialize)]
pub struct Rid {
    rid: String,
}

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(Rid { rid }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (request, client) = authorize::parked_request(&app, &session, &rid, &headers, now).await?;
    let Some(login) = session.login(now).await? else {
        return Ok(resume(&app, &rid));
    };
    let Some(user) = store::users::find_by_id(&app.db, login.user_id).await? else {
        return Ok(resume(&app, &rid));
    };
    consent::page(&app, &session, &request, &rid, &client, &user.username).await
}

pub async fn post(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let session = &post.session;
    let rid = post.required("rid")?;
    let (request, client) = authorize::parked_request(&app, session, rid, &headers, now).await?;
    post.check_csrf(request.lang).await?;
    let Some(login) = session.login(now).await? else {
        return Ok(resume(&app, rid));
    };
    match post.field("decision")? {
        Some("allow") => {
            let earlier = store::consents::get(&app.db, login.user_id, &client.client_id).await?;
            let apis = app.apis.current(&app.db).await?;
            let shown = Needed::of(
                &authorization::consent_scopes(&request),
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
            authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
        }
        Some("deny") => {
            session.unpark(rid).await?;
            let issuer = app.config.issuer.as_str();
            let response = authorization::Response::error(
                &request.return_to,
                issuer,
                ErrorCode::AccessDenied,
                "the user denied access",
            );
            Ok(authorize::respond(&app, response, request.lang))
        }
        _ => Err(post.bad("decision must be allow or deny")),
    }
}

fn resume(app: &App, rid: &str) -> Response {
    Redirect::to(&format!(
        "{}{AUTHORIZE_RESUME}?rid={rid}",
        app.config.issuer.path()
    ))
    .into_response()
}
