//! `monban apply -f identity.toml` and `MONBAN_APPLY`: clients, APIs and
//! groups kept in a file, applied idempotently.

use std::path::Path;

use serde_json::{Value, json};

use crate::db_test;
use crate::helpers::{
    Backend, CliRun, Served, TestApp, TestClient, TestDatabase, run_cli, within_client_cache_ttl,
};

/// 256 bits, hex: what `openssl rand -hex 32` prints.
const BILLING_SECRET: &str = "5c1e0e2ad8f1e1b6b3e4a9c7d2f08a6b9e3c5d7f1a2b4c6d8e0f1a3b5c7d9e1f";
const REPORTS_SECRET: &str = "Jq3vX9pL2mN8rT5wY7zB4cF6hK1sD0gA-eU_iO3aQ5xV8nM2bR7tW9yZ4kP6jH1c";

const IDENTITY: &str = r#"
[[groups]]
name = "services"

[[apis]]
identifier = "https://api.example.com/orders"
scopes = ["orders:read", "orders:write"]
access_token_lifetime = 600

[[clients]]
client_id = "billing"
name = "Billing"
grant_types = ["client_credentials"]
scopes = ["orders:read"]
audiences = ["https://api.example.com/orders"]
groups = ["services"]
client_secret = { env = "BILLING_SECRET" }

[[clients]]
client_id = "reports"
name = "Reports"
scopes = ["orders:read"]
client_secret = { file = "reports.secret" }

[[clients]]
client_id = "shop-web"
name = "Shop"
first_party = true
require_mfa = true
redirect_uris = ["https://shop.example.com/callback"]
scopes = ["orders:read"]

[[clients]]
client_id = "shop-spa"
name = "Shop SPA"
public = true
redirect_uris = ["https://spa.example.com/cb"]
"#;

/// A directory with the identity file and the secret file it refers to.
fn identity_dir(identity: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity.toml"), identity).unwrap();
    std::fs::write(
        dir.path().join("reports.secret"),
        format!("{REPORTS_SECRET}\n"),
    )
    .unwrap();
    dir
}

/// `monban apply -f DIR/identity.toml --json EXTRA…`.
fn apply(app: &TestApp, dir: &Path, extra: &[&str]) -> CliRun {
    run_apply(app, dir, &[&["--json"], extra].concat())
}

/// `monban apply -f DIR/identity.toml ARGS…`, with the app's settings and
/// the secret the file refers to.
fn run_apply(app: &TestApp, dir: &Path, more: &[&str]) -> CliRun {
    let file = dir.join("identity.toml");
    let mut args = vec!["apply", "-f", file.to_str().unwrap()];
    args.extend_from_slice(more);
    let mut env: Vec<(&str, &str)> = app
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("BILLING_SECRET", BILLING_SECRET));
    run_cli(&args, &env, None)
}

/// The claims of a JWT (its signature is checked elsewhere).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The planned change of the item `id`.
fn change(out: &Value, id: &str) -> Value {
    out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no change for {id} in {out}"))
        .clone()
}

