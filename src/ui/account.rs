//! `/account`: who am I, where am I signed in (with "sign out everywhere"),
//! which apps I allowed (revocable), and a password change. The page is
//! itself an OpenID Connect client of monban (`monban-account`, code +
//! PKCE): it signs in through `/authorize` like any other app, and redeems
//! its code in-process.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Lang, PageError, PagePost, Problem, Texts, lang_of, render};
use crate::audit::{Actor, Origin};
use crate::authn;
use crate::clients::ACCOUNT_CLIENT_ID;
use crate::grants::authorization_code;
use crate::password;
use crate::pkce;
use crate::routes::{self, ACCOUNT, ACCOUNT_CALLBACK};
use crate::service::{self, Operator, Refused, RunsIn, Via};
use crate::session::BrowserSession;
use crate::state::App;
use crate::store::{self, clients::Client, users::User};
use crate::types::Secret;
use crate::{id_token, keys, tokens};

/// The cookie that carries the account page's own login while it is in
/// progress (not the session: a visit without one then writes nothing).
const FLOW_COOKIE: &str = "monban_account_flow";
const SIGNED_IN: &str = "account";

/// The account page's own login, in progress: in its cookie, HttpOnly and
/// bound to this browser, which is what `state` is for (RFC 6749 §10.12).
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    /// Where to go once signed in: a path on monban (default: /account).
    #[serde(default)]
    then: Option<String>,
}

/// The account page's login: who, in which SSO session.
#[derive(Serialize, Deserialize)]
struct SignedIn {
    user_id: Uuid,
    sid: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    lang: &'static str,
    t: &'static Texts,
    static_prefix: &'a str,
    prefix: &'a str,
    csrf: String,
    username: &'a str,
    name: Option<&'a str>,
    email: Option<&'a str>,
    groups: Vec<String>,
    sessions: Vec<SessionView>,
    consents: Vec<ConsentView>,
    message: Option<&'static str>,
    error: Option<String>,
    min_length: usize,
    /// Second factors can be set up (`MONBAN_MFA` is not `off`).
    mfa_on: bool,
    factors: FactorsView,
}

struct FactorsView {
    /// When the authenticator app was set up, and last used.
    totp: Option<(String, String)>,
    passkeys: Vec<PasskeyRow>,
    recovery_codes_left: i64,
    /// Passkeys can be added (the issuer has a domain name).
    passkeys_on: bool,
}

struct PasskeyRow {
    id: String,
    name: String,
    synced: bool,
    added: String,
    used: String,
}

struct SessionView {
    current: bool,
    /// As a person would say it: "Chrome 156 on Linux".
    browser: String,
    /// The user agent as the browser sent it (shown on hover).
    user_agent: String,
    address: String,
    signed_in: String,
    ends: String,
    /// The names of the apps signed in through it.
    apps: Vec<String>,
}

