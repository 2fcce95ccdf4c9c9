//! Real gateways in front of an upstream that echoes what it receives:
//! Debian's nginx (`auth_request`) and Caddy (`forward_auth`), running the
//! very configurations `docs/gateways/` shows (only the three addresses
//! swapped for ephemeral ports). Opaque token in → the upstream gets a JWT
//! that verifies against the JWKS; revoked → 401; policy says no → 403.
//!
//! Skipped when the gateway is not installed, unless
//! `MONBAN_TEST_REQUIRE_GATEWAYS=1` (as in CI).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::db_test;
use crate::forward_auth::{POLICY, opaque_service, opaque_token};
use crate::helpers::{TestApp, free_port};
use crate::token::verify_with_jwks;

/// The addresses the documented configurations use.
const DOC_GATEWAY: &str = "127.0.0.1:8000";
const DOC_MONBAN: &str = "127.0.0.1:8080";
const DOC_UPSTREAM: &str = "127.0.0.1:3000";

#[derive(Clone, Copy)]
pub enum Gateway {
    Nginx,
    Caddy,
}

/// A gateway process, killed on drop.
pub struct Running {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    pub fn binary(self) -> &'static str {
        match self {
            Gateway::Nginx => "nginx",
            Gateway::Caddy => "caddy",
        }
    }

    fn documented_config(self) -> String {
        let file = match self {
            Gateway::Nginx => "nginx.conf",
            Gateway::Caddy => "Caddyfile",
        };
        documented(file)
    }

    pub fn installed(self) -> bool {
        let version = match self {
            Gateway::Nginx => "-v",
            Gateway::Caddy => "version",
        };
        let found = Command::new(self.binary())
            .arg(version)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var("MONBAN_TEST_REQUIRE_GATEWAYS").as_deref() != Ok("1"),
                "{} is not installed (apt-get install nginx caddy)",
                self.binary()
            );
            eprintln!("skipped: {} is not installed", self.binary());
        }
        found
    }

    /// Starts the documented configuration with monban and the upstream at
    /// their real addresses, and waits until it answers.
    async fn start(self, monban: &str, upstream: &str) -> Running {
        let addr = format!("127.0.0.1:{}", free_port());
        let config = self
            .documented_config()
            .replace(DOC_GATEWAY, &addr)
            .replace(DOC_MONBAN, monban)
            .replace(DOC_UPSTREAM, upstream);
        self.run(config, addr).await
    }

    /// Runs `config` (a site's configuration), listening on `addr`, and
    /// waits until it answers.
    pub async fn run(self, config: String, addr: String) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let mut command = match self {
            Gateway::Nginx => {
                // What a distribution's nginx.conf provides around a site's
                // server block, pointed at the temporary directory.
                std::fs::write(dir.path().join("site.conf"), config).unwrap();
                let main = format!(
                    "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
                     events {{ worker_connections 64; }}\n\
                     http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                       fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                       include {d}/site.conf;\n}}\n"
                );
                std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
                let mut c = Command::new("nginx");
                c.arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(dir.path().join("nginx.conf"))
                    .arg("-e")
                    .arg(dir.path().join("error.log"));
                c
            }
            Gateway::Caddy => {
                // No admin endpoint: tests run several Caddys at once.
                let file = format!("{{\n\tadmin off\n}}\n\n{config}");
                std::fs::write(dir.path().join("Caddyfile"), file).unwrap();
                let mut c = Command::new("caddy");
                c.arg("run")
                    .arg("--config")
                    .arg(dir.path().join("Caddyfile"))
                    .arg("--adapter")
                    .arg("caddyfile")
                    .env("HOME", dir.path())
                    .env("XDG_DATA_HOME", dir.path())
                    .env("XDG_CONFIG_HOME", dir.path());
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = Running {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&running.addr).await.is_err() {
            assert!(Instant::now() < deadline, "{} did not start", self.binary());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running
    }
}

