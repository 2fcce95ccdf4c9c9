//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` (RFC 7523 §2.2), and `none` for public clients, which
//! only identify themselves.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode;
use subtle::ConstantTimeEq;

use crate::client_assertion::{self, ASSERTION_TYPE};
use crate::client_cache::Source;
use crate::cors::CallingClient;
use crate::error::OAuthError;
use crate::form::{self, Params};
use crate::rate_limit::Class;
use crate::state::App;
use crate::store::clients::Client;
use crate::tokens::sha256;
use crate::types::{AuthMethod, Secret};

/// What the request presented to identify its client.
#[derive(Debug)]
pub enum Credentials {
    /// RFC 6749 §2.3.1, `Authorization: Basic`.
    Basic { client_id: String, secret: Secret },
    /// RFC 6749 §2.3.1, `client_id` and `client_secret` in the body.
    Post { client_id: String, secret: Secret },
    /// RFC 7523 §2.2, a JWT signed with the client's key; `client_id` is the
    /// request's, else the assertion's `sub`.
    Assertion {
        client_id: String,
        assertion: String,
    },
    /// A public client's `client_id` alone (RFC 6749 §3.2.1).
    ClientIdOnly { client_id: String },
}

impl Credentials {
    /// Reads the credentials of a request. RFC 6749 §2.3: "The client MUST
    /// NOT use more than one authentication method in each request."
    pub fn from_request(headers: &HeaderMap, params: &Params) -> Result<Credentials, OAuthError> {
        let body_id = params.one("client_id")?;
        let body_secret = params.one("client_secret")?;
        let assertion_type = params.one("client_assertion_type")?;
        let assertion = params.one("client_assertion")?;
        if assertion_type.is_some() || assertion.is_some() {
            if headers.contains_key(header::AUTHORIZATION) || body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not a client assertion and a secret",
                ));
            }
            return Credentials::from_assertion(body_id, assertion_type, assertion);
        }
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let (client_id, secret) = parse_basic(value.as_bytes())?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both Basic and client_secret",
                ));
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_client(
                    "client_id does not match the Authorization header",
                ));
            }
            return Ok(Credentials::Basic { client_id, secret });
        }
        match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials::Post {
                client_id: id.to_owned(),
                secret: Secret::new(secret.to_owned()),
            }),
            (Some(id), None) => Ok(Credentials::ClientIdOnly {
                client_id: id.to_owned(),
            }),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret without client_id",
            )),
            (None, None) => Err(OAuthError::invalid_client("client authentication required")),
        }
    }

    fn from_assertion(
        client_id: Option<&str>,
        assertion_type: Option<&str>,
        assertion: Option<&str>,
    ) -> Result<Credentials, OAuthError> {
        let assertion = assertion.ok_or_else(|| {
            OAuthError::invalid_request("client_assertion_type without client_assertion")
        })?;
        match assertion_type {
            Some(ASSERTION_TYPE) => {}
            Some(other) => {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type {other:?} is not supported; use {ASSERTION_TYPE}"
                )));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "client_assertion without client_assertion_type",
                ));
            }
        }
        let client_id = match client_id {
            Some(id) => id.to_owned(),
            None => client_assertion::claimed_client(assertion)
                .ok_or_else(|| OAuthError::invalid_client("malformed client assertion"))?,
        };
        Ok(Credentials::Assertion {
            client_id,
            assertion: assertion.to_owned(),
        })
    }

    fn method(&self) -> AuthMethod {
        match self {
            Credentials::Basic { .. } => AuthMethod::ClientSecretBasic,
            Credentials::Post { .. } => AuthMethod::ClientSecretPost,
            Credentials::Assertion { .. } => AuthMethod::PrivateKeyJwt,
            Credentials::ClientIdOnly { .. } => AuthMethod::None,
        }
    }

    fn client_id(&self) -> &str {
        match self {
            Credentials::Basic { client_id, .. }
            | Credentials::Post { client_id, .. }
            | Credentials::Assertion { client_id, .. }
            | Credentials::ClientIdOnly { client_id } => client_id,
        }
    }

    fn secret(&self) -> Option<&Secret> {
        match self {
            Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => Some(secret),
            Credentials::Assertion { .. } | Credentials::ClientIdOnly { .. } => None,
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; §2.3.1 has both parts
/// form-encoded before base64.
pub fn parse_basic(value: &[u8]) -> Result<(String, Secret), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic authorization header");
    let value = std::str::from_utf8(value).map_err(|_| malformed())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "only the Basic authorization scheme is supported here",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, Secret::new(secret)))
}

