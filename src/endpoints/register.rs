//! Dynamic client registration, RFC 7591, and its management protocol,
//! RFC 7592. Registering takes an initial access token (from `monban client
//! registration-token create`) unless `MONBAN_OPEN_REGISTRATION` is on; the
//! client then manages itself at its `registration_client_uri` with the
//! `registration_access_token` it was given. The rules a client must follow
//! are those of every client (`clients::ClientSettings::validate`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::no_store;
use crate::audit::Origin;
use crate::clients::{self, ClientSettings, check_redirect_uri};
use crate::error::{BearerError, ErrorCode};
use crate::outbound::Outbound;
use crate::routes::REGISTER;
use crate::service::{self, Operator, Refused};
use crate::state::App;
use crate::store;
use crate::store::clients::{Client, ServiceLimit};
use crate::tokens::{self, sha256};
use crate::types::{ApplicationType, AuthMethod, ClientType, GrantType, Scopes, Secret};

/// The client metadata monban understands (RFC 7591 §2, OIDC Registration
/// §2, RFC 9126 §6, Back-Channel Logout §2.2). Anything else is ignored
/// (§2: the server "MUST ignore any client metadata sent by the client that
/// it does not understand") and not echoed back.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    backchannel_logout_uri: Option<String>,
    require_pushed_authorization_requests: Option<bool>,
    /// monban's own setting, which only an operator may give: read so that
    /// a client asking for it is told so, not silently ignored.
    require_mfa: Option<bool>,
    /// OIDC Registration §2: `web` (the default) or `native`.
    application_type: Option<String>,
    /// RFC 7592 §2.2: an update names the client, and its secret if any.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7591 §3.2.2 errors, and the bearer-token errors of RFC 7592 §2.
pub enum RegistrationError {
    Metadata(String),
    RedirectUri(String),
    Token(BearerError),
    /// RFC 7592 §2.3: the client may not do this to itself (403).
    Forbidden(String),
}

impl From<sqlx::Error> for RegistrationError {
    fn from(e: sqlx::Error) -> RegistrationError {
        RegistrationError::Token(BearerError::from(e))
    }
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            RegistrationError::Token(bearer) => return bearer.into_response(),
            RegistrationError::Metadata(d) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidClientMetadata, d)
            }
            RegistrationError::RedirectUri(d) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidRedirectUri, d)
            }
            RegistrationError::Forbidden(d) => (StatusCode::FORBIDDEN, ErrorCode::AccessDenied, d),
        };
        let error = error.as_str();
        tracing::info!(error, description = %description, "registration refused");
        let body = json!({ "error": error, "error_description": description });
        (status, no_store(Json(body))).into_response()
    }
}

fn metadata_error(e: impl Into<String>) -> RegistrationError {
    RegistrationError::Metadata(e.into())
}

