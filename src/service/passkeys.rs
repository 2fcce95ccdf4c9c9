//! A user's passkeys: registering one (named, on `/account`), removing it,
//! and verifying one — to sign in without a password, or as the second
//! factor after one. Each audited; a signature counter that goes back is
//! refused and recorded as `passkey.clone_suspected`.

use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
};

use super::{Operator, Outcome, Refused};
use crate::audit::{self, Actor, Event, Kind, Origin};
use crate::mfa::Factor;
use crate::passkeys::{self, Passkeys};
use crate::state::App;
use crate::store::{self, passkeys::StoredPasskey, users::User};

/// A passkey's name: what its owner typed, or a default.
const MAX_NAME: usize = 64;

/// Why a passkey did not sign the user in (said to them; the detail is
/// logged).
#[derive(Debug)]
pub enum NotVerified {
    /// Not a credential of this site, another user's, replayed, from
    /// another origin, or with a wrong signature.
    Invalid(String),
    /// Its counter went back.
    PossibleClone,
    /// Its user cannot sign in (disabled, deleted).
    UserUnavailable,
}

fn relying_party(app: &App) -> Outcome<&Passkeys> {
    app.passkeys
        .as_ref()
        .ok_or_else(|| Refused::Conflict("passkeys are off on this server".into()))
}

fn decoded(stored: &StoredPasskey) -> Option<Passkey> {
    serde_json::from_value(stored.passkey.0.clone()).ok()
}

/// The options a browser needs to make a new passkey for `user`.
pub async fn start_registration(app: &App, user: &User) -> Outcome<(Value, PasskeyRegistration)> {
    let rp = relying_party(app)?;
    let existing: Vec<Passkey> = store::passkeys::of_user(&app.db, user.id)
        .await?
        .iter()
        .filter_map(decoded)
        .collect();
    let display = user.name.as_deref().unwrap_or(&user.username);
    rp.start_registration(user.id, &user.username, display, &existing)
        .map_err(|e| Refused::Failed(e.to_string()))
}

/// Stores the passkey the browser made; the first second factor of a user
/// comes with recovery codes (returned, to show once).
pub async fn register(
    op: &Operator<'_>,
    app: &App,
    user: &User,
    name: &str,
    credential: &str,
    state: &PasskeyRegistration,
    now: i64,
) -> Outcome<Option<Vec<String>>> {
    let rp = relying_party(app)?;
    let passkey = rp
        .finish_registration(credential, state)
        .map_err(|e| Refused::invalid("credential", e.to_string()))?;
    // Shown on pages and in the audit log: no control or bidi characters.
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control() && !bidi(*c))
        .take(MAX_NAME)
        .collect();
    let name = if name.is_empty() {
        "Passkey".to_owned()
    } else {
        name
    };
    let had_factor = super::mfa::factors(op.db(), user.id).await?.any();
    let stored = StoredPasskey {
        id: Uuid::now_v7(),
        user_id: user.id,
        credential_id: passkey.cred_id().to_vec(),
        name: name.clone(),
        passkey: sqlx::types::Json(
            serde_json::to_value(&passkey).map_err(|e| Refused::Failed(e.to_string()))?,
        ),
        synced: passkeys::is_synced(&passkey),
        created_at: now,
        last_used_at: None,
    };
    store::passkeys::insert(op.db(), &stored)
        .await
        .map_err(|e| Refused::taken(e, "this passkey is registered already"))?;
    let detail = json!({"factor": "passkey", "name": name, "synced": stored.synced});
    op.record(Kind::MfaEnrolled, user.id, detail, now).await;
    if had_factor || store::mfa::recovery_codes_left(op.db(), user.id).await? > 0 {
        return Ok(None);
    }
    super::mfa::new_recovery_codes(op, user, now)
        .await
        .map(Some)
}

/// Removes one of the user's passkeys; with no second factor left, the
/// recovery codes go too.
pub async fn remove(op: &Operator<'_>, user: &User, id: Uuid, now: i64) -> Outcome<()> {
    let db = op.db();
    if !store::passkeys::delete(db, user.id, id).await? {
        return Err(Refused::NotFound("no such passkey".into()));
    }
    if !super::mfa::factors(db, user.id).await?.any() {
        store::mfa::replace_recovery_codes(db, user.id, &[], now).await?;
    }
    let detail = json!({"factor": "passkey", "passkey": id});
    op.record(Kind::MfaRemoved, user.id, detail, now).await;
    Ok(())
}

/// The options for signing in with any passkey of this site.
pub fn start_sign_in(app: &App) -> Outcome<(Value, DiscoverableAuthentication)> {
    relying_party(app)?
        .start_sign_in()
        .map_err(|e| Refused::Failed(e.to_string()))
}

