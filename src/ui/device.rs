//! The device verification page (RFC 8628 §3.3): the user, signed in to
//! monban, types the code a device shows, sees which app asks for what, and
//! allows or denies it. Wrong codes are counted per user (§5.1: a code is
//! short, so guessing must be slow).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::account::{SignedInUser, action, start_login};
use super::{Lang, PageError, PagePost, Texts, lang_of, render};
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::consents::Needed;
use crate::routes::DEVICE;
use crate::session::BrowserSession;
use crate::state::App;
use crate::store::clients::Client;
use crate::store::devices::{Decision, DeviceCode};
use crate::store::{self, users::User};
use crate::types::Scopes;
use crate::user_code::{display, normalize};

/// Wrong codes a user may type within `WRONG_WINDOW` seconds.
const MAX_WRONG: i64 = 5;
const WRONG_WINDOW: i64 = 15 * 60;

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    action: String,
    csrf: String,
    username: &'a str,
    user_code: String,
    error: Option<String>,
    confirm: Option<Confirm>,
    done: Option<&'static str>,
}

struct Confirm {
    client_name: String,
    /// What the app may know of the user (OpenID Connect scopes)…
    scopes: Vec<String>,
    /// …and do at each API, as the consent page names them.
    apis: Vec<super::consent::ApiView>,
}

#[derive(Deserialize)]
pub struct Entered {
    user_code: Option<String>,
}

/// The code form, or (with `?user_code=`, from `verification_uri_complete`)
/// the request to confirm.
pub async fn get(
    State(app): State<Arc<App>>,
    SignedInUser { user, session }: SignedInUser,
    headers: HeaderMap,
    Query(Entered { user_code }): Query<Entered>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let view = View::new(&app, &session, &user, lang_of(&headers)).await?;
    match user_code {
        None => Ok(view.entry(String::new(), None)),
        Some(code) => view.look_up(&app, &code, now).await,
    }
}

/// A typed code (→ the request to confirm), or the user's answer.
pub async fn post(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, form) = (&post.session, &post.form);
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, Some(DEVICE.to_owned())).await;
    };
    let view = View::new(&app, session, &user, lang_of(&headers)).await?;
    let typed = form.one("user_code").ok().flatten().unwrap_or_default();
    let approve = match form.one("decision").ok().flatten() {
        None => return view.look_up(&app, typed, now).await,
        Some(decision) => decision == "allow",
    };
    let Some(login) = session.login(now).await? else {
        return start_login(&app, &headers, Some(DEVICE.to_owned())).await;
    };
    // An answer names its code too: it is found (and counted) like one
    // typed to look up, or a guesser would skip the lookup and approve.
    let request = match view.find(&app, typed, now).await? {
        Ok((request, _)) => request,
        Err(page) => return Ok(page),
    };
    let decision = Decision {
        approve,
        user_id: user.id,
        sid: &login.sid,
        auth_time: login.auth_time,
        acr: &login.acr,
        amr: &login.amr,
    };
    let Some((client_id, scope)) =
        store::devices::decide(&app.db, &request.user_code, &decision, now).await?
    else {
        return view.look_up(&app, typed, now).await;
    };
    tracing::info!(user = %user.username, approve, "device authorization answered");
    let kind = if approve {
        Kind::DeviceApproved
    } else {
        Kind::DeviceDenied
    };
    let event = Event::new(kind)
        .by(Actor::User(user.id))
        .user(user.id)
        .client(&client_id)
        .from(&origin)
        .detail(serde_json::json!({"scope": scope}));
    audit::record(&app.db, event, now).await;
    let t = view.lang.texts();
    Ok(view.done(if approve {
        t.device_approved
    } else {
        t.device_denied
    }))
}

/// What every state of the page shares.
struct View<'a> {
    lang: Lang,
    prefix: &'a str,
    csrf: String,
    username: &'a str,
    user_id: uuid::Uuid,
}

impl<'a> View<'a> {
    async fn new(
        app: &'a App,
        session: &BrowserSession,
        user: &'a User,
        lang: Lang,
    ) -> Result<View<'a>, PageError> {
        Ok(View {
            lang,
            prefix: app.config.issuer.path(),
            csrf: session.csrf_token().await?,
            username: &user.username,
            user_id: user.id,
        })
    }

    fn page(
        &self,
        user_code: String,
        error: Option<String>,
        confirm: Option<Confirm>,
        done: Option<&'static str>,
    ) -> Response {
        render(&DevicePage {
            lang: self.lang.code(),
            t: self.lang.texts(),
            static_prefix: self.prefix,
            action: format!("{}{DEVICE}", self.prefix),
            csrf: self.csrf.clone(),
            username: self.username,
            user_code,
            error,
            confirm,
            done,
        })
    }

    fn entry(&self, user_code: String, error: Option<String>) -> Response {
        self.page(user_code, error, None, None)
    }

    fn done(&self, message: &'static str) -> Response {
        self.page(String::new(), None, None, Some(message))
    }

    /// The pending request with this code, to confirm; or the form again.
    async fn look_up(&self, app: &App, typed: &str, now: i64) -> Result<Response, PageError> {
        let (request, client) = match self.find(app, typed, now).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
        let t = self.lang.texts();
        let scope = Scopes::parse(&request.scope).unwrap_or_default();
        let apis = app.apis.current(&app.db).await?;
        let needed = Needed::of(
            &scope,
            &request.audiences.0,
            &apis,
            app.config.issuer.as_str(),
        );
        let confirm = Confirm {
            client_name: client.name.clone(),
            scopes: super::consent::shown_identity(&needed, t),
            apis: super::consent::api_views(&needed, &apis, t),
        };
        Ok(self.page(display(&request.user_code), None, Some(confirm), None))
    }

    /// The pending request with this code and its client; or the form again,
    /// with an error. §5.1: user codes are short, so every code a user
    /// types counts as a wrong one until it is found (`throttle::reserve`:
    /// counted and checked in one step, parallel guesses included), and
    /// past `MAX_WRONG` in `WRONG_WINDOW` none is looked up.
    async fn find(
        &self,
        app: &App,
        typed: &str,
        now: i64,
    ) -> Result<Result<(DeviceCode, Arc<Client>), Response>, PageError> {
        let t = self.lang.texts();
        let subject = format!("device:{}", self.user_id);
        let since = now - WRONG_WINDOW;
        if let Err(window_start) =
            store::throttle::reserve(&app.db, &subject, now, since, MAX_WRONG).await?
        {
            let minutes = ((window_start + WRONG_WINDOW - now) / 60).max(1);
            let message = t.device_throttled.replace("{n}", &minutes.to_string());
            return Ok(Err(self.entry(typed.to_owned(), Some(message))));
        }
        let code = normalize(typed);
        let found = store::devices::pending_by_user_code(&app.db, &code, now).await?;
        let client = match &found {
            Some(request) => app.clients.get(&app.db, &request.client_id).await?,
            None => None,
        };
        let (Some(request), Some((client, _))) = (found, client) else {
            return Ok(Err(
                self.entry(typed.to_owned(), Some(t.device_unknown.to_owned()))
            ));
        };
        store::throttle::release(&app.db, &subject).await?;
        Ok(Ok((request, client)))
    }
}
