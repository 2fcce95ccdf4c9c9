//! monban's own pages: login, consent, logout, account, errors. Each page is
//! an askama view; this module holds what they share: the page error, the
//! form extractor and the language choice.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::form::Params;

pub mod account;
pub mod admin;
pub mod consent;
pub mod device;
pub mod i18n;
pub mod login;
pub mod logout;

pub use i18n::{Lang, Texts};

/// What went wrong, as the error page tells a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    UnknownClient,
    BadRedirectUri,
    BadRequest,
    Expired,
    /// A rate limit; the error carries when to try again.
    TooManyRequests,
    Server,
}

/// An error shown on monban's own error page (never redirected: used when
/// the client or its redirect URI cannot be trusted, or for page forms).
#[derive(Debug)]
pub struct PageError {
    pub problem: Problem,
    /// For developers: which rule failed. Never a secret.
    pub detail: String,
    pub lang: Lang,
    pub static_prefix: String,
    /// Seconds for `Retry-After`, with `TooManyRequests`.
    pub retry_after: Option<u64>,
}

impl PageError {
    pub fn new(problem: Problem, detail: impl Into<String>) -> PageError {
        PageError {
            problem,
            detail: detail.into(),
            lang: Lang::En,
            static_prefix: String::new(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After` (RFC 6585 §4).
    pub fn too_many_requests(exceeded: &crate::rate_limit::Exceeded) -> PageError {
        PageError {
            retry_after: Some(exceeded.retry_after_secs()),
            ..PageError::new(Problem::TooManyRequests, exceeded.class.as_str())
        }
    }

    pub fn server(cause: &dyn std::fmt::Display) -> PageError {
        tracing::error!(error = %cause, "internal error");
        PageError::new(Problem::Server, "")
    }

    pub fn in_lang(mut self, lang: Lang, static_prefix: &str) -> PageError {
        self.lang = lang;
        static_prefix.clone_into(&mut self.static_prefix);
        self
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> PageError {
        crate::metrics::database_error();
        PageError::server(&e)
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(e: tower_sessions::session::Error) -> PageError {
        PageError::server(&e)
    }
}

impl From<crate::session::SessionError> for PageError {
    fn from(e: crate::session::SessionError) -> PageError {
        PageError::server(&e)
    }
}

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
            Problem::BadRequest => (StatusCode::BAD_REQUEST, t.error_bad_request),
            Problem::Expired => (StatusCode::BAD_REQUEST, t.error_expired),
            Problem::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, t.error_too_many_requests),
            Problem::Server => (StatusCode::INTERNAL_SERVER_ERROR, t.error_server),
        };
        if self.problem != Problem::Server {
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
