//! Browser SSO through the real pages: authorization code + PKCE, login,
//! consent, ID tokens, SSO across clients, prompt and max_age.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use monban::clients::ClientSettings;
use serde_json::Value;

use crate::browser::{
    AuthRequest, Browser, REDIRECT_URI, redeem, spa_settings, tokens, web_app_settings,
};
use crate::db_test;
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// Verifies an ID token as an RP: JWKS, RS256, issuer, audience, expiry.
pub async fn verify_id_token(app: &TestApp, token: &str, client_id: &str) -> Value {
    let jwks: JwkSet = app.get("/jwks").await.json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.issuer.as_str()]);
    validation.set_audience(&[client_id]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

db_test!(
    code_flow_with_pkce_login_and_consent,
    async |app: TestApp| {
        let user_id = app.user("alice", PASSWORD).await;
        let client = app.register(web_app_settings()).await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client);

        let login = browser.authorize(&app, &request).await;
        assert!(login.is_login(), "{login:?}");
        assert!(
            login.page_body().contains("Web App"),
            "the client's name is shown"
        );
        let consent = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(consent.is_consent(), "{consent:?}");
        let body = consent.page_body();
        assert!(body.contains("See your email address") && body.contains("alice"));
        let done = browser.submit_consent(&app, &consent, "allow").await;
        let target = done.redirect_target().to_owned();
        assert!(target.starts_with(REDIRECT_URI), "{target}");
        let params = done.redirect_params();
        assert_eq!(params["state"], request.state);
        assert_eq!(params["iss"], app.issuer, "RFC 9207");
        let code = &params["code"];
        assert_eq!(code.len(), 43, "256-bit code");

        let body = tokens(&app, &client, &request, code).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "openid profile email");
        assert!(body["refresh_token"].is_string());
        let access = body["access_token"].as_str().unwrap();
        let id = verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await;
        assert_eq!(id["sub"], user_id.to_string());
        assert_eq!(id["nonce"], request.nonce.as_str());
        assert_eq!(id["at_hash"], monban::id_token::at_hash(access));
        assert_eq!(id["azp"], client.id.as_str());
        assert_eq!(id["amr"], serde_json::json!(["pwd"]));
        assert!(id["sid"].is_string() && id["auth_time"].is_i64() && id["acr"].is_string());
        assert_eq!(id["email"], "alice@example.com");
        assert_eq!(id["preferred_username"], "alice");
        let claims = crate::token::verify_with_jwks(&app, access, &app.issuer).await;
        assert_eq!(claims["sub"], user_id.to_string());
        assert_eq!(claims["client_id"], client.id.as_str());

        // userinfo with the access token.
        let info: Value = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sub"], user_id.to_string());
        assert_eq!(info["email"], "alice@example.com");
        assert_eq!(info["name"], "Some One");
        assert!(info.get("groups").is_none(), "not granted");
    }
);

db_test!(one_login_serves_every_client, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let first = app.register(web_app_settings()).await;
    let second = app
        .register(ClientSettings {
            name: "Second App".into(),
            first_party: true,
            ..web_app_settings()
        })
        .await;
    let browser = Browser::new();
    let params = browser
        .sign_in(&app, &AuthRequest::new(&first), "alice", PASSWORD)
        .await;
    assert!(params.contains_key("code"));
    // The second client: no login page, no consent (first-party).
    let request = AuthRequest::new(&second);
    let step = browser.authorize(&app, &request).await;
    let params = step.redirect_params();
    let body = tokens(&app, &second, &request, &params["code"]).await;
    let id = verify_id_token(&app, body["id_token"].as_str().unwrap(), &second.id).await;
    assert_eq!(id["preferred_username"], "alice");
});

