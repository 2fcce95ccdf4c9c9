//! The operator's interface: `monban serve | migrate | healthcheck | user |
//! group | client | keys | api | apply | backup`. Every command takes `--json`. Exit status: 0 done,
//! 1 the operation failed, 2 bad usage or configuration. Errors are one line
//! on stderr (`{"error": "..."}` with `--json`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::config::{Config, ConfigError};
use crate::server::{self, StartError};
use crate::store::Db;

mod apis;
mod apply;
mod clients;
mod keys;
mod serve;
mod users;

#[derive(Parser)]
#[command(
    name = "monban",
    version,
    about = "門番 monban — a standalone OAuth 2.0 / OpenID Connect authorization server",
    propagate_version = true
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Configuration file (default: ./monban.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates keys and an admin user on an empty database).
    Serve,
    /// Apply database migrations, then exit.
    Migrate {
        /// Show the applied and pending migrations; apply nothing.
        #[arg(long, conflicts_with = "dry_run")]
        status: bool,
        /// Print the SQL the pending migrations would run; apply nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Ask a running server whether it is ready: exit 0 if so, 1 if not.
    Healthcheck {
        /// Readiness URL (default: /readyz on MONBAN_LISTEN).
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(users::GroupCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage resource servers (APIs, RFC 8707).
    #[command(subcommand)]
    Api(apis::ApiCommand),
    /// Create or update the clients, APIs and groups an identity file declares.
    Apply(apply::ApplyArgs),
    /// Copy the SQLite database, consistently, while monban runs (restore:
    /// start monban on the copy).
    Backup {
        /// The copy to write (must not exist yet).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Why a command failed, and so its exit status.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or configuration: exit 2.
    Usage(String),
    /// The operation failed: exit 1.
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }

    fn message(&self) -> &str {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => m,
        }
    }
}

impl From<crate::service::Refused> for CliError {
    fn from(refused: crate::service::Refused) -> CliError {
        use crate::service::Refused;
        match refused {
            Refused::Invalid { field, message } => CliError::Usage(format!("{field}: {message}")),
            Refused::NotFound(message) | Refused::Conflict(message) | Refused::Failed(message) => {
                CliError::Failed(message)
            }
            Refused::Database(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for CliError {
    fn from(e: sqlx::Error) -> CliError {
        CliError::Failed(format!("database error: {e}"))
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::Usage(e.to_string())
    }
}

impl From<StartError> for CliError {
    fn from(e: StartError) -> CliError {
        if e.is_configuration() {
            CliError::Usage(e.to_string())
        } else {
            CliError::Failed(e.to_string())
        }
    }
}

/// What a command prints on success: the JSON value for `--json`, and the
/// text for people.
pub struct Output {
    json: Value,
    text: String,
}

impl Output {
    fn new(json: Value, text: impl Into<String>) -> Output {
        Output {
            json,
            text: text.into(),
        }
    }
}

pub fn main() -> ExitCode {
    crate::crypto::install();
    let args: Vec<OsString> = std::env::args_os().collect();
    let json = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            print_error(json, &usage_error(&e));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print_error(json, &format!("cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(output)) => {
            if json {
                println!("{}", output.json);
            } else if !output.text.is_empty() {
                println!("{}", output.text.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(json, e.message());
            e.exit_code()
        }
    }
}

/// clap's error as one line, with where to look for help.
fn usage_error(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "a subcommand is missing (see --help)".to_owned();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid usage");
    format!("{} (see --help)", first.trim_start_matches("error: "))
}

fn print_error(json: bool, message: &str) {
    if json {
        eprintln!("{}", serde_json::json!({ "error": message }));
    } else {
        eprintln!("monban: {message}");
    }
}

/// `monban migrate --status | --dry-run`: where the database stands, and
/// (dry run) the SQL of what is pending. Never applies anything.
async fn migration_status(db: &crate::store::Db, dry_run: bool) -> Result<Output, CliError> {
    let status = db.migration_status().await?;
    let mut text = format!(
        "database ({}): {} migrations applied, {} pending",
        db.kind(),
        status.applied.len(),
        status.pending.len()
    );
    for m in &status.pending {
        text.push_str(&format!("\npending {:04} {}", m.version, m.description));
        if dry_run {
            text.push_str(&format!("\n{}", m.sql.trim_end()));
        }
    }
    for version in &status.unknown {
        text.push_str(&format!(
            "\nunknown {version:04}: applied by a newer monban (this one refuses to serve)"
        ));
    }
    let sql: Vec<_> = status
        .pending
        .iter()
        .map(|m| serde_json::json!({"version": m.version, "sql": m.sql}))
        .collect();
    let json = match dry_run {
        true => serde_json::json!({"database": db.kind(), "status": status, "sql": sql}),
        false => serde_json::json!({"database": db.kind(), "status": status}),
    };
    Ok(Output::new(json, text))
}

/// `monban backup FILE`: the copy holds password hashes and sealed keys,
/// so it is made in a new file only its owner may read.
async fn backup(db: &crate::store::Db, file: &std::path::Path) -> Result<Output, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = file.to_str().unwrap_or_default();
    // SQLite would read `file:…` as a URI and `:memory:` as no file at all.
    if name.is_empty() || name.starts_with("file:") || name.starts_with(':') {
        return Err(CliError::Usage(format!(
            "{} is not a file name for the copy",
            file.display()
        )));
    }
    if db.kind() != "sqlite" {
        return Err(CliError::Usage(
            "monban backup copies SQLite databases; back up PostgreSQL with its own tools \
             (pg_dump, or base backups with WAL archiving)"
                .into(),
        ));
    }
    // Created empty here (VACUUM INTO fills an empty file), never over
    // another file or through a dangling link.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    let absolute = std::fs::canonicalize(file)
        .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    let path = absolute
        .to_str()
        .ok_or_else(|| CliError::Usage(format!("{} is not UTF-8", file.display())))?;
    let copied = db.backup_into(path).await;
    let bytes = std::fs::metadata(&absolute).map(|m| m.len()).unwrap_or(0);
    if copied.is_err() || bytes == 0 {
        let _ = std::fs::remove_file(&absolute);
    }
    copied?;
    if bytes == 0 {
        return Err(CliError::Failed(format!("{path}: nothing was written")));
    }
    Ok(Output::new(
        serde_json::json!({"backup": path, "bytes": bytes}),
        format!(
            "copied the database to {path} ({bytes} bytes, readable by its owner only); to \
             restore, start monban on it (MONBAN_DATABASE_URL=sqlite://{path}, and the same \
             MONBAN_KEY_ENCRYPTION_KEY)"
        ),
    ))
}

/// Runs a parsed command. `Ok(None)`: nothing more to print.
async fn run(cli: Cli) -> Result<Option<Output>, CliError> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| match cli.command {
        // A container health check knows healthy (0) and unhealthy (1) only.
        Command::Healthcheck { .. } => CliError::Failed(e.to_string()),
        _ => e.into(),
    })?;
    match cli.command {
        Command::Serve => serve::serve(config, cli.json).await.map(|()| None),
        Command::Healthcheck { url } => serve::healthcheck(&config, url).await.map(Some),
        Command::Migrate { status, dry_run } if status || dry_run => {
            with_db_unmigrated(&config, async |db| migration_status(db, dry_run).await).await
        }
        Command::Migrate { .. } => {
            let db = server::connect(&config).await?;
            db.close().await;
            Ok(Some(Output::new(
                serde_json::json!({"migrated": true, "database": db.kind()}),
                format!("database ({}) is up to date", db.kind()),
            )))
        }
        Command::User(cmd) => {
            with_db(&config, async |db| users::user(db, &config, cmd).await).await
        }
        Command::Group(cmd) => {
            with_db(&config, async |db| users::group(db, &config, cmd).await).await
        }
        Command::Client(cmd) => {
            with_db(&config, async |db| clients::run(db, &config, cmd).await).await
        }
        Command::Keys(cmd) => with_db(&config, async |db| keys::run(db, &config, cmd).await).await,
        Command::Api(cmd) => with_db(&config, async |db| apis::run(db, &config, cmd).await).await,
        // Not migrated first: a backup before an upgrade is of the database
        // as it was.
        Command::Backup { file } => {
            with_db_unmigrated(&config, async |db| backup(db, &file).await).await
        }
        Command::Apply(args) => {
            with_db(&config, async |db| apply::run(db, &config, args).await).await
        }
    }
}

/// Connects (and migrates), runs a command against the database, closes.
async fn with_db(
    config: &Config,
    command: impl AsyncFnOnce(&Db) -> Result<Output, CliError>,
) -> Result<Option<Output>, CliError> {
    let db = server::connect(config).await?;
    let result = command(&db).await;
    db.close().await;
    result.map(Some)
}

/// Like `with_db`, on the database as it is (nothing migrated).
async fn with_db_unmigrated(
    config: &Config,
    command: impl AsyncFnOnce(&Db) -> Result<Output, CliError>,
) -> Result<Option<Output>, CliError> {
    let db = Db::open_existing(&config.database_url)
        .await
        .map_err(server::StartError::from)?;
    let result = command(&db).await;
    db.close().await;
    result.map(Some)
}

/// The CLI as the operator of a shared operation (`service`).
fn operator<'a>(db: &'a Db, config: &'a Config) -> crate::service::Operator<'a> {
    crate::service::Operator {
        actor: crate::audit::Actor::Cli,
        via: crate::service::Via::Cli,
        origin: None,
        runs_in: crate::service::RunsIn::Command { db, config },
    }
}

/// Reads a password from standard input: the first line, without its line
/// ending.
async fn read_password_stdin() -> Result<crate::types::Secret, CliError> {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| CliError::Failed(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    crate::password::check_policy(&password).map_err(CliError::Usage)?;
    Ok(crate::types::Secret::new(password))
}

/// Sets `key` on a JSON object (a no-op on anything else).
fn set(value: &mut Value, key: &str, item: Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.to_owned(), item);
    }
}

/// `key: value` lines for a JSON object, lists joined by commas.
fn fields(value: &Value, keys: &[&str]) -> String {
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    keys.iter()
        .filter_map(|k| value.get(*k).map(|v| format!("{k:width$}  {}\n", plain(v))))
        .collect()
}

/// A table of JSON objects with the given columns.
fn table(rows: &[Value], columns: &[&str]) -> String {
    if rows.is_empty() {
        return "(none)".to_owned();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r.get(*c).map(plain).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .filter_map(|row| row.get(i))
                .map(|s| s.chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |items: Vec<&str>| {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(columns.to_vec());
    for row in &cells {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn plain(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
