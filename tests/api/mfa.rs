//! Second factors through the real pages: an authenticator app (codes
//! computed here, RFC 6238), recovery codes, the lockout, step-up with
//! `acr_values` and `claims`, `max_age`, and what operators require
//! (`MONBAN_MFA`, per client, per group) and reset.

use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, Step, hidden, tokens};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};
use crate::sso::verify_id_token;

const PASSWORD: &str = "correct horse battery staple";

/// An authenticator app, as the test holds it: the shared secret.
pub struct App {
    secret: Vec<u8>,
}

impl App {
    fn from_page(body: &str) -> App {
        let start = body
            .find("<code class=\"secret\">")
            .expect("the key is shown")
            + 21;
        let end = body[start..].find('<').unwrap() + start;
        let secret = totp_rs::Secret::try_from_base32(&body[start..end]).unwrap();
        App {
            secret: secret.as_ref().to_vec(),
        }
    }

    /// The code of the step `offset` steps from now (RFC 6238, SHA-1, six
    /// digits, 30 s).
    pub fn code(&self, offset: i64) -> String {
        let at = (monban::unix_now() + offset * 30) as u64;
        let totp = totp_rs::Builder::new()
            .with_secret(self.secret.clone())
            .build()
            .unwrap();
        totp.generate(at).to_string()
    }
}

/// Waits until the current 30 s step has at least 8 s left, so that a test's
/// idea of "this step" and the server's stay the same.
pub async fn fresh_step() {
    let into = monban::unix_now() % 30;
    if into > 22 {
        tokio::time::sleep(std::time::Duration::from_secs((31 - into) as u64)).await;
    }
}

/// Signs the browser in to `/account` with a password.
pub async fn account(app: &TestApp, browser: &Browser, username: &str) -> Step {
    let login = browser
        .follow(app, browser.get(&app.url("/account")).await)
        .await;
    assert!(login.is_login(), "{login:?}");
    let page = browser.submit_login(app, &login, username, PASSWORD).await;
    assert!(page.is_page("/account"), "{page:?}");
    page
}

/// Sets up an authenticator app on `/account` (confirmed with the code of
/// the current step); the app and the recovery codes shown.
pub async fn enrol(app: &TestApp, browser: &Browser, page: &Step) -> (App, Vec<String>) {
    let csrf = hidden(page.page_body(), "csrf");
    let form = [("csrf", csrf.as_str()), ("password", PASSWORD)];
    let r = browser.post_form(&app.url("/account/totp"), &form).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<svg role=\"img\" class=\"qr\""),
        "a QR code: {body}"
    );
    assert!(body.contains("otpauth://totp/"), "the URI as text");
    let totp = App::from_page(&body);
    let wrong = [("csrf", csrf.as_str()), ("code", "000000")];
    let r = browser
        .post_form(&app.url("/account/totp/confirm"), &wrong)
        .await;
    let refused = r.text().await.unwrap();
    assert!(
        refused.contains("not right"),
        "a wrong first code: {refused}"
    );
    let code = totp.code(0);
    let form = [("csrf", csrf.as_str()), ("code", code.as_str())];
    let r = browser
        .post_form(&app.url("/account/totp/confirm"), &form)
        .await;
    let body = r.text().await.unwrap();
    let codes = recovery_codes(&body);
    assert_eq!(codes.len(), 10, "{body}");
    (totp, codes)
}

