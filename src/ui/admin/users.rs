//! `/admin/users` and `/admin/users/{id}`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use uuid::Uuid;

use super::{Frame, Page, Saved, Visit, enter, field, optional, query, with_status};
use crate::audit::Origin;
use crate::form::Params;
use crate::paging::PageQuery;
use crate::service::{self, Outcome, Refused};
use crate::state::App;
use crate::store::{self, users::User};
use crate::types::Secret;
use crate::ui::account::SignedInUser;
use crate::ui::{PageForm, render};

#[derive(Default)]
struct UserRow {
    id: String,
    username: String,
    email: String,
    name: String,
    disabled: bool,
    /// The second factors set up, for the list (`totp`).
    factors: String,
}

impl UserRow {
    fn of(user: User) -> UserRow {
        UserRow {
            id: user.id.to_string(),
            username: user.username,
            email: user.email.unwrap_or_default(),
            name: user.name.unwrap_or_default(),
            disabled: user.disabled,
            factors: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    q: String,
    users: Vec<UserRow>,
    next: Option<String>,
    /// The new-user form as typed when it was refused (never the password).
    typed: UserRow,
}

#[derive(Deserialize, Default)]
pub struct Listing {
    q: Option<String>,
    cursor: Option<String>,
    saved: Option<String>,
}

/// `GET /admin/users`: a page of users, searched.
pub async fn list(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(listing): Query<Listing>,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "users").await?;
    list_page(visit, listing, None, None).await
}

async fn list_page(
    mut visit: Visit,
    listing: Listing,
    typed: Option<UserRow>,
    refused: Option<Refused>,
) -> Page {
    visit.frame.saved = listing.saved.is_some();
    let q = listing.q.unwrap_or_default();
    let paging = PageQuery {
        limit: None,
        cursor: listing.cursor.filter(|c| !c.is_empty()),
    };
    let (users, next) = match service::users::search(&visit.app.db, Some(&q), &paging).await {
        Ok(page) => (page.items, page.next_cursor),
        Err(refused) => {
            visit.show_refusal(refused)?;
            (Vec::new(), None)
        }
    };
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let with_totp = store::mfa::with_totp(&visit.app.db, &ids).await?;
    let with_passkeys = store::mfa::with_passkeys(&visit.app.db, &ids).await?;
    let next = next.map(|c| query(&[("q", &q), ("cursor", &c)]));
    if let Some(refused) = refused {
        visit.show_refusal(refused)?;
    }
    Ok(render(&UsersPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        q,
        users: users
            .into_iter()
            .map(|u| {
                let factors: Vec<&str> = [("totp", &with_totp), ("passkey", &with_passkeys)]
                    .into_iter()
                    .filter(|(_, having)| having.contains(&u.id))
                    .map(|(name, _)| name)
                    .collect();
                UserRow {
                    factors: factors.join(", "),
                    ..UserRow::of(u)
                }
            })
            .collect(),
        next,
        typed: typed.unwrap_or_default(),
    }))
}

