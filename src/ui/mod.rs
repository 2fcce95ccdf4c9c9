//! monban's own pages: login, consent, logout, account, device, admin,
//! errors. Each page is an askama view; this module holds what they share:
//! the error page, the form extractors and the language of a page.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use std::sync::Arc;

use crate::form::Params;
use crate::session::BrowserSession;
use crate::state::App;

pub mod account;
pub mod account_factors;
pub mod admin;
pub mod consent;
pub mod device;
pub mod factor;
pub mod gateway;
pub mod login;
pub mod logout;
pub mod second_step;

pub use crate::i18n::{Lang, Texts};
pub use crate::page_error::{PageError, Problem};

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    message: &'static str,
    detail: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = self.lang.texts();
        let (status, message) = match self.problem {
            Problem::UnknownClient => (StatusCode::BAD_REQUEST, t.error_unknown_client),
            Problem::BadRedirectUri => (StatusCode::BAD_REQUEST, t.error_bad_redirect_uri),
            Problem::BadReturnTarget => (StatusCode::BAD_REQUEST, t.error_bad_return_target),
            Problem::BadRequest => (StatusCode::BAD_REQUEST, t.error_bad_request),
            Problem::Expired => (StatusCode::BAD_REQUEST, t.error_expired),
            Problem::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, t.error_too_many_requests),
            Problem::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, t.error_unavailable),
            Problem::Server => (StatusCode::INTERNAL_SERVER_ERROR, t.error_server),
        };
        // Failures are logged where they happen, outages once.
        if !matches!(self.problem, Problem::Server | Problem::Unavailable) {
            tracing::info!(problem = ?self.problem, detail = %self.detail, "page error");
        }
        let page = ErrorPage {
            lang: self.lang.code(),
            t,
            static_prefix: &self.static_prefix,
            message,
            detail: &self.detail,
        };
        let mut response = (status, render(&page)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.database {
            crate::error::mark_database_failure(&mut response);
        }
        response
    }
}

/// Renders a view; a rendering failure becomes a plain 500.
pub fn render(view: &impl Template) -> Response {
    match view.render() {
        Ok(html) => no_cache(Html(html)),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    }
}

/// Pages carry per-session tokens and must not be cached.
fn no_cache(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The language of a page that has no authorization request to follow.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::negotiate(None, accept)
}

/// A form POSTed by one of monban's pages, parsed as strictly as the OAuth
/// endpoints parse theirs.
pub struct PageForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::new(Problem::BadRequest, "expected a form"));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::new(Problem::BadRequest, "could not read the form"))?;
        Params::parse(&body)
            .map(PageForm)
            .map_err(|_| PageError::new(Problem::BadRequest, "malformed form"))
    }
}

/// A form POSTed by one of monban's pages, with the browser's session: its
/// fields read strictly (a repeated one is a 400, in the page's language)
/// and its CSRF token checked against the session when the handler asks.
pub struct PagePost {
    pub session: BrowserSession,
    pub form: Params,
    /// From `Accept-Language` (a page of an authorization request may know
    /// better).
    pub lang: Lang,
    /// The issuer's path, which error pages link under.
    prefix: String,
}

impl FromRequest<Arc<App>> for PagePost {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = BrowserSession::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let lang = lang_of(&parts.headers);
        let prefix = app.config.issuer.path().to_owned();
        let req = Request::from_parts(parts, body);
        let PageForm(form) = PageForm::from_request(req, app)
            .await
            .map_err(|e| e.in_lang(lang, &prefix).into_response())?;
        Ok(PagePost {
            session,
            form,
            lang,
            prefix,
        })
    }
}

impl PagePost {
    /// A 400 page saying `detail`.
    pub fn bad(&self, detail: &str) -> PageError {
        PageError::new(Problem::BadRequest, detail).in_lang(self.lang, &self.prefix)
    }

    /// A field; `None` when absent.
    pub fn field(&self, name: &str) -> Result<Option<&str>, PageError> {
        self.form.one(name).map_err(|_| self.bad("repeated field"))
    }

    /// A field that must be there.
    pub fn required(&self, name: &str) -> Result<&str, PageError> {
        self.field(name)?
            .ok_or_else(|| self.bad(&format!("{name} is missing")))
    }

    /// Whether the form carries this session's CSRF token.
    pub async fn csrf_ok(&self) -> Result<bool, PageError> {
        let token = self.field("csrf")?.unwrap_or_default();
        Ok(self.session.csrf_matches(token).await?)
    }

    /// The CSRF check as an error page in `lang` ("the form expired").
    pub async fn check_csrf(&self, lang: Lang) -> Result<(), PageError> {
        if self.csrf_ok().await? {
            Ok(())
        } else {
            Err(PageError::new(Problem::Expired, "CSRF token mismatch").in_lang(lang, &self.prefix))
        }
    }
}
