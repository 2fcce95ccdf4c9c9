//! monban (門番, "gatekeeper"): a standalone OAuth 2.0 / OpenID Connect
//! authorization server. The binary is `src/main.rs`; this library holds
//! everything, so that the black-box tests can start the real server.

pub mod accounts;
pub mod admin;
pub mod apis;
pub mod apply;
pub mod audit;
pub mod authn;
pub mod authorization;
pub mod backchannel;
pub mod claims;
pub mod cli;
pub mod client_assertion;
pub mod client_auth;
pub mod client_cache;
pub mod client_keys;
pub mod client_metadata;
pub mod clients;
pub mod config;
pub mod consents;
pub mod cors;
pub mod crypto;
pub mod endpoints;
pub mod error;
pub mod form;
pub mod gateway_session;
pub mod grants;
pub mod i18n;
pub mod id_token;
pub mod jwt;
pub mod key_encryption;
pub mod keys;
pub mod layers;
pub mod logging;
pub mod metrics;
pub mod mfa;
pub mod net;
pub mod notices;
pub mod outbound;
pub mod page_error;
pub mod paging;
pub mod passkeys;
pub mod password;
pub mod phantom;
pub mod phantom_cache;
pub mod pkce;
pub mod policy;
pub mod rate_limit;
pub mod router;
pub mod routes;
pub mod server;
pub mod service;
pub mod session;
pub mod sign_in;
pub mod state;
pub mod store;
pub mod tokens;
pub mod types;
pub mod ui;
pub mod uri;
pub mod user_code;

/// The current time in Unix seconds. Read once per request or command and
/// passed down, so every decision in it agrees on "now".
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
