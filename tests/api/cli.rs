//! The `monban` binary as an operator runs it: every command with `--json`
//! parsed, exit statuses, one-line errors, and nothing half-written.

use monban::store::users;
use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::{
    Backend, Served, TestApp, TestClient, TestDatabase, free_port, password_matches, run_cli,
    within_client_cache_ttl,
};

db_test!(user_lifecycle, async |app: TestApp| {
    let created = app
        .cli(&[
            "user",
            "create",
            "--username",
            "Alice",
            "--email",
            "Alice@Example.com",
            "--name",
            "Alice Liddell",
            "--json",
        ])
        .ok_json();
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "password", "username"]);
    assert_eq!(created["username"], "alice");
    let password = created["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert!(password_matches(&app.db, id, &password).await);

    let bob = app
        .cli_with_stdin(
            &[
                "user",
                "create",
                "--username",
                "bob",
                "--password-stdin",
                "--json",
            ],
            Some("correct horse battery staple\n"),
        )
        .ok_json();
    assert!(bob.get("password").is_none());
    let bob_id: uuid::Uuid = bob["id"].as_str().unwrap().parse().unwrap();
    assert!(password_matches(&app.db, bob_id, "correct horse battery staple").await);

    let duplicate = app.cli(&["user", "create", "--username", "alice", "--json"]);
    assert_eq!(duplicate.code, 1);
    assert!(duplicate.error().contains("alice"));
    let short = app.cli_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--password-stdin",
            "--json",
        ],
        Some("short\n"),
    );
    assert_eq!(short.code, 2);
    assert!(short.error().contains("at least 12"));
    let bad = app.cli(&["user", "create", "--username", "has space", "--json"]);
    assert_eq!(bad.code, 2);
    assert_eq!(
        app.count("users").await,
        2,
        "refused commands wrote nothing"
    );

    let shown = app.cli(&["user", "show", "alice", "--json"]).ok_json();
    assert_eq!(shown["email"], "alice@example.com");
    assert_eq!(shown["name"], "Alice Liddell");
    assert_eq!(shown["groups"], json!([]));
    assert_eq!(shown["disabled"], false);

    app.cli(&["group", "create", "staff", "--json"]).ok_json();
    assert_eq!(app.cli(&["group", "create", "staff", "--json"]).code, 1);
    let added = app
        .cli(&["user", "group", "add", "alice", "staff", "--json"])
        .ok_json();
    assert_eq!(added["changed"], true);
    let again = app
        .cli(&["user", "group", "add", "alice", "staff", "--json"])
        .ok_json();
    assert_eq!(again["changed"], false);
    assert_eq!(
        app.cli(&["user", "group", "add", "alice", "nosuch", "--json"])
            .code,
        1
    );
    assert_eq!(
        app.cli(&["user", "show", "alice", "--json"]).ok_json()["groups"],
        json!(["staff"])
    );
    let groups = app.cli(&["group", "list", "--json"]).ok_json();
    assert_eq!(
        groups,
        json!([{"name": "staff", "members": 1, "require_mfa": false, "created_at": groups[0]["created_at"]}])
    );
    app.cli(&["user", "group", "remove", "alice", "staff", "--json"])
        .ok_json();
    assert_eq!(
        app.cli(&["user", "show", "alice", "--json"]).ok_json()["groups"],
        json!([])
    );

    app.cli(&["user", "disable", "alice", "--json"]).ok_json();
    assert_eq!(
        app.cli(&["user", "show", "alice", "--json"]).ok_json()["disabled"],
        true
    );
    app.cli(&["user", "enable", "alice", "--json"]).ok_json();
    assert_eq!(
        app.cli(&["user", "show", "alice", "--json"]).ok_json()["disabled"],
        false
    );
    app.cli(&["user", "unlock", "alice", "--json"]).ok_json();

    app.cli_with_stdin(
        &[
            "user",
            "set-password",
            "alice",
            "--password-stdin",
            "--json",
        ],
        Some("a brand new passphrase\n"),
    )
    .ok_json();
    assert!(password_matches(&app.db, id, "a brand new passphrase").await);
    // The password policy holds for operators as for everyone.
    let weak = app.cli_with_stdin(
        &[
            "user",
            "set-password",
            "alice",
            "--password-stdin",
            "--json",
        ],
        Some("short\n"),
    );
    assert_eq!(weak.code, 2);
    assert!(weak.error().contains("at least 12"), "{}", weak.stderr);
    assert!(password_matches(&app.db, id, "a brand new passphrase").await);

    let list = app.cli(&["user", "list", "--json"]).ok_json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let text = app.cli(&["user", "list"]);
    assert!(text.stdout.starts_with("username"), "{}", text.stdout);

    app.cli(&["user", "delete", "alice", "--json"]).ok_json();
    let gone = app.cli(&["user", "show", "alice", "--json"]);
    assert_eq!(gone.code, 1);
    assert!(gone.error().contains("alice"));
    app.cli(&["group", "delete", "staff", "--json"]).ok_json();
    assert_eq!(app.cli(&["group", "delete", "staff", "--json"]).code, 1);
});

