//! OpenID Connect Back-Channel Logout 1.0: relying parties run by the test
//! receive the logout tokens and verify them with the JWKS.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use monban::clients::ClientSettings;
use serde_json::Value;

use crate::browser::{AuthRequest, Browser, hidden, web_app_settings};
use crate::db_test;
use crate::helpers::{
    Backend, Served, Site, TestApp, TestClient, TestDatabase, cli_client, cli_user,
};

const PASSWORD: &str = "correct horse battery staple";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A relying party's back-channel endpoint: records each POSTed body and
/// answers with the scripted statuses (then 200), after `delay`.
#[derive(Clone)]
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

async fn receiver(statuses: Vec<u16>, delay: Duration) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(listener, statuses, delay)
}

fn receiver_on(listener: tokio::net::TcpListener, statuses: Vec<u16>, delay: Duration) -> Receiver {
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(statuses));
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    let log = Arc::clone(&received);
    let router = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            async move {
                assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                tokio::time::sleep(delay).await;
                log.lock().unwrap().push(body);
                let mut script = script.lock().unwrap();
                let status = if script.is_empty() {
                    200
                } else {
                    script.remove(0)
                };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { url, received }
}

impl Receiver {
    /// The logout tokens received so far.
    fn tokens(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|body| {
                url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .expect("a logout_token field")
            })
            .collect()
    }

    /// Waits (up to 20 s) until `n` deliveries arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.received.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} deliveries, expected {n}",
                self.tokens().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.tokens()
    }
}

async fn rp(app: &TestApp, receiver: Option<&Receiver>) -> TestClient {
    app.register(ClientSettings {
        first_party: true,
        backchannel_logout_uri: receiver.map(|r| r.url.clone()),
        ..web_app_settings()
    })
    .await
}

/// Signs alice in to `client` in `browser`; returns the ID token's claims.
async fn sign_in(app: &TestApp, browser: &Browser, client: &TestClient) -> (String, Value) {
    let request = AuthRequest::new(client).scope("openid");
    let body = browser
        .tokens_as(app, client, &request, "alice", PASSWORD)
        .await;
    let id_token = body["id_token"].as_str().unwrap().to_owned();
    let claims = crate::sso::verify_id_token(app, &id_token, &client.id).await;
    (id_token, claims)
}

