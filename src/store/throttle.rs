//! Failed logins: per account (on the user row) and per client address
//! (a window of `login_failures`), shared by every instance.

use uuid::Uuid;

use super::{Db, on_db};

const ACCOUNT_FAILED: &str = "UPDATE users SET failed_logins = failed_logins + 1, \
     locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END WHERE id = $1";

/// Counts a failed login; from the `max`-th consecutive one the account is
/// locked until `lock_until`.
pub async fn account_failed(
    db: &Db,
    user_id: Uuid,
    max: i64,
    lock_until: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(ACCOUNT_FAILED).bind(user_id).bind(max).bind(lock_until)
        .execute(p).await.map(drop))
}

const ACCOUNT_SUCCEEDED: &str = "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND (failed_logins > 0 OR locked_until IS NOT NULL)";

pub async fn account_succeeded(db: &Db, user_id: Uuid) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(ACCOUNT_SUCCEEDED).bind(user_id).execute(p).await.map(drop))
}

const ADDRESS: &str = "SELECT failures, window_start FROM login_failures WHERE ip = $1";

/// Failures from an address in the window that started at `since` or later.
pub async fn address_failures(db: &Db, ip: &str, since: i64) -> Result<(i64, i64), sqlx::Error> {
    let row: Option<(i64, i64)> =
        on_db!(db, p => sqlx::query_as(ADDRESS).bind(ip).fetch_optional(p).await)?;
    Ok(row
        .filter(|(_, start)| *start >= since)
        .unwrap_or((0, since)))
}

const ADDRESS_FAILED: &str = "INSERT INTO login_failures (ip, failures, window_start) VALUES ($1, 1, $2) \
     ON CONFLICT (ip) DO UPDATE SET \
     failures = CASE WHEN login_failures.window_start < $3 THEN 1 ELSE login_failures.failures + 1 END, \
     window_start = CASE WHEN login_failures.window_start < $3 THEN $2 ELSE login_failures.window_start END";

/// Counts a failed login from an address; a window older than `since`
/// starts over.
pub async fn address_failed(db: &Db, ip: &str, now: i64, since: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(ADDRESS_FAILED).bind(ip).bind(now).bind(since).execute(p).await.map(drop))
}

const PURGE: &str = "DELETE FROM login_failures WHERE window_start < $1";

pub async fn purge(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
