//! Authorization server metadata (RFC 8414) and OpenID Provider metadata
//! (OIDC Discovery 1.0 §3): one document, served at both well-known places.
//! It advertises exactly what monban implements; it is built once at start.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::{introspect, public_json};
use crate::client_assertion;
use crate::config::{Config, Issuer};
use crate::mfa::Level;
use crate::routes::{self, OAUTH_METADATA};
use crate::state::App;
use crate::types::OIDC_SCOPES;

/// Where the RFC 8414 metadata of `issuer` lives (§3.1).
pub fn url(issuer: &Issuer) -> String {
    let origin = issuer
        .as_str()
        .strip_suffix(issuer.path())
        .unwrap_or(issuer.as_str());
    format!("{origin}{OAUTH_METADATA}{}", issuer.path())
}

/// The document; `passkeys`: whether sign-ins can reach `phr`.
pub fn document(config: &Config, passkeys: bool) -> Bytes {
    let issuer = &config.issuer;
    let client_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let all_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    // RFC 8414 §2: the JWS algorithms accepted in private_key_jwt assertions.
    let assertion_algs = client_assertion::ALGORITHMS;
    // The levels a sign-in can reach here (`mfa::Level`).
    let mut acr_values: Vec<&str> = vec![Level::Password.acr()];
    if config.mfa != crate::config::Mfa::Off {
        acr_values.push(Level::Mfa.acr());
    }
    if passkeys {
        acr_values.push(Level::PhishingResistant.acr());
    }
    let doc = json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.endpoint(routes::AUTHORIZE),
        "token_endpoint": issuer.endpoint(routes::TOKEN),
        "userinfo_endpoint": issuer.endpoint(routes::USERINFO),
        "jwks_uri": issuer.endpoint(routes::JWKS),
        "end_session_endpoint": issuer.endpoint(routes::END_SESSION),
        "introspection_endpoint": issuer.endpoint(routes::INTROSPECT),
        "revocation_endpoint": issuer.endpoint(routes::REVOKE),
        // RFC 8628 §4.
        "device_authorization_endpoint": issuer.endpoint(routes::DEVICE_AUTHORIZATION),
        // RFC 8414 §2, RFC 7591.
        "registration_endpoint": issuer.endpoint(routes::REGISTER),
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": issuer.endpoint(routes::PAR),
        "require_pushed_authorization_requests": config.require_par,
        "scopes_supported": OIDC_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": all_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": client_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        // RFC 9701 §7: signed introspection answers.
        "introspection_signing_alg_values_supported": [introspect::SIGNED_ALG.as_str()],
        "revocation_endpoint_auth_methods_supported": all_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid", "azp",
            "name", "preferred_username", "updated_at", "email", "email_verified", "groups"
        ],
        "acr_values_supported": acr_values,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["en", "ja"],
        // Of the claims parameter, an essential `acr` is honoured.
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": true,
        // Logout tokens always carry `sid`.
        "backchannel_logout_session_supported": true,
    });
    Bytes::from(doc.to_string())
}

pub async fn handler(State(app): State<Arc<App>>) -> Response {
    public_json(app.metadata.clone(), app.config.jwks_max_age)
}
