//! Accounts as operators change them, whoever the operator is (the CLI, the
//! admin API, the admin pages): creating a user, their profile, their
//! groups, and what happens to their sessions and tokens — deleting or
//! disabling a user ends their sessions and tells the back-channel clients;
//! setting their password revokes every token of theirs and ends every
//! session too. Each operation checks its input and writes its audit event.

use serde_json::json;
use uuid::Uuid;

use super::{Operator, Outcome, Refused};
use crate::accounts;
use crate::audit::Kind;
use crate::authn;
use crate::paging::{Page, PageQuery};
use crate::password::{self, Passwords};
use crate::store::groups::Membership;
use crate::store::{self, Db, users::User};
use crate::types::{ADMIN_GROUP, Secret};

/// A user to create, as typed: checked here.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    /// Without one, a password is generated (and answered once).
    pub password: Option<Secret>,
    /// Groups to put them in; each must exist.
    pub groups: &'a [String],
}

/// A user just created.
pub struct Created {
    pub user: User,
    pub groups: Vec<String>,
    /// The generated password, to show once.
    pub password: Option<Secret>,
}

/// Creates a user (and their memberships).
pub async fn create(
    op: &Operator<'_>,
    passwords: &Passwords,
    new: NewUser<'_>,
    now: i64,
) -> Outcome<Created> {
    let db = op.db();
    let username = accounts::username(new.username).map_err(|e| Refused::invalid("username", e))?;
    let email = new
        .email
        .map(accounts::email)
        .transpose()
        .map_err(|e| Refused::invalid("email", e))?;
    let name = new
        .name
        .map(accounts::display_name)
        .transpose()
        .map_err(|e| Refused::invalid("name", e))?;
    let (password, generated) = chosen_or_generated(new.password)?;
    super::groups::all_exist(db, new.groups).await?;
    let hash = hash(passwords, &password).await?;
    let draft = store::users::NewUser {
        username: &username,
        email: email.as_deref(),
        name: name.as_deref(),
        password_hash: &hash,
    };
    let user = store::users::insert(db, &draft, now).await.map_err(|e| {
        Refused::taken(
            e,
            format!("a user {username:?} or one with that email already exists"),
        )
    })?;
    let detail = json!({"username": user.username});
    op.record(Kind::UserCreated, user.id, detail, now).await;
    for group in new.groups {
        join(op, &user, group, now).await?;
    }
    Ok(Created {
        groups: store::groups::of_user(db, user.id).await?,
        user,
        password: generated.then_some(password),
    })
}

/// A page of users in username order, those whose username or email
/// holds `q` (any case) when it is given.
pub async fn search(db: &Db, q: Option<&str>, paging: &PageQuery) -> Outcome<Page<User>> {
    let limit = paging.limit()?;
    if q.is_some_and(|q| q.chars().count() > 254) {
        return Err(Refused::invalid("q", "at most 254 characters"));
    }
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let rows = store::users::page(db, q, paging.after()?.as_deref(), limit + 1).await?;
    Ok(Page::of(rows, limit, |u| u.username.clone()))
}

/// The user with `id`.
pub async fn find(db: &Db, id: Uuid) -> Outcome<User> {
    store::users::find_by_id(db, id)
        .await?
        .ok_or_else(|| Refused::NotFound("no such user".into()))
}

/// A user as operators see them: with their groups and lockout.
pub struct Detail {
    pub user: User,
    pub groups: Vec<String>,
    /// Failed logins in the current window.
    pub failed_logins: i64,
    /// Until when the username must wait (Unix seconds), if it reached the
    /// limit.
    pub locked_until: Option<i64>,
}

pub async fn detail(db: &Db, user: User, now: i64) -> Outcome<Detail> {
    let subject = authn::username_subject(&user.username);
    let since = now - authn::ACCOUNT_WINDOW;
    let [(failures, start), _] =
        store::throttle::failures(db, (&subject, since), ("", now)).await?;
    let locked_until =
        (failures >= authn::ACCOUNT_MAX_FAILURES).then_some(start + authn::ACCOUNT_WINDOW);
    Ok(Detail {
        groups: store::groups::of_user(db, user.id).await?,
        user,
        failed_logins: failures,
        locked_until,
    })
}

/// A profile field to change: `None` keeps it, `Some(None)` clears it.
pub type Change<'a> = Option<Option<&'a str>>;

/// Changes `user`'s email and display name (checked); audited when
/// something changed.
pub async fn update_profile(
    op: &Operator<'_>,
    user: &User,
    email: Change<'_>,
    name: Change<'_>,
    now: i64,
) -> Outcome<()> {
    let email = match email {
        None => user.email.clone(),
        Some(None) => None,
        Some(Some(raw)) => Some(accounts::email(raw).map_err(|e| Refused::invalid("email", e))?),
    };
    let name = match name {
        None => user.name.clone(),
        Some(None) => None,
        Some(Some(raw)) => {
            Some(accounts::display_name(raw).map_err(|e| Refused::invalid("name", e))?)
        }
    };
    if email == user.email && name == user.name {
        return Ok(());
    }
    store::users::update_profile(op.db(), user, email.as_deref(), name.as_deref(), now)
        .await
        .map_err(|e| Refused::taken(e, "another user has that email"))?;
    let detail = json!({"email": email, "name": name});
    op.record(Kind::UserUpdated, user.id, detail, now).await;
    Ok(())
}

/// Deletes `user` with their sessions, memberships, consents and tokens.
pub async fn delete(op: &Operator<'_>, user: &User, now: i64) -> Outcome<()> {
    op.not_yourself(user.id, "delete")?;
    let db = op.db();
    let ended = store::sessions::end_all_of_user(db, user.id, now).await?;
    store::users::delete(db, user.id).await?;
    op.forget_phantoms().await;
    op.sessions_ended(ended, now).await;
    let detail = json!({"username": user.username});
    op.record(Kind::UserDeleted, user.id, detail, now).await;
    Ok(())
}

