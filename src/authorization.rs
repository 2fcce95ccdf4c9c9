//! The authorization request of the code flow (RFC 6749 §4.1, OIDC Core
//! §3.1.2, RFC 7636, RFC 9207, RFC 9700): its validation, and the decision
//! it leads to — log in, ask for consent, or issue a code.
//!
//! Order matters (RFC 6749 §4.1.2.1): the client and its redirect URI are
//! checked first, and until both are trusted every error is shown on
//! monban's own page. After that, errors go back to the client with `state`
//! and `iss`.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ErrorCode;
use crate::form::Params;
use crate::i18n::Lang;
use crate::mfa::level::Asked;
use crate::page_error::{PageError, Problem};
use crate::session::{BrowserSession, Login};
use crate::sign_in::{self, Next};
use crate::state::App;
use crate::store::{self, clients::Client, codes::Code};
use crate::tokens;
use crate::types::{ApplicationType, ClientType, GrantType, OIDC_SCOPES, Scopes};
use crate::uri::is_loopback_host;

/// How the response goes back (OAuth 2.0 Multiple Response Types, Form Post
/// Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    FormPost,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Where the client wants its answer; trusted once the redirect URI matched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReturnTo {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

/// A validated authorization request, parked in the session while the user
/// logs in or consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub return_to: ReturnTo,
    pub scope: Scopes,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub lang: Lang,
    pub acr_values: Option<String>,
    /// `acr` was an essential claim (OIDC Core §5.5.1.1): `acr_values`
    /// holds its values, and a sign-in that cannot meet one is refused.
    #[serde(default)]
    pub acr_essential: bool,
    pub audience: Vec<String>,
    /// The subject of a valid `id_token_hint`: the user the client expects.
    #[serde(default)]
    pub hint_sub: Option<String>,
    /// A login happened for this request (satisfies `prompt=login`).
    #[serde(default)]
    pub logged_in: bool,
    /// The user consented on this request's page (satisfies `prompt=consent`).
    #[serde(default)]
    pub consented: bool,
}

impl AuthorizationRequest {
    /// The levels of sign-in the request asks for.
    pub fn asked(&self) -> Asked {
        let values: Vec<&str> = self
            .acr_values
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
            .collect();
        Asked::of(&values, self.acr_essential)
    }
}

/// What happens next: the answer to the client (code or error), or one of
/// monban's pages, for which the caller parks the request.
#[derive(Debug)]
pub enum Outcome {
    Respond(Response),
    NeedsLogin,
    /// Consent is needed from this (logged-in) user.
    NeedsConsent {
        user_id: uuid::Uuid,
    },
    /// The logged-in user must step up with a second factor (or set one
    /// up, where one is required).
    NeedsFactor {
        user_id: uuid::Uuid,
        /// The level it must reach (`phr`: only a passkey will do).
        target: crate::mfa::Level,
    },
}

/// An authorization response (§4.1.2, §4.1.2.1), always with `iss`.
#[derive(Debug, Clone)]
pub struct Response {
    pub return_to: ReturnTo,
    pub params: Vec<(&'static str, String)>,
}

impl Response {
    pub fn error(
        return_to: &ReturnTo,
        issuer: &str,
        code: ErrorCode,
        description: &str,
    ) -> Response {
        let mut params = vec![("error", code.as_str().to_owned())];
        if !description.is_empty() {
            params.push(("error_description", description.to_owned()));
        }
        Response::with_state(return_to, issuer, params)
    }

