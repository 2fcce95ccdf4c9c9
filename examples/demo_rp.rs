//! A minimal web app that signs in with monban through the `openidconnect`
//! crate (code + PKCE), shows every claim of the ID token and of userinfo,
//! and signs out through monban's end_session endpoint. Run two on two
//! ports to see SSO: the second one signs in without a password, and
//! signing out of one signs out of both. See the README ("See SSO with two
//! demo apps").
//!
//! cargo run --example demo_rp -- --port 3001 --client CLIENT.json
//!
//! CLIENT.json is what `monban client create … --json` printed (its
//! `client_id` and `client_secret`), so the secret is never on a command
//! line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Demo {
    name: String,
    port: u16,
    client: Client,
    http: openidconnect::reqwest::Client,
    end_session: Option<String>,
    userinfo: Option<String>,
    /// Browser id (cookie) → where its sign-in stands.
    browsers: Mutex<HashMap<String, Visitor>>,
}

#[derive(Default)]
struct Visitor {
    pending: Option<(CsrfToken, Nonce, String)>,
    claims: Option<serde_json::Value>,
    userinfo: Option<serde_json::Value>,
    id_token: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let issuer = arg("--issuer").unwrap_or_else(|| "http://localhost:8080".into());
    let port: u16 = arg("--port").unwrap_or_else(|| "3001".into()).parse()?;
    let file = arg("--client")
        .ok_or("--client FILE is required (the JSON of `monban client create --json`)")?;
    let registered: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let field = |name: &str| {
        registered
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or(format!("{file} has no {name}"))
    };
    let (client_id, client_secret) = (field("client_id")?, field("client_secret")?);
    let name = arg("--name").unwrap_or_else(|| format!("Demo app on port {port}"));

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()?;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http).await?;
    let discovery: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let endpoint = |name: &str| {
        discovery
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let (end_session, userinfo) = (
        endpoint("end_session_endpoint"),
        endpoint("userinfo_endpoint"),
    );
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        Some(ClientSecret::new(client_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(format!(
        "http://localhost:{port}/callback"
    ))?);
    let demo = Arc::new(Demo {
        name,
        port,
        client,
        http,
        end_session,
        userinfo,
        browsers: Mutex::default(),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", get(logout))
        .with_state(demo);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("demo app: http://localhost:{port}/");
    axum::serve(listener, app).await?;
    Ok(())
}

fn cookie_name(demo: &Demo) -> String {
    format!("demo_rp_{}", demo.port)
}

/// The browser's id from its cookie, or a new one (to be set).
fn browser_id(demo: &Demo, headers: &HeaderMap) -> (String, bool) {
    let name = cookie_name(demo);
    let found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split("; "))
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned));
    match found {
        Some(id) => (id, false),
        None => (CsrfToken::new_random().secret().clone(), true),
    }
}

fn with_cookie(demo: &Demo, id: &str, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let cookie = format!("{}={id}; HttpOnly; SameSite=Lax; Path=/", cookie_name(demo));
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn home(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    let (id, _) = browser_id(&demo, &headers);
    let seen = demo.browsers.lock().ok().and_then(|b| {
        b.get(&id)
            .and_then(|v| Some((v.claims.clone()?, v.userinfo.clone())))
    });
    let pretty =
        |v: &serde_json::Value| escape(&serde_json::to_string_pretty(v).unwrap_or_default());
    let body = match seen {
        Some((claims, userinfo)) => format!(
            "<p>Signed in as <strong>{}</strong>.</p><h2>ID token claims</h2><pre>{}</pre><h2>Userinfo</h2><pre>{}</pre><p><a href=\"/logout\">Sign out</a></p>",
            escape(
                claims
                    .get("preferred_username")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
            ),
            pretty(&claims),
            userinfo
                .as_ref()
                .map(pretty)
                .unwrap_or_else(|| "(no userinfo endpoint)".into())
        ),
        None => "<p>You are not signed in.</p><p><a href=\"/login\">Sign in with monban</a></p>"
            .to_owned(),
    };
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>{0}</title><h1>{0}</h1>{body}",
        escape(&demo.name)
    ))
    .into_response()
}

