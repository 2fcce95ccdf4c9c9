//! Test harness: spawns the real server on 127.0.0.1:0 over a fresh SQLite
//! file or a fresh PostgreSQL database (when `TEST_POSTGRES_URL` is set) and
//! talks to it over HTTP. Every `db_test!` runs once per backend.

use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use monban::clients::{self, ClientSettings};
use monban::config::{Config, Sources};
use monban::state::App;
use monban::store::{self, Db, keys::KeyRow};
use monban::types::{
    ApplicationType, AuthMethod, ClientType, GrantType, KeyState, Scopes, SigningAlg, TokenFormat,
};
use serde_json::Value;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body against a fresh server on SQLite and on PostgreSQL:
/// `db_test!(name, async |app: TestApp| { … });` or with extra settings
/// `db_test!(name, [("MONBAN_X", "v")], async |app: TestApp| { … });`.
#[macro_export]
macro_rules! db_test {
    ($name:ident, $body:expr) => {
        $crate::db_test!($name, [], $body);
    };
    ($name:ident, [$(($k:expr, $v:expr)),* $(,)?], $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn(
                    $crate::helpers::Backend::Sqlite,
                    &[$(($k, $v)),*],
                ).await.expect("sqlite always runs");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::helpers::TestApp::spawn(
                    $crate::helpers::Backend::Postgres,
                    &[$(($k, $v)),*],
                ).await else {
                    eprintln!("skipped: set TEST_POSTGRES_URL to run on PostgreSQL");
                    return;
                };
                ($body)(app).await;
            }
        }
    };
}

/// Where a server answers: the in-process test server, or a `monban serve`
/// process.
pub trait Site {
    /// The absolute URL of an endpoint path (below the issuer).
    fn url(&self, path: &str) -> String;
    /// An URL at the origin, outside the issuer path.
    fn root_url(&self, path: &str) -> String;
}

impl Site for TestApp {
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }

    fn root_url(&self, path: &str) -> String {
        TestApp::root_url(self, path)
    }
}

impl Site for Served {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn root_url(&self, path: &str) -> String {
        Site::url(self, path)
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The issuer, e.g. `http://127.0.0.1:41234` (plus a path if configured).
    pub issuer: String,
    pub http: reqwest::Client,
    pub db: Db,
    pub app: Arc<App>,
    pub backend: Backend,
    /// The settings the server runs with; CLI runs get the same.
    pub settings: Vec<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

impl TestApp {
    /// `settings` are `MONBAN_*` pairs; `MONBAN_ISSUER` may be given as a
    /// path (e.g. "/auth") to put under the ephemeral origin.
    pub async fn spawn(backend: Backend, settings: &[(&str, &str)]) -> Option<TestApp> {
        let database = TestDatabase::create(backend).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer_path = settings
            .iter()
            .find(|(k, _)| *k == "MONBAN_ISSUER")
            .map_or("", |(_, v)| *v);
        // `TEST_ISSUER_HOST`: a name for the loopback address in the issuer
        // (passkeys need a domain name: `localhost`).
        let host = settings
            .iter()
            .find(|(k, _)| *k == "TEST_ISSUER_HOST")
            .map_or_else(|| addr.ip().to_string(), |(_, v)| (*v).to_owned());
        let issuer = format!("http://{host}:{}{issuer_path}", addr.port());
        let mut pairs: Vec<(&str, &str)> = settings
            .iter()
            .copied()
            .filter(|(k, _)| *k != "MONBAN_ISSUER" && *k != "TEST_ISSUER_HOST")
            .collect();
        pairs.push(("MONBAN_ISSUER", &issuer));
        pairs.push(("MONBAN_DATABASE_URL", &database.url));
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let config = Config::from_sources(Sources::from_pairs(pairs)).unwrap();

        monban::crypto::install();
        let db = monban::server::connect(&config).await.unwrap();
        // Keys made once per test process: generating RSA keys per test
        // would dominate the run time. The server takes them as it would
        // take keys another instance created.
        let algs = monban::keys::required_algs(config.signing_alg);
        for alg in algs {
            assert!(
                store::keys::insert_all(&db, &fixture_keys(alg))
                    .await
                    .unwrap()
            );
        }
        let (app, _) = monban::server::prepare(config, db.clone()).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(monban::server::serve(Arc::clone(&app), listener, async {
            let _ = rx.await;
        }));
        // A made-up issuer host (`auth.monban.test`) is this server.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, addr)
            .build()
            .unwrap();
        Some(TestApp {
            addr,
            issuer,
            http,
            db,
            app,
            backend,
            settings: owned,
            shutdown: Some(tx),
            _database: database,
        })
    }

