//! One file per endpoint: its handler, citing its spec (paths: `routes`).

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub mod authorize;
pub mod consent;
pub mod device;
pub mod device_verification;
pub mod end_session;
pub mod forward_auth;
pub mod gateway;
pub mod health;
pub mod home;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod login_factor;
pub mod metadata;
pub mod metrics;
pub mod par;
pub mod passkey;
pub mod register;
pub mod revoke;
pub mod token;
pub mod userinfo;

/// A response that must never be cached: token responses (RFC 6749 §5.1)
/// and introspection results.
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A public JSON document any origin may read and cache for `max_age`
/// seconds (discovery and JWKS).
pub fn public_json(body: Bytes, max_age: i64) -> Response {
    let cache = format!("public, max-age={max_age}");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}
