//! `/clients`: OAuth clients, described with RFC 7591's metadata names
//! (plus monban's `audience`, `first_party`, `access_token_format` and
//! `groups`). A secret is shown once: in the answer that made it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use super::{AdminJson, AdminPath};
use crate::client_metadata::Metadata;
use crate::clients::{ClientSettings, Invalid};
use crate::paging::{Page, PageQuery};
use crate::service;
use crate::state::App;
use crate::store::clients::{Client, ServiceLimit};
use crate::types::{ApplicationType, AuthMethod, GrantType, Scopes, Secret, TokenFormat};

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub client_name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// `web` or `native` (OIDC Registration §2): a native app's loopback
    /// redirect URIs match with any port.
    pub application_type: String,
    /// Trusted: users are not asked for consent.
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    /// Space-separated scopes the client may request.
    pub scope: String,
    /// The `aud` of its access tokens.
    pub audience: Vec<String>,
    /// `jwt` or `opaque`; absent: the server default.
    pub access_token_format: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: bool,
    /// Users sign in to it with a second factor (monban's own setting).
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    /// Groups of a service client (in its client_credentials tokens).
    pub groups: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Only in the answer that created or replaced the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ClientView {
    fn of(client: &Client, secret: Option<&Secret>) -> ClientView {
        ClientView {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            client_type: client.client_type.to_string(),
            application_type: client.application_type.to_string(),
            first_party: client.first_party,
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            grant_types: client.grant_types.iter().map(ToString::to_string).collect(),
            token_endpoint_auth_method: client.token_endpoint_auth_method.to_string(),
            scope: client.scopes.to_string(),
            audience: client.audiences.clone(),
            access_token_format: client.access_token_format.map(|f| f.to_string()),
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            require_mfa: client.require_mfa,
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            groups: client.groups.clone(),
            created_at: client.created_at,
            updated_at: client.updated_at,
            client_secret: secret.map(|s| s.expose().to_owned()),
        }
    }
}

/// A client's settings, as RFC 7591 names them. What is left out takes
/// its default: `token_endpoint_auth_method` `client_secret_basic`
/// (`private_key_jwt` with keys; `none` makes a public client), and
/// `grant_types` the code flow with redirect URIs, else
/// `client_credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// Chosen when creating (letters, digits and `. _ ~ : -`, at most
    /// 128); generated when absent. When replacing, absent or the same.
    pub client_id: Option<String>,
    /// 1 to 200 characters, not only spaces, no control characters.
    #[schema(pattern = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]{1,200}$")]
    pub client_name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = grant_type_list)]
    pub grant_types: Vec<String>,
    #[schema(schema_with = auth_methods)]
    pub token_endpoint_auth_method: Option<String>,
    /// `web` (the default) or `native`.
    #[schema(schema_with = application_types)]
    pub application_type: Option<String>,
    /// Space-separated.
    #[schema(pattern = r"^[ !#-\[\]-~]*$")]
    pub scope: Option<String>,
    #[serde(default)]
    #[schema(schema_with = audience_list)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub first_party: bool,
    #[schema(schema_with = token_formats)]
    pub access_token_format: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Users sign in to it with a second factor.
    #[serde(default)]
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl ClientMetadata {
    /// The settings, read by the rule the admin pages share.
    pub fn settings(&self) -> Result<ClientSettings, Invalid> {
        Metadata {
            client_name: self.client_name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            application_type: self.application_type.clone(),
            scope: self.scope.clone(),
            audience: self.audience.clone(),
            first_party: self.first_party,
            access_token_format: self.access_token_format.clone(),
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            require_mfa: self.require_mfa,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
        }
        .settings()
    }
}

fn auth_methods() -> utoipa::openapi::Object {
    super::one_of_or_null(AuthMethod::ALL.iter().map(|m| m.as_str()))
}

fn application_types() -> utoipa::openapi::Object {
    super::one_of_or_null(ApplicationType::ALL.iter().map(|t| t.as_str()))
}

fn token_formats() -> utoipa::openapi::Object {
    super::one_of_or_null(TokenFormat::ALL.iter().map(|f| f.as_str()))
}

fn audience_list() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(r"^[^\s\x00-\x1f\x7f-\x9f]{1,2000}$")),
        )
        .build()
}

fn grant_type_list() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(super::one_of(GrantType::ALL.iter().map(|g| g.as_str())))
        .build()
}

