//! The token side of SSO: code redemption rules and attacks, refresh-token
//! rotation and reuse detection, userinfo.

use monban::clients::ClientSettings;
use serde_json::Value;

use crate::browser::{AuthRequest, Browser, redeem, spa_settings, tokens, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};

const PASSWORD: &str = "correct horse battery staple";

/// A first-party web app and a signed-in browser with a fresh code.
async fn signed_in(
    app: &TestApp,
    settings: ClientSettings,
) -> (TestClient, Browser, AuthRequest, String) {
    app.user("alice", PASSWORD).await;
    let client = app
        .register(ClientSettings {
            first_party: true,
            ..settings
        })
        .await;
    let browser = Browser::new();
    let request = AuthRequest::new(&client);
    let params = browser.sign_in(app, &request, "alice", PASSWORD).await;
    (client, browser, request, params["code"].clone())
}

async fn error_of(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!((400..500).contains(&status), "{status} {body}");
    body["error"].as_str().unwrap().to_owned()
}

async fn refresh(
    app: &TestApp,
    client: &TestClient,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    app.post_basic("/token", client, &form).await
}

db_test!(
    a_replayed_code_fails_and_revokes_what_it_issued,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let first = tokens(&app, &client, &request, &code).await;
        let access = first["access_token"].as_str().unwrap();
        let refresh_token = first["refresh_token"].as_str().unwrap();
        assert_eq!(app.introspect(&client, access).await["active"], true);
        assert_eq!(
            error_of(redeem(&app, &client, &request, &code).await).await,
            "invalid_grant"
        );
        assert_eq!(
            app.introspect(&client, access).await["active"],
            false,
            "the JWT is revoked"
        );
        assert_eq!(
            app.introspect(&client, refresh_token).await["active"],
            false,
            "so is the refresh token"
        );
        assert_eq!(
            error_of(refresh(&app, &client, refresh_token, &[]).await).await,
            "invalid_grant"
        );
        let reused = app.audit("authorization_code.reused").await;
        assert_eq!(reused.len(), 1, "the replay is on record");
        assert_eq!(reused[0]["client_id"], client.id);
        assert!(reused[0]["user_id"].is_string());
    }
);

db_test!(
    pkce_is_checked_at_the_token_endpoint,
    async |app: TestApp| {
        let (client, browser, request, code) = signed_in(&app, web_app_settings()).await;
        // Wrong verifier.
        let mut wrong = request.clone();
        wrong.verifier = Some(monban::pkce::new_verifier());
        assert_eq!(
            error_of(redeem(&app, &client, &wrong, &code).await).await,
            "invalid_grant"
        );
        // Missing verifier (a fresh code: the last one was used up).
        let params = browser.authorize(&app, &request).await.redirect_params();
        let mut missing = request.clone();
        missing.verifier = None;
        assert_eq!(
            error_of(redeem(&app, &client, &missing, &params["code"]).await).await,
            "invalid_grant"
        );
        // Downgrade: a verifier for a code issued without a challenge (RFC 9700 §2.1.1).
        let mut no_challenge = request.clone();
        no_challenge.verifier = None;
        let params = browser
            .authorize(&app, &no_challenge)
            .await
            .redirect_params();
        let mut downgrade = no_challenge.clone();
        downgrade.verifier = Some(monban::pkce::new_verifier());
        assert_eq!(
            error_of(redeem(&app, &client, &downgrade, &params["code"]).await).await,
            "invalid_grant"
        );
        // A confidential client without PKCE at all is fine.
        let params = browser
            .authorize(&app, &no_challenge)
            .await
            .redirect_params();
        tokens(&app, &client, &no_challenge, &params["code"]).await;
    }
);

db_test!(
    codes_are_bound_to_client_and_redirect_uri,
    async |app: TestApp| {
        let (client, browser, request, code) = signed_in(&app, web_app_settings()).await;
        let other = app.register(web_app_settings()).await;
        // Another client cannot redeem it, and does not burn it.
        assert_eq!(
            error_of(redeem(&app, &other, &request, &code).await).await,
            "invalid_grant"
        );
        let mut elsewhere = request.clone();
        elsewhere.redirect_uri = "https://app.example.com/other".into();
        let fresh = browser.authorize(&app, &request).await.redirect_params();
        assert_eq!(
            error_of(redeem(&app, &client, &elsewhere, &fresh["code"]).await).await,
            "invalid_grant"
        );
        tokens(&app, &client, &request, &code).await;
        // A missing redirect_uri is refused too.
        let fresh = browser.authorize(&app, &request).await.redirect_params();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", fresh["code"].as_str()),
            ("code_verifier", request.verifier.as_deref().unwrap()),
        ];
        assert_eq!(
            error_of(app.post_basic("/token", &client, &form).await).await,
            "invalid_grant"
        );
        // Garbage codes.
        for code in ["nope", "", &"x".repeat(5000)] {
            let r = redeem(&app, &client, &request, code).await;
            assert!(r.status().is_client_error());
        }
    }
);

