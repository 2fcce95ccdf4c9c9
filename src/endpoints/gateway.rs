//! The gateway's sign-in and sign-out (apps without OIDC behind a
//! forward-auth gateway, see `gateway_session`):
//! - `GET /login?rd=URL[&acr=mfa]`: a browser `/forward_auth` sent to sign
//!   in. Signed in (at the level asked) it gets a new gateway cookie and goes
//!   back to `URL`; otherwise it signs in (or steps up) through monban's own
//!   authorization endpoint, as monban's pages do, and comes back here.
//! - `GET|POST /logout?rd=URL`: ends the SSO session — and with it the
//!   gateway cookie on every app — then back to `URL`. Asked from a site
//!   that is neither monban nor a gateway app, it asks first.
//!
//! `URL` must be on a host under `MONBAN_GATEWAY_COOKIE_DOMAIN` or listed in
//! `MONBAN_GATEWAY_DOMAINS`: no open redirect.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::gateway_session;
use crate::mfa::Level;
use crate::routes;
use crate::session::BrowserSession;
use crate::state::App;
use crate::ui::logout::{AfterLogout, finish};
use crate::ui::{self, Lang, PageError, Problem};

/// The longest way back a sign-in carries (see `sign_in`).
const MAX_THEN: usize = 2400;

/// `GET /login?rd=`: back to `rd` with a gateway cookie, once signed in at
/// `acr` or above. `tried`: the sign-in just happened, so a level still
/// short is an error rather than another round.
pub async fn sign_in(
    app: &App,
    session: &BrowserSession,
    headers: &HeaderMap,
    rd: &str,
    acr: Option<&str>,
    tried: bool,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let lang = ui::lang_of(headers);
    let target = return_target(app, rd, lang)?;
    let needed = match acr {
        None => Level::Password,
        Some(raw) => {
            Level::of_acr(raw).ok_or_else(|| bad(app, lang, "acr must be 1, mfa or phr"))?
        }
    };
    if let Some(login) = session.login(now).await?
        && login.level() >= needed
    {
        // A new token each time: a session that stepped up is read afresh
        // by every instance, none answering from what it cached before.
        let token = gateway_session::issue(&app.db, &login.sid, login.user_id, now).await?;
        let replaced: Vec<&str> = gateway_session::tokens_of(headers).collect();
        for old in replaced {
            gateway_session::withdraw(&app.db, old).await?;
        }
        let mut response = Redirect::to(target.as_str()).into_response();
        if let Some(cookie) =
            gateway_session::cookie(&app.config, token.expose(), login.ends_at - now)
        {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        tracing::info!(sid = %login.sid, host = target.host_str().unwrap_or_default(), "gateway session cookie set");
        return Ok(response);
    }
    if tried {
        return Err(bad(
            app,
            lang,
            &format!(
                "the sign-in did not reach acr {}, which the page needs",
                needed.acr()
            ),
        ));
    }
    let step_up = (needed > Level::Password).then_some(needed);
    let then = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("rd", target.as_str());
        if let Some(level) = step_up {
            query.append_pair("acr", level.acr());
        }
        query.append_pair("tried", "1");
        format!("{}?{}", routes::LOGIN, query.finish())
    };
    // It travels in the sign-in's flow cookie (base64 of JSON), which must
    // stay under browsers' 4 KiB.
    if then.len() > MAX_THEN {
        return Err(
            PageError::new(Problem::BadReturnTarget, "rd is too long to return to")
                .in_lang(lang, app.config.issuer.path()),
        );
    }
    ui::account::start_login_at(app, headers, then, step_up).await
}

/// `GET|POST /logout?rd=`: signs the browser out of monban and of every
/// app behind the gateway, then back to `rd`.
pub async fn sign_out(
    app: &App,
    session: &BrowserSession,
    headers: &HeaderMap,
    method: &axum::http::Method,
    rd: &str,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let lang = ui::lang_of(headers);
    let target = return_target(app, rd, lang)?;
    let after = AfterLogout {
        redirect_uri: Some(target.to_string()),
        state: None,
        lang,
    };
    let login = session.login(now).await?;
    if !sent_by_our_sites(app, headers, method) {
        // Another site sent the browser here: the user is asked first;
        // nothing is signed out (nor any cookie removed) unasked.
        if login.is_some() {
            let rid = session.park(&after, now).await?;
            let confirm = format!("{}{}?rid={rid}", app.config.issuer.path(), routes::LOGOUT);
            return Ok(Redirect::to(&confirm).into_response());
        }
        return Ok(Redirect::to(target.as_str()).into_response());
    }
    // The session of this browser, and those its gateway cookies are bound
    // to (monban's own cookie may have expired or stayed behind; a planted
    // one ends too, rather than be chosen over the browser's).
    let mut sids: Vec<String> = login.map(|l| l.sid).into_iter().collect();
    let tokens: Vec<&str> = gateway_session::tokens_of(headers).collect();
    for token in tokens {
        let idle_ttl = app.config.session_idle_ttl;
        if let Some(found) = app
            .gateway_sessions
            .find(&app.db, token, idle_ttl, now)
            .await?
            && !sids.contains(&found.sid)
        {
            sids.push(found.sid.clone());
        }
    }
    for sid in &sids {
        crate::service::sessions::sign_out(app, session, sid, now).await?;
    }
    Ok(finish(app, &after))
}

/// Whether the user asked to sign out on monban or a gateway app (CSRF):
/// a top-level navigation or a form of one of those sites, by Fetch
/// Metadata (W3C) and `Origin`. An image or script of another page, a
/// link of another site, or a browser that says neither is asked first.
fn sent_by_our_sites(app: &App, headers: &HeaderMap, method: &axum::http::Method) -> bool {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let ours = |origin: &str| {
        origin == app.config.issuer.origin()
            || gateway_session::return_target(&app.config, &format!("{origin}/")).is_some()
    };
    let origin_ok = value("origin").is_none_or(ours);
    // A page of the browser's own, not a frame or a subresource.
    let navigation =
        value("sec-fetch-mode") == Some("navigate") && value("sec-fetch-dest") == Some("document");
    // Another host of the same site need not be one of ours (the cookie
    // domain may be a sub-zone): its Referer must name one of ours, as a
    // navigation sends no Origin.
    let referer_ours = value("referer")
        .and_then(|r| url::Url::parse(r).ok())
        .is_some_and(|r| ours(&r.origin().ascii_serialization()));
    match value("sec-fetch-site") {
        Some("none" | "same-origin") => origin_ok && navigation,
        Some("same-site") => origin_ok && navigation && referer_ours,
        Some(_) => false,
        // No Fetch Metadata (an old browser, or plain http): a form's
        // Origin must name one of ours; a GET cannot tell, so it asks.
        None => *method == axum::http::Method::POST && value("origin").is_some_and(ours),
    }
}

fn return_target(app: &App, rd: &str, lang: Lang) -> Result<url::Url, PageError> {
    gateway_session::return_target(&app.config, rd).ok_or_else(|| {
        tracing::info!(
            rd,
            "gateway: refused a return target outside the gateway domains"
        );
        PageError::new(Problem::BadReturnTarget, "rd is not on a gateway domain")
            .in_lang(lang, app.config.issuer.path())
    })
}

fn bad(app: &App, lang: Lang, detail: &str) -> PageError {
    PageError::new(Problem::BadRequest, detail).in_lang(lang, app.config.issuer.path())
}
