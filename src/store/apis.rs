//! Registered resource servers (APIs, RFC 8707).

use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;

use super::{Db, on_db};
use crate::types::{Scopes, TokenFormat};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Api {
    /// The `resource` value (an absolute URI) and the tokens' `aud`.
    pub identifier: String,
    /// What users see on consent pages beside the identifier.
    pub name: Option<String>,
    /// The scopes it defines: what a token for it may carry.
    #[sqlx(json)]
    pub scopes: Scopes,
    /// `None`: the client's format, else the server default.
    #[sqlx(try_from = "Option<String>")]
    pub token_format: OptionalFormat,
    /// Seconds; `None`: `MONBAN_ACCESS_TOKEN_TTL`.
    #[serde(rename = "access_token_lifetime")]
    pub access_token_ttl: Option<i64>,
    pub created_at: i64,
}

/// A nullable `token_format` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OptionalFormat(pub Option<TokenFormat>);

impl TryFrom<Option<String>> for OptionalFormat {
    type Error = String;
    fn try_from(raw: Option<String>) -> Result<Self, String> {
        raw.map(|f| f.parse()).transpose().map(OptionalFormat)
    }
}

const INSERT: &str = "INSERT INTO apis (identifier, scopes, token_format, access_token_ttl, created_at, name) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Registers an API; a duplicate identifier is a unique violation.
pub async fn insert(db: &Db, api: &Api) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(&api.identifier).bind(Json(&api.scopes))
        .bind(api.token_format.0.map(TokenFormat::as_str))
        .bind(api.access_token_ttl).bind(api.created_at).bind(&api.name)
        .execute(p).await.map(drop))
}

const UPDATE: &str = "UPDATE apis SET scopes = $2, token_format = $3, access_token_ttl = $4, \
     name = $5 WHERE identifier = $1";

/// Changes an API's scopes, token format, lifetime and name.
pub async fn update(db: &Db, api: &Api) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(UPDATE)
        .bind(&api.identifier).bind(Json(&api.scopes))
        .bind(api.token_format.0.map(TokenFormat::as_str))
        .bind(api.access_token_ttl).bind(&api.name)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const ALL: &str = "SELECT identifier, name, scopes, token_format, access_token_ttl, created_at \
     FROM apis ORDER BY identifier";

pub async fn all(db: &Db) -> Result<Vec<Api>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(ALL).fetch_all(p).await)
}

const DELETE: &str = "DELETE FROM apis WHERE identifier = $1";

pub async fn delete(db: &Db, identifier: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(identifier).execute(p).await.map(|r| r.rows_affected() == 1))
}
