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
use super::paging::{Page, PageQuery};
use crate::audit::Kind;
use crate::state::App;
use crate::store::audit::{self as store, AuditRow, Filter};

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

/// A time in Unix seconds (not before 1970), named when it is not one.
fn unix_time(field: &str, raw: Option<&str>) -> Result<Option<i64>, AdminError> {
    match parsed::<i64>(field, raw)? {
        Some(t) if t < 0 => Err(AdminError::invalid(
            field,
            format!("{field} must be a Unix time from 0"),
        )),
        t => Ok(t),
    }
}

/// A query parameter that must parse, named when it does not.
fn parsed<T: std::str::FromStr>(field: &str, raw: Option<&str>) -> Result<Option<T>, AdminError> {
    raw.map(|v| {
        v.parse()
            .map_err(|_| AdminError::invalid(field, format!("{field} is not valid: {v:?}")))
    })
    .transpose()
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
    if let Some(client_id) = &query.client_id
        && !crate::clients::is_client_id(client_id)
    {
        return Err(AdminError::invalid(
            "client_id",
            "1 to 128 characters of letters, digits and . _ ~ : -",
        ));
    }
    if let Some(kind) = &query.kind
        && Kind::parse(kind).is_none()
    {
        return Err(AdminError::invalid(
            "type",
            format!("{kind:?} is not an event type"),
        ));
    }
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = paging.limit()?;
    let before_id = paging
        .after_bytes()?
        .map(|id| Uuid::from_slice(&id))
        .transpose()
        .map_err(|_| AdminError::invalid("cursor", "not a cursor of this API"))?;
    let filter = Filter {
        since: unix_time("since", query.since.as_deref())?,
        until: unix_time("until", query.until.as_deref())?,
        user_id: parsed("user_id", query.user_id.as_deref())?,
        kind: query.kind,
        client_id: query.client_id,
        before_id,
    };
    let rows = store::list(&app.db, &filter, limit + 1).await?;
    let page = Page::of(rows, limit, |row| *row.id.as_bytes());
    Ok(Json(page.map(AuditEventView::from)))
}
