//! Errors of the OAuth endpoints, in their wire form: RFC 6749 §5.2 JSON
//! `{error, error_description}` with the status the spec asks for.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 8707 §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::ServerError => "server_error",
        }
    }
}

/// An error answered by the token, introspection or revocation endpoint.
#[derive(Debug)]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
    status: StatusCode,
    /// RFC 6749 §5.2: a client that tried HTTP Basic gets a 401 with a
    /// matching `WWW-Authenticate` challenge.
    basic_challenge: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl OAuthError {
    fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> OAuthError {
        let status = match code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            code,
            description: description.into(),
            status,
            basic_challenge: false,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    /// Client authentication failed. `used_basic` says whether the client
    /// sent an `Authorization: Basic` header.
    pub fn invalid_client(
        description: impl Into<Cow<'static, str>>,
        used_basic: bool,
    ) -> OAuthError {
        OAuthError {
            basic_challenge: used_basic,
            ..OAuthError::new(ErrorCode::InvalidClient, description)
        }
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::UnauthorizedClient, description)
    }

    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::UnsupportedGrantType, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidScope, description)
    }

    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidTarget, description)
    }

    /// A request body over the endpoint's limit: `invalid_request` with 413.
    pub fn too_large() -> OAuthError {
        OAuthError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..OAuthError::invalid_request("request body too large")
        }
    }

    /// An internal failure: logged here, answered without detail.
    pub fn server_error(cause: &dyn std::fmt::Display) -> OAuthError {
        tracing::error!(error = %cause, "internal error");
        OAuthError::new(ErrorCode::ServerError, "internal server error")
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(err: sqlx::Error) -> OAuthError {
        OAuthError::server_error(&err)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if self.code != ErrorCode::ServerError {
            tracing::info!(error = self.code.as_str(), description = %self.description, "request refused");
        }
        let body = ErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        // §5.2 errors are token responses too: never cached (§5.1).
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"monban\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
