//! The token endpoint with client_credentials (RFC 6749 §4.4), client
//! authentication (§2.3.1) and JWT access tokens (RFC 9068) verified the way a
//! gateway does it: with keys fetched from the JWKS.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use monban::clients::ClientSettings;
use monban::tokens::sha256;
use monban::types::{AuthMethod, ClientType, GrantType, Scopes, TokenFormat};
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::{TestApp, TestClient, service_settings};

/// Verifies a JWT exactly as an API would: JWKS over HTTP, `kid` lookup,
/// signature, issuer, audience, expiry.
pub async fn verify_with_jwks(app: &TestApp, token: &str, audience: &str) -> Value {
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap();
    let jwks: JwkSet = app
        .http
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[app.issuer.as_str()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

db_test!(
    client_credentials_jwt_verifies_against_jwks,
    async |app: TestApp| {
        let client = app.service_client("orders:read orders:write").await;
        let r = app.token(&client, &[("scope", "orders:read")]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["scope"], "orders:read");
        assert!(body.get("refresh_token").is_none(), "RFC 6749 §4.4.3");

        let token = body["access_token"].as_str().unwrap();
        let claims = verify_with_jwks(&app, token, &app.issuer).await;
        assert_eq!(claims["iss"], app.issuer.as_str());
        assert_eq!(claims["sub"], client.id.as_str());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["aud"], app.issuer.as_str());
        assert_eq!(claims["scope"], "orders:read");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 300);
        assert_eq!(claims["nbf"], claims["iat"]);
        assert!(claims["jti"].as_str().unwrap().len() >= 32);
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    }
);

db_test!(no_scope_means_every_allowed_scope, async |app: TestApp| {
    let client = app.service_client("a b c").await;
    let body = app.access_token(&client, &[]).await;
    assert_eq!(body["scope"], "a b c");
    let none = app.service_client("").await;
    let body = app.access_token(&none, &[]).await;
    assert!(body.get("scope").is_none());
    let claims = verify_with_jwks(&app, body["access_token"].as_str().unwrap(), &app.issuer).await;
    assert!(claims.get("scope").is_none());
});

db_test!(
    scope_outside_the_allowed_set_is_invalid_scope,
    async |app: TestApp| {
        let client = app.service_client("read").await;
        for scope in ["write", "read write", "read \"quoted\""] {
            let r = app.token(&client, &[("scope", scope)]).await;
            assert_eq!(r.status(), 400, "{scope}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_scope", "{scope}");
        }
        assert_eq!(app.count("access_tokens").await, 0);
    }
);

db_test!(
    client_secret_post_and_method_mismatch,
    async |app: TestApp| {
        let post = app
            .register(ClientSettings {
                auth_method: AuthMethod::ClientSecretPost,
                ..service_settings()
            })
            .await;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", post.id.as_str()),
            ("client_secret", post.secret.as_str()),
        ];
        let r = app.post_form("/token", &form).await;
        assert_eq!(r.status(), 200);
        // Registered for client_secret_post, so Basic is refused (and vice
        // versa): 401 with the Basic challenge for the one that used the
        // Authorization header (RFC 6749 §5.2), 400 for the other.
        let r = app.token(&post, &[]).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let basic = app.service_client("").await;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", basic.id.as_str()),
            ("client_secret", basic.secret.as_str()),
        ];
        let r = app.post_form("/token", &form).await;
        assert_eq!(r.status(), 400);
        assert!(!r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        // The same answer as a wrong secret: client ids cannot be probed.
        assert_eq!(body["error_description"], "client authentication failed");
    }
);

db_test!(basic_credentials_are_form_decoded, async |app: TestApp| {
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64, so a
    // client may percent-encode every character.
    let client = app.service_client("").await;
    let encode_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let creds = format!("{}:{}", encode_all(&client.id), encode_all(&client.secret));
    use base64::Engine;
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(creds)
    );
    let r = app
        .http
        .post(app.url("/token"))
        .header("authorization", header)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
});

