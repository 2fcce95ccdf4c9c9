//! `/forward_auth`: the authorization check of a gateway (nginx
//! `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`). The gateway
//! forwards the client's `Authorization: Bearer <token>` and describes the
//! original request in `X-Forwarded-*` / `X-Original-*` headers; monban
//! answers
//! - 200 with `Authorization: Bearer <JWT>` for the upstream (see
//!   `phantom`) and `X-Monban-Subject`, `-Client`, `-Scope`, `-Groups`;
//! - 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) when the
//!   token is missing or not active;
//! - 403 (`insufficient_scope`) when the policy denies the request;
//!   401 (`insufficient_user_authentication`, RFC 9470 §3, with the
//!   `acr_values` to ask for) when the user signed in below the route's `acr`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{BearerError, bearer_token};
use crate::phantom::{self, Bearer};
use crate::policy::{Decision, Principal, Route};
use crate::state::App;

pub async fn handler(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, BearerError> {
    let now = crate::unix_now();
    let token = bearer_token(&headers).ok_or_else(BearerError::missing)?;
    let Some(bearer) = phantom::find(&app, token, now).await? else {
        return Err(BearerError::invalid_token("the access token is not active"));
    };
    let policy = app.policies.current();
    if policy.configured {
        let decision = match trusted_route(&app, peer, &headers) {
            Ok(route) => {
                let scope = bearer.scope();
                let who = Principal {
                    scope: &scope,
                    groups: bearer.groups(),
                    claims: &bearer.claims,
                };
                policy.decide(&route, &who)
            }
            Err(reason) => Decision::deny(reason),
        };
        if let Decision::Deny(denial) = decision {
            tracing::info!(
                sub = %bearer.claims.sub,
                client = %bearer.claims.client_id,
                reason = %denial.reason,
                "forward_auth denied"
            );
            if let Some(acr) = denial.acr {
                return Err(BearerError::insufficient_user_authentication(acr.acr()));
            }
            return Err(BearerError::forbidden(
                denial.reason,
                denial.scope.map(Into::into),
            ));
        }
    }
    let headers = upstream_headers(&bearer);
    let jwt = phantom::jwt(&app, bearer).map_err(|e| BearerError::server(&e))?;
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.extend(headers);
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {jwt}")) {
        out.insert(header::AUTHORIZATION, value);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The original request, from headers believed only from a trusted proxy.
fn trusted_route(app: &App, peer: SocketAddr, headers: &HeaderMap) -> Result<Route, String> {
    let peer = peer.ip();
    if !app
        .config
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer))
    {
        return Err(format!(
            "the request's route is unknown: forwarded headers are believed only from MONBAN_TRUSTED_PROXIES, and {peer} is not in it"
        ));
    }
    Route::from_headers(headers).map_err(|e| format!("the request's route is unknown: {e}"))
}

/// `X-Monban-*`: who the token is for, for upstreams that read headers.
fn upstream_headers(bearer: &Bearer) -> HeaderMap {
    let claims = &bearer.claims;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-monban-subject", claims.sub.clone()),
        ("x-monban-client", claims.client_id.clone()),
        ("x-monban-scope", claims.scope.clone()),
        ("x-monban-groups", bearer.groups().join(",")),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}
