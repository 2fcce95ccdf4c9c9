//! Security hardening: each defect an attacker's review found, as the
//! behaviour that must hold now (one test per defect, on both databases).

use std::time::Duration;

use monban::clients::ClientSettings;
use monban::store;
use monban::types::{Scopes, SigningAlg};
use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, Step, redeem, tokens, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};

const PASSWORD: &str = "correct horse battery staple";

async fn first_party(app: &TestApp, settings: ClientSettings) -> TestClient {
    app.register(ClientSettings {
        first_party: true,
        ..settings
    })
    .await
}

/// Signs alice in to `client` and returns the token response.
async fn signed_in(app: &TestApp, browser: &Browser, client: &TestClient, scope: &str) -> Value {
    let request = AuthRequest::new(client).scope(scope);
    browser
        .tokens_as(app, client, &request, "alice", PASSWORD)
        .await
}

fn string(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_owned()
}

// 1. Loopback redirect URIs of web clients match exactly, port included.
db_test!(
    a_web_clients_loopback_redirect_uri_keeps_its_port,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = first_party(
            &app,
            ClientSettings {
                redirect_uris: vec!["http://127.0.0.1:8200/cb".into()],
                ..web_app_settings()
            },
        )
        .await;
        let browser = Browser::new();
        let mut request = AuthRequest::new(&client);
        request.redirect_uri = "http://127.0.0.1:8200/cb".into();
        let params = browser.sign_in(&app, &request, "alice", PASSWORD).await;
        assert!(params.contains_key("code"), "the registered URI works");
        // RFC 8252 §7.3's "any port" is for native apps: here, monban's page.
        request.redirect_uri = "http://127.0.0.1:8201/cb".into();
        let step = browser.authorize(&app, &request).await;
        assert!(
            matches!(step, crate::browser::Step::Page { .. }),
            "{step:?}"
        );
        assert_eq!(step.status(), 400);
    }
);

/// The redirect a signed-in browser gets for `client` at `redirect_uri`.
async fn answer_at(app: &TestApp, browser: &Browser, client_id: &str, redirect_uri: &str) -> Step {
    let client = TestClient {
        id: client_id.to_owned(),
        secret: String::new(),
    };
    let mut request = AuthRequest::new(&client);
    request.redirect_uri = redirect_uri.to_owned();
    let mut step = browser.authorize(app, &request).await;
    if step.is_login() {
        step = browser.submit_login(app, &step, "alice", PASSWORD).await;
    }
    if step.is_consent() {
        step = browser.submit_consent(app, &step, "allow").await;
    }
    step
}

db_test!(
    native_apps_from_every_front_end_get_any_loopback_port,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let registered = "http://127.0.0.1/cb";
        // The CLI.
        let cli = app
            .cli(&[
                "client",
                "create",
                "--name",
                "CLI tool",
                "--public",
                "--first-party",
                "--application-type",
                "native",
                "--redirect-uri",
                registered,
                "--json",
            ])
            .ok_json();
        assert_eq!(cli["application_type"], "native");
        let bad = app.cli(&[
            "client",
            "create",
            "--name",
            "x",
            "--application-type",
            "desktop",
            "--json",
        ]);
        assert_eq!(bad.code, 2);
        // The admin API.
        let token = app.admin_token().await;
        let r = app
            .http
            .post(app.url("/admin/api/v1/clients"))
            .bearer_auth(&token)
            .json(&json!({
                "client_name": "Desktop",
                "application_type": "native",
                "token_endpoint_auth_method": "none",
                "redirect_uris": [registered],
                "first_party": true,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let desktop: Value = r.json().await.unwrap();
        assert_eq!(desktop["application_type"], "native");
        // monban apply.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("identity.toml");
        std::fs::write(
            &file,
            format!(
                "[[clients]]\nclient_id = \"mobile\"\nname = \"Mobile\"\npublic = true\n\
                 application_type = \"native\"\nfirst_party = true\nredirect_uris = [\"{registered}\"]\n"
            ),
        )
        .unwrap();
        app.cli(&["apply", "-f", file.to_str().unwrap(), "--json"])
            .ok_json();
        // Dynamic registration (OIDC Registration §2).
        let initial = initial_token(&app, &[]);
        let r = register(
            &app,
            Some(&initial),
            json!({
                "application_type": "native",
                "token_endpoint_auth_method": "none",
                "redirect_uris": [registered],
            }),
        )
        .await;
        assert_eq!(r.status(), 201);
        let native: Value = r.json().await.unwrap();
        assert_eq!(native["application_type"], "native");
        let r = register(
            &app,
            Some(&initial),
            json!({"application_type": "desktop", "redirect_uris": [registered]}),
        )
        .await;
        assert_eq!(r.status(), 400);
        let browser = Browser::new();
        for id in [
            string(&cli, "client_id"),
            string(&desktop, "client_id"),
            "mobile".to_owned(),
            string(&native, "client_id"),
        ] {
            let step = answer_at(&app, &browser, &id, "http://127.0.0.1:51234/cb").await;
            assert!(
                step.redirect_target()
                    .starts_with("http://127.0.0.1:51234/cb?code="),
                "{id}: {step:?}"
            );
        }
        // Made a web app again: the port must match.
        let cli_client = TestClient {
            id: string(&cli, "client_id"),
            secret: String::new(),
        };
        operator_changes(&app, &cli_client, &["--application-type", "web"]).await;
        let step = answer_at(&app, &browser, &cli_client.id, "http://127.0.0.1:51234/cb").await;
        assert_eq!(step.status(), 400, "{step:?}");
    }
);

/// A `private_key_jwt` client with one registered ES256 key; that key and
/// another one, which monban does not know for it.
async fn keyed_client(
    app: &TestApp,
) -> (
    String,
    crate::private_key_jwt::ClientKey,
    crate::private_key_jwt::ClientKey,
) {
    let (registered, other) = (
        crate::private_key_jwt::client_key(SigningAlg::ES256),
        crate::private_key_jwt::client_key(SigningAlg::ES256),
    );
    let client_id = crate::private_key_jwt::register(
        app,
        Some(crate::private_key_jwt::jwk_set(&[&registered])),
        None,
    )
    .await;
    (client_id, registered, other)
}

/// `invalid_client` without an invitation to use Basic.
async fn assert_no_challenge(r: reqwest::Response, why: &str) {
    assert!(r.headers().get("www-authenticate").is_none(), "{why}");
    assert_eq!(r.status(), 400, "{why}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{why}");
}

// 2. `invalid_client` that RP libraries can read.
db_test!(
    only_basic_authentication_is_answered_with_a_basic_challenge,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let wrong = TestClient {
            id: client.id.clone(),
            secret: "not the secret".into(),
        };
        // RFC 6749 §5.2: the client used the Authorization header.
        for path in ["/token", "/introspect", "/revoke"] {
            let r = app
                .post_basic(
                    path,
                    &wrong,
                    &[("grant_type", "client_credentials"), ("token", "x")],
                )
                .await;
            assert_eq!(r.status(), 401, "{path}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Basic "), "{challenge}");
        }
        let post = [
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", "not the secret"),
        ];
        assert_no_challenge(app.post_form("/token", &post).await, "client_secret_post").await;
        assert_no_challenge(
            app.post_form("/token", &[("grant_type", "client_credentials")])
                .await,
            "no client",
        )
        .await;
        let unknown = [
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
        ];
        assert_no_challenge(app.post_form("/token", &unknown).await, "unknown client").await;
        let (keyed, _, other) = keyed_client(&app).await;
        let assertion =
            crate::private_key_jwt::sign(&other, &crate::private_key_jwt::claims(&app, &keyed));
        assert_no_challenge(
            crate::private_key_jwt::token_with(&app, &assertion, &[]).await,
            "private_key_jwt with another key",
        )
        .await;
    }
);

