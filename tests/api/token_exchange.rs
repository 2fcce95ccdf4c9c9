//! Token exchange (RFC 8693): services acting for a signed-in user, with the
//! delegation recorded in `act`, never more scope and only to the audiences
//! they are configured for.

use monban::clients::ClientSettings;
use monban::types::{GrantType, Scopes, TokenFormat};
use serde_json::Value;

use crate::browser::{AuthRequest, Browser, tokens, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient, service_settings};

const PASSWORD: &str = "correct horse battery staple";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A confidential service that may exchange tokens for these audiences,
/// with these scopes.
async fn exchanger(
    app: &TestApp,
    audiences: &[&str],
    scopes: &str,
    format: Option<TokenFormat>,
) -> TestClient {
    app.register(ClientSettings {
        grant_types: vec![GrantType::TokenExchange, GrantType::ClientCredentials],
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        scopes: Scopes::parse(scopes).unwrap(),
        access_token_format: format,
        ..service_settings()
    })
    .await
}

/// alice signs in to a first-party web app whose access tokens are for
/// `audiences`; returns the app and its token response.
async fn user_tokens(app: &TestApp, audiences: Vec<String>, scope: &str) -> (TestClient, Value) {
    app.user("alice", PASSWORD).await;
    let web = app
        .register(ClientSettings {
            first_party: true,
            audiences,
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::TokenExchange,
            ],
            scopes: Scopes::parse("orders:read orders:write").unwrap(),
            ..web_app_settings()
        })
        .await;
    let request = AuthRequest::new(&web).scope(scope);
    let params = Browser::new()
        .sign_in(app, &request, "alice", PASSWORD)
        .await;
    let body = tokens(app, &web, &request, &params["code"]).await;
    (web, body)
}

async fn exchange(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    let mut full = vec![("grant_type", GRANT)];
    full.extend_from_slice(form);
    app.post_basic("/token", client, &full).await
}

fn joined<'a>(
    base: &[(&'a str, &'a str)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(extra).copied().collect()
}

