//! Device authorization endpoint, RFC 8628 §3.1–3.2: a device with no
//! browser (a CLI, a TV) asks for a pair of codes, shows the user code and
//! where to enter it (`/device`), and polls the token endpoint with the
//! device code until the user has answered.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::no_store;
use crate::authorization::client_may_request;
use crate::client_auth::{ClientRequest, DeviceEndpoint};
use crate::error::OAuthError;
use crate::form::Params;
use crate::routes;
use crate::state::App;
use crate::store::{self, clients::Client, devices::DeviceCode};
use crate::tokens;
use crate::types::{DeviceStatus, GrantType, Scopes};
use crate::user_code;

/// Seconds the user has to answer.
pub const LIFETIME: i64 = 600;
/// Seconds a device waits between polls (§3.2), at first.
pub const INTERVAL: i64 = 5;
pub async fn handler(
    State(app): State<Arc<App>>,
    // §3.1: confidential clients authenticate; public ones send client_id.
    request: ClientRequest<DeviceEndpoint>,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let ClientRequest { client, params, .. } = request;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let resources: Vec<&str> = params.all("resource").collect();
    let apis = app.apis.for_resources(&app.db, &resources).await?;
    let target = crate::apis::target(
        &resources,
        &client.audiences,
        &app.config.default_audience,
        &apis,
    )
    .map_err(OAuthError::invalid_target)?;
    let scope = target
        .scope(
            requested_scope(&params, &client)?,
            params.one("scope")?.is_some(),
        )
        .map_err(OAuthError::invalid_scope)?;
    let (device_code, device_code_hash) = tokens::random_secret();
    let mut row = DeviceCode {
        device_code_hash,
        user_code: String::new(),
        client_id: client.client_id.clone(),
        scope: scope.to_string(),
        audiences: sqlx::types::Json(target.audience),
        status: DeviceStatus::Pending,
        user_id: None,
        sid: None,
        auth_time: None,
        acr: None,
        amr: None,
        poll_interval: INTERVAL,
        polled_at: None,
        expires_at: now + LIFETIME,
        created_at: now,
    };
    // A clash among the pending codes is rare; a few tries make it vanish.
    let mut stored = false;
    for _ in 0..5 {
        row.user_code = user_code::generate();
        if store::devices::insert(&app.db, &row).await? {
            stored = true;
            break;
        }
    }
    if !stored {
        return Err(OAuthError::server_error(&"no free user code"));
    }
    let verification_uri = app.config.issuer.endpoint(routes::DEVICE);
    let shown = user_code::display(&row.user_code);
    let body = json!({
        "device_code": device_code.expose(),
        "user_code": shown,
        "verification_uri": verification_uri,
        // §3.3.1: for a QR code; the user still compares the code.
        "verification_uri_complete": format!("{verification_uri}?user_code={shown}"),
        "expires_in": LIFETIME,
        "interval": INTERVAL,
    });
    Ok(no_store(Json(body)))
}

/// The requested scopes, each an OpenID Connect scope or one the client is
/// allowed; without `scope`, the client's allowed scopes.
fn requested_scope(params: &Params, client: &Client) -> Result<Scopes, OAuthError> {
    let Some(raw) = params.one("scope")? else {
        return Ok(client.scopes.clone());
    };
    let requested = Scopes::parse(raw).map_err(OAuthError::invalid_scope)?;
    if let Some(denied) = requested.iter().find(|s| !client_may_request(client, s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{denied}' is not allowed for this client"
        )));
    }
    Ok(requested)
}
