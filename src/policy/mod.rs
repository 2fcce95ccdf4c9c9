//! Centralized authorization for `/forward_auth`: the policy file
//! (`MONBAN_POLICY_FILE`, TOML) maps a host, path prefix and method to the
//! scopes and groups a token needs. The one place policies live; reloaded on
//! SIGHUP, and a file that does not load leaves the old policy in force.
//!
//! ```toml
//! default = "allow"            # or "deny": when no route matches
//!
//! [[route]]
//! host = "api.example.com"     # optional; "*.example.com" for subdomains
//! path = "/orders"             # whole segments: /orders, /orders/7, not /ordersx
//! methods = ["POST", "DELETE"] # optional; any method when absent
//! scopes = ["orders:write"]    # every one required
//! groups = ["sales", "admin"]  # at least one required
//! acr = "mfa"                  # optional: the user signed in with a second
//!                              # factor ("phr": a passkey)
//! auth = "session"             # optional: what the route takes — "bearer"
//!                              # tokens (the default), the browser's gateway
//!                              # "session" cookie, or "any"
//! upstream_jwt = true          # sessions: a JWT for the upstream, for the
//!                              # route's audiences
//! ```
//!
//! Routes are tried in file order and the first that matches decides. For
//! rules beyond that, a `[rego]` section adds an OPA policy (see `rego`):
//! a request then passes only if the routes allow it and so does Rego.

pub mod rego;
pub mod route;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use crate::mfa::Level;
use crate::tokens::AccessClaims;
use crate::types::Scopes;
use rego::{RegoPolicy, Verdict};
pub use route::{Route, RouteError};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// What the policy sees of a token, or of a gateway session.
pub struct Principal<'a> {
    pub scope: &'a Scopes,
    pub groups: &'a [String],
    /// Every claim, for Rego (a session's as its upstream JWT would carry
    /// them).
    pub claims: &'a AccessClaims,
    /// A browser's gateway session, not a token: it has no scopes and no
    /// audience (it is for the gateway's apps).
    pub session: bool,
}

/// What a route takes as credentials (`auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// `Authorization: Bearer` tokens only (the default).
    #[default]
    Bearer,
    /// The browser's gateway session cookie only.
    Session,
    /// A bearer token when one is sent, else the session cookie.
    Any,
}

impl Auth {
    fn parse(raw: &str) -> Result<Auth, String> {
        match raw {
            "bearer" => Ok(Auth::Bearer),
            "session" => Ok(Auth::Session),
            "any" => Ok(Auth::Any),
            _ => Err(format!(
                "auth = {raw:?}: expected \"bearer\", \"session\" or \"any\""
            )),
        }
    }

    pub fn takes_sessions(self) -> bool {
        self != Auth::Bearer
    }
}

/// How the route a request is on takes it: its credentials, and for a
/// session the audiences of the upstream's JWT, if it asks for one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Terms {
    pub auth: Auth,
    pub upstream_jwt: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Said to the caller (a 403 body) and logged.
    pub reason: String,
    /// The scopes the route needs, when scopes are what is missing
    /// (RFC 6750 §3: `scope` in the `insufficient_scope` challenge).
    pub scope: Option<String>,
    /// The sign-in level the route needs, when that is what is missing
    /// (RFC 9470 §3: `acr_values` in the challenge).
    pub acr: Option<Level>,
}

impl Decision {
    pub fn deny(reason: impl Into<String>) -> Decision {
        Decision::Deny(Denial {
            reason: reason.into(),
            scope: None,
            acr: None,
        })
    }
}

/// The loaded policy: routes in file order and the default.
#[derive(Debug, Default)]
pub struct Policy {
    /// False without a policy file: any active token is let through and the
    /// request's route is not needed.
    pub configured: bool,
    default_deny: bool,
    /// The APIs behind the gateway: a token must be for one of them
    /// (`aud`), unless a route names its own. Empty: any audience.
    audiences: Vec<String>,
    /// What routes without an `auth` of their own take (and requests no
    /// route matches).
    auth: Auth,
    routes: Vec<RouteRule>,
    rego: Option<RegoPolicy>,
}

