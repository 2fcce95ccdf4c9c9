//! A real browser: headless Chromium, driven over WebDriver (chromedriver),
//! logs in through monban's pages, is sent back to a test RP with a code,
//! signs in to a second client without a form (SSO), logs out, and then gets
//! `login_required` on `prompt=none`. Screenshots of the login and consent
//! pages, in English and Japanese, go to `target/screenshots/` for review.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the test says so and passes, unless
//! `MONBAN_TEST_REQUIRE_BROWSER` is set (CI sets it).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::extract::RawQuery;
use fantoccini::{Client, ClientBuilder, Locator};
use monban::clients::ClientSettings;
use monban::types::{AuthMethod, ClientType, GrantType, Scopes};

use crate::db_test;
use crate::helpers::{TestApp, TestClient, service_settings};

const PASSWORD: &str = "correct horse battery staple";

pub struct Driver {
    process: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts chromedriver, or explains why the test cannot run.
pub fn start_driver() -> Option<Driver> {
    let available = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("MONBAN_TEST_REQUIRE_BROWSER").is_none(),
            "chromedriver is required (MONBAN_TEST_REQUIRE_BROWSER is set)"
        );
        eprintln!("skipped: install chromium and chromium-driver to run the browser test");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Driver {
        process,
        port,
        _profile: tempfile::tempdir().unwrap(),
    })
}

async fn connect(driver: &Driver) -> Client {
    connect_in(driver, "en").await
}

/// A browser whose preferred language (`Accept-Language`) is `lang`.
async fn connect_in(driver: &Driver, lang: &str) -> Client {
    connect_with(driver, lang, &[]).await
}

/// A browser with more command-line switches (`--host-resolver-rules`).
pub async fn connect_with(driver: &Driver, lang: &str, extra: &[&str]) -> Client {
    // Two rustls providers are linked into the test binary; pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let profile = driver._profile.path().display().to_string();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1024,900",
        &format!("--user-data-dir={profile}"),
        &format!("--lang={lang}"),
        &format!("--accept-lang={lang}"),
    ];
    let args: Vec<&str> = args.iter().copied().chain(extra.iter().copied()).collect();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": args,
            "binary": "/usr/bin/chromium",
            "prefs": {"intl.accept_languages": lang},
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start Chromium: {e}"),
        }
    }
}

