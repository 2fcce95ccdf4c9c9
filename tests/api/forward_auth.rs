//! `/forward_auth` over HTTP, as a gateway calls it: phantom JWTs for opaque
//! tokens (verified with the JWKS), the identity headers, RFC 6750 errors,
//! revocation, the policy file and its reload, and the phantom cache.

use monban::clients::ClientSettings;
use monban::policy::PolicyError;
use monban::store;
use monban::tokens::sha256;
use monban::types::{Scopes, TokenFormat};
use serde_json::Value;

use crate::browser::{AuthRequest, Browser, web_app_settings};
use crate::db_test;
use crate::helpers::{
    Backend, Served, TestApp, TestClient, TestDatabase, run_cli, service_settings, tamper_signature,
};
use crate::token::verify_with_jwks;

/// The policy file the docs show and the gateway tests run.
pub const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/gateways/policy.toml");

/// A service client whose tokens are opaque.
pub async fn opaque_service(app: &TestApp, scopes: &str) -> TestClient {
    app.register(ClientSettings {
        scopes: Scopes::parse(scopes).unwrap(),
        access_token_format: Some(TokenFormat::Opaque),
        ..service_settings()
    })
    .await
}

pub async fn opaque_token(app: &TestApp, client: &TestClient, scope: &str) -> String {
    let extra: &[(&str, &str)] = if scope.is_empty() {
        &[]
    } else {
        &[("scope", scope)]
    };
    let token = app.access_token(client, extra).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!token.contains('.'), "opaque, not a JWT");
    token
}

/// A gateway's call: the client's token plus the original request.
async fn ask(app: &TestApp, token: Option<&str>, method: &str, uri: &str) -> reqwest::Response {
    let mut request = app
        .http
        .get(app.url("/forward_auth"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-Host", "api.example.com")
        .header("X-Forwarded-Proto", "https");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// The JWT handed to the upstream.
fn phantom(r: &reqwest::Response) -> String {
    header(r, "authorization")
        .strip_prefix("Bearer ")
        .expect("a Bearer JWT for the upstream")
        .to_owned()
}

db_test!(
    opaque_token_becomes_a_verifiable_jwt,
    async |app: TestApp| {
        let client = opaque_service(&app, "orders:read orders:write").await;
        let token = opaque_token(&app, &client, "orders:read").await;
        let before = monban::unix_now();
        let r = ask(&app, Some(&token), "GET", "/orders/7").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "cache-control"), "no-store");
        assert_eq!(header(&r, "x-monban-subject"), client.id);
        assert_eq!(header(&r, "x-monban-client"), client.id);
        assert_eq!(header(&r, "x-monban-scope"), "orders:read");
        assert_eq!(header(&r, "x-monban-groups"), "");
        let jwt = phantom(&r);
        assert!(
            !jwt.contains(&token),
            "the opaque token never reaches the upstream"
        );
        let claims = verify_with_jwks(&app, &jwt, &app.issuer).await;
        assert_eq!(claims["sub"], client.id.as_str());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["scope"], "orders:read");
        let exp = claims["exp"].as_i64().unwrap();
        assert!(exp - before <= 61 && exp - before >= 59, "60 s by default");
        // The same token as introspection describes it.
        let gateway = app.service_client("").await;
        let described = app.introspect(&gateway, &token).await;
        assert_eq!(claims["jti"], described["jti"]);
        assert_eq!(claims["aud"], described["aud"]);

        // Every request without a usable token is a 401 with a Bearer challenge.
        let r = ask(&app, None, "GET", "/orders").await;
        assert_eq!(r.status(), 401);
        assert_eq!(header(&r, "www-authenticate"), "Bearer realm=\"monban\"");
        let refresh_like = format!("{token}x");
        for bad in ["garbage", refresh_like.as_str(), "a.b.c"] {
            let r = ask(&app, Some(bad), "GET", "/orders").await;
            assert_eq!(r.status(), 401, "{bad}");
            assert!(header(&r, "www-authenticate").contains("error=\"invalid_token\""));
        }

        // Revoked (RFC 7009): refused on the very next request.
        let r = app
            .post_basic("/revoke", &client, &[("token", token.as_str())])
            .await;
        assert_eq!(r.status(), 200);
        let r = ask(&app, Some(&token), "GET", "/orders").await;
        assert_eq!(r.status(), 401);
    }
);

