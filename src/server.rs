//! Starting and running the server: connect and migrate the database,
//! bootstrap an empty one, load the keys, serve until a shutdown signal, and
//! keep the background upkeep (key reloads, rotation, purges) going.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::audit::{self, Actor, Event, Kind};
use crate::client_cache::ClientCache;
use crate::config::Config;
use crate::key_encryption::SealError;
use crate::keys::{self, KeyError, KeySet, Keys};
use crate::password::{self, Passwords};
use crate::phantom_cache::PhantomCache;
use crate::policy::Policies;
use crate::router;
use crate::routes;
use crate::state::App;
use crate::store::batch::BatchWriter;
use crate::store::{self, ConnectError, Db, outage, users};
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
    #[error("MONBAN_POLICY_FILE: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    #[error("outbound requests: {0}")]
    Outbound(String),
    #[error("MONBAN_WEBAUTHN_RP_ID: {0}")]
    Passkeys(String),
}

impl StartError {
    /// Configuration problems (exit 2) versus operational failures (exit 1).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            StartError::Database(_)
                | StartError::Policy(_)
                | StartError::Passkeys(_)
                | StartError::Keys(KeyError::Sealed(
                    SealError::KeyMissing { .. } | SealError::WrongKey { .. }
                ))
        )
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
    let policies = Policies::load(
        config.policy_file.as_deref(),
        config.gateway_cookie_domain.is_some(),
    )?;
    let passwords = Passwords::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let empty = users::count(&db).await? == 0 && store::keys::all(&db).await?.is_empty();
    let mut bootstrap = Bootstrap {
        admin_password: None,
        created_admin: false,
        created_keys: Vec::new(),
    };
    // The admin first: if start-up fails before the keys exist, the next
    // start still finds an empty database and tries again.
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
    bootstrap.created_keys = keys::ensure(
        &db,
        &config.key_encryption,
        &keys::required_algs(config.signing_alg),
        now,
    )
    .await?;
    let sealed = keys::seal_plain_keys(&db, &config.key_encryption).await?;
    if sealed > 0 {
        tracing::info!(
            keys = sealed,
            "signing keys encrypted at rest with MONBAN_KEY_ENCRYPTION_KEY"
        );
    }
    crate::clients::ensure_account_client(&db, &config.issuer, now).await?;
    let key_set = KeySet::from_rows(&store::keys::all(&db).await?, &config.key_encryption)?;
    let passkeys = passkeys_of(&config)?;
    let metadata = crate::endpoints::metadata::document(&config, passkeys.is_some());
    let config_phantom_cache = config.phantom_cache;
    let config_key_encryption = config.key_encryption.clone();
    let config_rate_limits = config.rate_limits.clone();
    let outbound = crate::outbound::Outbound::new(config.outbound_allow_networks.clone())
        .map_err(StartError::Outbound)?;
    let web_origins = Arc::new(crate::cors::WebOrigins::new(db.clone()));
    let app = App {
        config,
        access_tokens: BatchWriter::start(db.clone()),
        codes: BatchWriter::start(db.clone()),
        db,
        keys: Keys::new(key_set, config_key_encryption),
        clients: ClientCache::default(),
        passwords,
        dummy_hash: tokio::sync::OnceCell::new(),
        web_origins,
        metadata,
        phantoms: PhantomCache::new(config_phantom_cache),
        gateway_sessions: Default::default(),
        apis: crate::apis::ApiCache::default(),
        policies,
        remote_keys: crate::client_keys::RemoteKeys::new(outbound.clone()),
        backchannel: crate::backchannel::Backchannel::default(),
        outbound,
        metrics: Arc::new(crate::metrics::Metrics::default()),
        rate_limits: crate::rate_limit::RateLimiter::new(config_rate_limits),
        passkeys,
    };
    Ok((Arc::new(app), bootstrap))
}

