//! The operations the front ends share (endpoints, pages, the admin API,
//! the CLI): each takes who performs it and where (`Operator`) and `now`,
//! keeps the rules that go with it in one place, and writes its audit event.

use uuid::Uuid;

use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::config::Config;
use crate::state::App;
use crate::store::Db;
use crate::store::sessions::Ended;

pub mod sessions;
pub mod tokens;
pub mod users;

/// Who performs an operation, and where it runs.
pub struct Operator<'a> {
    pub actor: Actor,
    /// Where the request came from (none for a CLI command).
    pub origin: Option<&'a Origin>,
    pub runs_in: RunsIn<'a>,
}

/// The server (its state: caches to keep in step, the back-channel queue),
/// or a CLI command (another process, with only the database).
pub enum RunsIn<'a> {
    Server(&'a App),
    Command { db: &'a Db, config: &'a Config },
}

impl Operator<'_> {
    pub fn db(&self) -> &Db {
        match &self.runs_in {
            RunsIn::Server(app) => &app.db,
            RunsIn::Command { db, .. } => db,
        }
    }

    /// Tells the clients of sessions that just ended: queued in the server;
    /// from a command, delivered before it exits.
    pub async fn notify_backchannel(&self, ended: Ended, now: i64) {
        match &self.runs_in {
            RunsIn::Server(app) => sessions::notify_backchannel(app, ended, now).await,
            RunsIn::Command { db, config } => {
                crate::backchannel::notify_now(db, config, ended, now).await;
            }
        }
    }

    /// Tokens were revoked in bulk: this server's cached phantoms go at once
    /// (other instances re-check theirs within `phantom::RECHECK`).
    pub fn forget_phantoms(&self) {
        if let RunsIn::Server(app) = &self.runs_in {
            app.phantoms.clear();
        }
    }

    /// Records `kind` about `user`, by this operator.
    pub async fn record(&self, kind: Kind, user: Uuid, detail: serde_json::Value, now: i64) {
        let mut event = Event::new(kind).by(self.actor.clone()).user(user);
        if let Some(origin) = self.origin {
            event = event.from(origin);
        }
        audit::record(self.db(), event.detail(detail), now).await;
    }
}