async fn login(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    let (id, _) = browser_id(&demo, &headers);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = demo
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut browsers) = demo.browsers.lock() {
        browsers.entry(id.clone()).or_default().pending =
            Some((state, nonce, verifier.secret().clone()));
    }
    with_cookie(&demo, &id, Redirect::to(url.as_str()))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    let (id, _) = browser_id(&demo, &headers);
    if let Some(error) = cb.error {
        return Html(format!(
            "<p>monban said: {}</p><p><a href=\"/\">Back</a></p>",
            escape(&error)
        ))
        .into_response();
    }
    let pending = demo
        .browsers
        .lock()
        .ok()
        .and_then(|mut b| b.get_mut(&id).and_then(|v| v.pending.take()));
    let Some((state, nonce, verifier)) = pending else {
        return Html("<p>No sign-in in progress.</p><p><a href=\"/\">Back</a></p>").into_response();
    };
    if cb.state.as_deref() != Some(state.secret().as_str()) {
        return Html("<p>The state does not match.</p>").into_response();
    }
    let Some(code) = cb.code else {
        return Html("<p>No code.</p>").into_response();
    };
    let tokens = match demo
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map(|r| r.set_pkce_verifier(PkceCodeVerifier::new(verifier)))
    {
        Ok(request) => request.request_async(&demo.http).await,
        Err(e) => return Html(format!("<p>{}</p>", escape(&e.to_string()))).into_response(),
    };
    let tokens = match tokens {
        Ok(tokens) => tokens,
        Err(e) => {
            return Html(format!(
                "<p>Token request failed: {}</p>",
                escape(&e.to_string())
            ))
            .into_response();
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return Html("<p>No ID token.</p>").into_response();
    };
    // The library checks the signature, issuer, audience, expiry and nonce;
    // its typed claims drop the ones OIDC Core does not name (`groups`,
    // `sid`), so the page shows the verified token's payload as sent.
    let claims = match id_token.claims(&demo.client.id_token_verifier(), &nonce) {
        Ok(_) => payload(&id_token.to_string()),
        Err(e) => {
            return Html(format!(
                "<p>The ID token did not verify: {}</p>",
                escape(&e.to_string())
            ))
            .into_response();
        }
    };
    let userinfo = match &demo.userinfo {
        Some(url) => Some(
            match fetch_userinfo(&demo.http, url, tokens.access_token().secret()).await {
                // OIDC Core §5.3.2: the answer is about the ID token's user
                // or not used at all.
                Ok(info) if info.get("sub") != claims.get("sub") => {
                    serde_json::json!({"error": "userinfo names another sub than the ID token"})
                }
                Ok(info) => info,
                Err(e) => serde_json::json!({"error": e.to_string()}),
            },
        ),
        None => None,
    };
    if let Ok(mut browsers) = demo.browsers.lock() {
        let visitor = browsers.entry(id.clone()).or_default();
        visitor.claims = Some(claims);
        visitor.userinfo = userinfo;
        visitor.id_token = Some(id_token.to_string());
    }
    Redirect::to("/").into_response()
}

/// RP-Initiated Logout: monban ends the SSO session and sends the browser
/// back here.
async fn logout(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    let (id, _) = browser_id(&demo, &headers);
    let visitor = demo.browsers.lock().ok().and_then(|mut b| b.remove(&id));
    let Some(end_session) = &demo.end_session else {
        return Redirect::to("/").into_response();
    };
    let mut url = match url::Url::parse(end_session) {
        Ok(url) => url,
        Err(_) => return Redirect::to("/").into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        if let Some(token) = visitor.and_then(|v| v.id_token) {
            q.append_pair("id_token_hint", &token);
        }
        q.append_pair(
            "post_logout_redirect_uri",
            &format!("http://localhost:{}/", demo.port),
        );
    }
    Redirect::to(url.as_str()).into_response()
}

/// OIDC Core §5.3: the user's claims, for the access token's scopes.
async fn fetch_userinfo(
    http: &openidconnect::reqwest::Client,
    url: &str,
    access_token: &str,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let response = http.get(url).bearer_auth(access_token).send().await?;
    let status = response.status();
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
    if !status.is_success() {
        return Err(format!("userinfo answered {status}: {body}").into());
    }
    Ok(body)
}

/// The claims of a JWT the library has already verified.
fn payload(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    jwt.split('.')
        .nth(1)
        .and_then(|part| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
