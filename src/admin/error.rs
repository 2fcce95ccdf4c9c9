//! Errors of the admin API, in one stable JSON shape:
//! `{"error": "<code>", "message": "<for people>", "field": "<name>"?}`.
//! 401 and 403 also carry the RFC 6750 §3 `WWW-Authenticate` challenge.

use std::borrow::Cow;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::Refused;
use crate::types::ADMIN_SCOPE;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: Code,
    pub message: String,
    /// The field (of the body or the query) that is not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What went wrong, for programs: the RFC 6750 §3.1 codes for the token,
/// then the admin API's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidToken,
    InsufficientScope,
    NotFound,
    Conflict,
    InvalidRequest,
    /// The database is unavailable: 503, try again after `Retry-After`.
    TemporarilyUnavailable,
    ServerError,
}

#[derive(Debug)]
pub enum AdminError {
    /// No usable access token (401).
    Unauthenticated {
        presented: bool,
        message: Cow<'static, str>,
    },
    /// A valid token that does not carry the admin right (403).
    Forbidden(Cow<'static, str>),
    /// What is missing, said in full.
    NotFound(String),
    Conflict(String),
    /// A body over the server's limit (413).
    TooLarge,
    Invalid {
        field: Option<String>,
        message: String,
    },
    Server,
    /// A database error: answered as `Server`, counted by the metrics layer.
    Database,
    /// The database is unavailable (503), counted as a database error too.
    Unavailable,
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> AdminError {
        AdminError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// "no such `what`".
    pub fn not_found(what: &str) -> AdminError {
        AdminError::NotFound(format!("no such {what}"))
    }

    pub fn server(cause: &dyn std::fmt::Display) -> AdminError {
        tracing::error!(error = %cause, "internal error");
        AdminError::Server
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> AdminError {
        if crate::store::outage::noticed(&e) {
            return AdminError::Unavailable;
        }
        tracing::error!(error = %e, "database error");
        AdminError::Database
    }
}

impl From<crate::paging::BadPage> for AdminError {
    fn from(e: crate::paging::BadPage) -> AdminError {
        AdminError::invalid(e.field, e.message)
    }
}

impl From<Refused> for AdminError {
    fn from(refused: Refused) -> AdminError {
        match refused {
            Refused::NotFound(message) => AdminError::NotFound(message),
            Refused::Conflict(message) => AdminError::Conflict(message),
            Refused::Invalid { field, message } => AdminError::invalid(field, message),
            Refused::Failed(cause) => AdminError::server(&cause),
            Refused::Database(e) => e.into(),
        }
    }
}

impl From<crate::clients::Invalid> for AdminError {
    fn from(e: crate::clients::Invalid) -> AdminError {
        AdminError::invalid(e.field, e.message)
    }
}

/// serde names the field in backquotes after "field" (`missing field
/// `x``, `unknown field `x``, `duplicate field `x``). Other backquotes
/// quote a value (`invalid type: string `x``, `unknown variant `x``),
/// which names no field.
fn field_in(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let len = message.get(start..)?.find('`')?;
    message.get(start..start + len).map(str::to_owned)
}

/// A body that is not the JSON an operation takes.
pub fn body_error(e: &serde_json::Error) -> AdminError {
    let message = e.to_string();
    AdminError::Invalid {
        field: field_in(&message),
        message,
    }
}

impl From<QueryRejection> for AdminError {
    fn from(rejection: QueryRejection) -> AdminError {
        let message = rejection.body_text();
        AdminError::Invalid {
            field: field_in(&message),
            message,
        }
    }
}

impl From<PathRejection> for AdminError {
    fn from(rejection: PathRejection) -> AdminError {
        AdminError::Invalid {
            field: None,
            message: rejection.body_text(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let database = matches!(self, AdminError::Database | AdminError::Unavailable);
        let (status, error, message, field) = match self {
            AdminError::Unauthenticated { presented, message } => {
                let challenge = if presented {
                    format!(
                        "Bearer realm=\"monban\", error=\"invalid_token\", error_description=\"{message}\""
                    )
                } else {
                    "Bearer realm=\"monban\"".to_owned()
                };
                let body = ErrorBody {
                    error: Code::InvalidToken,
                    message: message.into_owned(),
                    field: None,
                };
                let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                return response;
            }
            AdminError::Forbidden(message) => {
                let body = ErrorBody {
                    error: Code::InsufficientScope,
                    message: message.into_owned(),
                    field: None,
                };
                let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
                let challenge = format!(
                    "Bearer realm=\"monban\", error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\""
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                return response;
            }
            AdminError::NotFound(message) => (StatusCode::NOT_FOUND, Code::NotFound, message, None),
            AdminError::Conflict(message) => (StatusCode::CONFLICT, Code::Conflict, message, None),
            AdminError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::InvalidRequest,
                "the request body is too large".to_owned(),
                None,
            ),
            AdminError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Code::InvalidRequest,
                message,
                field,
            ),
            AdminError::Server | AdminError::Database => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::ServerError,
                "internal server error".to_owned(),
                None,
            ),
            AdminError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::TemporarilyUnavailable,
                "the database is unavailable; try again shortly".to_owned(),
                None,
            ),
        };
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
        let mut response = (
            status,
            Json(ErrorBody {
                error,
                message,
                field,
            }),
        )
            .into_response();
        if unavailable {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::store::outage::RETRY_AFTER),
            );
        }
        if database {
            crate::error::mark_database_failure(&mut response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            field_in(
                "Failed to deserialize the JSON body into the target type: missing field `username` at line 1 column 2"
            ),
            Some("username".into())
        );
        assert_eq!(field_in("no field here"), None);
    }
}
