//! `/groups`: named sets of users and service clients; they become the
//! `groups` claim.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use super::{AdminJson, AdminPath};
use crate::service;
use crate::state::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    /// Users in it.
    pub members: i64,
    /// Its members sign in with a second factor.
    pub require_mfa: bool,
    pub created_at: i64,
}

#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Lists every group with its member count.
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
) -> Result<Json<Vec<GroupView>>, AdminError> {
    let groups = service::groups::list(&app.db).await?;
    Ok(Json(
        groups
            .into_iter()
            .map(|g| GroupView {
                name: g.name,
                members: g.members,
                require_mfa: g.require_mfa,
                created_at: g.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1 to 64 letters, digits and `. _ - :`.
    #[schema(pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    pub name: String,
}

#[utoipa::path(post, path = "/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, body = GroupDetail), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Creates a group.
pub async fn create(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminJson(new): AdminJson<NewGroup>,
) -> Result<Response, AdminError> {
    service::groups::create(&admin.operator(&app), &new.name, crate::unix_now()).await?;
    let body = GroupDetail {
        name: new.name,
        users: Vec::new(),
        clients: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub id: Uuid,
    pub username: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDetail {
    pub name: String,
    pub users: Vec<Member>,
    /// Service clients in it.
    pub clients: Vec<String>,
}

#[utoipa::path(get, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    responses((status = 200, body = GroupDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Shows a group's users and clients.
pub async fn show(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(name): AdminPath<String>,
) -> Result<Json<GroupDetail>, AdminError> {
    let members = service::groups::members(&app.db, &name).await?;
    Ok(Json(GroupDetail {
        users: members
            .users
            .into_iter()
            .map(|(id, username)| Member { id, username })
            .collect(),
        clients: members.clients,
        name,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    /// Its members sign in with a second factor (those without one set one
    /// up at their next sign-in).
    pub require_mfa: bool,
}

#[utoipa::path(patch, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    request_body = GroupPatch,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Changes a group: whether its members must sign in with a second factor.
pub async fn update(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(name): AdminPath<String>,
    AdminJson(patch): AdminJson<GroupPatch>,
) -> Result<StatusCode, AdminError> {
    let op = admin.operator(&app);
    service::groups::set_require_mfa(&op, &name, patch.require_mfa, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Deletes a group; its memberships go with it. The admin group is
/// refused (409): deleting it here would lock every admin out.
pub async fn delete(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(name): AdminPath<String>,
) -> Result<StatusCode, AdminError> {
    service::groups::delete(&admin.operator(&app), &name, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
