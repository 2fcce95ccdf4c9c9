//! Authorization server metadata, RFC 8414. Advertises exactly what monban
//! implements; the document is built once at start-up.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::{introspect, jwks, public_json, revoke, token};
use crate::app::App;
use crate::config::{Config, Issuer};

/// RFC 8414 §3: the well-known suffix. For an issuer with a path, §3.1 puts
/// the path after it: `/.well-known/oauth-authorization-server/auth`.
pub const PATH: &str = "/.well-known/oauth-authorization-server";

/// Where the metadata of `issuer` lives (RFC 8414 §3.1).
pub fn url(issuer: &Issuer) -> String {
    let origin = issuer
        .as_str()
        .strip_suffix(issuer.path())
        .unwrap_or(issuer.as_str());
    format!("{origin}{PATH}{}", issuer.path())
}

pub fn document(config: &Config) -> Bytes {
    let issuer = &config.issuer;
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    let doc = json!({
        "issuer": issuer.as_str(),
        "token_endpoint": issuer.endpoint(token::PATH),
        "jwks_uri": issuer.endpoint(jwks::PATH),
        "grant_types_supported": ["client_credentials"],
        // No grant here uses the authorization endpoint (RFC 8414 §2).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": secret_methods,
        "introspection_endpoint": issuer.endpoint(introspect::PATH),
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint": issuer.endpoint(revoke::PATH),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    });
    Bytes::from(doc.to_string())
}

pub async fn handler(State(app): State<Arc<App>>) -> Response {
    public_json(app.metadata.clone(), app.config.jwks_max_age)
}
