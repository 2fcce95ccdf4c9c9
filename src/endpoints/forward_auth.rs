//! `/forward_auth`: the authorization check of a gateway (nginx
//! `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`). The gateway
//! forwards the client's `Authorization: Bearer <token>` and describes the
//! original request in `X-Forwarded-*` / `X-Original-*` headers; monban
//! answers
//! - 200 with `Authorization: Bearer <JWT>` for the upstream (see
//!   `phantom`) and `X-Monban-Subject`, `-Client`, `-Scope`, `-Groups`;
//! - 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) when the
//!   token is missing or not active;
//! - 403 (`insufficient_scope`) when the policy denies the request;
//!   401 (`insufficient_user_authentication`, RFC 9470 §3, with the
//!   `acr_values` to ask for) when the user signed in below the route's `acr`.
//!
//! Routes whose policy says `auth = "session"` (or `"any"`, without a
//! bearer token) take the browser's gateway session cookie instead (see
//! `gateway_session`): 200 with `Remote-User`, `-Name`, `-Email`, `-Groups`
//! for the app; a browser navigation not signed in, or signed in below the
//! route's `acr`, is sent to monban's login page (302, or 401 with
//! `Location` for nginx's `auth_request`, `?login_status=401`), and one the
//! policy refuses gets a 403 page in its language; other requests get JSON.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::{BearerError, bearer_token};
use crate::gateway_session::{self, SignedIn};
use crate::mfa::Level;
use crate::phantom::{self, Bearer};
use crate::policy::{Auth, Decision, Policy, Principal, Route, Terms, route};
use crate::routes;
use crate::state::App;
use crate::tokens::{ACCESS_TOKEN_TYP, AccessClaims, Audience};
use crate::types::Scopes;

#[derive(Deserialize)]
pub struct Asked {
    /// `401`: answer a sign-in a browser needs with 401 and `Location`
    /// instead of a 302 (nginx's `auth_request` takes only 2xx, 401, 403).
    login_status: Option<u16>,
}

pub async fn handler(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(asked): Query<Asked>,
    headers: HeaderMap,
) -> Result<Response, BearerError> {
    let now = crate::unix_now();
    let policy = app.policies.current();
    let route = policy
        .configured
        .then(|| trusted_route(&app, peer, &headers));
    let terms = match &route {
        Some(Ok(route)) => policy.terms(route),
        _ => Terms::default(),
    };
    let token = bearer_token(&headers);
    let by_session = match terms.auth {
        Auth::Bearer => false,
        Auth::Session => true,
        Auth::Any => token.is_none(),
    };
    if let (true, Some(Ok(route))) = (by_session, &route) {
        let answer = Answer {
            headers: &headers,
            route,
            login_status: asked.login_status,
            terms: &terms,
        };
        return for_session(&app, &policy, answer, now).await;
    }
    let token = token.ok_or_else(BearerError::missing)?;
    let Some(bearer) = phantom::find(&app, token, now).await? else {
        return Err(BearerError::invalid_token("the access token is not active"));
    };
    if let Some(route) = route {
        let decision = match route {
            Ok(route) => {
                let scope = bearer.scope();
                let who = Principal {
                    scope: &scope,
                    groups: bearer.groups(),
                    claims: &bearer.claims,
                    session: false,
                };
                policy.decide(&route, &who)
            }
            Err(reason) => Decision::deny(reason),
        };
        if let Decision::Deny(denial) = decision {
            tracing::info!(
                sub = %bearer.claims.sub,
                client = %bearer.claims.client_id,
                reason = %denial.reason,
                "forward_auth denied"
            );
            if let Some(acr) = denial.acr {
                return Err(BearerError::insufficient_user_authentication(acr.acr()));
            }
            return Err(BearerError::forbidden(
                denial.reason,
                denial.scope.map(Into::into),
            ));
        }
    }
    let headers = upstream_headers(&bearer);
    let jwt = phantom::jwt(&app, bearer).map_err(|e| BearerError::server(&e))?;
    Ok(allowed(headers, Some(&jwt)))
}

/// 200 for the upstream: identity headers, and the JWT to hand on.
fn allowed(headers: HeaderMap, jwt: Option<&str>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.extend(headers);
    if let Some(value) = jwt.and_then(|jwt| HeaderValue::from_str(&format!("Bearer {jwt}")).ok()) {
        out.insert(header::AUTHORIZATION, value);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What a session check answers about.
struct Answer<'a> {
    headers: &'a HeaderMap,
    route: &'a Route,
    login_status: Option<u16>,
    terms: &'a Terms,
}

impl Answer<'_> {
    /// A browser opening a page (RFC 9110 §12.5.1: it accepts HTML), which
    /// can be sent to sign in; an API call or XHR cannot.
    fn navigation(&self) -> bool {
        let accepts_html = self
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/html"));
        matches!(self.route.method.as_str(), "GET" | "HEAD") && accepts_html
    }

    /// The URL the browser asked for, as the gateway described it, when a
    /// gateway sign-in or sign-out may return to it (with it read).
    fn back(&self, app: &App) -> Option<(String, url::Url)> {
        let raw = route::original_url(self.headers).ok()?;
        let url = gateway_session::return_target(&app.config, &raw)?;
        Some((raw, url))
    }
}

