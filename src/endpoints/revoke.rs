//! Token revocation, RFC 7009. A client revokes tokens issued to it: opaque
//! access tokens at once, refresh tokens with their whole grant, and JWT
//! access tokens by `jti` (introspection then says inactive; verifiers that
//! only check signatures cannot know, which is why JWTs are short-lived).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::no_store;

use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::client_auth::{ClientRequest, TokenEndpoint};
use crate::error::OAuthError;
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::store;
use crate::tokens::PresentedToken;

pub async fn handler(
    State(app): State<Arc<App>>,
    origin: Origin,
    request: ClientRequest<TokenEndpoint>,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let ClientRequest { client, params, .. } = request;
    let presented = PresentedToken::from_params(&params)?;
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
        ActiveToken::Opaque(t) => tokens::revoke_access(&app, &t.token_hash, now).await?,
        // §2.1: revoking a refresh token SHOULD also invalidate the access
        // tokens of the same grant.
        ActiveToken::Refresh(t) => tokens::revoke_grant(&app, t.family_id, now).await?,
    }
    tracing::info!(client_id = %client.client_id, "token revoked");
    audit::record(&app.db, event, now).await;
    Ok(no_store(StatusCode::OK))
}