#[utoipa::path(get, path = "/clients", tag = "clients", params(PageQuery),
    responses((status = 200, body = Page<ClientView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Lists clients in client_id order, a page at a time.
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<ClientView>>, AdminError> {
    let Query(paging) = query?;
    let page = service::clients::page(&app.db, &paging).await?;
    Ok(Json(page.map(|c| ClientView::of(&c, None))))
}

#[utoipa::path(post, path = "/clients", tag = "clients", request_body = ClientMetadata,
    responses((status = 201, body = ClientView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Registers a client; a confidential one's secret is in this answer only.
pub async fn create(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminJson(metadata): AdminJson<ClientMetadata>,
) -> Result<Response, AdminError> {
    let new = service::clients::NewClient {
        client_id: metadata.client_id.as_deref(),
        settings: metadata.settings()?,
        groups: &metadata.groups,
        secret_hash: None,
    };
    let operator = admin.operator(&app);
    let (client, secret) = service::clients::create(&operator, new, crate::unix_now()).await?;
    let body = ClientView::of(&client, secret.as_ref());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Shows a client.
pub async fn show(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(client_id): AdminPath<String>,
) -> Result<Json<ClientView>, AdminError> {
    let client = find(&app, &client_id).await?;
    Ok(Json(ClientView::of(&client, None)))
}

#[utoipa::path(put, path = "/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    request_body = ClientMetadata,
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Replaces a client's settings (what the body leaves out takes its
/// default). A client that comes to need a secret gets one, shown here.
pub async fn replace(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(client_id): AdminPath<String>,
    AdminJson(metadata): AdminJson<ClientMetadata>,
) -> Result<Json<ClientView>, AdminError> {
    let client = find(&app, &client_id).await?;
    if metadata
        .client_id
        .as_ref()
        .is_some_and(|id| *id != client_id)
    {
        return Err(AdminError::invalid(
            "client_id",
            "a client_id cannot be changed",
        ));
    }
    let settings = metadata.settings()?;
    let also = service::clients::Also {
        groups: Some(&metadata.groups),
        ..Default::default()
    };
    let operator = admin.operator(&app);
    let (client, secret) =
        service::clients::update(&operator, client, settings, also, crate::unix_now()).await?;
    Ok(Json(ClientView::of(&client, secret.as_ref())))
}

#[utoipa::path(delete, path = "/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Deletes a client and every token issued to it.
pub async fn delete(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(client_id): AdminPath<String>,
) -> Result<StatusCode, AdminError> {
    service::clients::delete(&admin.operator(&app), &client_id, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewSecret {
    pub client_id: String,
    /// Shown only in this answer. The old secret stops working at once on
    /// this instance, within 5 seconds on the others.
    pub client_secret: String,
}

#[utoipa::path(post, path = "/clients/{client_id}/secret", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Replaces a confidential client's secret.
pub async fn rotate_secret(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(client_id): AdminPath<String>,
) -> Result<Json<NewSecret>, AdminError> {
    let operator = admin.operator(&app);
    let secret = service::clients::rotate_secret(&operator, &client_id, crate::unix_now()).await?;
    Ok(Json(NewSecret {
        client_id,
        client_secret: secret.expose().to_owned(),
    }))
}

async fn find(app: &App, client_id: &str) -> Result<Client, AdminError> {
    Ok(service::clients::find(&app.db, client_id).await?)
}

/// An integer as JSON Schema counts one: any number with a zero fractional
/// part, `5.0` as well as `5` (JSON Schema Core 2020-12 §4.2.1), which the
/// document's `integer` promises to take.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    // Within ±2^53 every whole f64 converts exactly; beyond, no limit of
    // the API is near.
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "{number} is not a whole number within ±2^53"
        ))),
    }
}

/// An initial access token to make (RFC 7591 §3).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationTokenRequest {
    /// Seconds until it expires (1 to 315360000); absent: never.
    #[schema(minimum = 1, maximum = 315_360_000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in: Option<i64>,
    /// How many clients it may register (1 to 1000000); absent: unlimited.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub uses: Option<i64>,
    /// Space-separated scopes the clients it registers may have in
    /// client_credentials tokens (never `monban:` ones); absent: none.
    #[schema(pattern = r"^[ !#-\[\]-~]*$")]
    pub scope: Option<String>,
    /// The audiences (APIs) they may have client_credentials tokens for;
    /// none: no client_credentials at all.
    #[serde(default)]
    #[schema(schema_with = audience_list)]
    pub audience: Vec<String>,
}

/// A new initial access token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationToken {
    /// Send as `Authorization: Bearer` to `/register`. Shown only here.
    pub initial_access_token: String,
    pub expires_at: Option<i64>,
    pub uses: Option<i64>,
    pub scope: String,
    pub audience: Vec<String>,
}

#[utoipa::path(post, path = "/registration-tokens", tag = "clients",
    request_body(content = Option<RegistrationTokenRequest>, description = "Optional: without a body, a token with no expiry, no use limit and no client_credentials rights"),
    responses((status = 201, body = RegistrationToken), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Makes an initial access token for dynamic client registration; the
/// clients it registers get, without a user, only what it names.
pub async fn create_registration_token(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminJson(request): AdminJson<RegistrationTokenRequest>,
) -> Result<Response, AdminError> {
    let request = service::clients::RegistrationToken {
        limit: ServiceLimit {
            scopes: Scopes::parse(request.scope.as_deref().unwrap_or_default())
                .map_err(|e| AdminError::invalid("scope", e))?,
            audiences: request.audience,
        },
        uses: request.uses,
        expires_in: request.expires_in,
    };
    let operator = admin.operator(&app);
    let (token, expires_at) =
        service::clients::issue_registration_token(&operator, &request, crate::unix_now()).await?;
    let limit = request.limit;
    let body = RegistrationToken {
        initial_access_token: token.expose().to_owned(),
        expires_at,
        uses: request.uses,
        scope: limit.scopes.to_string(),
        audience: limit.audiences,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
