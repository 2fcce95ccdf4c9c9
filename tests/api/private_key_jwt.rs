//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core
//! §9): assertions signed with keys the test holds, checked against keys
//! registered inline or served from a `jwks_uri` the test runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use monban::clients::ClientSettings;
use monban::types::{AuthMethod, KeyState, Scopes, SigningAlg};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::{TestApp, TestClient, service_settings};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair of the client's: the public JWK it registers, the private key
/// it signs with.
pub struct ClientKey {
    pub kid: String,
    alg: Algorithm,
    public_jwk: Value,
    signing: EncodingKey,
    /// The private key as PKCS#8 DER, for other programs to sign with.
    pub pkcs8: Vec<u8>,
}

pub fn client_key(alg: SigningAlg) -> ClientKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let row = monban::keys::generate(alg, KeyState::Active, monban::unix_now()).unwrap();
    let (alg, signing) = match alg {
        SigningAlg::RS256 => {
            let private = rsa::RsaPrivateKey::from_pkcs8_der(&row.private_key).unwrap();
            let pkcs1 = private.to_pkcs1_der().unwrap();
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            )
        }
        SigningAlg::ES256 => (Algorithm::ES256, EncodingKey::from_ec_der(&row.private_key)),
        SigningAlg::EdDSA => (Algorithm::EdDSA, EncodingKey::from_ed_der(&row.private_key)),
    };
    ClientKey {
        kid: row.kid.clone(),
        alg,
        public_jwk: row.public_jwk.0.clone(),
        signing,
        pkcs8: row.private_key.clone(),
    }
}

pub fn jwk_set(keys: &[&ClientKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()})
}

/// The claims of a good assertion from `client_id` to `app`.
pub fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = monban::unix_now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": app.issuer,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.signing).unwrap()
}

/// Registers a client_credentials client that authenticates with keys.
pub async fn register(app: &TestApp, jwks: Option<Value>, jwks_uri: Option<String>) -> String {
    let client: TestClient = app
        .register(ClientSettings {
            scopes: Scopes::parse("orders:read").unwrap(),
            auth_method: AuthMethod::PrivateKeyJwt,
            jwks,
            jwks_uri,
            ..service_settings()
        })
        .await;
    assert!(client.secret.is_empty(), "no secret for private_key_jwt");
    client.id
}

/// A client_credentials request authenticated by `assertion`.
pub async fn token_with(
    app: &TestApp,
    assertion: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.post_form("/token", &form).await
}

async fn assert_refused(app: &TestApp, assertion: &str, why: &str) {
    let r = token_with(app, assertion, &[]).await;
    // RFC 6749 §5.2: not HTTP Basic, so 400 without a challenge.
    assert_eq!(r.status(), 400, "{why}");
    assert!(r.headers().get("www-authenticate").is_none(), "{why}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{why}");
}

