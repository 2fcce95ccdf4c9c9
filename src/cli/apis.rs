//! `monban api create | update | list | delete`: resource servers (RFC
//! 8707). A token requested with `resource=IDENTIFIER` is for that API
//! alone, in its format and lifetime; consent pages show its name.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{CliError, Output, fields, table};
use crate::config::Config;
use crate::service;
use crate::store::{Db, apis::Api, apis::OptionalFormat};
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
        #[command(flatten)]
        settings: ApiArgs,
    },
    /// Change an API's name, scopes (the flags replace them), format or
    /// lifetime; `default` returns a format or lifetime to the server's.
    Update {
        identifier: String,
        #[command(flatten)]
        settings: ApiArgs,
    },
    /// List APIs.
    List,
    /// Delete an API (tokens already issued for it stay valid until they expire).
    Delete { identifier: String },
}

#[derive(Args)]
pub struct ApiArgs {
    /// Shown to users on consent pages, with the identifier (e.g. "Orders").
    #[arg(long)]
    name: Option<String>,
    /// A scope the API defines (repeatable, or space-separated); tokens
    /// for it carry only these (and the OpenID scopes).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// jwt or opaque (unset: the client's format, else the server's).
    #[arg(long, value_name = "FORMAT")]
    token_format: Option<String>,
    /// Access-token lifetime in seconds (unset: MONBAN_ACCESS_TOKEN_TTL).
    #[arg(long, value_name = "SECONDS")]
    access_token_lifetime: Option<String>,
}

impl ApiArgs {
    /// The given flags laid over `api` (the service checks the result).
    fn apply_to(self, mut api: Api) -> Result<Api, CliError> {
        if let Some(name) = self.name {
            api.name = Some(name);
        }
        if !self.scopes.is_empty() {
            api.scopes = Scopes::from_tokens(
                self.scopes
                    .iter()
                    .flat_map(|s| s.split(' '))
                    .filter(|s| !s.is_empty()),
            )
            .map_err(CliError::Usage)?;
        }
        if let Some(format) = self.token_format {
            api.token_format = OptionalFormat(match format.as_str() {
                "default" => None,
                other => Some(
                    other
                        .parse::<TokenFormat>()
                        .map_err(|e| CliError::Usage(format!("--token-format: {e}")))?,
                ),
            });
        }
        if let Some(lifetime) = self.access_token_lifetime {
            api.access_token_ttl = match lifetime.as_str() {
                "default" => None,
                seconds => Some(seconds.parse().map_err(|_| {
                    CliError::Usage("--access-token-lifetime: a number of seconds".into())
                })?),
            };
        }
        Ok(api)
    }
}

const SHOWN: [&str; 5] = [
    "identifier",
    "name",
    "scopes",
    "token_format",
    "access_token_lifetime",
];

pub async fn run(db: &Db, config: &Config, command: ApiCommand) -> Result<Output, CliError> {
    let op = super::operator(db, config);
    let now = unix_now();
    match command {
        ApiCommand::Create {
            identifier,
            settings,
        } => {
            let api = settings.apply_to(Api {
                identifier,
                name: None,
                scopes: Scopes::default(),
                token_format: OptionalFormat(None),
                access_token_ttl: None,
                created_at: now,
            })?;
            service::apis::create(&op, &api, now).await?;
            Ok(shown("created", &api))
        }
        ApiCommand::Update {
            identifier,
            settings,
        } => {
            let api = settings.apply_to(service::apis::find(db, &identifier).await?)?;
            service::apis::update(&op, &api, now).await?;
            Ok(shown("updated", &api))
        }
        ApiCommand::List => {
            let rows: Vec<Value> = service::apis::all(db).await?.iter().map(describe).collect();
            let text = table(&rows, &SHOWN);
            Ok(Output::new(Value::Array(rows), text))
        }
        ApiCommand::Delete { identifier } => {
            service::apis::delete(&op, &identifier, now).await?;
            Ok(Output::new(
                json!({"identifier": identifier, "deleted": true}),
                format!("deleted API {identifier}"),
            ))
        }
    }
}

/// What a command `done` to `api` answers.
fn shown(done: &str, api: &Api) -> Output {
    let out = describe(api);
    let text = format!(
        "{done} API {}\n{}\n(running servers use it within 5 seconds)",
        api.identifier,
        fields(&out, &SHOWN)
    );
    Output::new(out, text)
}

fn describe(api: &Api) -> Value {
    json!({
        "identifier": api.identifier,
        "name": api.name,
        "scopes": api.scopes.iter().collect::<Vec<_>>(),
        "token_format": api.token_format.0,
        "access_token_lifetime": api.access_token_ttl,
        "created_at": api.created_at,
    })
}