db_test!(
    expired_codes_are_refused,
    [("MONBAN_CODE_TTL", "1")],
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(
            error_of(redeem(&app, &client, &request, &code).await).await,
            "invalid_grant"
        );
    }
);

db_test!(
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let first = tokens(&app, &client, &request, &code).await;
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();
        let second: Value = refresh(&app, &client, &r1, &[]).await.json().await.unwrap();
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2, "rotated");
        assert!(second["id_token"].is_string());
        let id =
            crate::sso::verify_id_token(&app, second["id_token"].as_str().unwrap(), &client.id)
                .await;
        assert!(id.get("nonce").is_none(), "no nonce after a refresh");
        // Scope can narrow, never widen.
        assert_eq!(
            error_of(refresh(&app, &client, &r2, &[("scope", "openid groups")]).await).await,
            "invalid_scope"
        );
        let narrowed: Value = refresh(&app, &client, &r2, &[("scope", "openid")])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(narrowed["scope"], "openid");
        let r3 = narrowed["refresh_token"].as_str().unwrap().to_owned();
        // Reusing r1 (rotated) revokes the whole family, r3 included.
        assert_eq!(
            error_of(refresh(&app, &client, &r1, &[]).await).await,
            "invalid_grant"
        );
        assert_eq!(
            error_of(refresh(&app, &client, &r3, &[]).await).await,
            "invalid_grant"
        );
        assert_eq!(app.introspect(&client, &r3).await["active"], false);
    }
);

db_test!(
    refresh_tokens_are_bound_to_their_client,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let other = app.register(web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let token = body["refresh_token"].as_str().unwrap();
        assert_eq!(
            error_of(refresh(&app, &other, token, &[]).await).await,
            "invalid_grant"
        );
        // Not burned by the other client's attempt.
        assert_eq!(refresh(&app, &client, token, &[]).await.status(), 200);
    }
);

db_test!(
    concurrent_refreshes_rotate_exactly_once,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let token = body["refresh_token"].as_str().unwrap().to_owned();
        let attempts = (0..20).map(|_| refresh(&app, &client, &token, &[]));
        let responses = futures::future::join_all(attempts).await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "no 5xx: {statuses:?}"
        );
        // The reuse was detected: the winner's new refresh token is revoked too
        // (RFC 9700 §4.14.2), however the requests interleaved.
        let mut winner = None;
        for r in responses {
            if r.status() == 200 {
                winner = Some(r.json::<Value>().await.unwrap());
            }
        }
        let winner = winner.unwrap();
        let new = winner["refresh_token"].as_str().unwrap();
        assert_eq!(app.introspect(&client, new).await["active"], false);
        assert_eq!(
            error_of(refresh(&app, &client, new, &[]).await).await,
            "invalid_grant"
        );
    }
);

db_test!(
    reuse_within_the_leeway_gets_a_fresh_pair,
    [("MONBAN_REFRESH_REUSE_LEEWAY", "30")],
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let r1 = body["refresh_token"].as_str().unwrap().to_owned();
        let a: Value = refresh(&app, &client, &r1, &[]).await.json().await.unwrap();
        // The app raced a second refresh with the same token: both succeed.
        let b = refresh(&app, &client, &r1, &[]).await;
        assert_eq!(b.status(), 200);
        let b: Value = b.json().await.unwrap();
        assert_ne!(a["refresh_token"], b["refresh_token"]);
        for t in [&a, &b] {
            let r = refresh(&app, &client, t["refresh_token"].as_str().unwrap(), &[]).await;
            assert_eq!(r.status(), 200, "both pairs belong to the live family");
        }
    }
);

db_test!(userinfo_is_a_protected_resource, async |app: TestApp| {
    let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
    let body = tokens(&app, &client, &request, &code).await;
    let access = body["access_token"].as_str().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let r = app
            .http
            .request(method.clone(), app.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    // No token: a challenge without an error code (RFC 6750 §3.1).
    let r = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"monban\"");
    // Bad tokens: invalid_token.
    let now = monban::unix_now();
    // Everything right but the expiry: a real user, the openid scope.
    let sub = crate::token::verify_with_jwks(&app, access, &app.issuer).await["sub"].clone();
    let expired = app
        .app
        .keys
        .get()
        .sign(monban::types::SigningAlg::RS256, "at+jwt", &serde_json::json!({
            "iss": app.issuer, "sub": sub, "aud": app.issuer, "exp": now - 10, "iat": now - 100, "nbf": now - 100,
            "jti": "j", "client_id": client.id, "scope": "openid profile email"
        }))
        .unwrap();
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none", "typ": "at+jwt"})),
        b64(serde_json::json!({"sub": "x"}))
    );
    let forged = crate::helpers::tamper_signature(access);
    for (why, token) in [
        ("expired", expired.as_str()),
        ("alg none", none.as_str()),
        ("forged", forged.as_str()),
        ("garbage", "abc"),
    ] {
        let r = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{why}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{why}: {challenge}"
        );
    }
    // A service token (no user, no openid) is not enough.
    let service = app.service_client("").await;
    let token = app.access_token(&service, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
});

