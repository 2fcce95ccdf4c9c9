//! `/admin/clients` and `/admin/clients/{client_id}`. A new secret is shown
//! on the page that made it, once.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::{Frame, Page, Saved, Visit, enter, field, query, time, with_status};
use crate::audit::Origin;
use crate::client_metadata::Metadata;
use crate::clients::Invalid;
use crate::form::Params;
use crate::paging::PageQuery;
use crate::routes::ADMIN;
use crate::service::{self, Refused};
use crate::state::App;
use crate::store::clients::Client;
use crate::types::{ApplicationType, AuthMethod, ClientOrigin, GrantType, Secret, TokenFormat};
use crate::ui::account::SignedInUser;
use crate::ui::{PageForm, render};

/// A client as its page shows it: every setting, read-only.
struct ClientRow {
    client_id: String,
    /// The client id, percent-encoded for links and form actions.
    path: String,
    name: String,
    client_type: String,
    application_type: String,
    grant_types: String,
    auth_method: String,
    scope: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    audiences: Vec<String>,
    /// `None`: the server's default.
    token_format: Option<String>,
    first_party: bool,
    require_par: bool,
    require_mfa: bool,
    backchannel_logout_uri: Option<String>,
    /// `jwks_uri`, or that the keys are stored with the client.
    keys: Option<String>,
    groups: Vec<String>,
    registered: bool,
    created: String,
    updated: String,
    has_secret: bool,
}

impl ClientRow {
    fn of(client: &Client) -> ClientRow {
        ClientRow {
            path: encode(&client.client_id),
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            client_type: client.client_type.to_string(),
            application_type: client.application_type.to_string(),
            grant_types: client
                .grant_types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            has_secret: client.token_endpoint_auth_method.uses_secret(),
            auth_method: client.token_endpoint_auth_method.to_string(),
            scope: client.scopes.to_string(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            audiences: client.audiences.clone(),
            token_format: client.access_token_format.map(|f| f.to_string()),
            first_party: client.first_party,
            require_par: client.require_pushed_authorization_requests,
            require_mfa: client.require_mfa,
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            keys: client
                .jwks_uri
                .clone()
                .or_else(|| client.jwks.as_ref().map(|_| "JWK Set".to_owned())),
            groups: client.groups.clone(),
            registered: client.origin == ClientOrigin::Registration,
            created: time(client.created_at),
            updated: time(client.updated_at),
        }
    }
}

/// One option of a select or a checkbox list.
pub struct Choice {
    pub value: &'static str,
    pub on: bool,
}

fn choices(all: impl Iterator<Item = &'static str>, on: impl Fn(&str) -> bool) -> Vec<Choice> {
    all.map(|value| Choice {
        value,
        on: on(value),
    })
    .collect()
}

/// The client form: every setting the admin API takes, as typed (a refused
/// form comes back with them) or as the client being edited has them.
#[derive(Default)]
struct ClientForm {
    client_name: String,
    /// Chosen when creating only.
    client_id: String,
    application_type: String,
    auth_method: String,
    grant_types: Vec<String>,
    /// Lists are typed one item per line.
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scope: String,
    audience: String,
    /// Empty: the server's default.
    access_token_format: String,
    jwks: String,
    jwks_uri: String,
    require_par: bool,
    require_mfa: bool,
    backchannel_logout_uri: String,
    first_party: bool,
    /// Space-separated group names.
    groups: String,
}

impl ClientForm {
    /// A new client's form: a confidential web client, nothing else set.
    fn blank() -> ClientForm {
        ClientForm {
            application_type: ApplicationType::Web.as_str().to_owned(),
            auth_method: AuthMethod::ClientSecretBasic.as_str().to_owned(),
            ..ClientForm::default()
        }
    }

    fn typed(form: &Params) -> ClientForm {
        let text = |name: &str| field(form, name).trim().to_owned();
        ClientForm {
            client_name: field(form, "client_name").to_owned(),
            client_id: text("client_id"),
            application_type: text("application_type"),
            auth_method: text("token_endpoint_auth_method"),
            grant_types: form.all("grant_types").map(str::to_owned).collect(),
            redirect_uris: field(form, "redirect_uris").to_owned(),
            post_logout_redirect_uris: field(form, "post_logout_redirect_uris").to_owned(),
            scope: text("scope"),
            audience: field(form, "audience").to_owned(),
            access_token_format: text("access_token_format"),
            jwks: field(form, "jwks").to_owned(),
            jwks_uri: text("jwks_uri"),
            require_par: field(form, "require_pushed_authorization_requests") == "true",
            require_mfa: field(form, "require_mfa") == "true",
            backchannel_logout_uri: text("backchannel_logout_uri"),
            first_party: field(form, "first_party") == "true",
            groups: field(form, "groups").to_owned(),
        }
    }

