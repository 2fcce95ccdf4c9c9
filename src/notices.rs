//! Instances tell each other of changes their caches hold (PostgreSQL
//! `LISTEN`/`NOTIFY`): a revoked token leaves every phantom cache, rotated
//! keys are taken up, a changed client is read again — at once instead of
//! within the caches' 5 s re-reads, which stay as the fallback while the
//! listening connection is down. CLI commands announce their changes too.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::state::App;
use crate::store::{self, Db, outage};

/// A change other instances must hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One opaque access token was revoked (its SHA-256).
    Token(Vec<u8>),
    /// Tokens were revoked in bulk (a grant, a user's, a consent's).
    Tokens,
    /// Signing keys were rotated or withdrawn.
    Keys,
    /// A client was changed or deleted.
    Client(String),
    /// SSO sessions ended: gateway sessions cached must be read again.
    Sessions,
}

/// Who announces: an instance ignores its own notices.
static INSTANCE: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
/// Waits before listening again after the connection dropped: doubling
/// from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

impl Change {
    fn encode(&self) -> String {
        match self {
            Change::Token(hash) => {
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                format!("token:{hex}")
            }
            Change::Tokens => "tokens".into(),
            Change::Keys => "keys".into(),
            Change::Sessions => "sessions".into(),
            Change::Client(id) => format!("client:{id}"),
        }
    }

    fn decode(text: &str) -> Option<Change> {
        if let Some(hex) = text.strip_prefix("token:") {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            return Some(Change::Token(bytes));
        }
        if let Some(id) = text.strip_prefix("client:") {
            return Some(Change::Client(id.to_owned()));
        }
        match text {
            "tokens" => Some(Change::Tokens),
            "keys" => Some(Change::Keys),
            "sessions" => Some(Change::Sessions),
            _ => None,
        }
    }
}

/// Tells the other instances of `change`. Never fails the change itself:
/// a notice that cannot be sent is caught up by the caches' re-reads.
pub async fn announce(db: &Db, change: Change) {
    let payload = format!("{} {}", *INSTANCE, change.encode());
    if let Err(e) = store::notices::announce(db, &payload).await
        && !outage::noticed(&e)
    {
        tracing::warn!(error = %e, "could not tell the other instances of a change; they see it within 5 s");
    }
}

/// Listens for the other instances' notices until the task is dropped;
/// nothing to do on SQLite. When the connection drops, it listens again
/// (with backoff) and drops what the caches hold, as changes were missed.
pub async fn listen(app: Arc<App>) {
    let Some(pool) = store::notices::listener_pool(&app.db) else {
        return;
    };
    let mut wait = BACKOFF.0;
    let mut listened = false;
    loop {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                if listened {
                    tracing::info!("instance notices: listening again");
                }
                // Whatever changed before it listened was not told.
                catch_up(&app).await;
                listened = true;
                wait = BACKOFF.0;
                let lost = loop {
                    match listener.try_recv().await {
                        Ok(Some(notice)) => apply(&app, notice.payload()).await,
                        Ok(None) => break "connection lost".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                tracing::warn!(error = %lost, "instance notices: not listening; caches fall back to their 5 s re-reads until it is back");
            }
            Err(e) if wait == BACKOFF.0 && !outage::noticed(&e) => {
                tracing::warn!(error = %e, "instance notices: cannot listen; retrying");
            }
            Err(_) => {}
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(BACKOFF.1);
    }
}

async fn subscribe(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // This loop reconnects itself, and knows then that it missed changes.
    listener.eager_reconnect(false);
    listener.listen(store::notices::CHANNEL).await?;
    Ok(listener)
}

/// Changes may have been missed: what is cached is read again.
async fn catch_up(app: &App) {
    app.phantoms.clear();
    app.clients.clear();
    app.gateway_sessions.clear();
    if let Err(e) = app.keys.reload(&app.db).await {
        tracing::warn!(error = %e, "instance notices: could not reload the signing keys");
    }
}

async fn apply(app: &App, payload: &str) {
    let Some((from, text)) = payload.split_once(' ') else {
        return;
    };
    if from == INSTANCE.as_str() {
        return;
    }
    match Change::decode(text) {
        Some(Change::Token(hash)) => app.phantoms.forget(&hash),
        Some(Change::Tokens) => app.phantoms.clear(),
        Some(Change::Sessions) => app.gateway_sessions.clear(),
        Some(Change::Keys) => match app.keys.reload(&app.db).await {
            Ok(true) => {
                app.phantoms.clear();
                tracing::info!("signing keys reloaded: another instance changed them");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not reload the signing keys another instance changed")
            }
        },
        Some(Change::Client(id)) => {
            app.clients.forget(&id);
            // A phantom names its client: one for a changed client must go.
            app.phantoms.clear();
        }
        None => tracing::debug!(notice = text, "instance notices: not understood"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_back_as_sent() {
        for change in [
            Change::Token(vec![0, 1, 0xab, 0xff]),
            Change::Tokens,
            Change::Keys,
            Change::Sessions,
            Change::Client("https://app.example.com/client id".into()),
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("token:abc"), None);
        assert_eq!(Change::decode("token:zz"), None);
        assert_eq!(Change::decode("something else"), None);
    }
}
