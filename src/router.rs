//! The router: every route and layer in one place.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::endpoints::{
    authorize, consent, device, device_verification, end_session, forward_auth, health, home,
    introspect, jwks, login, login_factor, metadata, metrics as metrics_endpoint, par, passkey,
    register, revoke, token, userinfo,
};
use crate::layers::{self, Guard, limited};
use crate::rate_limit::Class;
use crate::routes;
use crate::state::App;
use crate::ui::{account, account_factors, admin as admin_pages};
use crate::{cors, form, metrics, net};

pub fn router(app: Arc<App>) -> Router {
    let issuer_path = app.config.issuer.path().to_owned();
    // Cross-origin calls from apps (SPAs) to these are allowed for the web
    // origins of registered redirect URIs.
    let api = |class| Guard::api(&app, class);
    let page = |class| Guard::page(&app, class);
    let app_api = Router::new()
        .route(
            routes::TOKEN,
            limited(post(token::handler), api(Class::Token)),
        )
        .route(
            routes::USERINFO,
            get(userinfo::handler).post(userinfo::handler),
        )
        .route(
            routes::REVOKE,
            limited(post(revoke::handler), api(Class::Token)),
        )
        .route(routes::PAR, limited(post(par::handler), api(Class::Token)))
        .route(
            routes::DEVICE_AUTHORIZATION,
            limited(post(device::handler), api(Class::Device)),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app.web_origins),
            cors::for_apps,
        ));
    // monban's own forms: a cross-origin POST is refused (Sec-Fetch-Site /
    // Origin), besides the per-session token each form carries.
    let pages = Router::new()
        // GETs too, as the authorization endpoint's: a gateway sign-in
        // (`/login?rd=`) writes a row each time.
        .route(
            routes::LOGIN,
            limited(
                limited(get(login::get).post(login::post), page(Class::Login)),
                Guard::navigation(&app, Class::Authorize),
            ),
        )
        .route(
            routes::LOGIN_FACTOR,
            limited(
                get(login_factor::get).post(login_factor::post),
                page(Class::Login),
            ),
        )
        .route(
            routes::LOGIN_FACTOR_ENROL,
            limited(post(login_factor::enrol), page(Class::Login)),
        )
        .route(
            routes::LOGIN_PASSKEY_OPTIONS,
            limited(post(passkey::sign_in_options), page(Class::Login)),
        )
        .route(
            routes::LOGIN_PASSKEY,
            limited(post(passkey::sign_in), page(Class::Login)),
        )
        .route(
            routes::LOGIN_FACTOR_PASSKEY_OPTIONS,
            limited(post(passkey::factor_options), page(Class::Login)),
        )
        .route(
            routes::LOGIN_FACTOR_PASSKEY,
            limited(post(passkey::factor), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_PASSKEY_OPTIONS,
            limited(post(account_factors::passkey_options), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_PASSKEYS,
            limited(post(account_factors::add_passkey), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_PASSKEY_REMOVE,
            limited(post(account_factors::remove_passkey), page(Class::Login)),
        )
        .route(routes::CONSENT, get(consent::get).post(consent::post))
        .route(
            routes::LOGOUT,
            get(end_session::confirm).post(end_session::decide),
        )
        .route(routes::ACCOUNT, get(account::get))
        .route(
            routes::DEVICE,
            limited(
                get(device_verification::get).post(device_verification::post),
                page(Class::Device),
            ),
        )
        .route(routes::ACCOUNT_CALLBACK, get(account::callback))
        .route(
            routes::ACCOUNT_PASSWORD,
            limited(post(account::change_password), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_REVOKE_CONSENT,
            post(account::revoke_consent),
        )
        .route(
            routes::ACCOUNT_END_ALL_SESSIONS,
            post(account::end_all_sessions),
        )
        .route(routes::ACCOUNT_LOGOUT, post(account::log_out))
        .route(
            routes::ACCOUNT_TOTP,
            limited(post(account_factors::start_totp), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_TOTP_CONFIRM,
            limited(post(account_factors::confirm_totp), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_TOTP_REMOVE,
            limited(post(account_factors::remove_totp), page(Class::Login)),
        )
        .route(
            routes::ACCOUNT_RECOVERY_CODES,
            limited(post(account_factors::regenerate_codes), page(Class::Login)),
        )
        .route(routes::ADMIN, get(admin_pages::home))
        .route(
            routes::ADMIN_USERS,
            get(admin_pages::users::list).post(admin_pages::users::create),
        )
        .route(
            routes::ADMIN_USER,
            get(admin_pages::users::show).post(admin_pages::users::act),
        )
        .route(
            routes::ADMIN_GROUPS,
            get(admin_pages::settings::groups).post(admin_pages::settings::change_group),
        )
        .route(
            routes::ADMIN_CLIENTS,
            get(admin_pages::clients::list).post(admin_pages::clients::create),
        )
        .route(
            routes::ADMIN_CLIENT,
            get(admin_pages::clients::show).post(admin_pages::clients::act),
        )
        .route(
            routes::ADMIN_KEYS,
            get(admin_pages::settings::keys).post(admin_pages::settings::rotate),
        )
        .route(routes::ADMIN_AUDIT, get(admin_pages::settings::audit))
        .layer(layers::csrf_layer(&app.config.issuer));
    // Everything that reads or writes the SSO session. /authorize and
    // /end_session accept cross-site POSTs (turned into GETs).
    let browser = Router::new()
        .route(
            routes::AUTHORIZE,
            limited(
                get(authorize::get).post(authorize::post),
                Guard::navigation(&app, Class::Authorize),
            ),
        )
        .route(routes::AUTHORIZE_RESUME, get(authorize::resume))
        // A POSTed logout is parked in the database until the browser's
        // GET: those posts are limited.
        .route(
            routes::END_SESSION,
            limited(
                get(end_session::get).post(end_session::post),
                page(Class::Authorize),
            ),
        )
        .merge(pages)
        .layer(layers::session_layer(&app))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            layers::session_outage,
        ));
    let mut issuer_routes = Router::new()
        .route(routes::HOME, get(home::handler))
        .route(routes::STYLESHEET, get(home::stylesheet))
        .route(routes::ICON, get(home::icon))
        .route(routes::PASSKEY_SCRIPT, get(home::passkey_script))
        .route(routes::JWKS, get(jwks::handler))
        .route(routes::OPENID_METADATA, get(metadata::handler))
        .route(
            routes::INTROSPECT,
            limited(post(introspect::handler), api(Class::Introspection)),
        )
        .route(
            routes::REGISTER,
            limited(post(register::register), api(Class::Registration)),
        )
        .route(
            routes::REGISTER_CLIENT,
            limited(
                get(register::read)
                    .put(register::update)
                    .delete(register::delete),
                api(Class::Registration),
            ),
        )
        .route(routes::FORWARD_AUTH, any(forward_auth::handler))
        .merge(crate::admin::router(&app.config.issuer))
        .merge(app_api)
        .merge(browser);
    // RFC 8414 §3.1 places the metadata of an issuer with a path at
    // /.well-known/oauth-authorization-server{path}; many clients instead
    // append the suffix to the issuer, so it is served there too.
    let mut router = Router::new()
        .route(
            &format!("{}{}", routes::OAUTH_METADATA, issuer_path),
            get(metadata::handler),
        )
        .route(routes::LIVE, get(health::live))
        .route(routes::READY, get(health::ready))
        .route(routes::FAVICON, get(home::icon));
    if app.config.metrics_listen.is_none() {
        router = router.route(routes::METRICS, get(metrics_endpoint::handler));
    }
    if issuer_path.is_empty() {
        router = router.merge(issuer_routes);
    } else {
        issuer_routes = issuer_routes.route(routes::OAUTH_METADATA, get(metadata::handler));
        router = router.nest(&issuer_path, issuer_routes);
    }

    let trusted = Arc::new(app.config.trusted_proxies.clone());
    router
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app.metrics),
            metrics::track,
        ))
        .fallback(layers::not_found)
        .with_state(app)
        .layer(DefaultBodyLimit::max(form::MAX_BODY))
        .layer(axum::middleware::map_response(layers::security_headers))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            layers::REQUEST_TIMEOUT,
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