    fn with_state(
        return_to: &ReturnTo,
        issuer: &str,
        mut params: Vec<(&'static str, String)>,
    ) -> Response {
        if let Some(state) = &return_to.state {
            params.push(("state", state.clone()));
        }
        // RFC 9207 §2: the issuer identifier in every authorization response.
        params.push(("iss", issuer.to_owned()));
        Response {
            return_to: return_to.clone(),
            params,
        }
    }
}

/// A refusal to be sent back to the client.
struct Refusal {
    code: ErrorCode,
    description: String,
}

fn refuse(code: ErrorCode, description: impl Into<String>) -> Refusal {
    Refusal {
        code,
        description: description.into(),
    }
}

/// What a parsed authorization request turned out to be.
pub enum Parsed {
    Valid(AuthorizationRequest, std::sync::Arc<Client>),
    /// An error the client is told about (§4.1.2.1): `response` takes it to
    /// the redirect URI; PAR answers with `code` and `description` (RFC 9126
    /// §2.3).
    Refused {
        response: Response,
        code: ErrorCode,
        description: String,
    },
}

/// How an authorization request reached monban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// In the browser's request to `/authorize`: its parameters, or a
    /// `request_uri` naming a pushed request.
    Browser,
    /// Pushed by the client to the PAR endpoint (RFC 9126 §2).
    Pushed,
}

/// Parses and validates a request. `Err(PageError)` when the client or its
/// redirect URI cannot be trusted (the error is shown, never redirected).
pub async fn parse(
    app: &App,
    params: &Params,
    lang: Lang,
    arrival: Arrival,
) -> Result<Parsed, PageError> {
    let page = |problem, detail: &str| {
        PageError::new(problem, detail).in_lang(lang, app.config.issuer.path())
    };
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|_| page(Problem::BadRequest, &format!("{name} is repeated")))
    };
    let client_id =
        one("client_id")?.ok_or_else(|| page(Problem::BadRequest, "client_id is missing"))?;
    let Some((client, _)) = app.clients.get(&app.db, client_id).await? else {
        return Err(page(Problem::UnknownClient, "unknown client_id"));
    };
    // RFC 9126 §4: a request_uri stands for the whole pushed request; the
    // other parameters of the browser's request are ignored.
    let pushed_params;
    let (params, pushed) = match (arrival, one("request_uri")?) {
        (Arrival::Browser, Some(request_uri)) => {
            let pairs = take_pushed(app, &client, request_uri)
                .await?
                .ok_or_else(|| {
                    page(
                        Problem::BadRequest,
                        "request_uri is unknown, expired or already used (RFC 9126 §4)",
                    )
                })?;
            pushed_params = Params::from_pairs(pairs);
            (&pushed_params, true)
        }
        (Arrival::Browser, None) => (params, false),
        (Arrival::Pushed, _) => (params, true),
    };
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|_| page(Problem::BadRequest, &format!("{name} is repeated")))
    };
    // OIDC Core §3.1.2.1 requires redirect_uri; OAuth 2.1 too.
    let redirect_uri =
        one("redirect_uri")?.ok_or_else(|| page(Problem::BadRequest, "redirect_uri is missing"))?;
    if !redirect_uri_matches(&client.redirect_uris, client.application_type, redirect_uri) {
        return Err(page(
            Problem::BadRedirectUri,
            "redirect_uri is not registered for this client",
        ));
    }
    let state = one("state")?.map(str::to_owned);
    let mode = match one("response_mode")? {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(other) => Err(other.to_owned()),
    };
    let return_to = ReturnTo {
        redirect_uri: redirect_uri.to_owned(),
        mode: *mode.as_ref().unwrap_or(&ResponseMode::Query),
        state,
    };
    // From here on the client hears about errors.
    let issuer = app.config.issuer.as_str();
    let resources: Vec<&str> = params.all("resource").collect();
    let apis = app.apis.for_resources(&app.db, &resources).await?;
    let request = mode
        .map_err(|m| {
            refuse(
                ErrorCode::InvalidRequest,
                format!("response_mode '{m}' is not supported"),
            )
        })
        .and_then(|_| {
            // RFC 9126 §5: a client (or a server) may require pushed requests.
            let par_required =
                client.require_pushed_authorization_requests || app.config.require_par;
            if par_required && !pushed {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "this client must push its authorization requests (RFC 9126)",
                ));
            }
            validate(app, params, &client, &apis, return_to.clone(), lang)
        });
    Ok(match request {
        Ok(request) => Parsed::Valid(request, client),
        Err(r) => Parsed::Refused {
            response: Response::error(&return_to, issuer, r.code, &r.description),
            code: r.code,
            description: r.description,
        },
    })
}

