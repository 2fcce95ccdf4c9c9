//! Resource servers (RFC 8707): which audiences a token may be asked for
//! with `resource`, and the format and lifetime a registered API gives its
//! tokens. Registered APIs are few and read on every token: cached, and
//! re-read every `TTL` (a change made with the CLI is seen within it; a
//! request naming an API the cache does not know re-reads it at once).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{self, Db, apis::Api};
use crate::types::{Invalid, OIDC_SCOPES};
use crate::types::{Scopes, TokenFormat};

pub const TTL: Duration = Duration::from_secs(5);

/// The longest access-token lifetime an API may set (a year).
pub const MAX_ACCESS_TOKEN_TTL: i64 = 365 * 24 * 3600;

pub type Apis = HashMap<String, Api>;

#[derive(Default)]
pub struct ApiCache {
    current: RwLock<Option<(Arc<Apis>, Instant)>>,
}

impl ApiCache {
    /// The registered APIs, at most `TTL` old.
    pub async fn current(&self, db: &Db) -> Result<Arc<Apis>, sqlx::Error> {
        self.fresher_than(db, TTL).await
    }

    /// The registered APIs for a request naming `resources`: re-read when
    /// one of them is not known, so that an API just created can be used at
    /// once. (Costs an unknown resource one small query, as an unknown
    /// token costs one.)
    pub async fn for_resources(
        &self,
        db: &Db,
        resources: &[&str],
    ) -> Result<Arc<Apis>, sqlx::Error> {
        let apis = self.current(db).await?;
        if resources.iter().all(|r| apis.contains_key(*r)) {
            return Ok(apis);
        }
        self.fresher_than(db, Duration::ZERO).await
    }

    async fn fresher_than(&self, db: &Db, age: Duration) -> Result<Arc<Apis>, sqlx::Error> {
        if let Some((apis, at)) = &*self.current.read().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < age
        {
            return Ok(Arc::clone(apis));
        }
        let apis: Arc<Apis> = Arc::new(
            store::apis::all(db)
                .await?
                .into_iter()
                .map(|api| (api.identifier.clone(), api))
                .collect(),
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Arc::clone(&apis), Instant::now()));
        Ok(apis)
    }
}

/// Checks an API's settings (the one rule of every front end); the error
/// names the setting.
pub fn validate(api: &crate::store::apis::Api) -> Result<(), Invalid> {
    if let Some(name) = &api.name
        && (name.trim().is_empty()
            || name.chars().count() > 200
            || name.chars().any(char::is_control))
    {
        return Err(Invalid::new(
            "name",
            "1 to 200 characters without control characters",
        ));
    }
    if !is_resource_uri(&api.identifier) {
        return Err(Invalid::new(
            "identifier",
            format!(
                "{:?} must be an absolute URI without a fragment (RFC 8707 §2)",
                api.identifier
            ),
        ));
    }
    if let Some(seconds) = api.access_token_ttl
        && !(1..=MAX_ACCESS_TOKEN_TTL).contains(&seconds)
    {
        return Err(Invalid::new(
            "access_token_lifetime",
            "between 1 and 31536000 seconds",
        ));
    }
    Ok(())
}

/// RFC 8707 §2: a resource is "an absolute URI ... MUST NOT include a
/// fragment component" (and, as any URI, no blanks: RFC 3986 §2).
pub fn is_resource_uri(raw: &str) -> bool {
    crate::uri::no_blanks(raw).is_ok() && url::Url::parse(raw).is_ok() && !raw.contains('#')
}

/// The audience a request asked for, and what registered APIs say of it.
#[derive(Debug)]
pub struct Target {
    pub audience: Vec<String>,
    /// The scopes the requested APIs define, if any of them defines some.
    api_scopes: Option<Scopes>,
}

