//! The application state: everything a request handler may need, built
//! once at start (`server::build`) and shared behind an `Arc`.

use std::sync::Arc;

use axum::body::Bytes;

use crate::client_cache::ClientCache;
use crate::config::Config;
use crate::keys::Keys;
use crate::password::Passwords;
use crate::store::Db;
use crate::store::batch::BatchWriter;
use crate::store::codes::Code;
use crate::store::tokens::AccessToken;

/// Everything a request handler may need; shared behind an `Arc`.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub clients: ClientCache,
    /// Opaque access tokens and authorization codes, stored with group commit.
    pub access_tokens: BatchWriter<AccessToken>,
    pub codes: BatchWriter<Code>,
    pub passwords: Passwords,
    /// An argon2id hash of no one's password, made on first use: unknown
    /// users are checked against it, so they take as long as known ones.
    pub dummy_hash: tokio::sync::OnceCell<String>,
    /// Origins of registered redirect URIs, for CORS.
    pub web_origins: Arc<crate::cors::WebOrigins>,
    /// The RFC 8414 document, serialised once.
    pub metadata: Bytes,
    /// Registered APIs (RFC 8707 resources), re-read every 5 s.
    pub apis: crate::apis::ApiCache,
    /// Phantom JWTs of opaque tokens, when `MONBAN_PHANTOM_CACHE` is set.
    pub phantoms: crate::phantom_cache::PhantomCache,
    /// Gateway sessions seen recently (`MONBAN_GATEWAY_COOKIE_DOMAIN`).
    pub gateway_sessions: crate::gateway_session::GatewaySessions,
    /// The `/forward_auth` policy (`MONBAN_POLICY_FILE`), reloaded on SIGHUP.
    pub policies: crate::policy::Policies,
    /// JWK Sets fetched from `private_key_jwt` clients' `jwks_uri`s.
    pub remote_keys: crate::client_keys::RemoteKeys,
    /// Outbound requests, with the guard for URLs outsiders chose.
    pub outbound: crate::outbound::Outbound,
    /// Logout tokens on their way to clients (OIDC Back-Channel Logout).
    pub backchannel: crate::backchannel::Backchannel,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `MONBAN_RATE_LIMIT_*`, counted on this instance.
    pub rate_limits: crate::rate_limit::RateLimiter,
    /// The WebAuthn relying party; `None` when second factors are off or
    /// the issuer has no domain name (an IP address cannot be an RP ID).
    pub passkeys: Option<crate::passkeys::Passkeys>,
}

impl App {
    /// The PHC string to verify against when a user has no password (or
    /// does not exist).
    pub async fn dummy_hash(&self) -> Result<String, crate::password::PasswordError> {
        self.dummy_hash
            .get_or_try_init(|| async { self.passwords.hash(&crate::password::generate()).await })
            .await
            .cloned()
    }
}