/// Exact string match (RFC 9700 §4.1.3), except that loopback redirect URIs
/// of native apps match with any port (RFC 8252 §7.3: "The authorization
/// server MUST allow any port to be specified at the time of the request
/// for loopback IP redirect URIs" — of native apps; a web client's
/// loopback URI keeps its port, or another local program could take the
/// code).
pub fn redirect_uri_matches(
    registered: &[String],
    application_type: ApplicationType,
    requested: &str,
) -> bool {
    let any_port = application_type == ApplicationType::Native;
    registered
        .iter()
        .any(|r| r == requested || (any_port && same_loopback_but_port(r, requested)))
}

fn same_loopback_but_port(registered: &str, requested: &str) -> bool {
    let (Ok(r), Ok(q)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &Url| u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host);
    loopback(&r)
        && loopback(&q)
        && r.host_str() == q.host_str()
        && r.path() == q.path()
        && r.query() == q.query()
        && q.username().is_empty()
        && q.password().is_none()
        && q.fragment().is_none()
        // The URL parser normalises; the rest of the string must be as registered.
        && strip_port(registered) == strip_port(requested)
}

/// The URI without its `:port` after the host.
fn strip_port(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("http://") else {
        return uri.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rfind(':') {
        Some(i) if !authority.ends_with(']') => authority.get(..i).unwrap_or(authority),
        _ => authority,
    };
    format!("http://{host}{path}")
}

fn validate(
    app: &App,
    params: &Params,
    client: &Client,
    apis: &crate::apis::Apis,
    return_to: ReturnTo,
    lang: Lang,
) -> Result<AuthorizationRequest, Refusal> {
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|_| refuse(ErrorCode::InvalidRequest, format!("{name} is repeated")))
    };
    match one("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err(refuse(
                ErrorCode::UnsupportedResponseType,
                format!("response_type '{other}' is not supported; use code"),
            ));
        }
        None => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "response_type is missing",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    // OIDC Core §6: request objects are not supported.
    if one("request")?.is_some() {
        return Err(refuse(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    let resources: Vec<&str> = params.all("resource").collect();
    let target = crate::apis::target(
        &resources,
        &client.audiences,
        &app.config.default_audience,
        apis,
    )
    .map_err(|e| refuse(ErrorCode::InvalidTarget, e))?;
    let raw_scope = one("scope")?;
    let scope = target
        .scope(requested_scope(raw_scope, client)?, raw_scope.is_some())
        .map_err(|e| refuse(ErrorCode::InvalidScope, e))?;
    let audience = target.audience;
    let code_challenge = pkce_challenge(
        one("code_challenge")?,
        one("code_challenge_method")?,
        client,
    )?;
    let prompt = parse_prompt(one("prompt")?)?;
    let max_age = match one("max_age")? {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            refuse(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?),
    };
    let nonce = one("nonce")?.map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return Err(refuse(ErrorCode::InvalidRequest, "nonce is too long"));
    }
    let login_hint = one("login_hint")?
        .filter(|h| h.len() <= 254)
        .map(str::to_owned);
    let (acr_values, acr_essential) = match acr_claim(one("claims")?)? {
        Some(essential) => (Some(essential.join(" ")), true),
        None => (one("acr_values")?.map(str::to_owned), false),
    };
    if acr_values.as_ref().is_some_and(|v| v.len() > 512) {
        return Err(refuse(ErrorCode::InvalidRequest, "acr_values is too long"));
    }
    // OIDC Core §3.1.2.1: the hint names the user the client expects; one
    // that does not verify is ignored.
    let hint_sub = one("id_token_hint")?.and_then(|t| {
        crate::id_token::read_hint(&app.keys.get(), app.config.issuer.as_str(), t).map(|h| h.sub)
    });
    // Of `claims` (OIDC Core §5.5) only an essential `acr` is acted upon;
    // `display` may be sent and is not.
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        return_to,
        scope,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        lang,
        acr_values,
        acr_essential,
        audience,
        hint_sub,
        logged_in: false,
        consented: false,
    })
}

