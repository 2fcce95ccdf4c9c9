//! A scripted browser for the SSO tests: a cookie jar, no automatic
//! redirects, and the steps a person takes through monban's pages.

use std::collections::HashMap;

use monban::clients::ClientSettings;
use monban::types::{AuthMethod, ClientType, GrantType, Scopes};
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::helpers::{Site, TestApp, TestClient, service_settings};

pub const REDIRECT_URI: &str = "https://app.example.com/callback";
/// `monban client create` arguments of a first-party web app, code and
/// refresh, at `REDIRECT_URI`.
pub const WEB_APP_ARGS: &[&str] = &[
    "--name",
    "web",
    "--first-party",
    "--redirect-uri",
    REDIRECT_URI,
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
];
/// What the scripted browser calls itself (audit events record it).
pub const USER_AGENT: &str = "monban-tests/1 (scripted browser)";

pub struct Browser {
    pub http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser::resolving(&[], "127.0.0.1:0".parse().unwrap())
    }

    /// A browser that finds the host `names` (made up, such as
    /// `auth.monban.test`) at `addr`.
    pub fn resolving(names: &[&str], addr: std::net::SocketAddr) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let mut builder = reqwest::Client::builder()
            .cookie_provider(std::sync::Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        for name in names {
            builder = builder.resolve(name, addr);
        }
        Browser {
            http: builder.build().unwrap(),
            jar,
        }
    }

    /// The cookies this browser would send to `url` (a `Cookie` header).
    pub fn cookies_for(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&url::Url::parse(url).unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// The body of the page at `url`, asked for in `lang` (`Accept-Language`).
    pub async fn page_in(&self, url: &str, lang: &str) -> String {
        let r = self.http.get(url).header("accept-language", lang).send();
        r.await.unwrap().text().await.unwrap()
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// Follows redirects within monban (the origin of `app`) and stops at
    /// the first response that is not a redirect to monban: a page, or a
    /// redirect to the client. Returns it with the URL it came from.
    pub async fn follow(&self, app: &impl Site, mut response: reqwest::Response) -> Step {
        let mut url = response.url().to_string();
        for _ in 0..10 {
            let Some(location) = location(&response) else {
                break;
            };
            let next = absolute(app, &location);
            if !next.starts_with(&app.root_url("")) {
                return Step::Redirect(next);
            }
            url = next.clone();
            response = self.get(&next).await;
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        Step::Page { url, status, body }
    }

    /// Logs in on the login page shown at `step`.
    pub async fn submit_login(
        &self,
        app: &impl Site,
        step: &Step,
        username: &str,
        password: &str,
    ) -> Step {
        let body = step.page_body();
        let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
        let form = [
            ("csrf", csrf.as_str()),
            ("rid", rid.as_str()),
            ("username", username),
            ("password", password),
        ];
        let r = self.post_form(&app.url("/login"), &form).await;
        self.follow(app, r).await
    }

    /// Answers the consent page shown at `step`.
    pub async fn submit_consent(&self, app: &impl Site, step: &Step, decision: &str) -> Step {
        let body = step.page_body();
        let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
        let form = [
            ("csrf", csrf.as_str()),
            ("rid", rid.as_str()),
            ("decision", decision),
        ];
        let r = self.post_form(&app.url("/consent"), &form).await;
        self.follow(app, r).await
    }

    /// Starts an authorization request and follows it as far as it goes
    /// without the user.
    pub async fn authorize(&self, app: &impl Site, request: &AuthRequest) -> Step {
        let r = self.get(&request.url(app)).await;
        self.follow(app, r).await
    }

    /// The whole way to a code: login (and consent when asked).
    pub async fn sign_in(
        &self,
        app: &impl Site,
        request: &AuthRequest,
        username: &str,
        password: &str,
    ) -> HashMap<String, String> {
        let mut step = self.authorize(app, request).await;
        if step.is_login() {
            step = self.submit_login(app, &step, username, password).await;
        }
        if step.is_consent() {
            step = self.submit_consent(app, &step, "allow").await;
        }
        step.redirect_params()
    }

    /// The code flow as the user and their app go through it: sign in
    /// (and consent when asked), then the app redeems the code; the token
    /// response.
    pub async fn tokens_as(
        &self,
        app: &TestApp,
        client: &TestClient,
        request: &AuthRequest,
        username: &str,
        password: &str,
    ) -> Value {
        let params = self.sign_in(app, request, username, password).await;
        tokens(app, client, request, &params["code"]).await
    }

    /// The value of the `monban_session` cookie the browser holds.
    /// A browser holding the `monban_session` cookie `value` for `app`.
    pub fn with_session(app: &impl Site, value: &str) -> Browser {
        let browser = Browser::new();
        let url = url::Url::parse(&app.root_url("/")).unwrap();
        browser
            .jar
            .add_cookie_str(&format!("monban_session={value}; Path=/; HttpOnly"), &url);
        browser
    }

    pub fn session_cookie(&self, app: &impl Site) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&app.root_url("/")).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|c| c.strip_prefix("monban_session=").map(str::to_owned))
    }
}

