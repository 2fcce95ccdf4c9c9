//! Logout: RP-Initiated Logout 1.0 (`end_session_endpoint`) and its
//! confirmation (`/logout`). It ends the SSO session for every client, then
//! returns to the client's registered `post_logout_redirect_uri` — or, for
//! anything not registered exactly, shows monban's "signed out" page and
//! never redirects.

use std::sync::Arc;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::form::Params;
use crate::id_token;
use crate::routes::{self, END_SESSION};
use crate::session::BrowserSession;
use crate::state::App;
use crate::store;
use crate::ui::logout::{AfterLogout, finish};
use crate::ui::{self, Lang, PageError, PageForm, PagePost, Problem};

pub async fn get(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let prefix = app.config.issuer.path();
    let bad = |detail: &str| {
        PageError::new(Problem::BadRequest, detail).in_lang(ui::lang_of(&headers), prefix)
    };
    let mut params =
        Params::parse(query.unwrap_or_default().as_bytes()).map_err(|_| bad("malformed query"))?;
    // A POSTed request, parked by `post`.
    if let Some(id) = params.one(PARKED).map_err(|_| bad("repeated parameter"))? {
        let parked = store::logouts::take(&app.db, id, now).await?;
        params = Params::from_pairs(parked.ok_or_else(|| bad("the logout request has expired"))?);
    }
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|_| bad(&format!("{name} is repeated")))
    };
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::negotiate(one("ui_locales")?, accept);
    let keys = app.keys.get();
    let hint = one("id_token_hint")?
        .and_then(|t| id_token::read_hint(&keys, app.config.issuer.as_str(), t));
    let client_id = match (one("client_id")?, hint.as_ref().and_then(|h| h.client_id())) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad("client_id does not match the id_token_hint"));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let requested = one("post_logout_redirect_uri")?;
    let mut redirect_uri = None;
    if let (Some(uri), Some(client_id)) = (requested, &client_id)
        && let Some((client, _)) = app.clients.get(&app.db, client_id).await?
        && client.post_logout_redirect_uris.iter().any(|r| r == uri)
    {
        redirect_uri = Some(uri.to_owned());
    }
    if requested.is_some() && redirect_uri.is_none() {
        tracing::info!(client_id = ?client_id, "post_logout_redirect_uri not registered: not redirecting");
    }
    let after = AfterLogout {
        redirect_uri,
        state: one("state")?.map(str::to_owned),
        lang,
    };

    let login = session.login(now).await?;
    match (&login, &hint) {
        // The RP vouches, with an ID token of this very session: no question.
        (Some(login), Some(hint))
            if hint.sid.as_deref() == Some(login.sid.as_str())
                || hint.sub == login.user_id.to_string() =>
        {
            crate::service::sessions::sign_out(&app, &session, &login.sid, now).await?;
            Ok(finish(&app, &after))
        }
        // Someone is signed in here: ask before signing them out.
        (Some(_), _) => {
            let rid = session.park(&after, now).await?;
            Ok(Redirect::to(&format!("{prefix}{}?rid={rid}", routes::LOGOUT)).into_response())
        }
        // No session cookie (e.g. it did not come along): the hint's sid
        // names the session to end.
        (None, Some(hint)) => {
            if let Some(sid) = &hint.sid {
                let ended = store::sessions::end(&app.db, sid, now).await?;
                crate::service::sessions::sessions_ended(&app, ended, now).await;
            }
            Ok(finish(&app, &after))
        }
        (None, None) => Ok(finish(&app, &after)),
    }
}

/// The query parameter naming a parked POSTed logout request.
const PARKED: &str = "logout_request";
/// How long a POSTed logout request waits for the browser's GET.
const PARKED_FOR: i64 = 120;

/// A POSTed logout request (often cross-site, which a SameSite=Lax cookie
/// does not accompany) is parked server-side, and the browser is sent to
/// GET it back with its session cookie; the `id_token_hint` stays out of
/// URLs and logs.
pub async fn post(
    State(app): State<Arc<App>>,
    PageForm(params): PageForm,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let id = crate::tokens::new_jti();
    let pairs: Vec<(String, String)> = params
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    store::logouts::park(&app.db, &id, &pairs, now + PARKED_FOR).await?;
    let location = format!("{}{END_SESSION}?{PARKED}={id}", app.config.issuer.path());
    Ok(Redirect::to(&location).into_response())
}

#[derive(Deserialize)]
pub struct Gateway {
    rd: Option<String>,
}

/// How long a logout request waits for its confirmation.
const CONFIRM_WITHIN: i64 = 30 * 60;

#[derive(Deserialize)]
pub struct ConfirmRid {
    rid: Option<String>,
    /// A gateway sign-out (see `gateway`): where to return.
    rd: Option<String>,
}

/// `GET /logout?rid=`: asks whether to sign out. `GET /logout?rd=`: a
/// gateway sign-out.
pub async fn confirm(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(ConfirmRid { rid, rd }): Query<ConfirmRid>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let rid = match (rid, rd) {
        (Some(rid), _) => rid,
        (None, Some(rd)) => {
            let get = axum::http::Method::GET;
            return super::gateway::sign_out(&app, &session, &headers, &get, &rd).await;
        }
        (None, None) => {
            return Err(PageError::new(Problem::BadRequest, "rid is missing")
                .in_lang(ui::lang_of(&headers), app.config.issuer.path()));
        }
    };
    let after = parked_logout(&app, &session, &rid, &headers, now).await?;
    let Some(login) = session.login(now).await? else {
        return Ok(finish(&app, &after));
    };
    let username = store::users::find_by_id(&app.db, login.user_id)
        .await?
        .map(|u| u.username);
    let csrf = session.csrf_token().await?;
    Ok(ui::logout::confirmation(
        &app, after.lang, csrf, &rid, username,
    ))
}

/// `POST /logout`: the answer. `POST /logout?rd=`: a gateway sign-out (a
/// form of an app; the CSRF layer lets it through for `gateway` to check).
pub async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(Gateway { rd }): Query<Gateway>,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let session = &post.session;
    if let Some(rd) = rd {
        let post = axum::http::Method::POST;
        return super::gateway::sign_out(&app, session, &headers, &post, &rd).await;
    }
    let rid = post.required("rid")?;
    let after = parked_logout(&app, session, rid, &headers, now).await?;
    post.check_csrf(after.lang).await?;
    match post.field("decision")? {
        Some("logout") => {
            if let Some(login) = session.login(now).await? {
                crate::service::sessions::sign_out(&app, session, &login.sid, now).await?;
            }
            Ok(finish(&app, &after))
        }
        Some("stay") => {
            session.unpark(rid).await?;
            let account = format!("{}{}", app.config.issuer.path(), routes::ACCOUNT);
            Ok(Redirect::to(&account).into_response())
        }
        _ => Err(post.bad("decision must be logout or stay")),
    }
}

async fn parked_logout(
    app: &App,
    session: &BrowserSession,
    rid: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<AfterLogout, PageError> {
    session
        .parked(rid, CONFIRM_WITHIN, now)
        .await?
        .ok_or_else(|| {
            PageError::new(Problem::Expired, "")
                .in_lang(ui::lang_of(headers), app.config.issuer.path())
        })
}