/// Runs a script of `tests/js` (npm libraries nobody here wrote) with
/// `env`; its one JSON line. `None` when Node.js or the packages are not
/// installed (`npm ci` in tests/js), unless `MONBAN_TEST_REQUIRE_NODE` says
/// they must be.
fn node_script(script: &str, env: &[(&str, &str)]) -> Option<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let required = std::env::var_os("MONBAN_TEST_REQUIRE_NODE").is_some();
    if !dir.join("node_modules/openid-client").exists() {
        assert!(!required, "tests/js has no node_modules: run npm ci there");
        eprintln!("skipped: run `npm ci` in tests/js to drive openid-client");
        return None;
    }
    let out = match std::process::Command::new("node")
        .arg(dir.join(script))
        .envs(env.iter().copied())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(!required, "node: {e}");
            eprintln!("skipped: node: {e}");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{script}: {e}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    }))
}

db_test!(
    openid_client_reads_invalid_client_for_a_wrong_key,
    async |app: TestApp| {
        use base64::Engine;
        let (client_id, registered, other) = keyed_client(&app).await;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let run = |key: &crate::private_key_jwt::ClientKey| {
            let pkcs8 = b64(&key.pkcs8);
            node_script(
                "openid_client_private_key_jwt.mjs",
                &[
                    ("ISSUER", &app.issuer),
                    ("CLIENT_ID", &client_id),
                    ("KEY_PKCS8_B64", &pkcs8),
                    ("KID", &registered.kid),
                    ("SCOPE", "orders:read"),
                ],
            )
        };
        let Some(good) = run(&registered) else {
            return;
        };
        assert_eq!(good["ok"], true, "{good}");
        assert_eq!(good["scope"], "orders:read");
        // Signed with a key monban does not know for the client: the
        // library must report invalid_client, not a challenge to use Basic.
        let wrong = run(&other).unwrap();
        assert_eq!(wrong["ok"], false);
        assert_eq!(wrong["error"], "invalid_client", "{wrong}");
        assert_eq!(wrong["code"], "OAUTH_RESPONSE_BODY_ERROR", "{wrong}");
        assert_eq!(wrong["status"], 400, "{wrong}");
    }
);

/// An initial access token from the CLI.
fn initial_token(app: &TestApp, extra: &[&str]) -> String {
    let mut args = vec!["client", "registration-token", "create", "--json"];
    args.extend_from_slice(extra);
    string(&app.cli(&args).ok_json(), "initial_access_token")
}

