//! Which factors a sign-in needs: what the operator requires
//! (`MONBAN_MFA`, the client's and the user's groups' `require_mfa`), what
//! the user has set up, and what the authorization request asks for
//! (`acr_values`, or `acr` in `claims`). One rule for a fresh sign-in after
//! its password and for a session that may have to step up.

use uuid::Uuid;

use crate::config::Mfa;
use crate::mfa::Level;
use crate::mfa::level::Asked;
use crate::service::mfa::Factors;
use crate::state::App;
use crate::store::{self, clients::Client};

/// What comes after the factors proved so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Enough: on to the app.
    Done,
    /// A second factor, which the user has, reaching `target` (a passkey
    /// for `phr`).
    SecondFactor { target: Level },
    /// A second factor is required and the user has none: they set one up
    /// now.
    Enrol,
    /// The client cannot do with less than a level this user cannot reach
    /// (`unmet_authentication_requirements`).
    Unmet,
}

/// Whether the operator requires a second factor of this user at this
/// client.
pub async fn required(app: &App, client: &Client, user_id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(match app.config.mfa {
        Mfa::Off => false,
        Mfa::Required => true,
        Mfa::Optional => {
            client.require_mfa || store::groups::requires_mfa(&app.db, user_id).await?
        }
    })
}

/// What the user set up, as far as it counts here (nothing with second
/// factors off; no passkey where passkeys are off).
pub async fn factors(app: &App, user_id: Uuid) -> Result<Factors, sqlx::Error> {
    let mut factors = crate::service::mfa::factors(&app.db, user_id).await?;
    if app.config.mfa == Mfa::Off {
        factors.totp_confirmed_at = None;
    }
    if app.passkeys.is_none() || app.config.mfa == Mfa::Off {
        factors.passkeys.clear();
    }
    Ok(factors)
}

/// Whether the user has a second factor to sign in with.
pub async fn has_second_factor(app: &App, user_id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(factors(app, user_id).await?.any())
}

/// The next step of a sign-in at `level`. `fresh`: the user just gave
/// their password (a user who set up a second factor is asked for it at
/// every sign-in); otherwise an SSO session is being used again, and only
/// what is required or asked for makes it step up.
pub async fn next(
    app: &App,
    client: &Client,
    asked: &Asked,
    user_id: Uuid,
    level: Level,
    fresh: bool,
) -> Result<Next, sqlx::Error> {
    let required = required(app, client, user_id).await?;
    let factors = factors(app, user_id).await?;
    let has_factor = factors.any();
    let reachable = factors.reachable();
    let mut target = Level::Password;
    if required || (fresh && has_factor) {
        target = Level::Mfa;
    }
    let mut unmet = asked.essential && asked.only_unknown;
    if !asked.met_by(level) {
        // The most preferred level asked for that this user can reach.
        match asked.levels.iter().find(|l| **l <= reachable.max(target)) {
            Some(wanted) => target = target.max(*wanted),
            None => unmet |= asked.essential,
        }
    }
    // Whoever set up a second factor gives it at every sign-in, before
    // anything else is decided: no request (one asking for the impossible,
    // say) may leave a session at the password alone.
    if fresh && has_factor && level < Level::Mfa {
        let target = if unmet {
            Level::Mfa
        } else {
            target.max(Level::Mfa)
        };
        return Ok(Next::SecondFactor { target });
    }
    Ok(if unmet {
        Next::Unmet
    } else if level >= target {
        Next::Done
    } else if reachable >= target {
        Next::SecondFactor { target }
    } else if has_factor || target > Level::Mfa {
        Next::Unmet
    } else {
        Next::Enrol
    })
}
