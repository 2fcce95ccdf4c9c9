//! The login form's handlers. A successful login starts the SSO session
//! (with a new session id: no fixation) and resumes the authorization
//! request that led here.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::authorize;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::authn;
use crate::authorization::AuthorizationRequest;
use crate::mfa::{Factor, Level};
use crate::routes;
use crate::session::{BrowserSession, Device, Login};
use crate::sign_in::{self, Next};
use crate::state::App;
use crate::types::Secret;
use crate::ui::{PageError, PagePost, login};

#[derive(Deserialize)]
pub struct Rid {
    pub rid: Option<String>,
    /// A gateway sign-in: where to return (see `gateway`), and the level.
    pub rd: Option<String>,
    pub acr: Option<String>,
    pub tried: Option<String>,
}

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(Rid {
        rid,
        rd,
        acr,
        tried,
    }): Query<Rid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    if let (None, Some(rd)) = (&rid, &rd) {
        let tried = tried.is_some();
        return super::gateway::sign_in(&app, &session, &headers, rd, acr.as_deref(), tried).await;
    }
    // Without a request to continue, the account page is where one signs in.
    let Some(rid) = rid else {
        return Ok(
            Redirect::to(&format!("{}{}", app.config.issuer.path(), routes::ACCOUNT))
                .into_response(),
        );
    };
    let (request, client) = authorize::parked_request(&app, &session, &rid, &headers, now).await?;
    let hint = request.login_hint.clone().unwrap_or_default();
    login::page(&app, &session, &request, &rid, &client.name, &hint, None).await
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
    let username = post.field("username")?.unwrap_or_default();
    let t = request.lang.texts();
    if !post.csrf_ok().await? {
        return login::page(
            &app,
            session,
            &request,
            rid,
            &client.name,
            username,
            Some(t.form_expired.to_owned()),
        )
        .await;
    }
    let password = Secret::new(post.field("password")?.unwrap_or_default().to_owned());
    let checked = authn::check(&app, username, &password, &origin, now)
        .await
        .map_err(PageError::from)?;
    let user = match checked {
        Ok(user) => user,
        Err(refused) => {
            tracing::info!(username, client = %origin.ip, reason = ?refused, "login failed");
            let message = login::refusal(t, &refused, t.wrong_credentials);
            return login::page(
                &app,
                session,
                &request,
                rid,
                &client.name,
                username,
                Some(message),
            )
            .await;
        }
    };
    // A second factor, where one is needed, before the session starts.
    let asked = request.asked();
    let next = sign_in::next(&app, &client, &asked, user.id, Level::Password, true).await?;
    match next {
        Next::Done => {}
        Next::SecondFactor { .. } | Next::Enrol => {
            let target = match next {
                Next::SecondFactor { target } => target,
                _ => Level::Mfa,
            };
            let step = crate::session::SecondStep {
                user_id: user.id,
                rid: rid.to_owned(),
                sid: None,
                started_at: now,
                target,
            };
            return crate::ui::second_step::start(&app, session, &request, step).await;
        }
        // The client cannot do with what this user can give: it is told,
        // and no session starts.
        Next::Unmet => {
            session.unpark(rid).await?;
            let response = crate::authorization::Response::error(
                &request.return_to,
                app.config.issuer.as_str(),
                crate::error::ErrorCode::UnmetAuthenticationRequirements,
                "the user cannot sign in at the level of authentication the client requires",
            );
            return Ok(authorize::respond(&app, response, request.lang));
        }
    }
    let device = Device {
        user_agent: origin.user_agent.clone(),
        ip: Some(origin.ip.to_string()),
    };
    let earlier = session.login(now).await?;
    let max_ttl = app.config.session_max_ttl;
    let login = Login::new(user.id, &[Factor::Password], earlier, device, max_ttl, now);
    session.log_in(&login, app.config.session_idle_ttl).await?;
    let request = AuthorizationRequest {
        logged_in: true,
        ..request
    };
    session.repark(rid, &request).await?;
    app.metrics.signed_in(&login.amr);
    tracing::info!(user = %user.username, client = %origin.ip, amr = "pwd", "login");
    let event = Event::new(Kind::LoginSucceeded)
        .by(Actor::User(user.id))
        .user(user.id)
        .client(&client.client_id)
        .from(&origin)
        .detail(serde_json::json!({"username": user.username, "sid": login.sid}));
    audit::record(&app.db, event, now).await;
    authorize::proceed(&app, session, &request, &client, Some(rid.to_owned()), now).await
}
