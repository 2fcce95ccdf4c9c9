//! `monban user …` and `monban group …`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, Output, fields, read_password_stdin, record, set, table};
use crate::audit::{Actor, Event, Kind};
use crate::config::Config;
use crate::password::{self, Passwords};
use crate::service::{self, Operator, RunsIn};
use crate::store::{self, Db, groups, groups::Membership, throttle, users, users::User};
use crate::types::is_group_name;
use crate::unix_now;
use crate::{accounts, authn};

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
            let username = check_username(&username)?;
            let email = email.map(|e| check_email(&e)).transpose()?;
            let name = name.map(|n| check_display_name(&n)).transpose()?;
            let (password, generated) = if password_stdin {
                (read_password_stdin().await?, false)
            } else {
                (password::generate(), true)
            };
            let hash = Passwords::new(1)
                .hash(&password)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let new = users::NewUser {
                username: &username,
                email: email.as_deref(),
                name: name.as_deref(),
                password_hash: &hash,
            };
            let user = users::insert(db, &new, now).await.map_err(|e| {
                if store::is_unique_violation(&e) {
                    CliError::Failed(format!(
                        "a user with username {username:?} or that email already exists"
                    ))
                } else {
                    e.into()
                }
            })?;
            record(
                db,
                Event::new(Kind::UserCreated)
                    .user(user.id)
                    .detail(json!({"username": user.username})),
            )
            .await;
            let mut out = json!({"id": user.id, "username": user.username});
            let mut text = format!("created user {} ({})", user.username, user.id);
            if generated {
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
            let mut out = json!(user);
            set(
                &mut out,
                "groups",
                json!(groups::of_user(db, user.id).await?),
            );
            // Login throttling of this username (see authn).
            let now = unix_now();
            let subject = authn::username_subject(&user.username);
            let since = now - authn::ACCOUNT_WINDOW;
            let [(failures, start), _] =
                throttle::failures(db, (&subject, since), ("", now)).await?;
            let locked =
                (failures >= authn::ACCOUNT_MAX_FAILURES).then_some(start + authn::ACCOUNT_WINDOW);
            set(&mut out, "failed_logins", json!(failures));
            set(&mut out, "locked_until", json!(locked));
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
            let hash = Passwords::new(1)
                .hash(&password)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            // As an operator's reset anywhere: signed out, tokens revoked.
            service::users::set_password(&operator(db, config), &user, &hash, now).await?;
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
            throttle::clear(db, &authn::username_subject(&user.username)).await?;
            record(db, Event::new(Kind::AccountUnlocked).user(user.id)).await;
            Ok(done(&user, "unlocked"))
        }
        UserCommand::Delete { user } => {
            let user = find(db, &user).await?;
            service::users::delete(&operator(db, config), &user, now).await?;
            Ok(done(&user, "deleted"))
        }
        UserCommand::Group(UserGroupCommand::Add { user, group }) => {
            let user = find(db, &user).await?;
            let result = groups::add_member(db, user.id, &group).await?;
            if result == Membership::Changed {
                let event = Event::new(Kind::GroupMemberAdded).user(user.id);
                record(db, event.detail(json!({"group": group}))).await;
            }
            membership(&user, &group, result, "added to", "already in")
        }
        UserCommand::Group(UserGroupCommand::Remove { user, group }) => {
            let user = find(db, &user).await?;
            let result = groups::remove_member(db, user.id, &group).await?;
            if result == Membership::Changed {
                let event = Event::new(Kind::GroupMemberRemoved).user(user.id);
                record(db, event.detail(json!({"group": group}))).await;
            }
            membership(&user, &group, result, "removed from", "was not in")
        }
    }
}

pub async fn group(db: &Db, command: GroupCommand) -> Result<Output, CliError> {
    match command {
        GroupCommand::Create { name } => {
            let name = check_group_name(&name)?;
            groups::insert(db, &name, unix_now()).await.map_err(|e| {
                if store::is_unique_violation(&e) {
                    CliError::Failed(format!("group {name:?} already exists"))
                } else {
                    e.into()
                }
            })?;
            record(
                db,
                Event::new(Kind::GroupCreated).detail(json!({"group": name})),
            )
            .await;
            Ok(Output::new(
                json!({"name": name}),
                format!("created group {name}"),
            ))
        }
        GroupCommand::List => {
            let rows: Vec<Value> = groups::list(db).await?.iter().map(|g| json!(g)).collect();
            let text = table(&rows, &["name", "members"]);
            Ok(Output::new(Value::Array(rows), text))
        }
        GroupCommand::Delete { name } => {
            if !groups::delete(db, &name).await? {
                return Err(CliError::Failed(format!("no group named {name:?}")));
            }
            record(
                db,
                Event::new(Kind::GroupDeleted).detail(json!({"group": name})),
            )
            .await;
            Ok(Output::new(
                json!({"name": name, "deleted": true}),
                format!("deleted group {name}"),
            ))
        }
    }
}

/// The CLI as the operator of account changes.
fn operator<'a>(db: &'a Db, config: &'a Config) -> Operator<'a> {
    Operator {
        actor: Actor::Cli,
        origin: None,
        runs_in: RunsIn::Command { db, config },
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

fn membership(
    user: &User,
    group: &str,
    result: Membership,
    changed: &str,
    unchanged: &str,
) -> Result<Output, CliError> {
    let (what, did_change) = match result {
        Membership::NoSuchGroup => {
            return Err(CliError::Failed(format!("no group named {group:?}")));
        }
        Membership::Changed => (changed, true),
        Membership::Unchanged => (unchanged, false),
    };
    Ok(Output::new(
        json!({"username": user.username, "group": group, "changed": did_change}),
        format!("user {} {what} group {group}", user.username),
    ))
}

fn check_username(raw: &str) -> Result<String, CliError> {
    accounts::username(raw).map_err(|e| CliError::Usage(format!("--username: {e}")))
}

fn check_email(raw: &str) -> Result<String, CliError> {
    accounts::email(raw).map_err(|e| CliError::Usage(format!("--email: {e}")))
}

fn check_display_name(raw: &str) -> Result<String, CliError> {
    accounts::display_name(raw).map_err(|e| CliError::Usage(format!("--name: {e}")))
}

fn check_group_name(raw: &str) -> Result<String, CliError> {
    if is_group_name(raw) {
        Ok(raw.to_owned())
    } else {
        Err(CliError::Usage(
            "group names are 1 to 64 characters of letters, digits and . _ - :".into(),
        ))
    }
}