db_test!(
    client_lifecycle_against_the_running_server,
    async |app: TestApp| {
        let created = app
            .cli(&[
                "client",
                "create",
                "--name",
                "Orders",
                "--scope",
                "orders:read orders:write",
                "--audience",
                "https://orders.example.com",
                "--json",
            ])
            .ok_json();
        assert_eq!(created["client_name"], "Orders");
        assert_eq!(created["client_type"], "confidential");
        assert_eq!(created["grant_types"], json!(["client_credentials"]));
        assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(created["scope"], "orders:read orders:write");
        assert_eq!(created["audience"], json!(["https://orders.example.com"]));
        assert_eq!(
            created["access_token_format"],
            Value::Null,
            "server default, not copied"
        );
        let client = TestClient {
            id: created["client_id"].as_str().unwrap().to_owned(),
            secret: created["client_secret"].as_str().unwrap().to_owned(),
        };
        assert_eq!(client.secret.len(), 43);
        let token = app.access_token(&client, &[]).await;
        let claims = crate::token::verify_with_jwks(
            &app,
            token["access_token"].as_str().unwrap(),
            "https://orders.example.com",
        )
        .await;
        assert_eq!(claims["scope"], "orders:read orders:write");

        let shown = app.cli(&["client", "show", &client.id, "--json"]).ok_json();
        assert!(
            shown.get("client_secret").is_none(),
            "the secret is shown once"
        );
        assert_eq!(shown["client_id"], client.id.as_str());

        let updated = app
            .cli(&[
                "client",
                "update",
                &client.id,
                "--scope",
                "orders:read",
                "--token-format",
                "opaque",
                "--json",
            ])
            .ok_json();
        assert_eq!(updated["scope"], "orders:read");
        assert_eq!(updated["access_token_format"], "opaque");
        assert!(updated.get("client_secret").is_none());
        within_client_cache_ttl("updated settings", async || {
            let token = app.access_token(&client, &[]).await;
            !token["access_token"].as_str().unwrap().contains('.')
                && token["scope"] == "orders:read"
        })
        .await;
        let reset = app
            .cli(&[
                "client",
                "update",
                &client.id,
                "--token-format",
                "default",
                "--json",
            ])
            .ok_json();
        assert_eq!(reset["access_token_format"], Value::Null);

        let rotated = app
            .cli(&["client", "rotate-secret", &client.id, "--json"])
            .ok_json();
        let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, client.secret);
        let old = client;
        let client = TestClient {
            id: old.id.clone(),
            secret: new_secret,
        };
        // The new secret works at once; the old one stops within the TTL.
        assert_eq!(app.token(&client, &[]).await.status(), 200);
        within_client_cache_ttl("old secret refused", async || {
            app.token(&old, &[]).await.status() == 401
        })
        .await;

        let list = app.cli(&["client", "list", "--json"]).ok_json();
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&client.id.as_str()));
        assert!(
            ids.contains(&"monban-account"),
            "the account page's own client"
        );
        app.cli(&["client", "delete", &client.id, "--json"])
            .ok_json();
        within_client_cache_ttl("deleted client refused", async || {
            app.token(&client, &[]).await.status() == 401
        })
        .await;
        assert_eq!(app.cli(&["client", "show", &client.id, "--json"]).code, 1);
    }
);

