//! The database goes away and comes back: monban answers 503 with
//! `Retry-After` while it is gone (never a hang, never a 500), logs the
//! outage once, and serves again by itself when it is back, with what it
//! issued before still valid.
//!
//! While the database is gone, a request waits at most the pool's 5 s for
//! a connection, then answers 503.
//!
//! PostgreSQL: a cluster of the test's own (Debian's `initdb`/`pg_ctl`, a
//! free port, a temporary directory; never the machine's server), stopped
//! and started, then killed with SIGKILL (crash recovery). SQLite: another
//! process holding the write lock past the busy timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::{AuthRequest, Browser, WEB_APP_ARGS};
use crate::helpers::{Served, TestClient, cli_client, free_port, run_cli};
use crate::load::Load;

/// A PostgreSQL cluster of this test's own.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// `None` (the test says so and passes) without the server binaries,
    /// unless `MONBAN_TEST_REQUIRE_PG_CLUSTER` is set, as in CI.
    fn start() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut found: Vec<PathBuf> = versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .filter(|b| b.join("initdb").exists())
                    .collect();
                found.sort();
                found.pop()
            });
        let Some(bin) = bin else {
            assert!(
                std::env::var_os("MONBAN_TEST_REQUIRE_PG_CLUSTER").is_none(),
                "no PostgreSQL server binaries under /usr/lib/postgresql"
            );
            eprintln!("skipped: no initdb under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
        };
        // PostgreSQL refuses to run as root: as `postgres` then.
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// A clean shutdown (`pg_ctl stop -m fast`).
    fn stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// SIGKILL to the postmaster: the next start recovers from the WAL.
    fn kill(&self) {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().to_owned();
        let status = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(status.success());
        // The backends notice their postmaster is gone and exit.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let args = ["-D", data.to_str().unwrap(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A service client made with the CLI, issuing `format` tokens (a JWT
/// one may call the admin API).
fn service_client(url: &str, format: &str) -> TestClient {
    let scope = if format == "jwt" {
        "monban:admin"
    } else {
        "orders:read"
    };
    let out = run_cli(
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--scope",
            scope,
            "--token-format",
            format,
            "--json",
        ],
        &[("MONBAN_DATABASE_URL", url)],
        None,
    )
    .ok_json();
    TestClient {
        id: out["client_id"].as_str().unwrap().into(),
        secret: out["client_secret"].as_str().unwrap().into(),
    }
}

struct Server {
    served: Served,
    http: reqwest::Client,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.served.port)
    }

    async fn token(&self, client: &TestClient) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    async fn introspect(&self, client: &TestClient, token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/introspect"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }

    async fn status(&self, path: &str) -> u16 {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until `check` holds, for at most `seconds`.
    async fn within(&self, seconds: u64, what: &str, mut check: impl AsyncFnMut(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !check(self).await {
            assert!(Instant::now() < deadline, "{what} within {seconds} s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A 503 as the outage's: `Retry-After`, the JSON code, answered in time.
async fn assert_unavailable(response: reqwest::Response, started: Instant, what: &str) {
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{what}: answered after {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 503, "{what}");
    assert_eq!(response.headers()["retry-after"], "5", "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
}

/// One outage of `cluster` (`down` takes it away), seen from `server`.
/// Who else asks during an outage: a browser signed in to `web`, and an
/// admin API caller.
struct People<'a> {
    browser: &'a Browser,
    web: &'a TestClient,
    admin_token: &'a str,
}

async fn outage(
    server: &Server,
    cluster: &Cluster,
    client: &TestClient,
    people: &People<'_>,
    down: impl Fn(&Cluster),
) {
    let admin_token = people.admin_token;
    let before = server.token(client).await;
    assert_eq!(before.status(), 200);
    let issued: Value = before.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .introspect(client, &token)
            .await
            .json::<Value>()
            .await
            .unwrap()["active"],
        true
    );

    // The account page's client, in the client cache.
    let account = server
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap();
    let location = account.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        server
            .http
            .get(server.url(&location))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The web app's client, in the client cache.
    let request = AuthRequest::new(people.web);
    let sso = people.browser.authorize(&server.served, &request).await;
    assert!(sso.redirect_params().contains_key("code"), "{sso:?}");
    down(cluster);
    // RFC 6749 §4.1.2.1: the client is trusted, so it hears of the outage
    // (the session could not be read), and may try again.
    let told = people.browser.authorize(&server.served, &request).await;
    let params = told.redirect_params();
    assert_eq!(params["error"], "temporarily_unavailable", "{told:?}");
    assert_eq!(params["state"], request.state);
    // The login page it leads to cannot keep its session: the "try again"
    // page, not the session layer's bare 500.
    let started = Instant::now();
    let login = server.http.get(server.url(&location)).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(login.status(), 503, "{login:?}");
    assert_eq!(login.headers()["retry-after"], "5");
    // Issuing and introspecting need the database (opaque tokens): 503,
    // promptly; liveness stays, readiness goes.
    let started = Instant::now();
    assert_unavailable(server.token(client).await, started, "token").await;
    let started = Instant::now();
    let introspected = server.introspect(client, &token).await;
    assert_unavailable(introspected, started, "introspection").await;
    assert_eq!(server.status("/healthz").await, 200);
    assert_eq!(server.status("/readyz").await, 503);
    // The admin API, and a page, the same way (a page in the browser's
    // language, not JSON).
    let started = Instant::now();
    let admin = server
        .http
        .get(server.url("/admin/api/v1/users"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    assert_unavailable(admin, started, "admin API").await;
    let page = server
        .http
        .get(server.url("/account"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    let page = server
        .http
        .get(server.url(&location))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503, "{page:?}");
    assert_eq!(page.headers()["retry-after"], "5");
    let text = page.text().await.unwrap();
    assert!(
        text.contains("サインインを一時的に利用できません"),
        "{text}"
    );

    cluster.pg_ctl_start();
    // Back by itself, within 5 s of the database, with what it issued.
    server
        .within(5, "serving again", async |s| {
            s.token(client).await.status() == 200
        })
        .await;
    let again: Value = server
        .introspect(client, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["active"], true, "the token issued before: {again}");
    assert_eq!(server.status("/readyz").await, 200);
    // The outage is over (logged) once 5 s passed without an error.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(server.status("/readyz").await, 200);
}

#[tokio::test]
async fn a_postgres_outage_is_503_then_monban_recovers_by_itself() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.url();
    let client = service_client(&url, "opaque");
    let admin = service_client(&url, "jwt");
    let web = cli_client(&url, WEB_APP_ARGS);
    let (served, _dir) = Served::start(
        &url,
        &[
            ("MONBAN_ADMIN_PASSWORD", "an admin password"),
            // The load comes from one address.
            ("MONBAN_RATE_LIMIT_TOKEN", "off"),
            ("MONBAN_RATE_LIMIT_INTROSPECTION", "off"),
            ("MONBAN_RATE_LIMIT_REGISTRATION", "off"),
            ("MONBAN_OPEN_REGISTRATION", "true"),
        ],
    );
    served.wait_ready().await;
    let server = Server {
        served,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let admin: Value = server.token(&admin).await.json().await.unwrap();
    let admin_token = admin["access_token"].as_str().unwrap().to_owned();
    let browser = Browser::new();
    let signed_in = browser
        .sign_in(
            &server.served,
            &AuthRequest::new(&web),
            "admin",
            "an admin password",
        )
        .await;
    assert!(signed_in.contains_key("code"), "{signed_in:?}");
    let people = People {
        browser: &browser,
        web: &web,
        admin_token: &admin_token,
    };
    // A bounded write load all along: refreshes, codes, tokens, registrations.
    let load = Load::new(
        server.url(""),
        web.clone(),
        client.clone(),
        browser.session_cookie(&server.served).unwrap(),
        Duration::from_millis(25),
    );
    let mut tasks = tokio::task::JoinSet::new();
    load.start(&mut tasks);
    outage(&server, &cluster, &client, &people, Cluster::stop).await;
    // A crash of the database's server: recovery from its WAL, the same.
    outage(&server, &cluster, &client, &people, Cluster::kill).await;
    load.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    while let Some(ended) = tasks.join_next().await {
        // A refresh refused after a 503 (its token lost) fails here.
        ended.unwrap();
    }
    everything_answered_is_there(&load).await;

    let (_, _, log) = server.served.stop();
    // Each outage is said once, and its end; no request logged a failure.
    assert_eq!(
        log.matches("database unavailable: answering 503").count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("database reachable again").count(), 2, "{log}");
    assert!(!log.contains("internal error"), "{log}");
    assert!(!log.contains("failed to save session"), "said once: {log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// After the load: every token answered 200 introspects, every
/// registration answered 201 is there, and each refresh token last
/// answered works once while the one it replaced does not (each refresh
/// rotated completely or not at all).
async fn everything_answered_is_there(load: &Load) {
    let answered = load.answered.lock().await;
    let unavailable = load.unavailable.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        answered.rotations > 10 && answered.access_tokens.len() > 10 && unavailable > 0,
        "the load ran through the outages: {} rotations, {} tokens, {unavailable} answered 503",
        answered.rotations,
        answered.access_tokens.len()
    );
    load.check_answered(&answered, "after the outages").await;
    for (current, before) in answered.refresh_tokens.iter().zip(&answered.rotated) {
        assert_eq!(
            load.refresh(current).await,
            200,
            "the refresh token last answered works"
        );
        if let Some(before) = before {
            assert_eq!(
                load.refresh(before).await,
                400,
                "the one it replaced does not"
            );
        }
    }
}

/// monban serving a new SQLite database in `dir`, with a service client
/// of opaque tokens (each token a write).
async fn serving_sqlite(dir: &Path) -> (Server, TestClient, String, tempfile::TempDir) {
    let url = format!("sqlite://{}/monban.db", dir.display());
    let client = service_client(&url, "opaque");
    let (served, cwd) = Served::start(&url, &[("MONBAN_ADMIN_PASSWORD", "an admin password")]);
    served.wait_ready().await;
    let server = Server {
        served,
        http: reqwest::Client::new(),
    };
    (server, client, url, cwd)
}

#[tokio::test]
async fn a_locked_sqlite_database_is_503_after_the_busy_timeout() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (server, client, url, _cwd) = serving_sqlite(dir.path()).await;
    assert_eq!(server.token(&client).await.status(), 200);

    // Another process's write transaction (a backup, a CLI command).
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let locked = server.token(&client).await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "waited for the busy timeout first: {:?}",
        started.elapsed()
    );
    assert_unavailable(locked, started, "token while locked").await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();

    assert_eq!(server.token(&client).await.status(), 200, "free again");
    let (_, _, log) = server.served.stop();
    assert!(!log.contains("internal error"), "{log}");
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_by_starting_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, url, _cwd) = serving_sqlite(dir.path()).await;
    let issued: Value = server.token(&client).await.json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();

    // Online: the server keeps serving while the copy is made.
    let copy = dir.path().join("copy.db");
    let env = [("MONBAN_DATABASE_URL", url.as_str())];
    let backup = run_cli(&["backup", copy.to_str().unwrap(), "--json"], &env, None).ok_json();
    assert!(backup["bytes"].as_u64().unwrap() > 0, "{backup}");
    assert_eq!(server.token(&client).await.status(), 200);
    // Its owner's only (it holds password hashes and sealed keys).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Never over an existing file, never into SQLite's in-memory or URI
    // names, never from a database that does not exist.
    let again = run_cli(&["backup", copy.to_str().unwrap()], &env, None);
    assert_eq!(again.code, 2, "{}", again.stderr);
    for name in [":memory:", "file:x?mode=memory"] {
        let odd = run_cli(&["backup", name], &env, None);
        assert_eq!(odd.code, 2, "{name}: {}", odd.stderr);
    }
    let missing = format!("sqlite://{}/nope.db", dir.path().display());
    let nothing = dir.path().join("from-nothing.db");
    let out = run_cli(
        &["backup", nothing.to_str().unwrap()],
        &[("MONBAN_DATABASE_URL", missing.as_str())],
        None,
    );
    assert_ne!(out.code, 0);
    assert!(!dir.path().join("nope.db").exists(), "no database made up");
    assert!(!nothing.exists());

    // Restore = start on the copy: its clients, keys and tokens are there.
    let restored_url = format!("sqlite://{}", copy.display());
    let (restored, _cwd2) = Served::start(&restored_url, &[]);
    restored.wait_ready().await;
    let restored = Server {
        served: restored,
        http: reqwest::Client::new(),
    };
    let seen: Value = restored
        .introspect(&client, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(restored.token(&client).await.status(), 200);
}

#[tokio::test]
async fn backup_points_postgres_to_its_own_tools() {
    let Some(db) = crate::helpers::TestDatabase::create(crate::helpers::Backend::Postgres).await
    else {
        return;
    };
    let out = run_cli(
        &["backup", "/tmp/never-written.db"],
        &[("MONBAN_DATABASE_URL", &db.url)],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("pg_dump"), "{}", out.stderr);
    assert!(!Path::new("/tmp/never-written.db").exists());
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop; None
/// where this process may not mount (not root, or no CAP_SYS_ADMIN).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The last bytes fit in a smaller write.
        while file.write(&[0u8; 512]).is_ok_and(|n| n > 0) {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_503_and_writes_come_back_when_space_does() {
    let Some(disk) = SmallDisk::mount("16m") else {
        assert!(
            std::env::var_os("MONBAN_TEST_REQUIRE_PG_CLUSTER").is_none(),
            "cannot mount a tmpfs for the disk-full test"
        );
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let (server, client, url, _cwd) = serving_sqlite(disk.dir.path()).await;
    let before: Value = server.token(&client).await.json().await.unwrap();
    let token = before["access_token"].as_str().unwrap().to_owned();

    let filler = disk.fill();
    // Writes fail with SQLITE_FULL: 503, at once (no busy wait).
    let mut refused = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let r = server.token(&client).await;
        if r.status() == 200 {
            // What was free in the WAL still took a few writes.
            continue;
        }
        assert_unavailable(r, started, "token on a full disk").await;
        refused += 1;
    }
    assert!(
        refused >= 10,
        "a full disk refuses writes ({refused} of 20)"
    );
    // Reads still work.
    let seen: Value = server
        .introspect(&client, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], true, "{seen}");

    std::fs::remove_file(&filler).unwrap();
    server
        .within(5, "writes again once there is space", async |s| {
            s.token(&client).await.status() == 200
        })
        .await;
    let (_, _, log) = server.served.stop();
    assert!(!log.contains("internal error"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let said = log.matches("database unavailable").count();
    assert!(
        (1..=3).contains(&said),
        "the log says it once (or a few times), not per request: {said}\n{log}"
    );

    // Nothing was corrupted.
    use sqlx::Connection;
    let mut check = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut check)
        .await
        .unwrap();
    assert_eq!(result, "ok");
}
