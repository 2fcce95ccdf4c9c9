//! Two `monban serve` processes on one PostgreSQL database behave as one
//! server (one issuer, as behind a load balancer): a login on A is an SSO
//! session on B, codes and refresh tokens minted on one are redeemed on the
//! other, revocation on A is seen on B, and key rotations reach both.
//! PostgreSQL only (`TEST_POSTGRES_URL`): SQLite is one process's database.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::{AuthRequest, Browser, REDIRECT_URI, Step};
use crate::helpers::{Backend, CliRun, Served, Site, TestClient, TestDatabase, run_cli};

const PASSWORD: &str = "correct horse battery staple";

struct Pair {
    a: Served,
    b: Served,
    db: TestDatabase,
    issuer: String,
    http: reqwest::Client,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Pair {
    async fn start() -> Option<Pair> {
        let db = TestDatabase::create(Backend::Postgres).await?;
        let shared = [
            ("MONBAN_ADMIN_PASSWORD", "an admin password"),
            ("MONBAN_ACCESS_TOKEN_FORMAT", "opaque"),
            ("MONBAN_PHANTOM_CACHE", "1000"),
        ];
        let (a, dir_a) = Served::start(&db.url, &shared);
        a.wait_ready().await;
        let issuer = Site::url(&a, "");
        let mut with_issuer = shared.to_vec();
        with_issuer.push(("MONBAN_ISSUER", &issuer));
        let (b, dir_b) = Served::start(&db.url, &with_issuer);
        b.wait_ready().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Some(Pair {
            a,
            b,
            db,
            issuer,
            http,
            _dirs: (dir_a, dir_b),
        })
    }

    fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliRun {
        run_cli(args, &[("MONBAN_DATABASE_URL", &self.db.url)], stdin)
    }

    fn client(&self, args: &[&str]) -> TestClient {
        let mut all = vec!["client", "create", "--json"];
        all.extend_from_slice(args);
        let created = self.cli(&all, None).ok_json();
        TestClient {
            id: created["client_id"].as_str().unwrap().to_owned(),
            secret: created["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    async fn post(
        &self,
        on: &Served,
        path: &str,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(Site::url(on, path))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn redeem(
        &self,
        on: &Served,
        client: &TestClient,
        request: &AuthRequest,
        code: &str,
    ) -> Value {
        let verifier = request.verifier.as_deref().unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ];
        let r = self.post(on, "/token", client, &form).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        r.json().await.unwrap()
    }

    async fn introspect(&self, on: &Served, caller: &TestClient, token: &str) -> Value {
        let r = self
            .post(on, "/introspect", caller, &[("token", token)])
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn forward_auth(&self, on: &Served, token: &str) -> u16 {
        self.http
            .get(Site::url(on, "/forward_auth"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// Waits up to `limit` for `check` to hold.
async fn within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn sid_of(id_token: &str) -> String {
    use base64::Engine;
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behave_as_one_server() {
    let Some(pair) = Pair::start().await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to run two instances on PostgreSQL");
        return;
    };
    pair.cli(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .ok_json();
    let web = pair.client(&[
        "--name",
        "Web",
        "--first-party",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "openid offline_access",
    ]);
    let gateway = pair.client(&["--name", "Gateway"]);

    // Log in on A; the code is redeemed on B.
    let browser = Browser::new();
    let first = AuthRequest::new(&web).scope("openid offline_access");
    let params = browser.sign_in(&pair.a, &first, "alice", PASSWORD).await;
    assert_eq!(params["iss"], pair.issuer);
    let on_b = pair.redeem(&pair.b, &web, &first, &params["code"]).await;

    // The SSO session made on A serves B without a form.
    let second = AuthRequest::new(&web).scope("openid");
    let step = browser.authorize(&pair.b, &second).await;
    assert!(matches!(step, Step::Redirect(_)), "no login page on B");
    let code = step.redirect_params()["code"].clone();
    let on_a = pair.redeem(&pair.a, &web, &second, &code).await;
    assert_eq!(
        sid_of(on_a["id_token"].as_str().unwrap()),
        sid_of(on_b["id_token"].as_str().unwrap()),
        "one SSO session"
    );

    // A refresh token minted on B rotates on A; reusing it on B then revokes
    // the family everywhere.
    let minted_on_b = on_b["refresh_token"].as_str().unwrap();
    let r = pair
        .post(
            &pair.a,
            "/token",
            &web,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", minted_on_b),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let reuse = pair
        .post(
            &pair.b,
            "/token",
            &web,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", minted_on_b),
            ],
        )
        .await;
    assert_eq!(reuse.status(), 400);
    let child = rotated["refresh_token"].as_str().unwrap();
    let r = pair
        .post(
            &pair.a,
            "/token",
            &web,
            &[("grant_type", "refresh_token"), ("refresh_token", child)],
        )
        .await;
    assert_eq!(r.status(), 400, "the family was revoked on B");

    // Revocation on A: B's introspection sees it at once, B's phantom cache
    // within its recheck period.
    let access = on_a["access_token"].as_str().unwrap();
    assert_eq!(pair.forward_auth(&pair.b, access).await, 200);
    assert_eq!(
        pair.introspect(&pair.b, &gateway, access).await["active"],
        true
    );
    let r = pair
        .post(&pair.a, "/revoke", &web, &[("token", access)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        pair.introspect(&pair.b, &gateway, access).await["active"],
        false
    );
    // Told by A (LISTEN/NOTIFY): at once, not within the 5 s recheck.
    within(
        Duration::from_secs(1),
        "B refuses a token revoked on A",
        async || pair.forward_auth(&pair.b, access).await == 401,
    )
    .await;

    // A key rotation by a command reaches both instances at once (told by
    // it), not within their reload interval.
    let rotated = pair
        .cli(&["keys", "rotate", "--force", "--json"], None)
        .ok_json();
    let active = rotated["rotated"][0]["active_kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = rotated["rotated"][0]["next_kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let service = pair.client(&["--name", "Service", "--token-format", "jwt"]);
    for instance in [&pair.a, &pair.b] {
        within(Duration::from_secs(1), "new keys in use", async || {
            let jwks: Value = pair
                .http
                .get(Site::url(instance, "/jwks"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token: Value = pair
                .post(
                    instance,
                    "/token",
                    &service,
                    &[("grant_type", "client_credentials")],
                )
                .await
                .json()
                .await
                .unwrap();
            let kid = jsonwebtoken::decode_header(token["access_token"].as_str().unwrap())
                .unwrap()
                .kid
                .unwrap();
            jwks.to_string().contains(&next) && kid == active
        })
        .await;
    }
}

/// Scheduled rotations started by several instances at once: one wins, via
/// the database, and the keys stay one active and one next per algorithm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_have_one_winner() {
    let Some(pair) = Pair::start().await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to run two instances on PostgreSQL");
        return;
    };
    // The next key must have been published for MONBAN_JWKS_MAX_AGE (0) plus
    // the reload interval.
    tokio::time::sleep(monban::keys::RELOAD_INTERVAL + Duration::from_millis(500)).await;
    let url = pair.db.url.clone();
    let runs: Vec<CliRun> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                run_cli(
                    &["keys", "rotate", "--json"],
                    &[("MONBAN_DATABASE_URL", &url), ("MONBAN_JWKS_MAX_AGE", "0")],
                    None,
                )
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners = runs.iter().filter(|r| r.code == 0).count();
    assert_eq!(winners, 1, "{runs:?}");
    for loser in runs.iter().filter(|r| r.code != 0) {
        assert_eq!(loser.code, 1, "{loser:?}");
    }
    let listed = pair.cli(&["keys", "list", "--json"], None).ok_json();
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "active").count(), 1);
    assert_eq!(states.iter().filter(|s| **s == "next").count(), 1);
    assert_eq!(states.iter().filter(|s| **s == "retired").count(), 1);
}

/// Instances' listening connections (LISTEN/NOTIFY) to this test's database.
async fn listeners(db: &monban::store::Db) -> i64 {
    let monban::store::Db::Postgres(pool) = db else {
        unreachable!("PostgreSQL only")
    };
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE application_name = 'monban-listener' AND datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The listening connection is killed (again and again): the instances
/// listen again by themselves, and a revocation made meanwhile is refused
/// everywhere — told, or caught up when listening again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_listen_again_when_their_connection_is_killed() {
    let Some(pair) = Pair::start().await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to run two instances on PostgreSQL");
        return;
    };
    let handle = monban::store::Db::connect(&pair.db.url).await.unwrap();
    within(Duration::from_secs(5), "both listen", async || {
        listeners(&handle).await == 2
    })
    .await;
    let service = pair.client(&["--name", "Service", "--token-format", "opaque"]);
    let issue = async || -> String {
        let r = pair
            .post(
                &pair.a,
                "/token",
                &service,
                &[("grant_type", "client_credentials")],
            )
            .await;
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let token = issue().await;
    assert_eq!(pair.forward_auth(&pair.b, &token).await, 200, "cached on B");

    let monban::store::Db::Postgres(pool) = &handle else {
        unreachable!()
    };
    let kill = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
        WHERE application_name = 'monban-listener' AND datname = current_database()";
    let killing = Instant::now();
    let mut killed = 0;
    let mut revoked = false;
    while killing.elapsed() < Duration::from_millis(1500) {
        killed += sqlx::query_scalar::<_, i64>(kill)
            .fetch_one(pool)
            .await
            .unwrap();
        if !revoked && killing.elapsed() > Duration::from_millis(300) {
            let r = pair
                .post(&pair.a, "/revoke", &service, &[("token", &token)])
                .await;
            assert_eq!(r.status(), 200);
            revoked = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(killed >= 2, "the listeners were killed ({killed})");
    within(Duration::from_secs(15), "both listen again", async || {
        listeners(&handle).await == 2
    })
    .await;
    within(
        Duration::from_secs(1),
        "B refuses a token revoked while it was not listening",
        async || pair.forward_auth(&pair.b, &token).await == 401,
    )
    .await;
    // Listening again: told at once.
    let token = issue().await;
    assert_eq!(pair.forward_auth(&pair.b, &token).await, 200);
    let r = pair
        .post(&pair.a, "/revoke", &service, &[("token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    within(
        Duration::from_secs(1),
        "B refuses a token revoked on A",
        async || pair.forward_auth(&pair.b, &token).await == 401,
    )
    .await;
    let (_, _, stderr) = pair.b.stop();
    assert!(stderr.contains("listening again"), "{stderr}");
}

/// A site at a made-up issuer host, for the scripted browser.
struct Named(String);

impl Site for Named {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    fn root_url(&self, path: &str) -> String {
        self.url(path)
    }
}

/// A gateway session ended through one instance is refused by the other
/// at once — through the instance notices, well within the 5 s its cache
/// would otherwise believe it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_session_ended_on_one_instance_ends_on_the_other() {
    use crate::gateway_sessions::{APPS_POLICY, AUTH_HOST, DOMAIN};
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        eprintln!("skipped: set TEST_POSTGRES_URL to run two instances on PostgreSQL");
        return;
    };
    let port = crate::helpers::free_port();
    let issuer = format!("http://{AUTH_HOST}:{port}");
    let settings = [
        ("MONBAN_ISSUER", issuer.as_str()),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ];
    let (a, _dir_a) = Served::start_on(port, &db.url, &settings);
    a.wait_ready().await;
    let (b, _dir_b) = Served::start(&db.url, &settings);
    b.wait_ready().await;
    let created = run_cli(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--json",
        ],
        &[("MONBAN_DATABASE_URL", &db.url)],
        Some(&format!("{PASSWORD}\n")),
    );
    created.ok_json();

    // Signed in through A (the issuer's host), asked about on B.
    let site = Named(issuer.clone());
    let browser = Browser::resolving(&[AUTH_HOST], format!("127.0.0.1:{port}").parse().unwrap());
    let app = format!("http://app1.{DOMAIN}/");
    let login = format!("{issuer}/login?rd={}", crate::helpers::urlencode(&app));
    let step = browser.follow(&site, browser.get(&login).await).await;
    assert!(step.is_login(), "{step:?}");
    let step = browser.submit_login(&site, &step, "alice", PASSWORD).await;
    assert!(
        matches!(&step, Step::Redirect(to) if *to == app),
        "{step:?}"
    );
    let cookies = browser.cookies_for(&app);
    let cookie = cookies
        .split("; ")
        .find(|c| c.starts_with("monban_gateway="))
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let ask = async |server: &Served| {
        http.get(Site::url(server, "/forward_auth"))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/")
            .header("X-Forwarded-Host", format!("app1.{DOMAIN}"))
            .header("X-Forwarded-Proto", "http")
            .header("Accept", "application/json")
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ask(&b).await, 200, "B takes A's session (and caches it)");
    assert_eq!(ask(&b).await, 200);

    // Signed out through A: B refuses it at once.
    let r = browser
        .http
        .get(format!(
            "{issuer}/logout?rd={}",
            crate::helpers::urlencode(&app)
        ))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Sec-Fetch-Mode", "navigate")
        .header("Sec-Fetch-Dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    within(
        Duration::from_secs(2),
        "B hears of the sign-out",
        async || ask(&b).await == 401,
    )
    .await;
    assert_eq!(ask(&a).await, 401);
}
