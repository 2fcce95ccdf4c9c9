//! Authorization endpoint, RFC 6749 §3.1 and OIDC Core §3.1.2. GET reads
//! the query; a POST (often cross-site, which a SameSite=Lax cookie does not
//! accompany) is answered with a 303 to the same request as a GET, so the
//! SSO session cookie is seen. `/authorize/resume` continues a request
//! parked while the user logged in or consented.

use std::sync::{Arc, LazyLock};

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde::Deserialize;

use crate::authorization::{self, Arrival, AuthorizationRequest, Outcome, Parsed, ResponseMode};
use crate::error::ErrorCode;
use crate::form::Params;
use crate::routes::AUTHORIZE;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store::clients::Client;
use crate::ui::{self, Lang, PageError, PageForm, Problem, Texts};

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let prefix = app.config.issuer.path();
    let params = Params::parse(query.unwrap_or_default().as_bytes()).map_err(|_| {
        PageError::new(Problem::BadRequest, "malformed query")
            .in_lang(ui::lang_of(&headers), prefix)
    })?;
    let ui_locales = params.one("ui_locales").ok().flatten();
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::negotiate(ui_locales, accept);
    // An error page is in the request's language (a database error knows
    // none of its own).
    let parsed = authorization::parse(&app, &params, lang, Arrival::Browser).await;
    let (request, client) = match parsed.map_err(|e| e.in_lang(lang, prefix))? {
        Parsed::Valid(request, client) => (request, client),
        Parsed::Refused { response, .. } => return Ok(respond(&app, response, lang)),
    };
    let result = proceed(&app, &session, &request, &client, None, now).await;
    outage_to_client(&app, &request, result).map_err(|e| e.in_lang(lang, prefix))
}

/// RFC 6749 §4.1.2.1: once the client and its redirect URI are trusted, a
/// database outage is the client's to hear (`temporarily_unavailable`; it
/// may try again), not a page the user is left on.
fn outage_to_client(
    app: &App,
    request: &AuthorizationRequest,
    result: Result<Response, PageError>,
) -> Result<Response, PageError> {
    match result {
        Err(e) if e.problem == Problem::Unavailable => {
            let response = authorization::Response::error(
                &request.return_to,
                app.config.issuer.as_str(),
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again shortly",
            );
            Ok(respond(app, response, request.lang))
        }
        other => other,
    }
}

/// A POSTed authorization request becomes a GET of the same request.
pub async fn post(State(app): State<Arc<App>>, PageForm(params): PageForm) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.pairs() {
        query.append_pair(name, value);
    }
    let location = format!("{}{AUTHORIZE}?{}", app.config.issuer.path(), query.finish());
    Redirect::to(&location).into_response()
}

#[derive(Deserialize)]
pub struct Resume {
    rid: String,
}

/// Continues a parked request after a login or a consent.
pub async fn resume(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(Resume { rid }): Query<Resume>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (request, client) = parked_request(&app, &session, &rid, &headers, now).await?;
    let result = proceed(&app, &session, &request, &client, Some(rid), now).await;
    outage_to_client(&app, &request, result)
}

/// A parked request and its client, or the "expired" page.
pub async fn parked_request(
    app: &App,
    session: &BrowserSession,
    rid: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<(AuthorizationRequest, Arc<crate::store::clients::Client>), PageError> {
    let prefix = app.config.issuer.path();
    let expired = || PageError::new(Problem::Expired, "").in_lang(ui::lang_of(headers), prefix);
    let request: AuthorizationRequest = session
        .parked(rid, authorization::PARKED_FOR, now)
        .await?
        .ok_or_else(expired)?;
    let Some((client, _)) = app.clients.get(&app.db, &request.client_id).await? else {
        return Err(
            PageError::new(Problem::UnknownClient, "the client was deleted")
                .in_lang(request.lang, prefix),
        );
    };
    Ok((request, client))
}

/// Decides, then takes the browser to its next step: the answer to the
/// client, or the login or consent page — rendered right away (no extra
/// round trip), with the request parked (or kept parked under `rid`).
pub async fn proceed(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    client: &Client,
    rid: Option<String>,
    now: i64,
) -> Result<Response, PageError> {
    let outcome = authorization::decide(app, session, request, client, now).await?;
    if let Outcome::Respond(response) = outcome {
        if let Some(rid) = rid {
            session.unpark(&rid).await?;
        }
        return Ok(respond(app, response, request.lang));
    }
    let rid = match rid {
        Some(rid) => rid,
        None => session.park(request, now).await?,
    };
    match outcome {
        Outcome::NeedsConsent { user_id } => {
            let user = crate::store::users::find_by_id(&app.db, user_id).await?;
            let username = user.map(|u| u.username).unwrap_or_default();
            ui::consent::page(app, session, request, &rid, client, &username).await
        }
        Outcome::NeedsFactor { user_id, target } => {
            let sid = session.login(now).await?.map(|l| l.sid);
            let step = crate::session::SecondStep {
                user_id,
                rid: rid.clone(),
                sid,
                started_at: now,
                target,
            };
            ui::second_step::start(app, session, request, step).await
        }
        _ => {
            let hint = request.login_hint.as_deref().unwrap_or_default();
            ui::login::page(app, session, request, &rid, &client.name, hint, None).await
        }
    }
}

/// Sends an authorization response to the client's redirect URI, in its
/// response mode.
pub fn respond(app: &App, response: authorization::Response, lang: Lang) -> Response {
    match response.return_to.mode {
        ResponseMode::Query => {
            let Ok(mut url) = url::Url::parse(&response.return_to.redirect_uri) else {
                return PageError::new(Problem::BadRedirectUri, "").into_response();
            };
            // §3.1.2: the query component of a redirect URI "MUST be retained".
            url.query_pairs_mut()
                .extend_pairs(response.params.iter().map(|(k, v)| (*k, v.as_str())));
            Redirect::to(url.as_str()).into_response()
        }
        ResponseMode::FormPost => {
            let page = FormPostPage {
                lang: lang.code(),
                t: lang.texts(),
                static_prefix: app.config.issuer.path(),
                action: &response.return_to.redirect_uri,
                fields: response
                    .params
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect(),
            };
            let mut html = ui::render(&page);
            // The auto-submit script is allowed by its hash, nothing else is.
            if let Ok(csp) = HeaderValue::from_str(&FORM_POST_CSP) {
                html.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            html
        }
    }
}

/// OAuth 2.0 Form Post Response Mode: an auto-submitting form, which
/// without JavaScript is a button.
#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

/// The page's script, exactly as in templates/form_post.html.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

static FORM_POST_CSP: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'sha256-{hash}'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});
