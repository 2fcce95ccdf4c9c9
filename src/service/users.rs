//! What happens to a user's sessions and tokens when an operator changes
//! the account, whoever the operator is (the CLI, the admin API, the admin
//! pages): deleting or disabling a user ends their sessions and tells the
//! back-channel clients; setting their password revokes every token of
//! theirs and ends every session too. Each operation writes its audit event.

use serde_json::json;

use super::Operator;
use crate::audit::Kind;
use crate::store::{self, users::User};

/// Deletes `user` with their sessions, memberships, consents and tokens.
pub async fn delete(op: &Operator<'_>, user: &User, now: i64) -> Result<(), sqlx::Error> {
    let db = op.db();
    let ended = store::sessions::end_all_of_user(db, user.id, now).await?;
    store::users::delete(db, user.id).await?;
    op.forget_phantoms();
    op.notify_backchannel(ended, now).await;
    let detail = json!({"username": user.username});
    op.record(Kind::UserDeleted, user.id, detail, now).await;
    Ok(())
}

/// Disables or enables `user`; disabling ends their sessions and revokes
/// their grants. Returns the number of sessions ended.
pub async fn set_disabled(
    op: &Operator<'_>,
    user: &User,
    disabled: bool,
    now: i64,
) -> Result<usize, sqlx::Error> {
    let (_, ended) = store::users::set_disabled(op.db(), user.id, disabled, now).await?;
    let sessions_ended = ended.len();
    if disabled {
        op.forget_phantoms();
    }
    op.notify_backchannel(ended, now).await;
    let kind = if disabled {
        Kind::UserDisabled
    } else {
        Kind::UserEnabled
    };
    let detail = json!({"sessions_ended": sessions_ended});
    op.record(kind, user.id, detail, now).await;
    Ok(sessions_ended)
}

/// An operator sets `user`'s password (`hash`, argon2id): every session
/// ends and every token of theirs is revoked (`offline_access` too), and a
/// lockout is cleared. Returns the number of sessions ended.
pub async fn set_password(
    op: &Operator<'_>,
    user: &User,
    hash: &str,
    now: i64,
) -> Result<usize, sqlx::Error> {
    let db = op.db();
    let ended = store::users::reset_password(db, user.id, hash, now).await?;
    op.forget_phantoms();
    store::throttle::clear(db, &crate::authn::username_subject(&user.username)).await?;
    let sessions_ended = ended.len();
    op.notify_backchannel(ended, now).await;
    let detail = json!({"reset": true, "sessions_ended": sessions_ended});
    op.record(Kind::PasswordChanged, user.id, detail, now).await;
    Ok(sessions_ended)
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
) -> Result<usize, sqlx::Error> {
    let db = op.db();
    store::users::set_password(db, user.id, hash, now).await?;
    let mut sessions_ended = 0;
    if let Some(sid) = current_sid {
        let ended = store::sessions::end_others_of_user(db, user.id, sid, now).await?;
        sessions_ended = ended.len();
        op.notify_backchannel(ended, now).await;
    }
    let detail = json!({"sessions_ended": sessions_ended});
    op.record(Kind::PasswordChanged, user.id, detail, now).await;
    Ok(sessions_ended)
}
