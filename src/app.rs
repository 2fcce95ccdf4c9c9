//! The application state and the router: every route and layer in one place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::client_cache::ClientCache;
use crate::config::Config;
use crate::endpoints::{
    authorize, device, end_session, forward_auth, health, home, introspect, jwks, metadata, par,
    register, revoke, token, userinfo,
};
use crate::keys::Keys;
use crate::rate_limit::{self, Class, Guard};
use crate::session::{self, DbSessionStore};
use crate::store::Db;
use crate::store::batch::BatchWriter;
use crate::store::codes::Code;
use crate::store::tokens::AccessToken;
use crate::ui::{account, admin as admin_pages, consent, device as device_page, login, logout};
use crate::{cors, form, metrics, net, password::Passwords};
use tower_http::csrf::CsrfLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// Everything a request handler may need; shared behind an `Arc`.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub clients: ClientCache,
    /// Opaque access tokens and authorization codes, stored with group commit.
    pub access_tokens: BatchWriter<AccessToken>,
    pub codes: BatchWriter<Code>,
    pub passwords: Passwords,
    /// An argon2id hash of no one's password, made on first use: unknown
    /// users are checked against it, so they take as long as known ones.
    pub dummy_hash: tokio::sync::OnceCell<String>,
    /// Origins of registered redirect URIs, for CORS.
    pub web_origins: crate::cors::WebOrigins,
    /// The RFC 8414 document, serialised once.
    pub metadata: Bytes,
    /// Registered APIs (RFC 8707 resources), re-read every 5 s.
    pub apis: crate::apis::ApiCache,
    /// Phantom JWTs of opaque tokens, when `MONBAN_PHANTOM_CACHE` is set.
    pub phantoms: crate::phantom::PhantomCache,
    /// The `/forward_auth` policy (`MONBAN_POLICY_FILE`), reloaded on SIGHUP.
    pub policies: crate::policy::Policies,
    /// JWK Sets fetched from `private_key_jwt` clients' `jwks_uri`s.
    pub remote_keys: crate::client_keys::RemoteKeys,
    /// Outbound requests, with the guard for URLs outsiders chose.
    pub outbound: crate::outbound::Outbound,
    /// Logout tokens on their way to clients (OIDC Back-Channel Logout).
    pub backchannel: crate::backchannel::Backchannel,
    pub metrics: crate::metrics::Metrics,
    /// `MONBAN_RATE_LIMIT_*`, counted on this instance.
    pub rate_limits: crate::rate_limit::RateLimiter,
}

impl App {
    /// The PHC string to verify against when a user has no password (or
    /// does not exist).
    pub async fn dummy_hash(&self) -> Result<String, crate::password::PasswordError> {
        self.dummy_hash
            .get_or_try_init(|| async { self.passwords.hash(&crate::password::generate()).await })
            .await
            .cloned()
    }
}

