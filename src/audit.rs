//! The audit log: security events, each written to `audit_events` and to
//! the log stream (target `monban::audit`). An event names its kind, who did
//! it, whom and which client it concerns, where the request came from, and
//! details — never a secret, token or password.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::state::App;
use crate::store::Db;
use crate::store::audit::{self as store, AuditRow};

/// Declares `Kind` with each variant's stable name, in one place.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Every kind of event, with its stable name (used in filters and logs).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    LoginSucceeded => "login.succeeded",
    LoginFailed => "login.failed",
    /// A username reached its failure limit and must wait.
    AccountLocked => "account.locked",
    AccountUnlocked => "account.unlocked",
    ConsentGranted => "consent.granted",
    ConsentRevoked => "consent.revoked",
    /// A user allowed a device's request (RFC 8628), or refused it.
    DeviceApproved => "device.approved",
    DeviceDenied => "device.denied",
    TokenRevoked => "token.revoked",
    /// A rotated refresh token came back: its family was revoked.
    RefreshTokenReused => "refresh_token.reused",
    /// A used authorization code came back: its tokens were revoked.
    AuthorizationCodeReused => "authorization_code.reused",
    SessionsEnded => "sessions.ended",
    PasswordChanged => "password.changed",
    /// A second factor was set up (an authenticator app, recovery codes).
    MfaEnrolled => "mfa.enrolled",
    MfaRemoved => "mfa.removed",
    /// A wrong second factor at sign-in.
    MfaFailed => "mfa.failed",
    /// An operator removed all of a user's second factors.
    MfaReset => "mfa.reset",
    RecoveryCodeUsed => "recovery_code.used",
    /// A passkey's signature counter went back: it may have been copied.
    PasskeyCloneSuspected => "passkey.clone_suspected",
    UserCreated => "user.created",
    UserUpdated => "user.updated",
    UserDisabled => "user.disabled",
    UserEnabled => "user.enabled",
    UserDeleted => "user.deleted",
    GroupCreated => "group.created",
    GroupDeleted => "group.deleted",
    GroupUpdated => "group.updated",
    GroupMemberAdded => "group.member_added",
    GroupMemberRemoved => "group.member_removed",
    ClientCreated => "client.created",
    ClientUpdated => "client.updated",
    ClientSecretRotated => "client.secret_rotated",
    ClientDeleted => "client.deleted",
    /// An initial access token for dynamic registration was made.
    RegistrationTokenCreated => "registration_token.created",
    ApiCreated => "api.created",
    ApiUpdated => "api.updated",
    ApiDeleted => "api.deleted",
    KeysRotated => "keys.rotated",
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person, in their own session or through an admin token.
    User(Uuid),
    /// A client acting on its own behalf (client_credentials, registration).
    Client(String),
    /// An operator at the command line.
    Cli,
    /// monban itself (scheduled rotation).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Client(id) => write!(f, "client:{id}"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Where a request came from: the client address as far as it can be
/// trusted (`net::client_ip`) and its user agent (first 200 characters).
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<Arc<App>> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let peer = crate::net::peer_ip(&parts.extensions);
        let ip = crate::net::client_ip(peer, &parts.headers, &app.config.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect());
        Ok(Origin { ip, user_agent })
    }
}

/// One event, built up and then `record`ed.
#[derive(Debug, Clone)]
pub struct Event {
    kind: Kind,
    actor: Option<Actor>,
    user_id: Option<Uuid>,
    client_id: Option<String>,
    origin: Option<Origin>,
    detail: Value,
}

impl Event {
    pub fn new(kind: Kind) -> Event {
        Event {
            kind,
            actor: None,
            user_id: None,
            client_id: None,
            origin: None,
            detail: json!({}),
        }
    }

    pub fn by(mut self, actor: Actor) -> Event {
        self.actor = Some(actor);
        self
    }

    /// The user the event concerns.
    pub fn user(mut self, id: Uuid) -> Event {
        self.user_id = Some(id);
        self
    }

    /// The client the event concerns.
    pub fn client(mut self, client_id: &str) -> Event {
        self.client_id = Some(client_id.to_owned());
        self
    }

    pub fn from(mut self, origin: &Origin) -> Event {
        self.origin = Some(origin.clone());
        self
    }

    /// Details: names, reasons, counts — never secrets.
    pub fn detail(mut self, detail: Value) -> Event {
        self.detail = detail;
        self
    }

    /// One more detail, `key: value` (details that are not an object, as
    /// none are, stay as they are).
    pub fn detail_also(mut self, key: &str, value: Value) -> Event {
        if let Some(object) = self.detail.as_object_mut() {
            object.insert(key.to_owned(), value);
        }
        self
    }
}

/// Writes `event` to the log stream and the database. A failed write is
/// logged, not returned: the action it describes has already happened.
pub async fn record(db: &Db, event: Event, now: i64) {
    let row = AuditRow {
        id: Uuid::now_v7(),
        at: now,
        kind: event.kind.as_str().to_owned(),
        actor: event.actor.map(|a| a.to_string()),
        user_id: event.user_id,
        client_id: event.client_id,
        ip: event.origin.as_ref().map(|o| o.ip.to_string()),
        user_agent: event.origin.and_then(|o| o.user_agent),
        detail: Json(event.detail),
    };
    tracing::info!(
        target: "monban::audit",
        event = %row.kind,
        actor = row.actor.as_deref(),
        user_id = row.user_id.map(tracing::field::display),
        client_id = row.client_id.as_deref(),
        ip = row.ip.as_deref(),
        detail = %row.detail.0,
        "audit"
    );
    // Lost in an outage: the event is in the log stream above.
    if let Err(e) = store::insert(db, &row).await
        && !crate::store::outage::noticed(&e)
    {
        tracing::error!(error = %e, event = %row.kind, "could not write an audit event");
    }
}

/// Purges events older than the retention period (0 days: kept forever).
pub async fn purge(db: &Db, retention_days: i64, now: i64) -> Result<u64, sqlx::Error> {
    if retention_days == 0 {
        return Ok(0);
    }
    store::purge(db, now - retention_days * 86_400).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        for &kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(Kind::parse("nope"), None);
    }
}
