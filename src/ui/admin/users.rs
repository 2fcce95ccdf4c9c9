//! `/admin/users` and `/admin/users/{id}`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;
use uuid::Uuid;

use super::{Frame, Page, Saved, Visit, at, each, enter, field, optional, query, with_status};
use crate::audit::Origin;
use crate::state::App;
use crate::ui::{PageForm, render};

struct UserRow {
    id: String,
    username: String,
    email: String,
    name: String,
    disabled: bool,
}

impl UserRow {
    fn of(v: &Value) -> UserRow {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        UserRow {
            id: text("id"),
            username: text("username"),
            email: text("email"),
            name: text("name"),
            disabled: at(v, "disabled").as_bool().unwrap_or(false),
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
}

#[derive(Deserialize)]
pub struct Listing {
    q: Option<String>,
    cursor: Option<String>,
    saved: Option<String>,
}

/// `GET /admin/users`: a page of users, searched.
pub async fn list(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Query(listing): Query<Listing>,
) -> Page {
    let visit = enter(app, session, &headers, origin, "/users", "users").await?;
    list_page(visit, listing, None).await
}

async fn list_page(mut visit: Visit, listing: Listing, error: Option<String>) -> Page {
    visit.frame.saved = listing.saved.is_some();
    let q = listing.q.unwrap_or_default();
    let cursor = listing.cursor.unwrap_or_default();
    let path = format!("/users?{}", query(&[("q", &q), ("cursor", &cursor)]));
    let (users, next) = visit.page(&path, UserRow::of).await;
    let next = next.map(|c| query(&[("q", &q), ("cursor", &c)]));
    if error.is_some() {
        visit.frame.error = error;
    }
    Ok(render(&UsersPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        q,
        users,
        next,
    }))
}

/// `POST /admin/users`: creates a user and shows them (with a generated
/// password, once).
pub async fn create(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let visit = enter(app, session, &headers, origin, "/users", "users").await?;
    visit.check_csrf(&form).await?;
    let body = json!({
        "username": field(&form, "username"),
        "email": optional(&form, "email"),
        "name": optional(&form, "name"),
        // A chosen password exactly as typed (spaces count).
        "password": Some(field(&form, "password")).filter(|p| !p.is_empty()),
    });
    match visit.api(Method::POST, "/users", Some(body)).await {
        Ok(created) => {
            let id = at(&created, "id").as_str().unwrap_or_default().to_owned();
            let password = at(&created, "password").as_str().map(str::to_owned);
            detail_page(visit, &id, password).await
        }
        Err(e) => {
            let listing = Listing {
                q: None,
                cursor: None,
                saved: None,
            };
            list_page(visit, listing, Some(e)).await
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
}

/// `GET /admin/users/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(saved): Query<Saved>,
) -> Page {
    let here = format!("/users/{id}");
    let mut visit = enter(app, session, &headers, origin, &here, "users").await?;
    visit.frame.saved = saved.is_set();
    detail_page(visit, &id.to_string(), None).await
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn detail_page(mut visit: Visit, id: &str, password: Option<String>) -> Page {
    let user = match visit.api(Method::GET, &format!("/users/{id}"), None).await {
        Ok(user) => user,
        Err(e) => {
            let listing = Listing {
                q: None,
                cursor: None,
                saved: None,
            };
            return with_status(
                list_page(visit, listing, Some(e)).await,
                StatusCode::NOT_FOUND,
            );
        }
    };
    let groups = strings(at(&user, "groups"));
    let all_groups = visit
        .api(Method::GET, "/groups", None)
        .await
        .unwrap_or_default();
    let other_groups = all_groups
        .as_array()
        .map(|gs| {
            gs.iter()
                .filter_map(|g| at(g, "name").as_str())
                .filter(|g| !groups.iter().any(|mine| mine == g))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let sessions = visit
        .api(Method::GET, &format!("/users/{id}/sessions"), None)
        .await
        .unwrap_or_default();
    let consents = visit
        .api(Method::GET, &format!("/users/{id}/consents"), None)
        .await
        .unwrap_or_default();
    let sessions = each(&sessions, |s| SessionRow {
        sid: at(s, "sid").as_str().unwrap_or_default().to_owned(),
        user_agent: at(s, "user_agent").as_str().unwrap_or("—").to_owned(),
        address: at(s, "ip").as_str().unwrap_or("—").to_owned(),
        clients: strings(at(s, "clients")).join(", "),
    });
    let consents = each(&consents, |c| ConsentRow {
        client_id: at(c, "client_id").as_str().unwrap_or_default().to_owned(),
        scopes: strings(at(c, "scopes")).join(" "),
    });
    if password.is_some() {
        visit.frame.saved = true;
    }
    Ok(render(&UserPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        user: UserRow::of(&user),
        password,
        groups,
        other_groups,
        sessions,
        consents,
    }))
}

/// `POST /admin/users/{id}`: one `action` on the user.
pub async fn act(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    PageForm(form): PageForm,
) -> Page {
    let here = format!("/users/{id}");
    let mut visit = enter(app, session, &headers, origin, &here, "users").await?;
    visit.check_csrf(&form).await?;
    let user = format!("/users/{id}");
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let result = match field(&form, "action") {
        "profile" => {
            let body = json!({"email": optional(&form, "email"), "name": optional(&form, "name")});
            visit.api(Method::PATCH, &user, Some(body)).await
        }
        "disable" => {
            let body = json!({"disabled": true});
            visit.api(Method::PATCH, &user, Some(body)).await
        }
        "enable" => {
            let body = json!({"disabled": false});
            visit.api(Method::PATCH, &user, Some(body)).await
        }
        "reset" => {
            let path = format!("{user}/password");
            return match visit.api(Method::POST, &path, None).await {
                Ok(done) => {
                    let password = at(&done, "password").as_str().map(str::to_owned);
                    detail_page(visit, &id.to_string(), password).await
                }
                Err(e) => {
                    visit.frame.error = Some(e);
                    detail_page(visit, &id.to_string(), None).await
                }
            };
        }
        "join" => {
            let path = format!("{user}/groups/{}", encode(field(&form, "group")));
            visit.api(Method::PUT, &path, None).await
        }
        "leave" => {
            let path = format!("{user}/groups/{}", encode(field(&form, "group")));
            visit.api(Method::DELETE, &path, None).await
        }
        "end" => {
            let path = format!("{user}/sessions/{}", encode(field(&form, "sid")));
            visit.api(Method::DELETE, &path, None).await
        }
        "end-all" => {
            let path = format!("{user}/sessions");
            visit.api(Method::DELETE, &path, None).await
        }
        "revoke" => {
            let path = format!("{user}/consents/{}", encode(field(&form, "client_id")));
            visit.api(Method::DELETE, &path, None).await
        }
        "delete" => {
            let deleted = match visit.confirmed(&form) {
                Ok(()) => visit.api(Method::DELETE, &user, None).await,
                Err(e) => Err(e),
            };
            return match deleted {
                Ok(_) => Ok(visit.saved("/users")),
                Err(e) => {
                    visit.frame.error = Some(e);
                    detail_page(visit, &id.to_string(), None).await
                }
            };
        }
        _ => Err(visit.frame.t.unknown_action.to_owned()),
    };
    match result {
        Ok(_) => Ok(visit.saved(&here)),
        Err(e) => {
            visit.frame.error = Some(e);
            detail_page(visit, &id.to_string(), None).await
        }
    }
}