/// No request may take longer than this, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// CSP of monban's pages (ARCHITECTURE.md). No `form-action`: Chromium
/// applies it to the redirect after a form POST.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(app: Arc<App>) -> Router {
    let issuer_path = app.config.issuer.path().to_owned();
    // Cross-origin calls from apps (SPAs) to these are allowed for the web
    // origins of registered redirect URIs.
    let api = |class| Guard::api(&app, class);
    let page = |class| Guard::page(&app, class);
    let app_api = Router::new()
        .route(
            token::PATH,
            limited(post(token::handler), api(Class::Token)),
        )
        .route(
            userinfo::PATH,
            get(userinfo::handler).post(userinfo::handler),
        )
        .route(
            revoke::PATH,
            limited(post(revoke::handler), api(Class::Token)),
        )
        .route(par::PATH, limited(post(par::handler), api(Class::Token)))
        .route(
            device::PATH,
            limited(post(device::handler), api(Class::Device)),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            cors::for_apps,
        ));
    // monban's own forms: a cross-origin POST is refused (Sec-Fetch-Site /
    // Origin), besides the per-session token each form carries.
    let pages = Router::new()
        .route(
            login::PATH,
            limited(get(login::get).post(login::post), page(Class::Login)),
        )
        .route(consent::PATH, get(consent::get).post(consent::post))
        .route(logout::PATH, get(logout::get).post(logout::post))
        .route(account::PATH, get(account::get))
        .route(
            device_page::PATH,
            limited(
                get(device_page::get).post(device_page::post),
                page(Class::Device),
            ),
        )
        .route(account::CALLBACK_PATH, get(account::callback))
        .route(
            "/account/password",
            limited(post(account::change_password), page(Class::Login)),
        )
        .route("/account/consents/revoke", post(account::revoke_consent))
        .route("/account/sessions/end-all", post(account::end_all_sessions))
        .route("/account/logout", post(account::log_out))
        .route(admin_pages::PATH, get(admin_pages::home))
        .route(
            "/admin/users",
            get(admin_pages::users::list).post(admin_pages::users::create),
        )
        .route(
            "/admin/users/{id}",
            get(admin_pages::users::show).post(admin_pages::users::act),
        )
        .route(
            "/admin/groups",
            get(admin_pages::settings::groups).post(admin_pages::settings::change_group),
        )
        .route(
            "/admin/clients",
            get(admin_pages::clients::list).post(admin_pages::clients::create),
        )
        .route(
            "/admin/clients/{client_id}",
            get(admin_pages::clients::show).post(admin_pages::clients::act),
        )
        .route(
            "/admin/keys",
            get(admin_pages::settings::keys).post(admin_pages::settings::rotate),
        )
        .route("/admin/audit", get(admin_pages::settings::audit))
        .layer(csrf_layer(&app.config.issuer));
    // Everything that reads or writes the SSO session. /authorize and
    // /end_session accept cross-site POSTs (turned into GETs).
    let browser = Router::new()
        .route(
            authorize::PATH,
            limited(
                get(authorize::get).post(authorize::post),
                Guard::navigation(&app, Class::Authorize),
            ),
        )
        .route(authorize::RESUME_PATH, get(authorize::resume))
        // A POSTed logout is parked in the database until the browser's
        // GET: those posts are limited.
        .route(
            end_session::PATH,
            limited(
                get(end_session::get).post(end_session::post),
                page(Class::Authorize),
            ),
        )
        .merge(pages)
        .layer(session_layer(&app));
    let mut issuer_routes = Router::new()
        .route(home::PATH, get(home::handler))
        .route(home::CSS_PATH, get(home::stylesheet))
        .route(jwks::PATH, get(jwks::handler))
        .route(metadata::OPENID_PATH, get(metadata::handler))
        .route(
            introspect::PATH,
            limited(post(introspect::handler), api(Class::Introspection)),
        )
        .route(
            register::PATH,
            limited(post(register::register), api(Class::Registration)),
        )
        .route(
            register::CLIENT_PATH,
            limited(
                get(register::read)
                    .put(register::update)
                    .delete(register::delete),
                api(Class::Registration),
            ),
        )
        .route(forward_auth::PATH, any(forward_auth::handler))
        .merge(crate::admin::router(&app.config.issuer))
        .merge(app_api)
        .merge(browser);
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
    if app.config.metrics_listen.is_none() {
        router = router.route(metrics::PATH, get(metrics::handler));
    }
    if issuer_path.is_empty() {
        router = router.merge(issuer_routes);
    } else {
        issuer_routes = issuer_routes.route(metadata::PATH, get(metadata::handler));
        router = router.nest(&issuer_path, issuer_routes);
    }

    let trusted = Arc::new(app.config.trusted_proxies.clone());
    router
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            metrics::track,
        ))
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

/// `route` behind a per-address rate limit.
fn limited(route: MethodRouter<Arc<App>>, guard: Guard) -> MethodRouter<Arc<App>> {
    route.layer(axum::middleware::from_fn_with_state(
        guard,
        rate_limit::by_address,
    ))
}

/// The SSO session cookie `monban_session`: HttpOnly, SameSite=Lax, Secure
/// when the issuer is https, path `/`; sessions live in the database.
fn session_layer(app: &App) -> SessionManagerLayer<DbSessionStore> {
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
fn csrf_layer(issuer: &crate::config::Issuer) -> CsrfLayer {
    let origin = url::Url::parse(issuer.as_str())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let layer = CsrfLayer::new();
    match layer.clone().add_trusted_origin(&origin) {
        Ok(with_origin) => with_origin,
        Err(e) => {
            tracing::warn!(error = %e, "issuer origin not usable for CSRF checks");
            layer
        }
    }
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
