//! The signing keys as operators see and rotate them.

use serde_json::json;

use super::{Operator, Outcome, Refused};
use crate::audit::Kind;
use crate::config::Config;
use crate::keys::{self, KeySet, RotateError, RotateMode, Rotation};
use crate::store::{self, Db};

/// Every signing key in the database (public information is what the
/// front ends show).
pub async fn list(db: &Db, config: &Config) -> Outcome<KeySet> {
    let rows = store::keys::all(db).await?;
    KeySet::from_rows(&rows, &config.key_encryption).map_err(|e| Refused::Failed(e.to_string()))
}

/// Rotates the signing keys in `mode`: this server signs with the new ones
/// at once, other instances within 5 seconds. `Safe` refuses (a conflict)
/// while the next key is too new for caches of the JWKS.
pub async fn rotate(op: &Operator<'_>, mode: RotateMode, now: i64) -> Outcome<Vec<Rotation>> {
    let rotations = keys::rotate(op.db(), op.config(), mode, now)
        .await
        .map_err(|e| match e {
            RotateError::TooEarly { .. } => Refused::Conflict(e.to_string()),
            RotateError::Key(e) => e.into(),
            other => Refused::Failed(other.to_string()),
        })?;
    op.reload_keys().await?;
    let withdrawn = mode == RotateMode::Withdraw;
    let detail = json!({"rotated": rotations, "withdrawn": withdrawn});
    op.log(op.event(Kind::KeysRotated).detail(detail), now)
        .await;
    Ok(rotations)
}