async fn refused(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

db_test!(a_service_acts_for_the_user, async |app: TestApp| {
    let stock = exchanger(&app, &["https://stock.example.com"], "orders:read", None).await;
    let orders = exchanger(
        &app,
        &["https://inventory.example.com", &stock.id],
        "orders:read orders:write",
        None,
    )
    .await;
    // inventory takes tokens that may live an hour: the exchanged one still
    // ends with alice's.
    app.cli(&[
        "api",
        "create",
        "--identifier",
        "https://inventory.example.com",
        "--access-token-lifetime",
        "3600",
        "--json",
    ])
    .ok_json();
    let (_, user) = user_tokens(
        &app,
        vec![orders.id.clone()],
        "openid orders:read orders:write",
    )
    .await;
    let user_token = user["access_token"].as_str().unwrap();
    let user_claims = crate::token::verify_with_jwks(&app, user_token, &orders.id).await;

    // orders calls inventory for alice, with less scope.
    let r = exchange(
        &app,
        &orders,
        &[
            ("subject_token", user_token),
            ("subject_token_type", ACCESS),
            ("resource", "https://inventory.example.com"),
            ("scope", "orders:read"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let claims = crate::token::verify_with_jwks(&app, token, "https://inventory.example.com").await;
    assert_eq!(claims["sub"], user_claims["sub"], "still alice");
    assert_eq!(claims["client_id"], orders.id.as_str());
    assert_eq!(claims["act"], serde_json::json!({"sub": orders.id}));
    assert!(
        claims["exp"].as_i64() <= user_claims["exp"].as_i64(),
        "never outlives the subject token"
    );

    // With an actor token (the gateway in front of orders, whose tokens are
    // for orders): the actor is its subject.
    let gateway = app
        .register(ClientSettings {
            audiences: vec![orders.id.clone()],
            ..service_settings()
        })
        .await;
    let actor = app.access_token(&gateway, &[]).await;
    let body: Value = exchange(
        &app,
        &orders,
        &[
            ("subject_token", user_token),
            ("subject_token_type", ACCESS),
            ("actor_token", actor["access_token"].as_str().unwrap()),
            ("actor_token_type", ACCESS),
            ("audience", &stock.id),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let for_stock = body["access_token"].as_str().unwrap();
    let claims = crate::token::verify_with_jwks(&app, for_stock, &stock.id).await;
    assert_eq!(
        claims["act"]["sub"],
        gateway.id.as_str(),
        "the actor token's subject"
    );
    assert_eq!(
        claims["scope"], "openid orders:read orders:write",
        "the subject's scope by default"
    );

    // stock exchanges that token in turn: the earlier actor nests (§4.1),
    // and stock, allowed only orders:read, gets only that of alice's scope.
    let body: Value = exchange(
        &app,
        &stock,
        &[("subject_token", for_stock), ("subject_token_type", ACCESS)],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = crate::token::verify_with_jwks(
        &app,
        body["access_token"].as_str().unwrap(),
        "https://stock.example.com",
    )
    .await;
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": stock.id, "act": {"sub": gateway.id}})
    );
    assert_eq!(claims["sub"], user_claims["sub"]);
    assert_eq!(claims["scope"], "openid orders:read");
});

db_test!(
    opaque_exchanged_tokens_keep_their_actor,
    async |app: TestApp| {
        let reports = exchanger(
            &app,
            &["https://reports.example.com"],
            "orders:read",
            Some(TokenFormat::Opaque),
        )
        .await;
        let (_, user) = user_tokens(&app, vec![reports.id.clone()], "openid orders:read").await;
        let body: Value = exchange(
            &app,
            &reports,
            &[
                ("subject_token", user["access_token"].as_str().unwrap()),
                ("subject_token_type", ACCESS),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
        let opaque = body["access_token"].as_str().unwrap();
        assert_eq!(opaque.matches('.').count(), 0, "opaque");
        let info = app.introspect(&reports, opaque).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["aud"], "https://reports.example.com");
        assert_eq!(info["act"], serde_json::json!({"sub": reports.id}));
    }
);

db_test!(exchange_never_widens, async |app: TestApp| {
    // Opaque, so that an issued token would show in the count below.
    let orders = exchanger(
        &app,
        &["https://inventory.example.com"],
        "orders:read orders:write",
        Some(TokenFormat::Opaque),
    )
    .await;
    let other = exchanger(
        &app,
        &["https://inventory.example.com"],
        "orders:read",
        None,
    )
    .await;
    let narrow = exchanger(&app, &["https://inventory.example.com"], "", None).await;
    let plain = app.service_client("orders:read").await;
    let (web, user) = user_tokens(
        &app,
        vec![orders.id.clone(), narrow.id.clone()],
        "openid orders:read",
    )
    .await;
    let user_token = user["access_token"].as_str().unwrap();
    let service_token = app.access_token(&orders, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let strangers_token = app.access_token(&plain, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let subject = [
        ("subject_token", user_token),
        ("subject_token_type", ACCESS),
    ];
    let with = |extra| joined(&subject, extra);

    for (client, form, expected, why) in [
        (
            &orders,
            with(&[("scope", "orders:read orders:write")]),
            (400, "invalid_scope"),
            "wider scope",
        ),
        (
            &orders,
            with(&[("audience", "https://payments.example.com")]),
            (400, "invalid_target"),
            "audience not configured",
        ),
        (
            &orders,
            with(&[("resource", "https://payments.example.com")]),
            (400, "invalid_target"),
            "resource not configured",
        ),
        (
            &other,
            with(&[]),
            (400, "invalid_request"),
            "token not meant for this client",
        ),
        (
            &plain,
            with(&[]),
            (400, "unauthorized_client"),
            "client without the grant",
        ),
        (
            &orders,
            with(&[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )]),
            (400, "invalid_request"),
            "refresh token requested",
        ),
        (
            &orders,
            with(&[("actor_token", user_token)]),
            (400, "invalid_request"),
            "actor_token without type",
        ),
        (
            &orders,
            vec![("subject_token", "garbage"), ("subject_token_type", ACCESS)],
            (400, "invalid_request"),
            "garbage",
        ),
        (
            &orders,
            vec![
                ("subject_token", user_token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
            ],
            (400, "invalid_request"),
            "unsupported type",
        ),
        (
            &orders,
            vec![
                ("subject_token", user["refresh_token"].as_str().unwrap()),
                ("subject_token_type", ACCESS),
            ],
            (400, "invalid_request"),
            "refresh token as subject",
        ),
        (
            &orders,
            vec![("subject_token_type", ACCESS)],
            (400, "invalid_request"),
            "no subject token",
        ),
        (
            &orders,
            vec![
                ("subject_token", service_token.as_str()),
                ("subject_token_type", ACCESS),
            ],
            (400, "invalid_request"),
            "a service's own token as subject",
        ),
        (
            &orders,
            with(&[
                ("actor_token", strangers_token.as_str()),
                ("actor_token_type", ACCESS),
            ]),
            (400, "invalid_request"),
            "an actor token not meant for this client",
        ),
        (
            &narrow,
            with(&[("scope", "orders:read")]),
            (400, "invalid_scope"),
            "a scope the exchanging client is not allowed",
        ),
    ] {
        let r = exchange(&app, client, &form).await;
        let (status, code) = refused(r).await;
        assert_eq!((status, code.as_str()), expected, "{why}");
    }
    let before = app.count("access_tokens").await;
    // Without `scope`, the client's share of the subject's: openid only.
    let body: Value = exchange(&app, &narrow, &subject)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "openid");

    // A revoked subject token exchanges for nothing.
    let r = app
        .post_basic("/revoke", &web, &[("token", user_token)])
        .await;
    assert_eq!(r.status(), 200);
    let (status, code) = refused(exchange(&app, &orders, &subject).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"), "revoked");
    assert_eq!(app.count("access_tokens").await, before, "nothing issued");
    // The count does move when orders does get a token.
    app.access_token(&orders, &[]).await;
    assert_eq!(app.count("access_tokens").await, before + 1);
});

db_test!(an_app_exchanges_its_own_id_token, async |app: TestApp| {
    let (web, user) = user_tokens(
        &app,
        vec!["https://profile.example.com".into()],
        "openid orders:read",
    )
    .await;
    let id_token = user["id_token"].as_str().unwrap();
    let body: Value = exchange(
        &app,
        &web,
        &[("subject_token", id_token), ("subject_token_type", ID)],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = crate::token::verify_with_jwks(
        &app,
        body["access_token"].as_str().unwrap(),
        "https://profile.example.com",
    )
    .await;
    assert_eq!(
        claims["scope"], "openid",
        "an ID token carries identity, not scopes"
    );
    assert_eq!(claims["act"]["sub"], web.id.as_str());
    let r = exchange(
        &app,
        &web,
        &[
            ("subject_token", id_token),
            ("subject_token_type", ID),
            ("scope", "orders:read"),
        ],
    )
    .await;
    assert_eq!(refused(r).await, (400, "invalid_scope".into()));
    // Another client's ID token is refused.
    let orders = exchanger(&app, &["https://inventory.example.com"], "", None).await;
    let r = exchange(
        &app,
        &orders,
        &[("subject_token", id_token), ("subject_token_type", ID)],
    )
    .await;
    assert_eq!(refused(r).await, (400, "invalid_request".into()));
    // Once alice has logged out, her ID token is worth nothing.
    let mut logout = url::Url::parse(&app.url("/end_session")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", id_token);
    let r = reqwest::get(logout.as_str()).await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection());
    let r = exchange(
        &app,
        &web,
        &[("subject_token", id_token), ("subject_token_type", ID)],
    )
    .await;
    assert_eq!(
        refused(r).await,
        (400, "invalid_request".into()),
        "after logout"
    );
});