db_test!(public_clients_get_no_secret, async |app: TestApp| {
    let created = app
        .cli(&[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/cb",
            "--json",
        ])
        .ok_json();
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["client_type"], "public");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        created["redirect_uris"],
        json!(["https://spa.example.com/cb"])
    );
    let id = created["client_id"].as_str().unwrap();
    assert_eq!(app.cli(&["client", "rotate-secret", id, "--json"]).code, 1);
    // Becoming confidential makes a secret, shown once.
    let made = app
        .cli(&["client", "update", id, "--confidential", "--json"])
        .ok_json();
    assert_eq!(made["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(made["token_endpoint_auth_method"], "client_secret_basic");
});

db_test!(
    invalid_client_settings_are_refused_and_write_nothing,
    async |app: TestApp| {
        let before = app.count("clients").await;
        for args in [
            vec!["client", "create", "--scope", "x"],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--public",
                "--grant-type",
                "client_credentials",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--redirect-uri",
                "http://evil.example.com/cb",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb#frag",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant-type",
                "authorization_code",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant-type",
                "password",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--auth-method",
                "private_key_jwt",
            ],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--public",
                "--auth-method",
                "client_secret_basic",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            vec!["client", "create", "--name", "x", "--scope", "bad\"scope"],
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--token-format",
                "paseto",
            ],
            vec!["client", "create", "--name", "x", "--public"],
        ] {
            let mut with_json = args.clone();
            with_json.push("--json");
            let run = app.cli(&with_json);
            assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
            assert!(!run.error().is_empty(), "{args:?}");
            assert_eq!(run.stderr.trim().lines().count(), 1, "{args:?}: one line");
        }
        assert_eq!(app.count("clients").await, before);
        assert_eq!(
            app.cli(&[
                "client",
                "update",
                "no-such-client",
                "--name",
                "y",
                "--json"
            ])
            .code,
            1
        );
    }
);

db_test!(migrate_and_usage_errors, async |app: TestApp| {
    let migrated = app.cli(&["migrate", "--json"]).ok_json();
    assert_eq!(migrated["migrated"], true);
    let unknown = app.cli(&["frobnicate", "--json"]);
    assert_eq!(unknown.code, 2);
    assert!(!unknown.error().is_empty());
    let missing = app.cli(&["user"]);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr.trim().lines().count(),
        1,
        "{}",
        missing.stderr
    );
    let typo = app.cli(&["client", "create", "--nmae", "x"]);
    assert_eq!(typo.code, 2);
    assert_eq!(typo.stderr.trim().lines().count(), 1, "{}", typo.stderr);
    assert!(typo.stderr.contains("--nmae"));
    let help = app.cli(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("client"));
});

db_test!(healthcheck_reports_readiness, async |app: TestApp| {
    let url = app.root_url("/readyz");
    let ok = app.cli(&["healthcheck", "--url", &url, "--json"]);
    assert_eq!(ok.ok_json()["ready"], true);
    let closed = free_port();
    let down = app.cli(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{closed}/readyz"),
        "--json",
    ]);
    assert_eq!(down.code, 1);
    // Container health checks know 0 and 1 only, even for a bad setting.
    let misconfigured = run_cli(&["healthcheck"], &[("MONBAN_LISTEN", "nowhere")], None);
    assert_eq!(misconfigured.code, 1);
});

#[test]
fn bad_configuration_stops_with_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("m.db").display());
    for (name, value) in [
        ("MONBAN_ISSUER", "https://id.example.com/?tenant=1"),
        ("MONBAN_ISSUER", "https://id.example.com/#x"),
        ("MONBAN_ISSUER", "not a url"),
        ("MONBAN_SIGNING_ALG", "HS256"),
        ("MONBAN_LISTEN", "everywhere"),
        ("MONBAN_ACCESS_TOKEN_TTL", "soon"),
        (
            "MONBAN_DATABASE_URL",
            "postgres://monban@127.0.0.1:1/monban",
        ),
        ("MONBAN_DATABASE_URL", "mysql://localhost/monban"),
    ] {
        let db = if name == "MONBAN_DATABASE_URL" {
            value
        } else {
            sqlite.as_str()
        };
        let env = [("MONBAN_DATABASE_URL", db), (name, value)];
        let run = run_cli(&["serve"], &env, None);
        assert_eq!(run.code, 2, "{name}={value}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{name}={value}: {}", run.stderr);
        assert!(lines[0].contains(name), "{name}={value}: {}", lines[0]);
        assert!(!run.stderr.contains("panicked"));
        let json = run_cli(&["serve", "--json"], &env, None);
        assert_eq!(json.code, 2);
        assert!(json.error().contains(name));
    }
}