fn recovery_codes(body: &str) -> Vec<String> {
    body.split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

/// Submits `code` on the second-factor page shown at `step`.
pub async fn submit_code(app: &TestApp, browser: &Browser, step: &Step, code: &str) -> Step {
    let body = step.page_body();
    let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
    let form = [
        ("csrf", csrf.as_str()),
        ("rid", rid.as_str()),
        ("code", code),
    ];
    let r = browser.post_form(&app.url("/login/factor"), &form).await;
    browser.follow(app, r).await
}

fn is_code_page(step: &Step) -> bool {
    matches!(step, Step::Page { body, .. } if body.contains("/login/factor\"") && body.contains("name=\"code\""))
}

/// The claims of the ID token a code gives, verified as an RP would.
async fn id_claims(
    app: &TestApp,
    client: &TestClient,
    request: &AuthRequest,
    step: &Step,
) -> Value {
    let body = tokens(app, client, request, &step.redirect_params()["code"]).await;
    verify_id_token(app, body["id_token"].as_str().unwrap(), &client.id).await
}

db_test!(
    an_authenticator_app_is_asked_for_at_every_sign_in,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let setup = Browser::new();
        let page = account(&app, &setup, "alice").await;
        let (totp, codes) = enrol(&app, &setup, &page).await;
        assert!(!codes.iter().any(|c| c.len() != 19));
        assert_eq!(
            app.audit("mfa.enrolled").await.len(),
            2,
            "the app and the codes"
        );

        let browser = Browser::new();
        let request = AuthRequest::new(&client);
        let login = browser.authorize(&app, &request).await;
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(is_code_page(&second), "{second:?}");
        assert!(second.page_body().contains("Two-step verification"));
        // The code that confirmed the app was used: refused, as is a wrong
        // one, and one two steps ahead (outside the ±1 window).
        for refused in [totp.code(0), "123456".to_owned(), totp.code(2)] {
            let again = submit_code(&app, &browser, &second, &refused).await;
            assert!(is_code_page(&again), "{refused}: {again:?}");
            assert!(again.page_body().contains("not right"));
        }
        assert_eq!(app.audit("mfa.failed").await.len(), 3);
        let done = submit_code(&app, &browser, &second, &totp.code(1)).await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "mfa");
        assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
        // The step just used cannot be used again, in another sign-in.
        let other = Browser::new();
        let login = other.authorize(&app, &AuthRequest::new(&client)).await;
        let second = other.submit_login(&app, &login, "alice", PASSWORD).await;
        let again = submit_code(&app, &other, &second, &totp.code(1)).await;
        assert!(is_code_page(&again), "a code is accepted once: {again:?}");

        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(
            metrics.contains("monban_sign_ins_total{amr=\"pwd+otp+mfa\"} 1"),
            "{metrics}"
        );
    }
);

db_test!(tokens_tell_how_the_user_signed_in, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    fresh_step().await;
    let browser = Browser::new();
    let page = account(&app, &browser, "alice").await;
    let (totp, _) = enrol(&app, &browser, &page).await;
    // The account sign-in was a password alone: this app asks for more.
    let request = AuthRequest::new(&client).with("acr_values", "mfa");
    let step = browser.authorize(&app, &request).await;
    assert!(is_code_page(&step), "only the missing factor: {step:?}");
    let done = submit_code(&app, &browser, &step, &totp.code(1)).await;
    let body = tokens(&app, &client, &request, &done.redirect_params()["code"]).await;
    let access = body["access_token"].as_str().unwrap();
    let gateway = app.service_client("").await;
    let introspected = app.introspect(&gateway, access).await;
    assert_eq!(introspected["acr"], "mfa", "{introspected}");
    assert_eq!(introspected["amr"], json!(["pwd", "otp", "mfa"]));
    let userinfo: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["acr"], "mfa", "{userinfo}");
    assert_eq!(userinfo["amr"], json!(["pwd", "otp", "mfa"]));
    // The session was stepped up: the next app needs nothing more.
    let later = AuthRequest::new(&client).with("acr_values", "mfa");
    let again = browser.authorize(&app, &later).await;
    let claims = id_claims(&app, &client, &later, &again).await;
    assert_eq!(claims["acr"], "mfa");
});

