//! Logout (RP-Initiated Logout 1.0), offline access (OIDC Core §11) and the
//! account page.

use serde_json::Value;

use crate::browser::{AuthRequest, Browser, Step, hidden, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient, password_matches};

const PASSWORD: &str = "correct horse battery staple";
const SIGNED_OUT: &str = "https://app.example.com/signed-out";

/// Signs in and returns the token response.
async fn sign_in(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut request = AuthRequest::new(client).scope(scope);
    for (k, v) in extra {
        request = request.with(k, v);
    }
    browser
        .tokens_as(app, client, &request, "alice", PASSWORD)
        .await
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

db_test!(
    rp_initiated_logout_ends_the_session_for_every_client,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let other = app.first_party_web_app().await;
        let browser = Browser::new();
        let body = sign_in(&app, &browser, &client, "openid", &[]).await;
        let other_body = sign_in(&app, &browser, &other, "openid", &[]).await;
        let id_token = body["id_token"].as_str().unwrap();
        let url = logout_url(
            &app,
            &[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", SIGNED_OUT),
                ("state", "s1"),
            ],
        );
        let step = browser.follow(&app, browser.get(&url).await).await;
        let target = step.redirect_target();
        assert!(target.starts_with(SIGNED_OUT), "{target}");
        assert_eq!(step.redirect_params()["state"], "s1");
        // Signed out for both clients: prompt=none now needs a login.
        for c in [&client, &other] {
            let silent = AuthRequest::new(c).with("prompt", "none");
            assert_eq!(
                browser.authorize(&app, &silent).await.redirect_params()["error"],
                "login_required"
            );
        }
        // Session-bound refresh tokens ended with the session.
        for b in [&body, &other_body] {
            let r = b["refresh_token"].as_str().unwrap();
            assert_eq!(app.introspect(&client, r).await["active"], false);
        }
        assert_eq!(app.count("sessions").await, 0);
    }
);

db_test!(
    unregistered_post_logout_redirects_are_never_followed,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let body = sign_in(&app, &browser, &client, "openid", &[]).await;
        let id_token = body["id_token"].as_str().unwrap();
        for evil in [
            "https://evil.example.com/",
            "https://app.example.com/signed-out/x",
            "https://app.example.com/callback",
        ] {
            let url = logout_url(
                &app,
                &[
                    ("id_token_hint", id_token),
                    ("post_logout_redirect_uri", evil),
                ],
            );
            let step = browser.follow(&app, browser.get(&url).await).await;
            assert!(matches!(step, Step::Page { .. }), "{evil}: {step:?}");
            assert!(step.page_body().contains("signed out"), "{evil}");
        }
        // Without a client to check it against, nothing is followed either.
        let url = logout_url(&app, &[("post_logout_redirect_uri", SIGNED_OUT)]);
        let step = browser.follow(&app, browser.get(&url).await).await;
        assert!(matches!(step, Step::Page { .. }));
    }
);