/// The passkey relying party: none with second factors off; none, with a
/// warning, on an issuer without a domain name, unless
/// `MONBAN_WEBAUTHN_RP_ID` asks for one (then it must work).
fn passkeys_of(config: &Config) -> Result<Option<crate::passkeys::Passkeys>, StartError> {
    if config.mfa == crate::config::Mfa::Off {
        return Ok(None);
    }
    let rp_id = config.webauthn_rp_id.as_deref();
    match crate::passkeys::Passkeys::new(&config.issuer, rp_id) {
        Ok(passkeys) => Ok(Some(passkeys)),
        Err(e) if rp_id.is_some() => Err(StartError::Passkeys(e)),
        Err(e) => {
            tracing::warn!(problem = %e, "passkeys are off");
            Ok(None)
        }
    }
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

/// Longest wait for a request's headers, and for the next request on an
/// idle keep-alive connection (slow-header and idle-connection attacks).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 2048;
/// After the shutdown signal, how long connections already open are still
/// answered (each answer with `Connection: close`), so that a client's next
/// request on a kept-alive connection is answered, not cut under it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The longest a shutdown takes, grace included; requests still in flight
/// then are cut (the request timeout is longer, but a stop must be quick).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(9);

/// Serves `app` on `listener` until `shutdown` completes. Then: new
/// connections are refused, open ones are answered for `SHUTDOWN_GRACE`
/// (each answer closes its connection), requests in flight finish, and the
/// server stops within `SHUTDOWN_LIMIT`.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = tokio::spawn(upkeep(Arc::clone(&app)));
    let notices = tokio::spawn(crate::notices::listen(Arc::clone(&app)));
    let backchannel = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let (db, http) = (app.db.clone(), app.outbound.clone());
            let issuer = app.config.issuer.as_str();
            app.backchannel
                .run(db, http, issuer, || app.keys.get())
                .await;
        })
    };
    let router = router::router(Arc::clone(&app));
    // HTTP/1.1: what proxies and gateways speak to an auth service. (HTTP/2
    // version sniffing would wait for a first byte without any timeout.)
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let closing = Arc::new(AtomicBool::new(false));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let closing = Arc::clone(&closing);
        let service = router
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            })
            .map_response(move |mut response: axum::response::Response| {
                if closing.load(Ordering::Relaxed) {
                    // hyper closes the connection once this answer is written.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    closing.store(true, Ordering::Relaxed);
    let stopped_by = tokio::time::Instant::now() + SHUTDOWN_LIMIT;
    let grace_ends = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while graceful.count() > 0 && tokio::time::Instant::now() < grace_ends {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Idle connections close now; busy ones after their answer.
    if tokio::time::timeout_at(stopped_by, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {}s; closing them",
            SHUTDOWN_LIMIT.as_secs()
        );
    }
    upkeep.abort();
    backchannel.abort();
    notices.abort();
    // Connections still checked out (a request cut at the limit) are not
    // waited for beyond it.
    let _ = tokio::time::timeout_at(stopped_by + Duration::from_secs(1), app.db.close()).await;
    Ok(())
}

/// Serves `GET /metrics` alone on `listener` (`MONBAN_METRICS_LISTEN`),
/// until the process ends.
pub async fn serve_metrics(app: Arc<App>, listener: TcpListener) {
    let router = axum::Router::new()
        .route(
            routes::METRICS,
            axum::routing::get(crate::endpoints::metrics::handler),
        )
        .with_state(app);
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
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
                app.metrics.upkeep();
                match app.keys.reload(&app.db).await {
                    Ok(changed) => {
                        // The database answered: an outage, if any, is over.
                        outage::back();
                        if changed {
                            // Phantoms signed by a withdrawn key must not be handed out.
                            app.phantoms.clear();
                            tracing::info!("signing keys reloaded");
                        }
                    }
                    Err(KeyError::Db(e)) if outage::noticed(&e) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reload signing keys"),
                }
            }
            _ = upkeep.tick() => {
                let now = unix_now();
                purge(&app, now).await;
                match store::keys::purge_retired(&app.db, now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(keys = n, "removed retired signing keys whose tokens have all expired"),
                    Err(e) if outage::noticed(&e) => {}
                    Err(e) => tracing::warn!(error = %e, "could not purge retired keys"),
                }
                rotate_on_schedule(&app, now).await;
            }
        }
    }
}

/// Deletes rows nobody can use any more, from every table whose rows
/// expire: tokens and revoked JWT ids, sessions, codes (kept past their
/// expiry so a replay is still recognised), grants nothing continues,
/// device codes, parked logout requests, initial access tokens, pushed
/// requests, assertion ids, old login-failure windows and audit events
/// past their retention.
pub async fn purge(app: &App, now: i64) {
    // A used code is kept while the tokens issued from it live, so that a
    // replay can still revoke them.
    let longest_access_ttl = match app.apis.current(&app.db).await {
        Ok(apis) => crate::apis::longest_access_ttl(app.config.access_token_ttl, apis.values()),
        Err(_) => crate::apis::MAX_ACCESS_TOKEN_TTL,
    };
    let results = [
        (
            "tokens",
            store::tokens::purge_expired(&app.db, now, longest_access_ttl).await,
        ),
        (
            "sessions",
            store::sessions::purge_expired(&app.db, now).await,
        ),
        (
            "gateway tokens of ended sessions",
            store::gateway_sessions::purge(&app.db, now - 60).await,
        ),
        (
            "authorization codes",
            store::codes::purge_expired(&app.db, now - longest_access_ttl).await,
        ),
        (
            "device codes",
            store::devices::purge_expired(&app.db, now).await,
        ),
        (
            "grants nothing continues",
            store::grants::purge(
                &app.db,
                now - longest_access_ttl - crate::config::CLOCK_SKEW,
            )
            .await,
        ),
        (
            "back-channel logouts done",
            crate::backchannel::purge(&app.db, now).await,
        ),
        (
            "parked logout requests",
            store::logouts::purge_expired(&app.db, now).await,
        ),
        (
            "initial access tokens",
            store::registration::purge(&app.db, now).await,
        ),
        (
            "pushed authorization requests",
            store::pushed::purge_expired(&app.db, now).await,
        ),
        (
            "client assertion ids",
            store::assertions::purge_expired(&app.db, now).await,
        ),
        (
            "login failures",
            store::throttle::purge(&app.db, now - crate::authn::ADDRESS_WINDOW).await,
        ),
        (
            "audit events past their retention",
            audit::purge(&app.db, app.config.audit_retention_days, now).await,
        ),
    ];
    for (what, result) in results {
        if let Err(e) = result
            && !outage::noticed(&e)
        {
            tracing::warn!(error = %e, "could not purge expired {what}");
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
    match keys::rotate(&app.db, config, keys::RotateMode::Safe, now).await {
        Ok(done) => {
            for r in &done {
                tracing::info!(alg = %r.alg, active = %r.active_kid, next = %r.next_kid, "signing keys rotated on schedule");
            }
            let event = Event::new(Kind::KeysRotated)
                .by(Actor::System)
                .detail(serde_json::json!({"rotated": done, "scheduled": true}));
            audit::record(&app.db, event, now).await;
            crate::notices::announce(&app.db, crate::notices::Change::Keys).await;
        }
        Err(e) => tracing::info!(reason = %e, "scheduled key rotation postponed"),
    }
}