db_test!(
    step_up_follows_acr_values_claims_and_prompt,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        app.user("bob", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client);
        let params = browser.sign_in(&app, &request, "bob", PASSWORD).await;
        assert!(params.contains_key("code"));
        // bob has no second factor: a voluntary acr_values gets what there
        // is, an essential acr cannot be met.
        let voluntary = AuthRequest::new(&client).with("acr_values", "mfa");
        let step = browser.authorize(&app, &voluntary).await;
        assert_eq!(
            id_claims(&app, &client, &voluntary, &step).await["acr"],
            "1"
        );
        let essential = r#"{"id_token":{"acr":{"essential":true,"values":["mfa"]}}}"#;
        let step = browser
            .authorize(&app, &AuthRequest::new(&client).with("claims", essential))
            .await;
        assert_eq!(
            step.redirect_params()["error"],
            "unmet_authentication_requirements"
        );
        let bad = r#"{"id_token":{"acr":{"essential":true,"values":[1]}}}"#;
        let bad = browser
            .authorize(&app, &AuthRequest::new(&client).with("claims", bad))
            .await;
        assert_eq!(bad.redirect_params()["error"], "invalid_request");

        // alice has an app; her session is a password alone.
        fresh_step().await;
        let alice = Browser::new();
        let page = account(&app, &alice, "alice").await;
        let (totp, _) = enrol(&app, &alice, &page).await;
        // Asking for what she cannot give does not let her password alone
        // start a session: the code comes first.
        let other = Browser::new();
        let impossible = r#"{"id_token":{"acr":{"essential":true,"value":"urn:example:gold"}}}"#;
        let login = other
            .authorize(&app, &AuthRequest::new(&client).with("claims", impossible))
            .await;
        let step = other.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(is_code_page(&step), "{step:?}");
        let after = other.authorize(&app, &AuthRequest::new(&client)).await;
        assert!(
            after.is_login(),
            "no session from the password alone: {after:?}"
        );
        let silent = AuthRequest::new(&client)
            .with("acr_values", "mfa")
            .with("prompt", "none");
        let step = alice.authorize(&app, &silent).await;
        assert_eq!(step.redirect_params()["error"], "interaction_required");
        // A passkey is not something she has: phr cannot be met.
        let phr = r#"{"id_token":{"acr":{"essential":true,"value":"phr"}}}"#;
        let step = alice
            .authorize(&app, &AuthRequest::new(&client).with("claims", phr))
            .await;
        assert_eq!(
            step.redirect_params()["error"],
            "unmet_authentication_requirements"
        );
        // Essential mfa: asked for the code, then an acr the client asked for.
        let request = AuthRequest::new(&client).with("claims", essential);
        let step = alice.authorize(&app, &request).await;
        assert!(is_code_page(&step), "{step:?}");
        let done = submit_code(&app, &alice, &step, &totp.code(1)).await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "mfa");
        let audit = app.audit("login.succeeded").await;
        assert!(
            audit.iter().any(|e| e["detail"]["step_up"] == true),
            "{audit:?}"
        );
    }
);

db_test!(
    recovery_codes_work_once_and_max_age_asks_for_both_factors,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let setup = Browser::new();
        let page = account(&app, &setup, "alice").await;
        let (_, codes) = enrol(&app, &setup, &page).await;

        let browser = Browser::new();
        let request = AuthRequest::new(&client);
        let login = browser.authorize(&app, &request).await;
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        let upper = codes[0].to_uppercase().replace('-', " ");
        let done = submit_code(&app, &browser, &second, &upper).await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
        let used = app.audit("recovery_code.used").await;
        assert_eq!(used[0]["detail"]["codes_left"], 9);
        assert!(
            !used[0].to_string().contains(&codes[0]),
            "no code in the log"
        );

        // max_age=0, a second later: both factors again (the password, then
        // a code).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let request = AuthRequest::new(&client).with("max_age", "0");
        let login = browser.authorize(&app, &request).await;
        assert!(login.is_login(), "{login:?}");
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        let again = submit_code(&app, &browser, &second, &codes[0]).await;
        assert!(is_code_page(&again), "a recovery code is used once");
        let done = submit_code(&app, &browser, &second, &codes[1]).await;
        let fresh = id_claims(&app, &client, &request, &done).await;
        assert!(fresh["auth_time"].as_i64() >= claims["auth_time"].as_i64());
        assert_eq!(fresh["acr"], "mfa");

        // New codes on /account: the old ones die.
        let page = setup
            .follow(&app, setup.get(&app.url("/account")).await)
            .await;
        assert!(page.page_body().contains("8 unused codes left"), "{page:?}");
        let csrf = hidden(page.page_body(), "csrf");
        let form = [("csrf", csrf.as_str()), ("password", PASSWORD)];
        let r = setup
            .post_form(&app.url("/account/recovery-codes"), &form)
            .await;
        let fresh_codes = recovery_codes(&r.text().await.unwrap());
        assert_eq!(fresh_codes.len(), 10);
        let other = Browser::new();
        let login = other.authorize(&app, &AuthRequest::new(&client)).await;
        let second = other.submit_login(&app, &login, "alice", PASSWORD).await;
        let old = submit_code(&app, &other, &second, &codes[2]).await;
        assert!(is_code_page(&old), "old codes die");
        let new = submit_code(&app, &other, &second, &fresh_codes[0]).await;
        assert!(new.redirect_params().contains_key("code"), "{new:?}");
    }
);

