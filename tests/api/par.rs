//! Pushed authorization requests (RFC 9126): push, then the browser brings
//! only `client_id` and `request_uri` to /authorize, through the real login.

use monban::clients::ClientSettings;
use serde_json::Value;

use crate::browser::{AuthRequest, Browser, Step, spa_settings, tokens, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};

const PASSWORD: &str = "correct horse battery staple";
const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// Pushes `request` as `client` (Basic, or client_id alone for a public
/// client) and returns the response.
async fn push(
    app: &TestApp,
    client: &TestClient,
    params: &[(String, String)],
) -> reqwest::Response {
    let form: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if client.secret.is_empty() {
        app.post_form("/par", &form).await
    } else {
        app.post_basic("/par", client, &form).await
    }
}

/// The request_uri of a successful push.
async fn pushed(app: &TestApp, client: &TestClient, request: &AuthRequest) -> String {
    let r = push(app, client, &request.params()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with(URN), "{request_uri}");
    request_uri
}

/// /authorize with only client_id and request_uri (plus `extra`, which
/// must be ignored).
fn by_reference(
    app: &TestApp,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .extend_pairs(extra);
    url.to_string()
}

/// The browser opens /authorize by reference and follows where it leads.
async fn open(app: &TestApp, browser: &Browser, client_id: &str, request_uri: &str) -> Step {
    browser
        .follow(
            app,
            browser
                .get(&by_reference(app, client_id, request_uri, &[]))
                .await,
        )
        .await
}

db_test!(a_pushed_request_signs_the_user_in, async |app: TestApp| {
    app.user("alice", PASSWORD).await;
    let client = app.first_party_web_app().await;
    let request = AuthRequest::new(&client).scope("openid profile");
    let request_uri = pushed(&app, &client, &request).await;
    assert_eq!(app.count("pushed_requests").await, 1);

    let browser = Browser::new();
    // Parameters next to request_uri are ignored (§4): not this state.
    let r = browser
        .get(&by_reference(
            &app,
            &client.id,
            &request_uri,
            &[("state", "forged")],
        ))
        .await;
    let login = browser.follow(&app, r).await;
    assert!(login.is_login(), "{login:?}");
    let done = browser.submit_login(&app, &login, "alice", PASSWORD).await;
    let params = done.redirect_params();
    assert_eq!(
        params["state"], request.state,
        "the pushed state, not the URL's"
    );
    assert_eq!(params["iss"], app.issuer);
    let body = tokens(&app, &client, &request, &params["code"]).await;
    let id =
        crate::sso::verify_id_token(&app, body["id_token"].as_str().unwrap(), &client.id).await;
    assert_eq!(id["nonce"], request.nonce);
    assert_eq!(body["scope"], "openid profile");

    // Single use: the same request_uri again is refused, even with the SSO
    // session in place.
    let again = open(&app, &browser, &client.id, &request_uri).await;
    assert_eq!(again.status(), 400);
    assert!(
        again.page_body().contains("request_uri"),
        "{}",
        again.page_body()
    );
    assert_eq!(app.count("pushed_requests").await, 0);
});

db_test!(
    a_public_client_pushes_with_its_client_id,
    async |app: TestApp| {
        app.user("bob", PASSWORD).await;
        let spa = app.register(spa_settings()).await;
        let mut request = AuthRequest::new(&spa);
        request.redirect_uri = "https://spa.example.com/cb".into();
        let request_uri = pushed(&app, &spa, &request).await;
        let browser = Browser::new();
        let step = open(&app, &browser, &spa.id, &request_uri).await;
        assert!(step.is_login());
    }
);

