//! RFC 8414 metadata, the JWKS and the health probes.

use crate::db_test;
use crate::helpers::TestApp;

db_test!(
    metadata_advertises_exactly_what_works,
    async |app: TestApp| {
        let r = app.get("/.well-known/oauth-authorization-server").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(doc["issuer"], app.issuer.as_str());
        assert_eq!(doc["token_endpoint"], app.url("/token"));
        assert_eq!(doc["jwks_uri"], app.url("/jwks"));
        assert_eq!(doc["introspection_endpoint"], app.url("/introspect"));
        assert_eq!(doc["revocation_endpoint"], app.url("/revoke"));
        assert_eq!(doc["authorization_endpoint"], app.url("/authorize"));
        assert_eq!(doc["userinfo_endpoint"], app.url("/userinfo"));
        assert_eq!(doc["end_session_endpoint"], app.url("/end_session"));
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        let assertion_algs = serde_json::json!([
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"
        ]);
        for endpoint in ["token", "introspection", "revocation"] {
            assert_eq!(
                doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                assertion_algs,
                "{endpoint}"
            );
        }
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        // OIDC Discovery §3 REQUIRED members, and the same document there.
        let oidc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(oidc, doc);
        for required in [
            "issuer",
            "authorization_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert!(oidc.get(required).is_some(), "{required}");
        }
        assert!(
            oidc["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("RS256"))
        );
        // Every advertised endpoint does its job at the advertised URL.
        let client = app.service_client("").await;
        let post = |key: &str, form: &[(&str, &str)]| {
            app.http
                .post(doc[key].as_str().unwrap())
                .basic_auth(&client.id, Some(&client.secret))
                .form(form)
                .send()
        };
        let r = post("token_endpoint", &[("grant_type", "client_credentials")])
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = post("introspection_endpoint", &[("token", &token)])
            .await
            .unwrap();
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["active"], true);
        let r = post("revocation_endpoint", &[("token", &token)])
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = post("introspection_endpoint", &[("token", &token)])
            .await
            .unwrap();
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["active"],
            false
        );
        let jwks = app
            .http
            .get(doc["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(jwks.status(), 200);
    }
);

db_test!(
    issuer_with_a_path_follows_rfc8414_section_3_1,
    [("MONBAN_ISSUER", "/auth")],
    async |app: TestApp| {
        assert!(app.issuer.ends_with("/auth"));
        let r = app
            .http
            .get(app.root_url("/.well-known/oauth-authorization-server/auth"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(doc["issuer"], app.issuer.as_str());
        assert_eq!(doc["token_endpoint"], app.url("/token"));
        // Also where clients that append the suffix look.
        let appended = app
            .get_json("/.well-known/oauth-authorization-server")
            .await;
        assert_eq!(appended, doc);
        // The endpoints live below the path.
        let client = app.service_client("").await;
        let token = app.access_token(&client, &[]).await;
        assert_eq!(token["token_type"], "Bearer");
        let r = app.http.post(app.root_url("/token")).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
);

db_test!(
    jwks_publishes_active_and_next_keys_with_cache_headers,
    async |app: TestApp| {
        let r = app.get("/jwks").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let jwks: serde_json::Value = r.json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "active and next");
        for key in keys {
            assert_eq!(key["kty"], "RSA");
            assert_eq!(key["alg"], "RS256");
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].as_str().unwrap().len() >= 43);
            assert!(key["n"].as_str().unwrap().len() > 300, "2048-bit modulus");
            assert_eq!(key["e"], "AQAB");
            assert!(key.get("d").is_none(), "no private parts");
        }
    }
);

db_test!(
    jwks_max_age_is_configurable,
    [("MONBAN_JWKS_MAX_AGE", "120")],
    async |app: TestApp| {
        let r = app.get("/jwks").await;
        assert_eq!(r.headers()["cache-control"], "public, max-age=120");
    }
);

db_test!(health_probes, async |app: TestApp| {
    let live = app.http.get(app.root_url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.http.get(app.root_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
});

db_test!(
    pages_and_responses_carry_security_headers,
    async |app: TestApp| {
        let r = app.get("/").await;
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("form-action"));
        assert!(h.contains_key("x-request-id"));
        let body = r.text().await.unwrap();
        assert!(body.contains(&app.issuer));
        // Every page names its icon; browsers that ask /favicon.ico anyway
        // get the same one instead of a 404.
        assert!(
            body.contains(r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#)
        );
        for path in ["/static/favicon.svg", "/favicon.ico"] {
            let icon = app.get(path).await;
            assert_eq!(icon.status(), 200, "{path}");
            assert_eq!(icon.headers()["content-type"], "image/svg+xml", "{path}");
            assert!(icon.text().await.unwrap().starts_with("<svg"), "{path}");
        }
        let css = app.get("/static/monban.css").await;
        assert_eq!(css.status(), 200);
        assert!(
            css.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
    }
);