db_test!(
    prompt_none_max_age_and_prompt_login,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        // No session: prompt=none is answered with login_required.
        let request = AuthRequest::new(&client).with("prompt", "none");
        let params = browser.authorize(&app, &request).await.redirect_params();
        assert_eq!(params["error"], "login_required");
        assert_eq!(params["state"], request.state);
        assert_eq!(params["iss"], app.issuer);

        let first = AuthRequest::new(&client);
        let body = browser
            .tokens_as(&app, &client, &first, "alice", PASSWORD)
            .await;
        let auth_time = verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await
            ["auth_time"]
            .clone();

        // With the session, prompt=none works.
        let silent = AuthRequest::new(&client).with("prompt", "none");
        assert!(
            browser
                .authorize(&app, &silent)
                .await
                .redirect_params()
                .contains_key("code")
        );
        // prompt=login and select_account ask again; max_age=0 too.
        for (name, value) in [
            ("prompt", "login"),
            ("prompt", "select_account"),
            ("max_age", "0"),
        ] {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let again = AuthRequest::new(&client).with(name, value);
            let step = browser.authorize(&app, &again).await;
            assert!(step.is_login(), "{name}={value}: {step:?}");
            let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
            let body = tokens(&app, &client, &again, &step.redirect_params()["code"]).await;
            let id = verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await;
            assert!(
                id["auth_time"].as_i64() > auth_time.as_i64(),
                "auth_time reflects the new login"
            );
        }
        // max_age not exceeded: no login.
        let fine = AuthRequest::new(&client).with("max_age", "3600");
        assert!(
            browser
                .authorize(&app, &fine)
                .await
                .redirect_params()
                .contains_key("code")
        );
    }
);

db_test!(
    prompt_none_without_consent_is_consent_required,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let third_party = app.register(web_app_settings()).await;
        let first_party = app.first_party_web_app().await;
        let browser = Browser::new();
        browser
            .sign_in(&app, &AuthRequest::new(&first_party), "alice", PASSWORD)
            .await;
        let request = AuthRequest::new(&third_party).with("prompt", "none");
        let params = browser.authorize(&app, &request).await.redirect_params();
        assert_eq!(params["error"], "consent_required");
        // Consent is remembered: after allowing once, no page; new scopes ask again.
        let step = browser
            .authorize(&app, &AuthRequest::new(&third_party))
            .await;
        assert!(step.is_consent());
        browser
            .submit_consent(&app, &step, "allow")
            .await
            .redirect_params();
        let again = browser
            .authorize(&app, &AuthRequest::new(&third_party).with("prompt", "none"))
            .await;
        assert!(again.redirect_params().contains_key("code"));
        let wider = browser
            .authorize(
                &app,
                &AuthRequest::new(&third_party).scope("openid profile email groups"),
            )
            .await;
        assert!(wider.is_consent(), "a new scope asks again");
        let forced = browser
            .authorize(
                &app,
                &AuthRequest::new(&third_party).with("prompt", "consent"),
            )
            .await;
        assert!(forced.is_consent(), "prompt=consent asks again");
        // Deny goes back as access_denied.
        let denied = browser
            .submit_consent(&app, &forced, "deny")
            .await
            .redirect_params();
        assert_eq!(denied["error"], "access_denied");
    }
);

db_test!(public_clients_need_pkce_s256, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let spa = app.register(spa_settings()).await;
    let browser = Browser::new();
    let mut request = AuthRequest::new(&spa);
    request.redirect_uri = "https://spa.example.com/cb".into();
    let mut no_pkce = request.clone();
    no_pkce.verifier = None;
    let params = browser.authorize(&app, &no_pkce).await.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], no_pkce.state);
    // plain is refused, and so is a missing method (which would mean plain).
    for extra in [vec![("code_challenge_method", "plain")], vec![]] {
        let mut r = no_pkce.clone();
        r.extra.push((
            "code_challenge".into(),
            monban::pkce::s256(&monban::pkce::new_verifier()),
        ));
        for (k, v) in extra {
            r.extra.push((k.into(), v.into()));
        }
        let params = browser.authorize(&app, &r).await.redirect_params();
        assert_eq!(params["error"], "invalid_request");
    }
    // With S256 the public client gets tokens, identified by client_id only.
    let body = browser
        .tokens_as(&app, &spa, &request, "alice", PASSWORD)
        .await;
    assert!(body["id_token"].is_string());
});

