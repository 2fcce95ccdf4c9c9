//! The page of an app behind the gateway that the signed-in user may not
//! open (`/forward_auth` answers it with 403).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Lang, Texts, render};
use crate::routes::LOGOUT;
use crate::state::App;

#[derive(Template)]
#[template(path = "no_access.html")]
struct NoAccessPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    title: &'static str,
    text: String,
    /// Signs out, then back to the page, to sign in as someone else.
    switch: Option<String>,
}

/// "You are signed in as `username`, and this page is not open to you",
/// with a way to sign in as someone else and come back to `back`.
pub fn forbidden(app: &App, lang: Lang, username: &str, back: Option<&str>) -> Response {
    let t = lang.texts();
    let text = t.no_access_text.replace("{user}", username);
    page(app, lang, t.no_access_title, text, back)
}

/// The browser carries gateway cookies of different sign-ins (one planted
/// by another site of the domain): nothing to do but clear them.
pub fn conflicting_cookies(app: &App, lang: Lang) -> Response {
    let t = lang.texts();
    page(
        app,
        lang,
        t.no_access_title,
        t.conflicting_cookies.to_owned(),
        None,
    )
}

fn page(app: &App, lang: Lang, title: &'static str, text: String, back: Option<&str>) -> Response {
    let t = lang.texts();
    let switch = back.map(|back| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rd", back)
            .finish();
        format!("{}?{query}", app.config.issuer.endpoint(LOGOUT))
    });
    // Shown on the app's host: the stylesheet comes from monban's.
    let issuer = app.config.issuer.as_str();
    let page = NoAccessPage {
        lang: lang.code(),
        t,
        static_prefix: issuer,
        title,
        text,
        switch,
    };
    let origin = app.config.issuer.origin();
    let csp = format!(
        "default-src 'none'; style-src {origin}; img-src {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (StatusCode::FORBIDDEN, render(&page)).into_response();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}