/// Disables or enables `user`; disabling ends their sessions and revokes
/// their grants, again when they already are disabled (what a sign-in racing
/// the first disabling made goes too). Enabling an enabled user changes
/// nothing. Returns the number of sessions ended.
pub async fn set_disabled(
    op: &Operator<'_>,
    user: &User,
    disabled: bool,
    now: i64,
) -> Outcome<usize> {
    if disabled {
        op.not_yourself(user.id, "disable")?;
    }
    if !disabled && !user.disabled {
        return Ok(0);
    }
    let (_, ended) = store::users::set_disabled(op.db(), user.id, disabled, now).await?;
    let sessions_ended = ended.len();
    if disabled {
        op.forget_phantoms().await;
    }
    if disabled && user.disabled && sessions_ended == 0 {
        return Ok(0);
    }
    op.sessions_ended(ended, now).await;
    let kind = if disabled {
        Kind::UserDisabled
    } else {
        Kind::UserEnabled
    };
    let detail = json!({"sessions_ended": sessions_ended});
    op.record(kind, user.id, detail, now).await;
    Ok(sessions_ended)
}

/// A password set by an operator.
pub struct PasswordSet {
    /// The generated password, to show once.
    pub generated: Option<Secret>,
    pub sessions_ended: usize,
}

/// An operator sets `user`'s password (`None`: one is generated; a chosen
/// one must meet the policy): every session ends and every token of
/// theirs is revoked (`offline_access` too), and a lockout is cleared.
pub async fn set_password(
    op: &Operator<'_>,
    passwords: &Passwords,
    user: &User,
    password: Option<Secret>,
    now: i64,
) -> Outcome<PasswordSet> {
    let (password, generated) = chosen_or_generated(password)?;
    let hash = hash(passwords, &password).await?;
    let db = op.db();
    let ended = store::users::reset_password(db, user.id, &hash, now).await?;
    op.forget_phantoms().await;
    store::throttle::clear(db, &authn::username_subject(&user.username)).await?;
    let sessions_ended = ended.len();
    op.sessions_ended(ended, now).await;
    let detail = json!({"reset": true, "sessions_ended": sessions_ended});
    op.record(Kind::PasswordChanged, user.id, detail, now).await;
    Ok(PasswordSet {
        generated: generated.then_some(password),
        sessions_ended,
    })
}

/// The user changes their own password (`hash`): their other sessions end,
/// the one they changed it in (`current_sid`) stays. Returns the number of
/// sessions ended.
pub async fn change_own_password(
    op: &Operator<'_>,
    user: &User,
    hash: &str,
    current_sid: Option<&str>,
    now: i64,
) -> Outcome<usize> {
    let db = op.db();
    store::users::set_password(db, user.id, hash, now).await?;
    let mut sessions_ended = 0;
    if let Some(sid) = current_sid {
        let ended = store::sessions::end_others_of_user(db, user.id, sid, now).await?;
        sessions_ended = ended.len();
        op.sessions_ended(ended, now).await;
    }
    let detail = json!({"sessions_ended": sessions_ended});
    op.record(Kind::PasswordChanged, user.id, detail, now).await;
    Ok(sessions_ended)
}

/// Clears `user`'s failed logins and lockout.
pub async fn unlock(op: &Operator<'_>, user: &User, now: i64) -> Outcome<()> {
    store::throttle::clear(op.db(), &authn::username_subject(&user.username)).await?;
    store::throttle::clear(op.db(), &authn::second_factor_subject(&user.username)).await?;
    op.log(op.event(Kind::AccountUnlocked).user(user.id), now)
        .await;
    Ok(())
}

/// Puts `user` in `group`; `false` when they already were.
pub async fn join(op: &Operator<'_>, user: &User, group: &str, now: i64) -> Outcome<bool> {
    let result = store::groups::add_member(op.db(), user.id, group).await?;
    membership(op, user, group, result, Kind::GroupMemberAdded, now).await
}

/// Takes `user` out of `group`; `false` when they were not in it. An
/// admin cannot take themselves out of the admin group.
pub async fn leave(op: &Operator<'_>, user: &User, group: &str, now: i64) -> Outcome<bool> {
    if group == ADMIN_GROUP {
        op.not_yourself(user.id, "take out of the admin group")?;
    }
    let result = store::groups::remove_member(op.db(), user.id, group).await?;
    membership(op, user, group, result, Kind::GroupMemberRemoved, now).await
}

async fn membership(
    op: &Operator<'_>,
    user: &User,
    group: &str,
    result: Membership,
    kind: Kind,
    now: i64,
) -> Outcome<bool> {
    match result {
        Membership::NoSuchGroup => Err(super::groups::no_such(group)),
        Membership::Changed => {
            op.record(kind, user.id, json!({"group": group}), now).await;
            Ok(true)
        }
        Membership::Unchanged => Ok(false),
    }
}

/// The password chosen (checked against the policy), or a generated one
/// (`true`).
fn chosen_or_generated(chosen: Option<Secret>) -> Outcome<(Secret, bool)> {
    match chosen {
        Some(password) => {
            password::check_policy(password.expose())
                .map_err(|e| Refused::invalid("password", e))?;
            Ok((password, false))
        }
        None => Ok((password::generate(), true)),
    }
}

async fn hash(passwords: &Passwords, password: &Secret) -> Outcome<String> {
    passwords
        .hash(password)
        .await
        .map_err(|e| Refused::Failed(e.to_string()))
}