/// `POST /register` (RFC 7591 §3).
pub async fn register(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, RegistrationError> {
    let now = crate::unix_now();
    // §3: an initial access token, unless registration is open. What the
    // operator's token grants is all its clients may have without a user.
    let initial = bearer(&headers)?;
    let (initial_hash, allowance) = match (initial, app.config.open_registration) {
        (Some(token), _) => {
            let hash = sha256(token.as_bytes());
            let Some(limit) = store::registration::valid(&app.db, &hash, now).await? else {
                return Err(invalid_token(
                    "the initial access token is unknown, expired or used up",
                ));
            };
            (
                Some(hash),
                Allowance {
                    trusted: true,
                    limit,
                },
            )
        }
        (None, true) => (
            None,
            Allowance {
                trusted: false,
                limit: ServiceLimit::default(),
            },
        ),
        (None, false) => {
            return Err(RegistrationError::Token(BearerError::missing()));
        }
    };
    let registration = service::clients::Registration {
        settings: settings_of(&body, &app.outbound, &allowance)?,
        limit: allowance.limit,
        initial_token: initial_hash,
    };
    let registered = service::clients::register(&app, &origin, registration, now)
        .await
        .map_err(refused)?;
    let client = &registered.client;
    tracing::info!(client_id = %client.client_id, name = %client.name, "client registered");
    let mut body = describe(&app, client, registered.secret.as_ref());
    with_registration_token(&mut body, &registered.registration_token);
    if let Some(object) = body.as_object_mut() {
        object.insert("client_id_issued_at".into(), json!(client.created_at));
    }
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(app): State<Arc<App>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RegistrationError> {
    let mut client = managed_client(&app, &client_id, &headers).await?;
    let token = new_registration_token(&app, &mut client).await?;
    let mut body = describe(&app, &client, None);
    with_registration_token(&mut body, &token);
    Ok(no_store(Json(body)))
}

/// RFC 7592 §3: every client information response carries a registration
/// access token. Only its hash is kept, so each response brings a new one
/// and the one just used stops working (§2.1, §2.2 allow this). The swap
/// is one statement: of requests presenting the same token at once, one
/// gets the next token and the others a 401.
async fn new_registration_token(
    app: &App,
    client: &mut Client,
) -> Result<Secret, RegistrationError> {
    let (token, hash) = tokens::random_secret();
    let presented = client.registration_token_hash.take().unwrap_or_default();
    if !store::clients::swap_registration_token(&app.db, &client.client_id, &presented, &hash)
        .await?
    {
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    client.registration_token_hash = Some(hash);
    Ok(token)
}

/// Takes a new registration access token back (the change it came with
/// was refused), so that the one presented still works.
async fn restore_registration_token(app: &App, client_id: &str, new: &[u8], presented: &[u8]) {
    if let Err(e) =
        store::clients::swap_registration_token(&app.db, client_id, new, presented).await
    {
        tracing::error!(client_id, error = %e, "could not restore a registration access token");
    }
}

fn with_registration_token(body: &mut Value, token: &Secret) {
    if let Some(object) = body.as_object_mut() {
        object.insert("registration_access_token".into(), json!(token.expose()));
    }
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the body replaces every
/// setting; what it leaves out goes back to its default.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(client_id): Path<String>,
    origin: Origin,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, RegistrationError> {
    let now = crate::unix_now();
    let mut client = managed_client(&app, &client_id, &headers).await?;
    let metadata = parse(&body)?;
    if metadata.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(metadata_error(
            "client_id must be in the body and name this client (RFC 7592 §2.2)",
        ));
    }
    if let Some(secret) = &metadata.client_secret {
        let stored = client.secret_hash.as_deref().unwrap_or_default();
        if !bool::from(sha256(secret.as_bytes()).ct_eq(stored)) {
            return Err(metadata_error("client_secret is not this client's secret"));
        }
    }
    // An update may keep the grants that needed the operator's initial
    // access token, never gain them; and what only the operator sets
    // (audiences, token format, first party) stays as it is.
    let allowance = Allowance {
        trusted: client.grant_types.iter().any(|g| !OPEN_GRANTS.contains(g)),
        limit: client.service_limit.clone().unwrap_or_default(),
    };
    let mut settings = settings(&app.outbound, metadata, &allowance)?;
    if let Some(gained) = settings
        .grant_types
        .iter()
        .find(|g| !OPEN_GRANTS.contains(g) && !client.allows_grant(**g))
    {
        return Err(metadata_error(format!(
            "grant type {gained} cannot be added by an update; it needs the operator"
        )));
    }
    let current = ClientSettings::of(&client);
    settings.audiences = current.audiences;
    settings.access_token_format = current.access_token_format;
    settings.first_party = current.first_party;
    settings.require_mfa = current.require_mfa;
    // RFC 7592 §3: the answer carries a new registration access token.
    let presented = client.registration_token_hash.clone().unwrap_or_default();
    let token = new_registration_token(&app, &mut client).await?;
    let new = client.registration_token_hash.clone().unwrap_or_default();
    let operator = Operator::client_itself(&app, &client.client_id, &origin);
    let also = service::clients::Also::default();
    match service::clients::update(&operator, client, settings, also, now).await {
        Ok((client, secret)) => {
            let mut body = describe(&app, &client, secret.as_ref());
            with_registration_token(&mut body, &token);
            Ok(no_store(Json(body)))
        }
        Err(refusal) => {
            restore_registration_token(&app, &client_id, &new, &presented).await;
            Err(refused(refusal))
        }
    }
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): the client and its tokens.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(client_id): Path<String>,
    origin: Origin,
    headers: HeaderMap,
) -> Result<Response, RegistrationError> {
    let client = managed_client(&app, &client_id, &headers).await?;
    let operator = Operator::client_itself(&app, &client.client_id, &origin);
    service::clients::delete(&operator, &client.client_id, crate::unix_now())
        .await
        .map_err(|refusal| match refusal {
            // §2.3: a client not allowed to delete itself gets 403.
            Refused::Conflict(message) => RegistrationError::Forbidden(message),
            other => refused(other),
        })?;
    tracing::info!(client_id = %client.client_id, "client deleted through RFC 7592");
    Ok(no_store(StatusCode::NO_CONTENT))
}

/// A refused registration or change of one: its metadata is not valid
/// (RFC 7591 §3.2.2), or its token names nothing usable (the client is
/// gone, the initial access token used up: RFC 7592 §2, 401).
fn refused(refused: Refused) -> RegistrationError {
    match refused {
        Refused::Invalid {
            field: "redirect_uris" | "post_logout_redirect_uris",
            message,
        } => RegistrationError::RedirectUri(message),
        Refused::Invalid { message, .. } | Refused::Conflict(message) => metadata_error(message),
        Refused::NotFound(message) => invalid_token(message),
        Refused::Failed(cause) => RegistrationError::Token(BearerError::server(&cause)),
        Refused::Database(e) => e.into(),
    }
}

/// The client named in the path, if the request carries its registration
/// access token. RFC 7592 §2: anything else (no such client, a client
/// not registered here, a wrong token) is 401.
async fn managed_client(
    app: &App,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<Client, RegistrationError> {
    let Some(token) = bearer(headers)? else {
        return Err(RegistrationError::Token(BearerError::missing()));
    };
    let presented = sha256(token.as_bytes());
    let client = store::clients::find(&app.db, client_id).await?;
    match client {
        Some(client)
            if client
                .registration_token_hash
                .as_deref()
                .is_some_and(|stored| bool::from(presented.ct_eq(stored))) =>
        {
            Ok(client)
        }
        _ => Err(invalid_token(
            "the registration access token is not valid for this client",
        )),
    }
}

fn invalid_token(description: impl Into<std::borrow::Cow<'static, str>>) -> RegistrationError {
    RegistrationError::Token(BearerError::invalid_token(description))
}

/// A Bearer token from `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, RegistrationError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_token("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(invalid_token("use Authorization: Bearer <token>")),
    }
}

fn parse(body: &[u8]) -> Result<Metadata, RegistrationError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| metadata_error(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(metadata_error(
            "the body must be a JSON object of client metadata",
        ));
    }
    serde_json::from_value(value).map_err(|e| metadata_error(e.to_string()))
}

