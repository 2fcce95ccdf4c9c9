//! The database, and the only place with SQL. `Db` is SQLite (the embedded
//! default) or PostgreSQL (production); every query is one SQL text that runs
//! on both (`$n` placeholders, `RETURNING`, `ON CONFLICT`, Unix-second
//! integers), expanded into both arms by `on_db!`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod apis;
pub mod assertions;
pub mod audit;
pub mod batch;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod devices;
pub mod gateway_sessions;
pub mod grants;
pub mod groups;
pub mod keys;
pub mod logout_deliveries;
pub mod logouts;
pub mod mfa;
pub mod notices;
pub mod outage;
pub mod passkeys;
pub mod pushed;
pub mod registration;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;

#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Expands one body into both arms of `Db`; each arm is type-checked on its own.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Postgres($pool) => $body,
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Runs a body in a transaction that is committed when the body succeeds and
/// rolled back when it returns early. On SQLite the transaction takes the
/// write lock up front (`BEGIN IMMEDIATE`): a read-then-write transaction
/// would otherwise fail with SQLITE_BUSY under concurrency instead of waiting.
macro_rules! in_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let value = $body;
                $tx.commit().await?;
                value
            }
            $crate::store::Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let value = $body;
                $tx.commit().await?;
                value
            }
        }
    };
}
pub(crate) use in_tx;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("not a valid database URL: {0}")]
    Url(sqlx::Error),
    #[error("cannot connect: {0}")]
    Connect(sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database has migration {0}, which this monban does not know: a newer monban \
         upgraded it; run that version or a later one"
    )]
    Newer(i64),
}

/// Where the database stands against the migrations this build carries.
#[derive(Debug, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<Migration>,
    pub pending: Vec<Migration>,
    /// Applied by a newer monban: versions this build does not know.
    pub unknown: Vec<i64>,
}

#[derive(Debug, serde::Serialize)]
pub struct Migration {
    pub version: i64,
    pub description: String,
    /// The statements it runs (shown by `migrate --dry-run`).
    #[serde(skip)]
    pub sql: String,
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl Db {
    /// Connects to `sqlite://…` (creating the file) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, ConnectError> {
        Db::connect_to(url, true).await
    }

    /// Connects to a database that must exist already (commands that only
    /// read it, or copy it: a mistyped SQLite path is an error, not a new
    /// empty database).
    pub async fn open_existing(url: &str) -> Result<Db, ConnectError> {
        Db::connect_to(url, false).await
    }

    async fn connect_to(url: &str, create: bool) -> Result<Db, ConnectError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(ConnectError::Url)?
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(ConnectError::Connect)?;
            Ok(Db::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url).map_err(ConnectError::Url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(ConnectError::Connect)?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Applies the migrations of this database's kind; refuses a database
    /// a newer monban has migrated further (it may not read it right).
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let status = self
            .migration_status()
            .await
            .map_err(ConnectError::Connect)?;
        if let Some(&version) = status.unknown.first() {
            return Err(ConnectError::Newer(version));
        }
        match self {
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// The migrations applied, those still to apply, and any the database
    /// has that this build does not know. Changes nothing.
    pub async fn migration_status(&self) -> Result<MigrationStatus, sqlx::Error> {
        let (migrator, exists) = match self {
            Db::Postgres(_) => (
                &POSTGRES_MIGRATIONS,
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            ),
            Db::Sqlite(_) => (
                &SQLITE_MIGRATIONS,
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
        };
        let has_table: bool = on_db!(self, p => sqlx::query_scalar(exists).fetch_one(p).await)?;
        let applied: Vec<i64> = if has_table {
            on_db!(self, p => sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
            ).fetch_all(p).await)?
        } else {
            Vec::new()
        };
        let mut status = MigrationStatus {
            applied: Vec::new(),
            pending: Vec::new(),
            unknown: Vec::new(),
        };
        for m in migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
        {
            let migration = Migration {
                version: m.version,
                description: m.description.to_string(),
                sql: m.sql.as_str().to_owned(),
            };
            if applied.contains(&m.version) {
                status.applied.push(migration);
            } else {
                status.pending.push(migration);
            }
        }
        status.unknown = applied
            .into_iter()
            .filter(|v| !migrator.iter().any(|m| m.version == *v))
            .collect();
        Ok(status)
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop))
    }

    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }

    /// A consistent copy of a SQLite database into `path` (absent or
    /// empty), made while it is in use (`VACUUM INTO`: one read
    /// transaction, so writers go on; the copy is compact and needs no
    /// WAL). PostgreSQL has its own tools (pg_dump, base backups).
    pub async fn backup_into(&self, path: &str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(p) => sqlx::query("VACUUM INTO ?")
                .bind(path)
                .execute(p)
                .await
                .map(drop),
            Db::Postgres(_) => Err(sqlx::Error::Configuration(
                "backups of PostgreSQL are pg_dump's".into(),
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }
}

/// True when `err` is a unique-constraint violation (a duplicate name).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}