db_test!(logout_without_a_hint_asks_first, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, &client, "openid", &[]).await;
    let url = logout_url(
        &app,
        &[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "x"),
        ],
    );
    let step = browser.follow(&app, browser.get(&url).await).await;
    assert!(step.is_page("/logout"), "{step:?}");
    let body = step.page_body();
    assert!(body.contains("alice"));
    // "Stay signed in" keeps the session.
    let form = [
        ("csrf", hidden(body, "csrf")),
        ("rid", hidden(body, "rid")),
        ("decision", "stay".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form(&app.url("/logout"), &form).await;
    let silent = AuthRequest::new(&client).with("prompt", "none");
    assert!(
        browser
            .authorize(&app, &silent)
            .await
            .redirect_params()
            .contains_key("code")
    );
    // Confirming signs out and returns to the registered URI.
    let step = browser.follow(&app, browser.get(&url).await).await;
    let body = step.page_body();
    let form = [
        ("csrf", hidden(body, "csrf")),
        ("rid", hidden(body, "rid")),
        ("decision", "logout".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = browser.post_form(&app.url("/logout"), &form).await;
    let step = browser.follow(&app, r).await;
    assert!(step.redirect_target().starts_with(SIGNED_OUT));
    assert_eq!(app.count("sessions").await, 0);
});

db_test!(
    a_cross_site_logout_post_finds_the_session_by_sid,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let body = sign_in(&app, &browser, &client, "openid", &[]).await;
        let id_token = body["id_token"].as_str().unwrap();
        // The RP's server posts the logout without the browser's cookie.
        let r = app
            .http
            .post(app.url("/end_session"))
            .form(&[("id_token_hint", id_token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let next = crate::browser::location(&r).unwrap();
        let r = app.http.get(app.root_url(&next)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            app.count("sessions").await,
            0,
            "ended through the sid in the hint"
        );
    }
);

db_test!(
    offline_access_needs_prompt_consent_or_a_first_party_client,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let third = app.register(web_app_settings()).await;
        let first = app.first_party_web_app().await;
        let browser = Browser::new();
        // Third party, no prompt=consent: offline_access is dropped.
        let body = sign_in(&app, &browser, &third, "openid offline_access", &[]).await;
        assert_eq!(body["scope"], "openid");
        let session_bound = body["refresh_token"].as_str().unwrap().to_owned();
        // With prompt=consent it is granted.
        let body = sign_in(
            &app,
            &browser,
            &third,
            "openid offline_access",
            &[("prompt", "consent")],
        )
        .await;
        assert_eq!(body["scope"], "openid offline_access");
        let offline = body["refresh_token"].as_str().unwrap().to_owned();
        // And remembered: no prompt needed next time.
        let body = sign_in(&app, &browser, &third, "openid offline_access", &[]).await;
        assert_eq!(body["scope"], "openid offline_access");
        // First-party clients get it outright.
        let body = sign_in(&app, &browser, &first, "openid offline_access", &[]).await;
        assert_eq!(body["scope"], "openid offline_access");
        // Logout ends session-bound refresh tokens, not offline ones.
        let id_token = body["id_token"].as_str().unwrap();
        let url = logout_url(&app, &[("id_token_hint", id_token)]);
        browser.follow(&app, browser.get(&url).await).await;
        assert_eq!(
            app.introspect(&third, &session_bound).await["active"],
            false
        );
        let r = app
            .post_basic(
                "/token",
                &third,
                &[("grant_type", "refresh_token"), ("refresh_token", &offline)],
            )
            .await;
        assert_eq!(r.status(), 200, "offline access outlives the session");
    }
);

db_test!(
    the_account_page_signs_in_through_monban_itself,
    async |app: TestApp| {
        let user_id = app.user("alice", PASSWORD).await;
        let browser = Browser::new();
        let step = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        assert!(step.is_login(), "{step:?}");
        assert!(step.page_body().contains("monban account"));
        let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(step.is_page("/account"), "{step:?}");
        let body = step.page_body().to_owned();
        assert!(body.contains("alice") && body.contains("alice@example.com"));
        assert!(body.contains("This device"));

        // Change the password.
        let csrf = hidden(&body, "csrf");
        let form = [
            ("csrf", csrf.as_str()),
            ("current", "wrong wrong wrong"),
            ("new", "a new passphrase!"),
            ("confirm", "a new passphrase!"),
        ];
        let r = browser
            .post_form(&app.url("/account/password"), &form)
            .await;
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("current password is not correct")
        );
        let form = [
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", "a new passphrase!"),
            ("confirm", "different!!!!!"),
        ];
        let r = browser
            .post_form(&app.url("/account/password"), &form)
            .await;
        assert!(r.text().await.unwrap().contains("do not match"));
        let form = [
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", "a new passphrase!"),
            ("confirm", "a new passphrase!"),
        ];
        let r = browser
            .post_form(&app.url("/account/password"), &form)
            .await;
        let step = browser.follow(&app, r).await;
        assert!(step.page_body().contains("has been changed"));
        assert!(password_matches(&app.db, user_id, "a new passphrase!").await);

        // Consents are listed and can be revoked.
        let third = app.register(web_app_settings()).await;
        let request = AuthRequest::new(&third);
        let body = browser
            .tokens_as(&app, &third, &request, "alice", "a new passphrase!")
            .await;
        let page = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        assert!(page.page_body().contains("Web App"));
        let form = [("csrf", csrf.as_str()), ("client_id", third.id.as_str())];
        let r = browser
            .post_form(&app.url("/account/consents/revoke"), &form)
            .await;
        let step = browser.follow(&app, r).await;
        assert!(step.page_body().contains("Access revoked"));
        assert_eq!(
            app.introspect(&third, body["refresh_token"].as_str().unwrap())
                .await["active"],
            false
        );
        let again = browser.authorize(&app, &AuthRequest::new(&third)).await;
        assert!(again.is_consent(), "asked again after revoking");

        // Sign out everywhere: another browser's session ends too.
        let other = Browser::new();
        other
            .follow(&app, other.get(&app.url("/account")).await)
            .await;
        let client = app.first_party_web_app().await;
        other
            .sign_in(
                &app,
                &AuthRequest::new(&client),
                "alice",
                "a new passphrase!",
            )
            .await;
        assert_eq!(app.count("sessions").await, 2);
        let r = browser
            .post_form(
                &app.url("/account/sessions/end-all"),
                &[("csrf", csrf.as_str())],
            )
            .await;
        assert!(r.text().await.unwrap().contains("signed out"));
        assert_eq!(app.count("sessions").await, 0);
        let silent = AuthRequest::new(&client).with("prompt", "none");
        assert_eq!(
            other.authorize(&app, &silent).await.redirect_params()["error"],
            "login_required"
        );

        // Each of these was audited, by alice, from this browser.
        let alice = format!("user:{user_id}");
        let wrong = app.audit("login.failed").await;
        assert_eq!(wrong.len(), 1, "the wrong current password: {wrong:?}");
        assert_eq!(wrong[0]["detail"]["reason"], "wrong_credentials");
        assert_eq!(wrong[0]["user_id"], user_id.to_string());
        for kind in [
            "password.changed",
            "consent.granted",
            "consent.revoked",
            "sessions.ended",
        ] {
            let events = app.audit(kind).await;
            assert_eq!(events.len(), 1, "{kind}: {events:?}");
            assert_eq!(events[0]["actor"], alice, "{kind}");
            assert_eq!(events[0]["user_id"], user_id.to_string(), "{kind}");
            assert_eq!(events[0]["ip"], "127.0.0.1", "{kind}");
            assert_eq!(events[0]["user_agent"], crate::browser::USER_AGENT);
        }
        assert_eq!(app.audit("consent.revoked").await[0]["client_id"], third.id);
        assert_eq!(
            app.audit("sessions.ended").await[0]["detail"]["sessions"],
            2
        );
        // Two logins: this browser's (the apps then used its session) and
        // the other browser's.
        assert_eq!(app.audit("login.succeeded").await.len(), 2);
    }
);

db_test!(account_actions_need_the_csrf_token, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let browser = Browser::new();
    let step = browser
        .follow(&app, browser.get(&app.url("/account")).await)
        .await;
    browser.submit_login(&app, &step, "alice", PASSWORD).await;
    let r = browser
        .post_form(&app.url("/account/sessions/end-all"), &[("csrf", "forged")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.count("sessions").await, 1, "nothing ended");
});

db_test!(an_access_token_is_no_logout_hint, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    let body = sign_in(&app, &browser, &client, "openid", &[]).await;
    let access = body["access_token"].as_str().unwrap();
    let url = logout_url(&app, &[("id_token_hint", access)]);
    let step = browser.follow(&app, browser.get(&url).await).await;
    assert!(step.is_page("/logout"), "asked, not signed out: {step:?}");
    assert_eq!(app.count("sessions").await, 1);
});

db_test!(
    changing_the_password_signs_out_other_sessions,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let other = Browser::new();
        other
            .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
            .await;
        let browser = Browser::new();
        let step = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        let csrf = hidden(step.page_body(), "csrf");
        assert_eq!(app.count("sessions").await, 2);
        let form = [
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", "a new passphrase!"),
            ("confirm", "a new passphrase!"),
        ];
        browser
            .post_form(&app.url("/account/password"), &form)
            .await;
        assert_eq!(app.count("sessions").await, 1, "only this one is left");
        let silent = AuthRequest::new(&client).with("prompt", "none");
        assert_eq!(
            other.authorize(&app, &silent).await.redirect_params()["error"],
            "login_required"
        );
        assert!(
            browser
                .authorize(&app, &silent)
                .await
                .redirect_params()
                .contains_key("code")
        );
    }
);