/// A route that takes the gateway session cookie.
async fn for_session(
    app: &App,
    policy: &Policy,
    answer: Answer<'_>,
    now: i64,
) -> Result<Response, BearerError> {
    let idle_ttl = app.config.session_idle_ttl;
    // Every cookie the browser sent: valid ones for two sessions mean a
    // host of the domain planted one (cookie tossing), and neither is
    // believed. A sign-in would not help (the planted cookie may never
    // reach monban): the browser is told, once.
    let tokens: Vec<&str> = gateway_session::tokens_of(answer.headers).collect();
    if tokens.len() > gateway_session::MOST_TOKENS {
        tracing::warn!("forward_auth: more gateway cookies than a browser holds; refused");
        return Ok(conflicting(app, &answer));
    }
    let mut found: Option<Arc<SignedIn>> = None;
    for token in tokens {
        let Some(session) = app
            .gateway_sessions
            .find(&app.db, token, idle_ttl, now)
            .await?
        else {
            continue;
        };
        if found.as_ref().is_some_and(|first| first.sid != session.sid) {
            tracing::warn!("forward_auth: gateway cookies of two sessions in one request; refused");
            return Ok(conflicting(app, &answer));
        }
        found = Some(session);
    }
    let Some(signed_in) = found else {
        return Ok(sign_in_needed(app, &answer, None));
    };
    let audiences = answer.terms.upstream_jwt.as_deref().unwrap_or_default();
    let claims = session_claims(app, &signed_in, audiences, now);
    let who = Principal {
        scope: &Scopes::default(),
        groups: &signed_in.groups,
        claims: &claims,
        session: true,
    };
    match policy.decide(answer.route, &who) {
        Decision::Allow => {}
        Decision::Deny(denial) => {
            tracing::info!(user = %signed_in.username, reason = %denial.reason, "forward_auth denied a session");
            return Ok(match denial.acr {
                Some(needed) => sign_in_needed(app, &answer, Some(needed)),
                None => refused(app, &answer, &signed_in, &denial.reason),
            });
        }
    }
    let jwt = match &answer.terms.upstream_jwt {
        None => None,
        Some(audiences) => Some(match signed_in.upstream_jwt(audiences, now) {
            Some(jwt) => jwt,
            None => {
                let jwt: Arc<str> = app
                    .keys
                    .get()
                    .sign(app.config.signing_alg, ACCESS_TOKEN_TYP, &claims)
                    .map_err(|e| BearerError::server(&e))?
                    .into();
                signed_in.keep_upstream_jwt(audiences, Arc::clone(&jwt), claims.iat, claims.exp);
                jwt
            }
        }),
    };
    Ok(allowed(session_headers(&signed_in), jwt.as_deref()))
}

/// `Remote-*` (the names Authelia and authentik use, which apps in
/// proxy-auth mode read) and `X-Monban-*`: who is signed in. Each is sent,
/// empty when there is nothing to say (a gateway that copies headers must
/// not be left to invent one: Caddy 2.6 would pass its placeholder on).
/// Values are UTF-8 as they are (a name may be `山田`).
fn session_headers(s: &SignedIn) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let groups = s.groups.join(",");
    let subject = s.user_id.to_string();
    for (name, value) in [
        ("remote-user", s.username.as_str()),
        ("remote-name", s.name.as_deref().unwrap_or_default()),
        ("remote-email", s.email.as_deref().unwrap_or_default()),
        ("remote-groups", groups.as_str()),
        ("x-monban-subject", subject.as_str()),
        ("x-monban-client", ""),
        ("x-monban-scope", ""),
        ("x-monban-groups", groups.as_str()),
        ("authorization", ""),
    ] {
        let value = HeaderValue::from_bytes(value.as_bytes())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        headers.insert(HeaderName::from_static(name), value);
    }
    headers
}

/// The claims of a session's upstream JWT (RFC 9068, as a phantom's): for
/// `audiences`, as long as `MONBAN_PHANTOM_TTL` and never past the session.
fn session_claims(app: &App, s: &SignedIn, audiences: &[String], now: i64) -> AccessClaims {
    AccessClaims {
        iss: app.config.issuer.as_str().to_owned(),
        sub: s.user_id.to_string(),
        aud: Audience::from_list(audiences.to_vec()),
        exp: (now + app.config.phantom_ttl).min(s.ends_at),
        iat: now,
        nbf: now,
        jti: crate::tokens::new_jti(),
        client_id: gateway_session::CLIENT_ID.to_owned(),
        scope: String::new(),
        auth_time: Some(s.auth_time),
        acr: Some(s.level.acr().to_owned()),
        amr: Some(s.amr.clone()),
        groups: Some(s.groups.clone()),
        act: None,
        grant_id: None,
    }
}