struct ConsentView {
    client_id: String,
    client_name: String,
    scopes: String,
    /// A first-party app: used, never asked about.
    first_party: bool,
    /// It holds a consent or a refresh token to withdraw.
    revocable: bool,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn get(
    State(app): State<Arc<App>>,
    SignedInUser { user, session }: SignedInUser,
    headers: HeaderMap,
    Query(Done { done }): Query<Done>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let lang = lang_of(&headers);
    let message = match done.as_deref() {
        Some("password") => Some(lang.texts().password_changed),
        Some("revoked") => Some(lang.texts().consent_revoked),
        Some("mfa") => Some(lang.texts().mfa_enrolled),
        Some("mfa_removed") => Some(lang.texts().mfa_removed),
        Some("passkey") => Some(lang.texts().passkey_added),
        Some("passkey_removed") => Some(lang.texts().passkey_removed),
        _ => None,
    };
    page(&app, &session, &user, lang, message, None, now).await
}

/// The person signed in to monban's own pages (account, device, admin)
/// while their SSO session lasts. Otherwise the browser is sent to sign in
/// and comes back to the page it asked for: take it on routes whose path
/// is a page (an account action's POST checks its form first, `action`).
pub struct SignedInUser {
    pub user: User,
    pub session: BrowserSession,
}

impl FromRequestParts<Arc<App>> for SignedInUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<SignedInUser, Response> {
        let session = BrowserSession::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let now = crate::unix_now();
        match signed_in_user(app, &session, now).await {
            Ok(Some(user)) => Ok(SignedInUser { user, session }),
            Ok(None) => {
                // A page's own address, below the issuer (a GET keeps its
                // query: the device page's user_code).
                let page = if parts.method == Method::GET {
                    parts.uri.path_and_query().map(|p| p.as_str())
                } else {
                    Some(parts.uri.path())
                };
                let then = page.map(str::to_owned);
                Err(start_login(app, &parts.headers, then).await.into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The user the account page signed in, while their SSO session lasts.
pub async fn signed_in_user(
    app: &App,
    session: &BrowserSession,
    now: i64,
) -> Result<Option<User>, PageError> {
    let (Some(login), Some(signed_in)) = (
        session.login(now).await?,
        session.inner.get::<SignedIn>(SIGNED_IN).await?,
    ) else {
        return Ok(None);
    };
    if login.sid != signed_in.sid || login.user_id != signed_in.user_id {
        return Ok(None);
    }
    Ok(store::users::find_by_id(&app.db, login.user_id)
        .await?
        .filter(|u| !u.disabled))
}

/// Signs monban's own pages (account, device) in through monban's own
/// authorization endpoint; `then` is the page to return to (a path under
/// the issuer, never another site).
pub async fn start_login(
    app: &App,
    headers: &HeaderMap,
    then: Option<String>,
) -> Result<Response, PageError> {
    sign_in_via_authorize(app, headers, then, None).await
}

/// As `start_login`, asking for a sign-in with a second factor
/// (`acr_values=mfa`): a session of a password alone steps up.
pub async fn start_login_with_second_factor(
    app: &App,
    headers: &HeaderMap,
    then: Option<String>,
) -> Result<Response, PageError> {
    sign_in_via_authorize(app, headers, then, Some(crate::mfa::Level::Mfa.acr())).await
}

/// As `start_login`, for a path with a query (a gateway sign-in's), asking
/// for `level` where one is given.
pub async fn start_login_at(
    app: &App,
    headers: &HeaderMap,
    then: String,
    level: Option<crate::mfa::Level>,
) -> Result<Response, PageError> {
    sign_in_via_authorize(app, headers, Some(then), level.map(crate::mfa::Level::acr)).await
}

async fn sign_in_via_authorize(
    app: &App,
    headers: &HeaderMap,
    then: Option<String>,
    acr_values: Option<&str>,
) -> Result<Response, PageError> {
    let flow = Flow {
        state: tokens::new_jti(),
        nonce: tokens::new_jti(),
        verifier: pkce::new_verifier(),
        then: then.filter(|t| is_local_path(t)),
    };
    let lang = lang_of(headers);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(acr) = acr_values {
        query.append_pair("acr_values", acr);
    }
    let query = query
        .append_pair("response_type", "code")
        .append_pair("client_id", ACCOUNT_CLIENT_ID)
        .append_pair("redirect_uri", &callback_uri(app))
        .append_pair("scope", "openid profile email groups")
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &pkce::s256(&flow.verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("ui_locales", lang.code())
        .finish();
    let location = format!(
        "{}{}?{}",
        app.config.issuer.path(),
        routes::AUTHORIZE,
        query
    );
    let mut response = Redirect::to(&location).into_response();
    set_flow_cookie(app, &mut response, Some(&flow));
    Ok(response)
}

/// Sets (or, without a flow, removes) the flow cookie: only the callback
/// path sees it, for as long as an authorization request may wait.
fn set_flow_cookie(app: &App, response: &mut Response, flow: Option<&Flow>) {
    use base64::Engine;
    use tower_sessions::cookie::{Cookie, SameSite, time::Duration};
    let value = flow
        .and_then(|f| serde_json::to_vec(f).ok())
        .map(|json| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
        .unwrap_or_default();
    let max_age = if flow.is_some() {
        crate::authorization::PARKED_FOR
    } else {
        0
    };
    let cookie = Cookie::build((FLOW_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config.issuer.as_str().starts_with("https://"))
        .path(format!("{}{ACCOUNT_CALLBACK}", app.config.issuer.path()))
        .max_age(Duration::seconds(max_age))
        .build();
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie.to_string()) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
}

/// The flow this browser started, from its cookie.
fn flow_of(headers: &HeaderMap) -> Option<Flow> {
    use base64::Engine;
    let cookies = headers.get_all(axum::http::header::COOKIE);
    let value = cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == FLOW_COOKIE).then_some(value))?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    let flow: Flow = serde_json::from_slice(&json).ok()?;
    // The cookie is the browser's to change: `then` is checked again.
    Some(Flow {
        then: flow.then.filter(|t| is_local_path(t)),
        ..flow
    })
}

/// A path on monban, never another site: `//host` is one, and browsers
/// drop tabs and newlines (`/\t/host`) and read `\` as `/`.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

pub fn callback_uri(app: &App) -> String {
    app.config.issuer.endpoint(ACCOUNT_CALLBACK)
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// The account page's redirect URI: checks `state` and `iss` (RFC 9207),
/// redeems the code with its PKCE verifier, checks the ID token's nonce.
pub async fn callback(
    State(app): State<Arc<App>>,
    session: BrowserSession,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let lang = lang_of(&headers);
    let prefix = app.config.issuer.path();
    let failed = |detail: &str| PageError::new(Problem::BadRequest, detail).in_lang(lang, prefix);
    let Some(flow) = flow_of(&headers).filter(|f| {
        callback
            .state
            .as_deref()
            .is_some_and(|state| bool::from(state.as_bytes().ct_eq(f.state.as_bytes())))
    }) else {
        return Err(failed("state does not match a login started here"));
    };
    if callback.iss.as_deref() != Some(app.config.issuer.as_str()) {
        return Err(failed("iss does not name this server"));
    }
    if let Some(error) = callback.error {
        return Err(failed(&error));
    }
    let code = callback.code.ok_or_else(|| failed("code is missing"))?;
    let Some((client, _)) = app.clients.get(&app.db, ACCOUNT_CLIENT_ID).await? else {
        return Err(
            PageError::new(Problem::UnknownClient, "the account client is missing")
                .in_lang(lang, prefix),
        );
    };
    let tokens = authorization_code::redeem(
        &app,
        &client,
        &code,
        Some(&callback_uri(&app)),
        Some(&flow.verifier),
        None,
        now,
    )
    .await
    .map_err(|e| failed(e.description()))?;
    let keys = app.keys.get();
    let verified = tokens
        .id_token
        .as_deref()
        .and_then(|t| {
            id_token::verify(&keys, app.config.issuer.as_str(), ACCOUNT_CLIENT_ID, t, now)
        })
        .filter(|v| v.nonce.as_deref() == Some(flow.nonce.as_str()))
        .ok_or_else(|| failed("the ID token did not verify"))?;
    let (Ok(user_id), Some(sid)) = (verified.sub.parse::<Uuid>(), verified.sid) else {
        return Err(failed("the ID token has no usable subject or session"));
    };
    let signed_in = SignedIn { user_id, sid };
    session.inner.insert(SIGNED_IN, &signed_in).await?;
    let then = flow.then.unwrap_or_else(|| ACCOUNT.to_owned());
    let mut response = Redirect::to(&format!("{prefix}{then}")).into_response();
    set_flow_cookie(&app, &mut response, None);
    Ok(response)
}

/// The signed-in user of an account action, its CSRF token checked.
pub async fn action(app: &App, post: &PagePost, now: i64) -> Result<Option<User>, PageError> {
    post.check_csrf(post.lang).await?;
    signed_in_user(app, &post.session, now).await
}

pub async fn change_password(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let (session, form) = (&post.session, &post.form);
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, None).await;
    };
    let lang = lang_of(&headers);
    let t = lang.texts();
    let field = |name: &str| form.one(name).ok().flatten().unwrap_or_default().to_owned();
    let (current, new, confirm) = (
        Secret::new(field("current")),
        field("new"),
        field("confirm"),
    );
    // The current password is checked like a login, throttling included:
    // a borrowed session cookie does not open a way around the lockout.
    let checked = authn::check(&app, &user.username, &current, &origin, now)
        .await
        .map_err(PageError::from)?;
    let error = if let Err(refused) = checked {
        Some(super::login::refusal(t, &refused, t.password_wrong))
    } else if new != confirm {
        Some(t.password_mismatch.to_owned())
    } else if password::check_policy(&new).is_err() {
        Some(
            t.password_too_short
                .replace("{n}", &password::MIN_LENGTH.to_string()),
        )
    } else {
        None
    };
    if error.is_some() {
        return page(&app, session, &user, lang, None, error, now).await;
    }
    let hash = app
        .passwords
        .hash(&Secret::new(new))
        .await
        .map_err(|e| PageError::server(&e))?;
    // Whoever else is signed in with the old password is signed out.
    let login = session.login(now).await?;
    let operator = yourself(&app, user.id, &origin);
    let sid = login.as_ref().map(|l| l.sid.as_str());
    service::users::change_own_password(&operator, &user, &hash, sid, now).await?;
    tracing::info!(user = %user.username, "password changed on the account page; other sessions ended");
    Ok(Redirect::to(&format!(
        "{}{ACCOUNT}?done=password",
        app.config.issuer.path()
    ))
    .into_response())
}

pub async fn revoke_consent(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let form = &post.form;
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, None).await;
    };
    let client_id = form.one("client_id").ok().flatten().unwrap_or_default();
    let operator = yourself(&app, user.id, &origin);
    match service::consents::revoke(&operator, user.id, client_id, now).await {
        Ok(()) => {
            tracing::info!(user = %user.username, client_id, "consent revoked on the account page");
        }
        // Nothing to withdraw (a second click): the page says it is done.
        Err(Refused::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(Redirect::to(&format!(
        "{}{ACCOUNT}?done=revoked",
        app.config.issuer.path()
    ))
    .into_response())
}

/// "Sign out everywhere": every SSO session of the user, this one included.
pub async fn end_all_sessions(
    State(app): State<Arc<App>>,
    origin: Origin,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let session = &post.session;
    let Some(user) = action(&app, &post, now).await? else {
        return start_login(&app, &headers, None).await;
    };
    let ended = service::sessions::end_all(&yourself(&app, user.id, &origin), user.id, now).await?;
    session.log_out().await?;
    tracing::info!(user = %user.username, sessions = ended, "signed out everywhere");
    Ok(super::logout::signed_out(&app, lang_of(&headers)))
}

/// Signs this browser out (the SSO session, for every app).
pub async fn log_out(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    post: PagePost,
) -> Result<Response, PageError> {
    let now = crate::unix_now();
    let session = &post.session;
    if action(&app, &post, now).await?.is_some()
        && let Some(login) = session.login(now).await?
    {
        crate::service::sessions::sign_out(&app, session, &login.sid, now).await?;
    }
    Ok(super::logout::signed_out(&app, lang_of(&headers)))
}

pub(super) async fn page(
    app: &App,
    session: &BrowserSession,
    user: &User,
    lang: Lang,
    message: Option<&'static str>,
    error: Option<String>,
    now: i64,
) -> Result<Response, PageError> {
    let current = session.login(now).await?.map(|l| l.sid);
    let mut names = HashMap::new();
    let mut sessions = Vec::new();
    let mut used = BTreeSet::new();
    for s in service::sessions::of_user(&app.db, user.id, now).await? {
        let login = s.login.as_ref();
        let mut apps = Vec::new();
        for client_id in login.map(|l| l.clients.as_slice()).unwrap_or_default() {
            if let Some(client) = client_named(app, &mut names, client_id).await? {
                apps.push(client.name.clone());
                used.insert(client_id.clone());
            }
        }
        let or_dash = |v: Option<&String>| v.cloned().unwrap_or_else(|| "—".into());
        sessions.push(SessionView {
            current: current.as_deref() == Some(s.sid.as_str()),
            browser: login
                .and_then(|l| l.user_agent.as_deref())
                .map_or_else(|| "—".into(), browser_of),
            user_agent: or_dash(login.and_then(|l| l.user_agent.as_ref())),
            address: or_dash(login.and_then(|l| l.ip.as_ref())),
            signed_in: login.map_or_else(|| "—".into(), |l| human_time(l.auth_time)),
            ends: human_time(s.expires_at),
            apps,
        });
    }
    let keeping_access = store::tokens::clients_with_refresh(&app.db, user.id, now).await?;
    used.extend(keeping_access.iter().cloned());
    let mut consents = Vec::new();
    for consent in store::consents::of_user(&app.db, user.id).await? {
        let name = client_named(app, &mut names, &consent.client_id)
            .await?
            .map(|c| c.name.clone());
        used.remove(&consent.client_id);
        consents.push(ConsentView {
            client_name: name.unwrap_or_else(|| consent.client_id.clone()),
            client_id: consent.client_id,
            scopes: std::iter::once(consent.scopes.0.to_string())
                .chain(
                    consent
                        .resources
                        .0
                        .iter()
                        .map(|(api, scopes)| format!("{scopes} @ {api}")),
                )
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            first_party: false,
            revocable: true,
        });
    }
    // First-party apps are never asked about, so they have no consent: the
    // ones the user is signed in to or that keep a refresh token.
    for client_id in used {
        if let Some(client) = client_named(app, &mut names, &client_id).await?
            && client.first_party
        {
            consents.push(ConsentView {
                client_name: client.name.clone(),
                // What the user's grants hold is per grant; the client's
                // whole allowance is the operator's business.
                scopes: String::new(),
                first_party: true,
                revocable: keeping_access.contains(&client_id),
                client_id,
            });
        }
    }
    let prefix = app.config.issuer.path();
    let factors = service::mfa::factors(&app.db, user.id).await?;
    let factors = FactorsView {
        totp: factors.totp_confirmed_at.map(|at| {
            let used = factors
                .totp_last_used_at
                .map_or_else(|| "—".into(), human_time);
            (human_time(at), used)
        }),
        passkeys: factors
            .passkeys
            .iter()
            .map(|p| PasskeyRow {
                id: p.id.to_string(),
                name: p.name.clone(),
                synced: p.synced,
                added: human_time(p.created_at),
                used: p.last_used_at.map_or_else(|| "—".into(), human_time),
            })
            .collect(),
        recovery_codes_left: factors.recovery_codes_left,
        passkeys_on: app.passkeys.is_some(),
    };
    Ok(render(&AccountPage {
        lang: lang.code(),
        t: lang.texts(),
        static_prefix: prefix,
        prefix,
        csrf: session.csrf_token().await?,
        username: &user.username,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
        groups: store::groups::of_user(&app.db, user.id).await?,
        sessions,
        consents,
        message,
        error,
        min_length: password::MIN_LENGTH,
        mfa_on: app.config.mfa != crate::config::Mfa::Off,
        factors,
    }))
}

/// An app by client id, looked up once per page; `None` for monban's own
/// account page (not an app the user signs in to) or a client gone since.
async fn client_named<'a>(
    app: &App,
    names: &'a mut HashMap<String, Option<Client>>,
    client_id: &str,
) -> Result<Option<&'a Client>, sqlx::Error> {
    if !names.contains_key(client_id) {
        let client = match client_id {
            ACCOUNT_CLIENT_ID => None,
            _ => store::clients::find(&app.db, client_id).await?,
        };
        names.insert(client_id.to_owned(), client);
    }
    Ok(names.get(client_id).and_then(Option::as_ref))
}

/// A user agent as a person would name it, "Chrome 156 on Linux" (parsed by
/// woothee), or as it came when it names no browser monban knows.
fn browser_of(user_agent: &str) -> String {
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    // Browsers of computers and phones; tools and crawlers keep their own
    // string.
    let browser = |ua: &woothee::parser::WootheeResult<'_>| {
        ua.name != woothee::woothee::VALUE_UNKNOWN
            && matches!(
                ua.category,
                "pc" | "smartphone" | "mobilephone" | "appliance"
            )
    };
    let Some(ua) = parsed.filter(browser) else {
        return user_agent.chars().take(80).collect();
    };
    let major = ua.version.split('.').next().unwrap_or_default();
    let browser = if major.is_empty() || major == woothee::woothee::VALUE_UNKNOWN {
        ua.name.to_owned()
    } else {
        format!("{} {major}", ua.name)
    };
    if ua.os == woothee::woothee::VALUE_UNKNOWN {
        browser
    } else {
        format!("{browser} on {}", ua.os)
    }
}

/// `2026-11-25 16:00 UTC`.
fn human_time(unix: i64) -> String {
    let iso = keys::rfc3339(unix);
    format!(
        "{} {} UTC",
        iso.get(..10).unwrap_or_default(),
        iso.get(11..16).unwrap_or_default()
    )
}

/// The signed-in person as the operator of a change to their own account.
pub(super) fn yourself<'a>(app: &'a App, user_id: Uuid, origin: &'a Origin) -> Operator<'a> {
    Operator {
        actor: Actor::User(user_id),
        via: Via::AccountPage,
        origin: Some(origin),
        runs_in: RunsIn::Server(app),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_agents_read_as_a_person_would_say_them() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/156.0.8078.73 Safari/537.36";
        assert_eq!(super::browser_of(chrome), "Chrome 156 on Linux");
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";
        assert_eq!(super::browser_of(firefox), "Firefox 140 on Windows 10");
        assert_eq!(super::browser_of("curl/8.5.0"), "curl/8.5.0");
    }

    #[test]
    fn only_local_paths_are_return_targets() {
        for ok in ["/account", "/device?user_code=ABCD-EFGH", "/admin/users"] {
            assert!(super::is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\\evil.example",
            "https://x",
            "/a b",
            "",
        ] {
            assert!(!super::is_local_path(bad), "{bad:?}");
        }
    }
}