db_test!(
    untrusted_client_or_redirect_uri_errors_stay_on_monban,
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        let browser = Browser::new();
        let variations = [
            "https://app.example.com/callback/",
            "https://app.example.com/callbac",
            "https://app.example.com/callback/x",
            "https://APP.example.com/callback",
            "https://app.example.com/Callback",
            "https://user@app.example.com/callback",
            "https://app.example.com/callback#frag",
            "https://app.example.com/callback?extra=1",
            "http://app.example.com/callback",
            "https://app.example.com.evil.com/callback",
            "https://evil.example.com/callback",
        ];
        for redirect_uri in variations {
            let mut request = AuthRequest::new(&client);
            request.redirect_uri = redirect_uri.into();
            let step = browser.authorize(&app, &request).await;
            assert_eq!(step.status(), 400, "{redirect_uri}");
            assert!(
                step.page_body().contains("has not registered"),
                "{redirect_uri}"
            );
        }
        let mut unknown = AuthRequest::new(&client);
        unknown.client_id = "nobody".into();
        let step = browser.authorize(&app, &unknown).await;
        assert_eq!(step.status(), 400);
        assert!(step.page_body().contains("not registered"));
        // A missing redirect_uri is not guessed either.
        let r = browser
            .get(&app.url(&format!(
                "/authorize?response_type=code&client_id={}",
                client.id
            )))
            .await;
        assert_eq!(r.status(), 400);
    }
);

db_test!(
    errors_after_the_redirect_uri_go_back_to_the_client,
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        let browser = Browser::new();
        for (name, value, error) in [
            ("response_type", "token", "unsupported_response_type"),
            ("scope", "openid admin:everything", "invalid_scope"),
            ("code_challenge_method", "plain", "invalid_request"),
            ("prompt", "none login", "invalid_request"),
            ("response_mode", "fragment", "invalid_request"),
            ("max_age", "-1", "invalid_request"),
            ("request", "eyJ...", "request_not_supported"),
            (
                "resource",
                "https://not-an-audience.example.com",
                "invalid_target",
            ),
        ] {
            let mut request = AuthRequest::new(&client);
            if name == "response_type" {
                let url = request
                    .url(&app)
                    .replace("response_type=code", &format!("response_type={value}"));
                let params = browser
                    .follow(&app, browser.get(&url).await)
                    .await
                    .redirect_params();
                assert_eq!(params["error"], error, "{name}={value}");
                assert_eq!(params["state"], request.state);
                continue;
            }
            if name == "scope" {
                request = request.scope(value);
            } else {
                request.extra.push((name.into(), value.into()));
            }
            let params = browser.authorize(&app, &request).await.redirect_params();
            assert_eq!(params["error"], error, "{name}={value}");
            assert_eq!(params["state"], request.state, "{name}={value}");
            assert_eq!(params["iss"], app.issuer, "{name}={value}");
        }
        // `claims` may be ignored, but must not break the request.
        let request = AuthRequest::new(&client).with("claims", "{not json");
        let step = browser.authorize(&app, &request).await;
        assert!(step.is_login(), "{step:?}");
    }
);

db_test!(session_id_changes_at_login, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.register(web_app_settings()).await;
    let browser = Browser::new();
    let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
    let before = browser
        .session_cookie(&app)
        .expect("a session exists before login (CSRF token, parked request)");
    browser.submit_login(&app, &login, "alice", PASSWORD).await;
    let after = browser.session_cookie(&app).unwrap();
    assert_ne!(before, after, "no session fixation");
    // Someone holding the cookie from before the login is not logged in.
    let silent = AuthRequest::new(&client).with("prompt", "none");
    let r = app
        .http
        .get(silent.url(&app))
        .header("cookie", format!("monban_session={before}"))
        .send()
        .await
        .unwrap();
    let location = crate::browser::location(&r).unwrap();
    assert!(location.contains("error=login_required"), "{location}");
});