#[derive(Debug)]
struct RouteRule {
    /// 1-based position in the file, for messages.
    number: usize,
    host: Option<HostPattern>,
    path: Vec<String>,
    methods: Vec<String>,
    scopes: Scopes,
    groups: Vec<String>,
    /// The least level the user's sign-in must have reached (the token's
    /// `acr`).
    acr: Option<Level>,
    /// The API (`aud`) this route serves, instead of the file's `audiences`.
    audiences: Vec<String>,
    /// Its own `auth`; none: the file's.
    auth: Option<Auth>,
    /// A session's upstream gets a JWT.
    upstream_jwt: bool,
    deny: bool,
}

#[derive(Debug)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com`.
    Suffix(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host == h,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

impl RouteRule {
    fn matches(&self, route: &Route) -> bool {
        self.host.as_ref().is_none_or(|h| h.matches(&route.host))
            && route.segments.starts_with(&self.path)
            && (self.methods.is_empty() || self.methods.contains(&route.method))
    }

    fn decide(&self, who: &Principal<'_>, audiences: &[String]) -> Decision {
        if self.deny {
            return Decision::deny(format!("route {} denies every request", self.number));
        }
        let wanted = if self.audiences.is_empty() {
            audiences
        } else {
            &self.audiences
        };
        if let Some(denied) = audience_refusal(wanted, who) {
            return denied;
        }
        if who.session && !self.scopes.is_empty() {
            return Decision::deny(format!(
                "route {} needs scopes, which only a token carries",
                self.number
            ));
        }
        let missing: Vec<&str> = self.scopes.not_in(who.scope).collect();
        if !missing.is_empty() {
            return Decision::Deny(Denial {
                reason: format!("the token lacks the scope {}", missing.join(" ")),
                scope: Some(self.scopes.to_string()),
                acr: None,
            });
        }
        let in_a_group =
            self.groups.is_empty() || who.groups.iter().any(|g| self.groups.contains(g));
        if !in_a_group {
            return Decision::deny(format!(
                "the token's subject is in none of the groups {}",
                self.groups.join(", ")
            ));
        }
        if let Some(needed) = self.acr {
            let reached = who.claims.acr.as_deref().and_then(Level::of_acr);
            if reached.is_none_or(|level| level < needed) {
                return Decision::Deny(Denial {
                    reason: format!("the user signed in below acr {}", needed.acr()),
                    scope: None,
                    acr: Some(needed),
                });
            }
        }
        Decision::Allow
    }
}

/// RFC 9068 §4: a resource server takes only tokens whose `aud` names it:
/// a token for another API (or for another client's use) is refused here
/// when the policy names the APIs behind the gateway.
fn audience_refusal(wanted: &[String], who: &Principal<'_>) -> Option<Decision> {
    // A session is no token for an API: the gateway's apps are its audience.
    if wanted.is_empty() || who.session {
        return None;
    }
    let audience = who.claims.aud.clone().into_list();
    (!audience.iter().any(|a| wanted.contains(a))).then(|| {
        Decision::deny(format!(
            "the token is not for this API (its audience is not one of {})",
            wanted.join(", ")
        ))
    })
}

impl Policy {
    /// Decides for a token on a route. (Without a policy file every active
    /// token is allowed and no route is needed: see `configured`.)
    pub fn decide(&self, route: &Route, who: &Principal<'_>) -> Decision {
        if !self.configured {
            return Decision::Allow;
        }
        let by_routes = match self.routes.iter().find(|r| r.matches(route)) {
            Some(rule) => rule.decide(who, &self.audiences),
            None if self.default_deny => Decision::deny("no policy route matches the request"),
            None => audience_refusal(&self.audiences, who).unwrap_or(Decision::Allow),
        };
        match (&by_routes, &self.rego) {
            (Decision::Allow, Some(rego)) => match rego.decide(route, who.claims, who.session) {
                Verdict::Allow => Decision::Allow,
                Verdict::Deny(reason) => Decision::deny(reason),
            },
            _ => by_routes,
        }
    }

    /// Parses and checks a policy file's text; Rego files are found
    /// relative to `base` (the policy file's directory).
    pub fn parse(text: &str, base: &Path) -> Result<Policy, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let default_deny = match file.default.as_deref() {
            None | Some("allow") => false,
            Some("deny") => true,
            Some(other) => {
                return Err(format!(
                    "default = {other:?}: expected \"allow\" or \"deny\""
                ));
            }
        };
        let auth = file.auth.as_deref().map(Auth::parse).transpose()?;
        let auth = auth.unwrap_or_default();
        let routes: Vec<RouteRule> = file
            .route
            .into_iter()
            .enumerate()
            .map(|(i, spec)| spec.check(i + 1))
            .collect::<Result<_, _>>()?;
        let rego = file
            .rego
            .map(|r| RegoPolicy::load(base, &r.files, &r.package))
            .transpose()?;
        let audiences = checked_audiences(file.audiences).map_err(|e| format!("audiences: {e}"))?;
        for rule in &routes {
            let takes = rule.auth.unwrap_or(auth);
            let problem = |what: &str| format!("route {}: {what}", rule.number);
            if takes == Auth::Session && !rule.scopes.is_empty() {
                return Err(problem(
                    "scopes are a token's; a route with auth = \"session\" takes none",
                ));
            }
            if rule.upstream_jwt && takes == Auth::Bearer {
                return Err(problem(
                    "upstream_jwt is for sessions; a token is handed on as its own JWT (auth = \"session\" or \"any\")",
                ));
            }
            if rule.upstream_jwt && rule.audiences.is_empty() && audiences.is_empty() {
                return Err(problem(
                    "upstream_jwt needs audiences (the route's or the file's): the API the JWT is for",
                ));
            }
        }
        Ok(Policy {
            configured: true,
            default_deny,
            audiences,
            auth,
            routes,
            rego,
        })
    }

    /// What the request's route takes: its own terms, or, when no route
    /// matches, the file's `auth`. Without a policy file: tokens only.
    pub fn terms(&self, route: &Route) -> Terms {
        let Some(rule) = self.routes.iter().find(|r| r.matches(route)) else {
            return Terms {
                auth: self.auth,
                upstream_jwt: None,
            };
        };
        let audiences = if rule.audiences.is_empty() {
            &self.audiences
        } else {
            &rule.audiences
        };
        Terms {
            auth: rule.auth.unwrap_or(self.auth),
            upstream_jwt: rule.upstream_jwt.then(|| audiences.clone()),
        }
    }

    /// Whether any request may be taken with a gateway session.
    pub fn takes_sessions(&self) -> bool {
        self.auth.takes_sessions()
            || self
                .routes
                .iter()
                .any(|r| r.auth.is_some_and(Auth::takes_sessions))
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }
}

