//! `monban client …`: register and manage OAuth clients. Secrets are shown
//! once, when created or rotated; only their SHA-256 is stored.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{CliError, Output, fields, set, table};
use crate::clients::{self, ClientSettings};
use crate::config::Config;
use crate::service;
use crate::store::clients::{Client, ServiceLimit};
use crate::store::{self, Db};
use crate::types::{
    ApplicationType, AuthMethod, ClientType, GrantType, Scopes, Secret, TokenFormat,
};
use crate::unix_now;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and (confidential) secret once.
    Create(ClientArgs),
    /// Change a client's settings; list flags replace the stored list.
    Update {
        client_id: String,
        #[command(flatten)]
        settings: ClientArgs,
        /// Make a public client confidential (a secret is generated).
        #[arg(long, conflicts_with = "public")]
        confidential: bool,
        /// Require consent again.
        #[arg(long, conflicts_with = "first_party")]
        no_first_party: bool,
        /// Accept authorization requests that were not pushed again.
        #[arg(long, conflicts_with = "require_par")]
        no_require_par: bool,
        /// Let its users sign in without a second factor again (unless
        /// MONBAN_MFA or a group requires one).
        #[arg(long, conflicts_with = "require_mfa")]
        no_require_mfa: bool,
        /// A client that registered itself (RFC 7591): a scope it may have
        /// in client_credentials tokens (repeatable; with
        /// --service-audience, replaces what its initial access token
        /// granted).
        #[arg(long = "service-scope", value_name = "SCOPE")]
        service_scopes: Vec<String>,
        /// A client that registered itself: an audience (API) it may have
        /// client_credentials tokens for (repeatable).
        #[arg(long = "service-audience", value_name = "AUD")]
        service_audiences: Vec<String>,
    },
    /// List clients.
    List,
    /// Show a client's settings.
    Show { client_id: String },
    /// Delete a client and every token issued to it.
    Delete { client_id: String },
    /// Replace a confidential client's secret; prints the new one once.
    RotateSecret { client_id: String },
    /// Put a service client in a group or take it out (its
    /// client_credentials tokens carry its groups).
    #[command(subcommand)]
    Group(ClientGroupCommand),
    /// Initial access tokens for dynamic registration (RFC 7591 §3).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
}

