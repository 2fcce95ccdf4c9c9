//! `monban keys list | rotate [--force | --now]`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, Output, table};
use crate::config::Config;
use crate::keys::{RotateMode, rfc3339};
use crate::service;
use crate::store::Db;
use crate::unix_now;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their states.
    List,
    /// Promote the next key to active, retire the active one, create a new next.
    Rotate {
        /// Rotate even if the next key has not been published for a full
        /// MONBAN_JWKS_MAX_AGE (gateways with a cached JWKS may then reject
        /// new tokens until they refetch it).
        #[arg(long)]
        force: bool,
        /// The active key is compromised: rotate at once and withdraw it
        /// from the JWKS now; every token it signed stops verifying (users
        /// keep their sessions; apps sign in again or refresh).
        #[arg(long, conflicts_with = "force")]
        now: bool,
    },
}

pub async fn run(db: &Db, config: &Config, command: KeysCommand) -> Result<Output, CliError> {
    match command {
        KeysCommand::List => {
            let set = service::keys::list(db, config).await?;
            let time = |t: Option<i64>| t.map(rfc3339);
            let rows: Vec<Value> = set
                .keys()
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "state": k.state,
                        "created_at": rfc3339(k.created_at),
                        "activated_at": time(k.activated_at),
                        "retired_at": time(k.retired_at),
                        "published_until": time(k.remove_after),
                    })
                })
                .collect();
            let text = table(
                &rows,
                &[
                    "kid",
                    "alg",
                    "state",
                    "created_at",
                    "activated_at",
                    "published_until",
                ],
            );
            Ok(Output::new(Value::Array(rows), text))
        }
        KeysCommand::Rotate { force, now } => {
            let mode = match (force, now) {
                (_, true) => RotateMode::Withdraw,
                (true, false) => RotateMode::Force,
                (false, false) => RotateMode::Safe,
            };
            let operator = super::operator(db, config);
            let rotations = service::keys::rotate(&operator, mode, unix_now()).await?;
            let text = rotations
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} is now active, {} is the next key{}",
                        r.alg,
                        r.active_kid,
                        r.next_kid,
                        r.retired_kid
                            .as_ref()
                            .map(|k| if mode == RotateMode::Withdraw {
                                format!(", {k} withdrawn: its tokens no longer verify")
                            } else {
                                format!(", {k} retired (still published until its tokens expire)")
                            })
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let note = if mode == RotateMode::Withdraw {
                "\nrunning servers sign with the new key and stop publishing the old one within \
                 5 seconds; gateways that cached the JWKS before the new key was published reject \
                 new tokens until they fetch it again"
            } else {
                "\nrunning servers sign with the new key within a few seconds"
            };
            let withdrawn = mode == RotateMode::Withdraw;
            Ok(Output::new(
                json!({"rotated": rotations, "withdrawn": withdrawn}),
                text + note,
            ))
        }
    }
}
