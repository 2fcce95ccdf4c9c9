//! The consent page: what a client asks of a logged-in user, described in
//! the page's language (its handlers: `endpoints::consent`).

use askama::Template;
use axum::response::Response;

use super::{PageError, Texts, render};
use crate::authorization::{self, AuthorizationRequest};
use crate::consents::Needed;
use crate::routes::CONSENT;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store::clients::Client;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    rid: &'a str,
    client_name: &'a str,
    username: &'a str,
    /// What the app may know of the user (OpenID Connect scopes).
    scopes: Vec<String>,
    /// What it may do at each API.
    apis: Vec<ApiView>,
}

/// An API the app asks access to: its name (or identifier) and scopes.
pub struct ApiView {
    pub name: String,
    /// Shown beside the name, when there is one.
    pub identifier: Option<String>,
    /// What it may do there; nothing named: access as the user.
    pub scopes: Vec<String>,
}

/// What the app may know of the user; a request that names nothing still
/// tells the app who signed in, and says so.
pub fn shown_identity(needed: &Needed, t: &Texts) -> Vec<String> {
    if needed.identity.is_empty() && needed.apis.is_empty() {
        return vec![t.scope("openid")];
    }
    needed.identity.iter().map(|s| t.scope(s)).collect()
}

/// The APIs of `needed` as a consent page names them (`apis` for their
/// names), with each one's scopes described in the page's language.
pub fn api_views(needed: &Needed, apis: &crate::apis::Apis, t: &Texts) -> Vec<ApiView> {
    needed
        .apis
        .iter()
        .map(|(aud, scopes)| {
            let name = apis.get(aud).and_then(|api| api.name.clone());
            let mut described: Vec<String> = scopes.iter().map(|s| t.scope(s)).collect();
            if described.is_empty() {
                described.push(t.consent_api_access.to_owned());
            }
            ApiView {
                identifier: name.is_some().then(|| aud.clone()),
                name: name.unwrap_or_else(|| aud.clone()),
                scopes: described,
            }
        })
        .collect()
}

/// The consent page for a parked request.
pub async fn page(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    rid: &str,
    client: &Client,
    username: &str,
) -> Result<Response, PageError> {
    let prefix = app.config.issuer.path();
    let t = request.lang.texts();
    let apis = app.apis.current(&app.db).await?;
    let needed = Needed::of(
        &authorization::consent_scopes(request),
        &request.audience,
        &apis,
        app.config.issuer.as_str(),
    );
    let view = ConsentPage {
        lang: request.lang.code(),
        t,
        static_prefix: prefix,
        action: format!("{prefix}{CONSENT}"),
        csrf: session.csrf_token().await?,
        rid,
        client_name: &client.name,
        username,
        scopes: shown_identity(&needed, t),
        apis: api_views(&needed, &apis, t),
    };
    Ok(render(&view))
}