/// A file of `docs/gateways/`.
pub fn documented(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/gateways")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

/// The upstream API: answers every request with what it received.
async fn echo_upstream() -> String {
    async fn echo(
        method: axum::http::Method,
        uri: axum::http::Uri,
        headers: HeaderMap,
    ) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
            .collect();
        axum::Json(json!({"method": method.as_str(), "uri": uri.to_string(), "headers": headers}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap();
    });
    addr
}

async fn through(gateway: Gateway, app: TestApp) {
    if !gateway.installed() {
        return;
    }
    let upstream = echo_upstream().await;
    let running = gateway.start(&app.addr.to_string(), &upstream).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let reader = opaque_service(&app, "orders:read").await;
    let token = opaque_token(&app, &reader, "").await;

    // Allowed: the upstream sees a JWT, never the opaque token, and only
    // monban's identity headers, whatever the client sent.
    let r = http
        .get(format!("{base}/orders/7?expand=lines"))
        .bearer_auth(&token)
        .header("X-Monban-Groups", "admin")
        .header("X-Monban-Subject", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["uri"], "/orders/7?expand=lines");
    let headers = &seen["headers"];
    let jwt = headers["authorization"]
        .as_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    assert!(!jwt.contains(&token));
    let claims = verify_with_jwks(&app, jwt, &app.issuer).await;
    assert_eq!(claims["client_id"], reader.id.as_str());
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(headers["x-monban-subject"], reader.id.as_str());
    assert_eq!(headers["x-monban-client"], reader.id.as_str());
    assert_eq!(headers["x-monban-scope"], "orders:read");
    assert!(
        headers.get("x-monban-groups").is_none_or(|g| g == ""),
        "spoofed groups must not reach the upstream: {headers}"
    );

    // The policy: writing needs orders:write; /admin needs a group, which a
    // header cannot fake.
    let r = http
        .post(format!("{base}/orders/7"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{base}/admin"))
        .bearer_auth(&token)
        .header("X-Monban-Groups", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{base}/catalog/../admin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200, "dot segments do not get around the policy");

    // A client cannot describe its own request to monban: its forwarded
    // headers are replaced by the gateway's, or make the request ambiguous.
    for (name, value) in [
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Uri", "/catalog"),
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/catalog"),
    ] {
        let r = http
            .delete(format!("{base}/orders/7"))
            .bearer_auth(&token)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{name}: {value}");
    }

    // No token, a forged one: 401 with the challenge.
    let r = http.get(format!("{base}/orders/7")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let r = http
        .get(format!("{base}/orders/7"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Revoked: refused on the very next request.
    let revoked = app
        .post_basic("/revoke", &reader, &[("token", token.as_str())])
        .await;
    assert_eq!(revoked.status(), 200);
    let r = http
        .get(format!("{base}/orders/7"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

db_test!(
    nginx_auth_request,
    [
        ("MONBAN_POLICY_FILE", POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| through(Gateway::Nginx, app).await
);

db_test!(
    caddy_forward_auth,
    [
        ("MONBAN_POLICY_FILE", POLICY),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32")
    ],
    async |app: TestApp| through(Gateway::Caddy, app).await
);

/// docs/gateways.md shows the configurations the tests run, verbatim.
#[test]
fn the_docs_show_the_tested_configurations() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/gateways.md")).unwrap();
    for gateway in [Gateway::Nginx, Gateway::Caddy] {
        assert!(
            docs.contains(&gateway.documented_config()),
            "docs/gateways.md must include docs/gateways/ for {}",
            gateway.binary()
        );
    }
    for file in ["nginx-apps.conf", "Caddyfile-apps", "apps-policy.toml"] {
        assert!(
            docs.contains(&documented(file)),
            "docs/gateways.md must include docs/gateways/{file}"
        );
    }
    let policy = std::fs::read_to_string(POLICY).unwrap();
    assert!(
        docs.contains(&policy),
        "docs/gateways.md must include the policy file"
    );
}