fn form_decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Authenticates the client of a request (credentials in the header or the
/// body) and returns it. A failure after the client sent an
/// `Authorization` header is a 401 with a `Basic` challenge, any other a
/// 400 (`OAuthError::challenging_basic`).
async fn authenticate_request(
    app: &App,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let authenticated = match Credentials::from_request(headers, params) {
        Ok(credentials) => authenticate(app, &credentials).await,
        Err(e) => Err(e),
    };
    if headers.contains_key(header::AUTHORIZATION) {
        authenticated.map_err(OAuthError::challenging_basic)
    } else {
        authenticated
    }
}

/// Finds the client and checks its credentials against its registered
/// `token_endpoint_auth_method`. Secrets are compared as SHA-256 digests in
/// constant time; assertions are verified with the client's keys. A cached
/// client that fails the check is re-read from the
/// database before the request is refused (its secret may have changed).
/// Every failure looks the same to the caller, so that client ids cannot be
/// probed; the log says why.
pub async fn authenticate(app: &App, credentials: &Credentials) -> Result<Arc<Client>, OAuthError> {
    let (clients, db) = (&app.clients, &app.db);
    let id = credentials.client_id();
    let failed = || OAuthError::invalid_client("client authentication failed");
    let Some((client, source)) = clients.get(db, id).await? else {
        tracing::info!(
            client_id = id,
            reason = "unknown client",
            "client authentication failed"
        );
        return Err(failed());
    };
    let reason = match refusal(app, &client, credentials).await? {
        None => return Ok(client),
        Some(reason) => reason,
    };
    if source == Source::Cache
        && let Some(fresh) = clients.load(db, id).await?
        && refusal(app, &fresh, credentials).await?.is_none()
    {
        return Ok(fresh);
    }
    tracing::info!(client_id = id, reason, "client authentication failed");
    Err(failed())
}

/// Why the client's registration does not accept these credentials.
async fn refusal(
    app: &App,
    client: &Client,
    credentials: &Credentials,
) -> Result<Option<String>, OAuthError> {
    if client.token_endpoint_auth_method != credentials.method() {
        return Ok(Some(
            "authentication method differs from the registered one".into(),
        ));
    }
    if let Some(secret) = credentials.secret() {
        let presented = sha256(secret.expose().as_bytes());
        let stored = client.secret_hash.as_deref().unwrap_or_default();
        if !bool::from(presented.ct_eq(stored)) {
            return Ok(Some("wrong secret".into()));
        }
    }
    if let Credentials::Assertion { assertion, .. } = credentials {
        let verdict = client_assertion::verify(app, client, assertion, crate::unix_now()).await?;
        return Ok(verdict.err());
    }
    Ok(None)
}

/// The rate limit of an endpoint where clients authenticate.
pub trait Endpoint {
    const LIMIT: Class;
}

/// `/token`, `/par` and `/revoke`.
pub enum TokenEndpoint {}
/// `/introspect`.
pub enum IntrospectionEndpoint {}
/// `/device_authorization`.
pub enum DeviceEndpoint {}

impl Endpoint for TokenEndpoint {
    const LIMIT: Class = Class::Token;
}
impl Endpoint for IntrospectionEndpoint {
    const LIMIT: Class = Class::Introspection;
}
impl Endpoint for DeviceEndpoint {
    const LIMIT: Class = Class::Device;
}

/// A form POST of an authenticated client (RFC 6749 §2.3; a public client
/// names itself): the client, its parameters and the request's headers. The
/// client's own rate limit is counted, and the CORS layer of the route, if
/// any, learns who is calling.
pub struct ClientRequest<E> {
    pub client: Arc<Client>,
    pub params: Params,
    pub headers: HeaderMap,
    endpoint: PhantomData<E>,
}

impl<E: Endpoint> FromRequest<Arc<App>> for ClientRequest<E> {
    type Rejection = OAuthError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, OAuthError> {
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let calling = parts.extensions.get::<CallingClient>().cloned();
        form::check_content_type(&headers)?;
        let params = form::read(Request::from_parts(parts, body)).await?;
        let client = authenticate_request(app, &headers, &params).await?;
        if let Some(calling) = calling {
            calling.set(&client);
        }
        limit(app, E::LIMIT, &client)?;
        Ok(ClientRequest {
            client,
            params,
            headers,
            endpoint: PhantomData,
        })
    }
}

/// Counts a request of a client that proved who it is (a secret or a key):
/// its own budget, wherever it calls from. Public clients prove nothing —
/// anyone can send their `client_id` — so only addresses limit them.
fn limit(app: &App, class: Class, client: &Client) -> Result<(), OAuthError> {
    if client.token_endpoint_auth_method == AuthMethod::None {
        return Ok(());
    }
    let client_id = client.client_id.as_str();
    app.rate_limits
        .check_client(class, client_id)
        .map_err(|exceeded| {
            app.metrics.rate_limited(class);
            tracing::info!(client_id, limit = class.as_str(), "rate limit exceeded");
            OAuthError::rate_limited(exceeded.retry_after_secs())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        // id "a b", secret "p:w%" form-encoded, then base64.
        let header = format!("Basic {}", STANDARD.encode("a+b:p%3Aw%25"));
        let (id, secret) = parse_basic(header.as_bytes()).unwrap();
        assert_eq!(id, "a b");
        assert_eq!(secret.expose(), "p:w%");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for bad in ["Basic !!!", "Basic", "Bearer abc", "Basic Zm9v"] {
            let err = parse_basic(bad.as_bytes()).err().unwrap();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidClient, "{bad}");
        }
        assert!(parse_basic(b"Basic \xff").is_err());
    }
}