db_test!(
    failed_client_authentication_is_401_with_challenge,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let wrong = TestClient {
            id: client.id.clone(),
            secret: format!("{}x", client.secret),
        };
        let unknown = TestClient {
            id: "no-such-client".into(),
            secret: client.secret.clone(),
        };
        for c in [&wrong, &unknown] {
            let r = app.token(c, &[]).await;
            assert_eq!(r.status(), 401);
            assert_eq!(
                r.headers()["www-authenticate"],
                "Basic realm=\"monban\", charset=\"UTF-8\""
            );
            assert_eq!(r.headers()["cache-control"], "no-store");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
        }
        // No credentials at all: nothing to challenge (RFC 6749 §5.2).
        let r = app
            .post_form("/token", &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(r.status(), 400);
        assert!(!r.headers().contains_key("www-authenticate"));
        // Two methods at once (§2.3: MUST NOT).
        let r = app
            .post_basic(
                "/token",
                &client,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_secret", &client.secret),
                ],
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        assert_eq!(app.count("access_tokens").await, 0);
    }
);

db_test!(grant_type_errors, async |app: TestApp| {
    let client = app.service_client("").await;
    let r = app.post_basic("/token", &client, &[]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
    ] {
        let r = app
            .post_basic("/token", &client, &[("grant_type", grant)])
            .await;
        assert_eq!(r.status(), 400, "{grant}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type",
            "{grant}"
        );
    }
    // Supported grants this client is not registered for.
    for grant in [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ] {
        let r = app
            .post_basic(
                "/token",
                &client,
                &[("grant_type", grant), ("code", "x"), ("refresh_token", "x")],
            )
            .await;
        assert_eq!(r.status(), 400, "{grant}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client",
            "{grant}"
        );
    }
});

db_test!(
    clients_without_the_grant_are_unauthorized,
    async |app: TestApp| {
        // A confidential web app registered for authorization_code only.
        let web = app
            .register(ClientSettings {
                redirect_uris: vec!["https://app.example.com/cb".into()],
                grant_types: vec![GrantType::AuthorizationCode],
                ..service_settings()
            })
            .await;
        let r = app.token(&web, &[]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        // A public client identifies itself but may not use client_credentials.
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
            .post_form(
                "/token",
                &[("grant_type", "client_credentials"), ("client_id", &spa.id)],
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        assert_eq!(app.count("access_tokens").await, 0);
    }
);

db_test!(
    audience_comes_from_the_client_and_resource_narrows_it,
    async |app: TestApp| {
        let client = app
            .register(ClientSettings {
                audiences: vec![
                    "https://orders.example.com".into(),
                    "https://billing.example.com".into(),
                ],
                ..service_settings()
            })
            .await;
        let body = app.access_token(&client, &[]).await;
        let token = body["access_token"].as_str().unwrap();
        let claims = verify_with_jwks(&app, token, "https://orders.example.com").await;
        assert_eq!(
            claims["aud"],
            json!(["https://orders.example.com", "https://billing.example.com"])
        );

        let body = app
            .access_token(&client, &[("resource", "https://billing.example.com")])
            .await;
        let claims = verify_with_jwks(
            &app,
            body["access_token"].as_str().unwrap(),
            "https://billing.example.com",
        )
        .await;
        assert_eq!(claims["aud"], "https://billing.example.com");

        for (resource, why) in [
            ("https://evil.example.com", "not an audience"),
            ("https://orders.example.com#x", "fragment"),
            ("orders", "not absolute"),
        ] {
            let r = app.token(&client, &[("resource", resource)]).await;
            assert_eq!(r.status(), 400, "{why}");
            assert_eq!(
                r.json::<Value>().await.unwrap()["error"],
                "invalid_target",
                "{why}"
            );
        }
    }
);

db_test!(
    default_audience_is_configurable,
    [("MONBAN_DEFAULT_AUDIENCE", "https://api.example.com")],
    async |app: TestApp| {
        let client = app.service_client("").await;
        let body = app.access_token(&client, &[]).await;
        let claims = verify_with_jwks(
            &app,
            body["access_token"].as_str().unwrap(),
            "https://api.example.com",
        )
        .await;
        assert_eq!(claims["aud"], "https://api.example.com");
    }
);

db_test!(
    opaque_tokens_are_random_and_stored_hashed,
    async |app: TestApp| {
        let client = app
            .register(ClientSettings {
                access_token_format: Some(TokenFormat::Opaque),
                scopes: Scopes::parse("read").unwrap(),
                ..service_settings()
            })
            .await;
        let body = app.access_token(&client, &[]).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(token.len(), 43, "256 bits, base64url");
        assert!(!token.contains('.'), "not a JWT");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(app.count("access_tokens").await, 1);
        let stored = monban::store::tokens::find_access(&app.db, &sha256(token.as_bytes()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.client_id, client.id);
        assert_eq!(stored.scope, "read");
        assert_ne!(stored.token_hash, token.as_bytes());
        let info = app.introspect(&client, token).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["scope"], "read");
        assert_eq!(info["client_id"], client.id.as_str());
        assert_eq!(info["sub"], client.id.as_str());
        assert_eq!(info["aud"], app.issuer.as_str());
        assert_eq!(info["iss"], app.issuer.as_str());
        assert_eq!(info["token_type"], "Bearer");
    }
);

db_test!(
    server_default_format_applies_to_clients_that_set_none,
    [("MONBAN_ACCESS_TOKEN_FORMAT", "opaque")],
    async |app: TestApp| {
        let default = app.service_client("").await;
        let body = app.access_token(&default, &[]).await;
        assert!(!body["access_token"].as_str().unwrap().contains('.'));
        let jwt = app
            .register(ClientSettings {
                access_token_format: Some(TokenFormat::Jwt),
                ..service_settings()
            })
            .await;
        let body = app.access_token(&jwt, &[]).await;
        verify_with_jwks(&app, body["access_token"].as_str().unwrap(), &app.issuer).await;
    }
);

db_test!(
    token_lifetime_is_configurable,
    [("MONBAN_ACCESS_TOKEN_TTL", "60")],
    async |app: TestApp| {
        let client = app.service_client("").await;
        let body = app.access_token(&client, &[]).await;
        assert_eq!(body["expires_in"], 60);
        let claims =
            verify_with_jwks(&app, body["access_token"].as_str().unwrap(), &app.issuer).await;
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
    }
);

db_test!(
    es256_access_tokens,
    [("MONBAN_SIGNING_ALG", "ES256")],
    async |app: TestApp| {
        let jwks = app.get_json("/jwks").await;
        let algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs.iter().filter(|a| **a == "ES256").count(), 2);
        assert_eq!(
            algs.iter().filter(|a| **a == "RS256").count(),
            2,
            "RS256 stays available for ID tokens"
        );
        let ec = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "ES256")
            .unwrap();
        assert_eq!(ec["kty"], "EC");
        assert_eq!(ec["crv"], "P-256");
        let client = app.service_client("").await;
        let body = app.access_token(&client, &[]).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(token).unwrap().alg,
            jsonwebtoken::Algorithm::ES256
        );
        verify_with_jwks(&app, token, &app.issuer).await;
        assert_eq!(app.introspect(&client, token).await["active"], true);
    }
);

