//! `/admin/groups`, `/admin/keys` and `/admin/audit`.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::clients::{Choice, encode};
use super::{Frame, Page, Saved, Visit, enter, field, query, time};
use crate::audit::{Kind, Origin};
use crate::keys::RotateMode;
use crate::paging::PageQuery;
use crate::routes::ADMIN;
use crate::service::Refused;
use crate::state::App;
use crate::ui::account::SignedInUser;
use crate::ui::{PageForm, render};
use crate::{service, store};

struct GroupRow {
    name: String,
    members: i64,
    /// Its members sign in with a second factor.
    require_mfa: bool,
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
            require_mfa: g.require_mfa,
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
        "require-mfa" => service::groups::set_require_mfa(&visit.operator(), name, true, now).await,
        "no-require-mfa" => {
            service::groups::set_require_mfa(&visit.operator(), name, false, now).await
        }
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

/// Someone or something an event names: shown by name, linking to its
/// page while it exists.
#[derive(Clone)]
struct Named {
    text: String,
    link: Option<String>,
}

struct EventRow {
    at: String,
    kind: String,
    actor: Option<Named>,
    user: Option<Named>,
    client: Option<Named>,
    address: String,
    /// The details, as key and readable value.
    detail: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    kinds: Vec<Choice>,
    filter_user: String,
    filter_client: String,
    events: Vec<EventRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct AuditFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A username, or a user's id (also of a user deleted since).
    user: Option<String>,
    client: Option<String>,
    cursor: Option<String>,
}

/// `GET /admin/audit`: the audit log, newest first, filtered by type, user
/// and client, each event with the people and clients it names by name.
pub async fn audit(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "audit").await?;
    let trimmed = |v: Option<String>| v.map(|v| v.trim().to_owned()).unwrap_or_default();
    let kind = trimmed(filter.kind);
    let user = trimmed(filter.user);
    let client = trimmed(filter.client);
    let cursor = trimmed(filter.cursor);
    fn given(v: &str) -> Option<&str> {
        Some(v).filter(|v| !v.is_empty())
    }
    let mut names = Names::new(&visit);
    // A username becomes its id; an id stays (its user may be gone).
    let user_id = match given(&user) {
        None => Some(String::new()),
        Some(raw) if Uuid::parse_str(raw).is_ok() => Some(raw.to_owned()),
        Some(raw) => store::users::find_by_username(&visit.app.db, &raw.to_lowercase())
            .await?
            .map(|u| u.id.to_string()),
    };
    let (events, next) = match &user_id {
        None => {
            visit.frame.error = Some(visit.frame.t.unknown_user.to_owned());
            (Vec::new(), None)
        }
        Some(user_id) => {
            let search = service::audit::Search {
                kind: given(&kind),
                user_id: given(user_id),
                client_id: given(&client),
                ..Default::default()
            };
            let paging = PageQuery {
                limit: None,
                cursor: given(&cursor).map(str::to_owned),
            };
            match service::audit::search(&visit.app.db, &search, &paging).await {
                Ok(page) => (page.items, page.next_cursor),
                Err(refused) => {
                    visit.show_refusal(refused)?;
                    (Vec::new(), None)
                }
            }
        }
    };
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let actor = match e.actor.as_deref() {
            None => None,
            Some(actor) => Some(names.actor(actor).await?),
        };
        let user = match e.user_id {
            None => None,
            Some(id) => Some(names.user(id).await?),
        };
        let client = match e.client_id.as_deref() {
            None => None,
            Some(id) => Some(names.client(id).await?),
        };
        rows.push(EventRow {
            at: time(e.at),
            kind: e.kind,
            actor,
            user,
            client,
            address: e.ip.unwrap_or_else(|| "—".into()),
            detail: readable(&e.detail.0),
        });
    }
    let next = next.map(|c| {
        query(&[
            ("type", kind.as_str()),
            ("user", user.as_str()),
            ("client", client.as_str()),
            ("cursor", &c),
        ])
    });
    let kinds = Kind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str(),
            on: k.as_str() == kind,
        })
        .collect();
    Ok(render(&AuditPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        kinds,
        filter_user: user,
        filter_client: client,
        events: rows,
        next,
    }))
}

/// Looks up the names of the users and clients a page of events names,
/// each once.
struct Names {
    app: Arc<App>,
    /// The issuer's path, before every link.
    prefix: String,
    users: HashMap<Uuid, Named>,
    clients: HashMap<String, Named>,
}

impl Names {
    fn new(visit: &Visit) -> Names {
        Names {
            app: Arc::clone(&visit.app),
            prefix: visit.frame.prefix.clone(),
            users: HashMap::new(),
            clients: HashMap::new(),
        }
    }

    /// `user:ID` and `client:ID` by name; `cli` and `system` as they are.
    async fn actor(&mut self, actor: &str) -> Result<Named, sqlx::Error> {
        if let Some(id) = actor.strip_prefix("user:")
            && let Ok(id) = Uuid::parse_str(id)
        {
            return self.user(id).await;
        }
        if let Some(id) = actor.strip_prefix("client:") {
            return self.client(id).await;
        }
        Ok(Named {
            text: actor.to_owned(),
            link: None,
        })
    }

    async fn user(&mut self, id: Uuid) -> Result<Named, sqlx::Error> {
        if let Some(named) = self.users.get(&id) {
            return Ok(named.clone());
        }
        let prefix = &self.prefix;
        let named = match store::users::find_by_id(&self.app.db, id).await? {
            Some(user) => Named {
                text: user.username,
                link: Some(format!("{prefix}{ADMIN}/users/{id}")),
            },
            // Deleted since: its id is all that is left.
            None => Named {
                text: id.to_string(),
                link: None,
            },
        };
        self.users.insert(id, named.clone());
        Ok(named)
    }

    async fn client(&mut self, client_id: &str) -> Result<Named, sqlx::Error> {
        if let Some(named) = self.clients.get(client_id) {
            return Ok(named.clone());
        }
        let prefix = &self.prefix;
        let named = match store::clients::find(&self.app.db, client_id).await? {
            Some(client) => Named {
                text: format!("{} ({})", client.name, client.client_id),
                link: Some(format!("{prefix}{ADMIN}/clients/{}", encode(client_id))),
            },
            None => Named {
                text: client_id.to_owned(),
                link: None,
            },
        };
        self.clients.insert(client_id.to_owned(), named.clone());
        Ok(named)
    }
}

/// An event's details as key and value: text as it is, lists joined with
/// commas, anything else as compact JSON.
fn readable(detail: &Value) -> Vec<(String, String)> {
    let Some(fields) = detail.as_object() else {
        return match detail {
            Value::Null => Vec::new(),
            other => vec![(String::new(), other.to_string())],
        };
    };
    fields
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (key.replace('_', " "), text)
        })
        .collect()
}
