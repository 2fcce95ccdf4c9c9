//! The middleware of the router: per-address rate limits, the SSO session
//! cookie, CSRF checks of form posts, and the headers every response carries.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tower_http::csrf::CsrfLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::error::OAuthError;
use crate::rate_limit::Class;
use crate::session::{self, DbSessionStore};
use crate::state::App;

/// No request may take longer than this, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// CSP of monban's pages (ARCHITECTURE.md). No `form-action`: Chromium
/// applies it to the redirect after a form POST. Scripts only from
/// monban's own files (the passkey script, `static/webauthn.js`), never
/// inline; it fetches its options from monban alone.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `route` behind a per-address rate limit.
pub fn limited(route: MethodRouter<Arc<App>>, guard: Guard) -> MethodRouter<Arc<App>> {
    route.layer(axum::middleware::from_fn_with_state(guard, by_address))
}

/// The SSO session cookie `monban_session`: HttpOnly, SameSite=Lax, Secure
/// when the issuer is https, path `/`; sessions live in the database.
pub fn session_layer(app: &App) -> SessionManagerLayer<DbSessionStore> {
    let idle = tower_sessions::cookie::time::Duration::seconds(app.config.session_idle_ttl);
    SessionManagerLayer::new(DbSessionStore::new(app.db.clone()))
        .with_name(session::COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(app.config.issuer.as_str().starts_with("https://"))
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// Cross-origin form POSTs refused, by Sec-Fetch-Site and Origin; the
/// issuer's own origin is trusted (it is what browsers send behind a proxy).
/// A gateway sign-out (`POST /logout?rd=`, an app's form) passes: its
/// handler takes it only from monban and the gateway's apps, and asks
/// anyone else first (`endpoints::gateway`).
pub fn csrf_layer(issuer: &crate::config::Issuer) -> CsrfLayer {
    let origin = issuer.origin();
    // The router is nested under the issuer's path, which this layer no
    // longer sees.
    let layer = CsrfLayer::new().with_insecure_bypass(move |method, uri| {
        method == Method::POST
            && uri.path() == crate::routes::LOGOUT
            && uri
                .query()
                .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("rd=")))
    });
    match layer.clone().add_trusted_origin(origin) {
        Ok(with_origin) => with_origin,
        Err(e) => {
            tracing::warn!(error = %e, "issuer origin not usable for CSRF checks");
            layer
        }
    }
}

/// tower-sessions answers a bare `500` when it cannot save a session; in a
/// database outage that is the outage's, so the browser gets the `503`
/// "try again" page (with `Retry-After`) in its language instead.
pub async fn session_outage(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let lang = crate::ui::lang_of(req.headers());
    let response = next.run(req).await;
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && !response.headers().contains_key(header::CONTENT_TYPE)
        && crate::store::outage::is_down()
    {
        return crate::ui::PageError::unavailable()
            .in_lang(lang, app.config.issuer.path())
            .into_response();
    }
    response
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
        .into_response()
}

/// Headers every response carries; pages set nothing weaker.
pub async fn security_headers(mut response: Response) -> Response {
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

/// What the `by_address` middleware guards: a class, on API routes (every
/// request counts, JSON errors) or page routes (only form posts count:
/// showing a page costs little; errors as a page) — or browser
/// navigations that may write a row (every request counts; errors as a
/// page).
#[derive(Clone)]
pub struct Guard {
    app: Arc<App>,
    class: Class,
    page: bool,
    every_method: bool,
}

impl Guard {
    pub fn api(app: &Arc<App>, class: Class) -> Guard {
        Guard {
            app: Arc::clone(app),
            class,
            page: false,
            every_method: true,
        }
    }

    pub fn page(app: &Arc<App>, class: Class) -> Guard {
        Guard {
            app: Arc::clone(app),
            class,
            page: true,
            every_method: false,
        }
    }

    pub fn navigation(app: &Arc<App>, class: Class) -> Guard {
        Guard {
            app: Arc::clone(app),
            class,
            page: true,
            every_method: true,
        }
    }
}

/// Middleware: limits the requests of each client address (as far as it can
/// be trusted, `net::client_ip`) to the guarded class's rate.
pub async fn by_address(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Guard {
        app,
        class,
        page,
        every_method,
    } = guard;
    if !every_method && request.method() != Method::POST {
        return next.run(request).await;
    }
    let peer = crate::net::peer_ip(request.extensions());
    let ip = crate::net::client_ip(peer, request.headers(), &app.config.trusted_proxies);
    let Err(exceeded) = app.rate_limits.check_address(class, ip) else {
        return next.run(request).await;
    };
    app.metrics.rate_limited(class);
    tracing::info!(client = %ip, limit = class.as_str(), "rate limit exceeded");
    if page {
        let lang = crate::ui::lang_of(request.headers());
        crate::ui::PageError::too_many_requests(class.as_str(), exceeded.retry_after_secs())
            .in_lang(lang, app.config.issuer.path())
            .into_response()
    } else {
        OAuthError::rate_limited(exceeded.retry_after_secs()).into_response()
    }
}