db_test!(groups_scope_adds_the_groups_claim, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    app.cli(&["group", "create", "staff", "--json"]).ok_json();
    app.cli(&["user", "group", "add", "alice", "staff", "--json"])
        .ok_json();
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    let request = AuthRequest::new(&client).scope("openid groups");
    let body = browser
        .tokens_as(&app, &client, &request, "alice", PASSWORD)
        .await;
    let id =
        crate::sso::verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await;
    assert_eq!(id["groups"], serde_json::json!(["staff"]));
    assert!(id.get("email").is_none(), "no email scope");
    let access =
        crate::token::verify_with_jwks(&app, body["access_token"].as_str().unwrap(), &app.issuer)
            .await;
    assert_eq!(access["groups"], serde_json::json!(["staff"]));
    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"], serde_json::json!(["staff"]));
});

db_test!(spa_tokens_with_cors, async |app: TestApp| {
    app.user("bob", PASSWORD).await;
    let client = app
        .register(ClientSettings {
            first_party: true,
            ..spa_settings()
        })
        .await;
    let browser = Browser::new();
    let mut request = AuthRequest::new(&client);
    request.redirect_uri = "https://spa.example.com/cb".into();
    let params = browser.sign_in(&app, &request, "bob", PASSWORD).await;
    // Preflight from the SPA's origin.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("origin", "https://spa.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://spa.example.com"
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("code_verifier", request.verifier.as_deref().unwrap()),
        ("client_id", client.id.as_str()),
    ];
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", "https://spa.example.com")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://spa.example.com"
    );
    // Another origin gets no CORS headers.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/userinfo"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The login pages never send CORS headers.
    let r = app
        .http
        .get(app.url("/login"))
        .header("origin", "https://spa.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
});

db_test!(
    a_narrowed_refresh_keeps_the_refresh_tokens_scope,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let narrowed: Value = refresh(
            &app,
            &client,
            body["refresh_token"].as_str().unwrap(),
            &[("scope", "openid")],
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(narrowed["scope"], "openid");
        // RFC 6749 §6: the new refresh token's scope is the original one.
        let again: Value = refresh(
            &app,
            &client,
            narrowed["refresh_token"].as_str().unwrap(),
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(again["scope"], "openid profile email");
    }
);

db_test!(
    logging_in_again_keeps_other_apps_refresh_tokens,
    async |app: TestApp| {
        let (client, browser, request, code) = signed_in(&app, web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        // Another app asks for a fresh login.
        let other = app.first_party_web_app().await;
        let step = browser
            .authorize(&app, &AuthRequest::new(&other).with("prompt", "login"))
            .await;
        assert!(step.is_login());
        let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(step.redirect_params().contains_key("code"));
        // The first app's session-bound refresh token still works.
        assert_eq!(
            refresh(&app, &client, &refresh_token, &[]).await.status(),
            200
        );
    }
);

db_test!(
    refreshing_keeps_the_sso_session_alive,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        let body = tokens(&app, &client, &request, &code).await;
        let expiry = async || -> i64 {
            let sql = "SELECT expires_at FROM sessions WHERE sid IS NOT NULL";
            match &app.db {
                monban::store::Db::Postgres(p) => {
                    sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
                }
                monban::store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            }
        };
        let before = expiry().await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            refresh(&app, &client, body["refresh_token"].as_str().unwrap(), &[])
                .await
                .status(),
            200
        );
        assert!(expiry().await > before, "the idle expiry moved");
    }
);

db_test!(
    cors_answers_the_calling_clients_origin_only,
    async |app: TestApp| {
        let (client, _, request, code) = signed_in(&app, web_app_settings()).await;
        app.register(spa_settings()).await;
        // The web app's own origin may read its token response…
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
        ];
        form.push(("code_verifier", request.verifier.as_deref().unwrap()));
        let r = app
            .http
            .post(app.url("/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .header("origin", "https://spa.example.com")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // …but another client's origin (the SPA's) may not read the web app's.
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
);
