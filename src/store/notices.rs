//! PostgreSQL `LISTEN`/`NOTIFY` between instances (and CLI commands): the
//! channel changes are announced on, and the connection that listens to
//! it. SQLite is one process's database: nothing to tell.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::Db;

/// The channel every instance listens to.
pub const CHANNEL: &str = "monban_changes";
/// How the listening connection names itself (`pg_stat_activity`).
pub const LISTENER_NAME: &str = "monban-listener";

/// Sends `payload` to every instance listening (after the surrounding
/// transaction, if any: here there is none, so at once).
pub async fn announce(db: &Db, payload: &str) -> Result<(), sqlx::Error> {
    if let Db::Postgres(pool) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// A pool of one connection for the listener, with the main pool's
/// settings: a listener holds its connection for good, which must not be
/// one the requests need. None on SQLite.
pub fn listener_pool(db: &Db) -> Option<PgPool> {
    let Db::Postgres(pool) = db else {
        return None;
    };
    let options = (*pool.connect_options())
        .clone()
        .application_name(LISTENER_NAME);
    Some(
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy_with(options),
    )
}