/// Verifies a logout token as a relying party must (§2.6).
async fn verify_logout_token(app: &impl Site, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: JwkSet = reqwest::get(app.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[app.url("")]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert!(claims["events"][EVENT].is_object(), "{claims}");
    assert!(claims.get("nonce").is_none(), "§2.4: no nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=300).contains(&lifetime), "{lifetime}");
    claims
}

fn logout_url(app: &TestApp, id_token: &str) -> String {
    let mut url = url::Url::parse(&app.url("/end_session")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", id_token);
    url.to_string()
}

db_test!(
    logging_out_tells_every_client_of_the_session,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let (one_rx, two_rx) = (
            receiver(vec![], Duration::ZERO).await,
            receiver(vec![], Duration::ZERO).await,
        );
        let one = rp(&app, Some(&one_rx)).await;
        let two = rp(&app, Some(&two_rx)).await;
        let silent = rp(&app, None).await;
        let unvisited_rx = receiver(vec![], Duration::ZERO).await;
        rp(&app, Some(&unvisited_rx)).await;

        let browser = Browser::new();
        let (id_token, id) = sign_in(&app, &browser, &one).await;
        sign_in(&app, &browser, &two).await;
        sign_in(&app, &browser, &silent).await;

        let step = browser
            .follow(&app, browser.get(&logout_url(&app, &id_token)).await)
            .await;
        assert_eq!(step.status(), 200, "the signed-out page");
        for (rx, client) in [(&one_rx, &one), (&two_rx, &two)] {
            let received = rx.wait_for(1).await;
            let claims = verify_logout_token(&app, &received[0], &client.id).await;
            assert_eq!(claims["sid"], id["sid"], "the session that ended");
            assert_eq!(claims["sub"], id["sub"]);
        }
        // A client the session never signed in to hears nothing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(unvisited_rx.tokens().is_empty());
        assert_eq!(one_rx.tokens().len(), 1, "once");
    }
);

db_test!(
    a_failing_client_is_retried_and_a_slow_one_does_not_hold_up_logout,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let flaky_rx = receiver(vec![503], Duration::ZERO).await;
        let slow_rx = receiver(vec![], Duration::from_secs(30)).await;
        let flaky = rp(&app, Some(&flaky_rx)).await;
        let slow = rp(&app, Some(&slow_rx)).await;
        let browser = Browser::new();
        let (id_token, _) = sign_in(&app, &browser, &flaky).await;
        sign_in(&app, &browser, &slow).await;

        let started = Instant::now();
        let step = browser
            .follow(&app, browser.get(&logout_url(&app, &id_token)).await)
            .await;
        assert_eq!(step.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "logout waited for a client that takes 30 s"
        );
        let received = flaky_rx.wait_for(2).await;
        let first = verify_logout_token(&app, &received[0], &flaky.id).await;
        let again = verify_logout_token(&app, &received[1], &flaky.id).await;
        assert_eq!(
            (&first["jti"], &first["sid"]),
            (&again["jti"], &again["sid"]),
            "the same logout, sent again after a 503"
        );
        // Delivered, then nothing more.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(flaky_rx.tokens().len(), 2);
        assert_eq!(
            monban::store::logout_deliveries::pending(&app.db)
                .await
                .unwrap(),
            1,
            "only the slow client's is still under way"
        );
    }
);

db_test!(
    signing_out_everywhere_tells_the_clients_of_every_session,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let rx = receiver(vec![], Duration::ZERO).await;
        let client = rp(&app, Some(&rx)).await;
        let (laptop, phone) = (Browser::new(), Browser::new());
        let (_, on_laptop) = sign_in(&app, &laptop, &client).await;
        let (_, on_phone) = sign_in(&app, &phone, &client).await;

        let page = laptop
            .follow(&app, laptop.get(&app.url("/account")).await)
            .await;
        let csrf = hidden(page.page_body(), "csrf");
        let r = laptop
            .post_form(
                &app.url("/account/sessions/end-all"),
                &[("csrf", csrf.as_str())],
            )
            .await;
        assert_eq!(r.status(), 200);
        let received = rx.wait_for(2).await;
        let mut sids = Vec::new();
        for token in &received {
            sids.push(verify_logout_token(&app, token, &client.id).await["sid"].clone());
        }
        sids.sort_by_key(|s| s.to_string());
        let mut expected = vec![on_laptop["sid"].clone(), on_phone["sid"].clone()];
        expected.sort_by_key(|s| s.to_string());
        assert_eq!(sids, expected);
        let metadata = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(metadata["backchannel_logout_supported"], true);
        assert_eq!(metadata["backchannel_logout_session_supported"], true);
    }
);

db_test!(backchannel_uris_are_checked, async |app: TestApp| {
    for bad in [
        "http://rp.example.com/logout",
        "https://rp.example.com/logout#frag",
        "/logout",
    ] {
        let run = app.cli(&[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--backchannel-logout-uri",
            bad,
            "--json",
        ]);
        assert_eq!(run.code, 2, "{bad}");
        assert!(
            run.error().contains("backchannel_logout_uri"),
            "{}",
            run.error()
        );
    }
    let made = app
        .cli(&[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--backchannel-logout-uri",
            "https://rp.example.com/logout?tenant=1",
            "--json",
        ])
        .ok_json();
    assert_eq!(
        made["backchannel_logout_uri"],
        "https://rp.example.com/logout?tenant=1"
    );
    let id = made["client_id"].as_str().unwrap();
    let updated = app
        .cli(&[
            "client",
            "update",
            id,
            "--backchannel-logout-uri",
            "none",
            "--json",
        ])
        .ok_json();
    assert!(updated.get("backchannel_logout_uri").is_none());
});

