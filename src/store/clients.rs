//! Registered clients (RFC 6749 §2). Lists are stored as JSON arrays.

use serde::{Deserialize, Serialize, Serializer};
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};
use crate::types::{
    ApplicationType, AuthMethod, ClientOrigin, ClientType, GrantType, Scopes, TokenFormat,
};

/// A client as monban knows it. Serialises with RFC 7591 field names where
/// one exists; the secret's hash is never serialised.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    #[serde(skip)]
    pub id: Uuid,
    pub client_id: String,
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
    #[serde(rename = "client_name")]
    pub name: String,
    pub client_type: ClientType,
    pub application_type: ApplicationType,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    #[serde(rename = "scope", serialize_with = "space_separated")]
    pub scopes: Scopes,
    #[serde(rename = "audience")]
    pub audiences: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    /// `None`: the server default, looked up when a token is issued.
    pub access_token_format: Option<TokenFormat>,
    /// The public keys of a `private_key_jwt` client: a JWK Set, or where to
    /// fetch one (RFC 7591 §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 9126 §5: authorization requests must be pushed.
    pub require_pushed_authorization_requests: bool,
    /// Its users sign in with a second factor (an operator's setting).
    pub require_mfa: bool,
    /// OIDC Back-Channel Logout §2.2: where logout tokens are POSTed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// RFC 7592: the hash of the token that manages a client registered
    /// through the registration endpoint.
    #[serde(skip)]
    pub registration_token_hash: Option<Vec<u8>>,
    /// Groups of a service client, carried by its client_credentials tokens
    /// (changed with `monban client group add|remove`, not by `update`).
    pub groups: Vec<String>,
    /// Who made it: an operator, or dynamic registration.
    pub origin: ClientOrigin,
    /// The most its client_credentials tokens may carry (a registered
    /// client's: what its initial access token granted); `None`: no limit
    /// beyond its scopes and audiences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_limit: Option<ServiceLimit>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Scopes and audiences a client may have without a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLimit {
    pub scopes: Scopes,
    pub audiences: Vec<String>,
}

