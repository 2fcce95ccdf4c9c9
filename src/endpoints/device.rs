//! Device authorization endpoint, RFC 8628 §3.1–3.2: a device with no
//! browser (a CLI, a TV) asks for a pair of codes, shows the user code and
//! where to enter it (`/device`), and polls the token endpoint with the
//! device code until the user has answered.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use rand::RngExt;
use serde_json::json;

use super::no_store;
use crate::app::App;
use crate::authorization::client_may_request;
use crate::client_auth;
use crate::cors::CallingClient;
use crate::error::OAuthError;
use crate::form::{OAuthForm, Params};
use crate::rate_limit::{self, Class};
use crate::store::{self, clients::Client, devices::DeviceCode};
use crate::tokens;
use crate::types::{GrantType, Scopes};
use crate::ui::device::PATH as VERIFICATION_PATH;

pub const PATH: &str = "/device_authorization";
/// Seconds the user has to answer.
pub const LIFETIME: i64 = 600;
/// Seconds a device waits between polls (§3.2), at first.
pub const INTERVAL: i64 = 5;
/// §6.1: user codes from 20 consonants (no vowels, so no words; no
/// look-alikes such as 0/O or 1/I), 8 of them: 20^8 ≈ 2^34.6.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

pub async fn handler(
    State(app): State<Arc<App>>,
    Extension(calling): Extension<CallingClient>,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    // §3.1: confidential clients authenticate; public ones send client_id.
    let client = client_auth::authenticate_request(&app, &headers, &params).await?;
    calling.set(&client);
    rate_limit::per_client(&app, Class::Device, &client)?;
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
        status: "pending".to_owned(),
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
        row.user_code = new_user_code();
        if store::devices::insert(&app.db, &row).await? {
            stored = true;
            break;
        }
    }
    if !stored {
        return Err(OAuthError::server_error(&"no free user code"));
    }
    let verification_uri = app.config.issuer.endpoint(VERIFICATION_PATH);
    let shown = display(&row.user_code);
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

fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LEN)
        .map(|_| {
            let i = rng.random_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'X'))
        })
        .collect()
}

/// `BCDF-GHJK`: easier to read out and type.
pub fn display(user_code: &str) -> String {
    let (head, tail) = user_code.split_at(user_code.len().min(USER_CODE_LEN / 2));
    format!("{head}-{tail}")
}

/// What the user typed, as stored: upper case, separators and spaces gone
/// (§6.1: "the characters ... should be case-insensitive").
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typeable() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        let shown = display(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize(&shown.to_lowercase()), code);
        assert_eq!(normalize(" bcdf ghjk "), "BCDFGHJK");
    }
}
