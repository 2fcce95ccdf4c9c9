//! Token revocation, RFC 7009. A client revokes tokens issued to it: opaque
//! access tokens at once, refresh tokens with their whole grant, and JWT
//! access tokens by `jti` (introspection then says inactive; verifiers that
//! only check signatures cannot know, which is why JWTs are short-lived).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::no_store;
use crate::app::App;
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::client_auth;
use crate::cors::CallingClient;
use crate::error::OAuthError;
use crate::form::OAuthForm;
use crate::rate_limit::{self, Class};
use crate::store;
use crate::tokens::{self, ActiveToken, PresentedToken};

pub const PATH: &str = "/revoke";

pub async fn handler(
    State(app): State<Arc<App>>,
    Extension(calling): Extension<CallingClient>,
    origin: Origin,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let presented = PresentedToken::from_params(&params)?;
    let client = client_auth::authenticate_request(&app, &headers, &params).await?;
    calling.set(&client);
    rate_limit::per_client(&app, Class::Token, &client)?;
    // §2.2: "invalid tokens do not cause an error response".
    let Some(found) = tokens::find_active(&app, &presented, now).await? else {
        return Ok(no_store(StatusCode::OK));
    };
    // §2.1: the server "verifies whether the token was issued to the client
    // making the revocation request. If this validation fails, the request
    // is refused".
    if found.client_id() != client.client_id {
        return Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ));
    }
    let kind = match &found {
        ActiveToken::Refresh(_) => "refresh_token",
        ActiveToken::Jwt(_) | ActiveToken::Opaque(_) => "access_token",
    };
    let mut event = Event::new(Kind::TokenRevoked)
        .by(Actor::Client(client.client_id.clone()))
        .client(&client.client_id)
        .from(&origin)
        .detail(serde_json::json!({"token_type": kind}));
    if let Some(user) = found.user_id() {
        event = event.user(user);
    }
    match found {
        ActiveToken::Jwt(claims) => {
            store::tokens::revoke_jti(&app.db, &claims.jti, &claims.client_id, claims.exp).await?;
        }
        ActiveToken::Opaque(t) => crate::tokens::revoke_access(&app, &t.token_hash, now).await?,
        // §2.1: revoking a refresh token SHOULD also invalidate the access
        // tokens of the same grant.
        ActiveToken::Refresh(t) => crate::tokens::revoke_grant(&app, t.family_id, now).await?,
    }
    tracing::info!(client_id = %client.client_id, "token revoked");
    audit::record(&app.db, event, now).await;
    Ok(no_store(StatusCode::OK))
}
