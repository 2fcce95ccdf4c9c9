//! The application state and the router: every route and layer in one place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::client_cache::ClientCache;
use crate::config::Config;
use crate::endpoints::{health, home, introspect, jwks, metadata, revoke, token};
use crate::keys::Keys;
use crate::store::Db;
use crate::store::batch::AccessTokenWriter;
use crate::{form, net, password::Passwords};

/// Everything a request handler may need; shared behind an `Arc`.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub clients: ClientCache,
    /// Stores opaque access tokens with group commit.
    pub access_tokens: AccessTokenWriter,
    pub passwords: Passwords,
    /// The RFC 8414 document, serialised once.
    pub metadata: Bytes,
}

/// No request may take longer than this, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// CSP of monban's pages (ARCHITECTURE.md). No `form-action`: Chromium
/// applies it to the redirect after a form POST.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(app: Arc<App>) -> Router {
    let issuer_path = app.config.issuer.path().to_owned();
    let mut issuer_routes = Router::new()
        .route(home::PATH, get(home::handler))
        .route(home::CSS_PATH, get(home::stylesheet))
        .route(jwks::PATH, get(jwks::handler))
        .route(token::PATH, post(token::handler))
        .route(introspect::PATH, post(introspect::handler))
        .route(revoke::PATH, post(revoke::handler));
    // RFC 8414 §3.1 places the metadata of an issuer with a path at
    // /.well-known/oauth-authorization-server{path}; many clients instead
    // append the suffix to the issuer, so it is served there too.
    let mut router = Router::new()
        .route(
            &format!("{}{}", metadata::PATH, issuer_path),
            get(metadata::handler),
        )
        .route(health::LIVE_PATH, get(health::live))
        .route(health::READY_PATH, get(health::ready));
    if issuer_path.is_empty() {
        router = router.merge(issuer_routes);
    } else {
        issuer_routes = issuer_routes.route(metadata::PATH, get(metadata::handler));
        router = router.nest(&issuer_path, issuer_routes);
    }

    let trusted = Arc::new(app.config.trusted_proxies.clone());
    router
        .fallback(not_found)
        .with_state(app)
        .layer(DefaultBodyLimit::max(form::MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| {
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(
                        |ConnectInfo(peer)| net::client_ip(peer.ip(), req.headers(), &trusted),
                    );
                    // The path only: query strings may carry codes or tokens.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id,
                        client = client.map(tracing::field::display),
                    )
                })
                .on_request(())
                .on_body_chunk(())
                .on_eos(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
        .into_response()
}

/// Headers every response carries; pages set nothing weaker.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
