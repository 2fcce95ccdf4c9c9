//! The server's CPU per sign-in: a password beside a passkey alone
//! (WebAuthn, a software authenticator nobody here wrote). Starts the
//! release binary (`target/release/monban`, or `MONBAN_BIN`) on a fresh
//! SQLite database with the default configuration (rate limits off for the
//! one load address), signs a user in `ROUNDS` times each way through the
//! real pages, and reads the server's utime+stime from /proc/PID/stat.
//! Run with `bench/sign-in.sh` (it builds the release binary first).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

/// A password sign-in costs an argon2id verification; a passkey's, a
/// P-256 signature check: more rounds for the cheaper one (CPU time is
/// counted in 10 ms ticks).
const PASSWORD_ROUNDS: usize = 40;
const PASSKEY_ROUNDS: usize = 400;
const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://localhost/cb";

struct Server {
    child: Child,
    origin: String,
    env: Vec<(String, String)>,
    bin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "monban {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The server's CPU seconds so far (utime + stime).
    fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields[i].parse::<f64>().unwrap();
        (ticks(11) + ticks(12)) / 100.0
    }
}

fn start(dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://localhost:{port}");
    let db = dir.join("bench.db");
    let mut env = vec![
        ("MONBAN_ISSUER".to_owned(), origin.clone()),
        ("MONBAN_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        (
            "MONBAN_DATABASE_URL".to_owned(),
            format!("sqlite://{}", db.display()),
        ),
        ("MONBAN_ADMIN_PASSWORD".to_owned(), PASSWORD.to_owned()),
        ("MONBAN_LOG".to_owned(), "warn".to_owned()),
    ];
    for limit in ["LOGIN", "AUTHORIZE", "TOKEN"] {
        env.push((format!("MONBAN_RATE_LIMIT_{limit}"), "off".to_owned()));
    }
    let bin = std::env::var("MONBAN_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/monban").to_owned()
    });
    let child = Command::new(&bin)
        .arg("serve")
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (build it: cargo build --release)"));
    let server = Server {
        child,
        origin,
        env,
        bin,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// A browser: its own cookies, redirects followed within monban.
struct Browser {
    http: reqwest::Client,
    origin: String,
}

impl Browser {
    fn new(origin: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: origin.to_owned(),
        }
    }

    /// Follows redirects on monban; the page's body, or the redirect out.
    async fn follow(&self, mut r: reqwest::Response) -> Result<String, String> {
        loop {
            let Some(location) = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
            else {
                return Ok(r.text().await.unwrap());
            };
            let next = if location.starts_with('/') {
                format!("{}{location}", self.origin)
            } else {
                location
            };
            if !next.starts_with(&self.origin) {
                return Err(next);
            }
            r = self.http.get(&next).send().await.unwrap();
        }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}{path}", self.origin);
        self.http.post(url).form(form).send().await.unwrap()
    }
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

