//! `/audit-events`: the audit log, newest first, filtered and paged.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use crate::audit::Kind;
use crate::paging::{Page, PageQuery};
use crate::service;
use crate::state::App;
use crate::store::audit::AuditRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    /// Unix seconds.
    pub at: i64,
    /// E.g. `login.failed`, `client.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `user:<id>`, `client:<client_id>`, `cli` or `system`; absent when
    /// nobody is known (a failed login).
    pub actor: Option<String>,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<AuditRow> for AuditEventView {
    fn from(row: AuditRow) -> AuditEventView {
        AuditEventView {
            id: row.id,
            at: row.at,
            kind: row.kind,
            actor: row.actor,
            user_id: row.user_id,
            client_id: row.client_id,
            ip: row.ip,
            user_agent: row.user_agent,
            detail: row.detail.0,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At or after (Unix seconds).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub since: Option<String>,
    /// Before (Unix seconds).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub until: Option<String>,
    /// An event type, e.g. `login.failed`.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = event_types)]
    pub kind: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub user_id: Option<String>,
    #[param(pattern = r"^[A-Za-z0-9._~:-]{1,128}$")]
    pub client_id: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{22}$")]
    pub cursor: Option<String>,
}

/// The event types, as the document lists them.
fn event_types() -> utoipa::openapi::Object {
    super::one_of(Kind::ALL.iter().map(|k| k.as_str()))
}

#[utoipa::path(get, path = "/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEventView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Audit events, newest first, filtered by time, type, user and client.
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<AuditEventView>>, AdminError> {
    let Query(query) = query?;
    let search = service::audit::Search {
        since: query.since.as_deref(),
        until: query.until.as_deref(),
        kind: query.kind.as_deref(),
        user_id: query.user_id.as_deref(),
        client_id: query.client_id.as_deref(),
    };
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = service::audit::search(&app.db, &search, &paging).await?;
    Ok(Json(page.map(AuditEventView::from)))
}