    fn of(client: &Client) -> ClientForm {
        let lines = |items: &[String]| items.join("\n");
        ClientForm {
            client_name: client.name.clone(),
            client_id: client.client_id.clone(),
            application_type: client.application_type.to_string(),
            auth_method: client.token_endpoint_auth_method.to_string(),
            grant_types: client.grant_types.iter().map(ToString::to_string).collect(),
            redirect_uris: lines(&client.redirect_uris),
            post_logout_redirect_uris: lines(&client.post_logout_redirect_uris),
            scope: client.scopes.to_string(),
            audience: lines(&client.audiences),
            access_token_format: client
                .access_token_format
                .map(|f| f.to_string())
                .unwrap_or_default(),
            jwks: client
                .jwks
                .as_ref()
                .and_then(|keys| serde_json::to_string_pretty(keys).ok())
                .unwrap_or_default(),
            jwks_uri: client.jwks_uri.clone().unwrap_or_default(),
            require_par: client.require_pushed_authorization_requests,
            require_mfa: client.require_mfa,
            backchannel_logout_uri: client.backchannel_logout_uri.clone().unwrap_or_default(),
            first_party: client.first_party,
            groups: client.groups.join(" "),
        }
    }

    /// The fields as RFC 7591 metadata, read by the rule the admin API
    /// uses too; the chosen client id and the groups beside them.
    fn metadata(&self) -> Result<(Metadata, Option<String>, Vec<String>), Invalid> {
        let items = |text: &str| text.split_whitespace().map(str::to_owned).collect();
        let given = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        let jwks = match given(&self.jwks) {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| Invalid::new("jwks", format!("not JSON: {e}")))?,
            ),
        };
        let metadata = Metadata {
            client_name: self.client_name.clone(),
            redirect_uris: items(&self.redirect_uris),
            post_logout_redirect_uris: items(&self.post_logout_redirect_uris),
            grant_types: self.grant_types.clone(),
            token_endpoint_auth_method: given(&self.auth_method),
            application_type: given(&self.application_type),
            scope: given(&self.scope),
            audience: items(&self.audience),
            first_party: self.first_party,
            access_token_format: given(&self.access_token_format),
            jwks,
            jwks_uri: given(&self.jwks_uri),
            require_pushed_authorization_requests: self.require_par,
            require_mfa: self.require_mfa,
            backchannel_logout_uri: given(&self.backchannel_logout_uri),
        };
        Ok((metadata, given(&self.client_id), items(&self.groups)))
    }

    fn application_types(&self) -> Vec<Choice> {
        choices(ApplicationType::ALL.iter().map(|t| t.as_str()), |v| {
            v == self.application_type
        })
    }

    fn auth_methods(&self) -> Vec<Choice> {
        choices(AuthMethod::ALL.iter().map(|m| m.as_str()), |v| {
            v == self.auth_method
        })
    }

    fn grant_type_choices(&self) -> Vec<Choice> {
        choices(GrantType::ALL.iter().map(|g| g.as_str()), |v| {
            self.grant_types.iter().any(|g| g == v)
        })
    }

    fn token_formats(&self) -> Vec<Choice> {
        choices(TokenFormat::ALL.iter().map(|f| f.as_str()), |v| {
            v == self.access_token_format
        })
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    clients: Vec<ClientRow>,
    next: Option<String>,
    form: ClientForm,
    is_new: bool,
    form_action: String,
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
    let mut visit = enter(app, signed, &headers, origin, "clients").await?;
    visit.frame.saved = listing.saved.is_some();
    let cursor = listing.cursor.unwrap_or_default();
    list_page(visit, cursor, ClientForm::blank(), None).await
}

