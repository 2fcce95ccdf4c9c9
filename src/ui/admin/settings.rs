//! `/admin/groups`, `/admin/keys` and `/admin/audit`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::{Frame, Page, Saved, Visit, at, enter, field, query, time};
use crate::audit::Origin;
use crate::state::App;
use crate::ui::{PageForm, render};

struct GroupRow {
    name: String,
    members: i64,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    groups: Vec<GroupRow>,
}

/// `GET /admin/groups`.
pub async fn groups(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, session, &headers, origin, "/groups", "groups").await?;
    visit.frame.saved = saved.is_set();
    groups_page(visit).await
}

async fn groups_page(mut visit: Visit) -> Page {
    let groups = visit
        .rows("/groups", |g| GroupRow {
            name: at(g, "name").as_str().unwrap_or_default().to_owned(),
            members: at(g, "members").as_i64().unwrap_or(0),
        })
        .await;
    Ok(render(&GroupsPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        groups,
    }))
}

/// `POST /admin/groups`: `create` or `delete` one.
pub async fn change_group(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let mut visit = enter(app, session, &headers, origin, "/groups", "groups").await?;
    visit.check_csrf(&form).await?;
    let name = field(&form, "name");
    let result = match field(&form, "action") {
        "create" => {
            let body = json!({"name": name});
            visit.api(Method::POST, "/groups", Some(body)).await
        }
        "delete" => {
            let encoded =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
            visit
                .api(Method::DELETE, &format!("/groups/{encoded}"), None)
                .await
        }
        _ => Err(visit.frame.t.unknown_action.to_owned()),
    };
    match result {
        Ok(_) => Ok(visit.saved("/groups")),
        Err(e) => {
            visit.frame.error = Some(e);
            groups_page(visit).await
        }
    }
}

struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    keys: Vec<KeyRow>,
}

/// `GET /admin/keys`.
pub async fn keys(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, session, &headers, origin, "/keys", "keys").await?;
    visit.frame.saved = saved.is_set();
    keys_page(visit).await
}

async fn keys_page(mut visit: Visit) -> Page {
    let keys = visit
        .rows("/keys", |k| {
            let text = |f: &str| at(k, f).as_str().unwrap_or_default().to_owned();
            KeyRow {
                kid: text("kid"),
                alg: text("alg"),
                state: text("state"),
                created: time(at(k, "created_at").as_i64().unwrap_or(0)),
            }
        })
        .await;
    Ok(render(&KeysPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        keys,
    }))
}

/// `POST /admin/keys`: rotates in the chosen mode.
pub async fn rotate(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let mut visit = enter(app, session, &headers, origin, "/keys", "keys").await?;
    visit.check_csrf(&form).await?;
    let body = json!({"mode": field(&form, "mode")});
    let rotated = match visit.confirmed(&form) {
        Ok(()) => visit.api(Method::POST, "/keys/rotate", Some(body)).await,
        Err(e) => Err(e),
    };
    match rotated {
        Ok(_) => Ok(visit.saved("/keys")),
        Err(e) => {
            visit.frame.error = Some(e);
            keys_page(visit).await
        }
    }
}

struct EventRow {
    at: String,
    kind: String,
    actor: String,
    user: String,
    client: String,
    address: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    filter_type: String,
    filter_user: String,
    filter_client: String,
    events: Vec<EventRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct AuditFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
    cursor: Option<String>,
}

/// `GET /admin/audit`: the audit log, newest first, filtered.
pub async fn audit(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Page {
    let mut visit = enter(app, session, &headers, origin, "/audit", "audit").await?;
    let kind = filter.kind.unwrap_or_default();
    let user = filter.user_id.unwrap_or_default();
    let client = filter.client_id.unwrap_or_default();
    let cursor = filter.cursor.unwrap_or_default();
    let pairs = [
        ("type", kind.as_str()),
        ("user_id", user.as_str()),
        ("client_id", client.as_str()),
    ];
    let mut with_cursor = pairs.to_vec();
    with_cursor.push(("cursor", &cursor));
    let path = format!("/audit-events?{}", query(&with_cursor));
    let text = |e: &Value, k: &str| at(e, k).as_str().unwrap_or("—").to_owned();
    let (events, next) = visit
        .page(&path, |e| EventRow {
            at: time(at(e, "at").as_i64().unwrap_or(0)),
            kind: text(e, "type"),
            actor: text(e, "actor"),
            user: text(e, "user_id"),
            client: text(e, "client_id"),
            address: text(e, "ip"),
            detail: at(e, "detail").to_string(),
        })
        .await;
    let next = next.map(|c| {
        let mut next = pairs.to_vec();
        next.push(("cursor", &c));
        query(&next)
    });
    Ok(render(&AuditPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        filter_type: kind,
        filter_user: user,
        filter_client: client,
        events,
        next,
    }))
}
