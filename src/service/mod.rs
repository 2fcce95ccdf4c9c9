//! The operations the front ends share (endpoints, pages, the admin API,
//! the CLI): each takes who performs it and where (`Operator`) and `now`,
//! keeps the rules that go with it in one place, writes its audit event,
//! and says why it refused (`Refused`), which each front end words its own
//! way (the admin API's JSON errors, a page's message, the CLI's exit).

use uuid::Uuid;

use crate::audit::{Actor, Event, Kind, Origin};
use crate::config::Config;
use crate::page_error::PageError;
use crate::state::App;
use crate::store::sessions::Ended;
use crate::store::{self, Db};

pub mod apis;
pub mod audit;
pub mod clients;
pub mod consents;
pub mod groups;
pub mod keys;
pub mod mfa;
pub mod passkeys;
pub mod sessions;
pub mod tokens;
pub mod users;

/// Why an operation did not happen; nothing changed.
#[derive(Debug)]
pub enum Refused {
    /// What it names does not exist (the message says what).
    NotFound(String),
    /// It contradicts what exists: a name taken, an admin locking themselves
    /// out.
    Conflict(String),
    /// A value that is not valid.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Something failed inside (the cause, for the log).
    Failed(String),
    Database(sqlx::Error),
}

/// What an operation answers.
pub type Outcome<T> = Result<T, Refused>;

impl Refused {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Refused {
        Refused::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A unique violation is `message` as a conflict; any other error a
    /// database failure.
    pub fn taken(e: sqlx::Error, message: impl Into<String>) -> Refused {
        if store::is_unique_violation(&e) {
            Refused::Conflict(message.into())
        } else {
            Refused::Database(e)
        }
    }
}

impl From<crate::paging::BadPage> for Refused {
    fn from(e: crate::paging::BadPage) -> Refused {
        Refused::invalid(e.field, e.message)
    }
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Refused {
        Refused::Database(e)
    }
}

/// A key operation's failure: a database error stays one (in an outage,
/// a 503), anything else is a failure inside.
impl From<crate::keys::KeyError> for Refused {
    fn from(e: crate::keys::KeyError) -> Refused {
        match e {
            crate::keys::KeyError::Db(e) => Refused::Database(e),
            other => Refused::Failed(other.to_string()),
        }
    }
}

/// On a page, a refusal where none is expected (a read, a change of one's
/// own) is a failure inside.
impl From<Refused> for PageError {
    fn from(refused: Refused) -> PageError {
        match refused {
            Refused::Database(e) => e.into(),
            Refused::Failed(cause) => PageError::server(&cause),
            other => PageError::server(&other),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotFound(m) | Refused::Conflict(m) | Refused::Invalid { message: m, .. } => {
                f.write_str(m)
            }
            Refused::Failed(_) | Refused::Database(_) => f.write_str("internal error"),
        }
    }
}

impl std::error::Error for Refused {}

/// Who performs an operation, through which front end, and where it runs.
pub struct Operator<'a> {
    pub actor: Actor,
    pub via: Via,
    /// Where the request came from (none for a CLI command).
    pub origin: Option<&'a Origin>,
    pub runs_in: RunsIn<'a>,
}

/// The front end an operation came through, named in its audit event's
/// details (`"via"`): the actor alone does not tell an admin's API call
/// from their click on a page, or `monban apply` from another command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    AdminApi,
    AdminPages,
    /// A `monban` command other than `apply`.
    Cli,
    /// `monban apply`, or `MONBAN_APPLY` at start.
    Apply,
    /// Dynamic client registration (RFC 7591, RFC 7592).
    Registration,
    /// A person on their own account page.
    AccountPage,
    /// A person signing in (setting up a required second factor).
    SignIn,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::AdminApi => "admin api",
            Via::AdminPages => "admin pages",
            Via::Cli => "cli",
            Via::Apply => "apply",
            Via::Registration => "registration",
            Via::AccountPage => "account page",
            Via::SignIn => "sign-in",
        }
    }
}

