//! Token endpoint, RFC 6749 §3.2: authenticates the client, then hands the
//! request to its grant. Responses carry `Cache-Control: no-store` (§5.1).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;

use super::no_store;

use crate::audit::Origin;
use crate::client_auth::{ClientRequest, TokenEndpoint};
use crate::error::OAuthError;
use crate::grants;
use crate::state::App;
use crate::types::GrantType;

pub async fn handler(
    State(app): State<Arc<App>>,
    origin: Origin,
    request: ClientRequest<TokenEndpoint>,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let ClientRequest { client, params, .. } = request;
    let grant_type = params.required("grant_type")?;
    let response = match grant_type.parse::<GrantType>() {
        Ok(GrantType::AuthorizationCode) => {
            grants::authorization_code::exchange(&app, &client, &params, now).await?
        }
        Ok(GrantType::RefreshToken) => {
            grants::refresh_token::exchange(&app, &client, &params, &origin, now).await?
        }
        Ok(GrantType::ClientCredentials) => {
            grants::client_credentials::exchange(&app, &client, &params, now).await?
        }
        Ok(GrantType::DeviceCode) => {
            grants::device_code::exchange(&app, &client, &params, now).await?
        }
        Ok(GrantType::TokenExchange) => {
            grants::token_exchange::exchange(&app, &client, &params, now).await?
        }
        Err(_) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant type '{grant_type}' is not supported"
            )));
        }
    };
    app.metrics.token_issued(grant_type);
    Ok(no_store(Json(response)))
}
