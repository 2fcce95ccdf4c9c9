//! Starting and running the server: connect and migrate the database,
//! bootstrap an empty one, load the keys, serve until a shutdown signal, and
//! keep the background upkeep (key reloads, rotation, purges) going.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{self, App};
use crate::client_cache::ClientCache;
use crate::config::Config;
use crate::keys::{self, KeyError, KeySet, Keys};
use crate::password::{self, Passwords};
use crate::store::batch::AccessTokenWriter;
use crate::store::{self, ConnectError, Db, users};
use crate::types::Secret;
use crate::unix_now;

/// How often expired rows are purged and automatic rotation is considered.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("MONBAN_DATABASE_URL: {0}")]
    Database(#[from] ConnectError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("admin user: {0}")]
    Admin(String),
}

impl StartError {
    /// Configuration problems (exit 2) versus operational failures (exit 1).
    pub fn is_configuration(&self) -> bool {
        matches!(self, StartError::Database(_))
    }
}

/// What bootstrapping an empty database created.
pub struct Bootstrap {
    /// The generated admin password, shown once; `None` when none was
    /// created or `MONBAN_ADMIN_PASSWORD` supplied it.
    pub admin_password: Option<Secret>,
    pub created_admin: bool,
    pub created_keys: Vec<crate::types::SigningAlg>,
}

pub async fn connect(config: &Config) -> Result<Db, StartError> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

/// Prepares a migrated database for serving: on an empty database, creates
/// the `admin` user (in the `admin` group); always makes sure the signing
/// keys exist. Then loads the keys.
pub async fn prepare(config: Config, db: Db) -> Result<(Arc<App>, Bootstrap), StartError> {
    let now = unix_now();
    let passwords = Passwords::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let empty = users::count(&db).await? == 0 && store::keys::all(&db).await?.is_empty();
    let created_keys = keys::ensure(&db, &keys::required_algs(config.signing_alg), now).await?;
    let mut bootstrap = Bootstrap {
        admin_password: None,
        created_admin: false,
        created_keys,
    };
    if empty {
        let (password, generated) = match &config.admin_password {
            Some(p) => (p.clone(), false),
            None => (password::generate(), true),
        };
        bootstrap.created_admin = create_admin(&db, &passwords, &password, now).await?;
        if bootstrap.created_admin && generated {
            bootstrap.admin_password = Some(password);
        }
    }
    let key_set = KeySet::from_rows(&store::keys::all(&db).await?)?;
    let metadata = crate::endpoints::metadata::document(&config);
    let app = App {
        config,
        access_tokens: AccessTokenWriter::start(db.clone()),
        db,
        keys: Keys::new(key_set),
        clients: ClientCache::default(),
        passwords,
        metadata,
    };
    Ok((Arc::new(app), bootstrap))
}

/// Creates `admin` in group `admin`; false if another instance did first.
async fn create_admin(
    db: &Db,
    passwords: &Passwords,
    password: &Secret,
    now: i64,
) -> Result<bool, StartError> {
    let hash = passwords
        .hash(password)
        .await
        .map_err(|e| StartError::Admin(e.to_string()))?;
    let new = users::NewUser {
        username: "admin",
        email: None,
        name: Some("Administrator"),
        password_hash: &hash,
    };
    // None: another instance created it first.
    Ok(users::insert_in_group(db, &new, "admin", now)
        .await?
        .is_some())
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(upkeep(Arc::clone(&app)));
    let router = app::router(Arc::clone(&app));
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    upkeep.abort();
    app.db.close().await;
    result
}

/// Background upkeep, on every instance: reload keys often; purge expired
/// rows and rotate keys on schedule now and then. Each step is safe when
/// several instances do it at once.
async fn upkeep(app: Arc<App>) {
    let mut reload = tokio::time::interval(keys::RELOAD_INTERVAL);
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = reload.tick() => {
                match app.keys.reload(&app.db).await {
                    Ok(true) => tracing::info!("signing keys reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reload signing keys"),
                }
            }
            _ = upkeep.tick() => {
                let now = unix_now();
                if let Err(e) = store::tokens::purge_expired(&app.db, now).await {
                    tracing::warn!(error = %e, "could not purge expired tokens");
                }
                rotate_on_schedule(&app, now).await;
            }
        }
    }
}

/// Automatic rotation (`MONBAN_KEY_ROTATION_DAYS`): once the access-token
/// key is older than the period, and its successor has been published for a
/// full JWKS max-age.
async fn rotate_on_schedule(app: &App, now: i64) {
    let config = &app.config;
    if config.key_rotation_days == 0 {
        return;
    }
    let keys = app.keys.get();
    let Some(active) = keys.active(config.signing_alg) else {
        return;
    };
    let since = active.activated_at.unwrap_or(active.created_at);
    if now - since < config.key_rotation_days * 86_400 {
        return;
    }
    match keys::rotate(&app.db, config, false, now).await {
        Ok(done) => {
            for r in done {
                tracing::info!(alg = %r.alg, active = %r.active_kid, next = %r.next_kid, "signing keys rotated on schedule");
            }
        }
        Err(e) => tracing::info!(reason = %e, "scheduled key rotation postponed"),
    }
}
