//! A user's second factors: setting up an authenticator app (confirmed by a
//! first code), recovery codes, removing them, an operator's reset, and
//! checking a code at sign-in — each audited, no secret or code in the log.

use serde_json::json;
use uuid::Uuid;

use super::{Operator, Outcome, Refused};
use crate::audit::{self, Event, Kind, Origin};
use crate::authn::{self, Refused as SignInRefused};
use crate::config::Mfa;
use crate::mfa::{Factor, recovery, totp};
use crate::state::App;
use crate::store::{self, Db, throttle, users::User};

/// What a user has set up, as the account page and operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Factors {
    /// An authenticator app, confirmed at (Unix seconds).
    pub totp_confirmed_at: Option<i64>,
    pub totp_last_used_at: Option<i64>,
    pub passkeys: Vec<PasskeyView>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// A passkey as its owner and operators see it (no key material).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    /// Synced between devices by a password manager (amr `swk`).
    pub synced: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Factors {
    /// Whether the user has a second factor to sign in with.
    pub fn any(&self) -> bool {
        self.totp_confirmed_at.is_some() || !self.passkeys.is_empty()
    }

    pub fn has_totp(&self) -> bool {
        self.totp_confirmed_at.is_some()
    }

    pub fn has_passkey(&self) -> bool {
        !self.passkeys.is_empty()
    }

    /// The highest level this user can sign in at.
    pub fn reachable(&self) -> crate::mfa::Level {
        use crate::mfa::Level;
        if self.has_passkey() {
            Level::PhishingResistant
        } else if self.has_totp() {
            Level::Mfa
        } else {
            Level::Password
        }
    }

    /// The factors' names, for lists.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.has_totp() {
            names.push(Factor::Totp.name());
        }
        if self.has_passkey() {
            names.push(Factor::Passkey.name());
        }
        names
    }
}

pub async fn factors(db: &Db, user_id: Uuid) -> Result<Factors, sqlx::Error> {
    let app = store::mfa::totp(db, user_id)
        .await?
        .filter(|t| t.confirmed_at.is_some());
    let passkeys = store::passkeys::of_user(db, user_id)
        .await?
        .into_iter()
        .map(|p| PasskeyView {
            id: p.id,
            name: p.name,
            synced: p.synced,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        })
        .collect();
    Ok(Factors {
        totp_confirmed_at: app.as_ref().and_then(|t| t.confirmed_at),
        totp_last_used_at: app.and_then(|t| t.last_used_at),
        passkeys,
        recovery_codes_left: store::mfa::recovery_codes_left(db, user_id).await?,
    })
}

/// An authenticator app being set up: what the user's app needs.
pub struct Enrolment {
    /// `otpauth://…`, shown as text and as `qr_svg`.
    pub uri: String,
    /// The secret in base32, for typing in.
    pub secret: String,
    pub qr_svg: String,
}

/// The associated data a user's sealed secret is bound to: it cannot be
/// moved to another user's row.
fn sealed_for(user_id: Uuid) -> String {
    format!("totp:{user_id}")
}

fn enrolment(op: &Operator<'_>, user: &User, secret: &[u8]) -> Outcome<Enrolment> {
    let issuer = op.config().issuer.host();
    let uri = totp::uri(secret, &issuer, &user.username)
        .ok_or_else(|| Refused::Failed("the otpauth URI could not be made".into()))?;
    let qr_svg = totp::qr_svg(&uri)
        .ok_or_else(|| Refused::Failed("the QR code could not be made".into()))?;
    Ok(Enrolment {
        secret: totp::secret_text(secret),
        uri,
        qr_svg,
    })
}

fn refuse_when_off(op: &Operator<'_>) -> Outcome<()> {
    if op.config().mfa == Mfa::Off {
        return Err(Refused::Conflict(
            "second factors are turned off (MONBAN_MFA=off)".into(),
        ));
    }
    Ok(())
}