/// The values of `acr` requested as an essential claim (OIDC Core §5.5.1.1:
/// `{"id_token": {"acr": {"essential": true, "values": [...]}}}`, or in
/// `userinfo`, or with a single `value`); `None` when it is not essential.
fn acr_claim(raw: Option<&str>) -> Result<Option<Vec<String>>, Refusal> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    // A `claims` that is no JSON object asks for nothing monban acts on: it
    // is ignored, as it always was.
    let Some(claims) = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .filter(serde_json::Value::is_object)
    else {
        return Ok(None);
    };
    let mut values = Vec::new();
    for member in ["id_token", "userinfo"] {
        let Some(acr) = claims.get(member).and_then(|m| m.get("acr")) else {
            continue;
        };
        if acr.get("essential") != Some(&serde_json::Value::Bool(true)) {
            continue;
        }
        let listed = acr.get("values").and_then(|v| v.as_array()).cloned();
        let single = acr.get("value").cloned().map(|v| vec![v]);
        for value in listed.or(single).unwrap_or_default() {
            let value = value.as_str().ok_or_else(|| {
                refuse(
                    ErrorCode::InvalidRequest,
                    "acr values in claims must be strings",
                )
            })?;
            if !values.iter().any(|v| v == value) {
                values.push(value.to_owned());
            }
        }
    }
    Ok((!values.is_empty()).then_some(values))
}

/// Whether `client` may ask for `scope`: an OpenID Connect scope, or one of
/// its own (RFC 6749 §3.3). The one rule for /authorize, the device grant
/// and token exchange.
pub fn client_may_request(client: &Client, scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope) || client.scopes.contains(scope)
}

/// The requested scope: OpenID Connect's own scopes, plus those the client
/// is allowed (RFC 6749 §3.3); without `scope`, the client's allowed scopes.
/// `offline_access` needs the refresh_token grant, else it is dropped.
fn requested_scope(raw: Option<&str>, client: &Client) -> Result<Scopes, Refusal> {
    let requested = match raw {
        None => client.scopes.clone(),
        Some(raw) => Scopes::parse(raw).map_err(|e| refuse(ErrorCode::InvalidScope, e))?,
    };
    if let Some(denied) = requested.iter().find(|s| !client_may_request(client, s)) {
        return Err(refuse(
            ErrorCode::InvalidScope,
            format!("scope '{denied}' is not allowed for this client"),
        ));
    }
    let offline_allowed = client.allows_grant(GrantType::RefreshToken);
    Scopes::from_tokens(
        requested
            .iter()
            .filter(|s| *s != "offline_access" || offline_allowed),
    )
    .map_err(|e| refuse(ErrorCode::InvalidScope, e))
}

/// PKCE (RFC 7636 §4.3): S256 only; required for public clients.
fn pkce_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    client: &Client,
) -> Result<Option<String>, Refusal> {
    match (challenge, method) {
        (None, None) if client.client_type == ClientType::Public => Err(refuse(
            ErrorCode::InvalidRequest,
            "public clients must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(refuse(
            ErrorCode::InvalidRequest,
            "code_challenge_method without code_challenge",
        )),
        // §4.3: the default method is plain, which monban does not accept.
        (Some(_), None | Some("plain")) => Err(refuse(
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256 (plain is not accepted)",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(refuse(
            ErrorCode::InvalidRequest,
            format!("code_challenge_method '{m}' is not supported; use S256"),
        )),
        (Some(c), Some(_)) => {
            // §4.2: base64url of a SHA-256 digest is 43 characters.
            let valid = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                Ok(Some(c.to_owned()))
            } else {
                Err(refuse(
                    ErrorCode::InvalidRequest,
                    "code_challenge is not a base64url SHA-256 value",
                ))
            }
        }
    }
}