#[derive(Subcommand)]
pub enum RegistrationTokenCommand {
    /// Make a token that lets its holder register clients at /register;
    /// printed once.
    Create {
        /// Seconds until it expires (default: never).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=315_360_000))]
        expires_in: Option<i64>,
        /// How many clients it may register (default: unlimited).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        uses: Option<i64>,
        /// A scope the clients it registers may have in client_credentials
        /// tokens (repeatable, or space-separated; default: none).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// An audience (API) they may have client_credentials tokens for
        /// (repeatable; default: none, so no client_credentials at all).
        #[arg(long = "audience", value_name = "AUD")]
        audiences: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum ClientGroupCommand {
    /// Add CLIENT_ID to GROUP.
    Add { client_id: String, group: String },
    /// Remove CLIENT_ID from GROUP.
    Remove { client_id: String, group: String },
}

#[derive(Args)]
pub struct ClientArgs {
    /// Display name, shown to users on login and consent pages.
    #[arg(long)]
    name: Option<String>,
    /// A public client (SPA, native app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// web (the default) or native: only a native app's loopback redirect
    /// URIs match with any port (RFC 8252 §7.3).
    #[arg(long, value_name = "TYPE")]
    application_type: Option<ApplicationType>,
    /// Trusted first-party app: users are not asked for consent.
    #[arg(long)]
    first_party: bool,
    /// Allowed redirect URI (repeatable; matched exactly).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Allowed post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Allowed grant type (repeatable): authorization_code, refresh_token,
    /// client_credentials, urn:ietf:params:oauth:grant-type:token-exchange,
    /// urn:ietf:params:oauth:grant-type:device_code.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
    /// Allowed scope (repeatable, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Audience of its access tokens (repeatable; default: MONBAN_DEFAULT_AUDIENCE).
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// Access-token format: jwt or opaque (unset: the server default;
    /// `default` on update returns to it).
    #[arg(long, value_name = "FORMAT")]
    token_format: Option<String>,
    /// Client authentication: client_secret_basic, client_secret_post,
    /// private_key_jwt or none.
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<AuthMethod>,
    /// private_key_jwt: a file holding the client's public JWK Set.
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks: Option<std::path::PathBuf>,
    /// private_key_jwt: where monban fetches the client's public JWK Set.
    #[arg(long, value_name = "URI")]
    jwks_uri: Option<String>,
    /// Accept only pushed authorization requests (RFC 9126) from it.
    #[arg(long)]
    require_par: bool,
    /// Its users sign in with a second factor (those without one set one up
    /// when they sign in).
    #[arg(long)]
    require_mfa: bool,
    /// Where monban POSTs a logout token when a session the client took
    /// part in ends (OIDC Back-Channel Logout); `none` on update removes it.
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
}

pub async fn run(db: &Db, config: &Config, command: ClientCommand) -> Result<Output, CliError> {
    let now = unix_now();
    let operator = super::operator(db, config);
    let op = &operator;
    match command {
        ClientCommand::Create(args) => {
            let new = service::clients::NewClient {
                client_id: None,
                settings: args.into_new()?,
                groups: &[],
                secret_hash: None,
            };
            let (client, secret) = service::clients::create(op, new, now).await?;
            Ok(describe(&client, secret.as_ref(), "created"))
        }
        ClientCommand::Update {
            client_id,
            settings,
            confidential,
            no_first_party,
            no_require_par,
            no_require_mfa,
            service_scopes,
            service_audiences,
        } => {
            let client = find(db, &client_id).await?;
            let mut limit = None;
            if !service_scopes.is_empty() || !service_audiences.is_empty() {
                let Some(current) = client.service_limit.clone() else {
                    return Err(CliError::Usage(
                        "--service-scope and --service-audience are for clients that registered \
                         themselves; an operator's client has --scope and --audience"
                            .into(),
                    ));
                };
                // Each flag replaces its own list; the other stays.
                limit = Some(ServiceLimit {
                    scopes: if service_scopes.is_empty() {
                        current.scopes
                    } else {
                        scope_flags(&service_scopes)?
                    },
                    audiences: if service_audiences.is_empty() {
                        current.audiences
                    } else {
                        dedupe(service_audiences)
                    },
                });
            }
            let mut updated = settings.apply_to(ClientSettings::of(&client))?;
            if confidential {
                updated.client_type = ClientType::Confidential;
                if updated.auth_method == AuthMethod::None {
                    updated.auth_method = AuthMethod::ClientSecretBasic;
                }
            }
            if no_first_party {
                updated.first_party = false;
            }
            if no_require_par {
                updated.require_par = false;
            }
            if no_require_mfa {
                updated.require_mfa = false;
            }
            let also = service::clients::Also {
                service_limit: limit,
                ..Default::default()
            };
            let (client, secret) = service::clients::update(op, client, updated, also, now).await?;
            Ok(describe(&client, secret.as_ref(), "updated"))
        }
        ClientCommand::List => {
            let rows: Vec<Value> = store::clients::list(db)
                .await?
                .iter()
                .map(|c| json!(c))
                .collect();
            let text = table(
                &rows,
                &["client_id", "client_name", "client_type", "grant_types"],
            );
            Ok(Output::new(Value::Array(rows), text))
        }
        ClientCommand::Show { client_id } => {
            let client = find(db, &client_id).await?;
            Ok(describe(&client, None, ""))
        }
        ClientCommand::Delete { client_id } => {
            service::clients::delete(op, &client_id, now).await?;
            Ok(Output::new(
                json!({"client_id": client_id, "deleted": true}),
                format!("deleted client {client_id}"),
            ))
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = service::clients::rotate_secret(op, &client_id, now).await?;
            Ok(Output::new(
                json!({"client_id": client_id, "client_secret": secret.expose()}),
                format!(
                    "client_id      {client_id}\nclient_secret  {}\n(shown only this once; running servers stop accepting the old secret within 5 seconds)",
                    secret.expose()
                ),
            ))
        }
        ClientCommand::RegistrationToken(RegistrationTokenCommand::Create {
            expires_in,
            uses,
            scopes,
            audiences,
        }) => {
            let request = service::clients::RegistrationToken {
                limit: ServiceLimit {
                    scopes: scope_flags(&scopes)?,
                    audiences: dedupe(audiences),
                },
                uses,
                expires_in,
            };
            let (token, expires_at) =
                service::clients::issue_registration_token(op, &request, now).await?;
            let limit = request.limit;
            let limits = match (expires_at, uses) {
                (None, None) => "no expiry, unlimited uses".to_owned(),
                (Some(at), None) => format!("expires at {at} (Unix time), unlimited uses"),
                (None, Some(n)) => format!("no expiry, {n} use(s)"),
                (Some(at), Some(n)) => format!("expires at {at} (Unix time), {n} use(s)"),
            };
            let grants = if limit.audiences.is_empty() {
                "its clients get no client_credentials tokens".to_owned()
            } else {
                format!(
                    "its clients may get client_credentials tokens for {} with at most: {}",
                    limit.audiences.join(", "),
                    if limit.scopes.is_empty() {
                        "no scope".to_owned()
                    } else {
                        limit.scopes.to_string()
                    }
                )
            };
            Ok(Output::new(
                json!({
                    "initial_access_token": token.expose(),
                    "expires_at": expires_at,
                    "uses": uses,
                    "scope": limit.scopes.to_string(),
                    "audience": limit.audiences,
                }),
                format!(
                    "initial access token  {}\n({limits}; {grants}; shown only this once: send it as Authorization: Bearer to /register)",
                    token.expose()
                ),
            ))
        }
        ClientCommand::Group(command) => {
            let (client_id, group, adding) = match command {
                ClientGroupCommand::Add { client_id, group } => (client_id, group, true),
                ClientGroupCommand::Remove { client_id, group } => (client_id, group, false),
            };
            let client = find(db, &client_id).await?;
            let changed = service::clients::set_group(op, &client, &group, adding, now).await?;
            let what = match (adding, changed) {
                (true, true) => "added to",
                (true, false) => "already in",
                (false, true) => "removed from",
                (false, false) => "was not in",
            };
            Ok(Output::new(
                json!({"client_id": client.client_id, "group": group, "changed": changed}),
                format!(
                    "client {} {what} group {group} (running servers see it within 5 seconds)",
                    client.client_id
                ),
            ))
        }
    }
}

impl ClientArgs {
    /// Settings for a new client, with defaults for what is not given.
    fn into_new(self) -> Result<ClientSettings, CliError> {
        let name = self
            .name
            .clone()
            .ok_or_else(|| CliError::Usage("--name is required".into()))?;
        let client_type = if self.public {
            ClientType::Public
        } else {
            ClientType::Confidential
        };
        let has_keys = self.jwks.is_some() || self.jwks_uri.is_some();
        let auth_method = self
            .auth_method
            .unwrap_or_else(|| clients::default_auth_method(client_type, has_keys));
        let grant_types = if self.grant_types.is_empty() {
            clients::default_grant_types(client_type, !self.redirect_uris.is_empty())
                .map_err(|_| CliError::Usage("a public client needs --redirect-uri".into()))?
        } else {
            self.grant_types.clone()
        };
        let base = ClientSettings::new(name, client_type, auth_method, grant_types);
        self.apply_to(base)
    }

    /// The given flags laid over `settings`.
    fn apply_to(self, mut s: ClientSettings) -> Result<ClientSettings, CliError> {
        if let Some(name) = self.name {
            s.name = name;
        }
        if self.public {
            s.client_type = ClientType::Public;
            s.auth_method = AuthMethod::None;
        }
        if let Some(application_type) = self.application_type {
            s.application_type = application_type;
        }
        if self.first_party {
            s.first_party = true;
        }
        if self.require_par {
            s.require_par = true;
        }
        if self.require_mfa {
            s.require_mfa = true;
        }
        if let Some(uri) = self.backchannel_logout_uri {
            s.backchannel_logout_uri = (uri != "none").then_some(uri);
        }
        if !self.redirect_uris.is_empty() {
            s.redirect_uris = dedupe(self.redirect_uris);
        }
        if !self.post_logout_redirect_uris.is_empty() {
            s.post_logout_redirect_uris = dedupe(self.post_logout_redirect_uris);
        }
        if !self.grant_types.is_empty() {
            s.grant_types = self.grant_types;
            s.grant_types.dedup();
        }
        if !self.scopes.is_empty() {
            s.scopes = scope_flags(&self.scopes)?;
        }
        if !self.audiences.is_empty() {
            s.audiences = dedupe(self.audiences);
        }
        if let Some(method) = self.auth_method {
            s.auth_method = method;
        }
        let keys_given = self.jwks.is_some() || self.jwks_uri.is_some();
        if s.auth_method != AuthMethod::PrivateKeyJwt && !keys_given {
            // Keys are only for private_key_jwt; switching away drops them.
            s.jwks = None;
            s.jwks_uri = None;
        }
        if let Some(path) = self.jwks {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CliError::Usage(format!("--jwks {}: {e}", path.display())))?;
            let set = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("--jwks {}: not JSON: {e}", path.display()))
            })?;
            s.jwks = Some(set);
            s.jwks_uri = None;
        }
        if let Some(uri) = self.jwks_uri {
            s.jwks_uri = Some(uri);
            s.jwks = None;
        }
        if let Some(format) = self.token_format {
            s.access_token_format = match format.as_str() {
                "default" => None,
                other => Some(
                    other
                        .parse::<TokenFormat>()
                        .map_err(|e| CliError::Usage(format!("--token-format: {e}")))?,
                ),
            };
        }
        Ok(s)
    }
}

