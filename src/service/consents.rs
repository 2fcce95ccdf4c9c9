//! Consents withdrawn, by the user on the account page or by an operator.

use serde_json::json;
use uuid::Uuid;

use super::{Operator, Outcome, Refused};
use crate::audit::Kind;
use crate::store;

/// Withdraws `user_id`'s consent to `client_id` and revokes the tokens the
/// client holds for them. The tokens are revoked even when no consent was
/// left, so a retry completes a withdrawal whose revocation failed; the
/// consent goes first, so a grant recorded meanwhile either sees it gone or
/// is revoked here.
pub async fn revoke(op: &Operator<'_>, user_id: Uuid, client_id: &str, now: i64) -> Outcome<()> {
    let db = op.db();
    // A first-party app has no consent, but may keep a refresh token: the
    // user withdraws that the same way.
    let kept_access = store::tokens::clients_with_refresh(db, user_id, now)
        .await?
        .iter()
        .any(|c| c == client_id);
    let withdrawn = store::consents::revoke(db, user_id, client_id).await?;
    store::tokens::revoke_user_client(db, user_id, client_id, now).await?;
    op.forget_phantoms().await;
    if !withdrawn && !kept_access {
        return Err(Refused::NotFound("no such consent".into()));
    }
    let event = op
        .event(Kind::ConsentRevoked)
        .user(user_id)
        .client(client_id)
        .detail_also("consent", json!(withdrawn));
    op.log(event, now).await;
    Ok(())
}