db_test!(
    bad_pushes_and_bad_references_are_refused,
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        let other = app.register(web_app_settings()).await;
        let request = AuthRequest::new(&client);
        let error_of = async |r: reqwest::Response| -> (u16, String) {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["error"].as_str().unwrap().to_owned())
        };

        // No client authentication.
        let form: Vec<(String, String)> = request.params();
        let plain: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = app.post_form("/par", &plain).await;
        assert_eq!(error_of(r).await, (400, "invalid_client".into()));
        // Wrong secret.
        let wrong = TestClient {
            id: client.id.clone(),
            secret: "not-the-secret".into(),
        };
        assert_eq!(
            error_of(push(&app, &wrong, &form).await).await,
            (401, "invalid_client".into())
        );

        let cases: Vec<(AuthRequest, &str, &str)> = vec![
            (
                request.clone().with("request_uri", "urn:x"),
                "invalid_request",
                "request_uri pushed",
            ),
            (
                AuthRequest {
                    redirect_uri: "https://evil.example.com/cb".into(),
                    ..request.clone()
                },
                "invalid_request",
                "unregistered redirect_uri",
            ),
            (
                request.clone().with("response_type", "token"),
                "invalid_request",
                "repeated response_type",
            ),
            (
                request.clone().with("prompt", "sometimes"),
                "invalid_request",
                "unknown prompt",
            ),
            (
                request.clone().scope("openid admin"),
                "invalid_scope",
                "scope not allowed",
            ),
            (
                request.clone().with("code_challenge_method", "plain"),
                "invalid_request",
                "repeated challenge method",
            ),
            (
                request.clone().with("request", "eyJ.e30."),
                "request_not_supported",
                "request object",
            ),
        ];
        for (bad, error, why) in cases {
            let (status, code) = error_of(push(&app, &client, &bad.params()).await).await;
            assert_eq!((status, code.as_str()), (400, error), "{why}");
        }
        // response_type other than code.
        let mut token_flow = request.params();
        token_flow[0].1 = "token".into();
        let (status, code) = error_of(push(&app, &client, &token_flow).await).await;
        assert_eq!((status, code.as_str()), (400, "unsupported_response_type"));
        // A public client without PKCE.
        let spa = app.register(spa_settings()).await;
        let spa_request = AuthRequest {
            redirect_uri: "https://spa.example.com/cb".into(),
            verifier: None,
            ..AuthRequest::new(&spa)
        };
        let (status, code) = error_of(push(&app, &spa, &spa_request.params()).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "no PKCE");
        // Another client's client_id in the body than the one authenticating.
        let mut foreign = request.params();
        for (k, v) in &mut foreign {
            if k == "client_id" {
                v.clone_from(&other.id);
            }
        }
        assert_eq!(
            error_of(push(&app, &client, &foreign).await).await,
            (401, "invalid_client".into())
        );
        assert_eq!(app.count("pushed_requests").await, 0, "nothing stored");

        let browser = Browser::new();
        // Another client cannot use a request_uri, nor does it burn it.
        let request_uri = pushed(&app, &client, &request).await;
        let step = open(&app, &browser, &other.id, &request_uri).await;
        assert_eq!(step.status(), 400);
        let step = open(&app, &browser, &client.id, &request_uri).await;
        assert!(step.is_login(), "still usable by its client: {step:?}");
        // A made-up or malformed request_uri.
        for made_up in [
            format!("{URN}made-up"),
            "https://evil.example.com/req".to_owned(),
        ] {
            let step = open(&app, &browser, &client.id, &made_up).await;
            assert_eq!(step.status(), 400, "{made_up}");
        }
        // Expired.
        let request_uri = pushed(&app, &client, &request).await;
        app.execute("UPDATE pushed_requests SET expires_at = 0")
            .await;
        let step = open(&app, &browser, &client.id, &request_uri).await;
        assert_eq!(step.status(), 400, "expired");
    }
);

db_test!(a_client_can_be_required_to_push, async |app: TestApp| {
    app.user("carol", PASSWORD).await;
    let client = app
        .register(ClientSettings {
            require_par: true,
            first_party: true,
            ..web_app_settings()
        })
        .await;
    let free = app.register(web_app_settings()).await;
    let browser = Browser::new();
    // Not pushed: refused, told at the (registered) redirect URI.
    let request = AuthRequest::new(&client);
    let step = browser.authorize(&app, &request).await;
    let params = step.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], request.state);
    // Pushed: fine.
    let request_uri = pushed(&app, &client, &request).await;
    let step = open(&app, &browser, &client.id, &request_uri).await;
    assert!(step.is_login());
    // Other clients are not affected.
    assert!(
        browser
            .authorize(&app, &AuthRequest::new(&free))
            .await
            .is_login()
    );
    let metadata = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        app.url("/par")
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], false);
});

db_test!(
    the_server_can_require_every_client_to_push,
    [("MONBAN_REQUIRE_PAR", "true")],
    async |app: TestApp| {
        let client = app.register(web_app_settings()).await;
        let request = AuthRequest::new(&client);
        let browser = Browser::new();
        let step = browser.authorize(&app, &request).await;
        assert_eq!(step.redirect_params()["error"], "invalid_request");
        let request_uri = pushed(&app, &client, &request).await;
        let step = open(&app, &browser, &client.id, &request_uri).await;
        assert!(step.is_login());
        let metadata = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(metadata["require_pushed_authorization_requests"], true);
    }
);
