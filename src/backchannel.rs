//! OpenID Connect Back-Channel Logout 1.0: when an SSO session ends, each
//! client it signed in to that registered a `backchannel_logout_uri` gets a
//! signed logout token POSTed to it (§2.5). In the server, delivery runs in
//! the background with timeouts and retries, so a slow or dead client never
//! holds up the user's logout; the CLI (`monban user disable`) delivers
//! before it exits, trying each client once.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use crate::keys::KeySet;
use crate::outbound::{Outbound, Trust};
use crate::session::Login;
use crate::store::{self, Db, clients::Client, sessions::Ended};
use crate::types::SigningAlg;

/// §2.4: the `typ` header of a logout token.
pub const TOKEN_TYP: &str = "logout+jwt";
/// §2.4: the event a logout token carries.
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is accepted by its client for this long (§2.6 suggests
/// "a few minutes").
const TOKEN_LIFETIME: i64 = 120;
/// Waits before each attempt: at once, then twice more.
const ATTEMPTS: &[Duration] = &[
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
];
/// From the CLI: one attempt, at once.
const ONCE: &[Duration] = &[Duration::ZERO];
/// Requests in flight at once; more wait their turn. A slot is held for
/// one attempt, not across the waits between retries, so clients that do
/// not answer cannot hold up the others for long.
const IN_FLIGHT: usize = 64;

/// §2.4: ID-token-like claims, `events` instead of `nonce` (which a
/// logout token must not have).
#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: serde_json::Value,
    sub: String,
    sid: &'a str,
}

struct Delivery {
    client_id: String,
    uri: String,
    /// Who chose the URI: a registered client's goes through the guard.
    trust: Trust,
    token: String,
}

/// The queue of logout tokens to deliver, worked off by a background task.
pub struct Backchannel {
    queue: mpsc::UnboundedSender<Delivery>,
}

impl Backchannel {
    /// Starts the delivery task (on the current tokio runtime).
    pub fn start(outbound: Outbound) -> Backchannel {
        let (queue, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
        let http = outbound;
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                let (http, slots) = (http.clone(), Arc::clone(&slots));
                tokio::spawn(async move { deliver(&http, &slots, ATTEMPTS, delivery).await });
            }
        });
        Backchannel { queue }
    }

    /// Queues the logout token of `login` for `client`, if it takes them.
    pub fn tell(&self, keys: &KeySet, issuer: &str, client: &Client, login: &Login, now: i64) {
        let Some(delivery) = prepare(keys, issuer, client, login, now) else {
            return;
        };
        if self.queue.send(delivery).is_err() {
            tracing::warn!(client_id = %client.client_id, "back-channel logout: delivery task stopped");
        }
    }
}

/// Tells the clients of the sessions that just ended, from a CLI command:
/// each is tried once, all at once, before the command exits.
pub async fn notify_now(db: &Db, config: &crate::config::Config, ended: Ended, now: i64) {
    let logins = crate::session::logins_of(ended);
    if logins.iter().all(|l| l.clients.is_empty()) {
        return;
    }
    let keys = match store::keys::all(db)
        .await
        .map_err(|e| e.to_string())
        .and_then(|rows| {
            KeySet::from_rows(&rows, &config.key_encryption).map_err(|e| e.to_string())
        }) {
        Ok(keys) => keys,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: could not load the signing keys");
            return;
        }
    };
    let mut deliveries = Vec::new();
    for login in &logins {
        for client_id in &login.clients {
            if let Ok(Some(client)) = store::clients::find(db, client_id).await
                && let Some(d) = prepare(&keys, config.issuer.as_str(), &client, login, now)
            {
                deliveries.push(d);
            }
        }
    }
    let http = match Outbound::new(config.outbound_allow_networks.clone()) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: no HTTP client");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = tokio::task::JoinSet::new();
    for delivery in deliveries {
        let (http, slots) = (http.clone(), Arc::clone(&slots));
        running.spawn(async move { deliver(&http, &slots, ONCE, delivery).await });
    }
    while running.join_next().await.is_some() {}
}

/// The delivery for `client`, if it registered a `backchannel_logout_uri`.
fn prepare(
    keys: &KeySet,
    issuer: &str,
    client: &Client,
    login: &Login,
    now: i64,
) -> Option<Delivery> {
    let uri = client.backchannel_logout_uri.clone()?;
    match logout_token(keys, issuer, &client.client_id, login, now) {
        Ok(token) => Some(Delivery {
            client_id: client.client_id.clone(),
            uri,
            trust: Trust::from(client.origin),
            token,
        }),
        Err(e) => {
            tracing::error!(client_id = %client.client_id, error = %e, "back-channel logout: could not sign the logout token");
            None
        }
    }
}

/// §2.4: signed like an ID token (RS256), typed `logout+jwt`, with both `sub`
/// and `sid` (so `backchannel_logout_session_required` clients are served).
fn logout_token(
    keys: &KeySet,
    issuer: &str,
    client_id: &str,
    login: &Login,
    now: i64,
) -> Result<String, crate::keys::KeyError> {
    let claims = LogoutClaims {
        iss: issuer,
        aud: client_id,
        iat: now,
        exp: now + TOKEN_LIFETIME,
        jti: crate::tokens::new_jti(),
        events: json!({ EVENT: {} }),
        sub: login.user_id.to_string(),
        sid: &login.sid,
    };
    keys.sign(SigningAlg::RS256, TOKEN_TYP, &claims)
}

/// §2.5: POSTs `logout_token` as a form; a 2xx answer is success (§2.8).
/// A 400 means the client could not use this token, so it is not resent.
async fn deliver(http: &Outbound, slots: &Semaphore, attempts: &[Duration], delivery: Delivery) {
    let Delivery {
        client_id,
        uri,
        trust,
        token,
    } = delivery;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    for (attempt, wait) in attempts.iter().enumerate() {
        tokio::time::sleep(*wait).await;
        let Ok(_slot) = slots.acquire().await else {
            return;
        };
        let request = match http.request(trust, reqwest::Method::POST, &uri) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(client_id, error = %e, "back-channel logout not sent: the URI is refused");
                return;
            }
        };
        let sent = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(client_id, attempt, "back-channel logout delivered");
                return;
            }
            Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
                tracing::warn!(client_id, "back-channel logout refused by the client (400)");
                return;
            }
            Ok(r) => {
                tracing::warn!(client_id, attempt, status = %r.status(), "back-channel logout failed");
            }
            Err(e) => {
                tracing::warn!(client_id, attempt, error = %e, "back-channel logout failed");
            }
        }
    }
    tracing::warn!(client_id, "back-channel logout given up");
}
