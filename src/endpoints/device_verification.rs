//! Device approval (RFC 8628 §3.3): the user, signed in to monban, types
//! the code a device shows, sees which app asks for what, and allows or
//! denies it. Wrong codes are counted per user (§5.1: a code is short, so
//! guessing must be slow). `ui::device` renders each step.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::consents::Needed;
use crate::mfa::level::Asked;
use crate::routes::DEVICE;
use crate::sign_in::{self, Next};
use crate::state::App;
use crate::store;
use crate::store::clients::Client;
use crate::store::devices::{Decision, DeviceCode};
use crate::types::Scopes;
use crate::ui::account::{SignedInUser, action, start_login, start_login_with_second_factor};
use crate::ui::device::View;
use crate::ui::{PageError, PagePost, lang_of};
use crate::user_code::normalize;

/// Wrong codes a user may type within `WRONG_WINDOW` seconds.
const MAX_WRONG: i64 = 5;
const WRONG_WINDOW: i64 = 15 * 60;

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
        Some(code) => confirm(&app, &view, user.id, &code, now).await,
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
    let session = &post.session;
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, Some(DEVICE.to_owned())).await;
    };
    let view = View::new(&app, session, &user, lang_of(&headers)).await?;
    let typed = post.field("user_code")?.unwrap_or_default();
    let approve = match post.field("decision")? {
        None => return confirm(&app, &view, user.id, typed, now).await,
        Some(decision) => decision == "allow",
    };
    let Some(login) = session.login(now).await? else {
        return start_login(&app, &headers, Some(DEVICE.to_owned())).await;
    };
    // An answer names its code too: it is found (and counted) like one
    // typed to look up, or a guesser would skip the lookup and approve.
    let (request, client) = match find(&app, user.id, typed, now).await? {
        Lookup::Found(request, client) => (request, client),
        other => return Ok(other.page(&view, typed)),
    };
    // The device's app may require a second factor this session has not
    // given: it steps up first (or, without one set up, cannot approve).
    if approve {
        let asked = Asked::default();
        match sign_in::next(&app, &client, &asked, user.id, login.level(), false).await? {
            Next::Done => {}
            Next::SecondFactor { .. } => {
                let then = format!("{DEVICE}?user_code={}", urlencode(&request.user_code));
                return start_login_with_second_factor(&app, &headers, Some(then)).await;
            }
            Next::Enrol | Next::Unmet => {
                let message = view.lang.texts().device_needs_mfa.to_owned();
                return Ok(view.entry(typed.to_owned(), Some(message)));
            }
        }
    }
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
        // Answered meanwhile (or expired): the page says what is left.
        return confirm(&app, &view, user.id, typed, now).await;
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

/// The pending request with this code, to confirm; or the form again.
async fn confirm(
    app: &App,
    view: &View<'_>,
    user_id: uuid::Uuid,
    typed: &str,
    now: i64,
) -> Result<Response, PageError> {
    let (request, client) = match find(app, user_id, typed, now).await? {
        Lookup::Found(request, client) => (*request, client),
        other => return Ok(other.page(view, typed)),
    };
    let scope = Scopes::parse(&request.scope).unwrap_or_default();
    let apis = app.apis.current(&app.db).await?;
    let needed = Needed::of(
        &scope,
        &request.audiences.0,
        &apis,
        app.config.issuer.as_str(),
    );
    Ok(view.confirm(&request.user_code, &client.name, &needed, &apis))
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// What a typed code finds.
enum Lookup {
    /// Boxed: a request is large beside the other answers.
    Found(Box<DeviceCode>, Arc<Client>),
    /// Too many wrong codes: none is looked up for this many minutes.
    Throttled { minutes: i64 },
    /// No pending request has this code.
    Unknown,
}

impl Lookup {
    /// The code form again, saying why nothing was found (a found request
    /// has its own page: `confirm`, or the answer).
    fn page(self, view: &View<'_>, typed: &str) -> Response {
        match self {
            Lookup::Throttled { minutes } => view.throttled(typed, minutes),
            Lookup::Found(..) | Lookup::Unknown => view.unknown(typed),
        }
    }
}

/// The pending request with this code and its client. §5.1: user codes are
/// short, so every code a user types counts as a wrong one until it is
/// found (`throttle::reserve`: counted and checked in one step, parallel
/// guesses included), and past `MAX_WRONG` in `WRONG_WINDOW` none is looked
/// up.
async fn find(app: &App, user_id: uuid::Uuid, typed: &str, now: i64) -> Result<Lookup, PageError> {
    let subject = format!("device:{user_id}");
    let since = now - WRONG_WINDOW;
    if let Err(window_start) =
        store::throttle::reserve(&app.db, &subject, now, since, MAX_WRONG).await?
    {
        let minutes = ((window_start + WRONG_WINDOW - now) / 60).max(1);
        return Ok(Lookup::Throttled { minutes });
    }
    let code = normalize(typed);
    let found = store::devices::pending_by_user_code(&app.db, &code, now).await?;
    let client = match &found {
        Some(request) => app.clients.get(&app.db, &request.client_id).await?,
        None => None,
    };
    let (Some(request), Some((client, _))) = (found, client) else {
        return Ok(Lookup::Unknown);
    };
    store::throttle::release(&app.db, &subject).await?;
    Ok(Lookup::Found(Box::new(request), client))
}