db_test!(
    jwt_tokens_are_checked_and_passed_on,
    async |app: TestApp| {
        let client = app.service_client("orders:read").await;
        let jwt = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = ask(&app, Some(&jwt), "GET", "/orders").await;
        assert_eq!(r.status(), 200);
        assert_eq!(phantom(&r), jwt);
        assert_eq!(header(&r, "x-monban-scope"), "orders:read");
        let r = ask(&app, Some(&tamper_signature(&jwt)), "GET", "/orders").await;
        assert_eq!(r.status(), 401);
        // Revoked by jti.
        app.post_basic("/revoke", &client, &[("token", jwt.as_str())])
            .await;
        assert_eq!(ask(&app, Some(&jwt), "GET", "/orders").await.status(), 401);
    }
);

db_test!(
    refresh_tokens_and_disabled_users_get_nothing,
    [("MONBAN_ACCESS_TOKEN_FORMAT", "opaque")],
    async |app: TestApp| {
        let user = app.user("alice", "correct horse battery").await;
        store::groups::insert(&app.db, "staff", 0).await.unwrap();
        store::groups::add_member(&app.db, user, "staff")
            .await
            .unwrap();
        let client = app
            .register(ClientSettings {
                scopes: Scopes::parse("openid groups").unwrap(),
                first_party: true,
                ..web_app_settings()
            })
            .await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client).scope("openid groups");
        let body = browser
            .tokens_as(&app, &client, &request, "alice", "correct horse battery")
            .await;
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();

        let r = ask(&app, Some(access), "GET", "/x").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-monban-subject"), user.to_string());
        assert_eq!(header(&r, "x-monban-groups"), "staff");
        let claims = verify_with_jwks(&app, &phantom(&r), &app.issuer).await;
        assert_eq!(claims["groups"], serde_json::json!(["staff"]));

        // A refresh token is not an access token.
        assert_eq!(ask(&app, Some(refresh), "GET", "/x").await.status(), 401);
        // Disabling the user revokes their tokens at once.
        store::users::set_disabled(&app.db, user, true, monban::unix_now())
            .await
            .unwrap();
        assert_eq!(ask(&app, Some(access), "GET", "/x").await.status(), 401);
        let gateway = app.service_client("").await;
        assert_eq!(app.introspect(&gateway, refresh).await["active"], false);
    }
);

