//! `/users`: people who log in — create, list and search, show, update,
//! disable, delete, reset the password, and their groups.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use super::{AdminJson, AdminPath};
use crate::paging::{Page, PageQuery};
use crate::service;
use crate::state::App;
use crate::store::{self, users::User};
use crate::types::Secret;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView {
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of the username or email (any case).
    #[param(max_length = 254)]
    pub q: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    #[param(pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$")]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/users", tag = "users", params(UserSearch),
    responses((status = 200, body = Page<UserView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Lists users in username order, a page at a time.
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<UserSearch>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<UserView>>, AdminError> {
    let Query(search) = query?;
    let paging = PageQuery {
        limit: search.limit,
        cursor: search.cursor,
    };
    let page = service::users::search(&app.db, search.q.as_deref(), &paging).await?;
    Ok(Json(page.map(UserView::from)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 of a-z (any case: kept lower-case), 0-9 and `. _ - @ +`.
    #[schema(pattern = r"^[A-Za-z0-9._@+-]{1,64}$")]
    pub username: String,
    #[schema(
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$",
        max_length = 254
    )]
    pub email: Option<String>,
    #[schema(pattern = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]{1,200}$")]
    pub name: Option<String>,
    /// At least 12 characters; without it, one is generated and returned
    /// once.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// Groups to put the user in (they must exist).
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserView,
    pub groups: Vec<String>,
    /// The generated password, shown only in this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Creates a user.
pub async fn create(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminJson(new): AdminJson<NewUser>,
) -> Result<Response, AdminError> {
    let draft = service::users::NewUser {
        username: &new.username,
        email: new.email.as_deref(),
        name: new.name.as_deref(),
        password: new.password.map(Secret::new),
        groups: &new.groups,
    };
    let operator = admin.operator(&app);
    let created =
        service::users::create(&operator, &app.passwords, draft, crate::unix_now()).await?;
    let body = CreatedUser {
        groups: created.groups,
        user: created.user.into(),
        password: created.password.map(|p| p.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub groups: Vec<String>,
    /// Failed logins in the current window, and until when the username
    /// must wait (Unix seconds) if it reached the limit.
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    /// The second factors set up (`totp`).
    pub factors: Vec<String>,
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Shows a user, with groups and lockout state.
pub async fn show(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<UserDetail>, AdminError> {
    let user = find(&app, id).await?;
    Ok(Json(detail(&app, user).await?))
}

async fn detail(app: &App, user: User) -> Result<UserDetail, AdminError> {
    let factors = mfa_of(app, user.id).await?.factors;
    let detail = service::users::detail(&app.db, user, crate::unix_now()).await?;
    Ok(UserDetail {
        user: detail.user.into(),
        groups: detail.groups,
        failed_logins: detail.failed_logins,
        locked_until: detail.locked_until,
        factors,
    })
}

/// A user's second factors, as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaView {
    /// `totp`: an authenticator app.
    pub factors: Vec<String>,
    /// When the authenticator app was set up and last used (Unix seconds).
    pub totp_confirmed_at: Option<i64>,
    pub totp_last_used_at: Option<i64>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl From<service::mfa::Factors> for MfaView {
    fn from(f: service::mfa::Factors) -> MfaView {
        MfaView {
            factors: f.names().into_iter().map(str::to_owned).collect(),
            totp_confirmed_at: f.totp_confirmed_at,
            totp_last_used_at: f.totp_last_used_at,
            recovery_codes_left: f.recovery_codes_left,
        }
    }
}

async fn mfa_of(app: &App, id: Uuid) -> Result<MfaView, AdminError> {
    Ok(service::mfa::factors(&app.db, id).await?.into())
}

#[utoipa::path(get, path = "/users/{id}/mfa", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = MfaView), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// The second factors a user has set up.
pub async fn mfa(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<MfaView>, AdminError> {
    find(&app, id).await?;
    Ok(Json(mfa_of(&app, id).await?))
}

#[utoipa::path(post, path = "/users/{id}/mfa/reset", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = MfaView), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Removes every second factor and recovery code of a user (who lost
/// them) and ends their sessions; where a factor is required, they set one
/// up at their next sign-in.
pub async fn reset_mfa(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<MfaView>, AdminError> {
    let user = find(&app, id).await?;
    let factors = service::mfa::reset(&admin.operator(&app), &user, crate::unix_now()).await?;
    Ok(Json(factors.into()))
}

/// `Some(None)` when a field is given as `null` (clear it), `None` when it
/// is left out (keep it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*$", max_length = 254)]
    pub email: Option<Option<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]{1,200}$")]
    pub name: Option<Option<String>>,
    /// `true` signs the user out everywhere and revokes their tokens.
    pub disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    request_body(content = Option<UserPatch>, description = "Optional: without a body, nothing changes"),
    responses((status = 200, body = UserDetail), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Changes a user's email, name, or whether they may log in.
pub async fn update(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
    AdminJson(patch): AdminJson<UserPatch>,
) -> Result<Json<UserDetail>, AdminError> {
    let now = crate::unix_now();
    let user = find(&app, id).await?;
    let operator = admin.operator(&app);
    let email = patch.email.as_ref().map(Option::as_deref);
    let name = patch.name.as_ref().map(Option::as_deref);
    if patch.disabled == Some(true) {
        // Refused before anything changes.
        operator.not_yourself(user.id, "disable")?;
    }
    service::users::update_profile(&operator, &user, email, name, now).await?;
    if let Some(disabled) = patch.disabled {
        service::users::set_disabled(&operator, &user, disabled, now).await?;
    }
    let user = find(&app, id).await?;
    Ok(Json(detail(&app, user).await?))
}

#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Deletes a user with their sessions, memberships, consents and tokens.
pub async fn delete(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<StatusCode, AdminError> {
    let user = find(&app, id).await?;
    service::users::delete(&admin.operator(&app), &user, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password (at least 12 characters); without it, one is
    /// generated and returned once.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetDone {
    /// The generated password, shown only in this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// SSO sessions ended (all of the user's).
    pub sessions_ended: usize,
}

#[utoipa::path(post, path = "/users/{id}/password", tag = "users", params(("id" = Uuid, Path)),
    request_body(content = Option<PasswordReset>, description = "Optional: without a body, a password is generated"),
    responses((status = 200, body = PasswordResetDone), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Resets a user's password, signs them out everywhere and revokes every
/// token of theirs (`offline_access` too); clears a lockout.
pub async fn reset_password(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
    AdminJson(reset): AdminJson<PasswordReset>,
) -> Result<Json<PasswordResetDone>, AdminError> {
    let user = find(&app, id).await?;
    let password = reset.password.map(Secret::new);
    let operator = admin.operator(&app);
    let set = service::users::set_password(
        &operator,
        &app.passwords,
        &user,
        password,
        crate::unix_now(),
    )
    .await?;
    Ok(Json(PasswordResetDone {
        password: set.generated.map(|p| p.expose().to_owned()),
        sessions_ended: set.sessions_ended,
    }))
}

#[utoipa::path(get, path = "/users/{id}/groups", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// The groups a user is in.
pub async fn groups(
    _admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath(id): AdminPath<Uuid>,
) -> Result<Json<Vec<String>>, AdminError> {
    find(&app, id).await?;
    Ok(Json(store::groups::of_user(&app.db, id).await?))
}

#[utoipa::path(put, path = "/users/{id}/groups/{group}", tag = "users",
    params(("id" = Uuid, Path), ("group" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Puts a user in a group (no change if already in it).
pub async fn join(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath((id, group)): AdminPath<(Uuid, String)>,
) -> Result<StatusCode, AdminError> {
    let user = find(&app, id).await?;
    service::users::join(&admin.operator(&app), &user, &group, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/users/{id}/groups/{group}", tag = "users",
    params(("id" = Uuid, Path), ("group" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Takes a user out of a group (no change if not in it).
pub async fn leave(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminPath((id, group)): AdminPath<(Uuid, String)>,
) -> Result<StatusCode, AdminError> {
    let user = find(&app, id).await?;
    service::users::leave(&admin.operator(&app), &user, &group, crate::unix_now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn find(app: &App, id: Uuid) -> Result<User, AdminError> {
    Ok(service::users::find(&app.db, id).await?)
}