db_test!(
    wrong_codes_count_towards_the_lockout,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let setup = Browser::new();
        let page = account(&app, &setup, "alice").await;
        let (totp, _) = enrol(&app, &setup, &page).await;
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        for _ in 0..4 {
            submit_code(&app, &browser, &second, "999999").await;
        }
        // The right password again does not give the codes new tries.
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(is_code_page(&second), "{second:?}");
        let last = submit_code(&app, &browser, &second, "999999")
            .await
            .page_body()
            .to_owned();
        assert!(last.contains("Too many failed attempts"), "{last}");
        // The right code now waits too, and so does the password.
        let locked = submit_code(&app, &browser, &second, &totp.code(1)).await;
        assert!(locked.page_body().contains("Too many failed attempts"));
        let other = Browser::new();
        let login = other.authorize(&app, &AuthRequest::new(&client)).await;
        let refused = other.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(refused.page_body().contains("Too many failed attempts"));
        let locked_events = app.audit("mfa.failed").await;
        assert!(locked_events.iter().any(|e| e["detail"]["locked"] == true));
    }
);

db_test!(
    a_required_second_factor_is_set_up_while_signing_in,
    [
        ("MONBAN_MFA", "required"),
        (
            "MONBAN_KEY_ENCRYPTION_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        )
    ],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client);
        let login = browser.authorize(&app, &request).await;
        let enrol = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        let body = enrol.page_body();
        assert!(body.contains("needs a second factor"), "{body}");
        assert!(body.contains("/login/factor/enrol\""));
        let totp = App::from_page(body);
        // Sealed at rest with MONBAN_KEY_ENCRYPTION_KEY.
        let sealed: Vec<u8> = match &app.db {
            monban::store::Db::Postgres(p) => {
                sqlx::query_scalar("SELECT secret FROM totp_credentials")
                    .fetch_one(p)
                    .await
                    .unwrap()
            }
            monban::store::Db::Sqlite(p) => {
                sqlx::query_scalar("SELECT secret FROM totp_credentials")
                    .fetch_one(p)
                    .await
                    .unwrap()
            }
        };
        assert!(sealed.starts_with(b"monban-aes256gcm-v1:"));
        let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
        let code = totp.code(0);
        let form = [
            ("csrf", csrf.as_str()),
            ("rid", rid.as_str()),
            ("code", code.as_str()),
        ];
        let r = browser
            .post_form(&app.url("/login/factor/enrol"), &form)
            .await;
        let body = r.text().await.unwrap();
        assert_eq!(recovery_codes(&body).len(), 10, "{body}");
        let start = body.find("class=\"button primary\" href=\"").unwrap() + 29;
        let next = &body[start..start + body[start..].find('"').unwrap()];
        let done = browser
            .follow(
                &app,
                browser
                    .get(&app.root_url(&next.replace("&amp;", "&")))
                    .await,
            )
            .await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "mfa");
        let doc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["acr_values_supported"], json!(["1", "mfa"]));
        assert_eq!(doc["claims_parameter_supported"], true);
    }
);

