//! Server configuration: `MONBAN_*` settings from the environment, a `.env`
//! file and an optional `monban.toml` (same keys in lower case, with or
//! without the `monban_` prefix), in that order of precedence. Every value is
//! validated here, at start-up, so a bad setting stops monban with one line
//! naming it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use url::Url;

use crate::password;
use crate::types::{Secret, SigningAlg, TokenFormat};
use crate::uri::is_loopback_host;

/// Every setting monban reads. `.env.example` documents each one (a test
/// keeps the two in step).
pub const SETTINGS: &[&str] = &[
    "MONBAN_ISSUER",
    "MONBAN_LISTEN",
    "MONBAN_DATABASE_URL",
    "MONBAN_ACCESS_TOKEN_TTL",
    "MONBAN_REFRESH_TOKEN_TTL",
    "MONBAN_ID_TOKEN_TTL",
    "MONBAN_CODE_TTL",
    "MONBAN_ACCESS_TOKEN_FORMAT",
    "MONBAN_DEFAULT_AUDIENCE",
    "MONBAN_SIGNING_ALG",
    "MONBAN_JWKS_MAX_AGE",
    "MONBAN_KEY_ROTATION_DAYS",
    "MONBAN_TRUSTED_PROXIES",
    "MONBAN_OUTBOUND_ALLOW_NETWORKS",
    "MONBAN_LOG",
    "MONBAN_LOG_FORMAT",
    "MONBAN_ADMIN_PASSWORD",
    "MONBAN_SESSION_IDLE_TTL",
    "MONBAN_SESSION_MAX_TTL",
    "MONBAN_REFRESH_REUSE_LEEWAY",
    "MONBAN_PHANTOM_TTL",
    "MONBAN_PHANTOM_CACHE",
    "MONBAN_POLICY_FILE",
    "MONBAN_GATEWAY_COOKIE_DOMAIN",
    "MONBAN_GATEWAY_DOMAINS",
    "MONBAN_KEY_ENCRYPTION_KEY",
    "MONBAN_REQUIRE_PAR",
    "MONBAN_MFA",
    "MONBAN_WEBAUTHN_RP_ID",
    "MONBAN_OPEN_REGISTRATION",
    "MONBAN_AUDIT_RETENTION_DAYS",
    "MONBAN_METRICS_LISTEN",
    "MONBAN_RATE_LIMIT_TOKEN",
    "MONBAN_RATE_LIMIT_INTROSPECTION",
    "MONBAN_RATE_LIMIT_LOGIN",
    "MONBAN_RATE_LIMIT_REGISTRATION",
    "MONBAN_RATE_LIMIT_DEVICE",
    "MONBAN_RATE_LIMIT_AUTHORIZE",
    "MONBAN_APPLY",
];