/// The relying party's redirect URI: a page that shows what it received.
async fn test_rp() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|RawQuery(q): RawQuery| async move {
            axum::response::Html(format!(
                "<!doctype html><title>RP</title><p id=\"query\">{}</p>",
                q.unwrap_or_default()
            ))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn client_for(app: &TestApp, rp: SocketAddr, name: &str, first_party: bool) -> TestClient {
    app.register(ClientSettings {
        name: name.into(),
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        first_party,
        redirect_uris: vec![format!("http://127.0.0.1:{}/callback", rp.port())],
        post_logout_redirect_uris: vec![format!("http://127.0.0.1:{}/callback", rp.port())],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: Scopes::default(),
        ..service_settings()
    })
    .await
}

fn authorize_url(
    app: &TestApp,
    rp: SocketAddr,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair(
            "redirect_uri",
            &format!("http://127.0.0.1:{}/callback", rp.port()),
        )
        .append_pair("scope", "openid profile email")
        .append_pair("state", "xyz")
        .append_pair(
            "code_challenge",
            &monban::pkce::s256(&monban::pkce::new_verifier()),
        )
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.to_string()
}

pub async fn screenshot(app: &TestApp, browser: &Client, name: &str) {
    let name = format!("{name}-{}", format!("{:?}", app.backend).to_lowercase());
    let png = browser.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The query the test RP received.
async fn rp_query(browser: &Client) -> std::collections::HashMap<String, String> {
    let text = browser
        .find(Locator::Id("query"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// Waits until the page shows `what` (fantoccini's default wait).
pub async fn wait_for(browser: &Client, what: Locator<'_>) {
    if let Err(e) = browser.wait().for_element(what).await {
        let at = browser.current_url().await.map(|u| u.to_string());
        let text = match browser.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        panic!("waited for {what:?} ({e}) at {at:?}, which shows: {text}");
    }
}

/// Waits until the browser is at a page whose path ends with `path` (a
/// form's answer, where the page before had the same elements).
pub async fn wait_for_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let at = browser.current_url().await.unwrap();
        if at.path().ends_with(path) {
            return;
        }
        assert!(Instant::now() < deadline, "still at {at}, not {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `what`, found again if the page replaced it meanwhile (a
/// script re-rendering it).
pub async fn click(browser: &Client, what: Locator<'_>) {
    use fantoccini::error::{CmdError, ErrorStatus};
    for attempt in 0.. {
        match browser.find(what).await.unwrap().click().await {
            Ok(()) => return,
            Err(CmdError::Standard(e))
                if e.error == ErrorStatus::StaleElementReference && attempt < 3 => {}
            Err(e) => panic!("cannot click {what:?}: {e}"),
        }
    }
}

pub async fn type_into(browser: &Client, field: Locator<'_>, text: &str) {
    browser
        .find(field)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Signs in on the login page the browser shows.
pub async fn log_in(browser: &Client, username: &str, password: &str) {
    type_into(browser, Locator::Id("username"), username).await;
    type_into(browser, Locator::Id("password"), password).await;
    click(browser, Locator::Css("button[type=submit]")).await;
}

db_test!(
    chromium_logs_in_signs_in_elsewhere_and_logs_out,
    async |app: TestApp| {
        let Some(driver) = start_driver() else {
            return;
        };
        app.user("alice", PASSWORD).await;
        let rp = test_rp().await;
        let third_party = client_for(&app, rp, "Expense Reports", false).await;
        let first_party = client_for(&app, rp, "Team Wiki", true).await;
        let browser = connect(&driver).await;

        // Login and consent, in English.
        browser
            .goto(&authorize_url(&app, rp, &third_party, &[]))
            .await
            .unwrap();
        wait_for(&browser, Locator::Id("username")).await;
        assert!(browser.source().await.unwrap().contains("Expense Reports"));
        screenshot(&app, &browser, "login-en").await;
        log_in(&browser, "alice", PASSWORD).await;
        wait_for(&browser, Locator::Css("button[value=allow]")).await;
        screenshot(&app, &browser, "consent-en").await;
        click(&browser, Locator::Css("button[value=allow]")).await;
        wait_for(&browser, Locator::Id("query")).await;
        let query = rp_query(&browser).await;
        assert!(query.contains_key("code"), "{query:?}");
        assert_eq!(query["state"], "xyz");
        assert_eq!(query["iss"], app.issuer);

        // SSO: the second client, no form at all.
        browser
            .goto(&authorize_url(&app, rp, &first_party, &[]))
            .await
            .unwrap();
        wait_for(&browser, Locator::Id("query")).await;
        assert!(rp_query(&browser).await.contains_key("code"));

        // Japanese pages (a fresh login is asked for with prompt=login).
        browser
            .goto(&authorize_url(
                &app,
                rp,
                &third_party,
                &[("ui_locales", "ja"), ("prompt", "login consent")],
            ))
            .await
            .unwrap();
        wait_for(&browser, Locator::Id("username")).await;
        assert!(browser.source().await.unwrap().contains("サインイン"));
        screenshot(&app, &browser, "login-ja").await;
        log_in(&browser, "alice", PASSWORD).await;
        wait_for(&browser, Locator::Css("button[value=allow]")).await;
        assert!(browser.source().await.unwrap().contains("許可する"));
        screenshot(&app, &browser, "consent-ja").await;
        click(&browser, Locator::Css("button[value=allow]")).await;
        wait_for(&browser, Locator::Id("query")).await;

        // Logout, confirmed on monban's page, back to the RP.
        let mut logout = url::Url::parse(&app.url("/end_session")).unwrap();
        logout
            .query_pairs_mut()
            .append_pair("client_id", &first_party.id)
            .append_pair(
                "post_logout_redirect_uri",
                &format!("http://127.0.0.1:{}/callback", rp.port()),
            )
            .append_pair("state", "bye");
        browser.goto(logout.as_str()).await.unwrap();
        wait_for(&browser, Locator::Css("button[value=logout]")).await;
        click(&browser, Locator::Css("button[value=logout]")).await;
        wait_for(&browser, Locator::Id("query")).await;
        assert_eq!(rp_query(&browser).await["state"], "bye");

        // Signed out: prompt=none says login_required.
        browser
            .goto(&authorize_url(
                &app,
                rp,
                &first_party,
                &[("prompt", "none")],
            ))
            .await
            .unwrap();
        wait_for(&browser, Locator::Id("query")).await;
        assert_eq!(rp_query(&browser).await["error"], "login_required");
        browser.close().await.unwrap();
    }
);

db_test!(
    chromium_admin_creates_a_client_and_sees_its_secret_once,
    async |app: TestApp| {
        let Some(driver) = start_driver() else {
            return;
        };
        let root = app.user("root", PASSWORD).await;
        monban::store::groups::insert(&app.db, "admin", monban::unix_now())
            .await
            .unwrap();
        monban::store::groups::add_member(&app.db, root, "admin")
            .await
            .unwrap();
        let browser = connect(&driver).await;

        // The admin pages send the browser through monban's own login.
        browser.goto(&app.url("/admin/clients")).await.unwrap();
        wait_for(&browser, Locator::Id("username")).await;
        log_in(&browser, "root", PASSWORD).await;
        wait_for(&browser, Locator::Id("client_name")).await;
        screenshot(&app, &browser, "admin-clients-en").await;

        // A service client, created with the form (no JavaScript needed).
        type_into(&browser, Locator::Id("client_name"), "Billing").await;
        type_into(&browser, Locator::Id("client_id"), "billing").await;
        let create = "form[action$='/admin/clients'] button[type=submit]";
        click(&browser, Locator::Css(create)).await;
        let secret = browser
            .wait()
            .for_element(Locator::Id("client-secret"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        screenshot(&app, &browser, "admin-client-secret-en").await;
        assert!(secret.len() >= 43, "{secret}");
        let billing = TestClient {
            id: "billing".into(),
            secret: secret.clone(),
        };
        assert_eq!(app.token(&billing, &[]).await.status(), 200, "it works");

        // Seen once: the client's page does not show it again.
        browser
            .goto(&app.url("/admin/clients/billing"))
            .await
            .unwrap();
        wait_for(&browser, Locator::Id("client-id")).await;
        let page = browser.source().await.unwrap();
        assert!(page.contains("Billing"));
        assert!(!page.contains(&secret), "the secret is shown once only");
        assert!(browser.find(Locator::Id("client-secret")).await.is_err());

        // Edited with the page's own form: opaque tokens, first party.
        let edit = "section[aria-labelledby=edit-client]";
        click(
            &browser,
            Locator::Css(&format!("{edit} #access_token_format option[value=opaque]")),
        )
        .await;
        click(
            &browser,
            Locator::Css(&format!("{edit} input[name=first_party]")),
        )
        .await;
        screenshot(&app, &browser, "admin-client-edit-en").await;
        click(
            &browser,
            Locator::Css(&format!("{edit} button[type=submit]")),
        )
        .await;
        wait_for(&browser, Locator::Css("p.ok")).await;
        let billing = monban::store::clients::find(&app.db, "billing")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            billing
                .access_token_format
                .map(|f| f.to_string())
                .as_deref(),
            Some("opaque")
        );
        assert!(billing.first_party);

        // The audit log names the admin and the client.
        browser.goto(&app.url("/admin/audit")).await.unwrap();
        wait_for(&browser, Locator::Id("filter-user")).await;
        let page = browser.source().await.unwrap();
        assert!(
            page.contains(">root</a>") && page.contains(">Billing (billing)</a>"),
            "{page}"
        );
        screenshot(&app, &browser, "admin-audit-en").await;
        browser.close().await.unwrap();

        // The same pages in Japanese.
        let browser = connect_in(&driver, "ja").await;
        browser
            .goto(&app.url("/admin/clients/billing"))
            .await
            .unwrap();
        // The profile may keep the SSO cookie of the session before.
        if browser.find(Locator::Id("username")).await.is_ok() {
            log_in(&browser, "root", PASSWORD).await;
        }
        wait_for(&browser, Locator::Id("client-id")).await;
        let page = browser.source().await.unwrap();
        assert!(
            page.contains("設定を編集") && !page.contains("Edit settings"),
            "{page}"
        );
        screenshot(&app, &browser, "admin-client-ja").await;
        browser.goto(&app.url("/admin/audit")).await.unwrap();
        wait_for(&browser, Locator::Id("filter-user")).await;
        assert!(browser.source().await.unwrap().contains("監査ログ"));
        screenshot(&app, &browser, "admin-audit-ja").await;
        browser.close().await.unwrap();
    }
);

/// WebDriver's "Add Virtual Authenticator" (WebAuthn §11.3), which
/// chromedriver implements: a platform authenticator with resident keys
/// and user verification that answers without a person.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// WebDriver's "Set User Verified" (WebAuthn §11.8) of a virtual
/// authenticator.
#[derive(Debug)]
struct SetUserVerified {
    authenticator: String,
    verified: bool,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SetUserVerified {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator/{}/uv",
            session_id.unwrap_or_default(),
            self.authenticator
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({"isUserVerified": self.verified});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Drops monban's cookies (WebDriver deletes those of the page shown).
async fn forget_session(app: &TestApp, browser: &Client) {
    browser.goto(&app.url("/")).await.unwrap();
    browser.delete_all_cookies().await.unwrap();
}

/// The amr of the newest sign-in.
async fn last_amr(app: &TestApp) -> serde_json::Value {
    let events = app.audit("login.succeeded").await;
    events[0]["detail"]["amr"].clone()
}

db_test!(
    chromium_registers_and_signs_in_with_a_passkey,
    [("TEST_ISSUER_HOST", "localhost")],
    async |app: TestApp| {
        let Some(driver) = start_driver() else {
            return;
        };
        app.user("alice", PASSWORD).await;
        let rp = test_rp().await;
        let wiki = client_for(&app, rp, "Team Wiki", true).await;
        let browser = connect(&driver).await;
        let authenticator = browser.issue_cmd(AddVirtualAuthenticator).await.unwrap();
        let authenticator = authenticator.as_str().unwrap().to_owned();

        // A passkey added on /account (the session: a password alone).
        browser.goto(&app.url("/account")).await.unwrap();
        wait_for(&browser, Locator::Id("username")).await;
        log_in(&browser, "alice", PASSWORD).await;
        wait_for(&browser, Locator::Id("passkey-name")).await;
        type_into(&browser, Locator::Id("passkey-name"), "Laptop").await;
        type_into(&browser, Locator::Id("passkey-password"), PASSWORD).await;
        screenshot(&app, &browser, "account-passkeys-en").await;
        click(&browser, Locator::Css("form[data-passkey=create] button")).await;
        wait_for(&browser, Locator::Css("ol.codes")).await;
        screenshot(&app, &browser, "recovery-codes-en").await;
        click(&browser, Locator::Css("a.button")).await;
        wait_for(&browser, Locator::Id("passkey-id")).await;
        assert!(browser.source().await.unwrap().contains("Laptop"));

        // Step-up from the password to phr: only the passkey is asked.
        browser
            .goto(&authorize_url(&app, rp, &wiki, &[("acr_values", "phr")]))
            .await
            .unwrap();
        wait_for(&browser, Locator::Css("form[data-passkey=get] button")).await;
        screenshot(&app, &browser, "passkey-factor-en").await;
        click(&browser, Locator::Css("form[data-passkey=get] button")).await;
        wait_for(&browser, Locator::Id("query")).await;
        assert!(rp_query(&browser).await.contains_key("code"));
        assert_eq!(
            last_amr(&app).await,
            serde_json::json!(["pwd", "hwk", "user", "mfa"])
        );

        // Without a password: the login page's button.
        forget_session(&app, &browser).await;
        browser
            .goto(&authorize_url(&app, rp, &wiki, &[]))
            .await
            .unwrap();
        // The username field offers the passkey (conditional mediation);
        // the virtual authenticator picks it at once, so this sign-in needs
        // no click (the button's way is the second factor's, below).
        wait_for(&browser, Locator::Id("query")).await;
        assert!(rp_query(&browser).await.contains_key("code"));
        assert_eq!(
            last_amr(&app).await,
            serde_json::json!(["hwk", "user", "mfa"])
        );

        // A password, then the passkey as the second factor: the
        // authenticator refuses the autofill's request while it cannot
        // verify the user, and verifies again for the button.
        forget_session(&app, &browser).await;
        let uv = |verified| SetUserVerified {
            authenticator: authenticator.clone(),
            verified,
        };
        browser.issue_cmd(uv(false)).await.unwrap();
        browser
            .goto(&authorize_url(&app, rp, &wiki, &[]))
            .await
            .unwrap();
        wait_for(&browser, Locator::Css("form[data-passkey=get] button")).await;
        screenshot(&app, &browser, "login-passkey-en").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.issue_cmd(uv(true)).await.unwrap();
        log_in(&browser, "alice", PASSWORD).await;
        // The login page has a passkey button too: the factor page first.
        wait_for_path(&browser, "/login").await;
        wait_for(&browser, Locator::Css("form[data-passkey=get] button")).await;
        click(&browser, Locator::Css("form[data-passkey=get] button")).await;
        wait_for(&browser, Locator::Id("query")).await;
        assert!(rp_query(&browser).await.contains_key("code"));
        assert_eq!(
            last_amr(&app).await,
            serde_json::json!(["pwd", "hwk", "user", "mfa"])
        );

        // The same pages in Japanese (one browser at a time on the profile).
        browser.close().await.unwrap();
        let ja = connect_in(&driver, "ja").await;
        ja.issue_cmd(AddVirtualAuthenticator).await.unwrap();
        forget_session(&app, &ja).await;
        ja.goto(&authorize_url(&app, rp, &wiki, &[("ui_locales", "ja")]))
            .await
            .unwrap();
        wait_for(&ja, Locator::Css("form[data-passkey=get] button")).await;
        assert!(ja.source().await.unwrap().contains("パスキーでサインイン"));
        screenshot(&app, &ja, "login-passkey-ja").await;
        log_in(&ja, "alice", PASSWORD).await;
        wait_for_path(&ja, "/login").await;
        wait_for(&ja, Locator::Css("form[data-passkey=get] button")).await;
        assert!(ja.source().await.unwrap().contains("パスキーを使う"));
        screenshot(&app, &ja, "passkey-factor-ja").await;
        ja.close().await.unwrap();
    }
);
