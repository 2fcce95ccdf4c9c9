//! Declarative identity configuration (`monban apply -f identity.toml`, and
//! `MONBAN_APPLY` at start): the clients, APIs and groups a team keeps in
//! git, created or brought in line with the file. What the file does not
//! name is left alone. Everything is read and checked before anything is
//! written, so a bad file changes nothing.
//!
//! Client secrets are never in the file: `client_secret = { env = "NAME" }`
//! or `{ file = "path" }` (relative to the file). They are stored with a
//! fast hash (SHA-256), so each must carry at least 256 bits of entropy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::{self, ClientSettings};
use crate::service::clients::{Also, NewClient};
use crate::service::{self, Operator, Refused};
use crate::store::apis::{Api, OptionalFormat};
use crate::store::{self, Db};
use crate::tokens::sha256;
use crate::types::{
    ApplicationType, AuthMethod, ClientType, GrantType, Scopes, Secret, TokenFormat, is_group_name,
};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file is wrong: nothing was changed.
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// An operation refused a change the plan made (the database changed
    /// since it was planned); the changes before it were made.
    #[error("{0}")]
    Refused(#[from] Refused),
}

fn invalid(message: impl Into<String>) -> ApplyError {
    ApplyError::Invalid(message.into())
}

/// The file: `[[clients]]`, `[[apis]]` and `[[groups]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFile {
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    apis: Vec<ApiEntry>,
    #[serde(default)]
    groups: Vec<GroupEntry>,
}

/// A client, with RFC 7591 names where they exist.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    name: String,
    #[serde(default)]
    public: bool,
    /// `web` (the default) or `native` (OIDC Registration §2).
    #[serde(default = "web")]
    application_type: ApplicationType,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<GrantType>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
    token_endpoint_auth_method: Option<AuthMethod>,
    access_token_format: Option<TokenFormat>,
    jwks_uri: Option<String>,
    /// A JWK Set file (relative to the identity file).
    jwks_file: Option<PathBuf>,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// Users sign in to it with a second factor.
    #[serde(default)]
    require_mfa: bool,
    backchannel_logout_uri: Option<String>,
    /// The groups a service client is in (its client_credentials tokens).
    #[serde(default)]
    groups: Vec<String>,
    client_secret: Option<SecretSource>,
}

fn web() -> ApplicationType {
    ApplicationType::Web
}

