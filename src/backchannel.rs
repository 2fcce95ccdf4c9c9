//! OpenID Connect Back-Channel Logout 1.0: when an SSO session ends, each
//! client it signed in to that registered a `backchannel_logout_uri` gets a
//! signed logout token POSTed to it (§2.5). Deliveries go through an outbox
//! in the database (`store::logout_deliveries`): queued when the session
//! ends, sent by whichever instance claims them, retried with backoff, and
//! so never lost to a restart nor held up by a slow client. The CLI
//! (`monban user disable`) queues and tries each once before it exits;
//! what it could not deliver a running server retries.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::keys::KeySet;
use crate::outbound::{Outbound, Trust};
use crate::store::logout_deliveries::{self as outbox, Claimed, Outcome};
use crate::store::{self, Db, outage, sessions::Ended};
use crate::types::SigningAlg;
use crate::unix_now;

/// §2.4: the `typ` header of a logout token.
pub const TOKEN_TYP: &str = "logout+jwt";
/// §2.4: the event a logout token carries.
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is accepted by its client for this long (§2.6 suggests
/// "a few minutes"). Each attempt signs a new one, with the same `jti`.
const TOKEN_LIFETIME: i64 = 120;
/// Waits after each failed attempt; after the last, the delivery is given
/// up (about 36 minutes after the first).
const BACKOFF: &[i64] = &[2, 10, 60, 300, 1800];
/// How long an instance has a delivery to itself: longer than an attempt
/// takes (outbound requests end within 5 s), so that a delivery whose sender
/// died is taken up by another after this.
const CLAIM_FOR: i64 = 30;
/// How often each instance looks for due deliveries (queued elsewhere, or
/// retries); one queued here is sent at once.
const POLL: Duration = Duration::from_secs(1);
/// Requests in flight at once; more wait their turn. A slot is held for
/// one attempt, not across the waits between retries, so clients that do
/// not answer cannot hold up the others for long.
const IN_FLIGHT: usize = 64;
/// Attempts in flight at once for one client, on one instance: a client
/// whose endpoint is slow (or an outsider's tarpit) holds at most these.
const PER_CLIENT: usize = 2;
/// Done deliveries are kept this long (a day), then purged.
const KEEP_DONE: i64 = 86_400;

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

/// Wakes this instance's sender when a delivery is queued.
#[derive(Default)]
pub struct Backchannel {
    queued: Notify,
}

impl Backchannel {
    /// Sends due deliveries until the task is dropped: at once when one is
    /// queued on this instance, else every `POLL`. `keys` gives the signing
    /// keys of the moment.
    pub async fn run(&self, db: Db, http: Outbound, issuer: &str, keys: impl Fn() -> Arc<KeySet>) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let issuer: Arc<str> = Arc::from(issuer);
        let busy = Arc::default();
        loop {
            tokio::select! {
                () = self.queued.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            let sender = Sender {
                db: db.clone(),
                http: http.clone(),
                keys: keys(),
                issuer: Arc::clone(&issuer),
                busy: Arc::clone(&busy),
            };
            let mut started = tokio::task::JoinSet::new();
            if let Err(e) = sender.start_due(&slots, &mut started).await
                && !outage::noticed(&e)
            {
                tracing::warn!(error = %e, "back-channel logout: could not read the outbox");
            }
            // The attempts go on while the next round looks for more.
            started.detach_all();
        }
    }

    /// Queues the logouts of the sessions that just ended, and wakes the
    /// sender. Never fails the logout: problems are logged.
    pub async fn queue(&self, db: &Db, ended: Ended, now: i64) {
        queue(db, ended, now).await;
        self.queued.notify_one();
    }
}

/// Queues the logouts of the sessions that just ended, from a CLI command,
/// and tries each once, all at once, before the command exits.
pub async fn notify_now(db: &Db, config: &crate::config::Config, ended: Ended, now: i64) {
    if queue(db, ended, now).await == 0 {
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
            tracing::error!(error = %e, "back-channel logout: could not load the signing keys; a running server sends them");
            return;
        }
    };
    let http = match Outbound::new(config.outbound_allow_networks.clone()) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: no HTTP client");
            return;
        }
    };
    let sender = Sender {
        db: db.clone(),
        http,
        keys: Arc::new(keys),
        issuer: Arc::from(config.issuer.as_str()),
        busy: Arc::default(),
    };
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut started = tokio::task::JoinSet::new();
    if let Err(e) = sender.start_due(&slots, &mut started).await {
        tracing::warn!(error = %e, "back-channel logout: could not read the outbox; a running server sends them");
    }
    // Attempts end within the outbound timeout.
    while started.join_next().await.is_some() {}
}

/// Queues a delivery per ended session and client that takes logout
/// tokens; returns how many were queued.
async fn queue(db: &Db, ended: Ended, now: i64) -> usize {
    let mut queued = 0;
    for login in crate::session::logins_of(ended) {
        for client_id in &login.clients {
            match store::clients::find(db, client_id).await {
                Ok(Some(client)) if client.backchannel_logout_uri.is_some() => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(client_id, error = %e, "back-channel logout: could not read the client; not sent");
                    continue;
                }
            }
            let jti = crate::tokens::new_jti();
            match outbox::queue(db, &login.sid, client_id, login.user_id, &jti, now).await {
                Ok(true) => queued += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(client_id, sid = %login.sid, error = %e, "back-channel logout: could not be queued; not sent");
                }
            }
        }
    }
    queued
}

