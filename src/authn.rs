//! Checking a username and password: argon2id on the blocking pool (through
//! `Passwords`), the same work for unknown users (a dummy hash), and
//! throttling of repeated failures per account and per client address.

use std::net::IpAddr;

use crate::app::App;
use crate::store::{self, throttle, users::User};
use crate::types::Secret;

/// Consecutive failures after which an account is locked for `ACCOUNT_LOCK`.
pub const ACCOUNT_MAX_FAILURES: i64 = 5;
pub const ACCOUNT_LOCK: i64 = 5 * 60;
/// Failures from one address within `ADDRESS_WINDOW` before it is refused
/// until the window ends.
pub const ADDRESS_MAX_FAILURES: i64 = 20;
pub const ADDRESS_WINDOW: i64 = 15 * 60;

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    WrongCredentials,
    /// Seconds until the account may try again.
    AccountLocked(i64),
    /// Seconds until the address may try again.
    AddressThrottled(i64),
    Disabled,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
}

/// Checks a login attempt. The password is verified only when neither the
/// address nor the account is throttled.
pub async fn check(
    app: &App,
    username: &str,
    password: &Secret,
    ip: IpAddr,
    now: i64,
) -> Result<Result<User, Refused>, AuthnError> {
    let address = ip.to_string();
    let window_start = now - ADDRESS_WINDOW;
    let (failures, started) = throttle::address_failures(&app.db, &address, window_start).await?;
    if failures >= ADDRESS_MAX_FAILURES {
        return Ok(Err(Refused::AddressThrottled(
            started + ADDRESS_WINDOW - now,
        )));
    }
    let found = store::users::find_for_login(&app.db, &username.to_lowercase()).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    if let Some(until) = user
        .as_ref()
        .and_then(|u| u.locked_until)
        .filter(|until| *until > now)
    {
        return Ok(Err(Refused::AccountLocked(until - now)));
    }
    // Unknown users (and users without a password) cost the same time.
    let hash = match hash {
        Some(hash) => hash,
        None => app.dummy_hash().await?,
    };
    let matches = app.passwords.verify(password, hash).await?;
    let Some(user) = user.clone().filter(|_| matches) else {
        throttle::address_failed(&app.db, &address, now, window_start).await?;
        if let Some(u) = user {
            throttle::account_failed(&app.db, u.id, ACCOUNT_MAX_FAILURES, now + ACCOUNT_LOCK)
                .await?;
            if u.failed_logins + 1 >= ACCOUNT_MAX_FAILURES {
                return Ok(Err(Refused::AccountLocked(ACCOUNT_LOCK)));
            }
        }
        return Ok(Err(Refused::WrongCredentials));
    };
    if user.disabled {
        return Ok(Err(Refused::Disabled));
    }
    if user.failed_logins > 0 || user.locked_until.is_some() {
        throttle::account_succeeded(&app.db, user.id).await?;
    }
    Ok(Ok(user))
}
