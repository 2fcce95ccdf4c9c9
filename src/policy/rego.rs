//! Rego policies (the language of Open Policy Agent), evaluated in-process
//! with `regorus`, for rules the route table cannot express. The policy
//! file names the Rego files and the package whose `allow` decides (and
//! whose optional `reason` is told on a denial):
//!
//! ```toml
//! [rego]
//! files = ["authz.rego"]   # relative to the policy file
//! package = "monban.authz"
//! ```
//!
//! The input document: `method`, `host`, `path` (the segments, as in OPA's
//! HTTP API examples), `uri_path` (the normalised path as a string),
//! `subject`, `client_id`, `scopes`, `groups`, and `token` (every claim of
//! the access token).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::Route;
use crate::tokens::AccessClaims;

/// No evaluation may take longer: a policy that loops must not stall the
/// gateway.
const EVALUATION_LIMIT: Duration = Duration::from_millis(100);

pub struct RegoPolicy {
    engine: Mutex<regorus::Engine>,
    allow: String,
    reason: String,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegoPolicy({})", self.allow)
    }
}

#[derive(Serialize)]
struct Input<'a> {
    method: &'a str,
    host: &'a str,
    path: &'a [String],
    uri_path: String,
    subject: &'a str,
    client_id: &'a str,
    scopes: Vec<&'a str>,
    groups: &'a [String],
    token: &'a AccessClaims,
    /// A browser's gateway session, not a token (`token` then holds what
    /// its upstream JWT would carry).
    session: bool,
}

/// What the Rego policy said.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny(String),
}

impl RegoPolicy {
    /// Parses the Rego files (relative to `base`) and checks that the
    /// package defines `allow`.
    pub fn load(base: &Path, files: &[String], package: &str) -> Result<RegoPolicy, String> {
        if files.is_empty() {
            return Err("[rego] files is empty".to_owned());
        }
        let package_ok = !package.is_empty()
            && package
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !package_ok {
            return Err(format!(
                "[rego] package {package:?} is not a Rego package path"
            ));
        }
        let mut engine = regorus::Engine::new();
        for file in files {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            engine
                .add_policy(path.display().to_string(), text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let packages = engine.get_packages().map_err(|e| e.to_string())?;
        let wanted = format!("data.{package}");
        if !packages.contains(&wanted) {
            return Err(format!(
                "[rego] package {package:?} is not defined by the files (they define: {})",
                packages.join(", ")
            ));
        }
        Ok(RegoPolicy {
            engine: Mutex::new(engine),
            allow: format!("{wanted}.allow"),
            reason: format!("{wanted}.reason"),
        })
    }

    /// `allow` must be exactly `true`; anything else (false, undefined, an
    /// error, too slow) denies.
    pub fn decide(&self, route: &Route, claims: &AccessClaims, session: bool) -> Verdict {
        let input = Input {
            session,
            method: &route.method,
            host: &route.host,
            path: &route.segments,
            uri_path: route.path(),
            subject: &claims.sub,
            client_id: &claims.client_id,
            scopes: claims.scope.split(' ').filter(|s| !s.is_empty()).collect(),
            groups: claims.groups.as_deref().unwrap_or_default(),
            token: claims,
        };
        let Ok(json) = serde_json::to_string(&input) else {
            return Verdict::Deny("the policy input could not be built".to_owned());
        };
        // Evaluated on a copy: the prepared engine stays untouched.
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Err(e) = engine.set_input_json(&json) {
            return Verdict::Deny(format!("the policy input was refused: {e}"));
        }
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: EVALUATION_LIMIT,
            check_interval: std::num::NonZeroU32::MIN,
        });
        match engine.eval_rule(self.allow.clone()) {
            Ok(regorus::Value::Bool(true)) => Verdict::Allow,
            Ok(_) => {
                let reason = match engine.eval_rule(self.reason.clone()) {
                    Ok(regorus::Value::String(s)) => s.to_string(),
                    _ => "the Rego policy does not allow the request".to_owned(),
                };
                Verdict::Deny(reason)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Rego policy evaluation failed; denying");
                Verdict::Deny("the Rego policy could not be evaluated".to_owned())
            }
        }
    }
}