/// Starts (or restarts) setting up an authenticator app: a new secret,
/// which counts once a code from it confirms it.
pub async fn start_totp(op: &Operator<'_>, user: &User, now: i64) -> Outcome<Enrolment> {
    refuse_when_off(op)?;
    let secret = totp::new_secret();
    let sealed = op
        .config()
        .key_encryption
        .seal(&sealed_for(user.id), &secret)
        .map_err(|e| Refused::Failed(e.to_string()))?;
    if !store::mfa::start_totp(op.db(), user.id, &sealed, now).await? {
        return Err(Refused::Conflict(
            "an authenticator app is already set up; remove it first".into(),
        ));
    }
    enrolment(op, user, &secret)
}

/// The app being set up, shown again (after a wrong code).
pub async fn pending_totp(op: &Operator<'_>, user: &User) -> Outcome<Option<Enrolment>> {
    let Some(row) = store::mfa::totp(op.db(), user.id)
        .await?
        .filter(|t| t.confirmed_at.is_none())
    else {
        return Ok(None);
    };
    let secret = open(op.config(), user.id, &row.secret)?;
    enrolment(op, user, &secret).map(Some)
}

fn open(config: &crate::config::Config, user_id: Uuid, stored: &[u8]) -> Outcome<Vec<u8>> {
    config
        .key_encryption
        .open(&sealed_for(user_id), stored)
        .map_err(|e| Refused::Failed(e.to_string()))
}

/// Confirms the app being set up with a code from it. The first factor a
/// user sets up comes with recovery codes, returned to be shown once.
pub async fn confirm_totp(
    op: &Operator<'_>,
    user: &User,
    code: &str,
    now: i64,
) -> Outcome<Option<Vec<String>>> {
    refuse_when_off(op)?;
    let db = op.db();
    let Some(row) = store::mfa::totp(db, user.id)
        .await?
        .filter(|t| t.confirmed_at.is_none())
    else {
        return Err(Refused::NotFound(
            "no authenticator app is being set up".into(),
        ));
    };
    let secret = open(op.config(), user.id, &row.secret)?;
    let confirmed = match totp::check(&secret, code, now) {
        Some(step) => store::mfa::use_step(db, user.id, step, true, now).await?,
        None => false,
    };
    if !confirmed {
        return Err(Refused::invalid(
            "code",
            "the code does not match; check the app's time",
        ));
    }
    op.record(Kind::MfaEnrolled, user.id, json!({"factor": "totp"}), now)
        .await;
    if store::mfa::recovery_codes_left(db, user.id).await? > 0 {
        return Ok(None);
    }
    new_recovery_codes(op, user, now).await.map(Some)
}

/// New recovery codes; the old ones stop working.
pub async fn regenerate_recovery_codes(
    op: &Operator<'_>,
    user: &User,
    now: i64,
) -> Outcome<Vec<String>> {
    if !factors(op.db(), user.id).await?.any() {
        return Err(Refused::Conflict(
            "recovery codes come with a second factor; set one up first".into(),
        ));
    }
    new_recovery_codes(op, user, now).await
}

pub(super) async fn new_recovery_codes(
    op: &Operator<'_>,
    user: &User,
    now: i64,
) -> Outcome<Vec<String>> {
    let codes = recovery::generate();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery::hash(c)).collect();
    store::mfa::replace_recovery_codes(op.db(), user.id, &hashes, now).await?;
    let detail = json!({"factor": "recovery_codes", "count": codes.len()});
    op.record(Kind::MfaEnrolled, user.id, detail, now).await;
    Ok(codes)
}

/// Removes the user's authenticator app; with no second factor left, the
/// recovery codes go too (they stand in for one).
pub async fn remove_totp(op: &Operator<'_>, user: &User, now: i64) -> Outcome<()> {
    let db = op.db();
    if !store::mfa::delete_totp(db, user.id).await? {
        return Err(Refused::NotFound("no authenticator app is set up".into()));
    }
    if !factors(db, user.id).await?.any() {
        store::mfa::replace_recovery_codes(db, user.id, &[], now).await?;
    }
    op.record(Kind::MfaRemoved, user.id, json!({"factor": "totp"}), now)
        .await;
    Ok(())
}

