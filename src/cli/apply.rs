//! `monban apply -f identity.toml [--dry-run]`: clients, APIs and groups
//! as a file declares them (see `crate::apply`).

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::{CliError, Output};
use crate::apply::{Action, ApplyError, Change, IdentityFile, Plan, Secrets};
use crate::config::Config;
use crate::service::{Operator, Via};
use crate::store::Db;

#[derive(Args)]
pub struct ApplyArgs {
    /// The identity file (TOML: [[clients]], [[apis]], [[groups]]).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl From<ApplyError> for CliError {
    fn from(e: ApplyError) -> CliError {
        match e {
            ApplyError::Invalid(message) => CliError::Usage(message),
            ApplyError::Db(e) => e.into(),
            ApplyError::Refused(refused) => refused.into(),
        }
    }
}

pub async fn run(db: &Db, config: &Config, args: ApplyArgs) -> Result<Output, CliError> {
    let file = IdentityFile::read(&args.file)?;
    let plan = Plan::make(db, file, base_dir(&args.file), Secrets::MayGenerate).await?;
    let mut text = describe(&plan.changes);
    let changes = plan.changes.clone();
    let changed = plan.changes_anything();
    let mut secrets = Vec::new();
    if args.dry_run {
        text.push_str("\ndry run: nothing was changed");
    } else {
        let op = Operator {
            via: Via::Apply,
            ..super::operator(db, config)
        };
        let generated = plan.execute(&op, crate::unix_now()).await?;
        text.push_str(if changed {
            "\napplied (running servers see the changes within 5 seconds)"
        } else {
            "\nnothing to change"
        });
        for g in generated {
            text.push_str(&format!(
                "\nclient_secret of {}: {} (shown only this once)",
                g.client_id,
                g.secret.expose()
            ));
            secrets.push(json!({"client_id": g.client_id, "client_secret": g.secret.expose()}));
        }
    }
    Ok(Output::new(
        json!({
            "dry_run": args.dry_run,
            "changed": changed,
            "changes": changes,
            "generated_secrets": secrets,
        }),
        text,
    ))
}

/// The directory relative references in `file` start from.
pub fn base_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

/// One line per item, then every field of a create and the fields an
/// update changes.
fn describe(changes: &[Change]) -> String {
    let mut text = String::new();
    for change in changes {
        let action = match change.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        };
        text.push_str(&format!("{} {}: {action}\n", change.kind, change.id));
        for field in &change.fields {
            let line = match change.action {
                Action::Create => format!("    {}: {}\n", field.field, field.to),
                _ => format!("    {}: {} -> {}\n", field.field, field.from, field.to),
            };
            text.push_str(&line);
        }
    }
    if changes.is_empty() {
        text.push_str("the file declares nothing\n");
    }
    text.trim_end().to_owned()
}
