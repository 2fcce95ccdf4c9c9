//! Token endpoint, RFC 6749 §3.2: authenticates the client, then hands the
//! request to its grant. Responses carry `Cache-Control: no-store` (§5.1).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::no_store;
use crate::app::App;
use crate::audit::Origin;
use crate::client_auth;
use crate::cors::CallingClient;
use crate::error::OAuthError;
use crate::form::OAuthForm;
use crate::grants;
use crate::rate_limit::{self, Class};
use crate::types::GrantType;

pub const PATH: &str = "/token";

pub async fn handler(
    State(app): State<Arc<App>>,
    Extension(calling): Extension<CallingClient>,
    origin: Origin,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let grant_type = params.required("grant_type")?;
    let client = client_auth::authenticate_request(&app, &headers, &params).await?;
    calling.set(&client);
    rate_limit::per_client(&app, Class::Token, &client)?;
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
