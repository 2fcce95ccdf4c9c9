//! A user's SSO sessions and consents: list them, end or revoke them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AdminPath;
use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use super::users::find;
use crate::state::App;
use crate::{service, store};

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session's public id (the `sid` claim).
    pub sid: String,
    /// When the user logged in (Unix seconds).
    pub auth_time: Option<i64>,
    /// When it ends if unused, and at the latest.
    pub expires_at: i64,
    pub ends_at: Option<i64>,
    /// Apps it signed in to.
    pub clients: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[utoipa::path(get, path = "/users/{id}/sessions", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<SessionView>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// A user's SSO sessions that have not expired.
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<Vec<SessionView>>, AdminError> {
    find(&app, id).await?;
    let sessions = service::sessions::of_user(&app.db, id, crate::unix_now()).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| {
                let login = s.login;
                SessionView {
                    sid: s.sid,
                    auth_time: login.as_ref().map(|l| l.auth_time),
                    expires_at: s.expires_at,
                    ends_at: login.as_ref().map(|l| l.ends_at),
                    clients: login
                        .as_ref()
                        .map(|l| l.clients.clone())
                        .unwrap_or_default(),
                    ip: login.as_ref().and_then(|l| l.ip.clone()),
                    user_agent: login.and_then(|l| l.user_agent),
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    pub sessions_ended: usize,
}

#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Ended), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Ends every SSO session of a user (apps with back-channel logout are told).
pub async fn end_all(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<Ended>, AdminError> {
    find(&app, id).await?;
    let operator = admin.operator(&app);
    let sessions_ended = service::sessions::end_all(&operator, id, crate::unix_now()).await?;
    Ok(Json(Ended { sessions_ended }))
}

#[utoipa::path(delete, path = "/users/{id}/sessions/{sid}", tag = "sessions",
    params(("id" = Uuid, Path), ("sid" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Ends one SSO session of a user.
pub async fn end_one(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath((id, sid)): AdminPath<(Uuid, String)>,
) -> Result<StatusCode, AdminError> {
    find(&app, id).await?;
    let operator = admin.operator(&app);
    service::sessions::end_one(&operator, id, &sid, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub client_id: String,
    /// OpenID Connect scopes allowed (who the user is).
    #[schema(value_type = Vec<String>)]
    pub scopes: crate::types::Scopes,
    /// Per API (its identifier), the scopes allowed there.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub resources: std::collections::BTreeMap<String, crate::types::Scopes>,
    pub granted_at: i64,
}

#[utoipa::path(get, path = "/users/{id}/consents", tag = "consents", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ConsentView>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// The apps a user has allowed, and the scopes.
pub async fn consents(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<Vec<ConsentView>>, AdminError> {
    find(&app, id).await?;
    let consents = store::consents::of_user(&app.db, id).await?;
    Ok(Json(
        consents
            .into_iter()
            .map(|c| ConsentView {
                client_id: c.client_id,
                scopes: c.scopes.0,
                resources: c.resources.0,
                granted_at: c.granted_at,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/users/{id}/consents/{client_id}", tag = "consents",
    params(("id" = Uuid, Path), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Revokes a consent and the tokens the app holds for the user.
pub async fn revoke_consent(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath((id, client_id)): AdminPath<(Uuid, String)>,
) -> Result<StatusCode, AdminError> {
    find(&app, id).await?;
    let operator = admin.operator(&app);
    service::consents::revoke(&operator, id, &client_id, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
