//! Second factors: a user's authenticator app (TOTP) and recovery codes.

use sqlx::FromRow;
use uuid::Uuid;

use super::{Db, in_tx, on_db};

/// A user's authenticator app; `secret` as stored (sealed, or plain).
#[derive(Debug, Clone, FromRow)]
pub struct Totp {
    pub user_id: Uuid,
    pub secret: Vec<u8>,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
    pub last_used_at: Option<i64>,
}

const TOTP: &str = "SELECT user_id, secret, created_at, confirmed_at, last_step, last_used_at \
     FROM totp_credentials WHERE user_id = $1";

pub async fn totp(db: &Db, user_id: Uuid) -> Result<Option<Totp>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(TOTP).bind(user_id).fetch_optional(p).await)
}

const START_TOTP: &str = "INSERT INTO totp_credentials (user_id, secret, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3, last_step = 0 \
     WHERE totp_credentials.confirmed_at IS NULL";

/// Keeps a new secret waiting for its first code; replaces one that was
/// never confirmed. `false`: the user already has a confirmed app.
pub async fn start_totp(
    db: &Db,
    user_id: Uuid,
    secret: &[u8],
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(START_TOTP).bind(user_id).bind(secret).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const USE_STEP: &str = "UPDATE totp_credentials SET last_step = $2, last_used_at = $3, \
     confirmed_at = COALESCE(confirmed_at, $3) \
     WHERE user_id = $1 AND last_step < $2 AND (confirmed_at IS NOT NULL OR $4)";

/// Accepts a code of `step` once: only if no code of this step or a later
/// one was accepted before (one statement: two requests with the same code
/// cannot both pass). `confirming`: the code confirms an enrolment, else the
/// app must be confirmed already.
pub async fn use_step(
    db: &Db,
    user_id: Uuid,
    step: i64,
    confirming: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(USE_STEP).bind(user_id).bind(step).bind(now).bind(confirming)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const DELETE_TOTP: &str = "DELETE FROM totp_credentials WHERE user_id = $1";

/// Removes the user's app (confirmed or not); whether there was one.
pub async fn delete_totp(db: &Db, user_id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(DELETE_TOTP).bind(user_id)
        .execute(p).await.map(|r| r.rows_affected() > 0))
}

const DELETE_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
const INSERT_CODE: &str =
    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)";

/// Replaces the user's recovery codes (the old ones stop working).
pub async fn replace_recovery_codes(
    db: &Db,
    user_id: Uuid,
    hashes: &[Vec<u8>],
    now: i64,
) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(DELETE_CODES).bind(user_id).execute(&mut *tx).await?;
        for hash in hashes {
            sqlx::query(INSERT_CODE).bind(user_id).bind(hash).bind(now).execute(&mut *tx).await?;
        }
        Ok(())
    })
}

const USE_CODE: &str = "UPDATE recovery_codes SET used_at = $3 \
     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";

/// Uses a recovery code once; whether it was one of the user's, unused.
pub async fn use_recovery_code(
    db: &Db,
    user_id: Uuid,
    hash: &[u8],
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(USE_CODE).bind(user_id).bind(hash).bind(now)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const CODES_LEFT: &str =
    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";

pub async fn recovery_codes_left(db: &Db, user_id: Uuid) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(CODES_LEFT).bind(user_id).fetch_one(p).await)
}

const DELETE_PASSKEYS: &str = "DELETE FROM passkeys WHERE user_id = $1";

/// Removes every factor of the user (an operator's reset).
pub async fn delete_all(db: &Db, user_id: Uuid) -> Result<(), sqlx::Error> {
    in_tx!(db, tx => {
        sqlx::query(DELETE_TOTP).bind(user_id).execute(&mut *tx).await?;
        sqlx::query(DELETE_PASSKEYS).bind(user_id).execute(&mut *tx).await?;
        sqlx::query(DELETE_CODES).bind(user_id).execute(&mut *tx).await?;
        Ok(())
    })
}

const CONFIRMED_TOTP_USERS: &str =
    "SELECT user_id FROM totp_credentials WHERE confirmed_at IS NOT NULL AND user_id IN ";
const PASSKEY_USERS: &str = "SELECT DISTINCT user_id FROM passkeys WHERE user_id IN ";

/// Of `users`, those with a confirmed authenticator app (the user list).
pub async fn with_totp(db: &Db, users: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    among(db, CONFIRMED_TOTP_USERS, users).await
}

/// Of `users`, those with a passkey (the user list).
pub async fn with_passkeys(db: &Db, users: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    among(db, PASSKEY_USERS, users).await
}

/// The user ids `select` (ending in `user_id IN `) finds among `users`.
async fn among(db: &Db, select: &str, users: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=users.len()).map(|i| format!("${i}")).collect();
    let sql = format!("{select}({})", placeholders.join(", "));
    on_db!(db, p => {
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for id in users {
            query = query.bind(id);
        }
        query.fetch_all(p).await
    })
}
