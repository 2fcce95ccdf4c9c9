//! `/admin/clients` and `/admin/clients/{client_id}`. A new secret is shown
//! on the page that made it, once.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::{Frame, Page, Saved, Visit, at, enter, field, optional, query, with_status};
use crate::audit::Origin;
use crate::state::App;
use crate::ui::{PageForm, render};

struct ClientRow {
    client_id: String,
    /// The client id, percent-encoded for links and form actions.
    path: String,
    name: String,
    grant_types: String,
    auth_method: String,
    scope: String,
    redirect_uris: String,
    first_party: bool,
    groups: String,
    has_secret: bool,
}

impl ClientRow {
    fn of(v: &Value) -> ClientRow {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let list = |k: &str| {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        let auth_method = text("token_endpoint_auth_method");
        ClientRow {
            path: encode(&text("client_id")),
            client_id: text("client_id"),
            name: text("client_name"),
            grant_types: list("grant_types"),
            has_secret: auth_method.starts_with("client_secret"),
            auth_method,
            scope: text("scope"),
            redirect_uris: list("redirect_uris"),
            first_party: at(v, "first_party").as_bool().unwrap_or(false),
            groups: list("groups"),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    clients: Vec<ClientRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Listing {
    cursor: Option<String>,
    saved: Option<String>,
}

/// `GET /admin/clients`.
pub async fn list(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Query(listing): Query<Listing>,
) -> Page {
    let visit = enter(app, session, &headers, origin, "/clients", "clients").await?;
    let mut visit = visit;
    visit.frame.saved = listing.saved.is_some();
    list_page(visit, listing.cursor.unwrap_or_default(), None).await
}

async fn list_page(mut visit: Visit, cursor: String, error: Option<String>) -> Page {
    let path = format!("/clients?{}", query(&[("cursor", &cursor)]));
    let (clients, next) = visit.page(&path, ClientRow::of).await;
    let next = next.map(|c| query(&[("cursor", &c)]));
    if error.is_some() {
        visit.frame.error = error;
    }
    Ok(render(&ClientsPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        clients,
        next,
    }))
}

/// `POST /admin/clients`: registers a client of one of three kinds and
/// shows it, with its secret once.
pub async fn create(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let visit = enter(app, session, &headers, origin, "/clients", "clients").await?;
    visit.check_csrf(&form).await?;
    let redirect_uris: Vec<&str> = field(&form, "redirect_uris")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut body = json!({
        "client_name": field(&form, "client_name"),
        "client_id": optional(&form, "client_id"),
        "redirect_uris": redirect_uris,
        "scope": optional(&form, "scope"),
        "first_party": field(&form, "first_party") == "true",
    });
    let kind = match field(&form, "kind") {
        "public" => Some(("none", vec!["authorization_code", "refresh_token"])),
        "web" => Some((
            "client_secret_basic",
            vec!["authorization_code", "refresh_token"],
        )),
        "service" => Some(("client_secret_basic", vec!["client_credentials"])),
        _ => None,
    };
    if let (Some((method, grants)), Some(object)) = (kind, body.as_object_mut()) {
        object.insert("token_endpoint_auth_method".into(), json!(method));
        object.insert("grant_types".into(), json!(grants));
    }
    match visit.api(Method::POST, "/clients", Some(body)).await {
        Ok(created) => {
            let secret = at(&created, "client_secret").as_str().map(str::to_owned);
            detail_page(visit, created, secret)
        }
        Err(e) => list_page(visit, String::new(), Some(e)).await,
    }
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct ClientPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    client: ClientRow,
    secret: Option<String>,
}

fn detail_page(mut visit: Visit, client: Value, secret: Option<String>) -> Page {
    if secret.is_some() {
        visit.frame.saved = true;
    }
    Ok(render(&ClientPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        client: ClientRow::of(&client),
        secret,
    }))
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /admin/clients/{client_id}` (never shows a secret).
pub async fn show(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Query(saved): Query<Saved>,
) -> Page {
    let here = format!("/clients/{}", encode(&client_id));
    let mut visit = enter(app, session, &headers, origin, &here, "clients").await?;
    visit.frame.saved = saved.is_set();
    match visit.api(Method::GET, &here, None).await {
        Ok(client) => detail_page(visit, client, None),
        Err(e) => with_status(
            list_page(visit, String::new(), Some(e)).await,
            StatusCode::NOT_FOUND,
        ),
    }
}

/// `POST /admin/clients/{client_id}`: `rotate` (the new secret is shown
/// once) or `delete`.
pub async fn act(
    State(app): State<Arc<App>>,
    session: Session,
    origin: Origin,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    PageForm(form): PageForm,
) -> Page {
    let here = format!("/clients/{}", encode(&client_id));
    let mut visit = enter(app, session, &headers, origin, &here, "clients").await?;
    visit.check_csrf(&form).await?;
    let outcome = match field(&form, "action") {
        "rotate" => visit
            .api(Method::POST, &format!("{here}/secret"), None)
            .await
            .map(|done| at(&done, "client_secret").as_str().map(str::to_owned)),
        "delete" => {
            let deleted = match visit.confirmed(&form) {
                Ok(()) => visit.api(Method::DELETE, &here, None).await,
                Err(e) => Err(e),
            };
            match deleted {
                Ok(_) => return Ok(visit.saved("/clients")),
                // Stay on the client's page, saying why.
                Err(e) => Err(e),
            }
        }
        _ => Err(visit.frame.t.unknown_action.to_owned()),
    };
    let secret = match outcome {
        Ok(secret) => secret,
        Err(e) => {
            visit.frame.error = Some(e);
            None
        }
    };
    match visit.api(Method::GET, &here, None).await {
        Ok(client) => detail_page(visit, client, secret),
        Err(e) => list_page(visit, String::new(), Some(e)).await,
    }
}
