//! Audit events: written once, read newest first in pages, purged after the
//! retention period.

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AuditRow {
    pub id: Uuid,
    pub at: i64,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: Option<String>,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Json<Value>,
}

const INSERT: &str = "INSERT INTO audit_events \
     (id, at, type, actor, user_id, client_id, ip, user_agent, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub async fn insert(db: &Db, row: &AuditRow) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(row.id).bind(row.at).bind(&row.kind).bind(&row.actor).bind(row.user_id)
        .bind(&row.client_id).bind(&row.ip).bind(&row.user_agent).bind(&row.detail)
        .execute(p).await.map(drop))
}

/// Which events to list; every field narrows.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// At or after (Unix seconds).
    pub since: Option<i64>,
    /// Before (Unix seconds).
    pub until: Option<i64>,
    pub kind: Option<String>,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    /// Older than this event (the cursor of the previous page).
    pub before_id: Option<Uuid>,
}

const LIST: &str = "SELECT id, at, type, actor, user_id, client_id, ip, user_agent, detail \
     FROM audit_events \
     WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2) \
     AND ($3 IS NULL OR type = $3) AND ($4 IS NULL OR user_id = $4) \
     AND ($5 IS NULL OR client_id = $5) AND ($6 IS NULL OR id < $6) \
     ORDER BY id DESC LIMIT $7";

/// Up to `limit` events matching `filter`, newest first.
pub async fn list(db: &Db, filter: &Filter, limit: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(LIST)
        .bind(filter.since).bind(filter.until).bind(&filter.kind).bind(filter.user_id)
        .bind(&filter.client_id).bind(filter.before_id).bind(limit)
        .fetch_all(p).await)
}

const PURGE: &str = "DELETE FROM audit_events WHERE at < $1";

/// Deletes the events recorded before `before`.
pub async fn purge(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