/// OIDC Core §3.1.2.1 `prompt`; `select_account` is treated as `login`
/// (one account per browser session).
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, Refusal> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" | "select_account" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    format!("prompt '{other}' is not supported"),
                ));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// Decides what happens next for a validated request.
pub async fn decide(
    app: &App,
    session: &BrowserSession,
    request: &AuthorizationRequest,
    client: &Client,
    now: i64,
) -> Result<Outcome, PageError> {
    let issuer = app.config.issuer.as_str();
    let refuse = |code: ErrorCode, description: &str| {
        Ok(Outcome::Respond(Response::error(
            &request.return_to,
            issuer,
            code,
            description,
        )))
    };
    // A session exists only for an enabled user: disabling a user or
    // deleting one ends their sessions.
    let login = session.login(now).await?;
    let needs_login = match &login {
        None => true,
        Some(login) => {
            // prompt=login asks for a login for this very request; max_age
            // bounds the age of the login (OIDC Core §3.1.2.1), which a
            // login made for this request satisfies. An id_token_hint naming
            // someone else asks for a login too.
            let someone_else = request
                .hint_sub
                .as_ref()
                .is_some_and(|sub| *sub != login.user_id.to_string());
            !request.logged_in
                && (someone_else
                    || request.prompt.login
                    || request
                        .max_age
                        .is_some_and(|max| now - login.auth_time > max))
        }
    };
    let Some(login) = login.filter(|_| !needs_login) else {
        if request.prompt.none {
            return refuse(ErrorCode::LoginRequired, "the user is not logged in");
        }
        return Ok(Outcome::NeedsLogin);
    };
    let asked = request.asked();
    match sign_in::next(app, client, &asked, login.user_id, login.level(), false).await? {
        Next::Done => {}
        Next::Unmet => {
            return refuse(
                ErrorCode::UnmetAuthenticationRequirements,
                "the user cannot sign in at the level of authentication the client requires",
            );
        }
        Next::SecondFactor { .. } | Next::Enrol if request.prompt.none => {
            return refuse(
                ErrorCode::InteractionRequired,
                "the user must sign in with a second factor",
            );
        }
        Next::SecondFactor { target } => {
            return Ok(Outcome::NeedsFactor {
                user_id: login.user_id,
                target,
            });
        }
        Next::Enrol => {
            return Ok(Outcome::NeedsFactor {
                user_id: login.user_id,
                target: crate::mfa::Level::Mfa,
            });
        }
    }

    let consent = if client.first_party {
        None
    } else {
        store::consents::get(&app.db, login.user_id, &client.client_id).await?
    };
    let wanted = without_offline(&request.scope);
    // The consent must cover each scope at each API the tokens are for.
    let apis = app.apis.current(&app.db).await?;
    let needed = crate::consents::Needed::of(
        &wanted,
        &request.audience,
        &apis,
        app.config.issuer.as_str(),
    );
    let needs_consent = !client.first_party
        && ((request.prompt.consent && !request.consented) || !needed.covered_by(consent.as_ref()));
    if needs_consent {
        if request.prompt.none {
            return refuse(
                ErrorCode::ConsentRequired,
                "the user has not consented to this client",
            );
        }
        return Ok(Outcome::NeedsConsent {
            user_id: login.user_id,
        });
    }
    // OIDC Core §11: offline access only with prompt=consent (and the consent
    // just given), a consent that already includes it, or a trusted client;
    // otherwise offline_access is ignored.
    let consented_offline = consent
        .as_ref()
        .is_some_and(|c| c.scopes.0.contains("offline_access"));
    let offline = request.scope.contains("offline_access")
        && (client.first_party
            || consented_offline
            || (request.prompt.consent && request.consented));
    let scope = if offline {
        request.scope.clone()
    } else {
        wanted
    };
    let code = issue_code(app, request, &scope, &login, offline, now).await?;
    session
        .touch(
            login,
            Some(&client.client_id),
            app.config.session_idle_ttl,
            now,
        )
        .await?;
    Ok(Outcome::Respond(Response::with_state(
        &request.return_to,
        issuer,
        vec![("code", code)],
    )))
}

