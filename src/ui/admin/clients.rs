//! `/admin/clients` and `/admin/clients/{client_id}`. A new secret is shown
//! on the page that made it, once.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::{Frame, Page, Saved, Visit, enter, field, optional, query, with_status};
use crate::audit::Origin;
use crate::clients::ClientSettings;
use crate::form::Params;
use crate::paging::PageQuery;
use crate::service::{self, Outcome, Refused};
use crate::state::App;
use crate::store::clients::Client;
use crate::types::{AuthMethod, ClientType, GrantType, Scopes, Secret};
use crate::ui::account::SignedInUser;
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
    fn of(client: &Client) -> ClientRow {
        let words = |items: &[String]| items.join(" ");
        ClientRow {
            path: encode(&client.client_id),
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            grant_types: client
                .grant_types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            has_secret: client.token_endpoint_auth_method.uses_secret(),
            auth_method: client.token_endpoint_auth_method.to_string(),
            scope: client.scopes.to_string(),
            redirect_uris: words(&client.redirect_uris),
            first_party: client.first_party,
            groups: words(&client.groups),
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
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Query(listing): Query<Listing>,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "clients").await?;
    let mut visit = visit;
    visit.frame.saved = listing.saved.is_some();
    list_page(visit, listing.cursor.unwrap_or_default(), None).await
}

async fn list_page(mut visit: Visit, cursor: String, refused: Option<Refused>) -> Page {
    let paging = PageQuery {
        limit: None,
        cursor: Some(cursor).filter(|c| !c.is_empty()),
    };
    let (clients, next) = match service::clients::page(&visit.app.db, &paging).await {
        Ok(page) => (page.items, page.next_cursor),
        Err(refused) => {
            visit.show_refusal(refused)?;
            (Vec::new(), None)
        }
    };
    let next = next.map(|c| query(&[("cursor", &c)]));
    if let Some(refused) = refused {
        visit.show_refusal(refused)?;
    }
    Ok(render(&ClientsPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        clients: clients.iter().map(ClientRow::of).collect(),
        next,
    }))
}

/// The three kinds of client the page registers.
enum ClientKind {
    /// A service calling APIs as itself (client_credentials, a secret).
    Service,
    /// A web app with a back end (the code flow, a secret).
    Web,
    /// A browser or native app (the code flow with PKCE, no secret).
    Public,
}

impl ClientKind {
    fn of(raw: &str) -> Option<ClientKind> {
        Some(match raw {
            "service" => ClientKind::Service,
            "web" => ClientKind::Web,
            "public" => ClientKind::Public,
            _ => return None,
        })
    }

    /// The settings of a client of this kind with the form's fields.
    fn settings(self, form: &Params) -> Outcome<ClientSettings> {
        let code_flow = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        let (client_type, auth_method, grant_types) = match self {
            ClientKind::Service => (
                ClientType::Confidential,
                AuthMethod::ClientSecretBasic,
                vec![GrantType::ClientCredentials],
            ),
            ClientKind::Web => (
                ClientType::Confidential,
                AuthMethod::ClientSecretBasic,
                code_flow,
            ),
            ClientKind::Public => (ClientType::Public, AuthMethod::None, code_flow),
        };
        let redirect_uris = field(form, "redirect_uris")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(ClientSettings {
            first_party: field(form, "first_party") == "true",
            redirect_uris,
            scopes: Scopes::parse(field(form, "scope"))
                .map_err(|e| Refused::invalid("scope", e))?,
            ..ClientSettings::new(
                field(form, "client_name").to_owned(),
                client_type,
                auth_method,
                grant_types,
            )
        })
    }
}

/// `POST /admin/clients`: registers a client of one of three kinds and
/// shows it, with its secret once.
pub async fn create(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "clients").await?;
    visit.check_csrf(&form).await?;
    let client_id = optional(&form, "client_id");
    let created = match ClientKind::of(field(&form, "kind")) {
        None => Err(Refused::invalid("kind", visit.frame.t.unknown_action)),
        Some(kind) => match kind.settings(&form) {
            Ok(settings) => {
                let new = service::clients::NewClient {
                    client_id: client_id.as_deref(),
                    settings,
                    groups: &[],
                    secret_hash: None,
                };
                service::clients::create(&visit.operator(), new, crate::unix_now()).await
            }
            Err(refused) => Err(refused),
        },
    };
    match created {
        Ok((client, secret)) => detail_page(visit, &client, secret),
        Err(refused) => list_page(visit, String::new(), Some(refused)).await,
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

fn detail_page(mut visit: Visit, client: &Client, secret: Option<Secret>) -> Page {
    if secret.is_some() {
        visit.frame.saved = true;
    }
    Ok(render(&ClientPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        client: ClientRow::of(client),
        secret: secret.map(|s| s.expose().to_owned()),
    }))
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /admin/clients/{client_id}` (never shows a secret).
pub async fn show(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Query(saved): Query<Saved>,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "clients").await?;
    visit.frame.saved = saved.is_set();
    match service::clients::find(&visit.app.db, &client_id).await {
        Ok(client) => detail_page(visit, &client, None),
        Err(refused) => with_status(
            list_page(visit, String::new(), Some(refused)).await,
            StatusCode::NOT_FOUND,
        ),
    }
}

/// `POST /admin/clients/{client_id}`: `rotate` (the new secret is shown
/// once) or `delete`.
pub async fn act(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    PageForm(form): PageForm,
) -> Page {
    let mut visit = enter(app, signed, &headers, origin, "clients").await?;
    visit.check_csrf(&form).await?;
    let now = crate::unix_now();
    let secret = match field(&form, "action") {
        "rotate" => service::clients::rotate_secret(&visit.operator(), &client_id, now)
            .await
            .map(Some),
        "delete" => {
            let deleted = match visit.confirm(&form) {
                Ok(()) => service::clients::delete(&visit.operator(), &client_id, now).await,
                Err(refused) => Err(refused),
            };
            match deleted {
                Ok(()) => return Ok(visit.saved("/clients")),
                // Stay on the client's page, saying why.
                Err(refused) => Err(refused),
            }
        }
        _ => Err(Refused::Conflict(visit.frame.t.unknown_action.to_owned())),
    };
    let secret = match secret {
        Ok(secret) => secret,
        Err(refused) => {
            visit.show_refusal(refused)?;
            None
        }
    };
    match service::clients::find(&visit.app.db, &client_id).await {
        Ok(client) => detail_page(visit, &client, secret),
        Err(refused) => list_page(visit, String::new(), Some(refused)).await,
    }
}
