//! `monban api create | list | delete`: resource servers (RFC 8707). A
//! token requested with `resource=IDENTIFIER` is for that API alone, in its
//! format and lifetime.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, Output, fields, record, table};
use crate::audit::{Event, Kind};
use crate::store::{self, Db, apis::Api, apis::OptionalFormat};
use crate::types::{Scopes, TokenFormat};
use crate::unix_now;

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Register an API; its identifier is the `resource` value and the
    /// tokens' `aud`.
    Create {
        /// An absolute URI without fragment, e.g. https://api.example.com/orders.
        #[arg(long)]
        identifier: String,
        /// A scope the API defines (repeatable, or space-separated); tokens
        /// for it carry only these (and the OpenID scopes).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// jwt or opaque (unset: the client's format, else the server's).
        #[arg(long, value_name = "FORMAT")]
        token_format: Option<TokenFormat>,
        /// Access-token lifetime in seconds (unset: MONBAN_ACCESS_TOKEN_TTL).
        #[arg(long, value_name = "SECONDS")]
        access_token_lifetime: Option<i64>,
    },
    /// List APIs.
    List,
    /// Delete an API (tokens already issued for it stay valid until they expire).
    Delete { identifier: String },
}

pub async fn run(db: &Db, command: ApiCommand) -> Result<Output, CliError> {
    match command {
        ApiCommand::Create {
            identifier,
            scopes,
            token_format,
            access_token_lifetime,
        } => {
            let scopes = Scopes::from_tokens(
                scopes
                    .iter()
                    .flat_map(|s| s.split(' '))
                    .filter(|s| !s.is_empty()),
            )
            .map_err(CliError::Usage)?;
            let api = Api {
                identifier,
                scopes,
                token_format: OptionalFormat(token_format),
                access_token_ttl: access_token_lifetime,
                created_at: unix_now(),
            };
            crate::apis::validate(&api).map_err(CliError::Usage)?;
            store::apis::insert(db, &api).await.map_err(|e| {
                if store::is_unique_violation(&e) {
                    CliError::Failed(format!("an API {:?} already exists", api.identifier))
                } else {
                    e.into()
                }
            })?;
            let out = describe(&api);
            record(db, Event::new(Kind::ApiCreated).detail(out.clone())).await;
            let text = format!(
                "created API {}\n{}\n(running servers use it within 5 seconds)",
                api.identifier,
                fields(
                    &out,
                    &[
                        "identifier",
                        "scopes",
                        "token_format",
                        "access_token_lifetime"
                    ]
                )
            );
            Ok(Output::new(out, text))
        }
        ApiCommand::List => {
            let rows: Vec<Value> = store::apis::all(db).await?.iter().map(describe).collect();
            let text = table(
                &rows,
                &[
                    "identifier",
                    "scopes",
                    "token_format",
                    "access_token_lifetime",
                ],
            );
            Ok(Output::new(Value::Array(rows), text))
        }
        ApiCommand::Delete { identifier } => {
            if !store::apis::delete(db, &identifier).await? {
                return Err(CliError::Failed(format!("no API {identifier:?}")));
            }
            let detail = json!({"identifier": identifier});
            record(db, Event::new(Kind::ApiDeleted).detail(detail)).await;
            Ok(Output::new(
                json!({"identifier": identifier, "deleted": true}),
                format!("deleted API {identifier}"),
            ))
        }
    }
}

fn describe(api: &Api) -> Value {
    json!({
        "identifier": api.identifier,
        "scopes": api.scopes.iter().collect::<Vec<_>>(),
        "token_format": api.token_format.0,
        "access_token_lifetime": api.access_token_ttl,
        "created_at": api.created_at,
    })
}
