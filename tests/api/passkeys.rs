//! Passkeys through the real pages with a scripted software authenticator
//! (webauthn-authenticator-rs's `SoftPasskey`, nobody here wrote it):
//! registering on `/account`, signing in without a password, as the second
//! factor and to step up to `phr`; and the protocol's edge cases — another
//! origin, a replayed answer, another user's credential, a counter that
//! goes back. Chromium's virtual authenticator drives the same pages in
//! `chromium.rs`.

use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

use crate::browser::{AuthRequest, Browser, Step, hidden, tokens};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};
use crate::sso::verify_id_token;

const PASSWORD: &str = "correct horse battery staple";
// Passkeys need a domain name for their RP ID: these servers' issuer is
// `http://localhost:PORT` (`TEST_ISSUER_HOST`).

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.root_url("/")).unwrap()
}

/// Posts a form and reads the JSON answer (a ceremony's options).
async fn options(app: &TestApp, browser: &Browser, path: &str, form: &[(&str, &str)]) -> Value {
    let r = browser.post_form(&app.url(path), form).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Signs in to `/account` with the password, and adds a passkey made by
/// `authenticator`; the page it ends on.
async fn add_passkey(
    app: &TestApp,
    browser: &Browser,
    username: &str,
    name: &str,
    authenticator: &mut SoftPasskey,
) -> String {
    let page = browser
        .follow(app, browser.get(&app.url("/account")).await)
        .await;
    let page = if page.is_login() {
        browser.submit_login(app, &page, username, PASSWORD).await
    } else {
        page
    };
    let csrf = hidden(page.page_body(), "csrf");
    let wrong = [("csrf", csrf.as_str()), ("password", "wrong password!")];
    let r = browser
        .post_form(&app.url("/account/passkeys/options"), &wrong)
        .await;
    assert_eq!(r.status(), 403, "the password comes first");
    let form = [("csrf", csrf.as_str()), ("password", PASSWORD)];
    let json = options(app, browser, "/account/passkeys/options", &form).await;
    assert_eq!(
        json["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "a discoverable credential"
    );
    assert_eq!(json["publicKey"]["attestation"], "none");
    // The soft authenticator keeps no resident credentials (a browser's
    // does: chromium.rs); the server takes either.
    let mut json = json;
    let selection = &mut json["publicKey"]["authenticatorSelection"];
    selection["requireResidentKey"] = json!(false);
    selection["residentKey"] = json!("discouraged");
    let ccr: CreationChallengeResponse = serde_json::from_value(json).unwrap();
    let credential = authenticator.do_registration(origin(app), ccr).unwrap();
    let credential = serde_json::to_string(&credential).unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", name),
        ("credential", credential.as_str()),
    ];
    let r = browser
        .post_form(&app.url("/account/passkeys"), &form)
        .await;
    browser.follow(app, r).await.page_body().to_owned()
}

/// The login page of `request` in a new browser.
async fn login_page(app: &TestApp, request: &AuthRequest) -> (Browser, Step) {
    let browser = Browser::new();
    let step = browser.authorize(app, request).await;
    assert!(step.is_login(), "{step:?}");
    (browser, step)
}

#[allow(clippy::too_many_arguments)]
/// An assertion by `authenticator` over options from `path`, for the
/// form at `step`; `user` is the user handle a discoverable credential
/// carries (the soft authenticator keeps none), `at` the origin it signs.
async fn assertion(
    app: &TestApp,
    browser: &Browser,
    step: &Step,
    path: &str,
    authenticator: &mut SoftPasskey,
    user: Option<uuid::Uuid>,
    allow: Option<&Value>,
    at: Url,
) -> Option<String> {
    let body = step.page_body();
    let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
    let form = [("csrf", csrf.as_str()), ("rid", rid.as_str())];
    let mut json = options(app, browser, path, &form).await;
    if let Some(allow) = allow {
        // A discoverable request names no credential; the soft
        // authenticator needs one to pick.
        json["publicKey"]["allowCredentials"] = allow.clone();
    }
    let rcr: RequestChallengeResponse = serde_json::from_value(json).unwrap();
    let mut credential: PublicKeyCredential = authenticator.do_authentication(at, rcr).ok()?;
    if let Some(user) = user {
        credential.response.user_handle = Some(user.as_bytes().to_vec());
    }
    Some(serde_json::to_string(&credential).unwrap())
}

async fn answer(
    app: &TestApp,
    browser: &Browser,
    step: &Step,
    path: &str,
    credential: &str,
) -> Step {
    let body = step.page_body();
    let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
    let form = [
        ("csrf", csrf.as_str()),
        ("rid", rid.as_str()),
        ("credential", credential),
    ];
    let r = browser.post_form(&app.url(path), &form).await;
    browser.follow(app, r).await
}

/// The credential ids of a user's passkeys, as `allowCredentials`.
async fn allow_list(app: &TestApp, user: uuid::Uuid) -> Value {
    let stored = monban::store::passkeys::of_user(&app.db, user)
        .await
        .unwrap();
    let ids: Vec<Value> = stored
        .iter()
        .map(|p| {
            use base64::Engine;
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&p.credential_id);
            json!({"type": "public-key", "id": id})
        })
        .collect();
    Value::Array(ids)
}

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
    a_passkey_signs_in_without_a_password,
    [("TEST_ISSUER_HOST", "localhost")],
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let mut key = SoftPasskey::new(true);
        let page = add_passkey(&app, &Browser::new(), "alice", "Laptop", &mut key).await;
        assert!(
            page.contains("<li><code>"),
            "recovery codes with the first factor: {page}"
        );
        assert_eq!(app.audit("mfa.enrolled").await.len(), 2);
        let doc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["acr_values_supported"], json!(["1", "mfa", "phr"]));

        let request = AuthRequest::new(&client);
        let (browser, login) = login_page(&app, &request).await;
        let body = login.page_body();
        assert!(body.contains("autocomplete=\"username webauthn\""));
        assert!(body.contains("/static/webauthn.js"));
        let allow = allow_list(&app, alice).await;
        let path = "/login/passkey/options";
        let credential = assertion(
            &app,
            &browser,
            &login,
            path,
            &mut key,
            Some(alice),
            Some(&allow),
            origin(&app),
        )
        .await
        .unwrap();
        let done = answer(&app, &browser, &login, "/login/passkey", &credential).await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "phr");
        assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));

        // The same answer again: its challenge was used.
        let request = AuthRequest::new(&client);
        let (other, login) = login_page(&app, &request).await;
        let body = login.page_body();
        let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
        let _ = options(&app, &other, path, &[("csrf", &csrf), ("rid", &rid)]).await;
        let replayed = answer(&app, &other, &login, "/login/passkey", &credential).await;
        assert!(replayed.is_login(), "a replayed assertion: {replayed:?}");

        // Signed at another origin (another port of localhost).
        let elsewhere = Url::parse("http://localhost:1/").unwrap();
        let forged = assertion(
            &app,
            &other,
            &login,
            path,
            &mut key,
            Some(alice),
            Some(&allow),
            elsewhere,
        )
        .await
        .unwrap();
        let refused = answer(&app, &other, &login, "/login/passkey", &forged).await;
        assert!(refused.is_login(), "another origin: {refused:?}");
        assert!(refused.page_body().contains("did not work"));
        assert!(!app.audit("mfa.failed").await.is_empty());

        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(
            metrics.contains("monban_sign_ins_total{amr=\"hwk+user+mfa\"} 1"),
            "{metrics}"
        );
    }
);

