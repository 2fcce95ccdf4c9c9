//! Consents: what a user allowed a client — OpenID Connect scopes, and per
//! API the scopes shown for it — remembered until revoked.

use std::collections::BTreeMap;

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};
use crate::types::Scopes;

#[derive(Debug, Clone, FromRow)]
pub struct Consent {
    pub client_id: String,
    /// OpenID Connect scopes (`offline_access` included).
    pub scopes: Json<Scopes>,
    /// Per API (audience), the scopes allowed there.
    pub resources: Json<BTreeMap<String, Scopes>>,
    pub granted_at: i64,
}

const GET: &str = "SELECT client_id, scopes, resources, granted_at FROM consents \
     WHERE user_id = $1 AND client_id = $2";

pub async fn get(db: &Db, user_id: Uuid, client_id: &str) -> Result<Option<Consent>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(GET).bind(user_id).bind(client_id).fetch_optional(p).await)
}

const UPSERT: &str = "INSERT INTO consents (user_id, client_id, scopes, resources, granted_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
     resources = excluded.resources, granted_at = excluded.granted_at";

/// Stores what the user now allows the client (the whole of it).
pub async fn grant(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
    (scopes, resources): &(Scopes, BTreeMap<String, Scopes>),
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(UPSERT).bind(user_id).bind(client_id).bind(Json(scopes))
        .bind(Json(resources)).bind(now)
        .execute(p).await.map(drop))
}

const OF_USER: &str = "SELECT client_id, scopes, resources, granted_at FROM consents \
     WHERE user_id = $1 ORDER BY granted_at DESC";

pub async fn of_user(db: &Db, user_id: Uuid) -> Result<Vec<Consent>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(OF_USER).bind(user_id).fetch_all(p).await)
}

const REVOKE: &str = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";

pub async fn revoke(db: &Db, user_id: Uuid, client_id: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(REVOKE).bind(user_id).bind(client_id).execute(p).await.map(|r| r.rows_affected() == 1))
}