db_test!(
    an_id_token_hint_for_someone_else_needs_a_login,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        app.user("bob", PASSWORD).await;
        let client = app.first_party_web_app().await;
        // Bob's ID token, from another browser.
        let bobs = Browser::new();
        let request = AuthRequest::new(&client);
        let bob_id_token = bobs
            .tokens_as(&app, &client, &request, "bob", PASSWORD)
            .await["id_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // Alice is signed in here; the client asks silently for Bob.
        let browser = Browser::new();
        browser
            .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
            .await;
        let silent = AuthRequest::new(&client)
            .with("prompt", "none")
            .with("id_token_hint", &bob_id_token);
        assert_eq!(
            browser.authorize(&app, &silent).await.redirect_params()["error"],
            "login_required"
        );
        // Without prompt=none, the login page is shown.
        let step = browser
            .authorize(
                &app,
                &AuthRequest::new(&client).with("id_token_hint", &bob_id_token),
            )
            .await;
        assert!(step.is_login());
    }
);

db_test!(
    unknown_and_known_usernames_are_throttled_alike,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.register(web_app_settings()).await;
        let mut messages = Vec::new();
        for username in ["alice", "nobody-at-all"] {
            let browser = Browser::new();
            let mut step = browser.authorize(&app, &AuthRequest::new(&client)).await;
            for _ in 0..monban::authn::ACCOUNT_MAX_FAILURES {
                step = browser
                    .submit_login(&app, &step, username, "wrong password!")
                    .await;
            }
            let body = step.page_body();
            let start = body.find("role=\"alert\">").unwrap();
            messages.push(body[start..start + 80].to_owned());
        }
        assert_eq!(messages[0], messages[1], "nothing tells which name exists");
        assert!(messages[0].contains("Too many failed attempts"));
    }
);

db_test!(
    wrong_csrf_token_or_cross_origin_post_logs_nobody_in,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.register(web_app_settings()).await;
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        let rid = crate::browser::hidden(login.page_body(), "rid");
        let csrf = crate::browser::hidden(login.page_body(), "csrf");
        let form = [
            ("csrf", "wrong"),
            ("rid", rid.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let r = browser.post_form(&app.url("/login"), &form).await;
        let step = browser.follow(&app, r).await;
        assert!(step.is_login(), "{step:?}");
        assert!(step.page_body().contains("expired"));
        assert_eq!(app.count("sessions").await, 0, "nobody logged in");
        // A cross-origin POST is refused even with the right token.
        let form = [
            ("csrf", csrf.as_str()),
            ("rid", rid.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let r = browser
            .http
            .post(app.url("/login"))
            .header("origin", "https://evil.example.com")
            .header("sec-fetch-site", "cross-site")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(app.count("sessions").await, 0);
    }
);

db_test!(
    cross_site_post_to_authorize_still_finds_the_session,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        browser
            .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
            .await;
        let request = AuthRequest::new(&client);
        let query = url::Url::parse(&request.url(&app))
            .unwrap()
            .query()
            .unwrap()
            .to_owned();
        let r = browser
            .http
            .post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://app.example.com")
            .header("sec-fetch-site", "cross-site")
            .body(query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let location = crate::browser::location(&r).unwrap();
        assert!(location.starts_with("/authorize?"), "{location}");
        let step = browser.follow(&app, r).await;
        assert!(
            step.redirect_params().contains_key("code"),
            "the session was seen"
        );
    }
);

db_test!(form_post_response_mode, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    browser
        .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
        .await;
    let request = AuthRequest::new(&client).with("response_mode", "form_post");
    let r = browser.get(&request.url(&app)).await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("form-action"));
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("action=\"{REDIRECT_URI}\"")));
    assert!(body.contains("<noscript>"), "usable without JavaScript");
    assert_eq!(crate::browser::hidden(&body, "state"), request.state);
    assert_eq!(crate::browser::hidden(&body, "iss"), app.issuer);
    let code = crate::browser::hidden(&body, "code");
    tokens(&app, &client, &request, &code).await;
    // The hash in the CSP is the hash of the page's script.
    use base64::Engine;
    let script = "document.forms[0].submit();";
    assert!(body.contains(&format!("<script>{script}</script>")));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, script.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    assert!(csp.contains(&hash));
});

