//! The page a person sees when opening the issuer URL in a browser, and the
//! stylesheet and icon of monban's pages (compiled into the binary).

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::metadata;
use crate::routes;
use crate::state::App;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    static_prefix: String,
    issuer: String,
    metadata_url: String,
    jwks_url: String,
}

pub async fn handler(State(app): State<Arc<App>>) -> HomePage {
    let issuer = &app.config.issuer;
    HomePage {
        static_prefix: issuer.path().to_owned(),
        issuer: issuer.as_str().to_owned(),
        metadata_url: metadata::url(issuer),
        jwks_url: issuer.endpoint(routes::JWKS),
    }
}

pub async fn stylesheet() -> Response {
    static_file(
        include_str!("../../static/monban.css"),
        "text/css; charset=utf-8",
    )
}

/// The passkey script (no inline script anywhere: the CSP allows monban's
/// own files only).
pub async fn passkey_script() -> Response {
    static_file(
        include_str!("../../static/webauthn.js"),
        "text/javascript; charset=utf-8",
    )
}

/// The icon every page links to; also at `/favicon.ico`, which browsers
/// ask for without a link (an SVG there too: current browsers take it by
/// its content type).
pub async fn icon() -> Response {
    static_file(include_str!("../../static/favicon.svg"), "image/svg+xml")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