async fn first_start(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to run on PostgreSQL");
        return;
    };
    let (served, _dir) = Served::start(&db.url, &[]);
    served.wait_ready().await;
    let port = served.port;
    let health = run_cli(
        &["healthcheck", "--json"],
        &[("MONBAN_LISTEN", &format!("127.0.0.1:{port}"))],
        None,
    );
    assert_eq!(health.ok_json()["ready"], true);
    let jwks: Value = reqwest::get(format!("http://127.0.0.1:{port}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "active and next created"
    );
    let (code, stdout, stderr) = served.stop();
    assert_eq!(code, 0, "graceful shutdown: {stderr}");
    assert!(
        stdout.contains("created the first user \"admin\""),
        "{stdout}"
    );
    let password = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 24 && !l.contains(' '))
        .unwrap_or_else(|| panic!("no password in {stdout}"));
    assert!(!stderr.contains(password), "the password is not logged");

    // The admin can be used, and a second start creates nothing new.
    let env = [("MONBAN_DATABASE_URL", db.url.as_str())];
    let admin = run_cli(&["user", "show", "admin", "--json"], &env, None).ok_json();
    assert_eq!(admin["groups"], json!(["admin"]));
    let (served, _dir) = Served::start(&db.url, &[]);
    served.wait_ready().await;
    let (code, stdout, _) = served.stop();
    assert_eq!(code, 0);
    assert!(!stdout.contains("created the first user"));
}

#[tokio::test]
async fn first_start_creates_keys_and_admin_sqlite() {
    first_start(Backend::Sqlite).await;
}

#[tokio::test]
async fn first_start_creates_keys_and_admin_postgres() {
    first_start(Backend::Postgres).await;
}

#[tokio::test]
async fn first_start_takes_the_admin_password_from_the_environment() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let (served, _dir) = Served::start(
        &db.url,
        &[("MONBAN_ADMIN_PASSWORD", "a long admin passphrase")],
    );
    served.wait_ready().await;
    let (_, stdout, _) = served.stop();
    assert!(stdout.contains("MONBAN_ADMIN_PASSWORD"));
    assert!(!stdout.contains("a long admin passphrase"));
    let db_handle = monban::store::Db::connect(&db.url).await.unwrap();
    let admin = users::find(&db_handle, "admin").await.unwrap().unwrap();
    assert!(password_matches(&db_handle, admin.id, "a long admin passphrase").await);
}

#[tokio::test]
async fn logs_never_contain_secrets_or_tokens() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let (served, _dir) = Served::start(
        &db.url,
        &[
            ("MONBAN_LOG", "debug"),
            ("MONBAN_ADMIN_PASSWORD", "the admin passphrase"),
        ],
    );
    served.wait_ready().await;
    let base = format!("http://127.0.0.1:{}", served.port);
    let env = [("MONBAN_DATABASE_URL", db.url.as_str())];
    let created = run_cli(&["client", "create", "--name", "svc", "--json"], &env, None).ok_json();
    let opaque = run_cli(
        &[
            "client",
            "create",
            "--name",
            "o",
            "--token-format",
            "opaque",
            "--json",
        ],
        &env,
        None,
    )
    .ok_json();
    let http = reqwest::Client::new();
    let mut secrets = vec!["the admin passphrase".to_owned()];
    for client in [&created, &opaque] {
        let (id, secret) = (
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap(),
        );
        secrets.push(secret.to_owned());
        let token: Value = http
            .post(format!("{base}/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        for path in ["/introspect", "/revoke"] {
            let r = http
                .post(format!("{base}{path}"))
                .basic_auth(id, Some(secret))
                .form(&[("token", &token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        // Secrets in the body, and wrong ones, are not logged either.
        let wrong = format!("{secret}-wrong");
        let r = http
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", &wrong),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        secrets.push(wrong);
        secrets.push(token);
    }
    let (_, stdout, stderr) = served.stop();
    assert!(
        stderr.contains("client authentication failed"),
        "logging was on: {stderr}"
    );
    for secret in &secrets {
        assert!(
            !stderr.contains(secret.as_str()),
            "a secret or token was logged"
        );
        assert!(
            !stdout.contains(secret.as_str()),
            "a secret or token was printed"
        );
    }
}