    /// The absolute URL of an endpoint path (below the issuer).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// An URL at the origin, outside the issuer path.
    pub fn root_url(&self, path: &str) -> String {
        let origin = url::Url::parse(&self.issuer).unwrap().origin();
        format!("{}{}", origin.ascii_serialization(), path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// POSTs a form without client authentication headers.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form with `Authorization: Basic` for the client.
    pub async fn post_basic(
        &self,
        path: &str,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form))
            .send()
            .await
            .unwrap()
    }

    /// A client_credentials token response for the client (any status).
    pub async fn token(&self, client: &TestClient, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.post_basic("/token", client, &form).await
    }

    /// A successful client_credentials token response body.
    pub async fn access_token(&self, client: &TestClient, extra: &[(&str, &str)]) -> Value {
        let r = self.token(client, extra).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Value {
        let r = self
            .post_basic("/introspect", caller, &[("token", token)])
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Registers a confidential service client (client_credentials,
    /// client_secret_basic) with these scopes.
    pub async fn service_client(&self, scopes: &str) -> TestClient {
        self.register(ClientSettings {
            scopes: Scopes::parse(scopes).unwrap(),
            ..service_settings()
        })
        .await
    }

    /// An access token of a fresh service client with `monban:admin`, for
    /// the admin API.
    pub async fn admin_token(&self) -> String {
        let admin = self.service_client("monban:admin").await;
        let body = self.access_token(&admin, &[]).await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers a client with the given settings, as the CLI would.
    pub async fn register(&self, settings: ClientSettings) -> TestClient {
        settings.validate().unwrap();
        let (client, secret) = clients::new_client(settings, monban::unix_now());
        store::clients::insert(&self.db, &client).await.unwrap();
        TestClient {
            id: client.client_id,
            secret: secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        }
    }

    /// Creates a user with this password (hashed as the CLI would).
    pub async fn user(&self, username: &str, password: &str) -> uuid::Uuid {
        let hash = monban::password::Passwords::new(1)
            .hash(&monban::types::Secret::new(password.to_owned()))
            .await
            .unwrap();
        let email = format!("{username}@example.com");
        let new = store::users::NewUser {
            username,
            email: Some(&email),
            name: Some("Some One"),
            password_hash: &hash,
        };
        store::users::insert(&self.db, &new, monban::unix_now())
            .await
            .unwrap()
            .id
    }

    /// The audit events of one kind (e.g. `login.failed`), newest first.
    pub async fn audit(&self, kind: &str) -> Vec<Value> {
        let filter = store::audit::Filter {
            kind: Some(kind.to_owned()),
            ..Default::default()
        };
        store::audit::list(&self.db, &filter, 1000)
            .await
            .unwrap()
            .iter()
            .map(|row| serde_json::to_value(row).unwrap())
            .collect()
    }

    /// Runs one SQL statement on the test's database (to age rows, say).
    pub async fn execute(&self, sql: &'static str) {
        match &self.db {
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
        }
        .unwrap();
    }

    /// Rows in a table, to show that a refused request changed nothing.
    pub async fn count(&self, table: &'static str) -> i64 {
        let sql = match table {
            "access_tokens" => "SELECT COUNT(*) FROM access_tokens",
            "clients" => "SELECT COUNT(*) FROM clients",
            "revoked_jtis" => "SELECT COUNT(*) FROM revoked_jtis",
            "users" => "SELECT COUNT(*) FROM users",
            "signing_keys" => "SELECT COUNT(*) FROM signing_keys",
            "sessions" => "SELECT COUNT(*) FROM sessions WHERE sid IS NOT NULL",
            "refresh_tokens" => "SELECT COUNT(*) FROM refresh_tokens",
            "client_assertions" => "SELECT COUNT(*) FROM client_assertions",
            "pushed_requests" => "SELECT COUNT(*) FROM pushed_requests",
            other => panic!("no count for {other}"),
        };
        match &self.db {
            Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    /// Runs the real `monban` binary against this test's database, in an
    /// empty directory (no stray .env or monban.toml).
    pub fn cli(&self, args: &[&str]) -> CliRun {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliRun {
        let env: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run_cli(args, &env, stdin)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits until `check` holds, which a running server must reach within the
/// client cache's lifetime (changes made by the CLI are seen that late at
/// most). Panics, naming `what`, if it does not.
pub async fn within_client_cache_ttl(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline =
        std::time::Instant::now() + monban::client_cache::TTL + std::time::Duration::from_secs(1);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not seen within the client cache TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Stores a refresh token of `family` for the client, as the
/// authorization-code grant will; returns its value.
pub async fn insert_refresh_token(
    app: &TestApp,
    client: &TestClient,
    family: uuid::Uuid,
    scope: &str,
) -> String {
    let now = monban::unix_now();
    let (token, hash) = monban::tokens::random_secret();
    store::tokens::insert_refresh(
        &app.db,
        &store::tokens::RefreshToken {
            token_hash: hash,
            family_id: family,
            parent_hash: None,
            client_id: client.id.clone(),
            user_id: None,
            scope: scope.to_owned(),
            audiences: sqlx::types::Json(vec![app.issuer.clone()]),
            issued_at: now,
            expires_at: now + 3600,
            rotated_at: None,
            revoked_at: None,
            sid: None,
            offline: true,
            auth_time: None,
            acr: None,
            amr: None,
        },
    )
    .await
    .unwrap();
    token.expose().to_owned()
}

/// Whether `password` is the user's password, checked against the stored
/// argon2id hash.
pub async fn password_matches(db: &Db, user_id: uuid::Uuid, password: &str) -> bool {
    let hash = store::users::password_hash(db, user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    monban::password::Passwords::new(1)
        .verify(&monban::types::Secret::new(password.to_owned()), hash)
        .await
        .unwrap()
}

/// The JWT with one character of its signature changed (in the middle,
/// where every bit counts).
pub fn tamper_signature(jwt: &str) -> String {
    let sig_start = jwt.rfind('.').unwrap() + 1;
    let middle = sig_start + (jwt.len() - sig_start) / 2;
    let mut bytes = jwt.as_bytes().to_vec();
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Settings of a typical confidential service client.
pub fn service_settings() -> ClientSettings {
    ClientSettings {
        name: "Test service".into(),
        client_type: ClientType::Confidential,
        application_type: ApplicationType::Web,
        first_party: false,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Scopes::default(),
        audiences: vec![],
        auth_method: AuthMethod::ClientSecretBasic,
        access_token_format: None::<TokenFormat>,
        jwks: None,
        jwks_uri: None,
        require_par: false,
        require_mfa: false,
        backchannel_logout_uri: None,
    }
}

#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

pub fn encode_form(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One RSA/EC/Ed25519 active + next pair per algorithm per test process.
fn fixture_keys(alg: SigningAlg) -> Vec<KeyRow> {
    static RS256: OnceLock<Vec<KeyRow>> = OnceLock::new();
    static ES256: OnceLock<Vec<KeyRow>> = OnceLock::new();
    static EDDSA: OnceLock<Vec<KeyRow>> = OnceLock::new();
    let cell = match alg {
        SigningAlg::RS256 => &RS256,
        SigningAlg::ES256 => &ES256,
        SigningAlg::EdDSA => &EDDSA,
    };
    cell.get_or_init(|| {
        // Created "long ago", so that rotation is not refused in tests that
        // are not about the JWKS max-age.
        let then = monban::unix_now() - 30 * 86_400;
        vec![
            monban::keys::generate(alg, KeyState::Active, then).unwrap(),
            monban::keys::generate(alg, KeyState::Next, then).unwrap(),
        ]
    })
    .clone()
}

/// A database for one test, removed when the test ends.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("monban.db").display());
                Some(TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_POSTGRES_URL").ok()?;
                let name = format!("monban_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&name);
                Some(TestDatabase {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: do the async work on a thread
        // of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// The outcome of a CLI run.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok_json(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.json()
    }

    /// The `{"error": …}` line a failed `--json` command writes to stderr.
    pub fn error(&self) -> String {
        let v: Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON line ({e}): {}", self.stderr));
        v["error"].as_str().unwrap().to_owned()
    }
}

/// Runs the `monban` binary with exactly these `MONBAN_*` settings, in an
/// empty temporary directory.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CliRun {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_monban"));
    cmd.args(args).current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("MONBAN_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    CliRun {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `monban user create` of `username` with `password`, on the database at `url`.
pub fn cli_user(url: &str, username: &str, password: &str) {
    let args = [
        "user",
        "create",
        "--username",
        username,
        "--password-stdin",
        "--json",
    ];
    let stdin = format!("{password}\n");
    run_cli(&args, &[("MONBAN_DATABASE_URL", url)], Some(&stdin)).ok_json();
}

/// `monban client create ARGS…` on the database at `url`.
pub fn cli_client(url: &str, args: &[&str]) -> TestClient {
    let mut all = vec!["client", "create", "--json"];
    all.extend_from_slice(args);
    let made = run_cli(&all, &[("MONBAN_DATABASE_URL", url)], None).ok_json();
    TestClient {
        id: made["client_id"].as_str().unwrap().into(),
        secret: made["client_secret"].as_str().unwrap_or_default().into(),
    }
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `monban serve` as a child process, killed on drop. Its output is read
/// as it comes (a full pipe would stall a busy server).
pub struct Served {
    child: Option<Child>,
    output: Option<(Drain, Drain)>,
    pub port: u16,
}

type Drain = std::thread::JoinHandle<String>;

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> Drain {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Served {
    pub fn start(database_url: &str, extra: &[(&str, &str)]) -> (Served, tempfile::TempDir) {
        Served::start_on(free_port(), database_url, extra)
    }

    /// Started on `port` (and with the issuer there), e.g. to restart a
    /// server where its clients knew it.
    pub fn start_on(
        port: u16,
        database_url: &str,
        extra: &[(&str, &str)],
    ) -> (Served, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_monban"));
        cmd.arg("serve").current_dir(dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("MONBAN_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("MONBAN_DATABASE_URL", database_url)
            .env("MONBAN_LISTEN", &listen)
            .env("MONBAN_ISSUER", format!("http://127.0.0.1:{port}"))
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let output = (
            drain(child.stdout.take().unwrap()),
            drain(child.stderr.take().unwrap()),
        );
        (
            Served {
                child: Some(child),
                output: Some(output),
                port,
            },
            dir,
        )
    }

    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a signal (e.g. `HUP`) to the server.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().unwrap();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status and everything printed.
    pub fn stop(self) -> (i32, String, String) {
        self.signal("TERM");
        self.exited_within(Duration::from_secs(60))
    }

    /// Waits for the process to end by itself, for at most `limit`; then
    /// the exit status (-1 for a signal) and everything printed.
    pub fn exited_within(mut self, limit: Duration) -> (i32, String, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let (_, stderr) = self.output();
                panic!("monban still running after {limit:?}: {stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output();
        (status.code().unwrap_or(-1), stdout, stderr)
    }

    fn output(&mut self) -> (String, String) {
        let (stdout, stderr) = self.output.take().unwrap();
        (stdout.join().unwrap(), stderr.join().unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