db_test!(
    another_users_passkey_and_a_counter_going_back_are_refused,
    [("TEST_ISSUER_HOST", "localhost")],
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let bob = app.user("bob", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let mut alices = SoftPasskey::new(true);
        let mut bobs = SoftPasskey::new(true);
        add_passkey(&app, &Browser::new(), "alice", "Alice's", &mut alices).await;
        add_passkey(&app, &Browser::new(), "bob", "Bob's", &mut bobs).await;
        let path = "/login/passkey/options";

        // Bob's passkey, claiming to be Alice's (her user handle).
        let request = AuthRequest::new(&client);
        let (browser, login) = login_page(&app, &request).await;
        let bobs_ids = allow_list(&app, bob).await;
        let forged = assertion(
            &app,
            &browser,
            &login,
            path,
            &mut bobs,
            Some(alice),
            Some(&bobs_ids),
            origin(&app),
        )
        .await
        .unwrap();
        let refused = answer(&app, &browser, &login, "/login/passkey", &forged).await;
        assert!(refused.is_login(), "another user's credential: {refused:?}");

        // As the second factor after Alice's password, Bob's passkey is no
        // use either.
        let (browser, login) = login_page(&app, &request).await;
        let second = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(
            second.page_body().contains("/login/factor/passkey\""),
            "{second:?}"
        );
        let factor = "/login/factor/passkey/options";
        let attempt = assertion(
            &app,
            &browser,
            &second,
            factor,
            &mut bobs,
            None,
            Some(&bobs_ids),
            origin(&app),
        )
        .await;
        if let Some(credential) = attempt {
            let refused = answer(
                &app,
                &browser,
                &second,
                "/login/factor/passkey",
                &credential,
            )
            .await;
            assert!(refused.page_body().contains("did not work"), "{refused:?}");
        }
        // Her own passkey steps her up to phr.
        let done_credential = assertion(
            &app,
            &browser,
            &second,
            factor,
            &mut alices,
            None,
            None,
            origin(&app),
        )
        .await
        .unwrap();
        let done = answer(
            &app,
            &browser,
            &second,
            "/login/factor/passkey",
            &done_credential,
        )
        .await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "phr");
        assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));

        // A stored counter ahead of the authenticator's: a copy, perhaps.
        let sql = match &app.db {
            monban::store::Db::Postgres(_) => {
                "UPDATE passkeys SET passkey = jsonb_set(passkey, '{cred,counter}', '1000')"
            }
            monban::store::Db::Sqlite(_) => {
                "UPDATE passkeys SET passkey = json_set(passkey, '$.cred.counter', 1000)"
            }
        };
        app.execute(sql).await;
        let (browser, login) = login_page(&app, &request).await;
        let allow = allow_list(&app, alice).await;
        let credential = assertion(
            &app,
            &browser,
            &login,
            path,
            &mut alices,
            Some(alice),
            Some(&allow),
            origin(&app),
        )
        .await
        .unwrap();
        let refused = answer(&app, &browser, &login, "/login/passkey", &credential).await;
        assert!(
            refused.page_body().contains("may have been copied"),
            "{refused:?}"
        );
        let suspected = app.audit("passkey.clone_suspected").await;
        assert_eq!(suspected.len(), 1);
        assert_eq!(suspected[0]["detail"]["name"], "Alice's");
    }
);