db_test!(
    disabling_a_user_tells_the_clients_of_their_sessions,
    async |app: TestApp| {
        app.user("alice", PASSWORD).await;
        let rx = receiver(vec![], Duration::ZERO).await;
        let client = rp(&app, Some(&rx)).await;
        let browser = Browser::new();
        let (_, id) = sign_in(&app, &browser, &client).await;
        // The CLI is another process: it delivers before it exits.
        app.cli(&["user", "disable", "alice", "--json"]).ok_json();
        let received = rx.wait_for(1).await;
        let claims = verify_logout_token(&app, &received[0], &client.id).await;
        assert_eq!(claims["sid"], id["sid"]);
        assert_eq!(claims["sub"], id["sub"]);
    }
);

/// Who changes the account.
#[derive(Debug, Clone, Copy)]
enum FrontEnd {
    Cli,
    AdminApi,
    AdminPages,
}

/// What they do to it.
#[derive(Debug, Clone, Copy)]
enum Change {
    Delete,
    Disable,
    SetPassword,
}

/// `change` made to `username` (id `id`) through `front`.
async fn make_change(app: &TestApp, front: FrontEnd, change: Change, username: &str, id: &str) {
    match front {
        FrontEnd::Cli => {
            let run = match change {
                Change::Delete => app.cli(&["user", "delete", username, "--json"]),
                Change::Disable => app.cli(&["user", "disable", username, "--json"]),
                Change::SetPassword => app.cli_with_stdin(
                    &[
                        "user",
                        "set-password",
                        username,
                        "--password-stdin",
                        "--json",
                    ],
                    Some("an operator's new passphrase\n"),
                ),
            };
            run.ok_json();
        }
        FrontEnd::AdminApi => {
            let token = app.admin_token().await;
            let url = app.url(&format!("/admin/api/v1/users/{id}"));
            let http = reqwest::Client::new();
            let request = match change {
                Change::Delete => http.delete(&url),
                Change::Disable => http
                    .patch(&url)
                    .json(&serde_json::json!({"disabled": true})),
                Change::SetPassword => http.post(format!("{url}/password")),
            };
            let r = request.bearer_auth(token).send().await.unwrap();
            assert!(
                r.status().is_success(),
                "{front:?} {change:?}: {}",
                r.status()
            );
        }
        FrontEnd::AdminPages => {
            let admin = format!("admin-{username}");
            let path = format!("/admin/users/{id}");
            let (browser, step) = crate::admin_pages::signed_in(app, &admin, true, &path).await;
            let form: &[(&str, &str)] = match change {
                Change::Delete => &[("action", "delete"), ("confirm", "yes")],
                Change::Disable => &[("action", "disable")],
                Change::SetPassword => &[("action", "reset")],
            };
            let done = crate::admin_pages::post(app, &browser, &step, &path, form).await;
            assert!(done.status() < 400, "{front:?} {change:?}: {done:?}");
        }
    }
}

// One rule whoever makes the change: deleting or disabling a user, or an
// operator setting their password, ends every session of theirs (the apps
// hear of it by back-channel logout) and revokes their tokens, offline
// access included.
db_test!(
    account_changes_sign_the_user_out_whoever_makes_them,
    async |app: TestApp| {
        let rx = receiver(vec![], Duration::ZERO).await;
        let client = rp(&app, Some(&rx)).await;
        let mut delivered = 0;
        for front in [FrontEnd::Cli, FrontEnd::AdminApi, FrontEnd::AdminPages] {
            for change in [Change::Delete, Change::Disable, Change::SetPassword] {
                let username = format!("{front:?}-{change:?}").to_lowercase();
                let id = app.user(&username, PASSWORD).await.to_string();
                let browser = Browser::new();
                let request = AuthRequest::new(&client).scope("openid offline_access");
                let body = browser
                    .tokens_as(&app, &client, &request, &username, PASSWORD)
                    .await;
                let id_token = body["id_token"].as_str().unwrap();
                let claims = crate::sso::verify_id_token(&app, id_token, &client.id).await;
                let refresh = body["refresh_token"].as_str().unwrap();
                assert_eq!(app.introspect(&client, refresh).await["active"], true);

                make_change(&app, front, change, &username, &id).await;

                let why = format!("{front:?} {change:?}");
                delivered += 1;
                let received = rx.wait_for(delivered).await;
                let logout = verify_logout_token(&app, &received[delivered - 1], &client.id).await;
                assert_eq!(logout["sid"], claims["sid"], "{why}");
                assert_eq!(
                    app.introspect(&client, refresh).await["active"],
                    false,
                    "{why}: the offline refresh token dies"
                );
                let sid = claims["sid"].as_str().unwrap();
                let live = monban::store::sessions::is_active(&app.db, sid, monban::unix_now())
                    .await
                    .unwrap();
                assert!(!live, "{why}: the session ended");
            }
        }
    }
);