/// Not signed in, or below the route's `acr`: a browser goes to sign in
/// (or step up) and comes back; anything else is told so.
fn sign_in_needed(app: &App, answer: &Answer<'_>, needed: Option<Level>) -> Response {
    // Only a host the cookie reaches is sent to sign in (one elsewhere
    // would come back without it, and round again).
    let back = answer
        .back(app)
        .filter(|(_, url)| gateway_session::receives_cookie(&app.config, url))
        .map(|(raw, _)| raw);
    let mut login = url::Url::parse(&app.config.issuer.endpoint(routes::LOGIN)).ok();
    if let (Some(login), Some(back)) = (&mut login, &back) {
        login.query_pairs_mut().append_pair("rd", back);
        if let Some(level) = needed {
            login.query_pairs_mut().append_pair("acr", level.acr());
        }
    }
    let location = login
        .filter(|_| back.is_some())
        .and_then(|l| HeaderValue::from_str(l.as_str()).ok());
    if answer.navigation()
        && let Some(location) = location
    {
        let status = match answer.login_status {
            Some(401) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FOUND,
        };
        let mut response = status.into_response();
        let out = response.headers_mut();
        out.insert(header::LOCATION, location);
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            out.insert(header::WWW_AUTHENTICATE, challenge(answer.terms.auth));
        }
        return response;
    }
    if back.is_none() {
        tracing::warn!(
            "forward_auth: the request's URL is not one a sign-in may return to (X-Forwarded-Proto/-Host/-Uri; MONBAN_GATEWAY_COOKIE_DOMAIN, MONBAN_GATEWAY_DOMAINS)"
        );
    }
    let (error, description) = match needed {
        None => ("login_required", "sign in to monban first".to_owned()),
        Some(level) => (
            "insufficient_user_authentication",
            format!("a stronger sign-in is required (acr {})", level.acr()),
        ),
    };
    let mut response = json(StatusCode::UNAUTHORIZED, error, &description);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge(answer.terms.auth));
    response
}

/// The challenge of a 401 (RFC 9110 §11.6.1). A session route's is the
/// cookie scheme of draft-broyer-http-cookie-auth: no registered scheme
/// names a cookie, and a Bearer challenge would ask for what the route
/// does not take.
fn challenge(auth: Auth) -> HeaderValue {
    match auth {
        Auth::Session => {
            HeaderValue::from_static("Cookie realm=\"monban\", cookie-name=\"monban_gateway\"")
        }
        _ => HeaderValue::from_static("Bearer realm=\"monban\""),
    }
}

/// Signed in, and the policy says no: a page in the browser's language, or
/// JSON.
fn refused(app: &App, answer: &Answer<'_>, signed_in: &SignedIn, reason: &str) -> Response {
    if answer.navigation() {
        let lang = crate::ui::lang_of(answer.headers);
        let back = answer.back(app).map(|(raw, _)| raw);
        return crate::ui::gateway::forbidden(app, lang, &signed_in.username, back.as_deref());
    }
    json(StatusCode::FORBIDDEN, "access_denied", reason)
}

/// Gateway cookies that cannot all be the browser's own: a page saying so
/// (as a 403, which nginx passes on), or JSON.
fn conflicting(app: &App, answer: &Answer<'_>) -> Response {
    if answer.navigation() {
        return crate::ui::gateway::conflicting_cookies(app, crate::ui::lang_of(answer.headers));
    }
    json(
        StatusCode::FORBIDDEN,
        "access_denied",
        "the request carries gateway cookies of more than one sign-in",
    )
}

fn json(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The original request, from headers believed only from a trusted proxy.
fn trusted_route(app: &App, peer: SocketAddr, headers: &HeaderMap) -> Result<Route, String> {
    let peer = peer.ip();
    if !app
        .config
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer))
    {
        return Err(format!(
            "the request's route is unknown: forwarded headers are believed only from MONBAN_TRUSTED_PROXIES, and {peer} is not in it"
        ));
    }
    Route::from_headers(headers).map_err(|e| format!("the request's route is unknown: {e}"))
}

/// `X-Monban-*`: who the token is for, for upstreams that read headers;
/// the session headers (`Remote-*`) empty, so that a gateway copying them
/// on a route that takes both passes no placeholder of its own.
fn upstream_headers(bearer: &Bearer) -> HeaderMap {
    let claims = &bearer.claims;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-monban-subject", claims.sub.clone()),
        ("x-monban-client", claims.client_id.clone()),
        ("x-monban-scope", claims.scope.clone()),
        ("x-monban-groups", bearer.groups().join(",")),
        ("remote-user", String::new()),
        ("remote-name", String::new()),
        ("remote-email", String::new()),
        ("remote-groups", String::new()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}