fn authorize_url(origin: &str, client_id: &str) -> String {
    let mut url = Url::parse(&format!("{origin}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair(
            "code_challenge",
            &monban::pkce::s256(&monban::pkce::new_verifier()),
        )
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// The login page of a new authorization request in a new browser.
async fn login_page(origin: &str, client_id: &str) -> (Browser, String) {
    let browser = Browser::new(origin);
    let r = browser
        .http
        .get(authorize_url(origin, client_id))
        .send()
        .await
        .unwrap();
    let page = browser.follow(r).await.unwrap();
    (browser, page)
}

async fn password_sign_in(origin: &str, client_id: &str) {
    let (browser, page) = login_page(origin, client_id).await;
    let (csrf, rid) = (hidden(&page, "csrf"), hidden(&page, "rid"));
    let form = [
        ("csrf", csrf.as_str()),
        ("rid", &rid),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let done = browser.follow(browser.post("/login", &form).await).await;
    assert!(
        done.is_err_and(|to| to.contains("code=")),
        "a password sign-in ends at the app"
    );
}

async fn passkey_sign_in(
    origin: &str,
    client_id: &str,
    key: &mut SoftPasskey,
    user: &[u8],
    allow: &Value,
) {
    let (browser, page) = login_page(origin, client_id).await;
    let (csrf, rid) = (hidden(&page, "csrf"), hidden(&page, "rid"));
    let r = browser
        .post("/login/passkey/options", &[("csrf", &csrf), ("rid", &rid)])
        .await;
    let mut options: Value = r.json().await.unwrap();
    // The soft authenticator keeps no resident credential: it is named.
    options["publicKey"]["allowCredentials"] = allow.clone();
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let mut credential: PublicKeyCredential = key
        .do_authentication(Url::parse(origin).unwrap(), options)
        .unwrap();
    credential.response.user_handle = Some(user.to_vec());
    let credential = serde_json::to_string(&credential).unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("rid", &rid),
        ("credential", &credential),
    ];
    let done = browser
        .follow(browser.post("/login/passkey", &form).await)
        .await;
    assert!(
        done.is_err_and(|to| to.contains("code=")),
        "a passkey sign-in ends at the app"
    );
}

/// Adds a passkey to alice's account; its credential id (as
/// `allowCredentials`) and her user handle.
async fn add_passkey(origin: &str, key: &mut SoftPasskey) -> (Value, Vec<u8>) {
    let browser = Browser::new(origin);
    let page = browser
        .follow(
            browser
                .http
                .get(format!("{origin}/account"))
                .send()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    let (csrf, rid) = (hidden(&page, "csrf"), hidden(&page, "rid"));
    let form = [
        ("csrf", csrf.as_str()),
        ("rid", &rid),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let page = browser
        .follow(browser.post("/login", &form).await)
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let r = browser
        .post(
            "/account/passkeys/options",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    let mut options: Value = r.json().await.unwrap();
    let user = options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    selection["requireResidentKey"] = json!(false);
    selection["residentKey"] = json!("discouraged");
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let credential = key
        .do_registration(Url::parse(origin).unwrap(), options)
        .unwrap();
    let id = credential.id.clone();
    let credential = serde_json::to_string(&credential).unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "bench"),
        ("credential", &credential),
    ];
    browser
        .follow(browser.post("/account/passkeys", &form).await)
        .await
        .unwrap();
    use base64::Engine;
    let user = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(user)
        .unwrap();
    (json!([{"type": "public-key", "id": id}]), user)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    server.cli(
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let client = server.cli(
        &[
            "client",
            "create",
            "--name",
            "bench",
            "--first-party",
            "--public",
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        None,
    );
    let client: Value = serde_json::from_str(&client).unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let origin = server.origin.clone();

    // Warm up the password path first: alice has no second factor yet.
    for _ in 0..3 {
        password_sign_in(&origin, &client_id).await;
    }
    let cpu = server.cpu();
    for _ in 0..PASSWORD_ROUNDS {
        password_sign_in(&origin, &client_id).await;
    }
    let password = (server.cpu() - cpu) / PASSWORD_ROUNDS as f64;

    let mut key = SoftPasskey::new(true);
    let (allow, user) = add_passkey(&origin, &mut key).await;
    for _ in 0..3 {
        passkey_sign_in(&origin, &client_id, &mut key, &user, &allow).await;
    }
    let cpu = server.cpu();
    for _ in 0..PASSKEY_ROUNDS {
        passkey_sign_in(&origin, &client_id, &mut key, &user, &allow).await;
    }
    let passkey = (server.cpu() - cpu) / PASSKEY_ROUNDS as f64;

    println!(
        "server CPU per sign-in ({PASSWORD_ROUNDS} with a password, {PASSKEY_ROUNDS} with a passkey; \
         through the pages, to the code):"
    );
    println!("  password (argon2id):   {:8.2} ms", password * 1000.0);
    println!("  passkey alone (P-256): {:8.2} ms", passkey * 1000.0);
    println!("  ratio passkey / password: {:.3}", passkey / password);
}