/// Grants anyone may register. The others (client_credentials, device
/// code) let a client obtain tokens without a user on monban's pages
/// choosing it, so they need the operator's initial access token.
const OPEN_GRANTS: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];

/// What a registration may ask for.
pub struct Allowance {
    /// It came with the operator's initial access token (or, for an
    /// update, the client registered with one).
    pub trusted: bool,
    /// What that token grants for client_credentials.
    pub limit: ServiceLimit,
}

/// The client settings a registration request's body asks for, checked
/// against what the registration may have.
pub fn settings_of(
    body: &[u8],
    outbound: &Outbound,
    allowance: &Allowance,
) -> Result<ClientSettings, RegistrationError> {
    settings(outbound, parse(body)?, allowance)
}

/// Client settings from registered metadata, with RFC 7591 §2's defaults
/// (`authorization_code`, `code`, `client_secret_basic`).
fn settings(
    outbound: &Outbound,
    m: Metadata,
    allowance: &Allowance,
) -> Result<ClientSettings, RegistrationError> {
    let trusted = allowance.trusted;
    if m.require_mfa.is_some() {
        return Err(metadata_error(
            "require_mfa is an operator's setting (monban client update ID --require-mfa)",
        ));
    }
    let auth_method: AuthMethod = m
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic")
        .parse()
        .map_err(|e| metadata_error(format!("token_endpoint_auth_method: {e}")))?;
    let application_type: ApplicationType = m
        .application_type
        .as_deref()
        .unwrap_or("web")
        .parse()
        .map_err(|e| metadata_error(format!("application_type: {e}")))?;
    let grant_types = match m.grant_types {
        None => vec![GrantType::AuthorizationCode],
        Some(names) => names
            .iter()
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| metadata_error(format!("grant_types: {e}")))?,
    };
    if grant_types.contains(&GrantType::TokenExchange) {
        return Err(metadata_error(
            "token exchange is configured by the operator (it needs audiences), not registered",
        ));
    }
    if !trusted && let Some(g) = grant_types.iter().find(|g| !OPEN_GRANTS.contains(g)) {
        return Err(metadata_error(format!(
            "{g} needs an initial access token from the operator"
        )));
    }
    let service = grant_types.contains(&GrantType::ClientCredentials);
    // monban calls these URLs: never one aimed inside the network it runs
    // in (SSRF), whoever registers; https unless the operator's token came.
    for (field, uri) in [
        ("jwks_uri", m.jwks_uri.as_deref()),
        (
            "backchannel_logout_uri",
            m.backchannel_logout_uri.as_deref(),
        ),
    ] {
        if let Some(uri) = uri {
            outbound
                .check(uri)
                .map_err(|e| metadata_error(format!("{field} {e}")))?;
            if !trusted && !uri.starts_with("https://") {
                return Err(metadata_error(format!("{field} must be an https URL")));
            }
        }
    }
    // §2.1: grant types and response types must agree; only `code` exists.
    let code_flow = grant_types.contains(&GrantType::AuthorizationCode);
    let response_types = m.response_types.unwrap_or_else(|| {
        if code_flow {
            vec!["code".into()]
        } else {
            vec![]
        }
    });
    if let Some(other) = response_types.iter().find(|r| *r != "code") {
        return Err(metadata_error(format!(
            "response_type {other:?} is not supported; use code"
        )));
    }
    if code_flow != response_types.iter().any(|r| r == "code") {
        return Err(metadata_error(
            "the authorization_code grant and the code response type go together (RFC 7591 §2.1)",
        ));
    }
    let redirect_uris = m.redirect_uris.unwrap_or_default();
    let post_logout = m.post_logout_redirect_uris.unwrap_or_default();
    for uri in redirect_uris.iter().chain(&post_logout) {
        check_redirect_uri(uri)
            .map_err(|e| RegistrationError::RedirectUri(format!("{uri:?}: {e}")))?;
    }
    if code_flow && redirect_uris.is_empty() {
        return Err(RegistrationError::RedirectUri(
            "redirect_uris is required for the authorization_code grant".into(),
        ));
    }
    // §2: without `scope`, a default: for a service, what its token grants.
    let scopes = match m.scope.as_deref() {
        Some(raw) => Scopes::parse(raw).map_err(|e| metadata_error(format!("scope: {e}")))?,
        None if service => allowance.limit.scopes.clone(),
        None => Scopes::default(),
    };
    // monban's own scopes (the admin API's) are given by an operator only.
    if let Some(reserved) = scopes.iter().find(|s| clients::is_operator_scope(s)) {
        return Err(metadata_error(format!(
            "scope {reserved} is reserved; an operator grants it"
        )));
    }
    let settings = ClientSettings {
        name: m.client_name.unwrap_or_else(|| "Unnamed client".to_owned()),
        client_type: if auth_method == AuthMethod::None {
            ClientType::Public
        } else {
            ClientType::Confidential
        },
        application_type,
        // Registered clients are third parties: their users always consent.
        first_party: false,
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        grant_types,
        scopes,
        audiences: Vec::new(),
        auth_method,
        access_token_format: None,
        jwks: m.jwks,
        jwks_uri: m.jwks_uri,
        require_par: m.require_pushed_authorization_requests.unwrap_or(false),
        require_mfa: false,
        backchannel_logout_uri: m.backchannel_logout_uri,
    };
    settings.validate().map_err(metadata_error)?;
    Ok(settings)
}

/// The registered metadata (RFC 7591 §3.2.1), with the secret when one was
/// just made and where the client manages itself.
fn describe(app: &App, client: &Client, secret: Option<&Secret>) -> Value {
    let code_flow = client.allows_grant(GrantType::AuthorizationCode);
    let mut body = json!({
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "response_types": if code_flow { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "application_type": client.application_type,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "registration_client_uri": app
            .config
            .issuer
            .endpoint(&format!("{REGISTER}/{}", client.client_id)),
    });
    let mut set = |key: &str, value: Value| {
        if let Some(object) = body.as_object_mut() {
            object.insert(key.to_owned(), value);
        }
    };
    if !client.scopes.is_empty() {
        set("scope", json!(client.scopes.to_string()));
    }
    if let Some(jwks) = &client.jwks {
        set("jwks", jwks.clone());
    }
    if let Some(uri) = &client.jwks_uri {
        set("jwks_uri", json!(uri));
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        set("backchannel_logout_uri", json!(uri));
    }
    if let Some(secret) = secret {
        set("client_secret", json!(secret.expose()));
        // §3.2.1: 0 = the secret does not expire.
        set("client_secret_expires_at", json!(0));
    }
    body
}
