//! Errors of the OAuth endpoints, in their wire form: RFC 6749 §5.2 JSON
//! `{error, error_description}` with the status the spec asks for.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Marks a response made from a database error. The metrics layer counts
/// these (`monban_db_errors_total`); the error types only say what happened.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseFailure;

/// Marks `response` as made from a database error.
pub fn mark_database_failure(response: &mut Response) {
    response.extensions_mut().insert(DatabaseFailure);
}

/// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 8707
/// §2, OIDC Core §3.1.2.6 (the authorization errors are also answered by
/// the pushed authorization request endpoint, RFC 9126 §2.3), RFC 6750
/// §3.1 (protected resources) and RFC 7591 §3.2.2 (registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidTarget,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 8628 §3.5, while a device waits for its user.
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    /// OIDC Core §3.1.2.6, with `prompt=none`.
    LoginRequired,
    ConsentRequired,
    /// OIDC Core §3.1.2.6: the user must interact (here: a second factor).
    InteractionRequired,
    /// RFC 9470 §3: the token's sign-in is below what the resource needs.
    InsufficientUserAuthentication,
    /// OpenID Connect Core errata (§3.1.2.6 in the 2023 errata set): an
    /// essential `acr` the user cannot meet.
    UnmetAuthenticationRequirements,
    ExpiredToken,
    /// A rate limit (`MONBAN_RATE_LIMIT_*`); no RFC defines a code for
    /// it: the name of RFC 6585 §4's status.
    TooManyRequests,
    ServerError,
    /// RFC 6750 §3.1: the access token is expired, revoked or not one.
    InvalidToken,
    /// RFC 6750 §3.1: the token does not grant what the resource needs.
    InsufficientScope,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
    InvalidRedirectUri,
    /// RFC 6749 §4.1.2.1: the server cannot handle the request now (its
    /// database is unavailable); monban answers it from every endpoint,
    /// with 503 and `Retry-After`.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::ServerError => "server_error",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error answered by the token, introspection or revocation endpoint.