db_test!(
    the_account_page_says_which_apps_each_session_is_signed_in_to,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let wiki = app
            .register(monban::clients::ClientSettings {
                name: "Team Wiki".into(),
                first_party: true,
                ..web_app_settings()
            })
            .await;
        let shop = app
            .register(monban::clients::ClientSettings {
                name: "Shop".into(),
                ..web_app_settings()
            })
            .await;
        let browser = Browser::new();
        for client in [&wiki, &shop] {
            let params = browser
                .sign_in(&app, &AuthRequest::new(client), "alice", PASSWORD)
                .await;
            assert!(params.contains_key("code"), "{params:?}");
        }
        let page = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        assert!(page.is_page("/account"), "{page:?}");
        let body = page.page_body();
        // The session names both apps (not the account page itself).
        assert!(body.contains("Signed in to: Team Wiki, Shop"), "{body}");
        // "Apps you allowed": the consented app with its revoke button, and
        // the first-party app, marked, with nothing to revoke.
        let apps = &body[body.find("id=\"apps\"").unwrap()..body.find("id=\"password\"").unwrap()];
        assert!(apps.contains("Shop") && apps.contains(&shop.id), "{apps}");
        assert!(apps.contains("Team Wiki"), "{apps}");
        assert!(apps.contains("allowed without asking you"), "{apps}");
        assert!(
            !apps.contains(&format!("value=\"{}\"", wiki.id)),
            "no token to withdraw yet: {apps}"
        );
        assert!(!apps.contains("You have not allowed any app yet"));

        // Once the first-party app holds a refresh token, the user can
        // withdraw it here too (audited as the consent would be).
        let tokens = browser
            .tokens_as(&app, &wiki, &AuthRequest::new(&wiki), "alice", PASSWORD)
            .await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let page = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        assert!(
            page.page_body().contains(&format!("value=\"{}\"", wiki.id)),
            "{page:?}"
        );
        let csrf = hidden(page.page_body(), "csrf");
        browser
            .post_form(
                &app.url("/account/consents/revoke"),
                &[("csrf", &csrf), ("client_id", &wiki.id)],
            )
            .await;
        let refreshed = app
            .post_basic(
                "/token",
                &wiki,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await;
        assert_eq!(refreshed.status(), 400, "withdrawn");
        let event = &app.audit("consent.revoked").await[0];
        assert_eq!(event["client_id"], wiki.id.as_str());
        assert_eq!(event["detail"]["consent"], false);
        // In Japanese too.
        let ja = browser.page_in(&app.url("/account"), "ja").await;
        assert!(ja.contains("サインイン先: Team Wiki, Shop"), "{ja}");
        assert!(ja.contains("組織のアプリ"), "{ja}");
    }
);
