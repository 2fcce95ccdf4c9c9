//! Apps without OIDC behind real gateways, used by a real browser: nginx
//! (`auth_request`) and Caddy (`forward_auth`) run the configurations
//! `docs/gateways/` shows (`nginx-apps.conf`, `Caddyfile-apps`, with the
//! policy `apps-policy.toml`) in front of two echo apps on two host names
//! under one parent domain, which headless Chromium maps to 127.0.0.1.
//! Chromium opens app one → monban's login page → back at app one, which
//! saw `Remote-User`; app two needs no login; a group's route shows the 403
//! page; a route that needs `mfa` steps up with a TOTP code; signing out on
//! app one signs app two out. Around it, plain HTTP shows that a forged
//! `Remote-User` and the gateway cookie never reach an app, an API call
//! without the cookie gets a 401, and `rd` to another domain is refused.
//!
//! Skipped without the gateways or Chromium, unless
//! `MONBAN_TEST_REQUIRE_GATEWAYS` / `MONBAN_TEST_REQUIRE_BROWSER` (CI).

use axum::http::HeaderMap;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::chromium::{connect_with, log_in, screenshot, start_driver, type_into, wait_for};
use crate::db_test;
use crate::gateway_sessions::{APPS_POLICY, AUTH_HOST, DOMAIN, PASSWORD, browser_for};
use crate::gateways::{Gateway, documented};
use crate::helpers::{TestApp, free_port};

