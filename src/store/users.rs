//! Users: people who log in. Usernames and emails are stored lower-case and
//! compared with `=`.

use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Db, in_tx, on_db};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password_hash: &'a str,
}

/// The columns of `User`, for `concat!`.
macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, name, disabled, created_at, updated_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO users (id, username, email, email_verified, name, password_hash, disabled, created_at, updated_at) \
     VALUES ($1, $2, $3, FALSE, $4, $5, FALSE, $6, $6) RETURNING ",
    user_columns!()
);

pub async fn insert(db: &Db, user: &NewUser<'_>, now: i64) -> Result<User, sqlx::Error> {
    let id = Uuid::now_v7();
    on_db!(db, p => sqlx::query_as(INSERT)
        .bind(id).bind(user.username).bind(user.email).bind(user.name)
        .bind(user.password_hash).bind(now)
        .fetch_one(p).await)
}

const INSERT_GROUP: &str =
    "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
const JOIN_GROUP: &str =
    "INSERT INTO user_groups (user_id, group_id) SELECT $1, id FROM groups WHERE name = $2";

/// Creates a user in a group (created if missing), all or nothing. `None`
/// when the username is taken.
pub async fn insert_in_group(
    db: &Db,
    user: &NewUser<'_>,
    group: &str,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    in_tx!(db, tx => {
        let inserted: Result<User, sqlx::Error> = sqlx::query_as(INSERT)
            .bind(Uuid::now_v7()).bind(user.username).bind(user.email).bind(user.name)
            .bind(user.password_hash).bind(now)
            .fetch_one(&mut *tx).await;
        let created = match inserted {
            Ok(created) => created,
            Err(e) if super::is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        sqlx::query(INSERT_GROUP).bind(Uuid::now_v7()).bind(group).bind(now).execute(&mut *tx).await?;
        sqlx::query(JOIN_GROUP).bind(created.id).bind(group).execute(&mut *tx).await?;
        Ok(Some(created))
    })
}

const FIND_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);
const FIND_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

pub async fn find_by_id(db: &Db, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND_BY_ID).bind(id).fetch_optional(p).await)
}

/// Finds a user by username, or by id when `name_or_id` is a UUID.
pub async fn find(db: &Db, name_or_id: &str) -> Result<Option<User>, sqlx::Error> {
    if let Ok(id) = Uuid::parse_str(name_or_id)
        && let Some(user) = find_by_id(db, id).await?
    {
        return Ok(Some(user));
    }
    find_by_username(db, &name_or_id.to_lowercase()).await
}

/// Finds a user by (lower-case) username.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND_BY_USERNAME).bind(username).fetch_optional(p).await)
}

const LIST: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");

pub async fn list(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(LIST).fetch_all(p).await)
}

const PAGE: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE ($1 IS NULL OR username > $1) \
     AND ($2 IS NULL OR username LIKE $2 ESCAPE '\\' OR email LIKE $2 ESCAPE '\\') \
     ORDER BY username LIMIT $3"
);

