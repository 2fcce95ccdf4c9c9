//! `kill -9` of monban in the middle of a write load, then a restart on the
//! same database: every code, refresh rotation, registration and session
//! change is all-or-nothing, and everything answered 200 is there.

use std::time::Duration;

use crate::browser::{AuthRequest, Browser, WEB_APP_ARGS};
use crate::helpers::{Backend, Served, Site, TestDatabase, cli_client, cli_user, free_port};
use crate::load::Load;

const PASSWORD: &str = "correct horse battery staple";

/// A count the database gives for `sql`.
async fn count(db: &monban::store::Db, sql: &'static str) -> i64 {
    match db {
        monban::store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        monban::store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// What must hold in the database whatever moment the process died at.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "a refresh family with two live tokens",
        "SELECT COUNT(*) FROM (SELECT family_id FROM refresh_tokens \
         WHERE rotated_at IS NULL AND revoked_at IS NULL GROUP BY family_id HAVING COUNT(*) > 1) f",
    ),
    (
        "a rotated refresh token without its successor",
        "SELECT COUNT(*) FROM refresh_tokens p WHERE p.rotated_at IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens c WHERE c.parent_hash = p.token_hash)",
    ),
    (
        "a refresh family neither live nor revoked",
        "SELECT COUNT(DISTINCT f.family_id) FROM refresh_tokens f WHERE NOT EXISTS \
         (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.family_id \
          AND ((t.rotated_at IS NULL AND t.revoked_at IS NULL) OR t.revoked_at IS NOT NULL))",
    ),
    (
        "a code that issued tokens but is unused",
        "SELECT COUNT(*) FROM authorization_codes c WHERE c.used_at IS NULL \
         AND EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = c.grant_id)",
    ),
    (
        "a registered client without its registration access token",
        "SELECT COUNT(*) FROM clients WHERE origin = 'registration' AND registration_token_hash IS NULL",
    ),
    (
        "a session half signed in",
        "SELECT COUNT(*) FROM sessions WHERE (user_id IS NULL) <> (sid IS NULL)",
    ),
];

async fn killed_under_write_load(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        eprintln!("skipped on PostgreSQL: set TEST_POSTGRES_URL");
        return;
    };
    cli_user(&db.url, "alice", PASSWORD);
    let web = cli_client(&db.url, WEB_APP_ARGS);
    let service = cli_client(&db.url, &["--name", "svc", "--token-format", "opaque"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let settings = [
        ("MONBAN_OPEN_REGISTRATION", "true"),
        ("MONBAN_RATE_LIMIT_TOKEN", "off"),
        ("MONBAN_RATE_LIMIT_REGISTRATION", "off"),
        ("MONBAN_ACCESS_TOKEN_FORMAT", "opaque"),
    ];
    let (served, _dir) = Served::start_on(port, &db.url, &settings);
    served.wait_ready().await;
    let browser = Browser::new();
    let params = browser
        .sign_in(&served, &AuthRequest::new(&web), "alice", PASSWORD)
        .await;
    assert!(params.contains_key("code"));
    let load = Load::new(
        base.clone(),
        web,
        service,
        browser.session_cookie(&served).unwrap(),
        Duration::ZERO,
    );
    let mut tasks = tokio::task::JoinSet::new();
    load.start(&mut tasks);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    drop(served); // SIGKILL, mid-write
    while let Some(ended) = tasks.join_next().await {
        ended.unwrap();
    }

    let handle = monban::store::Db::connect(&db.url).await.unwrap();
    if let monban::store::Db::Sqlite(pool) = &handle {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
    for (what, sql) in INVARIANTS {
        assert_eq!(count(&handle, sql).await, 0, "{backend:?}: {what}");
    }
    let answered = load.answered.lock().await;
    let summary = format!(
        "{backend:?}: {} rotations, {} codes, {} access tokens, {} registrations answered before the kill",
        answered.rotations,
        answered.codes_redeemed,
        answered.access_tokens.len(),
        answered.registered.len()
    );
    eprintln!("{summary}");
    assert!(
        answered.rotations > 10
            && answered.access_tokens.len() > 10
            && !answered.registered.is_empty(),
        "the load ran: {summary}"
    );

    // Restarted: everything answered 200 is there.
    let (served, _dir) = Served::start_on(port, &db.url, &settings);
    served.wait_ready().await;
    load.check_answered(&answered, &format!("{backend:?}"))
        .await;
    // A refresh token last answered is live, unless its next rotation
    // committed as the process died (then its successor is there).
    for token in &answered.refresh_tokens {
        let hash = monban::tokens::sha256(token.as_bytes());
        if load.refresh(token).await != 200 {
            let successors = match &handle {
                monban::store::Db::Postgres(p) => sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM refresh_tokens WHERE parent_hash = $1",
                )
                .bind(&hash)
                .fetch_one(p)
                .await
                .unwrap(),
                monban::store::Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM refresh_tokens WHERE parent_hash = $1",
                )
                .bind(&hash)
                .fetch_one(p)
                .await
                .unwrap(),
            };
            assert_eq!(
                successors, 1,
                "{backend:?}: a refresh token neither live nor rotated"
            );
        }
    }
    let r = load
        .http
        .post(served.url("/token"))
        .basic_auth(&load.service.id, Some(&load.service.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "serves after the restart");
}

#[tokio::test]
async fn a_kill_mid_write_leaves_everything_whole_sqlite() {
    killed_under_write_load(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_kill_mid_write_leaves_everything_whole_postgres() {
    killed_under_write_load(Backend::Postgres).await;
}