/// Where a secret comes from; a bare string (the secret itself) is refused.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SecretSource {
    Reference(SecretReference),
    Inline(toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretReference {
    env: Option<String>,
    file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiEntry {
    identifier: String,
    /// Shown to users on consent pages.
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    token_format: Option<TokenFormat>,
    access_token_lifetime: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    name: String,
}

impl IdentityFile {
    /// Reads and parses `path`; the error names the file and the problem.
    pub fn read(path: &Path) -> Result<IdentityFile, ApplyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        IdentityFile::parse(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
    }

    /// Parses the text of an identity file (unknown keys refused).
    pub fn parse(text: &str) -> Result<IdentityFile, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// What applying does to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One field that changes: its old and new values (secrets never shown).
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: Value,
    pub to: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `group`, `api` or `client`.
    pub kind: &'static str,
    pub id: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

/// Everything applying the file would do, checked and ready to execute.
pub struct Plan {
    pub changes: Vec<Change>,
    groups: Vec<String>,
    apis: Vec<(Action, Api)>,
    clients: Vec<ClientPlan>,
}

struct ClientPlan {
    action: Action,
    settings: ClientSettings,
    client_id: String,
    /// The hash of the referenced secret, when the file gives one.
    secret_hash: Option<Vec<u8>>,
    groups: Vec<String>,
}

/// A secret generated for a new client the file gave none: shown once.
#[derive(Debug)]
pub struct Generated {
    pub client_id: String,
    pub secret: Secret,
}

/// Whether a secret-using client may be created without `client_secret`
/// (monban then generates one to show once); not at start-up, where
/// nobody would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    MayGenerate,
    MustBeReferenced,
}

impl Plan {
    /// Reads the database and works out what the file changes. `base` is
    /// the directory relative file references start from.
    pub async fn make(
        db: &Db,
        file: IdentityFile,
        base: &Path,
        secrets: Secrets,
    ) -> Result<Plan, ApplyError> {
        let mut plan = Plan {
            changes: Vec::new(),
            groups: Vec::new(),
            apis: Vec::new(),
            clients: Vec::new(),
        };
        let existing_groups: BTreeSet<String> = store::groups::list(db)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect();
        let mut declared_groups = BTreeSet::new();
        for group in file.groups {
            if !is_group_name(&group.name) {
                return Err(invalid(format!(
                    "groups: {:?} is not a group name (1 to 64 letters, digits and . _ - :)",
                    group.name
                )));
            }
            if !declared_groups.insert(group.name.clone()) {
                return Err(invalid(format!(
                    "groups: {:?} is declared twice",
                    group.name
                )));
            }
            let action = if existing_groups.contains(&group.name) {
                Action::Unchanged
            } else {
                plan.groups.push(group.name.clone());
                Action::Create
            };
            plan.record("group", &group.name, action, Vec::new());
        }

        let existing_apis = store::apis::all(db).await?;
        let mut seen = BTreeSet::new();
        for entry in file.apis {
            let at = format!("apis: {}", entry.identifier);
            if !seen.insert(entry.identifier.clone()) {
                return Err(invalid(format!("{at}: declared twice")));
            }
            let scopes = Scopes::from_tokens(entry.scopes.iter().map(String::as_str))
                .map_err(|e| invalid(format!("{at}: scopes: {e}")))?;
            let api = Api {
                identifier: entry.identifier,
                name: entry.name,
                scopes,
                token_format: OptionalFormat(entry.token_format),
                access_token_ttl: entry.access_token_lifetime,
                created_at: crate::unix_now(),
            };
            crate::apis::validate(&api)
                .map_err(|e| invalid(format!("{at}: {}: {}", e.field, e.message)))?;
            let fields = |a: &Api| {
                vec![
                    ("name", json!(a.name)),
                    ("scopes", json!(a.scopes)),
                    ("token_format", json!(a.token_format)),
                    ("access_token_lifetime", json!(a.access_token_ttl)),
                ]
            };
            let (action, changed) = match existing_apis
                .iter()
                .find(|a| a.identifier == api.identifier)
            {
                None => (Action::Create, created(fields(&api))),
                Some(old) => compare(fields(old), fields(&api)),
            };
            plan.record("api", &api.identifier, action, changed);
            if action != Action::Unchanged {
                plan.apis.push((action, api));
            }
        }

        let mut seen = BTreeSet::new();
        for entry in file.clients {
            let at = format!("clients: {}", entry.client_id);
            if !clients::is_client_id(&entry.client_id) {
                return Err(invalid(format!(
                    "{at}: client_id must be 1 to 128 characters of letters, digits and . _ ~ : -"
                )));
            }
            if !seen.insert(entry.client_id.clone()) {
                return Err(invalid(format!("{at}: declared twice")));
            }
            for group in &entry.groups {
                if !declared_groups.contains(group) && !existing_groups.contains(group) {
                    return Err(invalid(format!(
                        "{at}: group {group:?} neither exists nor is declared in [[groups]]"
                    )));
                }
            }
            let client_id = entry.client_id.clone();
            let mut groups = entry.groups.clone();
            groups.sort();
            groups.dedup();
            let secret_hash = match &entry.client_secret {
                None => None,
                Some(source) => Some(sha256(
                    resolve_secret(source, base)
                        .map_err(|e| invalid(format!("{at}: client_secret: {e}")))?
                        .expose()
                        .as_bytes(),
                )),
            };
            // Where a new client's secret will come from (never the secret).
            let secret_origin = match &entry.client_secret {
                Some(SecretSource::Reference(SecretReference {
                    env: Some(name), ..
                })) => {
                    format!("(from env {name})")
                }
                Some(SecretSource::Reference(SecretReference {
                    file: Some(path), ..
                })) => format!("(from file {})", path.display()),
                _ => "(generated, shown once)".to_owned(),
            };
            let settings =
                client_settings(entry, base).map_err(|e| invalid(format!("{at}: {e}")))?;
            settings
                .validate()
                .map_err(|e| invalid(format!("{at}: {e}")))?;
            if secret_hash.is_some() && !settings.auth_method.uses_secret() {
                return Err(invalid(format!(
                    "{at}: client_secret is given, but the client authenticates with {}",
                    settings.auth_method
                )));
            }
            let current = store::clients::find(db, &client_id).await?;
            let has_secret = current.as_ref().is_some_and(|c| c.secret_hash.is_some());
            if secrets == Secrets::MustBeReferenced
                && settings.auth_method.uses_secret()
                && secret_hash.is_none()
                && !has_secret
            {
                return Err(invalid(format!(
                    "{at}: needs client_secret = {{ env = \"NAME\" }} or {{ file = \"PATH\" }}: a secret generated at start-up could not be shown"
                )));
            }
            let (action, changed) = match &current {
                None => {
                    let mut fields = created(client_fields(&settings, &groups));
                    if settings.auth_method.uses_secret() {
                        fields.push(FieldChange {
                            field: "client_secret",
                            from: Value::Null,
                            to: json!(secret_origin),
                        });
                    }
                    (Action::Create, fields)
                }
                Some(client) => {
                    let mut old_groups = store::groups::of_client(db, &client.client_id).await?;
                    old_groups.sort();
                    let (mut action, mut changed) = compare(
                        client_fields(&ClientSettings::of(client), &old_groups),
                        client_fields(&settings, &groups),
                    );
                    if let Some(hash) = &secret_hash
                        && client.secret_hash.as_ref() != Some(hash)
                    {
                        action = Action::Update;
                        changed.push(FieldChange {
                            field: "client_secret",
                            from: json!("(hidden)"),
                            to: json!("(changed)"),
                        });
                    }
                    (action, changed)
                }
            };
            plan.record("client", &client_id, action, changed);
            if action != Action::Unchanged {
                plan.clients.push(ClientPlan {
                    action,
                    settings,
                    client_id,
                    secret_hash,
                    groups,
                });
            }
        }
        Ok(plan)
    }

    fn record(&mut self, kind: &'static str, id: &str, action: Action, fields: Vec<FieldChange>) {
        self.changes.push(Change {
            kind,
            id: id.to_owned(),
            action,
            fields,
        });
    }

    /// Whether applying would change anything.
    pub fn changes_anything(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    /// Makes the changes (groups, then APIs, then clients) through the
    /// operations every front end shares, each audited as `op`'s; returns
    /// the secrets generated for new clients, to show once. A run cut short
    /// is finished by running again; one that raced another instance's
    /// (a name taken in between) is refused, and planning again settles it.
    pub async fn execute(self, op: &Operator<'_>, now: i64) -> Result<Vec<Generated>, ApplyError> {
        for name in &self.groups {
            service::groups::ensure(op, name, now).await?;
        }
        for (action, api) in &self.apis {
            if *action == Action::Create {
                service::apis::create(op, api, now).await?;
            } else {
                service::apis::update(op, api, now).await?;
            }
        }
        let mut generated = Vec::new();
        for plan in self.clients {
            let (client, secret) = match plan.action {
                Action::Create => {
                    let new = NewClient {
                        client_id: Some(&plan.client_id),
                        settings: plan.settings,
                        groups: &plan.groups,
                        secret_hash: plan.secret_hash,
                    };
                    service::clients::create(op, new, now).await?
                }
                _ => {
                    let client = service::clients::find(op.db(), &plan.client_id).await?;
                    let also = Also {
                        groups: Some(&plan.groups),
                        secret_hash: plan.secret_hash,
                        ..Also::default()
                    };
                    service::clients::update(op, client, plan.settings, also, now).await?
                }
            };
            if let Some(secret) = secret {
                generated.push(Generated {
                    client_id: client.client_id,
                    secret,
                });
            }
        }
        Ok(generated)
    }
}

/// The settings a client entry declares, with the CLI's defaults for what
/// it leaves out.
fn client_settings(entry: ClientEntry, base: &Path) -> Result<ClientSettings, String> {
    let client_type = if entry.public {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    let jwks = match &entry.jwks_file {
        None => None,
        Some(path) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("jwks_file {}: {e}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("jwks_file {}: not JSON: {e}", path.display()))?,
            )
        }
    };
    let has_keys = jwks.is_some() || entry.jwks_uri.is_some();
    let auth_method = entry
        .token_endpoint_auth_method
        .unwrap_or_else(|| clients::default_auth_method(client_type, has_keys));
    let grant_types = if entry.grant_types.is_empty() {
        clients::default_grant_types(client_type, !entry.redirect_uris.is_empty())
            .map_err(|e| e.message)?
    } else {
        entry.grant_types
    };
    let scopes = Scopes::from_tokens(entry.scopes.iter().map(String::as_str))
        .map_err(|e| format!("scopes: {e}"))?;
    Ok(ClientSettings {
        name: entry.name,
        client_type,
        application_type: entry.application_type,
        first_party: entry.first_party,
        redirect_uris: entry.redirect_uris,
        post_logout_redirect_uris: entry.post_logout_redirect_uris,
        grant_types,
        scopes,
        audiences: entry.audiences,
        auth_method,
        access_token_format: entry.access_token_format,
        jwks,
        jwks_uri: entry.jwks_uri,
        require_par: entry.require_pushed_authorization_requests,
        require_mfa: entry.require_mfa,
        backchannel_logout_uri: entry.backchannel_logout_uri,
    })
}

/// The fields a diff shows, in a stable order: the settings', then the
/// groups.
fn client_fields(s: &ClientSettings, groups: &[String]) -> Vec<(&'static str, Value)> {
    let mut fields = s.fields();
    fields.push(("groups", json!(groups)));
    fields
}

/// Every field of an item to be created, from nothing (`null`).
fn created(new: Vec<(&'static str, Value)>) -> Vec<FieldChange> {
    new.into_iter()
        .map(|(field, to)| FieldChange {
            field,
            from: Value::Null,
            to,
        })
        .collect()
}

/// `Unchanged` with no fields, or `Update` with the fields that differ.
fn compare(
    old: Vec<(&'static str, Value)>,
    new: Vec<(&'static str, Value)>,
) -> (Action, Vec<FieldChange>) {
    let changed: Vec<FieldChange> = old
        .into_iter()
        .zip(new)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, from), (_, to))| FieldChange { field, from, to })
        .collect();
    let action = if changed.is_empty() {
        Action::Unchanged
    } else {
        Action::Update
    };
    (action, changed)
}

/// The secret a reference points at, checked for strength.
fn resolve_secret(source: &SecretSource, base: &Path) -> Result<Secret, String> {
    let reference = match source {
        SecretSource::Reference(r) => r,
        SecretSource::Inline(value) => {
            return Err(format!(
                "must be a reference, {{ env = \"NAME\" }} or {{ file = \"PATH\" }}, never the secret itself (got a {})",
                value.type_str()
            ));
        }
    };
    let value = match (&reference.env, &reference.file) {
        (Some(name), None) => std::env::var(name)
            .map_err(|_| format!("the environment variable {name} is not set"))?,
        (None, Some(path)) => {
            let path = base.join(path);
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => return Err("give exactly one of env or file".into()),
    };
    let value = value.trim_end_matches(['\n', '\r']).to_owned();
    let bits = entropy_bits(&value);
    if bits < 256.0 {
        return Err(format!(
            "too weak: at most {bits:.0} bits of entropy, 256 needed (it is stored with a fast hash); make one with `openssl rand -hex 32`"
        ));
    }
    Ok(Secret::new(value))
}

/// The most entropy a secret can carry, judged by its length and the
/// alphabet it draws from (hex digits, or the character classes it uses).
/// A heuristic that catches the usual mistakes — short, few distinct
/// characters, one character or a short pattern repeated — not a proof of
/// randomness.
fn entropy_bits(secret: &str) -> f64 {
    let chars: Vec<char> = secret.chars().collect();
    let length = chars.len();
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let most_common = distinct
        .iter()
        .map(|c| chars.iter().filter(|d| *d == c).count())
        .max()
        .unwrap_or(0);
    // A pattern repeated: the string equals itself shifted by the period.
    let periodic =
        (1..=length / 2).any(|p| chars.iter().zip(chars.iter().skip(p)).all(|(a, b)| a == b));
    if length == 0 || distinct.len() < 12 || most_common * 4 > length || periodic {
        return 0.0;
    }
    let is_hex = |c: &char| c.is_ascii_digit() || ('a'..='f').contains(c);
    let is_upper_hex = |c: &char| c.is_ascii_digit() || ('A'..='F').contains(c);
    let alphabet: u32 = if chars.iter().all(is_hex) || chars.iter().all(is_upper_hex) {
        16
    } else {
        [
            (chars.iter().any(char::is_ascii_lowercase), 26),
            (chars.iter().any(char::is_ascii_uppercase), 26),
            (chars.iter().any(char::is_ascii_digit), 10),
            (chars.iter().any(|c| !c.is_ascii_alphanumeric()), 32),
        ]
        .iter()
        .filter(|(present, _)| *present)
        .map(|(_, size)| size)
        .sum()
    };
    length as f64 * f64::from(alphabet).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_need_256_bits() {
        let hex64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert!(entropy_bits(hex64) >= 256.0);
        assert!(entropy_bits(&hex64[..63]) < 256.0);
        let base64 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        assert!(entropy_bits(base64) >= 256.0);
        for weak in [
            "password123",
            "correct horse battery staple",
            &"a".repeat(200),
            "",
        ] {
            assert!(entropy_bits(weak) < 256.0, "{weak}");
        }
    }

    #[test]
    fn inline_secrets_are_refused() {
        let file: IdentityFile = toml::from_str(
            "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nclient_secret = \"hunter2\"\n",
        )
        .unwrap();
        let source = file
            .clients
            .first()
            .unwrap()
            .client_secret
            .as_ref()
            .unwrap();
        let err = resolve_secret(source, Path::new(".")).unwrap_err();
        assert!(err.contains("never the secret itself"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<IdentityFile>(
            "[[clients]]\nclient_id = \"a\"\nname = \"A\"\nredirect_uri = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("redirect_uri"), "{err}");
    }
}