pub struct Config {
    pub issuer: Issuer,
    pub listen: SocketAddr,
    pub database_url: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub id_token_ttl: i64,
    pub code_ttl: i64,
    pub access_token_format: TokenFormat,
    pub default_audience: String,
    pub signing_alg: SigningAlg,
    pub jwks_max_age: i64,
    /// 0 turns automatic rotation off.
    pub key_rotation_days: i64,
    pub trusted_proxies: Vec<IpNet>,
    /// Networks that URLs from dynamic registration may reach although
    /// they are not public (tests, special deployments).
    pub outbound_allow_networks: Vec<IpNet>,
    pub log: String,
    pub log_format: LogFormat,
    pub admin_password: Option<Secret>,
    /// SSO session: ends after this long without use…
    pub session_idle_ttl: i64,
    /// …and this long after login, whatever happens.
    pub session_max_ttl: i64,
    /// A just-rotated refresh token used again within this many seconds gets
    /// a fresh pair instead of revoking its family; 0 = off.
    pub refresh_reuse_leeway: i64,
    /// Lifetime of the JWTs `/forward_auth` hands to upstreams (≤ 60 s).
    pub phantom_ttl: i64,
    /// Phantom JWTs cached per opaque token, at most this many; 0 = off.
    pub phantom_cache: usize,
    /// Per-route policy for `/forward_auth`.
    pub policy_file: Option<std::path::PathBuf>,
    /// The parent domain of the gateway session cookie (apps without OIDC
    /// behind a forward-auth gateway); off when unset.
    pub gateway_cookie_domain: Option<String>,
    /// Hosts besides those under the cookie domain that a gateway sign-in
    /// or sign-out may return to: exact names, or `*.example.org`.
    pub gateway_domains: Vec<String>,
    /// Seals private signing keys at rest (AES-256-GCM); off when unset.
    pub key_encryption: crate::key_encryption::KeyEncryption,
    /// Every client must push its authorization requests (RFC 9126 §5).
    pub require_par: bool,
    /// Second factors: never asked (`off`), asked of users who have one
    /// (`optional`), or required of everyone (`required`).
    pub mfa: Mfa,
    /// The WebAuthn RP ID of passkeys, when not the issuer's host (a parent
    /// domain of it).
    pub webauthn_rp_id: Option<String>,
    /// Dynamic registration without an initial access token (RFC 7591 §3).
    pub open_registration: bool,
    /// Audit events older than this are purged; 0 keeps them forever.
    pub audit_retention_days: i64,
    /// `/metrics` on its own listener instead of the public one.
    pub metrics_listen: Option<SocketAddr>,
    /// Request rates per client address and per client, by endpoint class.
    pub rate_limits: crate::rate_limit::Limits,
    /// An identity file (`monban apply`) applied at every start.
    pub apply_file: Option<std::path::PathBuf>,
    /// Things worth telling the operator once logging is up.
    pub warnings: Vec<String>,
}

/// `MONBAN_MFA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mfa {
    Off,
    Optional,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that could not be used: `MONBAN_X: problem`.
#[derive(Debug)]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn error(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// The issuer identifier (RFC 8414 §2): an http(s) URL without query,
/// fragment or trailing slash, used byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    url: String,
    path: String,
}

