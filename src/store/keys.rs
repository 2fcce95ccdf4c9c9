//! Signing keys and their lifecycle states (`next` → `active` → `retired`).
//! At most one `active` and one `next` key per algorithm (unique indexes).

use sqlx::FromRow;
use sqlx::types::Json;

use super::{Db, in_tx, on_db};
use crate::types::{KeyState, SigningAlg};

/// A stored key; an algorithm or state this version does not know is a
/// decoding error, never a default.
#[derive(Clone, FromRow)]
pub struct KeyRow {
    pub kid: String,
    #[sqlx(try_from = "String")]
    pub alg: SigningAlg,
    #[sqlx(try_from = "String")]
    pub state: KeyState,
    /// PKCS#8 DER.
    pub private_key: Vec<u8>,
    pub public_jwk: Json<serde_json::Value>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub remove_after: Option<i64>,
}

const ALL: &str = "SELECT kid, alg, state, private_key, public_jwk, created_at, activated_at, \
     retired_at, remove_after FROM signing_keys ORDER BY created_at DESC, kid";

/// Every stored key, newest first.
pub async fn all(db: &Db) -> Result<Vec<KeyRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(ALL).fetch_all(p).await)
}

const INSERT: &str = "INSERT INTO signing_keys (kid, alg, state, private_key, public_jwk, created_at, activated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

/// Binds a key's columns in `INSERT` order.
macro_rules! bind_new_key {
    ($query:expr, $key:expr) => {
        $query
            .bind(&$key.kid)
            .bind($key.alg.as_str())
            .bind($key.state.as_str())
            .bind(&$key.private_key)
            .bind(&$key.public_jwk)
            .bind($key.created_at)
            .bind($key.activated_at)
    };
}

/// Stores keys for one algorithm at once; returns false (and stores nothing)
/// when another instance stored keys in the same states first.
pub async fn insert_all(db: &Db, keys: &[KeyRow]) -> Result<bool, sqlx::Error> {
    in_tx!(db, tx => {
        for key in keys {
            let inserted = bind_new_key!(sqlx::query(INSERT), key)
                .execute(&mut *tx).await?.rows_affected();
            if inserted != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

const RETIRE_ACTIVE: &str = "UPDATE signing_keys SET state = 'retired', retired_at = $2, remove_after = $3 \
     WHERE alg = $1 AND state = 'active'";
const PROMOTE_NEXT: &str = "UPDATE signing_keys SET state = 'active', activated_at = $3 \
     WHERE alg = $1 AND kid = $2 AND state = 'next'";

/// Rotation, in one transaction, for each `(alg, next_kid, new_next)`: the
/// active key retires (published until `remove_after`), `next_kid` becomes
/// active and `new_next` is the new `next`. False, with nothing changed, when
/// a `next_kid` is no longer `next` (another rotation won).
pub async fn rotate(
    db: &Db,
    steps: &[(&str, &str, &KeyRow)],
    now: i64,
    remove_after: i64,
) -> Result<bool, sqlx::Error> {
    in_tx!(db, tx => {
        for &(alg, next_kid, new_next) in steps {
            sqlx::query(RETIRE_ACTIVE).bind(alg).bind(now).bind(remove_after)
                .execute(&mut *tx).await?;
            let promoted = sqlx::query(PROMOTE_NEXT).bind(alg).bind(next_kid).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if promoted != 1 {
                return Ok(false);
            }
            bind_new_key!(sqlx::query(INSERT), new_next).execute(&mut *tx).await?;
        }
        Ok(true)
    })
}

const PURGE: &str = "DELETE FROM signing_keys WHERE state = 'retired' AND remove_after <= $1";

/// Deletes retired keys whose tokens have all expired.
pub async fn purge_retired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}

const REPLACE_PRIVATE_KEY: &str =
    "UPDATE signing_keys SET private_key = $3 WHERE kid = $1 AND private_key = $2";

/// Replaces a key's stored private key (sealing it); false when another
/// instance changed it first.
pub async fn replace_private_key(
    db: &Db,
    kid: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(REPLACE_PRIVATE_KEY).bind(kid).bind(old).bind(new)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}
