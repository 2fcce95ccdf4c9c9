//! Upgrading from every earlier migration: a database is built at each
//! earlier migration with the rows a running monban had written (users,
//! clients, signing keys, tokens, an SSO session, copied from a server of
//! today into the columns that schema has), then today's monban starts on
//! it: it migrates, and what was there still works — the keys sign and are
//! published, access tokens introspect, the refresh token refreshes, the
//! session is still signed in, and the password still signs in.

use std::path::Path;

use serde_json::Value;

use crate::browser::{AuthRequest, Browser, REDIRECT_URI, WEB_APP_ARGS};
use crate::helpers::{Backend, Served, Site, TestClient, TestDatabase, cli_client, cli_user};

const PASSWORD: &str = "correct horse battery staple";

/// Tables with rows worth carrying over, parents first; a table an earlier
/// schema lacks is skipped there.
const TABLES: &[&str] = &[
    "users",
    "groups",
    "user_groups",
    "clients",
    "signing_keys",
    "grants",
    "access_tokens",
    "refresh_tokens",
    "sessions",
];

/// What the source server handed out.
struct Source {
    db: TestDatabase,
    web: TestClient,
    service: TestClient,
    access_token: String,
    refresh_token: String,
    session: String,
    kids: Vec<String>,
    /// Where it served: its issuer (and the audience of its tokens) is there.
    port: u16,
}

async fn source(backend: Backend) -> Option<Source> {
    let db = TestDatabase::create(backend).await?;
    cli_user(&db.url, "alice", PASSWORD);
    let web = cli_client(&db.url, WEB_APP_ARGS);
    let service = cli_client(&db.url, &["--name", "svc", "--token-format", "opaque"]);
    let (served, _dir) = Served::start(&db.url, &[("MONBAN_ACCESS_TOKEN_FORMAT", "opaque")]);
    served.wait_ready().await;
    let browser = Browser::new();
    let request = AuthRequest::new(&web).scope("openid");
    let params = browser.sign_in(&served, &request, "alice", PASSWORD).await;
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", request.verifier.as_deref().unwrap()),
    ];
    let tokens: Value = http
        .post(served.url("/token"))
        .basic_auth(&web.id, Some(&web.secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issued: Value = http
        .post(served.url("/token"))
        .basic_auth(&service.id, Some(&service.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: Value = reqwest::get(served.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let session = browser.session_cookie(&served).unwrap();
    let served_port = served.port;
    let (code, _, stderr) = served.stop();
    assert_eq!(code, 0, "{stderr}");
    Some(Source {
        web,
        service,
        access_token: issued["access_token"].as_str().unwrap().to_owned(),
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        session,
        kids,
        port: served_port,
        db,
    })
}

/// `db` migrated up to `version`, holding the source's rows in the columns
/// it has.
async fn at_migration(backend: Backend, version: i64, source: &Source) -> TestDatabase {
    let target = TestDatabase::create(backend).await.unwrap();
    match monban::store::Db::connect(&target.url).await.unwrap() {
        monban::store::Db::Sqlite(pool) => {
            sqlx::migrate!("migrations/sqlite")
                .run_to(version, &pool)
                .await
                .unwrap();
            let path = source.db.url.strip_prefix("sqlite://").unwrap();
            assert!(Path::new(path).exists());
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ATTACH DATABASE '{path}' AS src"
            )))
            .execute(&mut *conn)
            .await
            .unwrap();
            for table in TABLES {
                let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{table}', 'main') \
                     WHERE name IN (SELECT name FROM pragma_table_info('{table}', 'src'))"
                )))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
                if columns.is_empty() {
                    continue;
                }
                let columns = columns.join(", ");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}"
                )))
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            sqlx::query("DETACH DATABASE src")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        monban::store::Db::Postgres(pool) => {
            sqlx::migrate!("migrations/postgres")
                .run_to(version, &pool)
                .await
                .unwrap();
            let from = sqlx::PgPool::connect(&source.db.url).await.unwrap();
            for table in TABLES {
                let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(*table)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                if !exists {
                    continue;
                }
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT row_to_json(t)::text FROM {table} t"
                )))
                .fetch_all(&from)
                .await
                .unwrap();
                // The record type of the older table takes the columns it has.
                for row in rows {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, $1::json)"
                    )))
                    .bind(row)
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
            from.close().await;
        }
    }
    target
}

async fn upgrades_from_every_earlier_migration(backend: Backend) {
    let Some(source) = source(backend).await else {
        eprintln!("skipped on PostgreSQL: set TEST_POSTGRES_URL");
        return;
    };
    let status = monban::store::Db::connect(&source.db.url)
        .await
        .unwrap()
        .migration_status()
        .await
        .unwrap();
    let latest = status.applied.last().unwrap().version;
    assert!(latest >= 15);
    let http = reqwest::Client::new();
    for version in 1..latest {
        let db = at_migration(backend, version, &source).await;
        let (served, _dir) = Served::start_on(source.port, &db.url, &[]);
        served.wait_ready().await;
        let at = format!("{backend:?}, from migration {version}");

        let jwks = reqwest::get(served.url("/jwks"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for kid in &source.kids {
            assert!(jwks.contains(kid.as_str()), "{at}: key {kid} published");
        }
        let introspected: Value = http
            .post(served.url("/introspect"))
            .basic_auth(&source.service.id, Some(&source.service.secret))
            .form(&[("token", source.access_token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(introspected["active"], true, "{at}: {introspected}");
        let signed = http
            .post(served.url("/token"))
            .basic_auth(&source.service.id, Some(&source.service.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 200, "{at}: the old keys sign");

        // Sessions and what rests on them came with migration 2.
        if version >= 2 {
            let browser = Browser::with_session(&served, &source.session);
            let page = browser
                .follow(&served, browser.get(&served.url("/account")).await)
                .await;
            assert!(
                page.is_page("/account"),
                "{at}: still signed in, at {page:?}"
            );
            assert!(page.page_body().contains("alice"), "{at}");
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", source.refresh_token.as_str()),
            ];
            let refreshed = http
                .post(served.url("/token"))
                .basic_auth(&source.web.id, Some(&source.web.secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = refreshed.status();
            assert_eq!(status, 200, "{at}: {}", refreshed.text().await.unwrap());
        }
        let fresh = Browser::new();
        let params = fresh
            .sign_in(&served, &AuthRequest::new(&source.web), "alice", PASSWORD)
            .await;
        assert!(
            params.contains_key("code"),
            "{at}: the password signs in: {params:?}"
        );
        let status = monban::store::Db::connect(&db.url)
            .await
            .unwrap()
            .migration_status()
            .await
            .unwrap();
        assert!(status.pending.is_empty(), "{at}: migrated to the latest");
        let (code, _, stderr) = served.stop();
        assert_eq!(code, 0, "{at}: {stderr}");
    }
}

#[tokio::test]
async fn upgrades_from_every_earlier_migration_sqlite() {
    upgrades_from_every_earlier_migration(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrades_from_every_earlier_migration_postgres() {
    upgrades_from_every_earlier_migration(Backend::Postgres).await;
}