/// `POST /admin/users`: creates a user and shows them (with a generated
/// password, once).
pub async fn create(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "users").await?;
    visit.check_csrf(&form).await?;
    let email = optional(&form, "email");
    let name = optional(&form, "name");
    let new = service::users::NewUser {
        username: field(&form, "username"),
        email: email.as_deref(),
        name: name.as_deref(),
        // A chosen password exactly as typed (spaces count).
        password: Some(field(&form, "password"))
            .filter(|p| !p.is_empty())
            .map(|p| Secret::new(p.to_owned())),
        groups: &[],
    };
    let created = service::users::create(
        &visit.operator(),
        &visit.app.passwords,
        new,
        crate::unix_now(),
    )
    .await;
    match created {
        Ok(created) => detail_page(visit, created.user.id, created.password, None).await,
        Err(refused) => {
            let typed = UserRow {
                username: field(&form, "username").to_owned(),
                email: field(&form, "email").to_owned(),
                name: field(&form, "name").to_owned(),
                ..UserRow::default()
            };
            with_status(
                list_page(visit, Listing::default(), Some(typed), Some(refused)).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

struct SessionRow {
    sid: String,
    user_agent: String,
    address: String,
    clients: String,
}

struct ConsentRow {
    client_id: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    user: UserRow,
    password: Option<String>,
    groups: Vec<String>,
    other_groups: Vec<String>,
    sessions: Vec<SessionRow>,
    consents: Vec<ConsentRow>,
    factors: service::mfa::Factors,
}

/// `GET /admin/users/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "users").await?;
    visit.frame.saved = saved.is_set();
    detail_page(visit, id, None, None).await
}

/// The user's page (a 404 with the list when there is no such user);
/// `password`, a generated one, is shown once; `typed`, a refused profile
/// form's email and name, instead of the stored ones.
async fn detail_page(
    mut visit: Visit,
    id: Uuid,
    password: Option<Secret>,
    typed: Option<(String, String)>,
) -> Page {
    let db = &visit.app.db;
    let now = crate::unix_now();
    let user = match service::users::find(db, id).await {
        Ok(user) => user,
        Err(refused) => {
            let page = list_page(visit, Listing::default(), None, Some(refused)).await;
            return with_status(page, StatusCode::NOT_FOUND);
        }
    };
    let groups = store::groups::of_user(db, id).await?;
    let other_groups = store::groups::list(db)
        .await?
        .into_iter()
        .map(|g| g.name)
        .filter(|g| !groups.contains(g))
        .collect();
    let sessions = service::sessions::of_user(db, id, now)
        .await?
        .into_iter()
        .map(|s| {
            let login = s.login.as_ref();
            let or_dash = |v: Option<&String>| v.cloned().unwrap_or_else(|| "—".into());
            SessionRow {
                user_agent: or_dash(login.and_then(|l| l.user_agent.as_ref())),
                address: or_dash(login.and_then(|l| l.ip.as_ref())),
                clients: login.map(|l| l.clients.join(", ")).unwrap_or_default(),
                sid: s.sid,
            }
        })
        .collect();
    let consents = store::consents::of_user(db, id)
        .await?
        .into_iter()
        .map(|c| ConsentRow {
            client_id: c.client_id,
            scopes: c.scopes.0.to_string(),
        })
        .collect();
    let factors = service::mfa::factors(db, id).await?;
    if password.is_some() {
        visit.frame.saved = true;
    }
    Ok(render(&UserPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        user: match typed {
            Some((email, name)) => UserRow {
                email,
                name,
                ..UserRow::of(user)
            },
            None => UserRow::of(user),
        },
        password: password.map(|p| p.expose().to_owned()),
        groups,
        other_groups,
        sessions,
        consents,
        factors,
    }))
}

/// What a form on a user's page asks for (its `action`).
enum Action {
    Profile,
    Disable,
    Enable,
    ResetPassword,
    Join,
    Leave,
    EndSession,
    EndAllSessions,
    RevokeConsent,
    ResetMfa,
    Delete,
}

impl Action {
    fn of(form: &Params) -> Option<Action> {
        Some(match field(form, "action") {
            "profile" => Action::Profile,
            "disable" => Action::Disable,
            "enable" => Action::Enable,
            "reset" => Action::ResetPassword,
            "join" => Action::Join,
            "leave" => Action::Leave,
            "end" => Action::EndSession,
            "end-all" => Action::EndAllSessions,
            "revoke" => Action::RevokeConsent,
            "reset-mfa" => Action::ResetMfa,
            "delete" => Action::Delete,
            _ => return None,
        })
    }
}

/// What an action leads to.
enum Done {
    /// Back to the user's page, saying it was saved.
    Saved,
    /// The user's page with a generated password, once.
    Password(Option<Secret>),
    /// The user is gone: back to the list.
    Deleted,
}

/// `POST /admin/users/{id}`: one `action` on the user.
pub async fn act(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    PageForm(form): PageForm,
) -> Page {
    let here = format!("/users/{id}");
    let mut visit = enter(app, signed, &headers, origin, "users").await?;
    visit.check_csrf(&form).await?;
    let Some(action) = Action::of(&form) else {
        visit.frame.error = Some(visit.frame.t.unknown_action.to_owned());
        return detail_page(visit, id, None, None).await;
    };
    let profile = matches!(action, Action::Profile);
    match perform(&visit, id, action, &form).await {
        Ok(Done::Saved) => Ok(visit.saved(&here)),
        Ok(Done::Password(password)) => detail_page(visit, id, password, None).await,
        Ok(Done::Deleted) => Ok(visit.saved("/users")),
        Err(refused) => {
            visit.show_refusal(refused)?;
            if !profile {
                return detail_page(visit, id, None, None).await;
            }
            // A refused profile comes back as typed.
            let typed = (
                field(&form, "email").to_owned(),
                field(&form, "name").to_owned(),
            );
            with_status(
                detail_page(visit, id, None, Some(typed)).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

async fn perform(visit: &Visit, id: Uuid, action: Action, form: &Params) -> Outcome<Done> {
    let now = crate::unix_now();
    let operator = visit.operator();
    let op = &operator;
    let user = service::users::find(&visit.app.db, id).await?;
    match action {
        Action::Profile => {
            let email = optional(form, "email");
            let name = optional(form, "name");
            let (email, name) = (Some(email.as_deref()), Some(name.as_deref()));
            service::users::update_profile(op, &user, email, name, now).await?;
        }
        Action::Disable => {
            service::users::set_disabled(op, &user, true, now).await?;
        }
        Action::Enable => {
            service::users::set_disabled(op, &user, false, now).await?;
        }
        Action::ResetPassword => {
            let passwords = &visit.app.passwords;
            let set = service::users::set_password(op, passwords, &user, None, now).await?;
            return Ok(Done::Password(set.generated));
        }
        Action::Join => {
            service::users::join(op, &user, field(form, "group"), now).await?;
        }
        Action::Leave => {
            service::users::leave(op, &user, field(form, "group"), now).await?;
        }
        Action::EndSession => {
            service::sessions::end_one(op, id, field(form, "sid"), now).await?;
        }
        Action::EndAllSessions => {
            service::sessions::end_all(op, id, now).await?;
        }
        Action::RevokeConsent => {
            service::consents::revoke(op, id, field(form, "client_id"), now).await?;
        }
        Action::ResetMfa => {
            visit.confirm(form)?;
            service::mfa::reset(op, &user, now).await?;
        }
        Action::Delete => {
            visit.confirm(form)?;
            service::users::delete(op, &user, now).await?;
            return Ok(Done::Deleted);
        }
    }
    Ok(Done::Saved)
}