/// The server (its state: caches to keep in step, the back-channel queue),
/// or a CLI command (another process, with only the database).
pub enum RunsIn<'a> {
    Server(&'a App),
    Command { db: &'a Db, config: &'a Config },
}

impl<'a> Operator<'a> {
    /// A client registering or managing itself (RFC 7591, RFC 7592), from
    /// where its request came.
    pub fn client_itself(app: &'a App, client_id: &str, origin: &'a Origin) -> Operator<'a> {
        Operator {
            actor: Actor::Client(client_id.to_owned()),
            via: Via::Registration,
            origin: Some(origin),
            runs_in: RunsIn::Server(app),
        }
    }
}

impl Operator<'_> {
    pub fn db(&self) -> &Db {
        match &self.runs_in {
            RunsIn::Server(app) => &app.db,
            RunsIn::Command { db, .. } => db,
        }
    }

    pub fn config(&self) -> &Config {
        match &self.runs_in {
            RunsIn::Server(app) => &app.config,
            RunsIn::Command { config, .. } => config,
        }
    }

    /// The signing keys changed: this server signs with the new ones at
    /// once, and so do the other instances once told; cached phantom
    /// tokens, signed with the old, go.
    pub async fn reload_keys(&self) -> Outcome<()> {
        if let RunsIn::Server(app) = &self.runs_in {
            let changed = app.keys.reload(&app.db).await?;
            if changed {
                app.phantoms.clear();
            }
        }
        crate::notices::announce(self.db(), crate::notices::Change::Keys).await;
        Ok(())
    }

    /// Sessions just ended: their clients are told (queued in the server;
    /// from a command, delivered before it exits), and cached phantoms of
    /// the tokens that ended with them go, on every instance.
    pub async fn sessions_ended(&self, ended: Ended, now: i64) {
        match &self.runs_in {
            RunsIn::Server(app) => sessions::sessions_ended(app, ended, now).await,
            RunsIn::Command { db, config } => {
                crate::notices::announce(db, crate::notices::Change::Tokens).await;
                crate::notices::announce(db, crate::notices::Change::Sessions).await;
                crate::backchannel::notify_now(db, config, ended, now).await;
            }
        }
    }

    /// A client changed: this server's cache takes it at once, the other
    /// instances once told (within their cache's 5 seconds if the notice is
    /// lost).
    pub async fn reload_client(&self, client_id: &str) -> Result<(), sqlx::Error> {
        if let RunsIn::Server(app) = &self.runs_in {
            app.clients.load(&app.db, client_id).await?;
        }
        let change = crate::notices::Change::Client(client_id.to_owned());
        crate::notices::announce(self.db(), change).await;
        Ok(())
    }

    /// Tokens were revoked in bulk: cached phantoms go at once, here and on
    /// the other instances once told (within `phantom::RECHECK` if the
    /// notice is lost).
    pub async fn forget_phantoms(&self) {
        if let RunsIn::Server(app) = &self.runs_in {
            app.phantoms.clear();
        }
        crate::notices::announce(self.db(), crate::notices::Change::Tokens).await;
    }

    /// An audit event of `kind` by this operator, from where it acts.
    pub fn event(&self, kind: Kind) -> Event {
        let event = Event::new(kind).by(self.actor.clone());
        match self.origin {
            Some(origin) => event.from(origin),
            None => event,
        }
    }

    /// Records `kind` about `user`, by this operator.
    pub async fn record(&self, kind: Kind, user: Uuid, detail: serde_json::Value, now: i64) {
        self.log(self.event(kind).user(user).detail(detail), now)
            .await;
    }

    /// Records `event`, its details naming the front end (`via`).
    pub async fn log(&self, event: Event, now: i64) {
        let event = event.detail_also("via", serde_json::json!(self.via.as_str()));
        crate::audit::record(self.db(), event, now).await;
    }

    /// An admin cannot `what` themselves (and so perhaps lock everyone
    /// out): another admin must.
    pub fn not_yourself(&self, user: Uuid, what: &str) -> Outcome<()> {
        if self.actor == Actor::User(user) {
            return Err(Refused::Conflict(format!(
                "you cannot {what} yourself; another admin can"
            )));
        }
        Ok(())
    }
}
