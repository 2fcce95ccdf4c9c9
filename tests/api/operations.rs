//! Operations: the audit log, Prometheus metrics, JSON logs and rate limits.

use monban::store::audit::{self as audit_store, Filter};
use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, USER_AGENT, tokens};
use crate::db_test;
use crate::helpers::{Backend, Served, TestApp, TestDatabase, free_port};

const PASSWORD: &str = "correct horse battery staple";

/// Every audit event, as the JSON the log would show.
async fn all_events(app: &TestApp) -> String {
    let rows = audit_store::list(&app.db, &Filter::default(), 10_000)
        .await
        .unwrap();
    serde_json::to_string(&rows).unwrap()
}

db_test!(
    failed_logins_and_lockouts_are_audited,
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        assert!(login.is_login());
        // An unknown user, then alice's password wrong until she is locked.
        browser
            .submit_login(&app, &login, "nobody", "a first guess")
            .await;
        for i in 0..5 {
            browser
                .submit_login(&app, &login, "alice", &format!("wrong guess {i}"))
                .await;
        }
        let failed = app.audit("login.failed").await;
        assert_eq!(failed.len(), 6, "{failed:?}");
        let (newest, oldest) = (&failed[0], &failed[5]);
        assert_eq!(
            oldest["detail"],
            json!({"username": "nobody", "reason": "wrong_credentials"})
        );
        assert!(oldest["user_id"].is_null(), "no such user");
        assert_eq!(newest["detail"]["reason"], "account_locked");
        assert_eq!(newest["user_id"], alice.to_string());
        for event in &failed {
            assert!(event["actor"].is_null(), "nobody is known: {event}");
            assert_eq!(event["ip"], "127.0.0.1");
            assert_eq!(event["user_agent"], USER_AGENT);
        }
        let locked = app.audit("account.locked").await;
        assert_eq!(locked.len(), 1, "once, when the limit is reached");
        assert_eq!(locked[0]["user_id"], alice.to_string());
        assert_eq!(locked[0]["detail"]["seconds"], 300);

        // While locked, even the right password fails (and is audited).
        let still = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(still.is_login());
        assert_eq!(app.audit("login.failed").await.len(), 7);

        // The operator unlocks her; then she gets in.
        app.cli(&["user", "unlock", "alice", "--json"]).ok_json();
        let unlocked = app.audit("account.unlocked").await;
        assert_eq!(unlocked[0]["actor"], "cli");
        assert_eq!(unlocked[0]["user_id"], alice.to_string());
        let done = browser.submit_login(&app, &login, "alice", PASSWORD).await;
        assert!(done.redirect_params().contains_key("code"), "{done:?}");
        let ok = app.audit("login.succeeded").await;
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0]["actor"], format!("user:{alice}"));
        assert_eq!(ok[0]["client_id"], client.id);
        assert_eq!(ok[0]["detail"]["username"], "alice");
        assert!(ok[0]["detail"]["sid"].is_string());

        // No password, right or wrong, is anywhere in the audit log.
        let everything = all_events(&app).await;
        for secret in [PASSWORD, "wrong guess", "a first guess"] {
            assert!(!everything.contains(secret), "{secret} in {everything}");
        }
    }
);

db_test!(
    refresh_token_reuse_and_revocations_are_audited,
    async |app: TestApp| {
        let bob = app.user("bob", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let request = AuthRequest::new(&client).scope("openid offline_access");
        let params = browser.sign_in(&app, &request, "bob", PASSWORD).await;
        let body = tokens(&app, &client, &request, &params["code"]).await;
        let first = body["refresh_token"].as_str().unwrap().to_owned();
        let refresh = |token: String| {
            let (app, client) = (&app, &client);
            async move {
                app.post_basic(
                    "/token",
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await
            }
        };
        let rotated: Value = refresh(first.clone()).await.json().await.unwrap();
        assert!(rotated["refresh_token"].is_string());
        assert!(app.audit("refresh_token.reused").await.is_empty());
        // The rotated-away token comes back: the family is revoked, and
        // the reuse is on record.
        assert_eq!(refresh(first).await.status(), 400);
        let reused = app.audit("refresh_token.reused").await;
        assert_eq!(reused.len(), 1);
        assert_eq!(reused[0]["client_id"], client.id);
        assert_eq!(reused[0]["user_id"], bob.to_string());
        assert_eq!(reused[0]["ip"], "127.0.0.1");
        assert!(reused[0]["detail"]["grant_id"].is_string());

        // A client revokes an access token of bob's.
        let request = AuthRequest::new(&client);
        let fresh = browser
            .tokens_as(&app, &client, &request, "bob", PASSWORD)
            .await;
        let access = fresh["access_token"].as_str().unwrap();
        let r = app
            .post_basic("/revoke", &client, &[("token", access)])
            .await;
        assert_eq!(r.status(), 200);
        let revoked = app.audit("token.revoked").await;
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0]["actor"], format!("client:{}", client.id));
        assert_eq!(revoked[0]["user_id"], bob.to_string());
        assert_eq!(revoked[0]["detail"]["token_type"], "access_token");
        // An unknown token revokes nothing, and nothing is recorded.
        app.post_basic("/revoke", &client, &[("token", "made-up")])
            .await;
        assert_eq!(app.audit("token.revoked").await.len(), 1);
        let everything = all_events(&app).await;
        assert!(!everything.contains(access), "no token in the audit log");
    }
);

