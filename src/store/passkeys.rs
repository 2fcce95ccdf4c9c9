//! Passkeys: a user's WebAuthn credentials, as webauthn-rs records them.

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};

#[derive(Debug, Clone, FromRow)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub passkey: Json<serde_json::Value>,
    pub synced: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, credential_id, name, passkey, synced, created_at, last_used_at";

const INSERT: &str = "INSERT INTO passkeys \
     (id, user_id, credential_id, name, passkey, synced, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Stores a new passkey; a credential id registered before (to anyone) is
/// a unique violation.
pub async fn insert(db: &Db, p: &StoredPasskey) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(p.id).bind(p.user_id).bind(&p.credential_id).bind(&p.name).bind(&p.passkey)
        .bind(p.synced).bind(p.created_at)
        .execute(pool).await.map(drop))
}

/// The user's passkeys, oldest first.
pub async fn of_user(db: &Db, user_id: Uuid) -> Result<Vec<StoredPasskey>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await)
}

/// The passkey with this credential id, whoever's it is.
pub async fn by_credential(
    db: &Db,
    credential_id: &[u8],
) -> Result<Option<StoredPasskey>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1");
    on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(credential_id)
        .fetch_optional(pool).await)
}

const USED: &str = "UPDATE passkeys SET passkey = $2, synced = $3, last_used_at = $4 WHERE id = $1";

/// Records a use: the counter and backup state it reported.
pub async fn used(
    db: &Db,
    id: Uuid,
    passkey: &serde_json::Value,
    synced: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(USED).bind(id).bind(Json(passkey)).bind(synced).bind(now)
        .execute(pool).await.map(drop))
}

const DELETE: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";

/// Removes one of the user's passkeys; whether it was theirs.
pub async fn delete(db: &Db, user_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(DELETE).bind(id).bind(user_id)
        .execute(pool).await.map(|r| r.rows_affected() == 1))
}