/// Where the browser ended up.
#[derive(Debug)]
pub enum Step {
    /// A page of monban's (or its error page).
    Page {
        url: String,
        status: u16,
        body: String,
    },
    /// A redirect out of monban, to the client.
    Redirect(String),
}

impl Step {
    pub fn is_page(&self, path: &str) -> bool {
        matches!(self, Step::Page { url, .. } if url::Url::parse(url).is_ok_and(|u| u.path().ends_with(path)))
    }

    /// monban's login form is showing.
    pub fn is_login(&self) -> bool {
        matches!(self, Step::Page { body, .. } if body.contains("name=\"password\"") && body.contains("/login\""))
    }

    /// monban's consent form is showing.
    pub fn is_consent(&self) -> bool {
        matches!(self, Step::Page { body, .. } if body.contains("value=\"allow\""))
    }

    pub fn page_body(&self) -> &str {
        match self {
            Step::Page { body, .. } => body,
            Step::Redirect(to) => panic!("expected a page, got a redirect to {to}"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Step::Page { status, .. } => *status,
            Step::Redirect(_) => 303,
        }
    }

    /// The query of the redirect to the client.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let Step::Redirect(to) = self else {
            panic!("expected a redirect to the client, got {self:?}");
        };
        let url = url::Url::parse(to).unwrap();
        url.query_pairs().into_owned().collect()
    }

    pub fn redirect_target(&self) -> &str {
        match self {
            Step::Redirect(to) => to,
            Step::Page { url, .. } => panic!("expected a redirect, got the page {url}"),
        }
    }
}

pub fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn absolute(app: &impl Site, location: &str) -> String {
    if location.starts_with('/') {
        app.root_url(location)
    } else {
        location.to_owned()
    }
}

/// The value of a hidden form field.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {body}"))
        + marker.len();
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_owned()
}

/// An authorization request as an app would send it, with PKCE.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub verifier: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl AuthRequest {
    pub fn new(client: &TestClient) -> AuthRequest {
        AuthRequest {
            client_id: client.id.clone(),
            redirect_uri: REDIRECT_URI.to_owned(),
            scope: "openid profile email".to_owned(),
            state: uuid::Uuid::new_v4().to_string(),
            nonce: uuid::Uuid::new_v4().to_string(),
            verifier: Some(monban::pkce::new_verifier()),
            extra: vec![],
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> AuthRequest {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn scope(mut self, scope: &str) -> AuthRequest {
        scope.clone_into(&mut self.scope);
        self
    }

    /// The request's parameters, in order.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        if let Some(verifier) = &self.verifier {
            params.push(("code_challenge".into(), monban::pkce::s256(verifier)));
            params.push(("code_challenge_method".into(), "S256".into()));
        }
        params.extend(self.extra.iter().cloned());
        params
    }

    pub fn url(&self, app: &impl Site) -> String {
        let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(self.params());
        url.to_string()
    }
}

/// A web app: confidential, code + refresh, redirect URI `REDIRECT_URI`.
pub fn web_app_settings() -> ClientSettings {
    ClientSettings {
        name: "Web App".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec!["https://app.example.com/signed-out".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: Scopes::default(),
        ..service_settings()
    }
}

/// A single-page app: public, PKCE, code + refresh.
pub fn spa_settings() -> ClientSettings {
    ClientSettings {
        name: "SPA".into(),
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        redirect_uris: vec!["https://spa.example.com/cb".into()],
        ..web_app_settings()
    }
}

impl TestApp {
    /// A registered first-party web app (no consent asked), the client most
    /// code-flow tests sign in to.
    pub async fn first_party_web_app(&self) -> TestClient {
        self.register(ClientSettings {
            first_party: true,
            ..web_app_settings()
        })
        .await
    }
}

/// Redeems a code at the token endpoint as the client would.
pub async fn redeem(
    app: &TestApp,
    client: &TestClient,
    request: &AuthRequest,
    code: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", request.redirect_uri.as_str()),
    ];
    if let Some(v) = &request.verifier {
        form.push(("code_verifier", v));
    }
    if client.secret.is_empty() {
        form.push(("client_id", &client.id));
        app.post_form("/token", &form).await
    } else {
        app.post_basic("/token", client, &form).await
    }
}

/// A successful code redemption's body.
pub async fn tokens(
    app: &TestApp,
    client: &TestClient,
    request: &AuthRequest,
    code: &str,
) -> Value {
    let r = redeem(app, client, request, code).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    r.json().await.unwrap()
}