async fn register(app: &TestApp, token: Option<&str>, metadata: Value) -> reqwest::Response {
    let mut request = app.http.post(app.url("/register")).json(&metadata);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

// 3. Dynamic registration cannot mint privileges.
db_test!(
    registration_cannot_mint_service_privileges,
    async |app: TestApp| {
        app.cli(&[
            "api",
            "create",
            "--identifier",
            "https://payroll.example.com",
            "--scope",
            "payroll:admin",
            "--json",
        ])
        .ok_json();
        let token = initial_token(&app, &[]);
        let r = register(
            &app,
            Some(&token),
            json!({
                "client_name": "Not payroll",
                "grant_types": ["client_credentials"],
                "scope": "payroll:admin",
            }),
        )
        .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == 201 {
            // Registered: then it must get nothing for payroll.
            let client = TestClient {
                id: string(&body, "client_id"),
                secret: string(&body, "client_secret"),
            };
            let r = app
                .token(&client, &[("resource", "https://payroll.example.com")])
                .await;
            assert_ne!(r.status(), 200, "{:?}", r.text().await);
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_client_metadata");
        }
    }
);

/// The claims of a JWT, unverified (the tests verify elsewhere).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Changes a client with the CLI and makes the server see it now (rather
/// than within its 5 s client cache).
async fn operator_changes(app: &TestApp, client: &TestClient, args: &[&str]) {
    let mut full = vec!["client", "update", client.id.as_str()];
    full.extend_from_slice(args);
    full.push("--json");
    app.cli(&full).ok_json();
    app.app.clients.load(&app.db, &client.id).await.unwrap();
}

async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
    app.post_basic(
        "/token",
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

// 4. Changes to a client take effect on its grants.
db_test!(
    a_refresh_drops_what_the_client_lost,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let (a, b, c) = (
            "https://a.example.com",
            "https://b.example.com",
            "https://c.example.com",
        );
        let client = first_party(
            &app,
            ClientSettings {
                scopes: Scopes::parse("notes:read notes:write").unwrap(),
                audiences: vec![a.into(), b.into()],
                ..web_app_settings()
            },
        )
        .await;
        let issued = signed_in(
            &app,
            &Browser::new(),
            &client,
            "openid notes:read notes:write",
        )
        .await;
        assert_eq!(issued["scope"], "openid notes:read notes:write");
        operator_changes(&app, &client, &["--scope", "notes:read", "--audience", a]).await;
        let r = refresh(&app, &client, &string(&issued, "refresh_token")).await;
        assert_eq!(r.status(), 200);
        let refreshed: Value = r.json().await.unwrap();
        assert_eq!(refreshed["scope"], "openid notes:read");
        let claims = payload(&string(&refreshed, "access_token"));
        assert_eq!(claims["aud"], a);
        assert_eq!(claims["scope"], "openid notes:read");
        let kept = app
            .introspect(&client, &string(&refreshed, "refresh_token"))
            .await;
        assert_eq!(
            kept["scope"], "openid notes:read",
            "the grant shrank for good"
        );
        // Nothing the grant gave is left: refused.
        operator_changes(&app, &client, &["--audience", c]).await;
        let r = refresh(&app, &client, &string(&refreshed, "refresh_token")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
);

db_test!(
    the_admin_api_wants_its_own_audience_and_a_client_still_allowed,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let _ = store::groups::insert(&app.db, "admin", monban::unix_now()).await;
        store::groups::add_member(&app.db, alice, "admin")
            .await
            .unwrap();
        let console = first_party(
            &app,
            ClientSettings {
                scopes: Scopes::parse("monban:admin").unwrap(),
                ..web_app_settings()
            },
        )
        .await;
        let issued = signed_in(&app, &Browser::new(), &console, "openid monban:admin").await;
        let users = |token: String| {
            let app = &app;
            async move {
                app.http
                    .get(app.url("/admin/api/v1/users"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let token = string(&issued, "access_token");
        assert_eq!(users(token.clone()).await, 200);
        // The console loses the scope: alice's token with it is worth nothing.
        operator_changes(&app, &console, &["--scope", "profile"]).await;
        assert_eq!(users(token).await, 403);
        // A token for another API, though it carries monban:admin.
        let service = app
            .register(ClientSettings {
                scopes: Scopes::parse("monban:admin").unwrap(),
                audiences: vec!["https://other.example.com".into()],
                ..crate::helpers::service_settings()
            })
            .await;
        let token = string(&app.access_token(&service, &[]).await, "access_token");
        assert_eq!(payload(&token)["aud"], "https://other.example.com");
        assert_eq!(users(token).await, 401);
    }
);

db_test!(
    registered_services_get_what_their_initial_token_grants,
    async |app: TestApp| {
        for (identifier, scopes) in [
            ("https://payroll.example.com", "payroll:read payroll:admin"),
            ("https://orders.example.com", "orders:read"),
        ] {
            app.cli(&[
                "api",
                "create",
                "--identifier",
                identifier,
                "--scope",
                scopes,
                "--json",
            ])
            .ok_json();
        }
        let token = initial_token(
            &app,
            &[
                "--scope",
                "payroll:read",
                "--audience",
                "https://payroll.example.com",
            ],
        );
        let r = register(
            &app,
            Some(&token),
            json!({
                "client_name": "Payroll reader",
                "grant_types": ["client_credentials"],
                "scope": "payroll:read payroll:admin",
            }),
        )
        .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        let client = TestClient {
            id: string(&body, "client_id"),
            secret: string(&body, "client_secret"),
        };
        let granted = app.access_token(&client, &[]).await;
        assert_eq!(granted["scope"], "payroll:read");
        let claims = payload(&string(&granted, "access_token"));
        assert_eq!(claims["aud"], "https://payroll.example.com");
        let r = app.token(&client, &[("scope", "payroll:admin")]).await;
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
        let r = app
            .token(&client, &[("resource", "https://orders.example.com")])
            .await;
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
        // A registration without `scope` gets the token's scopes.
        let r = register(
            &app,
            Some(&token),
            json!({"grant_types": ["client_credentials"]}),
        )
        .await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["scope"], "payroll:read");
        // The admin API makes such tokens too; operator scopes are refused.
        let admin_token = app.admin_token().await;
        let make = |body: Value| {
            let (app, admin_token) = (&app, &admin_token);
            async move {
                app.http
                    .post(app.url("/admin/api/v1/registration-tokens"))
                    .bearer_auth(admin_token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let r = make(
            json!({"scope": "orders:read", "audience": ["https://orders.example.com"], "uses": 1}),
        )
        .await;
        assert_eq!(r.status(), 201);
        let made: Value = r.json().await.unwrap();
        assert_eq!(made["scope"], "orders:read");
        assert_eq!(made["audience"], json!(["https://orders.example.com"]));
        let r = register(
            &app,
            Some(&string(&made, "initial_access_token")),
            json!({"grant_types": ["client_credentials"]}),
        )
        .await;
        let body: Value = r.json().await.unwrap();
        let orders = TestClient {
            id: string(&body, "client_id"),
            secret: string(&body, "client_secret"),
        };
        assert_eq!(app.access_token(&orders, &[]).await["scope"], "orders:read");
        let r = make(json!({"scope": "monban:admin", "audience": ["https://x.example"]})).await;
        assert_eq!(r.status(), 422);
        let cli = app.cli(&[
            "client",
            "registration-token",
            "create",
            "--scope",
            "monban:admin",
            "--json",
        ]);
        assert_eq!(cli.code, 2);
        // The operator may change what a registered service gets…
        operator_changes(
            &app,
            &client,
            &[
                "--scope",
                "orders:read",
                "--service-scope",
                "orders:read",
                "--service-audience",
                "https://orders.example.com",
            ],
        )
        .await;
        let granted = app.access_token(&client, &[]).await;
        assert_eq!(granted["scope"], "orders:read");
        assert_eq!(
            payload(&string(&granted, "access_token"))["aud"],
            "https://orders.example.com"
        );
        // …which an operator's own client has no use for.
        let own = app.service_client("orders:read").await;
        let r = app.cli(&[
            "client",
            "update",
            &own.id,
            "--service-scope",
            "orders:read",
            "--json",
        ]);
        assert_eq!(r.code, 2);
    }
);

db_test!(
    consent_names_each_api_and_covers_just_what_it_showed,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        for (identifier, name) in [
            ("https://payroll.example.com", "Payroll"),
            ("https://orders.example.com", "Orders"),
        ] {
            app.cli(&[
                "api",
                "create",
                "--identifier",
                identifier,
                "--name",
                name,
                "--scope",
                "read",
                "--json",
            ])
            .ok_json();
        }
        // An app registered by anyone may ask for API scopes: the user decides.
        let token = initial_token(&app, &[]);
        let r = register(
            &app,
            Some(&token),
            json!({"redirect_uris": [crate::browser::REDIRECT_URI], "scope": "read"}),
        )
        .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        let client = TestClient {
            id: string(&body, "client_id"),
            secret: string(&body, "client_secret"),
        };
        let browser = Browser::new();
        let at = |resource: &str| {
            AuthRequest::new(&client)
                .scope("openid read")
                .with("resource", resource)
        };
        let payroll = at("https://payroll.example.com");
        let step = browser.authorize(&app, &payroll).await;
        let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(step.is_consent(), "{step:?}");
        let page = step.page_body();
        assert!(page.contains("<strong>Payroll</strong>"), "{page}");
        assert!(page.contains("https://payroll.example.com"), "{page}");
        assert!(page.contains("read"), "{page}");
        assert!(!page.contains("Orders"), "{page}");
        let step = browser.submit_consent(&app, &step, "allow").await;
        assert!(step.redirect_params().contains_key("code"));
        // The same (scope, API): no question.
        let step = browser.authorize(&app, &payroll).await;
        assert!(step.redirect_params().contains_key("code"), "{step:?}");
        // The same scope at another API: asked again, naming that API.
        let step = browser
            .authorize(&app, &at("https://orders.example.com"))
            .await;
        assert!(step.is_consent(), "{step:?}");
        assert!(step.page_body().contains("<strong>Orders</strong>"));
        // A token for an API is access to it, even with OpenID scopes only.
        let silent = AuthRequest::new(&client)
            .scope("openid")
            .with("resource", "https://orders.example.com")
            .with("prompt", "none");
        let step = browser.authorize(&app, &silent).await;
        assert_eq!(step.redirect_params()["error"], "consent_required");
        // An app that asks for nothing at all still needs the user's yes.
        let r = register(
            &app,
            Some(&token),
            json!({"redirect_uris": [crate::browser::REDIRECT_URI]}),
        )
        .await;
        let quiet = TestClient {
            id: string(&r.json::<Value>().await.unwrap(), "client_id"),
            secret: String::new(),
        };
        let mut nothing = AuthRequest::new(&quiet).with("prompt", "none");
        nothing.scope = String::new();
        let step = browser.authorize(&app, &nothing).await;
        assert_eq!(step.redirect_params()["error"], "consent_required");
    }
);

db_test!(
    the_gateway_policy_takes_only_tokens_for_its_apis,
    [
        ("MONBAN_POLICY_FILE", crate::forward_auth::POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1"),
    ],
    async |app: TestApp| {
        let ask = |token: String| {
            let app = &app;
            async move {
                app.http
                    .get(app.url("/forward_auth"))
                    .header("X-Forwarded-Method", "GET")
                    .header("X-Forwarded-Uri", "/billing/invoices")
                    .header("X-Forwarded-Host", "api.example.com")
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // A token for monban's default audience, not for billing.
        let other = app.service_client("").await;
        let token = string(&app.access_token(&other, &[]).await, "access_token");
        assert_eq!(ask(token).await, 403);
        let billing = app
            .register(ClientSettings {
                audiences: vec!["https://billing.example.com".into()],
                ..crate::helpers::service_settings()
            })
            .await;
        let token = string(&app.access_token(&billing, &[]).await, "access_token");
        assert_eq!(ask(token).await, 200);
    }
);

// 5. Code replay revokes only for the code's own client.
db_test!(
    a_spent_code_from_another_client_revokes_nothing,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let victim = first_party(&app, web_app_settings()).await;
        let other = first_party(&app, web_app_settings()).await;
        let browser = Browser::new();
        let request = AuthRequest::new(&victim);
        let params = browser.sign_in(&app, &request, "alice", PASSWORD).await;
        let issued = tokens(&app, &victim, &request, &params["code"]).await;
        // Someone else's client presents the spent code.
        let r = redeem(&app, &other, &request, &params["code"]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
        let access = string(&issued, "access_token");
        assert_eq!(app.introspect(&victim, &access).await["active"], true);
        let refresh = string(&issued, "refresh_token");
        let r = app
            .post_basic(
                "/token",
                &victim,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await;
        assert_eq!(r.status(), 200, "the victim's grant lives");
        assert!(app.audit("authorization_code.reused").await.is_empty());

        // A public client's spent code, replayed by a stranger who has it
        // (from a log, a Referer) but not the PKCE verifier: refused, and
        // the grant lives. A wrong verifier does not spend a fresh code.
        let spa = first_party(&app, crate::browser::spa_settings()).await;
        let mut request = AuthRequest::new(&spa);
        request.redirect_uri = "https://spa.example.com/cb".into();
        let params = browser.sign_in(&app, &request, "alice", PASSWORD).await;
        let mut wrong = request.clone();
        wrong.verifier = Some(monban::pkce::new_verifier());
        let r = redeem(&app, &spa, &wrong, &params["code"]).await;
        assert_eq!(r.status(), 400);
        let issued = tokens(&app, &spa, &request, &params["code"]).await;
        let mut stranger = request.clone();
        stranger.verifier = None;
        let r = redeem(&app, &spa, &stranger, &params["code"]).await;
        assert_eq!(r.status(), 400);
        let r = app
            .post_form(
                "/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &string(&issued, "refresh_token")),
                    ("client_id", &spa.id),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "the SPA's grant lives");
        assert!(app.audit("authorization_code.reused").await.is_empty());
        // A `resource` outside the grant is refused before the code is spent.
        let fresh = AuthRequest::new(&victim);
        let code = browser.sign_in(&app, &fresh, "alice", PASSWORD).await["code"].clone();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", fresh.redirect_uri.as_str()),
            ("resource", "https://elsewhere.example.com"),
        ];
        let verifier = fresh.verifier.clone().unwrap();
        form.push(("code_verifier", &verifier));
        let r = app.post_basic("/token", &victim, &form).await;
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
        tokens(&app, &victim, &fresh, &code).await;
        // Its own replay, with the verifier, revokes as RFC 6749 §4.1.2 asks.
        let r = redeem(&app, &spa, &request, &params["code"]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(app.audit("authorization_code.reused").await.len(), 1);
    }
);

/// What every place that verifies monban's tokens says of `token`.
async fn assert_dead(app: &TestApp, caller: &TestClient, token: &str, why: &str) {
    assert_eq!(
        app.introspect(caller, token).await["active"],
        false,
        "introspection: {why}"
    );
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "userinfo: {why}");
    let r = app
        .http
        .get(app.url("/forward_auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/")
        .header("X-Forwarded-Host", "api.example.com")
        .header("X-Forwarded-Proto", "https")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "forward_auth: {why}");
}

async fn assert_alive(app: &TestApp, caller: &TestClient, token: &str) {
    assert_eq!(app.introspect(caller, token).await["active"], true);
}

// 6. Revocation reaches JWT access tokens where monban is asked.
db_test!(
    revoking_a_grant_reaches_its_jwt_access_tokens,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = first_party(&app, web_app_settings()).await;

        // Refresh-token reuse.
        let first = signed_in(&app, &Browser::new(), &client, "openid").await;
        let r = refresh(&app, &client, &string(&first, "refresh_token")).await;
        assert_eq!(r.status(), 200);
        let second: Value = r.json().await.unwrap();
        assert_alive(&app, &client, &string(&second, "access_token")).await;
        let r = refresh(&app, &client, &string(&first, "refresh_token")).await;
        assert_eq!(r.status(), 400, "a reuse");
        for body in [&first, &second] {
            assert_dead(&app, &client, &string(body, "access_token"), "after reuse").await;
        }

        // Revocation of the refresh token (RFC 7009 §2: the grant goes).
        let issued = signed_in(&app, &Browser::new(), &client, "openid").await;
        let r = app
            .post_basic(
                "/revoke",
                &client,
                &[("token", &string(&issued, "refresh_token"))],
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_dead(&app, &client, &string(&issued, "access_token"), "revoked").await;

        // The session ends with a logout.
        let browser = Browser::new();
        let issued = signed_in(&app, &browser, &client, "openid").await;
        let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", &string(&issued, "id_token"));
        browser.get(url.as_str()).await;
        assert_dead(&app, &client, &string(&issued, "access_token"), "logout").await;

        // Consent withdrawn (a third-party app), through the admin API.
        let third = app.register(web_app_settings()).await;
        let issued = signed_in(&app, &Browser::new(), &third, "openid").await;
        let admin_token = app.admin_token().await;
        let r = app
            .http
            .delete(app.url(&format!(
                "/admin/api/v1/users/{alice}/consents/{}",
                third.id
            )))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_dead(&app, &third, &string(&issued, "access_token"), "consent").await;

        // The user disabled.
        let issued = signed_in(&app, &Browser::new(), &client, "openid offline_access").await;
        app.cli(&["user", "disable", "alice"]);
        assert_dead(&app, &client, &string(&issued, "access_token"), "disabled").await;
    }
);

db_test!(
    a_code_whose_session_ended_gives_nothing,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = first_party(&app, web_app_settings()).await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client);
        let params = browser.sign_in(&app, &request, "alice", PASSWORD).await;
        // Signed out everywhere between the code and its redemption.
        let admin_token = app.admin_token().await;
        let r = app
            .http
            .delete(app.url(&format!("/admin/api/v1/users/{alice}/sessions")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["sessions_ended"], 1);
        let r = redeem(&app, &client, &request, &params["code"]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
);

/// The value of a Prometheus sample (the sum over its label sets).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    app.http
        .get(app.root_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

// 7. Login lockout holds under parallel attempts.
db_test!(
    parallel_wrong_passwords_stop_at_the_lockout,
    [("MONBAN_RATE_LIMIT_LOGIN", "off")],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = first_party(&app, web_app_settings()).await;
        let request = AuthRequest::new(&client);
        let mut pages = Vec::new();
        for _ in 0..60 {
            let browser = Browser::new();
            let step = browser.authorize(&app, &request).await;
            assert!(step.is_login());
            pages.push((browser, step));
        }
        let before = metric(&scrape(&app).await, "monban_password_checks_total");
        futures::future::join_all(
            pages
                .iter()
                .map(|(browser, step)| browser.submit_login(&app, step, "alice", "wrong password")),
        )
        .await;
        let checks = metric(&scrape(&app).await, "monban_password_checks_total") - before;
        assert!(
            checks <= monban::authn::ACCOUNT_MAX_FAILURES as f64,
            "{checks} password checks for 60 parallel attempts"
        );
        let locked = Browser::new();
        let step = locked.authorize(&app, &request).await;
        let step = locked.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(step.is_login(), "alice waits out the lockout");
    }
);

// 8. Device approval is throttled like code entry.
db_test!(
    device_decisions_count_towards_wrong_codes,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = crate::device::cli_app(&app).await;
        let started = crate::device::start(&app, &client, "deploy").await;
        let browser = Browser::new();
        let page =
            crate::device::sign_in_at(&app, &browser, &string(&started, "verification_uri")).await;
        for i in 0..5 {
            let wrong = format!("WXYZ-BCD{i}");
            let step = crate::device::submit(
                &app,
                &browser,
                &page,
                &[("user_code", &wrong), ("decision", "allow")],
            )
            .await;
            assert!(step.page_body().contains("user_code"), "{step:?}");
        }
        // Throttled now: even the right code is not approved.
        crate::device::submit(
            &app,
            &browser,
            &page,
            &[
                ("user_code", &string(&started, "user_code")),
                ("decision", "allow"),
            ],
        )
        .await;
        let (status, body) =
            crate::device::poll(&app, &client, &string(&started, "device_code")).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "authorization_pending");
        // (Only "approved" is an approval: the grant matches it by name, and
        // the table's CHECK constraint admits no state monban does not know.)
    }
);

/// Every session row, logged in or not.
async fn session_rows(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM sessions";
    match &app.db {
        store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn rows(app: &TestApp, sql: &'static str) -> i64 {
    match &app.db {
        store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// How many rows `table` holds (a name from this file, never input).
async fn table_rows(app: &TestApp, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    match &app.db {
        store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

// 9. Every unauthenticated write is bounded.
db_test!(
    unauthenticated_floods_leave_bounded_rows,
    [("MONBAN_RATE_LIMIT_AUTHORIZE", "40/min")],
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        // Requests that need no session write none (the limit's burst of 40
        // is shared by /authorize and logout posts: 15 used here).
        for _ in 0..20 {
            let r = app.get("/account").await;
            assert!(r.status().is_redirection());
        }
        for query in [
            "client_id=nobody&response_type=code&redirect_uri=https://x.example/cb",
            &format!(
                "client_id={}&response_type=code&redirect_uri=https://evil.example/cb",
                client.id
            ),
            &format!(
                "client_id={}&response_type=code&redirect_uri=https://app.example.com/callback&scope=nope",
                client.id
            ),
        ] {
            for _ in 0..5 {
                let r = app.get(&format!("/authorize?{query}")).await;
                assert_ne!(r.status(), 429);
            }
        }
        assert_eq!(session_rows(&app).await, 0, "no session was needed");
        // A parked logout is a row: a flood of them stops at the limit, and
        // the upkeep purges them.
        for _ in 0..200 {
            app.post_form("/end_session", &[("client_id", &client.id), ("state", "x")])
                .await;
        }
        let parked = rows(&app, "SELECT COUNT(*) FROM logout_requests").await;
        assert!(parked <= 25, "{parked} parked logout requests");
        // A login page needs a session, which lives half an hour at most
        // unused; a flood of them is stopped by the same limit.
        let valid = AuthRequest::new(&client).url(&app);
        for _ in 0..100 {
            app.http.get(&valid).send().await.unwrap();
        }
        let sessions = session_rows(&app).await;
        assert!(
            parked + sessions <= 25,
            "{sessions} sessions and {parked} parked logouts"
        );
        let later = monban::unix_now() + 86_400;
        monban::server::purge(&app.app, later).await;
        assert_eq!(rows(&app, "SELECT COUNT(*) FROM logout_requests").await, 0);
        assert_eq!(session_rows(&app).await, 0);
    }
);

/// Tables with a column saying when a row is done with.
async fn expiring_tables(app: &TestApp) -> Vec<String> {
    let (sqlite, postgres) = (
        "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
         WHERE m.type = 'table' AND c.name = 'expires_at' ORDER BY m.name",
        "SELECT table_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'expires_at' ORDER BY table_name",
    );
    match &app.db {
        store::Db::Postgres(p) => sqlx::query_scalar(postgres).fetch_all(p).await.unwrap(),
        store::Db::Sqlite(p) => sqlx::query_scalar(sqlite).fetch_all(p).await.unwrap(),
    }
}

db_test!(every_expiring_table_is_purged, async |app: TestApp| {
    // A row in each, by the real flows.
    app.user("alice", PASSWORD).await;
    let web = first_party(&app, web_app_settings()).await;
    let browser = Browser::new();
    let issued = signed_in(&app, &browser, &web, "openid").await;
    app.post_basic(
        "/revoke",
        &web,
        &[("token", &string(&issued, "access_token"))],
    )
    .await;
    let wrong = Browser::new();
    let step = wrong.authorize(&app, &AuthRequest::new(&web)).await;
    wrong
        .submit_login(&app, &step, "alice", "not her password")
        .await;
    let opaque = crate::forward_auth::opaque_service(&app, "").await;
    app.access_token(&opaque, &[]).await;
    let device = crate::device::cli_app(&app).await;
    crate::device::start(&app, &device, "deploy").await;
    app.post_form("/end_session", &[("client_id", &web.id)])
        .await;
    initial_token(&app, &["--expires-in", "3600"]);
    let push = app
        .post_basic(
            "/par",
            &web,
            &AuthRequest::new(&web)
                .params()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(push.status(), 201);
    let key = crate::private_key_jwt::client_key(SigningAlg::ES256);
    let keyed = crate::private_key_jwt::register(
        &app,
        Some(crate::private_key_jwt::jwk_set(&[&key])),
        None,
    )
    .await;
    let assertion =
        crate::private_key_jwt::sign(&key, &crate::private_key_jwt::claims(&app, &keyed));
    assert_eq!(
        crate::private_key_jwt::token_with(&app, &assertion, &[])
            .await
            .status(),
        200
    );
    let tables = expiring_tables(&app).await;
    assert_eq!(
        tables,
        [
            "access_tokens",
            "authorization_codes",
            "client_assertions",
            "device_codes",
            "logout_requests",
            "pushed_requests",
            "refresh_tokens",
            "registration_tokens",
            "revoked_jtis",
            "sessions",
        ],
        "a new table that expires needs a purge (and a place here)"
    );
    for table in &tables {
        let n = table_rows(&app, table).await;
        assert!(n > 0, "{table} has a row to purge");
    }
    // Long after: everything has expired (the grants and login failures
    // with it, as nothing continues them).
    let later = monban::unix_now() + 400 * 86_400;
    monban::server::purge(&app.app, later).await;
    for table in
        tables
            .iter()
            .map(String::as_str)
            .chain(["grants", "login_failures", "audit_events"])
    {
        let n = table_rows(&app, table).await;
        assert_eq!(n, 0, "{table} after the purge");
    }
});

/// A JWKS server on loopback, as an attacker's target would be.
async fn loopback_jwks() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(|| async { axum::Json(json!({"keys": []})) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

// 10. Outbound requests cannot be aimed inside.
db_test!(registered_uris_cannot_aim_inside, async |app: TestApp| {
    let token = initial_token(&app, &["--uses", "100"]);
    let jwks = loopback_jwks().await;
    for uri in [
        jwks.as_str(),
        "https://127.0.0.1/jwks",
        "https://[::1]/jwks",
        "https://[fd00::1]/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
        "https://10.0.0.1/jwks",
        "https://100.64.0.1/jwks",
        "https://169.254.169.254/latest",
    ] {
        let r = register(
            &app,
            Some(&token),
            json!({
                "client_name": "Keyed",
                "redirect_uris": ["https://app.example.com/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": uri,
            }),
        )
        .await;
        assert_eq!(r.status(), 400, "{uri}");
        let r = register(
            &app,
            Some(&token),
            json!({
                "client_name": "Logout",
                "redirect_uris": ["https://app.example.com/cb"],
                "backchannel_logout_uri": uri,
            }),
        )
        .await;
        assert_eq!(r.status(), 400, "{uri}");
    }
});

/// A listener on loopback that counts the connections made to it.
async fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// A name of this machine (from /etc/hosts) that resolves to loopback
/// only, other than `localhost` (which registration refuses by name).
async fn loopback_name() -> Option<String> {
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    for name in [
        hostname.trim(),
        "ip6-localhost",
        "localhost.localdomain",
        "vm",
        "runsc",
    ] {
        if name.is_empty() || name == "localhost" {
            continue;
        }
        if let Ok(addrs) = tokio::net::lookup_host((name, 443)).await {
            let addrs: Vec<_> = addrs.collect();
            if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
                return Some(name.to_owned());
            }
        }
    }
    None
}

db_test!(
    a_name_that_resolves_inside_is_not_connected_to,
    async |app: TestApp| {
        let Some(name) = loopback_name().await else {
            eprintln!("skipped: no name of this machine resolves to loopback only");
            return;
        };
        let (port, connections) = counting_listener().await;
        let token = initial_token(&app, &["--uses", "10"]);
        let key = crate::private_key_jwt::client_key(SigningAlg::ES256);
        let r = register(
            &app,
            Some(&token),
            json!({
                "redirect_uris": ["https://app.example.com/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": format!("https://{name}:{port}/jwks"),
            }),
        )
        .await;
        assert_eq!(r.status(), 201, "a name is judged when monban connects");
        let keyed = string(&r.json::<Value>().await.unwrap(), "client_id");
        let assertion =
            crate::private_key_jwt::sign(&key, &crate::private_key_jwt::claims(&app, &keyed));
        let r = crate::private_key_jwt::token_with(&app, &assertion, &[]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        // A logout token for a registered client behind such a name.
        app.user("alice", PASSWORD).await;
        let r = register(
            &app,
            Some(&token),
            json!({
                "redirect_uris": [crate::browser::REDIRECT_URI],
                "backchannel_logout_uri": format!("https://{name}:{port}/logout"),
            }),
        )
        .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        let rp = TestClient {
            id: string(&body, "client_id"),
            secret: string(&body, "client_secret"),
        };
        let browser = Browser::new();
        let issued = signed_in(&app, &browser, &rp, "openid").await;
        let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", &string(&issued, "id_token"));
        browser.get(url.as_str()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "monban never connected to {name}"
        );
    }
);

db_test!(
    allowed_networks_let_registered_uris_inside,
    [("MONBAN_OUTBOUND_ALLOW_NETWORKS", "127.0.0.0/8, ::1/128")],
    async |app: TestApp| {
        let key = crate::private_key_jwt::client_key(SigningAlg::ES256);
        let server =
            crate::private_key_jwt::serve_jwks(crate::private_key_jwt::jwk_set(&[&key])).await;
        let token = initial_token(&app, &[]);
        let r = register(
            &app,
            Some(&token),
            json!({
                "redirect_uris": ["https://app.example.com/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": server.url,
            }),
        )
        .await;
        assert_eq!(r.status(), 201);
        let keyed = string(&r.json::<Value>().await.unwrap(), "client_id");
        let assertion =
            crate::private_key_jwt::sign(&key, &crate::private_key_jwt::claims(&app, &keyed));
        let r = app
            .post_form(
                "/par",
                &[
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                    ("response_type", "code"),
                    ("redirect_uri", "https://app.example.com/cb"),
                    (
                        "code_challenge",
                        &monban::pkce::s256(&monban::pkce::new_verifier()),
                    ),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        assert_eq!(server.fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Still not other private networks.
        let r = register(
            &app,
            Some(&token),
            json!({
                "redirect_uris": ["https://app.example.com/cb"],
                "backchannel_logout_uri": "https://10.1.2.3/logout",
            }),
        )
        .await;
        assert_eq!(r.status(), 400);
    }
);

// 11. Logs cannot be forged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_values_cannot_forge_log_lines() {
    let database = crate::helpers::TestDatabase::create(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let env = [("MONBAN_DATABASE_URL", database.url.as_str())];
    let created = crate::helpers::run_cli(
        &[
            "client",
            "create",
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--json",
        ],
        &env,
        None,
    );
    let client_id = string(&created.ok_json(), "client_id");
    let (served, _dir) = crate::helpers::Served::start(&database.url, &[]);
    served.wait_ready().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", served.port);
    let forged = "\nFORGED level=ERROR message=\"pwned\"";
    http.post(url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &format!("nobody{forged}")),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    let mut authorize = url::Url::parse(&url("/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", "https://app.example.com/cb")
        .append_pair("acr_values", &format!("urn:x{forged}"))
        .append_pair("scope", "openid");
    http.get(authorize.as_str()).send().await.unwrap();
    http.post(url("/register"))
        .header("content-type", "application/json")
        .body(json!({"client_name": format!("x{forged}"), "redirect_uris": [format!("https://x{forged}")]}).to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, _, stderr) = served.stop();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("FORGED")).collect();
    assert!(!lines.is_empty(), "the values are logged: {stderr}");
    for line in lines {
        assert!(!line.starts_with("FORGED"), "a forged line: {stderr}");
    }
}

// 12. Token types cannot be confused.
db_test!(
    only_id_tokens_are_taken_for_id_tokens,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = first_party(
            &app,
            ClientSettings {
                grant_types: vec![
                    monban::types::GrantType::AuthorizationCode,
                    monban::types::GrantType::TokenExchange,
                ],
                audiences: vec!["https://api.example.com".into()],
                ..web_app_settings()
            },
        )
        .await;
        let browser = Browser::new();
        let issued = signed_in(&app, &browser, &client, "openid").await;
        let id_token = string(&issued, "id_token");
        let claims: Value = {
            use base64::Engine;
            let payload = id_token.split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(claims["sub"], alice.to_string());
        let exchange = |subject: String| {
            let (app, client) = (&app, &client);
            async move {
                app.post_basic(
                    "/token",
                    client,
                    &[
                        (
                            "grant_type",
                            "urn:ietf:params:oauth:grant-type:token-exchange",
                        ),
                        ("subject_token", &subject),
                        (
                            "subject_token_type",
                            "urn:ietf:params:oauth:token-type:id_token",
                        ),
                    ],
                )
                .await
                .status()
                .as_u16()
            }
        };
        assert_eq!(exchange(id_token.clone()).await, 200, "the ID token itself");
        // The same claims signed by monban's own key, typed as something else
        // (a logout token, an access token, an introspection answer, none).
        for typ in ["logout+jwt", "at+jwt", "token-introspection+jwt", ""] {
            let kid = app
                .app
                .keys
                .get()
                .active(SigningAlg::RS256)
                .unwrap()
                .kid
                .clone();
            let (_, _, signing) = crate::introspection::stored_public_key(&app, &kid).await;
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.typ = (!typ.is_empty()).then(|| typ.to_owned());
            header.kid = Some(kid);
            let forged = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
            assert_eq!(exchange(forged.clone()).await, 400, "typ {typ:?}");
            // As an id_token_hint it names nobody: the logout asks first.
            let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
            url.query_pairs_mut().append_pair("id_token_hint", &forged);
            let r = browser.get(url.as_str()).await;
            let location = crate::browser::location(&r).unwrap_or_default();
            assert!(location.contains("/logout?rid="), "typ {typ:?}: {location}");
        }
        // What an ID token is exchanged for ends with the session.
        let r = app
            .post_basic(
                "/token",
                &client,
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", &id_token),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                ],
            )
            .await;
        let exchanged = string(&r.json::<Value>().await.unwrap(), "access_token");
        assert_alive(&app, &client, &exchanged).await;
        let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", &id_token);
        browser.get(url.as_str()).await;
        assert_eq!(app.introspect(&client, &exchanged).await["active"], false);
    }
);

/// A token-exchange request of `client` for `subject` (of `kind`) at
/// `resource`, with scope `read` for an access token.
async fn exchange_own(
    app: &TestApp,
    client: &TestClient,
    subject: &str,
    kind: &str,
    resource: &str,
) -> reqwest::Response {
    let mut form = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject),
        ("subject_token_type", kind),
        ("resource", resource),
    ];
    // An ID token stands for who signed in: it exchanges for no scope.
    if kind.ends_with(":access_token") {
        form.push(("scope", "read"));
    }
    app.post_basic("/token", client, &form).await
}

db_test!(
    a_third_party_app_exchanges_only_what_the_user_allowed,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let (payroll, orders) = ("https://payroll.example.com", "https://orders.example.com");
        // Audiences that define no scopes take an ID token's `openid`.
        let (profile, calendar) = (
            "https://profile.example.com",
            "https://calendar.example.com",
        );
        for identifier in [payroll, orders] {
            app.cli(&[
                "api",
                "create",
                "--identifier",
                identifier,
                "--scope",
                "read",
                "--json",
            ])
            .ok_json();
        }
        // A third-party app the operator lets reach all four; alice lets it
        // use payroll and profile only.
        let client = app
            .register(ClientSettings {
                audiences: [payroll, orders, profile, calendar]
                    .map(str::to_owned)
                    .to_vec(),
                scopes: Scopes::parse("read").unwrap(),
                grant_types: vec![
                    monban::types::GrantType::AuthorizationCode,
                    monban::types::GrantType::TokenExchange,
                ],
                ..web_app_settings()
            })
            .await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client)
            .scope("openid read")
            .with("resource", payroll)
            .with("resource", profile);
        let step = browser.authorize(&app, &request).await;
        let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(step.is_consent(), "{step:?}");
        let step = browser.submit_consent(&app, &step, "allow").await;
        let issued = tokens(&app, &client, &request, &step.redirect_params()["code"]).await;
        let access = string(&issued, "access_token");
        let id_token = string(&issued, "id_token");
        const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
        const ID: &str = "urn:ietf:params:oauth:token-type:id_token";
        // Its own tokens, traded for an API alice never allowed it: refused
        // (RFC 8693 §2.2.2), whichever token it trades.
        for (subject, kind, resource) in [(&access, ACCESS, orders), (&id_token, ID, calendar)] {
            let r = exchange_own(&app, &client, subject, kind, resource).await;
            assert_eq!(r.status(), 400, "{kind}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_target", "{kind}: {body}");
        }
        // For what she allowed, the exchange stands.
        for (subject, kind, resource) in [(&access, ACCESS, payroll), (&id_token, ID, profile)] {
            let r = exchange_own(&app, &client, subject, kind, resource).await;
            assert_eq!(r.status(), 200, "{kind}: {}", r.text().await.unwrap());
        }
    }
);

db_test!(
    a_password_reset_ends_codes_not_yet_redeemed,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = first_party(&app, web_app_settings()).await;
        // An offline_access code outlives no session, so only the reset
        // itself can end it.
        let request = AuthRequest::new(&client).scope("openid offline_access");
        let params = Browser::new()
            .sign_in(&app, &request, "alice", PASSWORD)
            .await;
        let admin_token = app.admin_token().await;
        let r = app
            .http
            .post(app.url(&format!("/admin/api/v1/users/{alice}/password")))
            .bearer_auth(&admin_token)
            .json(&json!({"password": "a new password nobody knows"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = redeem(&app, &client, &request, &params["code"]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
);

db_test!(
    the_configured_default_audience_is_the_code_flows_too,
    [("MONBAN_DEFAULT_AUDIENCE", "https://everything.example.com")],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = first_party(&app, web_app_settings()).await;
        let issued = signed_in(&app, &Browser::new(), &client, "openid offline_access").await;
        let claims = payload(&string(&issued, "access_token"));
        assert_eq!(claims["aud"], "https://everything.example.com", "{claims}");
        // Its refresh keeps to what the client may name.
        let r = refresh(&app, &client, &string(&issued, "refresh_token")).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // monban's own issuer is no audience it may ask for.
        let request = AuthRequest::new(&client)
            .scope("openid")
            .with("resource", &app.issuer);
        let step = Browser::new().authorize(&app, &request).await;
        assert_eq!(
            step.redirect_params()["error"],
            "invalid_target",
            "{step:?}"
        );
    }
);