db_test!(service_clients_carry_their_groups, async |app: TestApp| {
    let client = opaque_service(&app, "reports").await;
    app.cli(&["group", "create", "batch-jobs", "--json"])
        .ok_json();
    let added = app
        .cli(&["client", "group", "add", &client.id, "batch-jobs", "--json"])
        .ok_json();
    assert_eq!(added["changed"], true);
    let again = app
        .cli(&["client", "group", "add", &client.id, "batch-jobs", "--json"])
        .ok_json();
    assert_eq!(again["changed"], false);
    let missing = app.cli(&["client", "group", "add", &client.id, "nope", "--json"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.error().contains("no group named"),
        "{}",
        missing.stderr
    );
    let shown = app.cli(&["client", "show", &client.id, "--json"]).ok_json();
    assert_eq!(shown["groups"], serde_json::json!(["batch-jobs"]));

    crate::helpers::within_client_cache_ttl("client groups", async || {
        let token = opaque_token(&app, &client, "").await;
        let r = ask(&app, Some(&token), "GET", "/x").await;
        header(&r, "x-monban-groups") == "batch-jobs"
    })
    .await;
    // JWT access tokens and introspection carry them too.
    let jwt_client = app.service_client("reports").await;
    app.cli(&[
        "client",
        "group",
        "add",
        &jwt_client.id,
        "batch-jobs",
        "--json",
    ])
    .ok_json();
    crate::helpers::within_client_cache_ttl("client groups", async || {
        let jwt = app.access_token(&jwt_client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let claims = verify_with_jwks(&app, &jwt, &app.issuer).await;
        claims["groups"] == serde_json::json!(["batch-jobs"])
    })
    .await;
    let token = opaque_token(&app, &client, "").await;
    let gateway = app.service_client("").await;
    assert_eq!(
        app.introspect(&gateway, &token).await["groups"],
        serde_json::json!(["batch-jobs"])
    );
});

db_test!(
    policy_decides_per_route,
    [
        ("MONBAN_POLICY_FILE", POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| {
        let reader = opaque_service(&app, "orders:read").await;
        let writer = opaque_service(&app, "orders:read orders:write").await;
        let read = opaque_token(&app, &reader, "").await;
        let write = opaque_token(&app, &writer, "").await;
        store::groups::insert(&app.db, "ops", 0).await.unwrap();
        let operator = opaque_service(&app, "").await;
        store::groups::add_client(&app.db, &operator.id, "ops")
            .await
            .unwrap();
        let ops = opaque_token(&app, &operator, "").await;

        for (token, method, uri, status) in [
            (&read, "GET", "/catalog/books", 200),
            (&read, "POST", "/catalog/books", 403),
            (&read, "GET", "/orders/7?expand=lines", 200),
            (&read, "DELETE", "/orders/7", 403),
            (&write, "DELETE", "/orders/7", 200),
            (&read, "GET", "/admin", 403),
            (&ops, "GET", "/admin/users", 200),
            (&ops, "GET", "/administrator", 403),
            (&ops, "GET", "/catalog/../admin", 200),
            (&read, "GET", "/catalog/%2e%2e/admin", 403),
            (&ops, "GET", "/internal/metrics", 403),
            (&ops, "GET", "/elsewhere", 403),
        ] {
            let r = ask(&app, Some(token), method, uri).await;
            assert_eq!(r.status(), status, "{method} {uri}");
            if status == 403 {
                let challenge = header(&r, "www-authenticate");
                assert!(
                    challenge.contains("error=\"insufficient_scope\""),
                    "{challenge}"
                );
                assert!(r.headers().get("authorization").is_none());
            }
        }
        // A missing scope is named in the challenge (RFC 6750 §3).
        let r = ask(&app, Some(&read), "PUT", "/orders/7").await;
        assert!(header(&r, "www-authenticate").contains("scope=\"orders:write\""));
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("orders:write")
        );
        // Without the route the policy cannot be applied: refused.
        let r = app
            .http
            .get(app.url("/forward_auth"))
            .bearer_auth(&write)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        // An invalid token is still a 401, whatever the route.
        assert_eq!(
            ask(&app, Some("nope"), "GET", "/catalog").await.status(),
            401
        );
    }
);

db_test!(
    forwarded_headers_only_from_trusted_proxies,
    [("MONBAN_POLICY_FILE", POLICY)],
    async |app: TestApp| {
        let reader = opaque_service(&app, "orders:read").await;
        let read = opaque_token(&app, &reader, "").await;
        let r = ask(&app, Some(&read), "GET", "/catalog").await;
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("MONBAN_TRUSTED_PROXIES")
        );
    }
);

/// Reloading: a good file takes over, a bad one is refused and changes
/// nothing. (SIGHUP itself is sent to the real binary in `cli`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reload_keeps_the_old_policy_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "[[route]]\npath = \"/a\"\nscopes = [\"a\"]\n").unwrap();
    let path = file.to_str().unwrap();
    let app = TestApp::spawn(
        Backend::Sqlite,
        &[
            ("MONBAN_POLICY_FILE", path),
            ("MONBAN_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await
    .unwrap();
    let client = opaque_service(&app, "a b").await;
    let only_b = opaque_token(&app, &client, "b").await;
    assert_eq!(ask(&app, Some(&only_b), "GET", "/a").await.status(), 403);

    std::fs::write(&file, "[[route]]\npath = \"/a\"\nscopes = [\"b\"]\n").unwrap();
    app.app.policies.reload().unwrap();
    assert_eq!(ask(&app, Some(&only_b), "GET", "/a").await.status(), 200);

    std::fs::write(
        &file,
        "[[route]]\npath = \"/a\"\nscopes = [\"b\"]\ncolour = 1\n",
    )
    .unwrap();
    let err = app.app.policies.reload().unwrap_err();
    assert!(matches!(err, PolicyError::Invalid { .. }));
    assert!(err.to_string().contains("colour"), "{err}");
    assert_eq!(ask(&app, Some(&only_b), "GET", "/a").await.status(), 200);
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        app.app.policies.reload().unwrap_err(),
        PolicyError::Read { .. }
    ));
    assert_eq!(ask(&app, Some(&only_b), "GET", "/a").await.status(), 200);
}

db_test!(
    phantom_lifetime_is_configurable_and_bounded,
    [
        ("MONBAN_PHANTOM_TTL", "10"),
        ("MONBAN_ACCESS_TOKEN_TTL", "4")
    ],
    async |app: TestApp| {
        let client = opaque_service(&app, "").await;
        let token = opaque_token(&app, &client, "").await;
        let claims = verify_with_jwks(
            &app,
            &phantom(&ask(&app, Some(&token), "GET", "/").await),
            &app.issuer,
        )
        .await;
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime <= 4, "never outlives the opaque token: {lifetime}");
        let described = app.introspect(&app.service_client("").await, &token).await;
        assert_eq!(claims["exp"], described["exp"]);
        // Expired: refused.
        let wait = described["exp"].as_i64().unwrap() - monban::unix_now() + 1;
        tokio::time::sleep(std::time::Duration::from_secs(wait.max(0) as u64)).await;
        let r = ask(&app, Some(&token), "GET", "/").await;
        assert_eq!(r.status(), 401);
        assert!(header(&r, "www-authenticate").contains("invalid_token"));
    }
);

db_test!(
    phantom_cache_reuses_and_forgets,
    [("MONBAN_PHANTOM_CACHE", "100")],
    async |app: TestApp| {
        let client = opaque_service(&app, "").await;
        let token = opaque_token(&app, &client, "").await;
        let first = phantom(&ask(&app, Some(&token), "GET", "/").await);
        let second = phantom(&ask(&app, Some(&token), "GET", "/").await);
        assert_eq!(first, second, "cached");
        // Revoked here: gone at once.
        app.post_basic("/revoke", &client, &[("token", token.as_str())])
            .await;
        assert_eq!(ask(&app, Some(&token), "GET", "/").await.status(), 401);

        // Revoked elsewhere (another instance, straight in the database):
        // gone within the recheck period.
        let other = opaque_token(&app, &client, "").await;
        assert_eq!(ask(&app, Some(&other), "GET", "/").await.status(), 200);
        store::tokens::revoke_access(&app.db, &sha256(other.as_bytes()), monban::unix_now())
            .await
            .unwrap();
        let revoked_at = std::time::Instant::now();
        loop {
            let status = ask(&app, Some(&other), "GET", "/").await.status();
            if status == 401 {
                break;
            }
            assert!(
                revoked_at.elapsed() < monban::phantom::RECHECK + std::time::Duration::from_secs(1),
                "still accepted after the recheck period"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
);

/// The real binary re-reads its policy file on SIGHUP, and keeps the old
/// policy when the new file is bad.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_policy_file() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "default = \"deny\"\n").unwrap();
    let (served, _cwd) = Served::start(
        &db.url,
        &[
            ("MONBAN_POLICY_FILE", file.to_str().unwrap()),
            ("MONBAN_TRUSTED_PROXIES", "127.0.0.1"),
            ("MONBAN_ADMIN_PASSWORD", "an admin password"),
        ],
    );
    served.wait_ready().await;
    let created = run_cli(
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--token-format",
            "opaque",
            "--json",
        ],
        &[("MONBAN_DATABASE_URL", &db.url)],
        None,
    )
    .ok_json();
    let base = format!("http://127.0.0.1:{}", served.port);
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth(
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let status = async || {
        http.get(format!("{base}/forward_auth"))
            .bearer_auth(&token)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/x")
            .header("X-Forwarded-Host", "api.example.com")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status().await, 403);

    let reloaded_to = async |expected: u16| {
        served.signal("HUP");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while status().await != expected {
            assert!(std::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    std::fs::write(&file, "default = \"allow\"\n").unwrap();
    reloaded_to(200).await;
    // A bad file: refused, the allow policy stays.
    std::fs::write(
        &file,
        "default = \"deny\"\n[[route]]\npath = \"no slash\"\n",
    )
    .unwrap();
    served.signal("HUP");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(status().await, 200);
    let (code, _, stderr) = served.stop();
    assert_eq!(code, 0);
    assert!(stderr.contains("policy file reloaded"), "{stderr}");
    assert!(stderr.contains("policy file not reloaded"), "{stderr}");
    assert!(stderr.contains("route 1: path"), "{stderr}");
}

/// The Rego example of docs/gateways/rego/, evaluated in-process.
pub const REGO_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/gateways/rego/policy.toml"
);

db_test!(
    rego_policies_decide_after_the_routes,
    [
        ("MONBAN_POLICY_FILE", REGO_POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| {
        let alice = opaque_service(&app, "users:write").await;
        let support = opaque_service(&app, "").await;
        store::groups::insert(&app.db, "support", 0).await.unwrap();
        store::groups::add_client(&app.db, &support.id, "support")
            .await
            .unwrap();
        let alice_token = opaque_token(&app, &alice, "").await;
        let support_token = opaque_token(&app, &support, "").await;
        let own = format!("/users/{}", alice.id);
        let others = format!("/users/{}", support.id);
        for (token, method, uri, status) in [
            (&alice_token, "GET", own.as_str(), 200),
            (&alice_token, "PUT", own.as_str(), 200),
            (&alice_token, "GET", others.as_str(), 403),
            (&alice_token, "PUT", others.as_str(), 403),
            (&support_token, "GET", own.as_str(), 200),
            (&support_token, "PUT", own.as_str(), 403),
            (&alice_token, "GET", "/users/../internal", 403),
            (&alice_token, "GET", "/catalog", 403),
        ] {
            let r = ask(&app, Some(token), method, uri).await;
            assert_eq!(r.status(), status, "{method} {uri}");
        }
        // The policy's `reason` is told on a denial.
        let r = ask(&app, Some(&alice_token), "GET", &others).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error_description"],
            "only your own profile, unless you are support staff"
        );
        // A denial without a reason says so generically.
        let r = ask(&app, Some(&alice_token), "GET", "/catalog").await;
        let body: Value = r.json().await.unwrap();
        assert!(body["error_description"].as_str().unwrap().contains("Rego"));
    }
);

/// A Rego file that does not parse, or lacks the package, is refused like
/// any other policy mistake.
#[test]
fn bad_rego_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.rego"), "package x\nallow if {\n").unwrap();
    std::fs::write(dir.path().join("good.rego"), "package y\nallow := true\n").unwrap();
    for (files, package, expected) in [
        ("[\"bad.rego\"]", "x", "bad.rego"),
        ("[\"missing.rego\"]", "x", "cannot read"),
        ("[\"good.rego\"]", "z", "not defined"),
        ("[\"good.rego\"]", "y z", "package"),
        ("[]", "y", "empty"),
    ] {
        let file = dir.path().join("policy.toml");
        std::fs::write(
            &file,
            format!("[rego]\nfiles = {files}\npackage = \"{package}\"\n"),
        )
        .unwrap();
        let err = monban::policy::Policies::load(Some(&file), false)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains(expected),
            "{files} {package}: {err}"
        );
    }
}

db_test!(
    a_phantom_dies_with_its_opaque_token,
    async |app: TestApp| {
        let client = opaque_service(&app, "").await;
        let token = opaque_token(&app, &client, "").await;
        let phantom_jwt = phantom(&ask(&app, Some(&token), "GET", "/").await);
        let gateway = app.service_client("").await;
        assert_eq!(app.introspect(&gateway, &phantom_jwt).await["active"], true);
        assert_eq!(
            ask(&app, Some(&phantom_jwt), "GET", "/").await.status(),
            200
        );
        app.post_basic("/revoke", &client, &[("token", token.as_str())])
            .await;
        // Presented anywhere afterwards, the JWT made from it is refused too.
        assert_eq!(
            app.introspect(&gateway, &phantom_jwt).await["active"],
            false
        );
        assert_eq!(
            ask(&app, Some(&phantom_jwt), "GET", "/").await.status(),
            401
        );
    }
);