db_test!(
    a_signed_assertion_authenticates_the_client,
    async |app: TestApp| {
        let rsa = client_key(SigningAlg::RS256);
        let ec = client_key(SigningAlg::ES256);
        let client_id = register(&app, Some(jwk_set(&[&rsa, &ec])), None).await;

        // RS256, client_id taken from the assertion's sub.
        let r = token_with(&app, &sign(&rsa, &claims(&app, &client_id)), &[]).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        let verified = crate::token::verify_with_jwks(&app, token, &app.issuer).await;
        assert_eq!(verified["client_id"], client_id.as_str());
        assert_eq!(verified["sub"], client_id.as_str());

        // ES256, client_id also in the body, audience the token endpoint URL
        // (older clients), a single-valued array.
        let mut c = claims(&app, &client_id);
        c["aud"] = json!([app.url("/token")]);
        let r = token_with(&app, &sign(&ec, &c), &[("client_id", &client_id)]).await;
        assert_eq!(r.status(), 200);

        // No kid: the registered keys are tried.
        let mut header = Header::new(Algorithm::RS256);
        header.kid = None;
        let no_kid =
            jsonwebtoken::encode(&header, &claims(&app, &client_id), &rsa.signing).unwrap();
        assert_eq!(token_with(&app, &no_kid, &[]).await.status(), 200);

        // The same authentication works at introspection and revocation.
        let assertion = sign(&rsa, &claims(&app, &client_id));
        let r = app
            .post_form(
                "/introspect",
                &[
                    ("token", token),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
        let assertion = sign(&rsa, &claims(&app, &client_id));
        let r = app
            .post_form(
                "/revoke",
                &[
                    ("token", token),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
);

db_test!(bad_assertions_are_refused, async |app: TestApp| {
    let key = client_key(SigningAlg::RS256);
    let client_id = register(&app, Some(jwk_set(&[&key])), None).await;
    let now = monban::unix_now();

    // Replayed jti: the first use works, the second does not.
    let assertion = sign(&key, &claims(&app, &client_id));
    assert_eq!(token_with(&app, &assertion, &[]).await.status(), 200);
    assert_refused(&app, &assertion, "replayed jti").await;
    assert_eq!(app.count("client_assertions").await, 1);

    let with = |field: &str, value: Value| {
        let mut c = claims(&app, &client_id);
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = claims(&app, &client_id);
        c.as_object_mut().unwrap().remove(field);
        c
    };
    for (claims, why) in [
        (with("aud", json!("https://other.example.com")), "wrong aud"),
        (
            with("aud", json!([app.issuer, "https://other.example.com"])),
            "multi-valued aud (audience injection)",
        ),
        (
            with("aud", json!([app.issuer, app.issuer])),
            "two audiences",
        ),
        (without("aud"), "no aud"),
        (with("exp", json!(now - 120)), "expired"),
        (without("exp"), "no exp"),
        (with("exp", json!(now + 3600)), "exp an hour ahead"),
        (with("iat", json!(now + 600)), "iat in the future"),
        (with("nbf", json!(now + 600)), "not yet valid"),
        (without("jti"), "no jti"),
        (with("iss", json!("someone-else")), "iss is not the client"),
        (with("sub", json!("someone-else")), "sub is not the client"),
    ] {
        assert_refused(&app, &sign(&key, &claims), why).await;
    }

    // Signed by a key the client never registered, under a registered kid.
    let stranger = client_key(SigningAlg::RS256);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let forged =
        jsonwebtoken::encode(&header, &claims(&app, &client_id), &stranger.signing).unwrap();
    assert_refused(&app, &forged, "foreign key, registered kid").await;
    assert_refused(
        &app,
        &sign(&stranger, &claims(&app, &client_id)),
        "unknown kid",
    )
    .await;

    // alg none: no signature at all.
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": key.kid})),
        b64(&claims(&app, &client_id))
    );
    assert_refused(&app, &none, "alg none").await;

    // HS256 keyed with the client's public key (what an attacker knows).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let public_bytes = key.public_jwk.to_string();
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims(&app, &client_id),
        &EncodingKey::from_secret(public_bytes.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &hs256, "HS256 with the public key").await;
    let n = key.public_jwk["n"].as_str().unwrap();
    let hs256_n = jsonwebtoken::encode(
        &header,
        &claims(&app, &client_id),
        &EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &hs256_n, "HS256 with the modulus").await;

    // A tampered signature.
    assert_refused(
        &app,
        &crate::helpers::tamper_signature(&sign(&key, &claims(&app, &client_id))),
        "tampered",
    )
    .await;

    // Nothing above was issued a token or stored a jti.
    assert_eq!(app.count("client_assertions").await, 1);
});

db_test!(authentication_methods_do_not_mix, async |app: TestApp| {
    let key = client_key(SigningAlg::RS256);
    let keyed = register(&app, Some(jwk_set(&[&key])), None).await;
    let secret_client = app.service_client("").await;

    // A secret client cannot switch to an assertion, even a valid-looking one.
    let r = token_with(&app, &sign(&key, &claims(&app, &secret_client.id)), &[]).await;
    assert_eq!(r.status(), 400);
    // A keyed client has no secret to present.
    let r = app
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &keyed),
                ("client_secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    // Both an assertion and Basic: RFC 6749 §2.3, one method per request.
    let assertion = sign(&key, &claims(&app, &keyed));
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(&secret_client.id, Some(&secret_client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Another assertion type.
    let r = app
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:example:saml"),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    // client_id naming another client than the assertion.
    let r = token_with(&app, &assertion, &[("client_id", &secret_client.id)]).await;
    assert_eq!(r.status(), 400);
    // The assertion was never accepted, so it still works once.
    assert_eq!(token_with(&app, &assertion, &[]).await.status(), 200);
});

/// A JWK Set served over HTTP by the test, counting its fetches.
pub struct JwksServer {
    pub url: String,
    keys: Arc<Mutex<Value>>,
    pub fetches: Arc<AtomicUsize>,
}

pub async fn serve_jwks(initial: Value) -> JwksServer {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let (served, counted) = (Arc::clone(&keys), Arc::clone(&fetches));
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let set = served.lock().unwrap().clone();
            async move { axum::Json(set) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    JwksServer { url, keys, fetches }
}

db_test!(
    keys_from_jwks_uri_follow_the_clients_rotation,
    async |app: TestApp| {
        let old = client_key(SigningAlg::RS256);
        let new = client_key(SigningAlg::ES256);
        let server = serve_jwks(jwk_set(&[&old])).await;
        let client_id = register(&app, None, Some(server.url.clone())).await;

        for _ in 0..3 {
            let r = token_with(&app, &sign(&old, &claims(&app, &client_id)), &[]).await;
            assert_eq!(r.status(), 200);
        }
        assert_eq!(
            server.fetches.load(Ordering::SeqCst),
            1,
            "fetched once, cached"
        );

        // The client rotates: its JWKS now holds only the new key, which the
        // cached set does not know; the unknown kid makes monban refetch
        // (once the last fetch is MIN_REFETCH old).
        *server.keys.lock().unwrap() = jwk_set(&[&new]);
        tokio::time::sleep(monban::client_keys::MIN_REFETCH + Duration::from_millis(300)).await;
        let r = token_with(&app, &sign(&new, &claims(&app, &client_id)), &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
        // The old key is gone from the fetched set.
        assert_refused(&app, &sign(&old, &claims(&app, &client_id)), "retired key").await;

        // Made-up kids right after a fetch do not make monban fetch again.
        let stranger = client_key(SigningAlg::RS256);
        for _ in 0..3 {
            assert_refused(
                &app,
                &sign(&stranger, &claims(&app, &client_id)),
                "unknown kid",
            )
            .await;
        }
        assert_eq!(server.fetches.load(Ordering::SeqCst), 2);

        // The client withdraws every key: once monban refetches (an unknown
        // kid, MIN_REFETCH after the last fetch), nothing verifies any more.
        *server.keys.lock().unwrap() = json!({"keys": []});
        tokio::time::sleep(monban::client_keys::MIN_REFETCH + Duration::from_millis(300)).await;
        assert_refused(
            &app,
            &sign(&stranger, &claims(&app, &client_id)),
            "unknown kid, refetch",
        )
        .await;
        assert_eq!(server.fetches.load(Ordering::SeqCst), 3);
        assert_refused(
            &app,
            &sign(&new, &claims(&app, &client_id)),
            "withdrawn key",
        )
        .await;
    }
);

db_test!(
    an_assertion_is_accepted_once_under_concurrency,
    async |app: TestApp| {
        let key = client_key(SigningAlg::ES256);
        let client_id = register(&app, Some(jwk_set(&[&key])), None).await;
        let assertion = sign(&key, &claims(&app, &client_id));
        let attempts = (0..8).map(|_| token_with(&app, &assertion, &[]));
        let statuses: Vec<u16> = futures::future::join_all(attempts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 400).count(),
            7,
            "{statuses:?}"
        );
    }
);

db_test!(
    a_keyed_client_pushes_authorization_requests,
    async |app: TestApp| {
        let key = client_key(SigningAlg::RS256);
        let client = app
            .register(ClientSettings {
                auth_method: AuthMethod::PrivateKeyJwt,
                jwks: Some(jwk_set(&[&key])),
                ..crate::browser::web_app_settings()
            })
            .await;
        let request = crate::browser::AuthRequest::new(&client);
        // RFC 9126 §2: the PAR endpoint URL is a valid audience there.
        let mut c = claims(&app, &client.id);
        c["aud"] = json!(app.url("/par"));
        let mut form: Vec<(String, String)> = request.params();
        form.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
        form.push(("client_assertion".into(), sign(&key, &c)));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = app.post_form("/par", &pairs).await;
        assert_eq!(r.status(), 201);
        // The same assertion again is a replay.
        let r = app.post_form("/par", &pairs).await;
        assert_eq!(r.status(), 400);
    }
);

db_test!(
    a_jwks_uri_that_fails_refuses_the_client,
    async |app: TestApp| {
        let key = client_key(SigningAlg::RS256);
        // Nothing listens there.
        let port = crate::helpers::free_port();
        let client_id = register(
            &app,
            None,
            Some(format!("http://127.0.0.1:{port}/jwks.json")),
        )
        .await;
        assert_refused(
            &app,
            &sign(&key, &claims(&app, &client_id)),
            "unreachable jwks_uri",
        )
        .await;
        // A JWKS holding a private key is refused as a whole.
        let mut private = key.public_jwk.clone();
        private["d"] = json!("AQAB");
        let server = serve_jwks(json!({"keys": [private]})).await;
        let client_id = register(&app, None, Some(server.url.clone())).await;
        assert_refused(
            &app,
            &sign(&key, &claims(&app, &client_id)),
            "jwks with private key",
        )
        .await;
    }
);

db_test!(the_cli_registers_keyed_clients, async |app: TestApp| {
    let key = client_key(SigningAlg::RS256);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwk_set(&[&key]).to_string()).unwrap();
    let path = path.to_str().unwrap();

    let created = app
        .cli(&[
            "client",
            "create",
            "--name",
            "Batch job",
            "--jwks",
            path,
            "--json",
        ])
        .ok_json();
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    let client_id = created["client_id"].as_str().unwrap();
    let r = token_with(&app, &sign(&key, &claims(&app, client_id)), &[]).await;
    assert_eq!(r.status(), 200);

    // Switching to a jwks_uri replaces the inline keys.
    let updated = app
        .cli(&[
            "client",
            "update",
            client_id,
            "--jwks-uri",
            "https://batch.example.com/jwks.json",
            "--json",
        ])
        .ok_json();
    assert_eq!(updated["jwks_uri"], "https://batch.example.com/jwks.json");
    assert!(updated.get("jwks").is_none());
    // Back to a secret: one is generated, the keys are dropped.
    let secret = app
        .cli(&[
            "client",
            "update",
            client_id,
            "--auth-method",
            "client_secret_basic",
            "--json",
        ])
        .ok_json();
    assert!(secret["client_secret"].as_str().unwrap().len() >= 43);
    assert!(secret.get("jwks_uri").is_none());

    // Refused: http to a non-loopback host, private keys, no keys, both.
    let mut private = key.public_jwk.clone();
    private["d"] = json!("AQAB");
    std::fs::write(
        dir.path().join("private.json"),
        json!({"keys": [private]}).to_string(),
    )
    .unwrap();
    let private_path = dir.path().join("private.json");
    for (args, expected) in [
        (
            vec!["--jwks-uri", "http://batch.example.com/jwks.json"],
            "https",
        ),
        (vec!["--jwks", private_path.to_str().unwrap()], "private"),
        (vec!["--auth-method", "private_key_jwt"], "jwks or jwks_uri"),
        (
            vec!["--jwks", path, "--jwks-uri", "https://x.example.com/j"],
            "cannot be used with",
        ),
    ] {
        let mut full = vec!["client", "create", "--name", "Bad", "--json"];
        full.extend(args.iter().copied());
        let run = app.cli(&full);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(
        app.count("clients").await,
        2,
        "the account client and Batch job"
    );
    // Keys on a client that authenticates with a secret are refused.
    let secret_client = app
        .cli(&["client", "create", "--name", "Secret", "--json"])
        .ok_json();
    let run = app.cli(&[
        "client",
        "update",
        secret_client["client_id"].as_str().unwrap(),
        "--jwks",
        path,
        "--json",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.error().contains("only used with private_key_jwt"),
        "{}",
        run.error()
    );
    // A keyed client has no secret to rotate.
    let keyed = app
        .cli(&[
            "client", "create", "--name", "Keyed", "--jwks", path, "--json",
        ])
        .ok_json();
    let run = app.cli(&[
        "client",
        "rotate-secret",
        keyed["client_id"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.error().contains("private_key_jwt"), "{}", run.error());
});