/// `--scope` values: repeatable, each maybe space-separated.
fn scope_flags(flags: &[String]) -> Result<Scopes, CliError> {
    Scopes::from_tokens(
        flags
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty()),
    )
    .map_err(|e| CliError::Usage(format!("--scope: {e}")))
}

fn dedupe(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    items
}

async fn find(db: &Db, client_id: &str) -> Result<Client, CliError> {
    store::clients::find(db, client_id)
        .await?
        .ok_or_else(|| CliError::Failed(format!("no client {client_id:?}")))
}

/// The client's stored settings, plus its secret when one was just made.
fn describe(client: &Client, secret: Option<&Secret>, verb: &str) -> Output {
    let mut out = json!(client);
    if let Some(secret) = secret {
        set(&mut out, "client_secret", json!(secret.expose()));
    }
    let mut shown = out.clone();
    if client.access_token_format.is_none() {
        set(&mut shown, "access_token_format", json!("server default"));
    }
    let mut text = String::new();
    if !verb.is_empty() {
        text.push_str(&format!("{verb} client {}\n", client.name));
    }
    text.push_str(&fields(
        &shown,
        &[
            "client_id",
            "client_secret",
            "client_name",
            "client_type",
            "application_type",
            "first_party",
            "token_endpoint_auth_method",
            "jwks_uri",
            "require_pushed_authorization_requests",
            "require_mfa",
            "backchannel_logout_uri",
            "grant_types",
            "scope",
            "audience",
            "redirect_uris",
            "post_logout_redirect_uris",
            "access_token_format",
            "groups",
        ],
    ));
    if secret.is_some() {
        text.push_str("(the client secret is shown only this once: store it now)\n");
    }
    Output::new(out, text)
}