impl Issuer {
    pub fn parse(raw: &str) -> Result<Issuer, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("must be an https:// (or http:// for local use) URL".into());
        }
        if url.query().is_some() || raw.contains('?') {
            return Err("must not have a query (RFC 8414 §2)".into());
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err("must not have a fragment (RFC 8414 §2)".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain user information".into());
        }
        if raw.ends_with('/') {
            return Err(format!(
                "must not end with '/' (use {})",
                raw.trim_end_matches('/')
            ));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        // These live at the root of the origin, outside the issuer's path.
        let first_segment = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if [".well-known", "healthz", "readyz"].contains(&first_segment) {
            return Err(format!(
                "the path must not start with /{first_segment}, which monban serves at the root"
            ));
        }
        let canonical = format!("{}{}", url.origin().ascii_serialization(), path);
        if canonical != raw {
            return Err(format!("is not in canonical form (use {canonical})"));
        }
        Ok(Issuer {
            url: canonical,
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The origin (RFC 6454): the issuer without its path, as browsers send
    /// it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.url[..self.url.len() - self.path.len()]
    }

    /// The path part: "" or e.g. "/auth". Every endpoint is served below it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The absolute URL of an endpoint path.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// The host name (or address), as authenticator apps label an account.
    pub fn host(&self) -> String {
        Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn is_local(&self) -> bool {
        Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .is_some_and(|h| is_loopback_host(&h))
    }

    fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }
}

/// Tolerance for the clocks of monban instances that disagree a little.
pub const CLOCK_SKEW: i64 = 60;

/// The raw values, with where each came from.
#[derive(Default)]
pub struct Sources {
    values: BTreeMap<String, (String, &'static str)>,
    warnings: Vec<String>,
}

impl Sources {
    /// Reads `monban.toml` (or `config_file`), `.env`, then the environment.
    pub fn read(config_file: Option<&Path>) -> Result<Sources, ConfigError> {
        let mut sources = Sources::default();
        let toml_path = config_file.unwrap_or(Path::new("monban.toml"));
        match std::fs::read_to_string(toml_path) {
            Ok(text) => sources.add_toml(&text, &toml_path.display().to_string())?,
            Err(e) if config_file.is_some() || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(error(&toml_path.display().to_string(), e.to_string()));
            }
            Err(_) => {}
        }
        match dotenvy::from_path_iter(".env") {
            Ok(iter) => {
                for item in iter {
                    let (name, value) = item.map_err(|e| error(".env", e.to_string()))?;
                    sources.add_env(name, value, ".env");
                }
            }
            Err(e) if e.not_found() => {}
            Err(e) => return Err(error(".env", e.to_string())),
        }
        for (name, value) in std::env::vars_os() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                if name.to_string_lossy().starts_with("MONBAN_") {
                    return Err(error(&name.to_string_lossy(), "value is not valid UTF-8"));
                }
                continue;
            };
            sources.add_env(name.to_owned(), value.to_owned(), "environment");
        }
        Ok(sources)
    }

    /// Settings given as `(NAME, value)` pairs, as the environment would.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Sources {
        let mut sources = Sources::default();
        for (name, value) in pairs {
            sources.add_env(name.to_owned(), value.to_owned(), "environment");
        }
        sources
    }

    fn add_env(&mut self, name: String, value: String, origin: &'static str) {
        if !name.starts_with("MONBAN_") {
            return;
        }
        if SETTINGS.contains(&name.as_str()) {
            self.values.insert(name, (value, origin));
        } else {
            self.warnings.push(format!(
                "{name} (from {origin}) is not a monban setting; ignored"
            ));
        }
    }

    fn add_toml(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let first_line = e.message().lines().next().unwrap_or_default().to_owned();
            error(file, first_line)
        })?;
        for (key, value) in table {
            let lower = key.to_ascii_lowercase();
            let name = format!(
                "MONBAN_{}",
                lower
                    .strip_prefix("monban_")
                    .unwrap_or(&lower)
                    .to_ascii_uppercase()
            );
            if !SETTINGS.contains(&name.as_str()) {
                return Err(error(file, format!("unknown setting {key:?}")));
            }
            if self.values.contains_key(&name) {
                return Err(error(file, format!("{key:?} is set twice")));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or(()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|()| error(&name, format!("in {file}: list items must be strings")))?
                    .join(","),
                _ => return Err(error(&name, format!("in {file}: unsupported value type"))),
            };
            self.values.insert(name, (value, "monban.toml"));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// Parses a setting, or takes its default when it is unset.
    fn parse<T>(
        &self,
        name: &str,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default()),
            Some(raw) => parse(raw.trim()).map_err(|problem| error(name, problem)),
        }
    }
}

