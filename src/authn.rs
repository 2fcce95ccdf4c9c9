//! Checking a username and password: argon2id on the blocking pool (through
//! `Passwords`), the same work for unknown users (a dummy hash), and
//! throttling of repeated failures per username and per client address —
//! the same for names that exist and names that do not.

use serde_json::json;

use crate::audit::{self, Event, Kind, Origin};
use crate::state::App;
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

/// On a page: a database error as the page's (503 in an outage), anything
/// else a failure inside.
impl From<AuthnError> for crate::page_error::PageError {
    fn from(e: AuthnError) -> crate::page_error::PageError {
        match e {
            AuthnError::Db(e) => e.into(),
            other => crate::page_error::PageError::server(&other),
        }
    }
}

/// The throttling subject of a username.
pub fn username_subject(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

/// The throttling subject of a username's wrong second factors: counted
/// apart from wrong passwords, so that a right password (which clears
/// those) does not give the codes new tries; it locks the password
/// sign-in too.
pub fn second_factor_subject(username: &str) -> String {
    format!("mfa:{}", username.to_lowercase())
}

/// The throttling subject of a client address.
pub fn address_subject(origin: &Origin) -> String {
    format!("ip:{}", crate::net::network_of(origin.ip))
}

/// Seconds until the username may try its second factor again, if wrong
/// ones reached the limit.
pub async fn second_factor_locked(
    db: &store::Db,
    username: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let subject = second_factor_subject(username);
    let since = now - ACCOUNT_WINDOW;
    let [(failures, start), _] = throttle::failures(db, (&subject, since), ("", now)).await?;
    Ok((failures >= ACCOUNT_MAX_FAILURES).then_some(start + ACCOUNT_WINDOW - now))
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

/// The attempt is counted as a failure per address and per username before
/// the password is verified (`throttle::reserve`: counting and checking the
/// limit are one atomic step, so parallel attempts cannot all slip past a
/// limit none of them has reached yet); a right password gives the counts
/// back.
async fn check_throttled(
    app: &App,
    username: &str,
    password: &Secret,
    origin: &Origin,
    now: i64,
) -> Result<Result<User, Refused>, AuthnError> {
    let address = address_subject(origin);
    let account = username_subject(username);
    let (address_since, account_since) = (now - ADDRESS_WINDOW, now - ACCOUNT_WINDOW);
    let db = &app.db;
    if let Some(wait) = second_factor_locked(db, username, now).await? {
        return Ok(Err(Refused::AccountLocked(wait)));
    }
    let account_failures =
        match throttle::reserve(db, &account, now, account_since, ACCOUNT_MAX_FAILURES).await? {
            Ok(failures) => failures,
            Err(start) => return Ok(Err(Refused::AccountLocked(start + ACCOUNT_WINDOW - now))),
        };
    if let Err(start) =
        throttle::reserve(db, &address, now, address_since, ADDRESS_MAX_FAILURES).await?
    {
        throttle::release(db, &account).await?;
        return Ok(Err(Refused::AddressThrottled(start + ADDRESS_WINDOW - now)));
    }
    let (user, hash) = match store::users::find_for_login(db, &username.to_lowercase()).await? {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    // Unknown users (and users without a password) cost the same time.
    let hash = match hash {
        Some(hash) => hash,
        None => app.dummy_hash().await?,
    };
    app.metrics.password_checked();
    let matches = app.passwords.verify(password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        if account_failures >= ACCOUNT_MAX_FAILURES {
            // Recorded once: only one attempt is counted as the last one.
            let event = Event::new(Kind::AccountLocked)
                .from(origin)
                .detail(json!({"username": shown(username), "seconds": ACCOUNT_WINDOW}));
            audit::record(db, about_user(app, event, username).await, now).await;
            return Ok(Err(Refused::AccountLocked(ACCOUNT_WINDOW)));
        }
        return Ok(Err(Refused::WrongCredentials));
    };
    throttle::clear(db, &account).await?;
    throttle::release(db, &address).await?;
    if user.disabled {
        return Ok(Err(Refused::Disabled));
    }
    Ok(Ok(user))
}