/// Sends deliveries with what one process has.
#[derive(Clone)]
struct Sender {
    db: Db,
    http: Outbound,
    keys: Arc<KeySet>,
    issuer: Arc<str>,
    /// Attempts in flight per client.
    busy: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl Sender {
    /// Claims the due deliveries, each once a slot is free, and starts one
    /// attempt at each in `started`.
    async fn start_due(
        &self,
        slots: &Arc<Semaphore>,
        started: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), sqlx::Error> {
        let due = outbox::due(&self.db, unix_now(), IN_FLIGHT as i64, PER_CLIENT as i64).await?;
        for (sid, client_id) in due {
            if !self.take_turn(&client_id) {
                continue;
            }
            let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
                self.end_turn(&client_id);
                break;
            };
            let now = unix_now();
            let claimed =
                match outbox::claim(&self.db, &sid, &client_id, now, now + CLAIM_FOR).await {
                    Ok(Some(claimed)) => claimed,
                    // Another instance has it, or it is done.
                    Ok(None) => {
                        self.end_turn(&client_id);
                        continue;
                    }
                    Err(e) => {
                        self.end_turn(&client_id);
                        return Err(e);
                    }
                };
            let sender = self.clone();
            started.spawn(async move {
                sender.attempt(claimed).await;
                sender.end_turn(&client_id);
                drop(slot);
            });
        }
        Ok(())
    }

    /// Whether `client_id` may have one more attempt in flight; if so it
    /// has it until `end_turn`.
    fn take_turn(&self, client_id: &str) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let turns = busy.entry(client_id.to_owned()).or_default();
        if *turns >= PER_CLIENT {
            return false;
        }
        *turns += 1;
        true
    }

    fn end_turn(&self, client_id: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(turns) = busy.get_mut(client_id) {
            *turns = turns.saturating_sub(1);
            if *turns == 0 {
                busy.remove(client_id);
            }
        }
    }

    /// One attempt at a claimed delivery, and what it leaves in the outbox.
    async fn attempt(&self, delivery: Claimed) {
        let Claimed {
            sid,
            client_id,
            user_id,
            jti,
            attempts,
        } = delivery;
        let next = match self.send(&client_id, &sid, user_id, jti).await {
            Ok(outcome) => Ok(outcome),
            Err(()) => match usize::try_from(attempts - 1)
                .ok()
                .and_then(|i| BACKOFF.get(i))
            {
                Some(wait) => Err(unix_now() + wait),
                None => {
                    tracing::warn!(client_id, sid, attempts, "back-channel logout given up");
                    Ok(Outcome::GivenUp)
                }
            },
        };
        let recorded = match next {
            Ok(outcome) => outbox::finish(&self.db, &sid, &client_id, outcome, unix_now()).await,
            Err(at) => outbox::retry_at(&self.db, &sid, &client_id, at).await,
        };
        if let Err(e) = recorded
            && !outage::noticed(&e)
        {
            tracing::warn!(client_id, error = %e, "back-channel logout: could not record the attempt");
        }
    }

    /// §2.5: POSTs a logout token as a form; a 2xx answer is success (§2.8).
    /// A 400 means the client could not use this token, so it is not resent.
    /// Err: worth another attempt.
    async fn send(
        &self,
        client_id: &str,
        sid: &str,
        user_id: uuid::Uuid,
        jti: String,
    ) -> Result<Outcome, ()> {
        let client = match store::clients::find(&self.db, client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Ok(Outcome::Dropped),
            Err(_) => return Err(()),
        };
        let Some(uri) = client.backchannel_logout_uri else {
            return Ok(Outcome::Dropped);
        };
        let claims = LogoutClaims {
            iss: &self.issuer,
            aud: client_id,
            iat: unix_now(),
            exp: unix_now() + TOKEN_LIFETIME,
            jti,
            events: json!({ EVENT: {} }),
            sub: user_id.to_string(),
            sid,
        };
        let token = match self.keys.sign(SigningAlg::RS256, TOKEN_TYP, &claims) {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(client_id, error = %e, "back-channel logout: could not sign the logout token");
                return Err(());
            }
        };
        let request = match self.http.request(
            Trust::from(client.origin),
            reqwest::Method::POST,
            &uri,
        ) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(client_id, error = %e, "back-channel logout not sent: the URI is refused");
                return Ok(Outcome::Dropped);
            }
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", &token)
            .finish();
        let sent = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(client_id, "back-channel logout delivered");
                Ok(Outcome::Delivered)
            }
            Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
                tracing::warn!(client_id, "back-channel logout refused by the client (400)");
                Ok(Outcome::Refused)
            }
            Ok(r) => {
                tracing::warn!(client_id, status = %r.status(), "back-channel logout failed; retried later");
                Err(())
            }
            Err(e) => {
                tracing::warn!(client_id, error = %e, "back-channel logout failed; retried later");
                Err(())
            }
        }
    }
}

/// Deletes deliveries done more than a day ago (upkeep).
pub async fn purge(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    outbox::purge_done(db, now - KEEP_DONE).await
}