db_test!(
    eddsa_access_tokens,
    [("MONBAN_SIGNING_ALG", "EdDSA")],
    async |app: TestApp| {
        let client = app.service_client("").await;
        let body = app.access_token(&client, &[]).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(token).unwrap().alg,
            jsonwebtoken::Algorithm::EdDSA
        );
        verify_with_jwks(&app, token, &app.issuer).await;
        let jwks = app.get_json("/jwks").await;
        let okp = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "EdDSA")
            .unwrap();
        assert_eq!(okp["kty"], "OKP");
        assert_eq!(okp["crv"], "Ed25519");
    }
);

db_test!(tokens_are_unique_per_request, async |app: TestApp| {
    let client = app.service_client("").await;
    let a = app.access_token(&client, &[]).await;
    let b = app.access_token(&client, &[]).await;
    assert_ne!(a["access_token"], b["access_token"]);
    let ca = verify_with_jwks(&app, a["access_token"].as_str().unwrap(), &app.issuer).await;
    let cb = verify_with_jwks(&app, b["access_token"].as_str().unwrap(), &app.issuer).await;
    assert_ne!(ca["jti"], cb["jti"]);
});

db_test!(
    concurrent_opaque_tokens_are_all_stored,
    async |app: TestApp| {
        // Many requests at once exercise the group commit of opaque tokens.
        let client = app
            .register(ClientSettings {
                access_token_format: Some(TokenFormat::Opaque),
                ..service_settings()
            })
            .await;
        let requests = (0..64).map(|_| app.access_token(&client, &[]));
        let bodies = futures::future::join_all(requests).await;
        let mut tokens: Vec<String> = bodies
            .iter()
            .map(|b| b["access_token"].as_str().unwrap().to_owned())
            .collect();
        tokens.sort();
        tokens.dedup();
        assert_eq!(tokens.len(), 64);
        assert_eq!(app.count("access_tokens").await, 64);
        for token in tokens.iter().step_by(8) {
            assert_eq!(app.introspect(&client, token).await["active"], true);
        }
    }
);