fn space_separated<S: Serializer>(scopes: &Scopes, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(scopes)
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    name: String,
    client_type: String,
    application_type: String,
    first_party: bool,
    redirect_uris: Json<Vec<String>>,
    post_logout_redirect_uris: Json<Vec<String>>,
    grant_types: Json<Vec<GrantType>>,
    scopes: Json<Scopes>,
    audiences: Json<Vec<String>>,
    token_endpoint_auth_method: String,
    access_token_format: Option<String>,
    jwks: Option<Json<serde_json::Value>>,
    jwks_uri: Option<String>,
    require_pushed_authorization_requests: bool,
    require_mfa: bool,
    backchannel_logout_uri: Option<String>,
    registration_token_hash: Option<Vec<u8>>,
    origin: String,
    service_limit: Option<Json<ServiceLimit>>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Client {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> Result<Client, sqlx::Error> {
        let decode = |e: String| sqlx::Error::Decode(e.into());
        Ok(Client {
            id: row.id,
            client_id: row.client_id,
            secret_hash: row.secret_hash,
            name: row.name,
            client_type: row.client_type.parse().map_err(decode)?,
            application_type: row.application_type.parse().map_err(decode)?,
            first_party: row.first_party,
            redirect_uris: row.redirect_uris.0,
            post_logout_redirect_uris: row.post_logout_redirect_uris.0,
            grant_types: row.grant_types.0,
            scopes: row.scopes.0,
            audiences: row.audiences.0,
            token_endpoint_auth_method: row.token_endpoint_auth_method.parse().map_err(decode)?,
            access_token_format: row
                .access_token_format
                .map(|f| f.parse())
                .transpose()
                .map_err(decode)?,
            jwks: row.jwks.map(|j| j.0),
            jwks_uri: row.jwks_uri,
            require_pushed_authorization_requests: row.require_pushed_authorization_requests,
            require_mfa: row.require_mfa,
            backchannel_logout_uri: row.backchannel_logout_uri,
            registration_token_hash: row.registration_token_hash,
            groups: Vec::new(),
            origin: row.origin.parse().map_err(decode)?,
            service_limit: row.service_limit.map(|l| l.0),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

macro_rules! client_columns {
    () => {
        "id, client_id, secret_hash, name, client_type, first_party, redirect_uris, \
         post_logout_redirect_uris, grant_types, scopes, audiences, token_endpoint_auth_method, \
         access_token_format, jwks, jwks_uri, require_pushed_authorization_requests, \
         backchannel_logout_uri, registration_token_hash, created_at, updated_at, application_type, \
         origin, service_limit, require_mfa"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO clients (",
    client_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
);

pub async fn insert(db: &Db, c: &Client) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(c.id).bind(&c.client_id).bind(&c.secret_hash).bind(&c.name)
        .bind(c.client_type.as_str()).bind(c.first_party)
        .bind(Json(&c.redirect_uris)).bind(Json(&c.post_logout_redirect_uris))
        .bind(Json(&c.grant_types)).bind(Json(&c.scopes)).bind(Json(&c.audiences))
        .bind(c.token_endpoint_auth_method.as_str())
        .bind(c.access_token_format.map(TokenFormat::as_str))
        .bind(c.jwks.as_ref().map(Json)).bind(&c.jwks_uri)
        .bind(c.require_pushed_authorization_requests).bind(&c.backchannel_logout_uri)
        .bind(&c.registration_token_hash)
        .bind(c.created_at).bind(c.updated_at).bind(c.application_type.as_str())
        .bind(c.origin.as_str()).bind(c.service_limit.as_ref().map(Json))
        .bind(c.require_mfa)
        .execute(p).await.map(drop))
}

const UPDATE: &str = "UPDATE clients SET secret_hash = $2, name = $3, client_type = $4, \
     first_party = $5, redirect_uris = $6, post_logout_redirect_uris = $7, grant_types = $8, \
     scopes = $9, audiences = $10, token_endpoint_auth_method = $11, access_token_format = $12, \
     jwks = $13, jwks_uri = $14, require_pushed_authorization_requests = $15, \
     backchannel_logout_uri = $16, updated_at = $17, \
     application_type = $18, require_mfa = $19 WHERE client_id = $1";

/// Writes every setting of `c` (found by `client_id`); false if it is gone.
/// The registration access token is not a setting: it changes only
/// through `swap_registration_token`.
pub async fn update(db: &Db, c: &Client) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(UPDATE)
        .bind(&c.client_id).bind(&c.secret_hash).bind(&c.name)
        .bind(c.client_type.as_str()).bind(c.first_party)
        .bind(Json(&c.redirect_uris)).bind(Json(&c.post_logout_redirect_uris))
        .bind(Json(&c.grant_types)).bind(Json(&c.scopes)).bind(Json(&c.audiences))
        .bind(c.token_endpoint_auth_method.as_str())
        .bind(c.access_token_format.map(TokenFormat::as_str))
        .bind(c.jwks.as_ref().map(Json)).bind(&c.jwks_uri)
        .bind(c.require_pushed_authorization_requests).bind(&c.backchannel_logout_uri)
        .bind(c.updated_at).bind(c.application_type.as_str()).bind(c.require_mfa)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const SWAP_REGISTRATION_TOKEN: &str = "UPDATE clients SET registration_token_hash = $3 \
     WHERE client_id = $1 AND registration_token_hash = $2";

/// Replaces the client's registration access token `presented` (a hash)
/// by `new`, in one statement: of requests presenting the same token at
/// once, one wins and the others find it gone. False if it was not the
/// client's token (any more).
pub async fn swap_registration_token(
    db: &Db,
    client_id: &str,
    presented: &[u8],
    new: &[u8],
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(SWAP_REGISTRATION_TOKEN).bind(client_id).bind(presented).bind(new)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const SET_SERVICE_LIMIT: &str = "UPDATE clients SET service_limit = $2, updated_at = $3 \
     WHERE client_id = $1 AND service_limit IS NOT NULL";

/// Changes what a client that registered itself may get without a user
/// (a statement of its own: no other update writes it back); false if it
/// is gone or has no limit.
pub async fn set_service_limit(
    db: &Db,
    client_id: &str,
    limit: &ServiceLimit,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(SET_SERVICE_LIMIT).bind(client_id).bind(Json(limit)).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const FIND: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients WHERE client_id = $1"
);

/// A client with its groups.
pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, sqlx::Error> {
    let row: Option<Row> =
        on_db!(db, p => sqlx::query_as(FIND).bind(client_id).fetch_optional(p).await)?;
    let Some(mut client) = row.map(Client::try_from).transpose()? else {
        return Ok(None);
    };
    client.groups = super::groups::of_client(db, client_id).await?;
    Ok(Some(client))
}

const LIST: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients ORDER BY name, client_id"
);

/// Every client with its groups (one query per client: for the CLI).
pub async fn list(db: &Db) -> Result<Vec<Client>, sqlx::Error> {
    let rows: Vec<Row> = on_db!(db, p => sqlx::query_as(LIST).fetch_all(p).await)?;
    with_groups(db, rows).await
}

const PAGE: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients WHERE ($1 IS NULL OR client_id > $1) ORDER BY client_id LIMIT $2"
);

/// Up to `limit` clients after `after`, in client_id order, with groups.
pub async fn page(db: &Db, after: Option<&str>, limit: i64) -> Result<Vec<Client>, sqlx::Error> {
    let rows: Vec<Row> =
        on_db!(db, p => sqlx::query_as(PAGE).bind(after).bind(limit).fetch_all(p).await)?;
    with_groups(db, rows).await
}

/// Clients from rows, each with its groups (a query per client: lists are
/// for operators, not hot paths).
async fn with_groups(db: &Db, rows: Vec<Row>) -> Result<Vec<Client>, sqlx::Error> {
    let mut clients = rows
        .into_iter()
        .map(Client::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    for client in &mut clients {
        client.groups = super::groups::of_client(db, &client.client_id).await?;
    }
    Ok(clients)
}

const DELETE: &str = "DELETE FROM clients WHERE client_id = $1";

/// Deletes a client; its opaque and refresh tokens go with it (cascade).
pub async fn delete(db: &Db, client_id: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(client_id).execute(p).await.map(|r| r.rows_affected() == 1))
}