/// The scope without `offline_access`, which is granted only on conditions.
pub fn without_offline(scope: &Scopes) -> Scopes {
    Scopes::from_tokens(scope.iter().filter(|s| *s != "offline_access")).unwrap_or_default()
}

/// A single-use code bound to everything the token request must match.
async fn issue_code(
    app: &App,
    request: &AuthorizationRequest,
    scope: &Scopes,
    login: &Login,
    offline: bool,
    now: i64,
) -> Result<String, PageError> {
    let (code, hash) = tokens::random_secret();
    let row = Code {
        code_hash: hash,
        client_id: request.client_id.clone(),
        user_id: login.user_id,
        sid: login.sid.clone(),
        redirect_uri: request.return_to.redirect_uri.clone(),
        scope: scope.to_string(),
        audiences: sqlx::types::Json(request.audience.clone()),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: login.auth_time,
        acr: request.asked().acr_for(login.level()).to_owned(),
        amr: sqlx::types::Json(login.amr.clone()),
        offline,
        grant_id: uuid::Uuid::now_v7(),
        access_jti: tokens::new_jti(),
        created_at: now,
        expires_at: now + app.config.code_ttl,
        used_at: None,
    };
    app.codes
        .insert(row)
        .await
        .map_err(|e| match e.unavailable {
            true => PageError::unavailable(),
            false => PageError::server(&e),
        })?;
    Ok(code.expose().to_owned())
}

/// The scopes the page asks about: `offline_access` only where it can be
/// granted by this consent (with `prompt=consent`, OIDC Core §11).
pub fn consent_scopes(request: &AuthorizationRequest) -> Scopes {
    if request.prompt.consent {
        request.scope.clone()
    } else {
        without_offline(&request.scope)
    }
}

/// How long a parked request may wait for its login or consent.
pub const PARKED_FOR: i64 = crate::session::ANONYMOUS_IDLE_TTL;

/// RFC 9126 §2.2: the `request_uri` is a URN with this prefix.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters pushed by `client` under `request_uri`, once.
async fn take_pushed(
    app: &App,
    client: &Client,
    request_uri: &str,
) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let Some(reference) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Ok(None);
    };
    let hash = tokens::sha256(reference.as_bytes());
    store::pushed::take(&app.db, &hash, &client.client_id, crate::unix_now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let native = ApplicationType::Native;
        let registered = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1/native".to_owned(),
            "http://[::1]/v6".to_owned(),
        ];
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1/native",
            "http://127.0.0.1:51234/native",
            "http://[::1]:8000/v6",
        ] {
            assert!(redirect_uri_matches(&registered, native, ok), "{ok}");
        }
        for bad in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/c",
            "https://APP.example.com/cb",
            "https://app.example.com/cb#f",
            "https://user@app.example.com/cb",
            "https://app.example.com.evil.com/cb",
            "http://127.0.0.1:51234/native/extra",
            "http://127.0.0.1:51234/native?x",
            "http://user@127.0.0.1:5/native",
            "http://localhost:5/native",
            "https://127.0.0.1:443/native",
        ] {
            assert!(!redirect_uri_matches(&registered, native, bad), "{bad}");
        }
        // A web client's loopback URIs keep their port.
        let web = ApplicationType::Web;
        assert!(redirect_uri_matches(
            &registered,
            web,
            "http://127.0.0.1/native"
        ));
        assert!(!redirect_uri_matches(
            &registered,
            web,
            "http://127.0.0.1:51234/native"
        ));
    }
}
