//! Dynamic client registration (RFC 7591) with the `openidconnect` crate's
//! registration client, every refusal, and management (RFC 7592).

use openidconnect::core::CoreClientRegistrationRequest;
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{AccessToken, ClientName, RedirectUrl, RegistrationUrl};
use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, REDIRECT_URI, tokens};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};

const PASSWORD: &str = "correct horse battery staple";

/// A new initial access token from the CLI.
fn initial_token(app: &TestApp, extra: &[&str]) -> String {
    let mut args = vec!["client", "registration-token", "create", "--json"];
    args.extend_from_slice(extra);
    app.cli(&args).ok_json()["initial_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn post(app: &TestApp, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

db_test!(
    the_openidconnect_crate_registers_a_client_that_signs_users_in,
    async |app: TestApp| {
        let token = initial_token(&app, &["--uses", "1"]);
        let metadata = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(metadata["registration_endpoint"], app.url("/register"));
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let registered = CoreClientRegistrationRequest::new(
            vec![RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap()],
            EmptyAdditionalClientMetadata {},
        )
        .set_client_name(Some(
            vec![(None, ClientName::new("Registered RP".into()))]
                .into_iter()
                .collect(),
        ))
        .set_initial_access_token(Some(AccessToken::new(token.clone())))
        .register_async(
            &RegistrationUrl::new(metadata["registration_endpoint"].as_str().unwrap().into())
                .unwrap(),
            &http,
        )
        .await
        .unwrap();
        let client = TestClient {
            id: registered.client_id().to_string(),
            secret: registered.client_secret().unwrap().secret().clone(),
        };
        assert!(registered.registration_access_token().is_some());
        assert_eq!(
            registered.registration_client_uri().unwrap().as_str(),
            app.url(&format!("/register/{}", client.id))
        );
        // Audited as the new client's own act, through registration.
        let created = app.audit("client.created").await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["actor"], format!("client:{}", client.id));
        assert_eq!(created[0]["client_id"], client.id);
        assert_eq!(created[0]["detail"]["via"], "registration");
        assert_eq!(created[0]["detail"]["initial_access_token"], true);

        // The new client is a third party: alice signs in and consents.
        app.user("alice", PASSWORD).await;
        let request = AuthRequest::new(&client).scope("openid");
        let browser = Browser::new();
        let login = browser.authorize(&app, &request).await;
        assert!(login.is_login());
        let consent = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(
            consent.is_consent(),
            "registered clients are never first-party"
        );
        assert!(consent.page_body().contains("Registered RP"));
        let done = browser.submit_consent(&app, &consent, "allow").await;
        let body = tokens(&app, &client, &request, &done.redirect_params()["code"]).await;
        assert!(body["id_token"].is_string());

        // The token had one use.
        let again = post(
            &app,
            Some(&token),
            &json!({"redirect_uris": [REDIRECT_URI]}).to_string(),
        )
        .await;
        assert_eq!(again.status(), 401);
        assert!(
            again.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
);

db_test!(
    bad_metadata_is_refused_and_nothing_is_stored,
    async |app: TestApp| {
        let token = initial_token(&app, &[]);
        let before = app.count("clients").await;
        let redirect = json!([REDIRECT_URI]);
        let cases = [
            (
                json!({"redirect_uris": ["https://rp.example.com/cb#x"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["http://rp.example.com/cb"]}),
                "invalid_redirect_uri",
            ),
            (json!({"redirect_uris": ["/cb"]}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                "invalid_redirect_uri",
            ),
            (json!({}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": redirect, "post_logout_redirect_uris": ["http://x.example.com/"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": "https://rp.example.com/cb"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "grant_types": ["implicit"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "response_types": []}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "token_endpoint_auth_method": "client_secret_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}, "jwks_uri": "https://rp.example.com/jwks"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "jwks_uri": "https://rp.example.com/jwks"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "scope": "openid caf\u{e9}"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "grant_types": ["refresh_token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "client_name": ""}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": redirect, "backchannel_logout_uri": "http://rp.example.com/bc"}),
                "invalid_client_metadata",
            ),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ];
        for (body, expected) in cases {
            let r = post(&app, Some(&token), &body.to_string()).await;
            assert_eq!(error_of(r).await, (400, expected.to_owned()), "{body}");
        }
        let r = post(&app, Some(&token), "{not json").await;
        assert_eq!(
            error_of(r).await,
            (400, "invalid_client_metadata".to_owned())
        );
        assert_eq!(app.count("clients").await, before, "nothing stored");

        // Unknown metadata is ignored, not echoed; defaults per RFC 7591 §2.
        let r = post(
        &app,
        Some(&token),
        &json!({"redirect_uris": redirect, "logo_uri": "https://rp.example.com/logo.png", "x_custom": 1}).to_string(),
    )
    .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert!(body.get("logo_uri").is_none() && body.get("x_custom").is_none());
        assert_eq!(body["grant_types"], json!(["authorization_code"]));
        assert_eq!(body["response_types"], json!(["code"]));
        assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(body["client_secret_expires_at"], 0);
        assert!(body["client_id_issued_at"].is_i64());
    }
);

db_test!(
    registration_needs_a_valid_initial_access_token,
    async |app: TestApp| {
        let body = json!({"redirect_uris": [REDIRECT_URI]}).to_string();
        let r = post(&app, None, &body).await;
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let r = post(&app, Some("made-up"), &body).await;
        assert_eq!(error_of(r).await, (401, "invalid_token".to_owned()));
        // Expired.
        let token = initial_token(&app, &["--expires-in", "1"]);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let r = post(&app, Some(&token), &body).await;
        assert_eq!(r.status(), 401, "expired");
        // Services need the operator's token, and get what it grants.
        let token = initial_token(
            &app,
            &["--uses", "2", "--audience", "https://api.example.com"],
        );
        let r = post(
            &app,
            Some(&token),
            &json!({"grant_types": ["client_credentials"]}).to_string(),
        )
        .await;
        assert_eq!(r.status(), 201);
        let service: Value = r.json().await.unwrap();
        assert_eq!(service["response_types"], json!([]));
        let client = TestClient {
            id: service["client_id"].as_str().unwrap().into(),
            secret: service["client_secret"].as_str().unwrap().into(),
        };
        assert_eq!(app.token(&client, &[]).await.status(), 200);
        assert_eq!(
            app.count("clients").await,
            2,
            "the account client and the service"
        );
    }
);

db_test!(
    open_registration_takes_code_flow_clients_only,
    [("MONBAN_OPEN_REGISTRATION", "true")],
    async |app: TestApp| {
        let r = post(
            &app,
            None,
            &json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}).to_string(),
        )
        .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert!(body.get("client_secret").is_none(), "a public client");
        let r = post(
            &app,
            None,
            &json!({"grant_types": ["client_credentials"]}).to_string(),
        )
        .await;
        assert_eq!(
            error_of(r).await,
            (400, "invalid_client_metadata".to_owned())
        );
    }
);

db_test!(a_registered_client_manages_itself, async |app: TestApp| {
    let token = initial_token(&app, &[]);
    let register = |name: &str| {
        json!({"redirect_uris": [REDIRECT_URI], "client_name": name, "scope": "orders:read"})
            .to_string()
    };
    let mine: Value = post(&app, Some(&token), &register("Mine"))
        .await
        .json()
        .await
        .unwrap();
    let theirs: Value = post(&app, Some(&token), &register("Theirs"))
        .await
        .json()
        .await
        .unwrap();
    let uri = mine["registration_client_uri"].as_str().unwrap().to_owned();
    let mut rat = mine["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = mine["client_secret"].as_str().unwrap().to_owned();
    let id = mine["client_id"].as_str().unwrap().to_owned();

    // Read (RFC 7592 §2.1): with a new registration access token (§3).
    let r = app.http.get(&uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["client_name"], "Mine");
    assert_eq!(read["scope"], "orders:read");
    assert!(read.get("client_secret").is_none());
    let old = std::mem::replace(
        &mut rat,
        read["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_ne!(old, rat);
    // The replaced token, someone else's, none, or the secret: 401.
    let other_rat = theirs["registration_access_token"].as_str().unwrap();
    for bad in [
        Some(old.as_str()),
        Some(other_rat),
        None,
        Some(secret.as_str()),
    ] {
        let mut request = app.http.get(&uri);
        if let Some(t) = bad {
            request = request.bearer_auth(t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    // A client made with the CLI cannot be managed here.
    let cli_client = app.service_client("").await;
    let r = app
        .http
        .get(app.url(&format!("/register/{}", cli_client.id)))
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The operator narrows its audience; an update cannot undo that.
    app.cli(&[
        "client",
        "update",
        &id,
        "--audience",
        "https://reports.example.com",
        "--json",
    ])
    .ok_json();

    // Update (§2.2): the body replaces the settings.
    let put = |rat: String, body: Value| {
        let http = app.http.clone();
        let uri = uri.clone();
        async move {
            http.put(&uri)
                .bearer_auth(rat)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let refused = [
        (
            json!({"redirect_uris": ["https://new.example.com/cb"]}),
            "invalid_client_metadata",
            "no client_id",
        ),
        (
            json!({"client_id": id, "client_secret": "wrong", "redirect_uris": ["https://new.example.com/cb"]}),
            "invalid_client_metadata",
            "wrong secret",
        ),
        (
            json!({"client_id": id, "redirect_uris": ["http://new.example.com/cb"]}),
            "invalid_redirect_uri",
            "http redirect",
        ),
        (
            json!({"client_id": id, "grant_types": ["client_credentials"], "scope": "orders:write"}),
            "invalid_client_metadata",
            "gaining client_credentials",
        ),
    ];
    for (body, expected, why) in refused {
        let r = put(rat.clone(), body).await;
        assert_eq!(error_of(r).await, (400, expected.to_owned()), "{why}");
    }
    let r = put(
        rat.clone(),
        json!({"client_id": id, "client_secret": secret, "client_name": "Renamed",
               "redirect_uris": ["https://new.example.com/cb"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://new.example.com/cb"])
    );
    assert!(
        updated.get("scope").is_none(),
        "left out: back to the default"
    );
    rat = updated["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = monban::store::clients::find(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Renamed");
    assert!(stored.scopes.is_empty());
    assert_eq!(
        stored.audiences,
        vec!["https://reports.example.com".to_owned()],
        "the operator's"
    );
    assert!(!stored.allows_grant(monban::types::GrantType::ClientCredentials));

    // Delete (§2.3): gone, with its token.
    let r = app
        .http
        .delete(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        monban::store::clients::find(&app.db, &id)
            .await
            .unwrap()
            .is_none()
    );
    let r = app.http.get(&uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(r.status(), 401);
});

db_test!(
    open_registration_cannot_reach_inside,
    [("MONBAN_OPEN_REGISTRATION", "true")],
    async |app: TestApp| {
        let redirect = json!([REDIRECT_URI]);
        for body in [
            json!({"redirect_uris": redirect, "backchannel_logout_uri": "https://127.0.0.1/bc"}),
            json!({"redirect_uris": redirect, "backchannel_logout_uri": "https://10.0.0.5/bc"}),
            json!({"redirect_uris": redirect, "backchannel_logout_uri": "https://localhost/bc"}),
            json!({"redirect_uris": redirect, "backchannel_logout_uri": "https://[::1]/bc"}),
            json!({"redirect_uris": redirect, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://169.254.169.254/keys"}),
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}),
        ] {
            let r = post(&app, None, &body.to_string()).await;
            assert_eq!(
                error_of(r).await,
                (400, "invalid_client_metadata".to_owned()),
                "{body}"
            );
        }
        let r = post(
            &app,
            None,
            &json!({"redirect_uris": redirect, "backchannel_logout_uri": "https://rp.example.com/bc"}).to_string(),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
);

db_test!(
    a_registration_access_token_serves_one_request,
    async |app: TestApp| {
        let token = initial_token(&app, &[]);
        let body = json!({"redirect_uris": [REDIRECT_URI], "scope": "openid"}).to_string();
        let registered: Value = post(&app, Some(&token), &body).await.json().await.unwrap();
        let uri = registered["registration_client_uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = registered["client_id"].as_str().unwrap().to_owned();
        let rat = registered["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned();

        // Eight reads at once with one token: one gets the next token, the
        // others find it spent (RFC 7592 §3: each answer replaces it).
        let reads = (0..8).map(|_| app.http.get(&uri).bearer_auth(&rat).send());
        let answers = futures::future::join_all(reads).await;
        let mut next = Vec::new();
        for answer in answers {
            let answer = answer.unwrap();
            match answer.status().as_u16() {
                200 => next.push(
                    answer.json::<Value>().await.unwrap()["registration_access_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                status => assert_eq!(status, 401),
            }
        }
        assert_eq!(next.len(), 1, "one read wins");
        let rat = next.remove(0);

        // An operator gives it monban:admin: the client may neither drop the
        // scope (400, and the token it presented still works) nor delete
        // itself (RFC 7592 §2.3: 403).
        app.cli(&[
            "client",
            "update",
            &id,
            "--scope",
            &format!("openid {}", monban::types::ADMIN_SCOPE),
            "--json",
        ])
        .ok_json();
        let r = app
            .http
            .put(&uri)
            .bearer_auth(&rat)
            .json(&json!({"client_id": id, "redirect_uris": [REDIRECT_URI], "scope": "openid"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(r).await.1, "invalid_client_metadata");
        let r = app
            .http
            .delete(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "access_denied");
        let r = app.http.get(&uri).bearer_auth(&rat).send().await.unwrap();
        assert_eq!(r.status(), 200, "the refused update left the token");
        assert_eq!(app.cli(&["client", "show", &id, "--json"]).code, 0);
    }
);