/// The outbox: a logout the server could not deliver (the client was
/// down) is delivered by the next server started on the database, after
/// the first was killed, and only once.
#[tokio::test]
async fn a_logout_not_delivered_before_a_crash_is_delivered_after_it_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDatabase::create(backend).await else {
            eprintln!("skipped on PostgreSQL: set TEST_POSTGRES_URL");
            continue;
        };
        cli_user(&db.url, "alice", PASSWORD);
        // Nothing listens there yet: the client is down.
        let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = reserved.local_addr().unwrap();
        drop(reserved);
        let uri = format!("http://{address}/backchannel");
        let client = cli_client(
            &db.url,
            &[
                "--name",
                "RP",
                "--first-party",
                "--redirect-uri",
                crate::browser::REDIRECT_URI,
                "--grant-type",
                "authorization_code",
                "--backchannel-logout-uri",
                &uri,
            ],
        );
        let (first, _dir) = Served::start(&db.url, &[]);
        first.wait_ready().await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client).scope("openid");
        assert!(
            browser
                .sign_in(&first, &request, "alice", PASSWORD)
                .await
                .contains_key("code")
        );
        let page = browser
            .follow(&first, browser.get(&first.url("/account")).await)
            .await;
        let csrf = hidden(page.page_body(), "csrf");
        let ended = browser
            .post_form(
                &first.url("/account/sessions/end-all"),
                &[("csrf", csrf.as_str())],
            )
            .await;
        assert_eq!(ended.status(), 200);
        let handle = monban::store::Db::connect(&db.url).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while failed_attempts(&handle).await < 1 {
            assert!(Instant::now() < deadline, "no attempt was made");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(first); // SIGKILL
        assert_eq!(
            monban::store::logout_deliveries::pending(&handle)
                .await
                .unwrap(),
            1
        );

        let rx = receiver_on(
            tokio::net::TcpListener::bind(address).await.unwrap(),
            vec![],
            Duration::ZERO,
        );
        let (second, _dir2) = Served::start(&db.url, &[]);
        second.wait_ready().await;
        let received = rx.wait_for(1).await;
        let claims = verify_logout_token(&second, &received[0], &client.id).await;
        assert!(claims["sid"].is_string(), "{claims}");
        drop(second);
        let (third, _dir3) = Served::start(&db.url, &[]);
        third.wait_ready().await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(rx.tokens().len(), 1, "{backend:?}: delivered once");
        assert_eq!(
            monban::store::logout_deliveries::pending(&handle)
                .await
                .unwrap(),
            0
        );
    }
}

/// Deliveries in the outbox whose attempt failed and is to be retried.
async fn failed_attempts(db: &monban::store::Db) -> i64 {
    const FAILED: &str = "SELECT COUNT(*) FROM logout_deliveries \
        WHERE attempts >= 1 AND claimed_until = 0 AND done_at IS NULL";
    match db {
        monban::store::Db::Postgres(p) => sqlx::query_scalar(FAILED).fetch_one(p).await.unwrap(),
        monban::store::Db::Sqlite(p) => sqlx::query_scalar(FAILED).fetch_one(p).await.unwrap(),
    }
}