/// An app that knows nothing of OIDC: its page shows the headers it got,
/// and links to the gateway sign-out.
async fn echo_app(issuer: String) -> String {
    async fn page(
        axum::extract::State(issuer): axum::extract::State<String>,
        uri: axum::http::Uri,
        headers: HeaderMap,
    ) -> axum::response::Html<String> {
        let seen: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_owned(), json!(value))
            })
            .collect();
        let seen = json!({"uri": uri.to_string(), "headers": seen});
        // Where the browser thinks the app is (the gateway says).
        let host = headers
            .get("x-forwarded-host")
            .or_else(|| headers.get("host"))
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let back = format!("http://{host}/");
        let logout = format!("{issuer}/logout?rd={}", crate::helpers::urlencode(&back));
        let escaped = seen.to_string().replace('&', "&amp;").replace('<', "&lt;");
        axum::response::Html(format!(
            "<!doctype html><title>app</title><pre id=\"seen\">{escaped}</pre>\
             <a id=\"signout\" href=\"{logout}\">Sign out</a>"
        ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = axum::Router::new().fallback(page).with_state(issuer);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// What the app showed in the browser.
async fn seen(browser: &Client) -> Value {
    wait_for(browser, Locator::Id("seen")).await;
    let text = browser
        .find(Locator::Id("seen"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn body_text(browser: &Client) -> String {
    wait_for(browser, Locator::Css("body")).await;
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn journey(gateway: Gateway, app: TestApp) {
    if !gateway.installed() {
        return;
    }
    let Some(driver) = start_driver() else {
        return;
    };
    let alice = app.user("alice", PASSWORD).await;
    let (one, two) = (
        echo_app(app.issuer.clone()).await,
        echo_app(app.issuer.clone()).await,
    );
    let port = free_port();
    let file = match gateway {
        Gateway::Nginx => "nginx-apps.conf",
        Gateway::Caddy => "Caddyfile-apps",
    };
    let config = documented(file)
        .replace("example.com", DOMAIN)
        .replace(":8000", &format!(":{port}"))
        .replace("127.0.0.1:8080", &app.addr.to_string())
        .replace("127.0.0.1:3001", &one)
        .replace("127.0.0.1:3002", &two);
    let running = gateway.run(config, format!("127.0.0.1:{port}")).await;
    let app_one = format!("http://app1.{DOMAIN}:{port}");
    let app_two = format!("http://app2.{DOMAIN}:{port}");

    let rules = format!("--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1");
    // Plain http on names that are not loopback: Chromium sends no Fetch
    // Metadata (Sec-Fetch-Site) there, which monban's forms rely on as a
    // deployment's https would give them; these origins count as secure.
    let secure = format!(
        "--unsafely-treat-insecure-origin-as-secure={},{app_one},{app_two}",
        app.root_url("")
    );
    let browser = connect_with(
        &driver,
        "en",
        &[
            &rules,
            &secure,
            "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
        ],
    )
    .await;

    // App one: to monban's login page, and back, signed in.
    browser
        .goto(&format!("{app_one}/dashboard?tab=1"))
        .await
        .unwrap();
    wait_for(&browser, Locator::Id("username")).await;
    let at = browser.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some(AUTH_HOST), "monban's login page: {at}");
    log_in(&browser, "alice", PASSWORD).await;
    let page = seen(&browser).await;
    let at = browser.current_url().await.unwrap();
    assert_eq!(at.as_str(), format!("{app_one}/dashboard?tab=1"));
    assert_eq!(page["headers"]["remote-user"], "alice", "{page}");
    assert_eq!(page["headers"]["remote-email"], "alice@example.com");
    assert_eq!(
        page["headers"]["x-monban-subject"],
        alice.to_string().as_str()
    );
    assert!(
        !page.to_string().contains("monban_gateway"),
        "the gateway cookie stays between the browser and monban: {page}"
    );

    // App two: signed in already.
    browser.goto(&format!("{app_two}/")).await.unwrap();
    let page = seen(&browser).await;
    assert_eq!(page["headers"]["remote-user"], "alice", "{page}");

    // The staff pages: not for alice, who sees why.
    browser.goto(&format!("{app_one}/staff")).await.unwrap();
    let text = body_text(&browser).await;
    assert!(text.contains("No access"), "{text}");
    assert!(text.contains("alice"), "{text}");
    screenshot(
        &app,
        &browser,
        &format!("gateway-no-access-{}", gateway.binary()),
    )
    .await;

    // Billing needs a second factor: alice sets one up (elsewhere), and
    // this session steps up with a code, without the password.
    let scripted = browser_for(&app);
    let account = crate::mfa::account(&app, &scripted, "alice").await;
    let (totp, _) = crate::mfa::enrol(&app, &scripted, &account).await;
    browser.goto(&format!("{app_one}/billing")).await.unwrap();
    wait_for(&browser, Locator::Css("input[name=code]")).await;
    assert!(
        browser.find(Locator::Id("password")).await.is_err(),
        "a step-up asks no password"
    );
    // The next step's code (within the skew): this step's was used to
    // set the app up, and a code counts once.
    crate::mfa::fresh_step().await;
    type_into(&browser, Locator::Css("input[name=code]"), &totp.code(1)).await;
    browser
        .find(Locator::Css("input[name=code]"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let page = seen(&browser).await;
    assert_eq!(page["uri"], "/billing", "{page}");
    assert_eq!(page["headers"]["remote-user"], "alice");

    // Plain HTTP through the gateway, with the browser's cookie: a forged
    // identity never reaches the app; without the cookie, an API call gets
    // a 401 and a forged header reaches nothing.
    let cookies = browser.get_all_cookies().await.unwrap();
    let gateway_cookie = cookies
        .iter()
        .find(|c| c.name() == "monban_gateway")
        .expect("the browser holds the gateway cookie");
    let domain = gateway_cookie.domain().map(|d| d.trim_start_matches('.'));
    assert_eq!(domain, Some(DOMAIN), "for the parent domain");
    assert_eq!(gateway_cookie.http_only(), Some(true));
    let cookie = format!("monban_gateway={}; theme=dark", gateway_cookie.value());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&format!("app1.{DOMAIN}"), running.addr.parse().unwrap())
        .build()
        .unwrap();
    let r = http
        .get(format!("{app_one}/"))
        .header("Cookie", &cookie)
        .header("Remote-User", "root")
        .header("Remote-Groups", "admin")
        .header("X-Monban-Subject", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("\"remote-user\":\"alice\""), "{body}");
    assert!(
        !body.contains("root") && !body.contains("someone-else"),
        "{body}"
    );
    assert!(!body.contains("admin"), "{body}");
    assert!(!body.contains("monban_gateway"), "{body}");
    assert!(
        body.contains("theme=dark"),
        "the app's own cookies pass: {body}"
    );
    let r = http
        .get(format!("{app_one}/api/orders"))
        .header("Accept", "application/json")
        .header("Remote-User", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(!body.contains("root"), "{body}");
    let r = http
        .get(format!("{app_one}/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "a browser without the cookie: to sign in");
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(&app.url("/login?rd=")), "{to}");

    // An open redirect through the sign-out is refused.
    browser
        .goto(&format!(
            "{}?rd={}",
            app.url("/logout"),
            crate::helpers::urlencode("https://evil.example.net/")
        ))
        .await
        .unwrap();
    let text = body_text(&browser).await;
    assert!(text.contains("outside the sites"), "{text}");
    let at = browser.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some(AUTH_HOST));

    // Signing out on app one signs app two out as well.
    browser.goto(&format!("{app_one}/")).await.unwrap();
    seen(&browser).await;
    browser
        .find(Locator::Id("signout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&browser, Locator::Id("username")).await;
    let at = browser.current_url().await.unwrap();
    assert_eq!(
        at.host_str(),
        Some(AUTH_HOST),
        "signed out: asked to sign in"
    );
    browser.goto(&format!("{app_two}/")).await.unwrap();
    wait_for(&browser, Locator::Id("username")).await;
    let r = http
        .get(format!("{app_one}/"))
        .header("Cookie", &cookie)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "the old cookie is dead");
    browser.close().await.unwrap();
}

db_test!(
    nginx_apps_share_one_sign_in,
    [
        ("TEST_ISSUER_HOST", AUTH_HOST),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ],
    async |app: TestApp| journey(Gateway::Nginx, app).await
);

db_test!(
    caddy_apps_share_one_sign_in,
    [
        ("TEST_ISSUER_HOST", AUTH_HOST),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ],
    async |app: TestApp| journey(Gateway::Caddy, app).await
);
