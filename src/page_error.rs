//! An error of a browser request, shown on monban's own error page (`ui`
//! renders it): what went wrong, in the page's language.

use crate::i18n::Lang;

/// What went wrong, as the error page tells a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    UnknownClient,
    BadRedirectUri,
    /// A gateway sign-in or sign-out asked to return outside the gateway
    /// domains.
    BadReturnTarget,
    BadRequest,
    Expired,
    /// A rate limit; the error carries when to try again.
    TooManyRequests,
    /// The database is unavailable: try again shortly (503).
    Unavailable,
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

    /// 503 with `Retry-After`: the database is unavailable.
    pub fn unavailable() -> PageError {
        PageError {
            retry_after: Some(crate::store::outage::RETRY_AFTER),
            database: true,
            ..PageError::new(Problem::Unavailable, "database unavailable")
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
        if crate::store::outage::noticed(&e) {
            return PageError::unavailable();
        }
        PageError {
            database: true,
            ..PageError::server(&e)
        }
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(e: tower_sessions::session::Error) -> PageError {
        // The session store has turned the database's error into text;
        // it noted an outage first.
        if crate::store::outage::is_down() {
            return PageError::unavailable();
        }
        PageError::server(&e)
    }
}

impl From<crate::session::SessionError> for PageError {
    fn from(e: crate::session::SessionError) -> PageError {
        // As for tower-sessions' errors, which it wraps.
        if crate::store::outage::is_down() {
            return PageError::unavailable();
        }
        PageError::server(&e)
    }
}
