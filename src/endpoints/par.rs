//! Pushed authorization requests, RFC 9126: the client sends its
//! authorization request straight to monban (authenticated, over TLS, not
//! through the browser), gets a `request_uri`, and sends the browser to
//! `/authorize` with only `client_id` and that `request_uri`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::no_store;

use crate::authorization::{self, Arrival, Parsed};
use crate::client_auth::{ClientRequest, TokenEndpoint};
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::state::App;
use crate::store::{self, clients::Client};
use crate::tokens;
use crate::ui::{Lang, Problem};

/// Seconds a pushed request waits for the browser (§2.2: "short").
pub const LIFETIME: i64 = 60;

/// Parameters that authenticate the client at this endpoint; they are not
/// part of the authorization request.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

pub async fn handler(
    State(app): State<Arc<App>>,
    // §2: the client authenticates as at the token endpoint.
    request: ClientRequest<TokenEndpoint>,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let ClientRequest { client, params, .. } = request;
    // §2.1: a pushed request must not itself refer to one.
    if params.one("request_uri")?.is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 §2.1)",
        ));
    }
    let request = authorization_request(&params, &client);
    // The same validation as at /authorize; errors come back as JSON (§2.3).
    match authorization::parse(&app, &request, Lang::default(), Arrival::Pushed).await {
        Err(page) if page.problem == Problem::Unavailable => {
            return Err(OAuthError::unavailable());
        }
        Err(page) if page.problem == Problem::Server => {
            return Err(if page.database {
                OAuthError::database_failure()
            } else {
                OAuthError::with_code(ErrorCode::ServerError, "internal server error")
            });
        }
        Err(page) => return Err(OAuthError::invalid_request(page.detail)),
        Ok(Parsed::Refused {
            code, description, ..
        }) => return Err(OAuthError::with_code(code, description)),
        Ok(Parsed::Valid(..)) => {}
    }
    let (reference, hash) = tokens::random_secret();
    let pairs: Vec<(String, String)> = request
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    store::pushed::insert(&app.db, &hash, &client.client_id, &pairs, now + LIFETIME).await?;
    let body = json!({
        "request_uri": format!("{}{}", authorization::REQUEST_URI_PREFIX, reference.expose()),
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