fn seconds(min: i64, max: i64) -> impl Fn(&str) -> Result<i64, String> {
    move |raw| {
        let value: i64 = raw
            .parse()
            .map_err(|_| format!("expected a whole number of seconds, got {raw:?}"))?;
        if value < min || value > max {
            return Err(format!("must be between {min} and {max} seconds"));
        }
        Ok(value)
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn boolean(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

const YEAR: i64 = 365 * 24 * 3600;

impl Config {
    /// Reads and validates the configuration the server and CLI run with.
    pub fn load(config_file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_sources(Sources::read(config_file)?)
    }

    pub fn from_sources(src: Sources) -> Result<Config, ConfigError> {
        let issuer = src.parse(
            "MONBAN_ISSUER",
            || Issuer::parse("http://localhost:8080"),
            |raw| Ok(Issuer::parse(raw)),
        )?;
        let issuer = issuer.map_err(|p| error("MONBAN_ISSUER", p))?;
        let listen = src.parse(
            "MONBAN_LISTEN",
            || SocketAddr::from(([127, 0, 0, 1], 8080)),
            |raw| {
                raw.parse()
                    .map_err(|_| format!("expected IP:PORT such as 127.0.0.1:8080, got {raw:?}"))
            },
        )?;
        let database_url = src.parse(
            "MONBAN_DATABASE_URL",
            || "sqlite://monban.db".to_owned(),
            |raw| {
                if raw.starts_with("sqlite:")
                    || raw.starts_with("postgres://")
                    || raw.starts_with("postgresql://")
                {
                    Ok(raw.to_owned())
                } else {
                    Err("must start with sqlite:// or postgres://".into())
                }
            },
        )?;
        let access_token_ttl = src.parse("MONBAN_ACCESS_TOKEN_TTL", || 300, seconds(1, YEAR))?;
        let refresh_token_ttl = src.parse(
            "MONBAN_REFRESH_TOKEN_TTL",
            || 30 * 24 * 3600,
            seconds(1, 10 * YEAR),
        )?;
        let id_token_ttl = src.parse("MONBAN_ID_TOKEN_TTL", || 3600, seconds(1, YEAR))?;
        // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10
        // minutes is RECOMMENDED."
        let code_ttl = src.parse("MONBAN_CODE_TTL", || 60, seconds(1, 600))?;
        let access_token_format = src.parse(
            "MONBAN_ACCESS_TOKEN_FORMAT",
            || TokenFormat::Jwt,
            str::parse,
        )?;
        let default_audience = src.parse(
            "MONBAN_DEFAULT_AUDIENCE",
            || issuer.as_str().to_owned(),
            |raw| {
                if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    Err("must be a non-empty string without spaces".into())
                } else {
                    Ok(raw.to_owned())
                }
            },
        )?;
        let signing_alg = src.parse("MONBAN_SIGNING_ALG", || SigningAlg::RS256, str::parse)?;
        let jwks_max_age = src.parse("MONBAN_JWKS_MAX_AGE", || 3600, seconds(0, 7 * 24 * 3600))?;
        let key_rotation_days = src.parse(
            "MONBAN_KEY_ROTATION_DAYS",
            || 90,
            |raw| match raw.parse::<i64>() {
                Ok(days) if (0..=3650).contains(&days) => Ok(days),
                _ => Err(format!(
                    "expected a number of days from 0 (off) to 3650, got {raw:?}"
                )),
            },
        )?;
        let trusted_proxies = src.parse("MONBAN_TRUSTED_PROXIES", Vec::new, parse_cidrs)?;
        let outbound_allow_networks =
            src.parse("MONBAN_OUTBOUND_ALLOW_NETWORKS", Vec::new, parse_cidrs)?;
        let log = src.parse(
            "MONBAN_LOG",
            || "info".to_owned(),
            |raw| {
                tracing_subscriber::EnvFilter::builder()
                    .parse(raw)
                    .map(|_| raw.to_owned())
                    .map_err(|e| format!("not a log filter: {e}"))
            },
        )?;
        let log_format = src.parse(
            "MONBAN_LOG_FORMAT",
            || LogFormat::Text,
            |raw| match raw {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("expected text or json, got {raw:?}")),
            },
        )?;
        let admin_password = src.parse(
            "MONBAN_ADMIN_PASSWORD",
            || None,
            |raw| password::check_policy(raw).map(|()| Some(Secret::new(raw.to_owned()))),
        )?;

        let session_idle_ttl =
            src.parse("MONBAN_SESSION_IDLE_TTL", || 2 * 3600, seconds(60, YEAR))?;
        let session_max_ttl =
            src.parse("MONBAN_SESSION_MAX_TTL", || 12 * 3600, seconds(60, YEAR))?;
        if session_max_ttl < session_idle_ttl {
            return Err(error(
                "MONBAN_SESSION_MAX_TTL",
                format!("must be at least MONBAN_SESSION_IDLE_TTL ({session_idle_ttl}s)"),
            ));
        }
        let refresh_reuse_leeway =
            src.parse("MONBAN_REFRESH_REUSE_LEEWAY", || 0, seconds(0, 300))?;
        let phantom_ttl = src.parse("MONBAN_PHANTOM_TTL", || 60, seconds(1, 60))?;
        let phantom_cache = src.parse(
            "MONBAN_PHANTOM_CACHE",
            || 0,
            |raw| match raw.parse::<usize>() {
                Ok(n) if n <= 10_000_000 => Ok(n),
                _ => Err(format!(
                    "expected a number of entries from 0 (off) to 10000000, got {raw:?}"
                )),
            },
        )?;
        let key_encryption = src.parse(
            "MONBAN_KEY_ENCRYPTION_KEY",
            crate::key_encryption::KeyEncryption::default,
            crate::key_encryption::KeyEncryption::parse,
        )?;
        let require_par = src.parse("MONBAN_REQUIRE_PAR", || false, boolean)?;
        let mfa = src.parse(
            "MONBAN_MFA",
            || Mfa::Optional,
            |raw| match raw {
                "off" => Ok(Mfa::Off),
                "optional" => Ok(Mfa::Optional),
                "required" => Ok(Mfa::Required),
                _ => Err(format!("expected off, optional or required, got {raw:?}")),
            },
        )?;
        let webauthn_rp_id = src.parse(
            "MONBAN_WEBAUTHN_RP_ID",
            || None,
            |raw| {
                let host = issuer.host();
                let id = raw.to_ascii_lowercase();
                // WebAuthn §5.1.4.1: the RP ID is the origin's host or a
                // registrable suffix of it.
                // A name of one label (a public suffix such as `com`) is
                // refused by browsers; `localhost` is the exception.
                let registrable = id.contains('.') || id == "localhost";
                if registrable && (host == id || host.ends_with(&format!(".{id}"))) {
                    Ok(Some(id))
                } else {
                    Err(format!(
                        "must be MONBAN_ISSUER's host ({host}) or a registrable parent domain of it"
                    ))
                }
            },
        )?;
        let gateway_cookie_domain = src.parse(
            "MONBAN_GATEWAY_COOKIE_DOMAIN",
            || None,
            |raw| {
                let host = issuer.host();
                let domain = raw.trim_start_matches('.').to_ascii_lowercase();
                // RFC 6265 §5.3 step 6: a browser takes a cookie for a
                // domain only from a host within it; a cookie for a public
                // suffix (one label, `com`) it refuses.
                if !is_host_name(&domain) || !domain.contains('.') {
                    return Err(format!("{raw:?} is not a domain name such as example.com"));
                }
                if host == domain || host.ends_with(&format!(".{domain}")) {
                    Ok(Some(domain))
                } else {
                    Err(format!(
                        "must be MONBAN_ISSUER's host ({host}) or a parent domain of it: monban sets the cookie"
                    ))
                }
            },
        )?;
        let gateway_domains = src.parse("MONBAN_GATEWAY_DOMAINS", Vec::new, |raw| {
            raw.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|item| {
                    let name = item.to_ascii_lowercase();
                    if is_host_name(name.strip_prefix("*.").unwrap_or(&name)) {
                        Ok(name)
                    } else {
                        Err(format!("{item:?} is not a host name or *.domain"))
                    }
                })
                .collect()
        })?;
        if !gateway_domains.is_empty() && gateway_cookie_domain.is_none() {
            return Err(error(
                "MONBAN_GATEWAY_DOMAINS",
                "needs MONBAN_GATEWAY_COOKIE_DOMAIN: it lists where gateway sign-ins may return to",
            ));
        }
        let open_registration = src.parse("MONBAN_OPEN_REGISTRATION", || false, boolean)?;
        let audit_retention_days = src.parse(
            "MONBAN_AUDIT_RETENTION_DAYS",
            || 90,
            |raw| match raw.parse::<i64>() {
                Ok(days) if (0..=36_500).contains(&days) => Ok(days),
                _ => Err(format!(
                    "expected a number of days from 0 (keep forever) to 36500, got {raw:?}"
                )),
            },
        )?;
        let metrics_listen = src.parse(
            "MONBAN_METRICS_LISTEN",
            || None,
            |raw| {
                raw.parse()
                    .map(Some)
                    .map_err(|_| format!("expected IP:PORT such as 127.0.0.1:9090, got {raw:?}"))
            },
        )?;
        if metrics_listen == Some(listen) {
            return Err(error(
                "MONBAN_METRICS_LISTEN",
                "must differ from MONBAN_LISTEN (leave it unset to serve /metrics there)",
            ));
        }
        let mut limits = Vec::new();
        for class in crate::rate_limit::Class::ALL {
            let limit = src.parse(
                class.setting(),
                || Some(class.default_limit()),
                crate::rate_limit::Limit::parse,
            )?;
            limits.push((class, limit));
        }
        let rate_limits = crate::rate_limit::Limits::new(|class| {
            limits
                .iter()
                .find(|(c, _)| *c == class)
                .and_then(|(_, limit)| *limit)
        });
        let apply_file = src.parse(
            "MONBAN_APPLY",
            || None,
            |raw| Ok(Some(std::path::PathBuf::from(raw))),
        )?;
        let policy_file = src.parse(
            "MONBAN_POLICY_FILE",
            || None,
            |raw| Ok(Some(std::path::PathBuf::from(raw))),
        )?;

        let mut warnings = src.warnings;
        if !issuer.is_https() && !issuer.is_local() {
            warnings.push(format!(
                "MONBAN_ISSUER {} is not https: run monban behind a TLS-terminating proxy and use its https URL",
                issuer.as_str()
            ));
        }
        Ok(Config {
            issuer,
            listen,
            database_url,
            access_token_ttl,
            refresh_token_ttl,
            id_token_ttl,
            code_ttl,
            access_token_format,
            default_audience,
            signing_alg,
            jwks_max_age,
            key_rotation_days,
            trusted_proxies,
            outbound_allow_networks,
            log,
            log_format,
            admin_password,
            session_idle_ttl,
            session_max_ttl,
            refresh_reuse_leeway,
            phantom_ttl,
            phantom_cache,
            policy_file,
            key_encryption,
            require_par,
            mfa,
            webauthn_rp_id,
            gateway_cookie_domain,
            gateway_domains,
            open_registration,
            audit_retention_days,
            metrics_listen,
            rate_limits,
            apply_file,
            warnings,
        })
    }

    /// The longest any token signed by a key may stay valid: a retired key
    /// stays published that long.
    pub fn longest_signed_token_ttl(&self) -> i64 {
        self.access_token_ttl.max(self.id_token_ttl)
    }
}

