//! Checking a username and password: argon2id on the blocking pool (through
//! `Passwords`), the same work for unknown users (a dummy hash), and
//! throttling of repeated failures per username and per client address —
//! the same for names that exist and names that do not.

use serde_json::json;

use crate::app::App;
use crate::audit::{self, Event, Kind, Origin};
use crate::store::{self, throttle, users::User};
use crate::types::Secret;

/// Failures for one username within `ACCOUNT_WINDOW` after which it must
/// wait until the window ends.
pub const ACCOUNT_MAX_FAILURES: i64 = 5;
pub const ACCOUNT_WINDOW: i64 = 5 * 60;
/// Failures from one address within `ADDRESS_WINDOW` before it is refused
/// until the window ends.
pub const ADDRESS_MAX_FAILURES: i64 = 20;
pub const ADDRESS_WINDOW: i64 = 15 * 60;

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    WrongCredentials,
    /// Seconds until the username may try again.
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

/// The throttling subject of a username.
pub fn username_subject(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

/// Checks a login attempt. The password is verified only when neither the
/// address nor the username is throttled.
pub async fn check(
    app: &App,
    username: &str,
    password: &Secret,
    origin: &Origin,
    now: i64,
) -> Result<Result<User, Refused>, AuthnError> {
    let checked = check_throttled(app, username, password, origin, now).await?;
    let outcome = match &checked {
        Ok(_) => "succeeded",
        Err(Refused::WrongCredentials) => "wrong_credentials",
        Err(Refused::AccountLocked(_)) => "account_locked",
        Err(Refused::AddressThrottled(_)) => "address_throttled",
        Err(Refused::Disabled) => "disabled",
    };
    app.metrics.login(outcome);
    if checked.is_err() {
        let reason = outcome;
        let event = Event::new(Kind::LoginFailed)
            .from(origin)
            .detail(json!({"username": shown(username), "reason": reason}));
        audit::record(&app.db, about_user(app, event, username).await, now).await;
    }
    Ok(checked)
}

/// The username as the audit log keeps it: no longer than a valid one (what
/// was typed may be anything, a password even; it is not kept whole).
fn shown(username: &str) -> String {
    username.chars().take(64).collect()
}

/// The event, naming the user called `username` if there is one.
async fn about_user(app: &App, event: Event, username: &str) -> Event {
    match store::users::find_by_username(&app.db, &username.to_lowercase()).await {
        Ok(Some(user)) => event.user(user.id),
        _ => event,
    }
}

async fn check_throttled(
    app: &App,
    username: &str,
    password: &Secret,
    origin: &Origin,
    now: i64,
) -> Result<Result<User, Refused>, AuthnError> {
    let address = format!("ip:{}", crate::net::network_of(origin.ip));
    let account = username_subject(username);
    let (address_since, account_since) = (now - ADDRESS_WINDOW, now - ACCOUNT_WINDOW);
    let [
        (address_failures, address_start),
        (account_failures, account_start),
    ] = throttle::failures(
        &app.db,
        (&address, address_since),
        (&account, account_since),
    )
    .await?;
    if address_failures >= ADDRESS_MAX_FAILURES {
        return Ok(Err(Refused::AddressThrottled(
            address_start + ADDRESS_WINDOW - now,
        )));
    }
    if account_failures >= ACCOUNT_MAX_FAILURES {
        return Ok(Err(Refused::AccountLocked(
            account_start + ACCOUNT_WINDOW - now,
        )));
    }
    let (user, hash) = match store::users::find_for_login(&app.db, &username.to_lowercase()).await?
    {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    // Unknown users (and users without a password) cost the same time.
    let hash = match hash {
        Some(hash) => hash,
        None => app.dummy_hash().await?,
    };
    let matches = app.passwords.verify(password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        throttle::failed(&app.db, &address, now, address_since).await?;
        let failures = throttle::failed(&app.db, &account, now, account_since).await?;
        if failures >= ACCOUNT_MAX_FAILURES {
            // Recorded once: only one failure sees the count reach the limit.
            if failures == ACCOUNT_MAX_FAILURES {
                let event = Event::new(Kind::AccountLocked)
                    .from(origin)
                    .detail(json!({"username": shown(username), "seconds": ACCOUNT_WINDOW}));
                audit::record(&app.db, about_user(app, event, username).await, now).await;
            }
            return Ok(Err(Refused::AccountLocked(ACCOUNT_WINDOW)));
        }
        return Ok(Err(Refused::WrongCredentials));
    };
    if user.disabled {
        return Ok(Err(Refused::Disabled));
    }
    if account_failures > 0 {
        throttle::clear(&app.db, &account).await?;
    }
    Ok(Ok(user))
}