#[derive(Debug)]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
    status: StatusCode,
    /// Seconds for `Retry-After`, with 429.
    retry_after: Option<u64>,
    /// 401 with a `Basic` challenge: the client authenticated with HTTP
    /// Basic (RFC 6749 §5.2).
    basic_challenge: bool,
    /// Made from a database error.
    database: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl OAuthError {
    fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> OAuthError {
        let status = match code {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            code,
            description: sanitize(description.into()),
            status,
            retry_after: None,
            basic_challenge: false,
            database: false,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn with_code(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(code, description)
    }

    /// Client authentication failed: 400, or 401 with a `Basic` challenge
    /// once `challenging_basic` says the client used HTTP Basic.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, description)
    }

    /// RFC 6749 §5.2: "If the client attempted to authenticate via the
    /// "Authorization" request header field, the authorization server MUST
    /// respond with an HTTP 401 (Unauthorized) status code and include the
    /// WWW-Authenticate response header field matching the authentication
    /// scheme used by the client." Other failures stay 400 without a
    /// challenge (RFC 9110 §15.5.2 allows no 401 without one), so that a
    /// client using `private_key_jwt` or `client_secret_post` reads
    /// `invalid_client` instead of an invitation to use Basic.
    pub fn challenging_basic(self) -> OAuthError {
        if self.code != ErrorCode::InvalidClient {
            return self;
        }
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge: true,
            ..self
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

    /// 429 with `Retry-After` (RFC 6585 §4).
    pub fn rate_limited(seconds: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(seconds),
            ..OAuthError::new(
                ErrorCode::TooManyRequests,
                format!("too many requests; try again in {seconds} s"),
            )
        }
    }

    /// An internal failure: logged here, answered without detail.
    pub fn server_error(cause: &dyn std::fmt::Display) -> OAuthError {
        tracing::error!(error = %cause, "internal error");
        OAuthError::new(ErrorCode::ServerError, "internal server error")
    }

    /// The database is unavailable: 503, try again after `Retry-After`.
    pub fn unavailable() -> OAuthError {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(crate::store::outage::RETRY_AFTER),
            database: true,
            ..OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again shortly",
            )
        }
    }

    /// A database error met elsewhere (and logged there), answered as
    /// `server_error` and counted as a database failure.
    pub fn database_failure() -> OAuthError {
        OAuthError {
            database: true,
            ..OAuthError::new(ErrorCode::ServerError, "internal server error")
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

/// RFC 6749 §5.2: `error_description` "MUST NOT include characters outside
/// the set %x20-21 / %x23-5B / %x5D-7E". Descriptions that quote request
/// input are brought into that set (which also keeps CR/LF out of the log)
/// and kept short.
fn sanitize(description: Cow<'static, str>) -> Cow<'static, str> {
    const MAX: usize = 200;
    let allowed = |c: char| matches!(c, ' '..='~') && c != '"' && c != '\\';
    if description.len() <= MAX && description.chars().all(allowed) {
        return description;
    }
    let mut clean: String = description
        .chars()
        .take(MAX)
        .map(|c| match c {
            '"' => '\'',
            c if allowed(c) => c,
            _ => '?',
        })
        .collect();
    if description.chars().count() > MAX {
        clean.push_str("...");
    }
    Cow::Owned(clean)
}

impl From<sqlx::Error> for OAuthError {
    fn from(err: sqlx::Error) -> OAuthError {
        if crate::store::outage::noticed(&err) {
            return OAuthError::unavailable();
        }
        OAuthError {
            database: true,
            ..OAuthError::server_error(&err)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // Outages are logged once (store::outage), failures where they
        // happened.
        if !matches!(
            self.code,
            ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
        ) {
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
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.database {
            mark_database_failure(&mut response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_stay_in_the_rfc_6749_character_set() {
        let e = OAuthError::invalid_request("scope \"caf\u{e9}\"\r\nforged: line \\ end");
        assert_eq!(e.description, "scope 'caf?'??forged: line ? end");
        let long = OAuthError::invalid_request("x".repeat(1000));
        assert_eq!(long.description.len(), 203);
        let fine = OAuthError::invalid_request("missing parameter grant_type");
        assert!(matches!(fine.description, Cow::Borrowed(_)));
    }
}

/// Errors of protected resources (RFC 6750 §3): userinfo, and later the
/// gateway endpoint. The challenge says what went wrong.
#[derive(Debug)]
pub struct BearerError {
    status: StatusCode,
    /// `None` when the request had no token at all (§3.1: then no error
    /// code), and for an internal failure.
    error: Option<ErrorCode>,
    description: Cow<'static, str>,
    scope: Option<Cow<'static, str>>,
    /// RFC 9470 §3: the `acr_values` a new sign-in must reach.
    acr_values: Option<&'static str>,
    /// Made from a database error.
    database: bool,
}

impl BearerError {
    pub fn missing() -> BearerError {
        BearerError {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            description: Cow::Borrowed(""),
            scope: None,
            acr_values: None,
            database: false,
        }
    }

    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> BearerError {
        BearerError {
            status: StatusCode::UNAUTHORIZED,
            error: Some(ErrorCode::InvalidToken),
            description: sanitize(description.into()),
            scope: None,
            acr_values: None,
            database: false,
        }
    }

    pub fn insufficient_scope(scope: &'static str) -> BearerError {
        BearerError::forbidden(
            "the token does not grant the scope this resource needs",
            Some(scope.into()),
        )
    }

    /// §3.1 `insufficient_scope`: "The request requires higher privileges
    /// than provided by the access token" — missing scopes (named in
    /// `scope`) or, for a gateway policy, groups.
    pub fn forbidden(
        description: impl Into<Cow<'static, str>>,
        scope: Option<Cow<'static, str>>,
    ) -> BearerError {
        BearerError {
            status: StatusCode::FORBIDDEN,
            error: Some(ErrorCode::InsufficientScope),
            description: sanitize(description.into()),
            scope: scope.map(sanitize),
            acr_values: None,
            database: false,
        }
    }

    /// RFC 9470 §3: the user signed in below `acr` for this token; the
    /// client gets a new token with `acr_values` and comes back.
    pub fn insufficient_user_authentication(acr: &'static str) -> BearerError {
        BearerError {
            status: StatusCode::UNAUTHORIZED,
            error: Some(ErrorCode::InsufficientUserAuthentication),
            description: Cow::Borrowed(
                "a stronger sign-in is required: ask for a token with these acr_values",
            ),
            acr_values: Some(acr),
            ..BearerError::missing()
        }
    }

    pub fn server(cause: &dyn std::fmt::Display) -> BearerError {
        tracing::error!(error = %cause, "internal error");
        BearerError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: None,
            description: Cow::Borrowed(""),
            scope: None,
            acr_values: None,
            database: false,
        }
    }
}

impl From<sqlx::Error> for BearerError {
    fn from(e: sqlx::Error) -> BearerError {
        if crate::store::outage::noticed(&e) {
            return BearerError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: Some(ErrorCode::TemporarilyUnavailable),
                description: Cow::Borrowed(""),
                scope: None,
                acr_values: None,
                database: true,
            };
        }
        BearerError {
            database: true,
            ..BearerError::server(&e)
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // No challenge: the token was not the problem.
            let code = self.error.unwrap_or(ErrorCode::ServerError);
            let mut response = (
                self.status,
                Json(serde_json::json!({"error": code.as_str()})),
            )
                .into_response();
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::store::outage::RETRY_AFTER),
                );
            }
            if self.database {
                mark_database_failure(&mut response);
            }
            return response;
        }
        let mut challenge = String::from("Bearer realm=\"monban\"");
        if let Some(error) = self.error {
            challenge.push_str(&format!(", error=\"{}\"", error.as_str()));
            if !self.description.is_empty() {
                challenge.push_str(&format!(", error_description=\"{}\"", self.description));
            }
        }
        if let Some(scope) = &self.scope {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        if let Some(acr) = self.acr_values {
            challenge.push_str(&format!(", acr_values=\"{acr}\""));
        }
        let body = serde_json::json!({
            "error": self.error.unwrap_or(ErrorCode::InvalidRequest).as_str(),
            "error_description": self.description,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