db_test!(
    phr_takes_a_passkey_and_a_code_will_not_do,
    [("TEST_ISSUER_HOST", "localhost")],
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        crate::mfa::fresh_step().await;
        let browser = Browser::new();
        let page = crate::mfa::account(&app, &browser, "alice").await;
        let (totp, _) = crate::mfa::enrol(&app, &browser, &page).await;
        let mut key = SoftPasskey::new(true);
        add_passkey(&app, &browser, "alice", "Key", &mut key).await;
        let listed = app
            .cli(&["user", "mfa", "list", "alice", "--json"])
            .ok_json();
        assert_eq!(listed["factors"], json!(["totp", "passkey"]), "{listed}");
        assert_eq!(listed["passkeys"][0]["name"], "Key");
        let (_, users) = crate::admin_pages::signed_in(&app, "root", true, "/admin/users").await;
        let body = users.page_body();
        let row = &body[body.find(">alice<").unwrap()..];
        assert!(
            row[..row.find("</tr>").unwrap()].contains("totp, passkey"),
            "{body}"
        );

        // Her session is a password alone; phr asks for the passkey only.
        let request = AuthRequest::new(&client).with("acr_values", "phr");
        let step = browser.authorize(&app, &request).await;
        let body = step.page_body();
        assert!(body.contains("/login/factor/passkey\""), "{body}");
        assert!(
            !body.contains("name=\"code\""),
            "no code form for phr: {body}"
        );
        let refused = crate::mfa::submit_code(&app, &browser, &step, &totp.code(1)).await;
        assert!(
            refused.page_body().contains("a code is not enough"),
            "{refused:?}"
        );
        let factor = "/login/factor/passkey/options";
        let credential = assertion(
            &app,
            &browser,
            &step,
            factor,
            &mut key,
            None,
            None,
            origin(&app),
        )
        .await
        .unwrap();
        let done = answer(&app, &browser, &step, "/login/factor/passkey", &credential).await;
        let claims = id_claims(&app, &client, &request, &done).await;
        assert_eq!(claims["acr"], "phr");

        // Removing the passkey takes the password; the app stays.
        let page = browser
            .follow(&app, browser.get(&app.url("/account")).await)
            .await;
        let id = listed["passkeys"][0]["id"].as_str().unwrap().to_owned();
        let csrf = hidden(page.page_body(), "csrf");
        let form = [
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("id", id.as_str()),
        ];
        let r = browser
            .post_form(&app.url("/account/passkeys/remove"), &form)
            .await;
        let done = browser.follow(&app, r).await;
        assert!(done.page_body().contains("passkey was removed"), "{done:?}");
        let listed = app
            .cli(&["user", "mfa", "list", "alice", "--json"])
            .ok_json();
        assert_eq!(listed["factors"], json!(["totp"]));
        assert_eq!(app.audit("mfa.removed").await.len(), 1);
    }
);

db_test!(
    passkeys_are_off_without_a_domain_name,
    async |app: TestApp| {
        // The issuer is 127.0.0.1 here: no RP ID, so no passkey anywhere.
        let doc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["acr_values_supported"], json!(["1", "mfa"]));
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let (_, login) = login_page(&app, &AuthRequest::new(&client)).await;
        assert!(!login.page_body().contains("/login/passkey"));
        let script = app.get("/static/webauthn.js").await;
        assert_eq!(script.status(), 200);
        assert!(
            script.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
    }
);
