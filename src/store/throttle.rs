//! Failed logins in windows, per subject: a client address (`ip:…`) or a
//! username (`user:…`, whether or not such a user exists, so that throttling
//! tells nothing about which accounts exist). Shared by every instance.

use super::{Db, on_db};

const WINDOWS: &str =
    "SELECT subject, failures, window_start FROM login_failures WHERE subject IN ($1, $2)";

/// The failure counts of two subjects whose windows started at or after
/// `since_a` / `since_b` (older windows count as zero).
pub async fn failures(
    db: &Db,
    (a, since_a): (&str, i64),
    (b, since_b): (&str, i64),
) -> Result<[(i64, i64); 2], sqlx::Error> {
    let rows: Vec<(String, i64, i64)> =
        on_db!(db, p => sqlx::query_as(WINDOWS).bind(a).bind(b).fetch_all(p).await)?;
    let of = |subject: &str, since: i64| {
        rows.iter()
            .find(|(s, _, start)| s == subject && *start >= since)
            .map_or((0, since), |(_, failures, start)| (*failures, *start))
    };
    Ok([of(a, since_a), of(b, since_b)])
}

const FAILED: &str = "INSERT INTO login_failures (subject, failures, window_start) VALUES ($1, 1, $2) \
     ON CONFLICT (subject) DO UPDATE SET \
     failures = CASE WHEN login_failures.window_start < $3 THEN 1 ELSE login_failures.failures + 1 END, \
     window_start = CASE WHEN login_failures.window_start < $3 THEN $2 ELSE login_failures.window_start END \
     RETURNING failures";

/// Counts a failure; a window that started before `since` starts over.
/// Returns the failures in the window, this one included (each concurrent
/// failure sees its own count).
pub async fn failed(db: &Db, subject: &str, now: i64, since: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(FAILED).bind(subject).bind(now).bind(since).fetch_one(p).await)
}

const CLEAR: &str = "DELETE FROM login_failures WHERE subject = $1";

/// Forgets a subject's failures (a successful login, `monban user unlock`).
pub async fn clear(db: &Db, subject: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(CLEAR).bind(subject).execute(p).await.map(drop))
}

const PURGE: &str = "DELETE FROM login_failures WHERE window_start < $1";

pub async fn purge(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
