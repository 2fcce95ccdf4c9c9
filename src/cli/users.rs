//! `monban user …` and `monban group …`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, Output, fields, operator, read_password_stdin, set, table};
use crate::config::Config;
use crate::password::Passwords;
use crate::service;
use crate::store::{Db, groups, users, users::User};
use crate::unix_now;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a generated password unless --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Show a user (by username or id).
    Show { user: String },
    /// Set a user's password, read from standard input.
    SetPassword {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Forbid a user to log in.
    Disable { user: String },
    /// Allow a disabled user to log in again.
    Enable { user: String },
    /// Clear a user's failed logins and lockout.
    Unlock { user: String },
    /// Delete a user, with their memberships and tokens.
    Delete { user: String },
    /// Add a user to or remove them from a group.
    #[command(subcommand)]
    Group(UserGroupCommand),
    /// A user's second factors: list them, or reset them (when the user
    /// lost them; their sessions end).
    #[command(subcommand)]
    Mfa(UserMfaCommand),
}

#[derive(Subcommand)]
pub enum UserMfaCommand {
    /// Show the second factors USER has set up.
    List { user: String },
    /// Remove every second factor and recovery code of USER and end their
    /// sessions.
    Reset { user: String },
}

#[derive(Subcommand)]
pub enum UserGroupCommand {
    /// Add USER to GROUP.
    Add { user: String, group: String },
    /// Remove USER from GROUP.
    Remove { user: String, group: String },
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create { name: String },
    /// List groups and their member counts.
    List,
    /// Delete a group (its memberships go with it).
    Delete { name: String },
    /// Change a group: whether its members must sign in with a second
    /// factor.
    Update {
        name: String,
        /// Its members sign in with a second factor (those without one set
        /// one up at their next sign-in).
        #[arg(long, required_unless_present = "no_require_mfa")]
        require_mfa: bool,
        /// They need not (unless MONBAN_MFA or a client requires one).
        #[arg(long, conflicts_with = "require_mfa")]
        no_require_mfa: bool,
    },
}

pub async fn user(db: &Db, config: &Config, command: UserCommand) -> Result<Output, CliError> {
    let now = unix_now();
    match command {
        UserCommand::Create {
            username,
            email,
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password_stdin().await?)
            } else {
                None
            };
            let new = service::users::NewUser {
                username: &username,
                email: email.as_deref(),
                name: name.as_deref(),
                password,
                groups: &[],
            };
            let passwords = Passwords::new(1);
            let created =
                service::users::create(&operator(db, config), &passwords, new, now).await?;
            let user = created.user;
            let mut out = json!({"id": user.id, "username": user.username});
            let mut text = format!("created user {} ({})", user.username, user.id);
            if let Some(password) = created.password {
                set(&mut out, "password", json!(password.expose()));
                text.push_str(&format!(
                    "\npassword: {}\n(shown only this once)",
                    password.expose()
                ));
            }
            Ok(Output::new(out, text))
        }
        UserCommand::List => {
            let users = users::list(db).await?;
            let rows: Vec<Value> = users.iter().map(|u| json!(u)).collect();
            let text = table(&rows, &["username", "email", "name", "disabled", "id"]);
            Ok(Output::new(Value::Array(rows), text))
        }
        UserCommand::Show { user } => {
            let user = find(db, &user).await?;
            let detail = service::users::detail(db, user, now).await?;
            let mut out = json!(detail.user);
            set(&mut out, "groups", json!(detail.groups));
            // Login throttling of this username (see authn).
            set(&mut out, "failed_logins", json!(detail.failed_logins));
            set(&mut out, "locked_until", json!(detail.locked_until));
            let text = fields(
                &out,
                &[
                    "id",
                    "username",
                    "email",
                    "name",
                    "disabled",
                    "failed_logins",
                    "locked_until",
                    "groups",
                    "created_at",
                ],
            );
            Ok(Output::new(out, text))
        }
        UserCommand::SetPassword { user, .. } => {
            let user = find(db, &user).await?;
            let password = read_password_stdin().await?;
            let passwords = Passwords::new(1);
            // As an operator's reset anywhere: signed out, tokens revoked.
            let operator = operator(db, config);
            service::users::set_password(&operator, &passwords, &user, Some(password), now).await?;
            Ok(done(&user, "password set; signed out everywhere"))
        }
        UserCommand::Disable { user } => {
            let user = find(db, &user).await?;
            // Apps with back-channel logout hear that the sessions ended.
            service::users::set_disabled(&operator(db, config), &user, true, now).await?;
            Ok(done(&user, "disabled"))
        }
        UserCommand::Enable { user } => {
            let user = find(db, &user).await?;
            service::users::set_disabled(&operator(db, config), &user, false, now).await?;
            Ok(done(&user, "enabled"))
        }
        UserCommand::Unlock { user } => {
            let user = find(db, &user).await?;
            service::users::unlock(&operator(db, config), &user, now).await?;
            Ok(done(&user, "unlocked"))
        }
        UserCommand::Delete { user } => {
            let user = find(db, &user).await?;
            service::users::delete(&operator(db, config), &user, now).await?;
            Ok(done(&user, "deleted"))
        }
        UserCommand::Group(UserGroupCommand::Add { user, group }) => {
            let user = find(db, &user).await?;
            let changed = service::users::join(&operator(db, config), &user, &group, now).await?;
            Ok(membership(&user, &group, changed, "added to", "already in"))
        }
        UserCommand::Group(UserGroupCommand::Remove { user, group }) => {
            let user = find(db, &user).await?;
            let changed = service::users::leave(&operator(db, config), &user, &group, now).await?;
            Ok(membership(
                &user,
                &group,
                changed,
                "removed from",
                "was not in",
            ))
        }
        UserCommand::Mfa(UserMfaCommand::List { user }) => {
            let user = find(db, &user).await?;
            let factors = service::mfa::factors(db, user.id).await?;
            Ok(factors_of(&user, &factors, None))
        }
        UserCommand::Mfa(UserMfaCommand::Reset { user }) => {
            let user = find(db, &user).await?;
            let factors = service::mfa::reset(&operator(db, config), &user, now).await?;
            Ok(factors_of(
                &user,
                &factors,
                Some("second factors reset; signed out everywhere"),
            ))
        }
    }
}