db_test!(operator_changes_are_audited, async |app: TestApp| {
    let created = app
        .cli(&["client", "create", "--name", "Billing", "--json"])
        .ok_json();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    app.cli(&["client", "update", id, "--name", "Billing v2", "--json"])
        .ok_json();
    let rotated = app
        .cli(&["client", "rotate-secret", id, "--json"])
        .ok_json();
    app.cli(&["group", "create", "staff", "--json"]).ok_json();
    app.cli(&["client", "group", "add", id, "staff", "--json"])
        .ok_json();
    app.cli(&["client", "delete", id, "--json"]).ok_json();
    let user = app
        .cli(&["user", "create", "--username", "carol", "--json"])
        .ok_json();
    let carol = user["id"].as_str().unwrap();
    app.cli(&["user", "group", "add", "carol", "staff", "--json"])
        .ok_json();
    app.cli(&["user", "disable", "carol", "--json"]).ok_json();
    app.cli(&["user", "enable", "carol", "--json"]).ok_json();
    app.cli(&["user", "delete", "carol", "--json"]).ok_json();
    app.cli(&["group", "delete", "staff", "--json"]).ok_json();
    app.cli(&["keys", "rotate", "--force", "--json"]).ok_json();

    for (kind, client, user) in [
        ("client.created", Some(id), None),
        ("client.updated", Some(id), None),
        ("client.secret_rotated", Some(id), None),
        ("client.deleted", Some(id), None),
        ("group.created", None, None),
        ("user.created", None, Some(carol)),
        ("user.disabled", None, Some(carol)),
        ("user.enabled", None, Some(carol)),
        ("user.deleted", None, Some(carol)),
        ("group.deleted", None, None),
        ("keys.rotated", None, None),
    ] {
        let events = app.audit(kind).await;
        assert_eq!(events.len(), 1, "{kind}: {events:?}");
        let event = &events[0];
        assert_eq!(event["actor"], "cli", "{kind}");
        assert_eq!(event["detail"]["via"], "cli", "{kind}");
        assert_eq!(event["client_id"], json!(client), "{kind}");
        assert_eq!(event["user_id"], json!(user), "{kind}");
    }
    // Memberships: the client's and carol's.
    let added = app.audit("group.member_added").await;
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|e| e["detail"]["group"] == "staff"));
    assert_eq!(
        app.audit("client.updated").await[0]["detail"]["new_secret"],
        false
    );
    let everything = all_events(&app).await;
    for secret in [secret.as_str(), rotated["client_secret"].as_str().unwrap()] {
        assert!(!everything.contains(secret), "no client secret in the log");
    }
});

db_test!(
    events_are_filtered_paged_and_purged_after_retention,
    async |app: TestApp| {
        for name in ["one", "two", "three"] {
            app.cli(&["group", "create", name, "--json"]).ok_json();
        }
        let alice = app.user("alice", PASSWORD).await;
        app.cli(&["user", "disable", "alice", "--json"]).ok_json();
        // Newest first, in pages that continue below the last id.
        let page = |before_id| Filter {
            kind: Some("group.created".into()),
            before_id,
            ..Default::default()
        };
        let first = audit_store::list(&app.db, &page(None), 2).await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].detail.0["group"], "three");
        let rest = audit_store::list(&app.db, &page(Some(first[1].id)), 2)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].detail.0["group"], "one");
        let of_alice = Filter {
            user_id: Some(alice),
            ..Default::default()
        };
        let events = audit_store::list(&app.db, &of_alice, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "user.disabled");
        let now = monban::unix_now();
        let recent = Filter {
            since: Some(now - 60),
            until: Some(now + 60),
            ..Default::default()
        };
        assert_eq!(
            audit_store::list(&app.db, &recent, 10).await.unwrap().len(),
            4
        );

        // Events past the retention period go; 0 days keeps everything.
        app.execute("UPDATE audit_events SET at = at - 91 * 86400 WHERE type = 'group.created'")
            .await;
        assert_eq!(monban::audit::purge(&app.db, 0, now).await.unwrap(), 0);
        assert_eq!(monban::audit::purge(&app.db, 90, now).await.unwrap(), 3);
        let left = audit_store::list(&app.db, &Filter::default(), 10)
            .await
            .unwrap();
        assert_eq!(left.len(), 1, "the recent event stays");
    }
);

