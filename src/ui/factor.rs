//! The pages of a second factor: asking for a code at sign-in, setting up
//! an authenticator app (at sign-in or on `/account`), and recovery codes,
//! shown once (their handlers: `endpoints::login_factor`, `ui::account`).

use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Lang, PageError, Texts, render};
use crate::service::mfa::Enrolment;
use crate::session::BrowserSession;
use crate::state::App;

#[derive(Template)]
#[template(path = "factor.html")]
struct CodePage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    prefix: &'a str,
    action: &'a str,
    csrf: String,
    rid: &'a str,
    ways: Ways,
    error: Option<String>,
}

/// The second factors a step may take.
#[derive(Debug, Clone, Copy)]
pub struct Ways {
    /// A code from the app, or a recovery code.
    pub code: bool,
    pub passkey: bool,
}

/// "Enter the code from your app" (or a recovery code), and "Use a
/// passkey", for request `rid`.
pub async fn code_page(
    app: &App,
    session: &BrowserSession,
    lang: Lang,
    action: &str,
    rid: &str,
    ways: Ways,
    error: Option<String>,
) -> Result<Response, PageError> {
    let prefix = app.config.issuer.path();
    Ok(render(&CodePage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: prefix,
        prefix,
        action,
        csrf: session.csrf_token().await?,
        rid,
        ways,
        error,
    }))
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: &'a str,
    csrf: String,
    rid: Option<&'a str>,
    /// Set up because it is required (at sign-in), not by choice.
    required: bool,
    qr_svg: &'a str,
    secret: &'a str,
    uri: &'a str,
    error: Option<String>,
}

/// Setting up an authenticator app: its QR code, key and URI, and the
/// field for its first code.
pub struct Enrol<'a> {
    pub action: &'a str,
    pub rid: Option<&'a str>,
    pub required: bool,
    pub enrolment: &'a Enrolment,
    pub error: Option<String>,
}

pub async fn enrol_page(
    app: &App,
    session: &BrowserSession,
    lang: Lang,
    enrol: Enrol<'_>,
) -> Result<Response, PageError> {
    Ok(render(&EnrolPage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: app.config.issuer.path(),
        action: enrol.action,
        csrf: session.csrf_token().await?,
        rid: enrol.rid,
        required: enrol.required,
        qr_svg: &enrol.enrolment.qr_svg,
        secret: &enrol.enrolment.secret,
        uri: &enrol.enrolment.uri,
        error: enrol.error,
    }))
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    message: Option<&'static str>,
    codes: &'a [String],
    next: &'a str,
}

/// New recovery codes, shown this once; `next` is where "Continue" goes.
pub fn recovery_codes_page(
    app: &App,
    lang: Lang,
    message: Option<&'static str>,
    codes: &[String],
    next: &str,
) -> Response {
    render(&RecoveryCodesPage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: app.config.issuer.path(),
        message,
        codes,
        next,
    })
}

/// A passkey ceremony's options, as JSON the page's script hands to
/// WebAuthn.
pub fn options(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal the page's script shows (the form expired, passkeys are off).
pub fn refused(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