/// The action for each item, e.g. `{"client billing": "create"}`.
fn actions(out: &Value) -> Value {
    out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["kind"].as_str().unwrap(),
                    c["id"].as_str().unwrap()
                ),
                c["action"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

db_test!(
    apply_creates_then_changes_nothing_then_updates,
    async |app: TestApp| {
        let dir = identity_dir(IDENTITY);
        // A dry run of creates shows every field each item will have,
        // and where a secret comes from (never the secret).
        let preview = apply(&app, dir.path(), &["--dry-run"]).ok_json();
        let billing = &change(&preview, "billing");
        assert_eq!(billing["action"], "create");
        let field = |change: &Value, name: &str| {
            change["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["field"] == name)
                .unwrap_or_else(|| panic!("no field {name} in {change}"))
                .clone()
        };
        assert_eq!(field(billing, "name")["to"], "Billing");
        assert_eq!(field(billing, "name")["from"], Value::Null);
        assert_eq!(
            field(billing, "grant_types")["to"],
            json!(["client_credentials"])
        );
        assert_eq!(field(billing, "groups")["to"], json!(["services"]));
        assert_eq!(
            field(billing, "client_secret")["to"],
            "(from env BILLING_SECRET)"
        );
        assert!(!preview.to_string().contains(BILLING_SECRET));
        let shop = &change(&preview, "shop-web");
        assert_eq!(
            field(shop, "client_secret")["to"],
            "(generated, shown once)"
        );
        let api = &change(&preview, "https://api.example.com/orders");
        assert_eq!(field(api, "access_token_lifetime")["to"], 600);
        let text = run_apply(&app, dir.path(), &["--dry-run"]);
        assert!(
            text.stdout
                .contains("client billing: create\n    name: \"Billing\"\n"),
            "{}",
            text.stdout
        );
        let listed = app.cli(&["client", "list", "--json"]).ok_json();
        assert!(
            !listed
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["client_id"] == "billing"),
            "a dry run creates nothing: {listed}"
        );
        let first = apply(&app, dir.path(), &[]).ok_json();
        assert_eq!(
            actions(&first),
            json!({
                "group services": "create",
                "api https://api.example.com/orders": "create",
                "client billing": "create",
                "client reports": "create",
                "client shop-web": "create",
                "client shop-spa": "create",
            })
        );
        // The web app's secret was not declared: generated, shown once.
        let generated = first["generated_secrets"].as_array().unwrap();
        assert_eq!(generated.len(), 1);
        assert_eq!(generated[0]["client_id"], "shop-web");
        let web_secret = generated[0]["client_secret"].as_str().unwrap();

        // The declared secrets work, with the declared scopes, audience and
        // groups; the generated one too.
        let billing = TestClient {
            id: "billing".into(),
            secret: BILLING_SECRET.into(),
        };
        let token = app.access_token(&billing, &[]).await;
        assert_eq!(token["scope"], "orders:read");
        within_client_cache_ttl("the API's lifetime", async || {
            app.access_token(&billing, &[]).await["expires_in"] == 600
        })
        .await;
        let claims = payload(token["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], "https://api.example.com/orders");
        assert_eq!(claims["groups"], json!(["services"]));
        let reports = TestClient {
            id: "reports".into(),
            secret: REPORTS_SECRET.into(),
        };
        app.access_token(&reports, &[]).await;
        let shown = app.cli(&["client", "show", "shop-web", "--json"]).ok_json();
        assert_eq!(
            shown["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(shown["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(shown["require_mfa"], true, "a second factor, from the file");
        assert!(!web_secret.is_empty());
        let spa = app.cli(&["client", "show", "shop-spa", "--json"]).ok_json();
        assert_eq!(spa["token_endpoint_auth_method"], "none");

        // Again: nothing to do, nothing written.
        let audited = app.audit("client.created").await.len();
        let second = apply(&app, dir.path(), &[]).ok_json();
        assert_eq!(second["changed"], false);
        assert!(
            actions(&second)
                .as_object()
                .unwrap()
                .values()
                .all(|a| a == "unchanged"),
            "{second}"
        );
        assert!(second["generated_secrets"].as_array().unwrap().is_empty());
        assert_eq!(app.audit("client.created").await.len(), audited);
        assert!(app.audit("client.updated").await.is_empty());

        // A change, previewed with --dry-run (which changes nothing)…
        let changed = IDENTITY
            .replace("name = \"Shop\"", "name = \"Shop & Co\"")
            .replace(
                "redirect_uris = [\"https://shop.example.com/callback\"]",
                "redirect_uris = [\"https://shop.example.com/callback\", \"https://shop.example.com/cb2\"]",
            )
            .replace("scopes = [\"orders:read\", \"orders:write\"]", "scopes = [\"orders:read\", \"orders:write\", \"orders:admin\"]")
            .replace("groups = [\"services\"]\n", "");
        std::fs::write(dir.path().join("identity.toml"), &changed).unwrap();
        let preview = apply(&app, dir.path(), &["--dry-run"]).ok_json();
        assert_eq!(preview["dry_run"], true);
        let web = change(&preview, "shop-web");
        assert_eq!(web["action"], "update");
        let fields: Vec<&str> = web["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["name", "redirect_uris"]);
        assert_eq!(web["fields"][0]["from"], "Shop");
        assert_eq!(web["fields"][0]["to"], "Shop & Co");
        let billing_change = change(&preview, "billing");
        assert_eq!(billing_change["fields"][0]["field"], "groups");
        assert_eq!(billing_change["fields"][0]["to"], json!([]));
        assert_eq!(
            change(&preview, "https://api.example.com/orders")["action"],
            "update"
        );
        assert_eq!(change(&preview, "reports")["action"], "unchanged");
        let still = app.cli(&["client", "show", "shop-web", "--json"]).ok_json();
        assert_eq!(still["client_name"], "Shop", "a dry run changes nothing");
        // The text form shows the same diff.
        let text = run_apply(&app, dir.path(), &["--dry-run"]);
        assert_eq!(text.code, 0, "{}", text.stderr);
        assert!(
            text.stdout.contains("client shop-web: update"),
            "{}",
            text.stdout
        );
        assert!(
            text.stdout.contains("name: \"Shop\" -> \"Shop & Co\""),
            "{}",
            text.stdout
        );
        assert!(text.stdout.contains("dry run: nothing was changed"));

        // …then applied.
        let third = apply(&app, dir.path(), &[]).ok_json();
        assert_eq!(third["changed"], true);
        let web = app.cli(&["client", "show", "shop-web", "--json"]).ok_json();
        assert_eq!(web["client_name"], "Shop & Co");
        assert_eq!(web["redirect_uris"].as_array().unwrap().len(), 2);
        assert!(
            third["generated_secrets"].as_array().unwrap().is_empty(),
            "the secret is kept"
        );
        within_client_cache_ttl("billing out of its group", async || {
            let token = app.access_token(&billing, &[]).await;
            let claims = payload(token["access_token"].as_str().unwrap());
            claims.get("groups").is_none_or(|g| g == &json!([]))
        })
        .await;
        let updated = app.audit("client.updated").await;
        assert_eq!(updated.len(), 2, "shop-web and billing");
        assert!(
            updated
                .iter()
                .all(|e| e["actor"] == "cli" && e["detail"]["via"] == "apply")
        );
        let web_update = updated
            .iter()
            .find(|e| e["client_id"] == "shop-web")
            .unwrap();
        assert_eq!(
            web_update["detail"]["changed"],
            json!(["name", "redirect_uris"])
        );
        let left = app.audit("group.member_removed").await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["client_id"], "billing");
        assert_eq!(left[0]["detail"]["group"], "services");
        assert_eq!(apply(&app, dir.path(), &[]).ok_json()["changed"], false);
    }
);

db_test!(
    a_bad_file_is_refused_and_changes_nothing,
    async |app: TestApp| {
        let valid_client = "[[clients]]\nclient_id = \"ok\"\nname = \"OK\"\nclient_secret = { env = \"BILLING_SECRET\" }\n";
        for (file, expected) in [
            ("[[clients]\nclient_id = ", "identity.toml"),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nclient_secret = \"hunter2hunter2\"\n",
                "never the secret itself",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nclient_secret = { env = \"NOT_SET_ANYWHERE\" }\n",
                "NOT_SET_ANYWHERE",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nclient_secret = { file = \"weak.secret\" }\n",
                "too weak",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nclient_secret = { file = \"missing.secret\" }\n",
                "missing.secret",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nredirect_uri = \"https://a.example.com\"\n",
                "redirect_uri",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nredirect_uris = [\"http://a.example.com/cb\"]\n",
                "clients: a: redirect URI",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\ngroups = [\"nope\"]\n",
                "group \"nope\"",
            ),
            (
                "[[clients]]\nclient_id = \"a b\"\nname = \"A\"\n",
                "client_id must be",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\n[[clients]]\nclient_id = \"a\"\nname = \"B\"\n",
                "declared twice",
            ),
            (
                "[[clients]]\nclient_id = \"a\"\nname = \"A\"\ngrant_types = [\"password\"]\n",
                "password",
            ),
            ("[[apis]]\nidentifier = \"not a uri\"\n", "absolute URI"),
            ("[[groups]]\nname = \"has space\"\n", "not a group name"),
            ("[[users]]\nname = \"x\"\n", "users"),
        ] {
            // A valid client in front: the bad item stops all of it.
            let dir = identity_dir(&format!("{valid_client}{file}"));
            std::fs::write(dir.path().join("weak.secret"), "password123").unwrap();
            let run = apply(&app, dir.path(), &[]);
            assert_eq!(run.code, 2, "{file}: {}", run.stderr);
            let error = run.error();
            assert!(error.contains(expected), "{file}: {error}");
        }
        assert_eq!(
            app.count("clients").await,
            1,
            "only the account page's own client"
        );
        assert!(app.audit("client.created").await.is_empty());
        let missing = run_cli(
            &["apply", "-f", "/nonexistent/identity.toml", "--json"],
            &app.settings
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            None,
        );
        assert_eq!(missing.code, 2);
        assert!(missing.error().contains("/nonexistent/identity.toml"));
    }
);

#[tokio::test]
async fn monban_apply_at_start() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let dir = identity_dir(&IDENTITY.replace(
        "[[clients]]\nclient_id = \"shop-web\"",
        "[[clients]]\nclient_id = \"shop-web\"\nclient_secret = { file = \"reports.secret\" }",
    ));
    let file = dir.path().join("identity.toml");
    let (served, _cwd) = Served::start(
        &db.url,
        &[
            ("MONBAN_APPLY", file.to_str().unwrap()),
            ("BILLING_SECRET", BILLING_SECRET),
        ],
    );
    served.wait_ready().await;
    let token = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/token", served.port))
        .basic_auth("billing", Some(BILLING_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let (code, _, stderr) = served.stop();
    assert_eq!(code, 0);
    assert!(stderr.contains("MONBAN_APPLY applied"), "{stderr}");
    assert!(!stderr.contains(BILLING_SECRET));

    // At start, a client whose secret monban would have to generate (and
    // could show nobody) is refused, and so is the start.
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let dir = identity_dir(IDENTITY);
    let file = dir.path().join("identity.toml");
    let env = [
        ("MONBAN_DATABASE_URL", db.url.as_str()),
        ("MONBAN_APPLY", file.to_str().unwrap()),
        ("BILLING_SECRET", BILLING_SECRET),
    ];
    let run = run_cli(&["serve", "--json"], &env, None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let error = run.error();
    assert!(error.starts_with("MONBAN_APPLY:"), "{error}");
    assert!(
        error.contains("shop-web") && error.contains("client_secret"),
        "{error}"
    );
}