/// The value of a sample whose name is `name` and whose labels include
/// `labels`, in Prometheus text.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.http.get(app.root_url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

db_test!(
    metrics_count_requests_tokens_and_logins,
    async |app: TestApp| {
        let service = app.service_client("").await;
        for _ in 0..2 {
            app.access_token(&service, &[]).await;
        }
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        browser.submit_login(&app, &login, "alice", "not it").await;
        let request = AuthRequest::new(&client);
        browser
            .tokens_as(&app, &client, &request, "alice", PASSWORD)
            .await;

        let text = scrape(&app).await;
        let count = |name, labels: &[(&str, &str)]| {
            sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
        };
        let token_ok = [("route", "/token"), ("method", "POST"), ("status", "200")];
        assert_eq!(count("monban_http_requests_total", &token_ok), 3.0);
        assert_eq!(
            count("monban_http_request_duration_seconds_count", &token_ok),
            3.0
        );
        assert_eq!(
            count(
                "monban_http_request_duration_seconds_bucket",
                &[("route", "/token"), ("le", "+Inf")]
            ),
            3.0
        );
        assert_eq!(
            count(
                "monban_tokens_issued_total",
                &[("grant_type", "client_credentials")]
            ),
            2.0
        );
        assert_eq!(
            count(
                "monban_tokens_issued_total",
                &[("grant_type", "authorization_code")]
            ),
            1.0
        );
        assert_eq!(
            count("monban_logins_total", &[("outcome", "succeeded")]),
            1.0
        );
        assert_eq!(
            count("monban_logins_total", &[("outcome", "wrong_credentials")]),
            1.0
        );
        assert_eq!(count("monban_active_sessions", &[]), 1.0);
        assert!(count("monban_db_pool_max_connections", &[]) >= 1.0);
        let pool = count("monban_db_pool_connections", &[("state", "idle")])
            + count("monban_db_pool_connections", &[("state", "in_use")]);
        assert!(pool >= 1.0, "the pool holds a connection: {pool}");
        // The test fixture's keys became active 30 days ago.
        let age = count("monban_signing_key_age_seconds", &[("alg", "RS256")]);
        let days = age / 86_400.0;
        assert!((29.9..30.5).contains(&days), "{days}");
        assert_eq!(count("monban_db_errors_total", &[]), 0.0);
        assert!(text.contains("# HELP monban_http_requests_total"));
        // Routes are labelled by their pattern, never by raw paths, and
        // methods from a fixed set.
        app.get("/no/such/page").await;
        app.get("/register/some-client-id").await;
        let odd = reqwest::Method::from_bytes(b"FROBNICATE").unwrap();
        app.http
            .request(odd, app.url("/forward_auth"))
            .send()
            .await
            .unwrap();
        let text = scrape(&app).await;
        assert!(!text.contains("some-client-id"), "{text}");
        assert!(!text.contains("FROBNICATE"), "{text}");
        assert!(
            sample(
                &text,
                "monban_http_requests_total",
                &[("route", "/forward_auth"), ("method", "other")]
            )
            .is_some(),
            "{text}"
        );
        assert!(
            sample(
                &text,
                "monban_http_requests_total",
                &[("route", "/register/{client_id}")]
            )
            .is_some()
        );
    }
);

#[tokio::test]
async fn metrics_listen_apart_and_logs_are_json_with_request_ids() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let (served, _dir) = Served::start(
        &db.url,
        &[
            ("MONBAN_METRICS_LISTEN", metrics.as_str()),
            ("MONBAN_LOG_FORMAT", "json"),
        ],
    );
    served.wait_ready().await;
    let http = reqwest::Client::new();
    let public = http
        .get(format!("http://127.0.0.1:{}/metrics", served.port))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "not on the public listener");
    // A refused request, under the caller's request id.
    let r = http
        .post(format!("http://127.0.0.1:{}/token", served.port))
        .header("x-request-id", "req-7f3a")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-request-id"], "req-7f3a");
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(
            &text,
            "monban_http_requests_total",
            &[("route", "/token"), ("status", "400")]
        ),
        Some(1.0),
        "{text}"
    );
    let (code, _, stderr) = served.stop();
    assert_eq!(code, 0);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let refused = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "req-7f3a" && l["message"] == "request refused")
        .unwrap_or_else(|| panic!("no log line with the request id in {stderr}"));
    assert_eq!(refused["span"]["path"], "/token");
    assert_eq!(refused["error"], "invalid_client");
}