/// An operator's reset: every factor and recovery code goes, and so do the
/// user's sessions (whoever holds one signed in with a factor now gone).
/// The user sets a factor up again when they sign in next, where one is
/// required.
pub async fn reset(op: &Operator<'_>, user: &User, now: i64) -> Outcome<Factors> {
    let db = op.db();
    let before = factors(db, user.id).await?;
    store::mfa::delete_all(db, user.id).await?;
    let ended = store::sessions::end_all_of_user(db, user.id, now).await?;
    let sessions = ended.len();
    op.sessions_ended(ended, now).await;
    let detail = json!({"factors": before.names(), "sessions_ended": sessions});
    op.record(Kind::MfaReset, user.id, detail, now).await;
    factors(db, user.id).await.map_err(Refused::from)
}

/// Checks a second factor at sign-in: a code from the user's app, or one of
/// their recovery codes. A wrong one counts towards the same lockout as a
/// wrong password (counted before it is checked, in one statement, like
/// `authn::check`); a code or step used before is wrong.
pub async fn check_code(
    app: &App,
    user: &User,
    code: &str,
    origin: &Origin,
    now: i64,
) -> Result<Result<Factor, SignInRefused>, sqlx::Error> {
    let db = &app.db;
    let subject = authn::second_factor_subject(&user.username);
    let since = now - authn::ACCOUNT_WINDOW;
    let failures =
        match throttle::reserve(db, &subject, now, since, authn::ACCOUNT_MAX_FAILURES).await? {
            Ok(failures) => failures,
            Err(start) => {
                let wait = start + authn::ACCOUNT_WINDOW - now;
                return Ok(Err(SignInRefused::AccountLocked(wait)));
            }
        };
    let address = authn::address_subject(origin);
    let address_since = now - authn::ADDRESS_WINDOW;
    let limit = authn::ADDRESS_MAX_FAILURES;
    if let Err(start) = throttle::reserve(db, &address, now, address_since, limit).await? {
        throttle::release(db, &subject).await?;
        let wait = start + authn::ADDRESS_WINDOW - now;
        return Ok(Err(SignInRefused::AddressThrottled(wait)));
    }
    let recovery_code = recovery::looks_like_one(code);
    let checked = if recovery_code {
        store::mfa::use_recovery_code(db, user.id, &recovery::hash(code), now)
            .await?
            .then_some(Factor::RecoveryCode)
    } else {
        check_totp(app, user.id, code, now).await?
    };
    let event = |kind| {
        Event::new(kind)
            .by(audit::Actor::User(user.id))
            .user(user.id)
    };
    match checked {
        Some(factor) => {
            throttle::clear(db, &subject).await?;
            throttle::release(db, &address).await?;
            if factor == Factor::RecoveryCode {
                let left = store::mfa::recovery_codes_left(db, user.id).await?;
                let used = event(Kind::RecoveryCodeUsed)
                    .from(origin)
                    .detail(json!({"codes_left": left}));
                audit::record(db, used, now).await;
            }
            Ok(Ok(factor))
        }
        None => {
            let locked = failures >= authn::ACCOUNT_MAX_FAILURES;
            let factor = if recovery_code {
                "recovery_code"
            } else {
                "totp"
            };
            let detail = json!({"factor": factor, "locked": locked});
            audit::record(db, event(Kind::MfaFailed).from(origin).detail(detail), now).await;
            if locked {
                return Ok(Err(SignInRefused::AccountLocked(authn::ACCOUNT_WINDOW)));
            }
            Ok(Err(SignInRefused::WrongCredentials))
        }
    }
}

/// A code of the user's confirmed app, for a step not used before.
async fn check_totp(
    app: &App,
    user_id: Uuid,
    code: &str,
    now: i64,
) -> Result<Option<Factor>, sqlx::Error> {
    let Some(row) = store::mfa::totp(&app.db, user_id)
        .await?
        .filter(|t| t.confirmed_at.is_some())
    else {
        return Ok(None);
    };
    let Ok(secret) = open(&app.config, user_id, &row.secret) else {
        tracing::error!(user = %user_id, "an authenticator secret does not open with MONBAN_KEY_ENCRYPTION_KEY");
        return Ok(None);
    };
    let Some(step) = totp::check(&secret, code, now) else {
        return Ok(None);
    };
    let fresh = store::mfa::use_step(&app.db, user_id, step, false, now).await?;
    Ok(fresh.then_some(Factor::Totp))
}