/// A user's factors, as `user mfa list` shows them.
fn factors_of(user: &User, factors: &service::mfa::Factors, result: Option<&str>) -> Output {
    let mut out = json!(factors);
    set(&mut out, "username", json!(user.username));
    set(&mut out, "factors", json!(factors.names()));
    if let Some(result) = result {
        set(&mut out, "result", json!(result));
    }
    let mut text = String::new();
    if let Some(result) = result {
        text.push_str(&format!("user {}: {result}\n", user.username));
    }
    text.push_str(&fields(
        &out,
        &[
            "username",
            "factors",
            "totp_confirmed_at",
            "totp_last_used_at",
            "recovery_codes_left",
        ],
    ));
    Output::new(out, text)
}

pub async fn group(db: &Db, config: &Config, command: GroupCommand) -> Result<Output, CliError> {
    let now = unix_now();
    match command {
        GroupCommand::Create { name } => {
            service::groups::create(&operator(db, config), &name, now).await?;
            Ok(Output::new(
                json!({"name": name}),
                format!("created group {name}"),
            ))
        }
        GroupCommand::List => {
            let rows: Vec<Value> = groups::list(db).await?.iter().map(|g| json!(g)).collect();
            let text = table(&rows, &["name", "members", "require_mfa"]);
            Ok(Output::new(Value::Array(rows), text))
        }
        GroupCommand::Update {
            name, require_mfa, ..
        } => {
            service::groups::set_require_mfa(&operator(db, config), &name, require_mfa, now)
                .await?;
            Ok(Output::new(
                json!({"name": name, "require_mfa": require_mfa}),
                format!("group {name}: second factor required: {require_mfa}"),
            ))
        }
        GroupCommand::Delete { name } => {
            service::groups::delete(&operator(db, config), &name, now).await?;
            Ok(Output::new(
                json!({"name": name, "deleted": true}),
                format!("deleted group {name}"),
            ))
        }
    }
}

async fn find(db: &Db, name_or_id: &str) -> Result<User, CliError> {
    users::find(db, name_or_id)
        .await?
        .ok_or_else(|| CliError::Failed(format!("no user {name_or_id:?}")))
}

fn done(user: &User, what: &str) -> Output {
    Output::new(
        json!({"id": user.id, "username": user.username, "result": what}),
        format!("user {}: {what}", user.username),
    )
}

fn membership(user: &User, group: &str, changed: bool, did: &str, was: &str) -> Output {
    let what = if changed { did } else { was };
    Output::new(
        json!({"username": user.username, "group": group, "changed": changed}),
        format!("user {} {what} group {group}", user.username),
    )
}