/// Verifies a passkey sign-in (no password): the credential must be one
/// registered to the user its user handle names, signed over this
/// ceremony's challenge at monban's origin, with the user verified.
pub async fn sign_in(
    app: &App,
    credential: &str,
    state: DiscoverableAuthentication,
    origin: &Origin,
    now: i64,
) -> Result<Result<(User, Factor), NotVerified>, sqlx::Error> {
    let Some(rp) = app.passkeys.as_ref() else {
        return Ok(Err(NotVerified::Invalid("passkeys are off".into())));
    };
    let (user_handle, credential_id, credential) = match rp.identify(credential) {
        Ok(found) => found,
        Err(e) => return Ok(Err(failed(app, None, origin, &e.to_string(), now).await)),
    };
    let stored = store::passkeys::by_credential(&app.db, &credential_id).await?;
    let Some(stored) = stored.filter(|s| s.user_id == user_handle) else {
        let why = "no passkey of that user has this credential id";
        return Ok(Err(failed(app, None, origin, why, now).await));
    };
    let Some(user) = store::users::find_by_id(&app.db, stored.user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(Err(NotVerified::UserUnavailable));
    };
    let Some(passkey) = decoded(&stored) else {
        return Ok(Err(NotVerified::Invalid(
            "the stored passkey is unreadable".into(),
        )));
    };
    let verified = rp.finish_sign_in(&credential, state, &passkey);
    used(app, &user, stored, passkey, verified, origin, now).await
}

/// The options for a second factor: one of `user`'s passkeys.
pub async fn start_second_factor(
    app: &App,
    user: &User,
) -> Outcome<(Value, PasskeyAuthentication)> {
    let rp = relying_party(app)?;
    let passkeys: Vec<Passkey> = store::passkeys::of_user(&app.db, user.id)
        .await?
        .iter()
        .filter_map(decoded)
        .collect();
    if passkeys.is_empty() {
        return Err(Refused::NotFound("the user has no passkey".into()));
    }
    rp.start_second_factor(&passkeys)
        .map_err(|e| Refused::Failed(e.to_string()))
}

/// Verifies a passkey as `user`'s second factor (one of theirs, this
/// ceremony's challenge).
pub async fn second_factor(
    app: &App,
    user: &User,
    credential: &str,
    state: &PasskeyAuthentication,
    origin: &Origin,
    now: i64,
) -> Result<Result<Factor, NotVerified>, sqlx::Error> {
    let Some(rp) = app.passkeys.as_ref() else {
        return Ok(Err(NotVerified::Invalid("passkeys are off".into())));
    };
    let verified = rp.finish_second_factor(credential, state);
    let id = match &verified {
        Ok(result) => result.cred_id().to_vec(),
        Err(e) => {
            return Ok(Err(
                failed(app, Some(user), origin, &e.to_string(), now).await
            ));
        }
    };
    let Some(stored) = store::passkeys::by_credential(&app.db, &id)
        .await?
        .filter(|s| s.user_id == user.id)
    else {
        let why = "the credential is not one of the user's";
        return Ok(Err(failed(app, Some(user), origin, why, now).await));
    };
    let Some(passkey) = decoded(&stored) else {
        return Ok(Err(NotVerified::Invalid(
            "the stored passkey is unreadable".into(),
        )));
    };
    Ok(used(app, user, stored, passkey, verified, origin, now)
        .await?
        .map(|(_, factor)| factor))
}

/// After a verification: the counter and backup state stored, or the
/// refusal recorded (a counter that went back as a suspected clone).
async fn used(
    app: &App,
    user: &User,
    stored: StoredPasskey,
    mut passkey: Passkey,
    verified: Result<webauthn_rs::prelude::AuthenticationResult, passkeys::Refused>,
    origin: &Origin,
    now: i64,
) -> Result<Result<(User, Factor), NotVerified>, sqlx::Error> {
    let result = match verified {
        Ok(result) => result,
        Err(passkeys::Refused::PossibleClone) => {
            let event = Event::new(Kind::PasskeyCloneSuspected)
                .by(Actor::User(user.id))
                .user(user.id)
                .from(origin)
                .detail(json!({"passkey": stored.id, "name": stored.name}));
            audit::record(&app.db, event, now).await;
            tracing::warn!(user = %user.username, passkey = %stored.id, "passkey counter went back: a cloned credential?");
            return Ok(Err(NotVerified::PossibleClone));
        }
        Err(e) => {
            return Ok(Err(
                failed(app, Some(user), origin, &e.to_string(), now).await
            ));
        }
    };
    passkey.update_credential(&result);
    let synced = result.backup_eligible();
    let value = serde_json::to_value(&passkey).unwrap_or(stored.passkey.0);
    store::passkeys::used(&app.db, stored.id, &value, synced, now).await?;
    let factor = if synced {
        Factor::SyncedPasskey
    } else {
        Factor::Passkey
    };
    Ok(Ok((user.clone(), factor)))
}

/// A refused assertion, audited as `mfa.failed` (for a known user) and
/// logged with its cause.
async fn failed(
    app: &App,
    user: Option<&User>,
    origin: &Origin,
    why: &str,
    now: i64,
) -> NotVerified {
    tracing::info!(client = %origin.ip, reason = why, "passkey refused");
    let mut event = Event::new(Kind::MfaFailed)
        .from(origin)
        .detail(json!({"factor": "passkey"}));
    if let Some(user) = user {
        event = event.by(Actor::User(user.id)).user(user.id);
    }
    audit::record(&app.db, event, now).await;
    NotVerified::Invalid(why.to_owned())
}
