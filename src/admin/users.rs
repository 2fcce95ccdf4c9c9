//! `/users`: people who log in — create, list and search, show, update,
//! disable, delete, reset the password, and their groups.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use super::paging::{Page, PageQuery};
use super::{AdminJson, AdminPath};
use crate::accounts;
use crate::audit::{self, Kind};
use crate::password;
use crate::service;
use crate::state::App;
use crate::store::groups::Membership;
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
    let limit = paging.limit()?;
    if search.q.as_ref().is_some_and(|q| q.chars().count() > 254) {
        return Err(AdminError::invalid("q", "at most 254 characters"));
    }
    let q = search.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let rows = store::users::page(&app.db, q, paging.after()?.as_deref(), limit + 1).await?;
    Ok(Json(
        Page::of(rows, limit, |u| u.username.clone()).map(UserView::from),
    ))
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
    let now = crate::unix_now();
    let username =
        accounts::username(&new.username).map_err(|e| AdminError::invalid("username", e))?;
    let email = new
        .email
        .as_deref()
        .map(accounts::email)
        .transpose()
        .map_err(|e| AdminError::invalid("email", e))?;
    let name = new
        .name
        .as_deref()
        .map(accounts::display_name)
        .transpose()
        .map_err(|e| AdminError::invalid("name", e))?;
    let (password, generated) = match new.password {
        Some(p) => {
            password::check_policy(&p).map_err(|e| AdminError::invalid("password", e))?;
            (Secret::new(p), false)
        }
        None => (password::generate(), true),
    };
    super::groups_exist(&app, &new.groups).await?;
    let hash = app
        .passwords
        .hash(&password)
        .await
        .map_err(|e| AdminError::server(&e))?;
    let draft = store::users::NewUser {
        username: &username,
        email: email.as_deref(),
        name: name.as_deref(),
        password_hash: &hash,
    };
    let user = store::users::insert(&app.db, &draft, now)
        .await
        .map_err(|e| taken(e, "a user with that username or email already exists"))?;
    let detail = json!({"username": user.username});
    audit::record(
        &app.db,
        admin.event(Kind::UserCreated).user(user.id).detail(detail),
        now,
    )
    .await;
    for group in &new.groups {
        if store::groups::add_member(&app.db, user.id, group).await? == Membership::Changed {
            let event = admin.event(Kind::GroupMemberAdded).user(user.id);
            audit::record(&app.db, event.detail(json!({"group": group})), now).await;
        }
    }
    let body = CreatedUser {
        groups: store::groups::of_user(&app.db, user.id).await?,
        user: user.into(),
        password: generated.then(|| password.expose().to_owned()),
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
    let now = crate::unix_now();
    let subject = crate::authn::username_subject(&user.username);
    let since = now - crate::authn::ACCOUNT_WINDOW;
    let [(failures, start), _] =
        store::throttle::failures(&app.db, (&subject, since), ("", now)).await?;
    let locked_until = (failures >= crate::authn::ACCOUNT_MAX_FAILURES)
        .then_some(start + crate::authn::ACCOUNT_WINDOW);
    Ok(UserDetail {
        groups: store::groups::of_user(&app.db, user.id).await?,
        user: user.into(),
        failed_logins: failures,
        locked_until,
    })
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
    let email = match patch.email {
        None => user.email.clone(),
        Some(None) => None,
        Some(Some(raw)) => {
            Some(accounts::email(&raw).map_err(|e| AdminError::invalid("email", e))?)
        }
    };
    let name = match patch.name {
        None => user.name.clone(),
        Some(None) => None,
        Some(Some(raw)) => {
            Some(accounts::display_name(&raw).map_err(|e| AdminError::invalid("name", e))?)
        }
    };
    if email != user.email || name != user.name {
        store::users::update_profile(&app.db, &user, email.as_deref(), name.as_deref(), now)
            .await
            .map_err(|e| taken(e, "another user has that email"))?;
        let detail = json!({"email": email, "name": name});
        audit::record(
            &app.db,
            admin.event(Kind::UserUpdated).user(id).detail(detail),
            now,
        )
        .await;
    }
    if patch.disabled == Some(true) {
        not_yourself(&admin, id, "disable")?;
    }
    if let Some(disabled) = patch.disabled.filter(|d| *d != user.disabled) {
        service::users::set_disabled(&admin.operator(&app), &user, disabled, now).await?;
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
    let now = crate::unix_now();
    not_yourself(&admin, id, "delete")?;
    let user = find(&app, id).await?;
    service::users::delete(&admin.operator(&app), &user, now).await?;
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
    let now = crate::unix_now();
    let user = find(&app, id).await?;
    let (password, generated) = match reset.password {
        Some(p) => {
            password::check_policy(&p).map_err(|e| AdminError::invalid("password", e))?;
            (Secret::new(p), false)
        }
        None => (password::generate(), true),
    };
    let hash = app
        .passwords
        .hash(&password)
        .await
        .map_err(|e| AdminError::server(&e))?;
    let sessions_ended =
        service::users::set_password(&admin.operator(&app), &user, &hash, now).await?;
    Ok(Json(PasswordResetDone {
        password: generated.then(|| password.expose().to_owned()),
        sessions_ended,
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
    find(&app, id).await?;
    let result = store::groups::add_member(&app.db, id, &group).await?;
    membership_changed(&app, &admin, id, &group, result, Kind::GroupMemberAdded).await
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
    find(&app, id).await?;
    if group == crate::admin::auth::ADMIN_GROUP {
        not_yourself(&admin, id, "take out of the admin group")?;
    }
    let result = store::groups::remove_member(&app.db, id, &group).await?;
    membership_changed(&app, &admin, id, &group, result, Kind::GroupMemberRemoved).await
}

/// An admin cannot lock themselves out (and so perhaps everyone): another
/// admin must do it.
fn not_yourself(admin: &Admin, id: Uuid, what: &str) -> Result<(), AdminError> {
    if admin.actor == crate::audit::Actor::User(id) {
        return Err(AdminError::Conflict(format!(
            "you cannot {what} yourself; another admin can"
        )));
    }
    Ok(())
}

/// Answers a membership change (404 for a group that does not exist) and
/// audits it when something changed.
async fn membership_changed(
    app: &App,
    admin: &Admin,
    id: Uuid,
    group: &str,
    result: Membership,
    kind: Kind,
) -> Result<StatusCode, AdminError> {
    match result {
        Membership::NoSuchGroup => Err(AdminError::not_found(format!("group {group:?}"))),
        Membership::Changed => {
            let event = admin.event(kind).user(id).detail(json!({"group": group}));
            audit::record(&app.db, event, crate::unix_now()).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Membership::Unchanged => Ok(StatusCode::NO_CONTENT),
    }
}

pub async fn find(app: &App, id: Uuid) -> Result<User, AdminError> {
    store::users::find_by_id(&app.db, id)
        .await?
        .ok_or_else(|| AdminError::not_found("user"))
}

/// A unique violation is a conflict; anything else a server error.
fn taken(e: sqlx::Error, message: &str) -> AdminError {
    if store::is_unique_violation(&e) {
        AdminError::Conflict(message.to_owned())
    } else {
        e.into()
    }
}
