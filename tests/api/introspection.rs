//! Introspection (RFC 7662): active tokens are described; everything else —
//! expired, revoked, unknown, garbage, forged — is `{"active": false}`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use monban::clients::ClientSettings;
use monban::keys::KeySet;
use monban::store;
use monban::tokens::{AccessClaims, Audience, random_secret};
use monban::types::{AuthMethod, ClientType, GrantType, KeyState, SigningAlg, TokenFormat};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::{
    TestApp, TestClient, insert_refresh_token, service_settings, within_client_cache_ttl,
};

fn claims(app: &TestApp, client: &TestClient, now: i64) -> AccessClaims {
    AccessClaims {
        iss: app.issuer.clone(),
        sub: client.id.clone(),
        aud: Audience::One(app.issuer.clone()),
        exp: now + 300,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.clone(),
        scope: String::new(),
        auth_time: None,
        acr: None,
        amr: None,
        groups: None,
        act: None,
        grant_id: None,
    }
}

fn sign(app: &TestApp, typ: &str, claims: &AccessClaims) -> String {
    app.app
        .keys
        .get()
        .sign(SigningAlg::RS256, typ, claims)
        .unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A stored RSA signing key: its public key as PEM and as DER, and the
/// private key for signing tokens by hand.
pub async fn stored_public_key(
    app: &TestApp,
    kid: &str,
) -> (String, Vec<u8>, jsonwebtoken::EncodingKey) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let rows = store::keys::all(&app.db).await.unwrap();
    let row = rows.iter().find(|r| r.kid == kid).unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_der(&row.private_key).unwrap();
    let public = private.to_public_key();
    (
        public.to_public_key_pem(LineEnding::LF).unwrap(),
        public.to_public_key_der().unwrap().as_bytes().to_vec(),
        jsonwebtoken::EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
    )
}