db_test!(pages_speak_japanese, async |app: TestApp| {
    let client = app.register(web_app_settings()).await;
    let browser = Browser::new();
    let step = browser
        .authorize(&app, &AuthRequest::new(&client).with("ui_locales", "ja"))
        .await;
    assert!(step.page_body().contains("サインイン"), "ui_locales=ja");
    assert!(step.page_body().contains("lang=\"ja\""));
    let r = browser
        .http
        .get(AuthRequest::new(&client).url(&app))
        .header("accept-language", "ja-JP,ja;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    let step = browser.follow(&app, r).await;
    assert!(step.page_body().contains("パスワード"), "Accept-Language");
    let en = browser.authorize(&app, &AuthRequest::new(&client)).await;
    assert!(en.page_body().contains("Password"));
});

db_test!(login_failures_are_throttled, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.register(web_app_settings()).await;
    let browser = Browser::new();
    let mut step = browser.authorize(&app, &AuthRequest::new(&client)).await;
    for attempt in 1..=5 {
        step = browser
            .submit_login(&app, &step, "alice", "wrong password!")
            .await;
        let body = step.page_body();
        if attempt < 5 {
            assert!(
                body.contains("Incorrect username or password"),
                "attempt {attempt}"
            );
        } else {
            assert!(
                body.contains("Too many failed attempts for this account"),
                "attempt {attempt}"
            );
        }
    }
    // Locked: even the right password does not get in.
    step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
    assert!(step.page_body().contains("Too many failed attempts"));
    // An operator unlocks the account.
    app.cli(&["user", "unlock", "alice", "--json"]).ok_json();
    step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
    assert!(!step.is_login(), "{step:?}");
});

db_test!(
    failures_from_one_address_are_throttled,
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        let browser = Browser::new();
        let mut step = browser.authorize(&app, &AuthRequest::new(&client)).await;
        for i in 0..monban::authn::ADDRESS_MAX_FAILURES {
            step = browser
                .submit_login(&app, &step, &format!("nobody{i}"), "wrong password!")
                .await;
            assert!(step.page_body().contains("Incorrect"));
        }
        // Now the address waits, whatever it tries.
        app.user("alice", PASSWORD).await;
        step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
        assert!(
            step.page_body().contains("from your network"),
            "{}",
            step.page_body()
        );
    }
);

db_test!(disabled_users_cannot_sign_in, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    browser
        .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
        .await;
    app.cli(&["user", "disable", "alice", "--json"]).ok_json();
    // The existing session no longer counts…
    let step = browser.authorize(&app, &AuthRequest::new(&client)).await;
    assert!(step.is_login(), "{step:?}");
    // …and the password is refused with a clear message.
    let step = browser.submit_login(&app, &step, "alice", PASSWORD).await;
    assert!(step.page_body().contains("disabled"));
});

db_test!(
    authorization_response_keeps_the_redirect_uris_query,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app
            .register(ClientSettings {
                first_party: true,
                redirect_uris: vec!["https://app.example.com/cb?tenant=7".into()],
                ..web_app_settings()
            })
            .await;
        let browser = Browser::new();
        let mut request = AuthRequest::new(&client);
        request.redirect_uri = "https://app.example.com/cb?tenant=7".into();
        let params = browser.sign_in(&app, &request, "alice", PASSWORD).await;
        assert_eq!(params["tenant"], "7");
        let r = redeem(&app, &client, &request, &params["code"]).await;
        assert_eq!(r.status(), 200);
    }
);