db_test!(
    clients_and_groups_can_require_a_second_factor,
    [("MONBAN_OPEN_REGISTRATION", "true")],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        app.user("bob", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let params = browser
            .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
            .await;
        assert!(params.contains_key("code"), "optional: no second factor");
        app.cli(&["client", "update", &client.id, "--require-mfa", "--json"])
            .ok_json();
        crate::helpers::within_client_cache_ttl("require_mfa", async || {
            let step = browser.authorize(&app, &AuthRequest::new(&client)).await;
            matches!(&step, Step::Page { body, .. } if body.contains("/login/factor/enrol\""))
        })
        .await;
        let shown = app.cli(&["client", "show", &client.id, "--json"]).ok_json();
        assert_eq!(shown["require_mfa"], true);

        // A group: its members, on any client.
        let other = app.first_party_web_app().await;
        app.cli(&["group", "create", "finance", "--json"]).ok_json();
        app.cli(&["user", "group", "add", "bob", "finance", "--json"])
            .ok_json();
        app.cli(&["group", "update", "finance", "--require-mfa", "--json"])
            .ok_json();
        let groups = app.cli(&["group", "list", "--json"]).ok_json();
        assert_eq!(groups[0]["require_mfa"], true, "{groups}");
        let bob = Browser::new();
        let login = bob.authorize(&app, &AuthRequest::new(&other)).await;
        let step = bob.submit_login(&app, &login, "bob", PASSWORD).await;
        assert!(
            step.page_body().contains("/login/factor/enrol\""),
            "{step:?}"
        );
        assert_eq!(app.audit("group.updated").await.len(), 1);

        // Registration may not set it.
        let r = app
            .http
            .post(app.url("/register"))
            .json(&json!({"redirect_uris": ["https://x.example.com/cb"], "require_mfa": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata");
    }
);

db_test!(
    operators_list_and_reset_a_users_factors,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let browser = Browser::new();
        let page = account(&app, &browser, "alice").await;
        enrol(&app, &browser, &page).await;
        let listed = app
            .cli(&["user", "mfa", "list", "alice", "--json"])
            .ok_json();
        assert_eq!(listed["factors"], json!(["totp"]), "{listed}");
        assert_eq!(listed["recovery_codes_left"], 10);
        let reset = app
            .cli(&["user", "mfa", "reset", "alice", "--json"])
            .ok_json();
        assert_eq!(reset["factors"], json!([]));
        assert_eq!(reset["recovery_codes_left"], 0);
        let event = &app.audit("mfa.reset").await[0];
        assert_eq!(event["detail"]["factors"], json!(["totp"]));
        // Her sessions ended; she signs in with the password alone now.
        let step = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        assert!(step.is_login(), "signed out: {step:?}");
        let params = Browser::new()
            .sign_in(&app, &AuthRequest::new(&client), "alice", PASSWORD)
            .await;
        assert!(params.contains_key("code"));
    }
);

db_test!(
    second_factors_can_be_turned_off,
    [("MONBAN_MFA", "off")],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let page = account(&app, &browser, "alice").await;
        assert!(
            !page.page_body().contains("/account/totp"),
            "nothing to set up"
        );
        let doc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["acr_values_supported"], json!(["1"]));
        let essential = r#"{"id_token":{"acr":{"essential":true,"values":["mfa"]}}}"#;
        let step = browser
            .authorize(&app, &AuthRequest::new(&client).with("claims", essential))
            .await;
        assert_eq!(
            step.redirect_params()["error"],
            "unmet_authentication_requirements"
        );
    }
);

db_test!(
    a_gateway_route_can_require_a_second_factor,
    [
        ("MONBAN_POLICY_FILE", crate::forward_auth::POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        fresh_step().await;
        let browser = Browser::new();
        let page = account(&app, &browser, "alice").await;
        let (totp, _) = enrol(&app, &browser, &page).await;
        let ask = async |token: &str| {
            app.http
                .get(app.url("/forward_auth"))
                .header("X-Forwarded-Method", "POST")
                .header("X-Forwarded-Uri", "/payments/7")
                .header("X-Forwarded-Host", "api.example.com")
                .header("X-Forwarded-Proto", "https")
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        };
        // The account's sign-in was a password alone.
        let request = AuthRequest::new(&client);
        let step = browser.authorize(&app, &request).await;
        let weak = tokens(&app, &client, &request, &step.redirect_params()["code"]).await;
        let r = ask(weak["access_token"].as_str().unwrap()).await;
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains("error=\"insufficient_user_authentication\"")
                && challenge.contains("acr_values=\"mfa\""),
            "{challenge}"
        );
        // RFC 9470 §4: the client asks again with the acr_values named.
        let request = AuthRequest::new(&client).with("acr_values", "mfa");
        let step = browser.authorize(&app, &request).await;
        let done = submit_code(&app, &browser, &step, &totp.code(1)).await;
        let strong = tokens(&app, &client, &request, &done.redirect_params()["code"]).await;
        assert_eq!(
            ask(strong["access_token"].as_str().unwrap()).await.status(),
            200
        );
    }
);