/// An `audiences` list as written: left out, any audience (empty); given,
/// at least one, each an audience. `audiences = []` would read as "any"
/// while saying "none", so it is refused.
fn checked_audiences(written: Option<Vec<String>>) -> Result<Vec<String>, String> {
    let Some(audiences) = written else {
        return Ok(Vec::new());
    };
    if audiences.is_empty() {
        return Err("audiences = [] names no API; leave it out to take tokens for any".into());
    }
    if let Some(bad) = audiences.iter().find(|a| !crate::clients::is_audience(a)) {
        return Err(format!("{bad:?} is not an audience"));
    }
    Ok(audiences)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Option<String>,
    /// The APIs (token audiences) behind the gateway.
    audiences: Option<Vec<String>>,
    /// What routes take by default: "bearer", "session" or "any".
    auth: Option<String>,
    #[serde(default)]
    route: Vec<RouteSpec>,
    rego: Option<RegoSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegoSpec {
    files: Vec<String>,
    package: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    host: Option<String>,
    path: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    acr: Option<String>,
    audiences: Option<Vec<String>>,
    auth: Option<String>,
    #[serde(default)]
    upstream_jwt: bool,
    #[serde(default)]
    deny: bool,
}

impl RouteSpec {
    fn check(self, number: usize) -> Result<RouteRule, String> {
        let problem = |what: String| format!("route {number}: {what}");
        let host = match self.host {
            None => None,
            Some(raw) => {
                let (wildcard, name) = match raw.strip_prefix("*.") {
                    Some(rest) => (true, rest),
                    None => (false, raw.as_str()),
                };
                let parsed = route::parse_host(name)
                    .filter(|h| h == &name.to_ascii_lowercase())
                    .ok_or_else(|| problem(format!("host {raw:?} is not a host name")))?;
                Some(if wildcard {
                    HostPattern::Suffix(format!(".{parsed}"))
                } else {
                    HostPattern::Exact(parsed)
                })
            }
        };
        let path_text = self.path.unwrap_or_else(|| "/".to_owned());
        let path = route::path_segments(&path_text)
            .filter(|_| !path_text.contains(['?', '#', '%', '\\']))
            .ok_or_else(|| {
                problem(format!(
                    "path {path_text:?} must be a plain path starting with /"
                ))
            })?;
        if path_text.split('/').any(|s| s == "." || s == "..") {
            return Err(problem(format!("path {path_text:?} has dot segments")));
        }
        let methods = self
            .methods
            .iter()
            .map(|m| {
                route::parse_method(m)
                    .ok_or_else(|| problem(format!("method {m:?} is not an HTTP method")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let scopes =
            Scopes::from_tokens(self.scopes.iter().map(String::as_str)).map_err(problem)?;
        if let Some(bad) = self.groups.iter().find(|g| !crate::types::is_group_name(g)) {
            return Err(problem(format!("group {bad:?} is not a group name")));
        }
        let audiences = checked_audiences(self.audiences).map_err(problem)?;
        let acr = match self.acr.as_deref() {
            None => None,
            Some(raw) => Some(
                Level::of_acr(raw)
                    .ok_or_else(|| problem(format!("acr {raw:?} is not one of 1, mfa, phr")))?,
            ),
        };
        let auth = self
            .auth
            .as_deref()
            .map(Auth::parse)
            .transpose()
            .map_err(problem)?;
        let restricted = !scopes.is_empty() || !self.groups.is_empty() || !audiences.is_empty();
        if self.deny && (restricted || acr.is_some()) {
            return Err(problem(
                "deny = true takes no scopes, groups, acr or audiences".to_owned(),
            ));
        }
        Ok(RouteRule {
            number,
            host,
            path,
            methods,
            scopes,
            groups: self.groups,
            acr,
            audiences,
            auth,
            upstream_jwt: self.upstream_jwt,
            deny: self.deny,
        })
    }
}

/// The policy in force, swapped whole on reload.
pub struct Policies {
    file: Option<PathBuf>,
    /// `MONBAN_GATEWAY_COOKIE_DOMAIN` is set: routes may take sessions.
    gateway_sessions: bool,
    current: RwLock<Arc<Policy>>,
}

impl Policies {
    /// Loads `MONBAN_POLICY_FILE` if set; a bad file stops the start.
    /// Without gateway sessions, a route that takes them is a mistake.
    pub fn load(file: Option<&Path>, gateway_sessions: bool) -> Result<Policies, PolicyError> {
        let policy = match file {
            Some(path) => read(path, gateway_sessions)?,
            None => Policy::default(),
        };
        Ok(Policies {
            file: file.map(Path::to_path_buf),
            gateway_sessions,
            current: RwLock::new(Arc::new(policy)),
        })
    }

    pub fn current(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the file. On error the old policy stays in force.
    pub fn reload(&self) -> Result<Arc<Policy>, PolicyError> {
        let Some(path) = &self.file else {
            return Ok(self.current());
        };
        let policy = Arc::new(read(path, self.gateway_sessions)?);
        match self.current.write() {
            Ok(mut p) => *p = Arc::clone(&policy),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&policy),
        }
        Ok(policy)
    }
}

fn read(path: &Path, gateway_sessions: bool) -> Result<Policy, PolicyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: shown.clone(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let policy = Policy::parse(&text, base).map_err(|problem| PolicyError::Invalid {
        path: shown.clone(),
        problem,
    })?;
    if policy.takes_sessions() && !gateway_sessions {
        return Err(PolicyError::Invalid {
            path: shown,
            problem: "auth = \"session\" or \"any\" needs MONBAN_GATEWAY_COOKIE_DOMAIN (the gateway session cookie's domain)".into(),
        });
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, host: &str, path: &str) -> Route {
        Route {
            method: method.into(),
            host: host.into(),
            segments: route::path_segments(path).unwrap(),
        }
    }

    fn decide(policy: &Policy, r: &Route, scope: &str, groups: &[&str]) -> Decision {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let claims = AccessClaims {
            iss: "https://id.example.com".into(),
            sub: "user-1".into(),
            aud: crate::tokens::Audience::One("https://api.example.com".into()),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: scope.into(),
            auth_time: None,
            acr: None,
            amr: None,
            groups: Some(groups.clone()),
            act: None,
            grant_id: None,
        };
        let scope = Scopes::parse(scope).unwrap();
        policy.decide(
            r,
            &Principal {
                scope: &scope,
                groups: &groups,
                claims: &claims,
                session: false,
            },
        )
    }

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(text, Path::new("."))
    }

    const POLICY: &str = r#"
        default = "deny"
        [[route]]
        path = "/health"
        [[route]]
        host = "api.example.com"
        path = "/orders"
        methods = ["POST", "delete"]
        scopes = ["orders:write"]
        [[route]]
        host = "*.example.com"
        path = "/orders"
        scopes = ["orders:read"]
        [[route]]
        path = "/admin"
        groups = ["admin", "ops"]
        [[route]]
        path = "/internal"
        deny = true
    "#;

    #[test]
    fn tokens_for_other_apis_are_refused() {
        // The tokens here are for https://api.example.com.
        let p = parse(
            r#"
            audiences = ["https://api.example.com"]
            [[route]]
            path = "/billing"
            audiences = ["https://billing.example.com"]
            [[route]]
            path = "/"
        "#,
        )
        .unwrap();
        let get = |path| route("GET", "gw.example.com", path);
        assert_eq!(decide(&p, &get("/orders"), "", &[]), Decision::Allow);
        let Decision::Deny(d) = decide(&p, &get("/billing/1"), "", &[]) else {
            panic!("a route's audiences replace the file's")
        };
        assert!(d.reason.contains("billing.example.com"), "{}", d.reason);
        let elsewhere = parse("audiences = [\"https://other.example.com\"]").unwrap();
        assert!(matches!(
            decide(&elsewhere, &get("/anything"), "", &[]),
            Decision::Deny(_)
        ));
        assert!(parse("audiences = [\"has space\"]").is_err());
        assert!(parse("audiences = []").is_err());
        assert!(parse("[[route]]\naudiences = []").is_err());
        assert!(parse("[[route]]\ndeny = true\naudiences = [\"https://a\"]").is_err());
    }

    #[test]
    fn first_matching_route_decides() {
        let p = parse(POLICY).unwrap();
        let post = route("POST", "api.example.com", "/orders/7");
        assert_eq!(decide(&p, &post, "orders:write", &[]), Decision::Allow);
        let Decision::Deny(d) = decide(&p, &post, "orders:read", &[]) else {
            panic!("needs orders:write")
        };
        assert_eq!(d.scope.as_deref(), Some("orders:write"));
        // GET falls through to the wildcard host route.
        let get = route("GET", "api.example.com", "/orders");
        assert_eq!(decide(&p, &get, "orders:read", &[]), Decision::Allow);
        assert!(matches!(decide(&p, &get, "", &[]), Decision::Deny(_)));
        // The wildcard needs a subdomain; the bare domain matches nothing.
        let bare = route("GET", "example.com", "/orders");
        assert!(matches!(
            decide(&p, &bare, "orders:read", &[]),
            Decision::Deny(_)
        ));
        // Whole segments only.
        let near = route("GET", "x", "/adminx");
        assert!(matches!(
            decide(&p, &near, "", &["admin"]),
            Decision::Deny(_)
        ));
        let admin = route("GET", "x", "/admin/users");
        assert_eq!(decide(&p, &admin, "", &["ops"]), Decision::Allow);
        assert!(matches!(
            decide(&p, &admin, "", &["sales"]),
            Decision::Deny(_)
        ));
        let sneaky = route("GET", "x", "/health/../internal");
        assert!(matches!(decide(&p, &sneaky, "", &[]), Decision::Deny(_)));
        assert_eq!(
            decide(&p, &route("GET", "x", "/health"), "", &[]),
            Decision::Allow
        );
        // Nothing matches: default deny.
        assert!(matches!(
            decide(&p, &route("GET", "x", "/other"), "", &[]),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn default_allow_and_no_policy() {
        let p = parse("[[route]]\npath = \"/a\"\nscopes = [\"s\"]").unwrap();
        assert_eq!(
            decide(&p, &route("GET", "x", "/b"), "", &[]),
            Decision::Allow
        );
        assert!(matches!(
            decide(&p, &route("GET", "x", "/a"), "", &[]),
            Decision::Deny(_)
        ));
        let none = Policy::default();
        assert!(!none.configured);
        assert_eq!(
            decide(&none, &route("GET", "x", "/a"), "", &[]),
            Decision::Allow
        );
    }

    #[test]
    fn routes_say_what_they_take() {
        let p = parse(
            r#"
            auth = "session"
            audiences = ["https://api.example.com"]
            [[route]]
            path = "/api"
            auth = "bearer"
            scopes = ["s"]
            [[route]]
            path = "/both"
            auth = "any"
            [[route]]
            path = "/grafana"
            upstream_jwt = true
            audiences = ["https://grafana.example.com"]
            [[route]]
            path = "/staff"
            groups = ["staff"]
            acr = "mfa"
        "#,
        )
        .unwrap();
        assert!(p.takes_sessions());
        let terms = |path| p.terms(&route("GET", "x", path));
        assert_eq!(terms("/api/1").auth, Auth::Bearer);
        assert_eq!(terms("/both").auth, Auth::Any);
        assert_eq!(terms("/elsewhere").auth, Auth::Session);
        assert_eq!(terms("/staff").upstream_jwt, None);
        assert_eq!(
            terms("/grafana/d/1").upstream_jwt,
            Some(vec!["https://grafana.example.com".to_owned()])
        );
        // A session passes audiences (it is for the gateway's apps), not
        // scopes; groups and acr apply to it as to a token.
        let session = |path: &str, groups: &[&str], acr: Option<&str>| {
            let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
            let claims = AccessClaims {
                iss: "https://id.example.com".into(),
                sub: "user-1".into(),
                aud: crate::tokens::Audience::Many(Vec::new()),
                exp: 2,
                iat: 1,
                nbf: 1,
                jti: "j".into(),
                client_id: "monban-gateway".into(),
                scope: String::new(),
                auth_time: Some(1),
                acr: acr.map(str::to_owned),
                amr: None,
                groups: Some(groups.clone()),
                act: None,
                grant_id: None,
            };
            p.decide(
                &route("GET", "x", path),
                &Principal {
                    scope: &Scopes::default(),
                    groups: &groups,
                    claims: &claims,
                    session: true,
                },
            )
        };
        assert_eq!(session("/elsewhere", &[], Some("1")), Decision::Allow);
        assert!(matches!(session("/api", &[], None), Decision::Deny(_)));
        let Decision::Deny(d) = session("/staff", &["staff"], Some("1")) else {
            panic!("/staff needs mfa")
        };
        assert_eq!(d.acr, Some(Level::Mfa));
        assert!(matches!(
            session("/staff", &["sales"], Some("mfa")),
            Decision::Deny(Denial { acr: None, .. })
        ));
        assert_eq!(session("/staff", &["staff"], Some("mfa")), Decision::Allow);
        // Without a policy file, and by default: tokens only.
        assert_eq!(
            Policy::default().terms(&route("GET", "x", "/")).auth,
            Auth::Bearer
        );
        assert!(!parse("[[route]]\npath = \"/a\"").unwrap().takes_sessions());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, expected) in [
            ("default = \"maybe\"", "default"),
            ("[[route]]\npath = \"admin\"", "route 1: path"),
            ("[[route]]\npath = \"/a/../b\"", "dot segments"),
            ("[[route]]\npath = \"/a?b\"", "route 1: path"),
            ("[[route]]\nmethods = [\"GE T\"]", "method"),
            ("[[route]]\nscopes = [\"a b\"]", "scope"),
            ("[[route]]\ngroups = [\"no spaces\"]", "group"),
            ("[[route]]\nhost = \"a b\"", "host"),
            ("[[route]]\ndeny = true\nscopes = [\"x\"]", "deny"),
            ("[[route]]\npaths = \"/x\"", "unknown field"),
            ("auth = \"cookie\"", "auth"),
            ("[[route]]\nauth = \"sessions\"", "route 1: auth"),
            (
                "auth = \"session\"\n[[route]]\nscopes = [\"s\"]",
                "route 1: scopes",
            ),
            ("[[route]]\nupstream_jwt = true", "route 1: upstream_jwt"),
            (
                "[[route]]\nauth = \"any\"\nupstream_jwt = true",
                "needs audiences",
            ),
            ("[[route]\n", "expected"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
