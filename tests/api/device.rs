//! Device authorization grant (RFC 8628) end to end: a device polls while
//! the user signs in and answers on the real /device pages.

use monban::clients::ClientSettings;
use monban::types::{AuthMethod, ClientType, GrantType, Scopes};
use serde_json::Value;

use crate::browser::{Browser, Step, hidden};
use crate::db_test;
use crate::helpers::{TestApp, TestClient, service_settings};

const PASSWORD: &str = "correct horse battery staple";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A CLI tool: a public client with the device grant (and refresh).
pub async fn cli_app(app: &TestApp) -> TestClient {
    app.register(ClientSettings {
        name: "Deploy CLI".into(),
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: Scopes::parse("deploy").unwrap(),
        ..service_settings()
    })
    .await
}

pub async fn start(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let r = app
        .post_form(
            "/device_authorization",
            &[("client_id", &client.id), ("scope", scope)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

pub async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (u16, Value) {
    let r = app
        .post_form(
            "/token",
            &[
                ("grant_type", GRANT),
                ("device_code", device_code),
                ("client_id", &client.id),
            ],
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Signs alice in on the device page (through monban's login) and returns
/// the page it lands on.
pub async fn sign_in_at(app: &TestApp, browser: &Browser, url: &str) -> Step {
    let login = browser.follow(app, browser.get(url).await).await;
    assert!(login.is_login(), "{login:?}");
    browser.submit_login(app, &login, "alice", PASSWORD).await
}

/// Submits the device page's form.
pub async fn submit(
    app: &TestApp,
    browser: &Browser,
    page: &Step,
    fields: &[(&str, &str)],
) -> Step {
    let csrf = hidden(page.page_body(), "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = browser.post_form(&app.url("/device"), &form).await;
    browser.follow(app, r).await
}

db_test!(
    a_device_gets_tokens_once_the_user_allows,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = cli_app(&app).await;
        let started = start(&app, &client, "openid deploy").await;
        assert_eq!(started["verification_uri"], app.url("/device"));
        assert_eq!(started["expires_in"], 600);
        assert_eq!(started["interval"], 5);
        let user_code = started["user_code"].as_str().unwrap();
        assert!(
            user_code.len() == 9 && user_code.chars().nth(4) == Some('-'),
            "{user_code}"
        );
        assert_eq!(
            started["verification_uri_complete"],
            format!("{}?user_code={user_code}", app.url("/device"))
        );
        let device_code = started["device_code"].as_str().unwrap();

        // §3.5: pending, then too fast.
        let (status, body) = poll(&app, &client, device_code).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, "authorization_pending")
        );
        let (status, body) = poll(&app, &client, device_code).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, "slow_down")
        );

        // The user signs in on /device, types the code (lower case, no dash),
        // sees the request and allows it.
        let browser = Browser::new();
        let entry = sign_in_at(&app, &browser, &app.url("/device")).await;
        assert!(
            entry.page_body().contains("name=\"user_code\""),
            "{entry:?}"
        );
        let typed = user_code.replace('-', "").to_lowercase();
        let confirm = submit(&app, &browser, &entry, &[("user_code", &typed)]).await;
        let body = confirm.page_body();
        assert!(
            body.contains("Deploy CLI") && body.contains(user_code),
            "{body}"
        );
        assert!(body.contains("value=\"allow\""));
        let done = submit(
            &app,
            &browser,
            &confirm,
            &[("user_code", user_code), ("decision", "allow")],
        )
        .await;
        assert!(done.page_body().contains("return to your device"));

        let (status, body) = poll(&app, &client, device_code).await;
        assert_eq!(status, 200, "{body}");
        let id =
            crate::sso::verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await;
        assert!(body["refresh_token"].is_string());
        assert_eq!(body["scope"], "openid deploy");
        let access = crate::token::verify_with_jwks(
            &app,
            body["access_token"].as_str().unwrap(),
            &app.issuer,
        )
        .await;
        assert_eq!(access["sub"], id["sub"]);
        // Redeemed once.
        let (status, body) = poll(&app, &client, device_code).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, "invalid_grant")
        );
        // The refresh token works, and outlives the browser's session.
        let r = app
            .post_form(
                "/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", body_refresh(&app, &client).await.as_str()),
                    ("client_id", &client.id),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
);

/// A fresh device grant approved through `verification_uri_complete`;
/// returns its refresh token.
async fn body_refresh(app: &TestApp, client: &TestClient) -> String {
    let started = start(app, client, "deploy").await;
    let browser = Browser::new();
    let complete = started["verification_uri_complete"].as_str().unwrap();
    let confirm = sign_in_at(app, &browser, complete).await;
    assert!(
        confirm.page_body().contains("value=\"allow\""),
        "{confirm:?}"
    );
    let user_code = started["user_code"].as_str().unwrap();
    submit(
        app,
        &browser,
        &confirm,
        &[("user_code", user_code), ("decision", "allow")],
    )
    .await;
    // The browser session ends; the device keeps its grant.
    let r = browser
        .post_form(
            &app.url("/account/sessions/end-all"),
            &[("csrf", &hidden(confirm.page_body(), "csrf"))],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, body) = poll(app, client, started["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

db_test!(denied_expired_and_unknown_codes, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = cli_app(&app).await;
    let started = start(&app, &client, "deploy").await;
    let device_code = started["device_code"].as_str().unwrap();
    let browser = Browser::new();
    let confirm = sign_in_at(
        &app,
        &browser,
        started["verification_uri_complete"].as_str().unwrap(),
    )
    .await;
    let user_code = started["user_code"].as_str().unwrap();
    let done = submit(
        &app,
        &browser,
        &confirm,
        &[("user_code", user_code), ("decision", "deny")],
    )
    .await;
    assert!(done.page_body().contains("Denied"));
    let denied = app.audit("device.denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["client_id"], client.id);
    assert_eq!(denied[0]["detail"]["scope"], "deploy");
    assert!(app.audit("device.approved").await.is_empty());
    let (status, body) = poll(&app, &client, device_code).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "access_denied")
    );

    // Expired.
    let started = start(&app, &client, "deploy").await;
    app.execute("UPDATE device_codes SET expires_at = 0").await;
    let (status, body) = poll(&app, &client, started["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "expired_token")
    );

    // Another client's device code, or a made-up one.
    let other = cli_app(&app).await;
    let started = start(&app, &client, "deploy").await;
    let (status, body) = poll(&app, &other, started["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );
    let (status, _) = poll(&app, &client, "made-up").await;
    assert_eq!(status, 400);

    // Scopes beyond the client's, and clients without the grant.
    let r = app
        .post_form(
            "/device_authorization",
            &[("client_id", &client.id), ("scope", "admin")],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let service = app.service_client("").await;
    let r = app.post_basic("/device_authorization", &service, &[]).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let metadata = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        app.url("/device_authorization")
    );
});

db_test!(guessing_user_codes_is_throttled, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = cli_app(&app).await;
    let started = start(&app, &client, "deploy").await;
    let browser = Browser::new();
    let mut page = sign_in_at(&app, &browser, &app.url("/device")).await;
    for guess in [
        "BBBB-BBBB",
        "CCCC-CCCC",
        "DDDD-DDDD",
        "FFFF-FFFF",
        "GGGG-GGGG",
    ] {
        page = submit(&app, &browser, &page, &[("user_code", guess)]).await;
        assert!(page.page_body().contains("not valid"), "{guess}");
    }
    // Now even the right code is refused for a while.
    let right = started["user_code"].as_str().unwrap();
    let page = submit(&app, &browser, &page, &[("user_code", right)]).await;
    assert!(
        page.page_body().contains("Too many wrong codes"),
        "{page:?}"
    );
    assert!(!page.page_body().contains("value=\"allow\""));
    // A forged form (no CSRF token) does nothing.
    let r = browser
        .post_form(
            &app.url("/device"),
            &[
                ("csrf", "forged"),
                ("user_code", right),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_ne!(r.status(), 200);
    let (_, body) = poll(&app, &client, started["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "authorization_pending");
});

db_test!(the_device_page_speaks_japanese, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let browser = Browser::new();
    let page = sign_in_at(&app, &browser, &app.url("/device")).await;
    assert!(page.page_body().contains("name=\"user_code\""));
    let r = browser
        .http
        .get(app.url("/device"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("デバイスの接続"), "{body}");
    assert!(body.contains("lang=\"ja\""));
});

db_test!(
    the_openidconnect_crate_runs_the_device_flow,
    async |app: TestApp| {
        use openidconnect::core::{
            CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata,
        };
        use openidconnect::{
            ClientId, DeviceAuthorizationUrl, IssuerUrl, OAuth2TokenResponse, Scope,
        };
        app.user("alice", PASSWORD).await;
        let registered = cli_app(&app).await;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(registered.id.clone()),
            None,
        )
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/device_authorization")).unwrap(),
        );
        let details: CoreDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new("deploy".into()))
            .request_async(&http)
            .await
            .unwrap();
        // The library polls (every `interval`) while alice approves.
        let approve = async {
            let browser = Browser::new();
            let complete = details.verification_uri_complete().unwrap().secret();
            let confirm = sign_in_at(&app, &browser, complete).await;
            let code = details.user_code().secret();
            submit(
                &app,
                &browser,
                &confirm,
                &[("user_code", code), ("decision", "allow")],
            )
            .await;
        };
        let poll = client
            .exchange_device_access_token(&details)
            .unwrap()
            .request_async(&http, tokio::time::sleep, None);
        let (token, ()) = tokio::join!(poll, approve);
        let token = token.expect("tokens after the approval");
        assert!(token.refresh_token().is_some());
        let scopes: Vec<String> = token
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(scopes, vec!["openid".to_owned(), "deploy".to_owned()]);
    }
);
