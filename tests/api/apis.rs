//! Resource servers (RFC 8707): `monban api`, and tokens asked for with
//! `resource` — exactly that audience, in the API's format and lifetime;
//! unknown or disallowed resources are `invalid_target`.

use monban::clients::ClientSettings;
use monban::types::Scopes;
use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, service_settings};

const ORDERS: &str = "https://api.example.com/orders";
const BILLING: &str = "https://api.example.com/billing";

fn create(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["api", "create", "--json"];
    all.extend_from_slice(args);
    app.cli(&all).ok_json()
}

db_test!(the_cli_manages_apis, async |app: TestApp| {
    let created = create(
        &app,
        &[
            "--identifier",
            ORDERS,
            "--name",
            "Orders",
            "--scope",
            "orders:read orders:write",
            "--token-format",
            "opaque",
            "--access-token-lifetime",
            "120",
        ],
    );
    assert_eq!(
        created,
        json!({
            "identifier": ORDERS,
            "name": "Orders",
            "scopes": ["orders:read", "orders:write"],
            "token_format": "opaque",
            "access_token_lifetime": 120,
            "created_at": created["created_at"],
        })
    );
    let again = app.cli(&["api", "create", "--identifier", ORDERS, "--json"]);
    assert_eq!(again.code, 1);
    assert!(again.error().contains("already exists"));
    for bad in [
        vec!["--identifier", "orders"],
        vec!["--identifier", "https://x.example/#frag"],
        vec!["--identifier", BILLING, "--token-format", "paseto"],
        vec!["--identifier", BILLING, "--access-token-lifetime", "0"],
        vec!["--identifier", BILLING, "--scope", "a\"b"],
    ] {
        let mut args = vec!["api", "create", "--json"];
        args.extend(bad.iter().copied());
        assert_eq!(app.cli(&args).code, 2, "{bad:?}");
    }
    // update: the flags given replace what is stored; `default` unsets.
    let updated = app
        .cli(&[
            "api",
            "update",
            ORDERS,
            "--name",
            "Order book",
            "--access-token-lifetime",
            "default",
            "--json",
        ])
        .ok_json();
    assert_eq!(updated["name"], "Order book");
    assert_eq!(updated["access_token_lifetime"], Value::Null);
    assert_eq!(updated["scopes"], json!(["orders:read", "orders:write"]));
    assert_eq!(updated["token_format"], "opaque");
    let missing = app.cli(&["api", "update", BILLING, "--name", "x", "--json"]);
    assert_eq!(missing.code, 1);
    let bad = app.cli(&["api", "update", ORDERS, "--name", "", "--json"]);
    assert_eq!(bad.code, 2);
    let listed = app.cli(&["api", "list", "--json"]).ok_json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Order book");
    let deleted = app.cli(&["api", "delete", ORDERS, "--json"]).ok_json();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(app.cli(&["api", "delete", ORDERS, "--json"]).code, 1);
    assert_eq!(app.cli(&["api", "list", "--json"]).ok_json(), json!([]));
});

db_test!(resources_shape_the_token, async |app: TestApp| {
    create(
        &app,
        &[
            "--identifier",
            ORDERS,
            "--scope",
            "orders:read orders:write",
            "--token-format",
            "opaque",
            "--access-token-lifetime",
            "120",
        ],
    );
    create(
        &app,
        &[
            "--identifier",
            BILLING,
            "--scope",
            "billing:read",
            "--token-format",
            "jwt",
        ],
    );
    let client = app
        .service_client("orders:read orders:write billing:read")
        .await;
    let gateway = app.service_client("").await;

    // One API: its audience, format and lifetime.
    let body = app
        .access_token(&client, &[("resource", ORDERS), ("scope", "orders:read")])
        .await;
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();
    assert!(!token.contains('.'), "the API wants opaque tokens");
    let described = app.introspect(&gateway, token).await;
    assert_eq!(described["aud"], ORDERS);
    assert_eq!(
        described["exp"].as_i64().unwrap() - described["iat"].as_i64().unwrap(),
        120
    );
    // No scope asked for: the client's scopes the API defines.
    let body = app.access_token(&client, &[("resource", ORDERS)]).await;
    assert_eq!(body["scope"], "orders:read orders:write");
    // A scope the API does not define.
    let r = app
        .token(&client, &[("resource", ORDERS), ("scope", "billing:read")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");

    // The JWT API: a JWT with exactly that audience, the default lifetime.
    let body = app.access_token(&client, &[("resource", BILLING)]).await;
    assert_eq!(body["expires_in"], 300);
    let claims =
        crate::token::verify_with_jwks(&app, body["access_token"].as_str().unwrap(), BILLING).await;
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "billing:read");

    // Two APIs of different formats cannot share a token; unknown ones are refused.
    for resources in [
        vec![ORDERS, BILLING],
        vec!["https://unknown.example.com/"],
        vec!["not a uri"],
    ] {
        let mut form: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
        form.push(("scope", "orders:read"));
        let r = app.token(&client, &form).await;
        assert_eq!(r.status(), 400, "{resources:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
    }

    // A client with configured audiences may ask only for those.
    let restricted = app
        .register(ClientSettings {
            scopes: Scopes::parse("orders:read").unwrap(),
            audiences: vec!["https://api.example.com/legacy".into()],
            ..service_settings()
        })
        .await;
    let r = app.token(&restricted, &[("resource", ORDERS)]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");

    // Without resource: the client's audience and format, as before.
    let body = app.access_token(&client, &[]).await;
    assert_eq!(body["expires_in"], 300);
    assert!(body["access_token"].as_str().unwrap().contains('.'));
});

db_test!(resources_at_the_authorize_endpoint, async |app: TestApp| {
    app.user("alice", "correct horse battery").await;
    create(
        &app,
        &[
            "--identifier",
            ORDERS,
            "--scope",
            "orders:read",
            "--token-format",
            "opaque",
            "--access-token-lifetime",
            "90",
        ],
    );
    let client = app
        .register(ClientSettings {
            scopes: Scopes::parse("openid orders:read").unwrap(),
            first_party: true,
            ..web_app_settings()
        })
        .await;
    let browser = Browser::new();
    let request = AuthRequest::new(&client)
        .scope("openid orders:read")
        .with("resource", ORDERS);
    let body = browser
        .tokens_as(&app, &client, &request, "alice", "correct horse battery")
        .await;
    assert_eq!(body["expires_in"], 90);
    let gateway = app.service_client("").await;
    let described = app
        .introspect(&gateway, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(described["aud"], ORDERS);
    assert_eq!(described["scope"], "openid orders:read");
    // Refreshed: the same audience and format.
    let r = app
        .post_basic(
            "/token",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(refreshed["expires_in"], 90);
    assert!(!refreshed["access_token"].as_str().unwrap().contains('.'));
    // RFC 8707 §2.2: a refresh may name only resources it was granted; a
    // refused one leaves the refresh token usable.
    let next = refreshed["refresh_token"].as_str().unwrap();
    for (resource, status) in [(BILLING, 400), (ORDERS, 200)] {
        let r = app
            .post_basic(
                "/token",
                &client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", next),
                    ("resource", resource),
                ],
            )
            .await;
        assert_eq!(r.status(), status, "{resource}");
        if status == 400 {
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
        }
    }

    // An unknown resource goes back to the client as invalid_target.
    let bad = AuthRequest::new(&client).with("resource", "https://nope.example.com/");
    let step = browser.authorize(&app, &bad).await;
    assert_eq!(step.redirect_params()["error"], "invalid_target");
});