db_test!(
    the_admin_api_and_pages_show_and_reset_factors,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        fresh_step().await;
        let alice = Browser::new();
        let page = account(&app, &alice, "alice").await;
        enrol(&app, &alice, &page).await;
        let id = monban::store::users::find(&app.db, "alice")
            .await
            .unwrap()
            .unwrap()
            .id;
        let token = app.admin_token().await;
        let api = |path: &str| app.url(&format!("/admin/api/v1{path}"));
        let shown: Value = app
            .http
            .get(api(&format!("/users/{id}/mfa")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(shown["factors"], json!(["totp"]), "{shown}");
        let user: Value = app
            .http
            .get(api(&format!("/users/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["factors"], json!(["totp"]));

        // Groups: require_mfa through PATCH, shown in the list.
        let r = app
            .http
            .post(api("/groups"))
            .bearer_auth(&token)
            .json(&json!({"name": "finance"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = app
            .http
            .patch(api("/groups/finance"))
            .bearer_auth(&token)
            .json(&json!({"require_mfa": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let groups: Value = app
            .http
            .get(api("/groups"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let finance = groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "finance");
        assert_eq!(finance.unwrap()["require_mfa"], true, "{groups}");

        // A client that requires a second factor, through the API.
        let r = app
            .http
            .post(api("/clients"))
            .bearer_auth(&token)
            .json(&json!({
                "client_name": "Payroll",
                "redirect_uris": ["https://payroll.example.com/cb"],
                "require_mfa": true
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["require_mfa"], true, "{created}");

        // The admin pages: the list says who has which factors; the user's
        // page resets them.
        let (admin, list) = crate::admin_pages::signed_in(&app, "root", true, "/admin/users").await;
        let body = list.page_body();
        let row = &body[body.find(">alice<").unwrap()..];
        assert!(row[..row.find("</tr>").unwrap()].contains("totp"), "{body}");
        let page = admin
            .follow(
                &app,
                admin.get(&app.url(&format!("/admin/users/{id}"))).await,
            )
            .await;
        assert!(page.page_body().contains("Reset second factors"));
        let path = format!("/admin/users/{id}");
        let done = crate::admin_pages::post(
            &app,
            &admin,
            &page,
            &path,
            &[("action", "reset-mfa"), ("confirm", "yes")],
        )
        .await;
        assert!(
            !done.page_body().contains("Reset second factors"),
            "{done:?}"
        );
        let reset = &app.audit("mfa.reset").await[0];
        assert_eq!(reset["detail"]["via"], "admin pages");
        // Through the API, on a user with nothing to reset: an empty answer.
        let r: Value = app
            .http
            .post(api(&format!("/users/{id}/mfa/reset")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["factors"], json!([]));
    }
);

db_test!(
    a_user_removes_their_app_with_their_password,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        fresh_step().await;
        let browser = Browser::new();
        let page = account(&app, &browser, "alice").await;
        enrol(&app, &browser, &page).await;
        let page = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        let csrf = hidden(page.page_body(), "csrf");
        let wrong = [("csrf", csrf.as_str()), ("password", "not the password")];
        let r = browser
            .post_form(&app.url("/account/totp/remove"), &wrong)
            .await;
        let body = r.text().await.unwrap();
        assert!(
            body.contains("alert"),
            "refused without the password: {body}"
        );
        let listed = app
            .cli(&["user", "mfa", "list", "alice", "--json"])
            .ok_json();
        assert_eq!(listed["factors"], json!(["totp"]));
        let form = [("csrf", csrf.as_str()), ("password", PASSWORD)];
        let r = browser
            .post_form(&app.url("/account/totp/remove"), &form)
            .await;
        let done = browser.follow(&app, r).await;
        assert!(done.page_body().contains("was removed"), "{done:?}");
        let listed = app
            .cli(&["user", "mfa", "list", "alice", "--json"])
            .ok_json();
        assert_eq!(listed["factors"], json!([]));
        assert_eq!(listed["recovery_codes_left"], 0, "the codes went with it");
        assert_eq!(app.audit("mfa.removed").await.len(), 1);
        // The Japanese account page.
        let ja = browser.page_in(&app.url("/account"), "ja").await;
        assert!(
            ja.contains("2段階認証") && ja.contains("認証アプリを設定"),
            "{ja}"
        );
    }
);