/// A DNS host name (letters, digits, hyphens; labels of 1–63 characters),
/// lower case.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(Sources::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn env_example_documents_every_setting() {
        let example = include_str!("../.env.example");
        for name in SETTINGS {
            let documented = example
                .lines()
                .any(|l| l.trim_start_matches("# ").starts_with(&format!("{name}=")));
            assert!(documented, "{name} is missing from .env.example");
        }
    }

    #[test]
    fn env_example_defaults_are_the_defaults() {
        // Every uncommented line of .env.example loads and changes nothing.
        let example = include_str!("../.env.example");
        let pairs: Vec<(&str, &str)> = example
            .lines()
            .filter(|l| l.starts_with("MONBAN_"))
            .filter_map(|l| l.split_once('='))
            .collect();
        let from_example = load(&pairs).unwrap();
        let defaults = load(&[]).unwrap();
        assert_eq!(from_example.issuer, defaults.issuer);
        assert_eq!(from_example.listen, defaults.listen);
        assert_eq!(from_example.database_url, defaults.database_url);
        assert_eq!(from_example.access_token_ttl, defaults.access_token_ttl);
        assert_eq!(from_example.refresh_token_ttl, defaults.refresh_token_ttl);
        assert_eq!(from_example.id_token_ttl, defaults.id_token_ttl);
        assert_eq!(from_example.code_ttl, defaults.code_ttl);
        assert_eq!(
            from_example.access_token_format,
            defaults.access_token_format
        );
        assert_eq!(from_example.signing_alg, defaults.signing_alg);
        assert_eq!(from_example.jwks_max_age, defaults.jwks_max_age);
        assert_eq!(from_example.key_rotation_days, defaults.key_rotation_days);
        assert_eq!(from_example.log, defaults.log);
        assert_eq!(from_example.log_format, defaults.log_format);
        assert_eq!(from_example.session_idle_ttl, defaults.session_idle_ttl);
        assert_eq!(from_example.session_max_ttl, defaults.session_max_ttl);
        assert_eq!(
            from_example.refresh_reuse_leeway,
            defaults.refresh_reuse_leeway
        );
        assert_eq!(
            from_example.audit_retention_days,
            defaults.audit_retention_days
        );
        assert_eq!(from_example.metrics_listen, defaults.metrics_listen);
        assert_eq!(from_example.rate_limits, defaults.rate_limits);
    }

    #[test]
    fn rate_limits_per_class() {
        use crate::rate_limit::{Class, Limit};
        let c = load(&[
            ("MONBAN_RATE_LIMIT_LOGIN", "off"),
            ("MONBAN_RATE_LIMIT_TOKEN", "5/s"),
        ])
        .unwrap();
        assert_eq!(c.rate_limits.of(Class::Login), None);
        assert_eq!(c.rate_limits.of(Class::Token), Limit::parse("5/s").unwrap());
        assert_eq!(
            c.rate_limits.of(Class::Registration),
            Some(Class::Registration.default_limit())
        );
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.issuer.as_str(), "http://localhost:8080");
        assert_eq!(c.default_audience, "http://localhost:8080");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://monban.db");
        assert_eq!(c.signing_alg, SigningAlg::RS256);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn issuer_rules() {
        for bad in [
            "https://id.example.com/?x=1",
            "https://id.example.com#f",
            "https://id.example.com/",
            "ftp://id.example.com",
            "https://user@id.example.com",
            "HTTPS://ID.example.com",
            "not a url",
            "https://id.example.com/healthz",
            "https://id.example.com/.well-known/x",
        ] {
            let err = load(&[("MONBAN_ISSUER", bad)]).err().unwrap();
            assert_eq!(err.setting, "MONBAN_ISSUER", "{bad}");
        }
        let c = load(&[("MONBAN_ISSUER", "https://id.example.com/auth")]).unwrap();
        assert_eq!(c.issuer.path(), "/auth");
        assert_eq!(
            c.issuer.endpoint("/token"),
            "https://id.example.com/auth/token"
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("MONBAN_SIGNING_ALG", "HS256"),
            ("MONBAN_ACCESS_TOKEN_TTL", "-5"),
            ("MONBAN_CODE_TTL", "3600"),
            ("MONBAN_LISTEN", "localhost"),
            ("MONBAN_DATABASE_URL", "mysql://x"),
            ("MONBAN_TRUSTED_PROXIES", "10.0.0.0/8,nope"),
            ("MONBAN_LOG_FORMAT", "xml"),
            ("MONBAN_ACCESS_TOKEN_FORMAT", "paseto"),
            ("MONBAN_ADMIN_PASSWORD", "short"),
            ("MONBAN_AUDIT_RETENTION_DAYS", "-1"),
            ("MONBAN_METRICS_LISTEN", "nowhere"),
            ("MONBAN_METRICS_LISTEN", "127.0.0.1:8080"),
            ("MONBAN_RATE_LIMIT_TOKEN", "10/day"),
            ("MONBAN_RATE_LIMIT_LOGIN", "lots"),
        ] {
            let err = load(&[(name, value)]).err().unwrap();
            assert_eq!(err.setting, name);
        }
    }

    #[test]
    fn toml_keys_with_or_without_prefix_and_env_wins() {
        let mut src = Sources::default();
        src.add_toml("issuer = \"https://a.example\"\naccess_token_ttl = 60\ntrusted_proxies = [\"10.0.0.0/8\"]", "monban.toml")
            .unwrap();
        src.add_env(
            "MONBAN_ISSUER".into(),
            "https://b.example".into(),
            "environment",
        );
        let c = Config::from_sources(src).unwrap();
        assert_eq!(c.issuer.as_str(), "https://b.example");
        assert_eq!(c.access_token_ttl, 60);
        assert_eq!(c.trusted_proxies.len(), 1);

        let mut src = Sources::default();
        assert!(src.add_toml("isuer = \"x\"", "monban.toml").is_err());
    }
}
