//! Groups and memberships of users and of service clients; they become the
//! `groups` claim.

use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Db, on_db};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Group {
    pub name: String,
    pub members: i64,
    /// Its members sign in with a second factor.
    pub require_mfa: bool,
    pub created_at: i64,
}

const INSERT: &str = "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3)";

/// Creates a group; a duplicate name is a unique violation.
pub async fn insert(db: &Db, name: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT).bind(Uuid::now_v7()).bind(name).bind(now)
        .execute(p).await.map(drop))
}

const ENSURE: &str =
    "INSERT INTO groups (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

/// Creates a group unless it exists; whether it was created.
pub async fn ensure(db: &Db, name: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(ENSURE).bind(Uuid::now_v7()).bind(name).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const LIST: &str = "SELECT g.name, COUNT(ug.user_id) AS members, g.require_mfa, g.created_at \
     FROM groups g LEFT JOIN user_groups ug ON ug.group_id = g.id \
     GROUP BY g.id, g.name, g.require_mfa, g.created_at ORDER BY g.name";

pub async fn list(db: &Db) -> Result<Vec<Group>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(LIST).fetch_all(p).await)
}

const SET_REQUIRE_MFA: &str = "UPDATE groups SET require_mfa = $2 WHERE name = $1";

/// Whether the group's members must sign in with a second factor; false
/// when there is no such group.
pub async fn set_require_mfa(db: &Db, name: &str, require: bool) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(SET_REQUIRE_MFA).bind(name).bind(require)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const REQUIRES_MFA: &str = "SELECT COUNT(*) FROM user_groups ug JOIN groups g ON g.id = ug.group_id \
     WHERE ug.user_id = $1 AND g.require_mfa";

/// Whether one of the user's groups requires a second factor.
pub async fn requires_mfa(db: &Db, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let n: i64 =
        on_db!(db, p => sqlx::query_scalar(REQUIRES_MFA).bind(user_id).fetch_one(p).await)?;
    Ok(n > 0)
}

const DELETE: &str = "DELETE FROM groups WHERE name = $1";

pub async fn delete(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE).bind(name).execute(p).await.map(|r| r.rows_affected() == 1))
}

const ADD_MEMBER: &str = "INSERT INTO user_groups (user_id, group_id) \
     SELECT $1, id FROM groups WHERE name = $2 ON CONFLICT DO NOTHING";
const EXISTS: &str = "SELECT COUNT(*) FROM groups WHERE name = $1";

#[derive(Debug, PartialEq, Eq)]
pub enum Membership {
    Changed,
    Unchanged,
    NoSuchGroup,
}

pub async fn add_member(db: &Db, user_id: Uuid, group: &str) -> Result<Membership, sqlx::Error> {
    let added = on_db!(db, p => sqlx::query(ADD_MEMBER).bind(user_id).bind(group)
        .execute(p).await.map(|r| r.rows_affected()))?;
    membership(db, added, group).await
}

const ADD_CLIENT: &str = "INSERT INTO client_groups (client_id, group_id) \
     SELECT $1, id FROM groups WHERE name = $2 ON CONFLICT DO NOTHING";

/// Puts a service client in a group; its client_credentials tokens then
/// carry the group.
pub async fn add_client(db: &Db, client_id: &str, group: &str) -> Result<Membership, sqlx::Error> {
    let added = on_db!(db, p => sqlx::query(ADD_CLIENT).bind(client_id).bind(group)
        .execute(p).await.map(|r| r.rows_affected()))?;
    membership(db, added, group).await
}

const REMOVE_CLIENT: &str = "DELETE FROM client_groups WHERE client_id = $1 \
     AND group_id = (SELECT id FROM groups WHERE name = $2)";

pub async fn remove_client(
    db: &Db,
    client_id: &str,
    group: &str,
) -> Result<Membership, sqlx::Error> {
    let removed = on_db!(db, p => sqlx::query(REMOVE_CLIENT).bind(client_id).bind(group)
        .execute(p).await.map(|r| r.rows_affected()))?;
    membership(db, removed, group).await
}

const OF_CLIENT: &str = "SELECT g.name FROM groups g JOIN client_groups cg ON cg.group_id = g.id \
     WHERE cg.client_id = $1 ORDER BY g.name";

pub async fn of_client(db: &Db, client_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(OF_CLIENT).bind(client_id).fetch_all(p).await)
}

const REMOVE_MEMBER: &str = "DELETE FROM user_groups WHERE user_id = $1 \
     AND group_id = (SELECT id FROM groups WHERE name = $2)";

pub async fn remove_member(db: &Db, user_id: Uuid, group: &str) -> Result<Membership, sqlx::Error> {
    let removed = on_db!(db, p => sqlx::query(REMOVE_MEMBER).bind(user_id).bind(group)
        .execute(p).await.map(|r| r.rows_affected()))?;
    membership(db, removed, group).await
}

async fn membership(db: &Db, rows: u64, group: &str) -> Result<Membership, sqlx::Error> {
    if rows > 0 {
        return Ok(Membership::Changed);
    }
    let exists: i64 = on_db!(db, p => sqlx::query_scalar(EXISTS).bind(group).fetch_one(p).await)?;
    Ok(if exists > 0 {
        Membership::Unchanged
    } else {
        Membership::NoSuchGroup
    })
}

const USERS_IN: &str = "SELECT u.id, u.username FROM users u \
     JOIN user_groups ug ON ug.user_id = u.id JOIN groups g ON g.id = ug.group_id \
     WHERE g.name = $1 ORDER BY u.username";

/// The users in a group: (id, username).
pub async fn users_in(db: &Db, group: &str) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(USERS_IN).bind(group).fetch_all(p).await)
}

const CLIENTS_IN: &str = "SELECT cg.client_id FROM client_groups cg \
     JOIN groups g ON g.id = cg.group_id WHERE g.name = $1 ORDER BY cg.client_id";

/// The service clients in a group.
pub async fn clients_in(db: &Db, group: &str) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(CLIENTS_IN).bind(group).fetch_all(p).await)
}

const OF_USER: &str = "SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id \
     WHERE ug.user_id = $1 ORDER BY g.name";

pub async fn of_user(db: &Db, user_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(OF_USER).bind(user_id).fetch_all(p).await)
}