/// Resolves the `resource` parameters (RFC 8707 §2; they may repeat) of a
/// request: none → the client's configured `audiences`, else the server
/// default. Each one must be an absolute URI without fragment, and either
/// one of those audiences or — for a client without configured audiences —
/// a registered API. Requested APIs must agree on the token format. Errors
/// are `invalid_target` descriptions.
pub fn target(
    resources: &[&str],
    audiences: &[String],
    default_audience: &str,
    apis: &Apis,
) -> Result<Target, String> {
    if resources.is_empty() {
        let audience = if audiences.is_empty() {
            vec![default_audience.to_owned()]
        } else {
            audiences.to_vec()
        };
        return Ok(Target {
            audience,
            api_scopes: None,
        });
    }
    let mut audience: Vec<String> = Vec::new();
    for &resource in resources {
        if !is_resource_uri(resource) {
            return Err(format!(
                "resource '{resource}' must be an absolute URI without a fragment"
            ));
        }
        if !may_name(audiences, resource, default_audience, apis) {
            return Err(format!(
                "resource '{resource}' is not a registered API or an audience of this client"
            ));
        }
        if !audience.iter().any(|a| a == resource) {
            audience.push(resource.to_owned());
        }
    }
    Target::for_audience(audience, apis)
}

/// Whether a client with these configured audiences may have a token for
/// `resource`: one of them, or — without any — a registered API or the
/// server default. (Checked again at every refresh: an operator may have
/// narrowed the client since.)
pub fn may_name(audiences: &[String], resource: &str, default_audience: &str, apis: &Apis) -> bool {
    if audiences.is_empty() {
        apis.contains_key(resource) || resource == default_audience
    } else {
        audiences.iter().any(|a| a == resource)
    }
}

impl Target {
    /// What the registered APIs among `audience` say of a token for it:
    /// they must agree on the format; the scopes they define bound its scope.
    pub fn for_audience(audience: Vec<String>, apis: &Apis) -> Result<Target, String> {
        let requested: Vec<&Api> = audience.iter().filter_map(|a| apis.get(a)).collect();
        let mut formats = requested.iter().filter_map(|api| api.token_format.0);
        if let Some(first) = formats.next()
            && formats.any(|f| f != first)
        {
            return Err("the requested resources take tokens of different formats".to_owned());
        }
        let defined: Vec<&str> = requested.iter().flat_map(|api| api.scopes.iter()).collect();
        let api_scopes = (!defined.is_empty())
            .then(|| Scopes::from_tokens(defined))
            .transpose()?;
        Ok(Target {
            audience,
            api_scopes,
        })
    }

    /// A token for APIs that define scopes carries only those (and the
    /// OpenID scopes): asked for others → an `invalid_scope` description;
    /// not asked for any (`explicit` false) → the default narrowed to them.
    pub fn scope(&self, scope: Scopes, explicit: bool) -> Result<Scopes, String> {
        let Some(defined) = &self.api_scopes else {
            return Ok(scope);
        };
        let fits = |s: &&str| defined.contains(s) || OIDC_SCOPES.contains(s);
        if explicit && let Some(outside) = scope.iter().find(|s| !fits(s)) {
            return Err(format!(
                "scope '{outside}' is not defined by the requested resources"
            ));
        }
        Scopes::from_tokens(scope.iter().filter(fits))
    }
}

/// The format and lifetime registered APIs give a token for `audience`:
/// the APIs' format (they agree: see `target`) and the shortest lifetime.
pub fn token_settings(audience: &[String], apis: &Apis) -> (Option<TokenFormat>, Option<i64>) {
    let requested = audience.iter().filter_map(|a| apis.get(a));
    let format = requested.clone().find_map(|api| api.token_format.0);
    let ttl = requested.filter_map(|api| api.access_token_ttl).min();
    (format, ttl)
}

/// The longest an access token may live: `MONBAN_ACCESS_TOKEN_TTL`, or a
/// registered API's longer lifetime. Whatever must outlast every access
/// token (a retired key, a used code, a revoked `jti`) keeps this long.
pub fn longest_access_ttl<'a>(config_ttl: i64, apis: impl IntoIterator<Item = &'a Api>) -> i64 {
    apis.into_iter()
        .filter_map(|api| api.access_token_ttl)
        .fold(config_ttl, i64::max)
}
