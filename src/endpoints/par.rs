//! Pushed authorization requests, RFC 9126: the client sends its
//! authorization request straight to monban (authenticated, over TLS, not
//! through the browser), gets a `request_uri`, and sends the browser to
//! `/authorize` with only `client_id` and that `request_uri`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::no_store;
use crate::app::App;
use crate::authorization::{self, Arrival};
use crate::client_auth;
use crate::cors::CallingClient;
use crate::error::{ErrorCode, OAuthError};
use crate::form::{OAuthForm, Params};
use crate::rate_limit::{self, Class};
use crate::store::{self, clients::Client};
use crate::tokens;
use crate::ui::Lang;

pub const PATH: &str = "/par";

/// RFC 9126 §2.2: the `request_uri` is a URN with this prefix.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Seconds a pushed request waits for the browser (§2.2: "short").
pub const LIFETIME: i64 = 60;

/// Parameters that authenticate the client at this endpoint; they are not
/// part of the authorization request.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

pub async fn handler(
    State(app): State<Arc<App>>,
    Extension(calling): Extension<CallingClient>,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    // §2: the client authenticates as at the token endpoint.
    let client = client_auth::authenticate_request(&app, &headers, &params).await?;
    calling.set(&client);
    rate_limit::per_client(&app, Class::Token, &client)?;
    // §2.1: a pushed request must not itself refer to one.
    if params.one("request_uri")?.is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 §2.1)",
        ));
    }
    let request = authorization_request(&params, &client);
    // The same validation as at /authorize; errors come back as JSON (§2.3).
    match authorization::parse(&app, &request, Lang::default(), Arrival::Pushed).await {
        Err(page) => return Err(OAuthError::invalid_request(page.detail)),
        Ok(Err(refusal)) => return Err(refusal_error(&refusal)),
        Ok(Ok(_)) => {}
    }
    let (reference, hash) = tokens::random_secret();
    let pairs: Vec<(String, String)> = request
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    store::pushed::insert(&app.db, &hash, &client.client_id, &pairs, now + LIFETIME).await?;
    let body = json!({
        "request_uri": format!("{REQUEST_URI_PREFIX}{}", reference.expose()),
        "expires_in": LIFETIME,
    });
    // §2.2: 201 Created.
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// The authorization request in a push: its parameters without the client's
/// credentials, with `client_id` added when the client authenticated in a
/// header (§2.1).
fn authorization_request(params: &Params, client: &Client) -> Params {
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .filter(|(name, _)| !CLIENT_AUTH_PARAMS.contains(name))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if !pairs.iter().any(|(name, _)| name == "client_id") {
        pairs.push(("client_id".to_owned(), client.client_id.clone()));
    }
    Params::from_pairs(pairs)
}

/// An authorization error (meant for the redirect URI) as a JSON answer.
fn refusal_error(refusal: &authorization::Response) -> OAuthError {
    let value = |name: &str| {
        refusal
            .params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let code = ErrorCode::from_wire(&value("error")).unwrap_or(ErrorCode::InvalidRequest);
    OAuthError::with_code(code, value("error_description"))
}

/// The parameters pushed by `client` under `request_uri`, once.
pub async fn take(
    app: &App,
    client: &Client,
    request_uri: &str,
) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let Some(reference) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Ok(None);
    };
    let hash = tokens::sha256(reference.as_bytes());
    store::pushed::take(&app.db, &hash, &client.client_id, crate::unix_now()).await
}
