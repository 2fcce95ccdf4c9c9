//! The phantom-token pattern: clients hold opaque tokens, and `/forward_auth`
//! swaps one for a short-lived RFC 9068 JWT (`MONBAN_PHANTOM_TTL`) that the
//! gateway hands to the upstream, which verifies it with the JWKS and never
//! sees the opaque token. A JWT access token is checked and handed on as it
//! is.
//!
//! Optionally (`MONBAN_PHANTOM_CACHE` entries, off by default) the JWT made
//! for an opaque token is kept and reused while it has at least half its
//! lifetime left, so a hot gateway neither reads the database nor signs on
//! every request. A cached token is checked against the database again every
//! `RECHECK`; revoking it through this instance drops it at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::keys::KeyError;
use crate::phantom_cache::Cached;
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::tokens::{ACCESS_TOKEN_TYP, AccessClaims, Audience, PresentedToken, TypeHint};
use crate::types::Scopes;

/// How long a cached phantom is trusted before its opaque token is looked up
/// again: revocation through another instance takes effect within this.
pub const RECHECK: Duration = Duration::from_secs(5);

/// A valid access token presented by a gateway.
pub struct Bearer {
    /// The claims the upstream will see.
    pub claims: AccessClaims,
    /// The JWT to hand on, when there already is one: the presented JWT
    /// itself, or a cached phantom.
    jwt: Option<Arc<str>>,
    /// The SHA-256 of an opaque token, to cache its phantom under.
    opaque_hash: Option<[u8; 32]>,
    /// The cache's generation when the token was looked up: a revocation
    /// since then means the phantom must not be cached.
    generation: u64,
}

impl Bearer {
    pub fn scope(&self) -> Scopes {
        Scopes::parse(&self.claims.scope).unwrap_or_default()
    }

    pub fn groups(&self) -> &[String] {
        self.claims.groups.as_deref().unwrap_or_default()
    }
}

/// The active access token behind `token`, if it is one.
pub async fn find(app: &App, token: &str, now: i64) -> Result<Option<Bearer>, sqlx::Error> {
    let generation = app.phantoms.generation();
    let is_jwt = token.bytes().filter(|&b| b == b'.').count() == 2;
    let opaque_hash: Option<[u8; 32]> = if is_jwt {
        None
    } else {
        crate::tokens::sha256(token.as_bytes()).try_into().ok()
    };
    if let Some(hash) = opaque_hash
        && let Some(bearer) = from_cache(app, &hash, now).await?
    {
        return Ok(Some(bearer));
    }
    let presented = PresentedToken {
        token,
        hint: Some(TypeHint::AccessToken),
    };
    Ok(match tokens::find_active(app, &presented, now).await? {
        Some(ActiveToken::Jwt(claims)) => Some(Bearer {
            claims,
            jwt: Some(Arc::from(token)),
            opaque_hash: None,
            generation,
        }),
        Some(ActiveToken::Opaque(row)) => Some(Bearer {
            claims: AccessClaims {
                iss: app.config.issuer.as_str().to_owned(),
                sub: row
                    .user_id
                    .map_or_else(|| row.client_id.clone(), |u| u.to_string()),
                aud: Audience::from_list(row.audiences.0),
                // Never outlives the opaque token.
                exp: (now + app.config.phantom_ttl).min(row.expires_at),
                iat: now,
                nbf: now,
                jti: row.jti,
                client_id: row.client_id,
                scope: row.scope,
                auth_time: row.auth_time,
                acr: row.acr,
                amr: row.amr.map(|a| a.0),
                groups: row.groups.map(|g| g.0),
                act: row.act.map(|a| a.0),
                grant_id: row.grant_id,
            },
            jwt: None,
            opaque_hash,
            generation,
        }),
        // A refresh token is not an access token (RFC 6749 §1.5).
        Some(ActiveToken::Refresh(_)) | None => None,
    })
}

/// A cached phantom still worth handing out, re-checked against the
/// database every `RECHECK`.
async fn from_cache(app: &App, hash: &[u8; 32], now: i64) -> Result<Option<Bearer>, sqlx::Error> {
    let Some(entry) = app.phantoms.get(hash) else {
        return Ok(None);
    };
    // Half its lifetime left, or the upstream might get it nearly expired.
    let ttl = entry.claims.exp - entry.claims.iat;
    if entry.claims.exp - now < ttl / 2 || entry.claims.exp <= now {
        app.phantoms.forget(hash);
        return Ok(None);
    }
    if entry.checked.elapsed() >= RECHECK {
        let generation = app.phantoms.generation();
        let still_active = tokens::is_opaque_active(&app.db, hash, now).await?
            && app
                .clients
                .get(&app.db, &entry.claims.client_id)
                .await?
                .is_some();
        if !still_active {
            app.phantoms.forget(hash);
            return Ok(None);
        }
        let rechecked = Cached {
            claims: entry.claims.clone(),
            jwt: Arc::clone(&entry.jwt),
            checked: Instant::now(),
        };
        // Not put back if a revocation came in meanwhile.
        app.phantoms.put(*hash, rechecked, generation);
    }
    Ok(Some(Bearer {
        claims: entry.claims.clone(),
        jwt: Some(Arc::clone(&entry.jwt)),
        opaque_hash: Some(*hash),
        generation: 0,
    }))
}

/// The JWT for the upstream: the one there is, or a newly signed phantom
/// (cached when the cache is on).
pub fn jwt(app: &App, bearer: Bearer) -> Result<Arc<str>, KeyError> {
    if let Some(jwt) = bearer.jwt {
        return Ok(jwt);
    }
    let signed: Arc<str> = app
        .keys
        .get()
        .sign(app.config.signing_alg, ACCESS_TOKEN_TYP, &bearer.claims)?
        .into();
    if let Some(hash) = bearer.opaque_hash {
        let entry = Cached {
            claims: bearer.claims,
            jwt: Arc::clone(&signed),
            checked: Instant::now(),
        };
        // Not cached if a revocation came in since the lookup.
        app.phantoms.put(hash, entry, bearer.generation);
    }
    Ok(signed)
}