/// Up to `limit` users after the username `after`, in username order;
/// `search` (any case) must be part of the username or email.
pub async fn page(
    db: &Db,
    search: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    // Stored lower-case, so the same LIKE works on both databases.
    let pattern = search.map(|s| {
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    on_db!(db, p => sqlx::query_as(PAGE).bind(after).bind(&pattern).bind(limit).fetch_all(p).await)
}

const UPDATE_PROFILE: &str = "UPDATE users SET email = $2, name = $3, \
     email_verified = $4, updated_at = $5 WHERE id = $1";

/// Sets a user's email and display name; a new email is not verified (ID
/// tokens must not vouch for it). A taken email is a unique violation.
pub async fn update_profile(
    db: &Db,
    user: &User,
    email: Option<&str>,
    name: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let verified = user.email_verified && user.email.as_deref() == email;
    on_db!(db, p => sqlx::query(UPDATE_PROFILE).bind(user.id).bind(email).bind(name)
        .bind(verified).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const COUNT: &str = "SELECT COUNT(*) FROM users";

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(COUNT).fetch_one(p).await)
}

const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";

pub async fn set_password(db: &Db, id: Uuid, hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(SET_PASSWORD).bind(id).bind(hash).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const SET_DISABLED: &str = "UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1";

/// Disables or enables a user. Disabling also ends every SSO session of
/// theirs and revokes all their refresh tokens (`offline_access` ones too)
/// and opaque access tokens, in the same
/// transaction: a disabled user is signed out everywhere at once, so that no
/// request needs to re-read the user to find out. (Enabling them again does
/// not bring any of it back.)
/// Returns whether the user exists, and the sessions that ended.
pub async fn set_disabled(
    db: &Db,
    id: Uuid,
    disabled: bool,
    now: i64,
) -> Result<(bool, super::sessions::Ended), sqlx::Error> {
    in_tx!(db, tx => {
        let changed = sqlx::query(SET_DISABLED).bind(id).bind(disabled).bind(now)
            .execute(&mut *tx).await?.rows_affected() == 1;
        let mut ended = Vec::new();
        if disabled {
            ended = sign_out_everywhere!(tx, id, now);
        }
        Ok((changed, ended))
    })
}

/// In a transaction: ends every SSO session of the user and revokes all
/// their grants, refresh tokens (`offline_access` ones too) and access tokens
/// (JWT ids remembered), codes and approved device requests; evaluates to
/// the ended sessions.
macro_rules! sign_out_everywhere {
    ($tx:ident, $id:expr, $now:expr) => {{
        let ended = sqlx::query_scalar(super::sessions::END_USER_RETURNING)
            .bind($id)
            .fetch_all(&mut *$tx)
            .await?;
        sqlx::query(super::grants::REVOKE_USER)
            .bind($id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(super::tokens::REVOKE_USER_REFRESH)
            .bind($id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(super::tokens::REMEMBER_USER_JTIS)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(super::tokens::REVOKE_USER_ACCESS)
            .bind($id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        // Codes not yet redeemed and approved device requests not yet
        // polled would start new grants (offline ones outlive no session).
        sqlx::query(super::codes::EXPIRE_USER)
            .bind($id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(super::devices::DENY_USER_APPROVED)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        ended
    }};
}
use sign_out_everywhere;

/// Sets a new password and signs the user out everywhere, revoking every
/// token (an admin's reset: the old password may be known to someone).
/// Returns the sessions that ended.
pub async fn reset_password(
    db: &Db,
    id: Uuid,
    hash: &str,
    now: i64,
) -> Result<super::sessions::Ended, sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(SET_PASSWORD).bind(id).bind(hash).bind(now).execute(&mut *tx).await?;
        let ended = sign_out_everywhere!(tx, id, now);
        Ok(ended)
    })
}

const DELETE: &str = "DELETE FROM users WHERE id = $1";

pub async fn delete(db: &Db, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(id).execute(p).await.map(|r| r.rows_affected() == 1))
}

const FIND_FOR_LOGIN: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE username = $1"
);

#[derive(FromRow)]
struct WithHash {
    #[sqlx(flatten)]
    user: User,
    password_hash: Option<String>,
}

/// A user by (lower-case) username, with the password hash, for a login.
pub async fn find_for_login(
    db: &Db,
    username: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let row: Option<WithHash> =
        on_db!(db, p => sqlx::query_as(FIND_FOR_LOGIN).bind(username).fetch_optional(p).await)?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

const PASSWORD_HASH: &str = "SELECT password_hash FROM users WHERE id = $1";

/// The user's argon2id PHC string, for verifying a password.
pub async fn password_hash(db: &Db, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        on_db!(db, p => sqlx::query_scalar(PASSWORD_HASH).bind(id).fetch_optional(p).await)?;
    Ok(hash.flatten())
}
