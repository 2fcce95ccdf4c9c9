//! `monban serve` and `monban healthcheck`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;

use super::{CliError, Output};
use crate::config::Config;
use crate::routes;
use crate::server::{self, Bootstrap};

pub async fn serve(config: Config, json: bool) -> Result<(), CliError> {
    crate::logging::init(&config);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let listen = config.listen;
    let db = server::connect(&config).await?;
    if let Some(path) = &config.apply_file {
        apply_at_start(&db, &config, path).await?;
    }
    let (app, bootstrap) = server::prepare(config, db).await?;
    let account = app.config.issuer.endpoint(routes::ACCOUNT);
    report(&bootstrap, &account, json);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::Usage(format!("MONBAN_LISTEN: cannot listen on {listen}: {e}")))?;
    tracing::info!(
        listen = %listen,
        issuer = app.config.issuer.as_str(),
        database = app.db.kind(),
        version = env!("CARGO_PKG_VERSION"),
        "monban is ready"
    );
    if let Some(metrics_listen) = app.config.metrics_listen {
        let listener = TcpListener::bind(metrics_listen).await.map_err(|e| {
            CliError::Usage(format!(
                "MONBAN_METRICS_LISTEN: cannot listen on {metrics_listen}: {e}"
            ))
        })?;
        tracing::info!(listen = %metrics_listen, "metrics served at /metrics");
        tokio::spawn(server::serve_metrics(std::sync::Arc::clone(&app), listener));
    }
    #[cfg(unix)]
    tokio::spawn(reload_policy_on_sighup(std::sync::Arc::clone(&app)));
    server::serve(app, listener, shutdown_signal())
        .await
        .map_err(|e| CliError::Failed(format!("server error: {e}")))?;
    tracing::info!("monban stopped");
    Ok(())
}

/// `MONBAN_APPLY`: the identity file, applied before serving (audited as
/// `system`); a bad one stops the start (exit 2) with nothing changed.
/// Instances starting together may race to create the same items: the
/// loser plans again, against what the winner wrote.
async fn apply_at_start(
    db: &crate::store::Db,
    config: &Config,
    path: &std::path::Path,
) -> Result<(), CliError> {
    use crate::apply::{Action, ApplyError, IdentityFile, Plan, Secrets};
    use crate::audit::Actor;
    use crate::service::{Operator, Refused, RunsIn, Via};
    let in_setting = |e: ApplyError| match CliError::from(e) {
        CliError::Usage(m) => CliError::Usage(format!("MONBAN_APPLY: {m}")),
        failed => failed,
    };
    let base = super::apply::base_dir(path);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let file = IdentityFile::read(path).map_err(in_setting)?;
        let plan = Plan::make(db, file, base, Secrets::MustBeReferenced)
            .await
            .map_err(in_setting)?;
        let count = |action| plan.changes.iter().filter(|c| c.action == action).count();
        let (created, updated) = (count(Action::Create), count(Action::Update));
        let op = Operator {
            actor: Actor::System,
            via: Via::Apply,
            origin: None,
            runs_in: RunsIn::Command { db, config },
        };
        match plan.execute(&op, crate::unix_now()).await {
            Ok(_) => {
                tracing::info!(file = %path.display(), created, updated, "MONBAN_APPLY applied");
                return Ok(());
            }
            Err(ApplyError::Refused(Refused::Conflict(_) | Refused::NotFound(_)))
                if attempts < 3 =>
            {
                tracing::info!("MONBAN_APPLY raced another instance; planning again");
            }
            Err(e) => return Err(in_setting(e)),
        }
    }
}

/// Tells the operator what bootstrapping created, the admin password once.
fn report(bootstrap: &Bootstrap, account: &str, json: bool) {
    for alg in &bootstrap.created_keys {
        tracing::info!(alg = %alg, "created signing keys (active and next)");
    }
    if !bootstrap.created_admin {
        return;
    }
    let password = bootstrap.admin_password.as_ref().map(|p| p.expose());
    if json {
        println!(
            "{}",
            json!({"admin_username": "admin", "admin_password": password, "account_url": account})
        );
        return;
    }
    match password {
        Some(p) => println!(
            "monban: created the first user \"admin\" (group \"admin\") with password\n\n    {p}\n\n\
             It is shown only this once. Sign in at {account} (and change it there),\n\
             or set it with: monban user set-password admin --password-stdin"
        ),
        None => println!(
            "monban: created the first user \"admin\" (group \"admin\") with MONBAN_ADMIN_PASSWORD; sign in at {account}"
        ),
    }
}

/// SIGHUP re-reads `MONBAN_POLICY_FILE`; a file that does not load is
/// reported and the policy in force stays.
#[cfg(unix)]
async fn reload_policy_on_sighup(app: std::sync::Arc<crate::state::App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the policy file will not be reloaded");
        return;
    };
    while hangups.recv().await.is_some() {
        match app.policies.reload() {
            Ok(policy) if policy.configured => {
                tracing::info!(routes = policy.route_count(), "policy file reloaded");
            }
            Ok(_) => tracing::info!("SIGHUP: no MONBAN_POLICY_FILE to reload"),
            Err(e) => {
                tracing::error!(error = %e, "policy file not reloaded; the previous policy stays in force")
            }
        }
    }
}

/// Completes at the first SIGTERM or SIGINT; a second one ends the process
/// at once, without waiting for the graceful stop.
async fn shutdown_signal() {
    stop_signal().await;
    tracing::info!("shutting down: finishing requests in flight (a second signal stops at once)");
    tokio::spawn(async {
        stop_signal().await;
        tracing::warn!("second stop signal: exiting now");
        std::process::exit(1);
    });
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// GET /readyz of the local server; for container health checks without curl.
pub async fn healthcheck(config: &Config, url: Option<String>) -> Result<Output, CliError> {
    let url = url.unwrap_or_else(|| format!("http://{}/readyz", reachable(config.listen)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            Ok(Output::new(json!({"ready": true, "url": url}), "ready"))
        }
        Ok(r) => Err(CliError::Failed(format!(
            "{url}: not ready (HTTP {})",
            r.status().as_u16()
        ))),
        Err(e) => Err(CliError::Failed(format!("{url}: {e}"))),
    }
}

/// The address to reach a server listening on `listen`: a wildcard listen
/// address is reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if listen.ip().is_unspecified() {
        addr.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