/// The list with the new-client form: blank, or as typed and refused.
async fn list_page(
    mut visit: Visit,
    cursor: String,
    form: ClientForm,
    refused: Option<Refused>,
) -> Page {
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
    let form_action = format!("{}{ADMIN}/clients", visit.frame.prefix);
    Ok(render(&ClientsPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        clients: clients.iter().map(ClientRow::of).collect(),
        next,
        form,
        is_new: true,
        form_action,
    }))
}

/// `POST /admin/clients`: registers a client and shows it, with its secret
/// once; refused, the form comes back as typed, saying why.
pub async fn create(
    State(app): State<Arc<App>>,
    signed: SignedInUser,
    origin: Origin,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Page {
    let visit = enter(app, signed, &headers, origin, "clients").await?;
    visit.check_csrf(&form).await?;
    let typed = ClientForm::typed(&form);
    let read = typed
        .metadata()
        .and_then(|(metadata, id, groups)| Ok((metadata.settings()?, id, groups)));
    let created = match read {
        Ok((settings, client_id, groups)) => {
            let new = service::clients::NewClient {
                client_id: client_id.as_deref(),
                settings,
                groups: &groups,
                secret_hash: None,
            };
            service::clients::create(&visit.operator(), new, crate::unix_now()).await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match created {
        Ok((client, secret)) => detail_page(visit, &client, secret, None),
        Err(refused) => with_status(
            list_page(visit, String::new(), typed, Some(refused)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct ClientPage<'a> {
    f: &'a Frame,
    static_prefix: &'a str,
    client: ClientRow,
    secret: Option<String>,
    form: ClientForm,
    is_new: bool,
    form_action: String,
}

/// A client's page: its settings, a secret made just now (once), and the
/// edit form (as typed when it was refused).
fn detail_page(
    mut visit: Visit,
    client: &Client,
    secret: Option<Secret>,
    typed: Option<ClientForm>,
) -> Page {
    if secret.is_some() {
        visit.frame.saved = true;
    }
    let row = ClientRow::of(client);
    let form_action = format!("{}{ADMIN}/clients/{}", visit.frame.prefix, row.path);
    Ok(render(&ClientPage {
        f: &visit.frame,
        static_prefix: visit.static_prefix(),
        client: row,
        secret: secret.map(|s| s.expose().to_owned()),
        form: typed.unwrap_or_else(|| ClientForm::of(client)),
        is_new: false,
        form_action,
    }))
}

/// A client id as one path segment of a link or form action.
pub fn encode(s: &str) -> String {
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
        Ok(client) => detail_page(visit, &client, None, None),
        Err(refused) => with_status(
            list_page(visit, String::new(), ClientForm::blank(), Some(refused)).await,
            StatusCode::NOT_FOUND,
        ),
    }
}

/// `POST /admin/clients/{client_id}`: `update` (the settings, as the API's
/// `PUT` replaces them), `rotate` (the new secret is shown once) or
/// `delete`.
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
        "update" => return update(visit, &client_id, ClientForm::typed(&form), now).await,
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
        Ok(client) => detail_page(visit, &client, secret, None),
        Err(refused) => list_page(visit, String::new(), ClientForm::blank(), Some(refused)).await,
    }
}

/// Replaces the client's settings and groups with the form's. A client
/// that comes to need a secret gets one, shown once.
async fn update(mut visit: Visit, client_id: &str, typed: ClientForm, now: i64) -> Page {
    let client = match service::clients::find(&visit.app.db, client_id).await {
        Ok(client) => client,
        Err(refused) => {
            return with_status(
                list_page(visit, String::new(), ClientForm::blank(), Some(refused)).await,
                StatusCode::NOT_FOUND,
            );
        }
    };
    let read = typed
        .metadata()
        .and_then(|(metadata, _, groups)| Ok((metadata.settings()?, groups)));
    let updated = match read {
        Ok((settings, groups)) => {
            let also = service::clients::Also {
                groups: Some(&groups),
                ..Default::default()
            };
            service::clients::update(&visit.operator(), client.clone(), settings, also, now).await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match updated {
        Ok((_, None)) => Ok(visit.saved(&format!("/clients/{}", encode(client_id)))),
        Ok((client, Some(secret))) => detail_page(visit, &client, Some(secret), None),
        Err(refused) => {
            visit.show_refusal(refused)?;
            with_status(
                detail_page(visit, &client, None, Some(typed)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}