/// A client_credentials request as if forwarded for `address`.
async fn token_via(
    app: &TestApp,
    client: &crate::helpers::TestClient,
    address: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("x-forwarded-for", address)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

db_test!(
    a_burst_past_the_limit_gets_429_with_retry_after,
    [("MONBAN_RATE_LIMIT_TOKEN", "3/min")],
    async |app: TestApp| {
        let service = app.service_client("").await;
        for _ in 0..3 {
            assert_eq!(app.token(&service, &[]).await.status(), 200);
        }
        let r = app.token(&service, &[]).await;
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=20).contains(&wait),
            "one interval of 20 s at most: {wait}"
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "too_many_requests");
        // X-Forwarded-For from a peer that is no trusted proxy changes nothing.
        let forged = token_via(&app, &service, "203.0.113.77").await;
        assert_eq!(forged.status(), 429);
        // Other limits are apart: introspection still answers.
        let other = app.service_client("").await;
        let r = app
            .post_basic("/introspect", &other, &[("token", "x")])
            .await;
        assert_eq!(r.status(), 200);
        let text = scrape(&app).await;
        assert_eq!(
            sample(&text, "monban_rate_limited_total", &[("limit", "token")]),
            Some(2.0)
        );
    }
);

db_test!(
    behind_a_trusted_proxy_addresses_and_clients_count_apart,
    [
        ("MONBAN_RATE_LIMIT_TOKEN", "2/min"),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| {
        let [a, b, c] = [
            app.service_client("").await,
            app.service_client("").await,
            app.service_client("").await,
        ];
        let status = async |client, address| token_via(&app, client, address).await.status();
        // Client a from three addresses: its own limit stops the third.
        assert_eq!(status(&a, "198.51.100.1").await, 200);
        assert_eq!(status(&a, "198.51.100.2").await, 200);
        assert_eq!(status(&a, "198.51.100.3").await, 429, "per client");
        // Address .3 has had one request: one more (b), then it is stopped
        // whatever the client.
        assert_eq!(status(&b, "198.51.100.3").await, 200);
        assert_eq!(status(&c, "198.51.100.3").await, 429, "per address");
        assert_eq!(status(&c, "198.51.100.4").await, 200, "another address");
        // A public client proves nothing: its client_id alone, sent from
        // many addresses, never exhausts a budget of its own.
        let spa = app.register(crate::browser::spa_settings()).await;
        for n in 10..14 {
            let r = app
                .http
                .post(app.url("/token"))
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", "x"),
                    ("client_id", spa.id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "invalid_grant, never 429");
        }
    }
);

db_test!(
    each_protected_endpoint_has_its_own_limit,
    [
        ("MONBAN_RATE_LIMIT_INTROSPECTION", "1/h"),
        ("MONBAN_RATE_LIMIT_REGISTRATION", "1/h"),
        ("MONBAN_RATE_LIMIT_DEVICE", "1/h"),
        ("MONBAN_RATE_LIMIT_LOGIN", "2/h"),
        ("MONBAN_RATE_LIMIT_TOKEN", "off")
    ],
    async |app: TestApp| {
        let service = app.service_client("").await;
        for _ in 0..2 {
            assert_eq!(app.token(&service, &[]).await.status(), 200, "off");
        }
        let introspect = async || {
            app.post_basic("/introspect", &service, &[("token", "x")])
                .await
                .status()
        };
        assert_eq!(introspect().await, 200);
        assert_eq!(introspect().await, 429);
        let register = async || {
            app.http
                .post(app.url("/register"))
                .json(&json!({"redirect_uris": ["https://a.example.com/cb"]}))
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(register().await, 401, "counted, then refused for no token");
        assert_eq!(register().await, 429);
        let device = async || {
            app.post_form("/device_authorization", &[("client_id", "nobody")])
                .await
                .status()
        };
        assert_eq!(device().await, 400);
        assert_eq!(device().await, 429);

        // The login page: showing it is free; the third post is refused,
        // on a page in the browser's language.
        app.user("alice", PASSWORD).await;
        let client = app.first_party_web_app().await;
        let browser = Browser::new();
        let login = browser.authorize(&app, &AuthRequest::new(&client)).await;
        for _ in 0..2 {
            let again = browser.submit_login(&app, &login, "alice", "wrong").await;
            assert_eq!(again.status(), 200);
        }
        assert!(
            browser
                .authorize(&app, &AuthRequest::new(&client))
                .await
                .is_login()
        );
        let form = [("rid", "x"), ("username", "alice"), ("password", PASSWORD)];
        let r = browser
            .http
            .post(app.url("/login"))
            .header("accept-language", "ja")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        assert!(r.text().await.unwrap().contains("リクエストが多すぎます"));
    }
);
