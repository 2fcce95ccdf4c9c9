//! `monban keys list | rotate [--force]`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, Output, table};
use crate::config::Config;
use crate::keys::{self, KeySet, rfc3339};
use crate::store::{self, Db};
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
    },
}

pub async fn run(db: &Db, config: &Config, command: KeysCommand) -> Result<Output, CliError> {
    match command {
        KeysCommand::List => {
            let set = KeySet::from_rows(&store::keys::all(db).await?)
                .map_err(|e| CliError::Failed(e.to_string()))?;
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
        KeysCommand::Rotate { force } => {
            let rotations = keys::rotate(db, config, force, unix_now())
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
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
                            .map(|k| format!(
                                ", {k} retired (still published until its tokens expire)"
                            ))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let note = "\nrunning servers sign with the new key within a few seconds";
            Ok(Output::new(json!({"rotated": rotations}), text + note))
        }
    }
}
