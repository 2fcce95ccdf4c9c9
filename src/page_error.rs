//! An error of a browser request, shown on monban's own error page (`ui`
//! renders it): what went wrong, in the page's language.

use crate::i18n::Lang;

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
    /// Made from a database error.
    pub database: bool,
}

impl PageError {
    pub fn new(problem: Problem, detail: impl Into<String>) -> PageError {
        PageError {
            problem,
            detail: detail.into(),
            lang: Lang::En,
            static_prefix: String::new(),
            retry_after: None,
            database: false,
        }
    }

    /// 429 with `Retry-After` (RFC 6585 §4).
    pub fn too_many_requests(limit: &str, retry_after_secs: u64) -> PageError {
        PageError {
            retry_after: Some(retry_after_secs),
            ..PageError::new(Problem::TooManyRequests, limit)
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
        PageError {
            database: true,
            ..PageError::server(&e)
        }
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
