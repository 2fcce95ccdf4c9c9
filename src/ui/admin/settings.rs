//! `/admin/groups`, `/admin/keys` and `/admin/audit`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::{Frame, Page, Saved, Visit, enter, field, query, time};
use crate::audit::Origin;
use crate::keys::RotateMode;
use crate::paging::PageQuery;
use crate::service::Refused;
use crate::state::App;
use crate::ui::account::SignedInUser;
use crate::ui::{PageForm, render};
use crate::{service, store};

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
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "groups").await?;
    visit.frame.saved = saved.is_set();
    groups_page(visit).await
}

async fn groups_page(visit: Visit) -> Page {
    let groups = store::groups::list(&visit.app.db)
        .await?
        .into_iter()
        .map(|g| GroupRow {
            name: g.name,
            members: g.members,
        })
        .collect();
    Ok(render(&GroupsPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        groups,
    }))
}

/// `POST /admin/groups`: `create` or `delete` one.
pub async fn change_group(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "groups").await?;
    visit.check_csrf(&form).await?;
    let name = field(&form, "name");
    let now = crate::unix_now();
    let done = match field(&form, "action") {
        "create" => service::groups::create(&visit.operator(), name, now).await,
        "delete" => service::groups::delete(&visit.operator(), name, now).await,
        _ => {
            visit.frame.error = Some(visit.frame.t.unknown_action.to_owned());
            return groups_page(visit).await;
        }
    };
    match done {
        Ok(()) => Ok(visit.saved("/groups")),
        Err(refused) => {
            visit.show_refusal(refused)?;
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
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "keys").await?;
    visit.frame.saved = saved.is_set();
    keys_page(visit).await
}

async fn keys_page(visit: Visit) -> Page {
    let set = service::keys::list(&visit.app.db, &visit.app.config).await?;
    let keys = set
        .keys()
        .iter()
        .map(|k| KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.to_string(),
            state: k.state.to_string(),
            created: time(k.created_at),
        })
        .collect();
    Ok(render(&KeysPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        keys,
    }))
}

/// `POST /admin/keys`: rotates in the chosen mode.
pub async fn rotate(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "keys").await?;
    visit.check_csrf(&form).await?;
    let rotated = match visit.confirm(&form) {
        Ok(()) => match RotateMode::parse(field(&form, "mode")) {
            Ok(mode) => service::keys::rotate(&visit.operator(), mode, crate::unix_now())
                .await
                .map(|_| ()),
            Err(e) => Err(Refused::invalid("mode", e)),
        },
        Err(refused) => Err(refused),
    };
    match rotated {
        Ok(()) => Ok(visit.saved("/keys")),
        Err(refused) => {
            visit.show_refusal(refused)?;
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
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "audit").await?;
    let kind = filter.kind.unwrap_or_default();
    let user = filter.user_id.unwrap_or_default();
    let client = filter.client_id.unwrap_or_default();
    let cursor = filter.cursor.unwrap_or_default();
    let pairs = [
        ("type", kind.as_str()),
        ("user_id", user.as_str()),
        ("client_id", client.as_str()),
    ];
    fn given(v: &str) -> Option<&str> {
        Some(v).filter(|v| !v.is_empty())
    }
    let search = service::audit::Search {
        kind: given(&kind),
        user_id: given(&user),
        client_id: given(&client),
        ..Default::default()
    };
    let paging = PageQuery {
        limit: None,
        cursor: given(&cursor).map(str::to_owned),
    };
    let (events, next) = match service::audit::search(&visit.app.db, &search, &paging).await {
        Ok(page) => (page.items, page.next_cursor),
        Err(refused) => {
            visit.show_refusal(refused)?;
            (Vec::new(), None)
        }
    };
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let events = events
        .into_iter()
        .map(|e| EventRow {
            at: time(e.at),
            kind: e.kind,
            actor: or_dash(e.actor),
            user: or_dash(e.user_id.map(|id| id.to_string())),
            client: or_dash(e.client_id),
            address: or_dash(e.ip),
            detail: e.detail.0.to_string(),
        })
        .collect();
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