db_test!(a_gateway_introspects_any_token, async |app: TestApp| {
    let service = app.service_client("orders:read").await;
    let gateway = app.service_client("").await;
    let token = app.access_token(&service, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post_basic("/introspect", &gateway, &[("token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], service.id.as_str());
    assert_eq!(info["sub"], service.id.as_str());
    assert_eq!(info["scope"], "orders:read");
    assert_eq!(info["iss"], app.issuer.as_str());
    assert_eq!(info["aud"], app.issuer.as_str());
    assert_eq!(info["token_type"], "Bearer");
    assert!(info["exp"].as_i64().unwrap() > info["iat"].as_i64().unwrap());
    assert!(info["jti"].is_string());
    // The hint only orders the lookups; a wrong one still finds the token.
    let r = app
        .post_basic(
            "/introspect",
            &gateway,
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
});

db_test!(
    forged_expired_and_garbage_tokens_are_inactive,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let now = monban::unix_now();
        let keys = app.app.keys.get();
        let active = keys.active(SigningAlg::RS256).unwrap();
        let kid = active.kid.clone();

        let good = sign(&app, "at+jwt", &claims(&app, &client, now));
        assert_eq!(app.introspect(&client, &good).await["active"], true);

        let mut expired = claims(&app, &client, now - 1000);
        expired.exp = now - 1;
        let mut not_yet = claims(&app, &client, now);
        not_yet.nbf = now + 120;
        let mut other_issuer = claims(&app, &client, now);
        other_issuer.iss = "https://evil.example.com".into();
        let mut unknown_client = claims(&app, &client, now);
        unknown_client.client_id = "no-such-client".into();

        // alg "none", with our kid.
        let payload = serde_json::to_value(claims(&app, &client, now)).unwrap();
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
            b64(&payload)
        );
        // HS256 "signed" with the public key as the HMAC secret, the classic
        // algorithm confusion: in PEM and in DER form.
        let public_key = stored_public_key(&app, &kid).await;
        let hs256 = |secret: &[u8], kid: Option<&str>| {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            header.typ = Some("at+jwt".into());
            jsonwebtoken::encode(
                &header,
                &claims(&app, &client, now),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        let hs256_pem = hs256(public_key.0.as_bytes(), Some(&kid));
        let hs256_der = hs256(&public_key.1, Some(&kid));
        // Signed by another algorithm's key but naming our RS256 kid.
        let es_key = monban::keys::generate(SigningAlg::ES256, KeyState::Active, now).unwrap();
        let mut es_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        es_header.kid = Some(kid.clone());
        es_header.typ = Some("at+jwt".into());
        let es_with_rs_kid = jsonwebtoken::encode(
            &es_header,
            &claims(&app, &client, now),
            &jsonwebtoken::EncodingKey::from_ec_der(&es_key.private_key),
        )
        .unwrap();
        // Signed with our active key, but without a kid.
        let mut no_kid_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        no_kid_header.typ = Some("at+jwt".into());
        let no_kid =
            jsonwebtoken::encode(&no_kid_header, &claims(&app, &client, now), &public_key.2)
                .unwrap();
        // A key monban never published.
        let stranger = monban::keys::generate(SigningAlg::RS256, KeyState::Active, now).unwrap();
        let unknown_kid = KeySet::from_rows(&[stranger], &Default::default())
            .unwrap()
            .sign(SigningAlg::RS256, "at+jwt", &claims(&app, &client, now))
            .unwrap();
        // A good token with its signature altered.
        let bad_sig = crate::helpers::tamper_signature(&good);
        // Our signature over a token of another type (e.g. an ID token).
        let wrong_typ = sign(&app, "JWT", &claims(&app, &client, now));

        for (why, token) in [
            ("expired", sign(&app, "at+jwt", &expired)),
            ("not yet valid", sign(&app, "at+jwt", &not_yet)),
            ("other issuer", sign(&app, "at+jwt", &other_issuer)),
            ("deleted client", sign(&app, "at+jwt", &unknown_client)),
            ("alg none", none),
            ("HS256 with the PEM public key", hs256_pem),
            ("HS256 with the DER public key", hs256_der),
            ("ES256 signature under an RS256 kid", es_with_rs_kid),
            ("no kid", no_kid),
            ("unknown kid", unknown_kid),
            ("bad signature", bad_sig),
            ("wrong typ", wrong_typ),
            ("garbage", "not-a-token".into()),
            ("three dots of garbage", "a.b.c".into()),
            ("unknown opaque", random_secret().0.expose().to_owned()),
            ("non-ascii", "トークン".into()),
        ] {
            let r = app
                .post_basic("/introspect", &client, &[("token", &token)])
                .await;
            assert_eq!(r.status(), 200, "{why}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body, json!({"active": false}), "{why}");
        }
    }
);

db_test!(refresh_tokens_are_introspected, async |app: TestApp| {
    let client = app.service_client("").await;
    let family = uuid::Uuid::now_v7();
    let token = insert_refresh_token(&app, &client, family, "offline_access").await;
    let info = app.introspect(&client, &token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(info["client_id"], client.id.as_str());
    assert_eq!(info["scope"], "offline_access");
    store::tokens::revoke_grant(&app.db, family, monban::unix_now())
        .await
        .unwrap();
    assert_eq!(
        app.introspect(&client, &token).await,
        json!({"active": false})
    );
});

db_test!(
    only_authenticated_confidential_clients_introspect,
    async |app: TestApp| {
        let service = app.service_client("").await;
        let token = app.access_token(&service, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let spa = app
            .register(ClientSettings {
                client_type: ClientType::Public,
                auth_method: AuthMethod::None,
                redirect_uris: vec!["https://spa.example.com/cb".into()],
                grant_types: vec![GrantType::AuthorizationCode],
                ..service_settings()
            })
            .await;
        let r = app
            .post_form("/introspect", &[("token", &token), ("client_id", &spa.id)])
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let r = app.post_form("/introspect", &[("token", &token)]).await;
        assert_eq!(r.status(), 400);
        let wrong = TestClient {
            id: service.id.clone(),
            secret: "wrong".into(),
        };
        let r = app
            .post_basic("/introspect", &wrong, &[("token", &token)])
            .await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let r = app.post_basic("/introspect", &service, &[]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
);

db_test!(
    deleting_a_client_deactivates_its_tokens,
    async |app: TestApp| {
        let gateway = app.service_client("").await;
        let jwt_client = app.service_client("").await;
        let opaque_client = app
            .register(ClientSettings {
                access_token_format: Some(TokenFormat::Opaque),
                ..service_settings()
            })
            .await;
        let jwt = app.access_token(&jwt_client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let opaque = app.access_token(&opaque_client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(app.introspect(&gateway, &jwt).await["active"], true);
        assert_eq!(app.introspect(&gateway, &opaque).await["active"], true);
        assert!(
            store::clients::delete(&app.db, &jwt_client.id)
                .await
                .unwrap()
        );
        assert!(
            store::clients::delete(&app.db, &opaque_client.id)
                .await
                .unwrap()
        );
        // Opaque tokens go with their client's rows at once; a JWT is
        // refused once the client cache forgets the client.
        assert_eq!(app.introspect(&gateway, &opaque).await["active"], false);
        within_client_cache_ttl("JWT of a deleted client inactive", async || {
            app.introspect(&gateway, &jwt).await["active"] == false
        })
        .await;
    }
);

/// Verifies an RFC 9701 answer with the JWKS, as a resource server would.
async fn verify_signed(app: &TestApp, response: reqwest::Response, caller: &str) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = response.text().await.unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/jwks").await.json().await.unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.issuer.as_str()]);
    validation.set_audience(&[caller]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .unwrap()
        .claims;
    // §5: not usable as an access token.
    assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
    claims["token_introspection"].clone()
}

db_test!(signed_answers_on_request, async |app: TestApp| {
    let metadata = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        metadata["introspection_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let gateway = app.service_client("").await;
    let client = app.service_client("orders:read").await;
    let token = app.access_token(&client, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = async |token: &str, accept: &str| {
        app.http
            .post(app.url("/introspect"))
            .basic_auth(&gateway.id, Some(&gateway.secret))
            .header("Accept", accept)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    };
    let plain = app.introspect(&gateway, &token).await;
    let signed = verify_signed(
        &app,
        ask(&token, "application/token-introspection+jwt").await,
        &gateway.id,
    )
    .await;
    assert_eq!(signed, plain);
    assert_eq!(signed["active"], true);
    assert_eq!(signed["scope"], "orders:read");
    // Among other media types, with parameters.
    let listed = ask(
        &token,
        "application/json;q=0.5, application/token-introspection+jwt;q=1",
    )
    .await;
    assert_eq!(
        verify_signed(&app, listed, &gateway.id).await["active"],
        true
    );
    // Inactive tokens are signed too.
    let garbage = verify_signed(
        &app,
        ask("garbage", "application/token-introspection+jwt").await,
        &gateway.id,
    )
    .await;
    assert_eq!(garbage, json!({"active": false}));
    // Plain JSON otherwise.
    let json = ask(&token, "application/json").await;
    assert_eq!(json.headers()["content-type"], "application/json");
});
