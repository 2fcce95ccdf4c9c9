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

const RESERVE: &str = "INSERT INTO login_failures (subject, failures, window_start) VALUES ($1, 1, $2) \
     ON CONFLICT (subject) DO UPDATE SET \
     failures = CASE WHEN login_failures.window_start < $3 THEN 1 ELSE login_failures.failures + 1 END, \
     window_start = CASE WHEN login_failures.window_start < $3 THEN $2 ELSE login_failures.window_start END \
     WHERE login_failures.window_start < $3 OR login_failures.failures < $4 \
     RETURNING failures";

const WINDOW_START: &str = "SELECT window_start FROM login_failures WHERE subject = $1";

/// Counts an attempt as a failure before it is made, if the subject has
/// fewer than `limit` failures in its window (one that started before
/// `since` starts over): `Ok(failures)`, this attempt included. Counting
/// and checking are one statement, so no number of parallel attempts gets
/// past the limit. At the limit nothing is counted:
/// `Err(window_start)`, to tell how long to wait. An attempt that turns out
/// well gives its count back (`release`, or `clear`).
pub async fn reserve(
    db: &Db,
    subject: &str,
    now: i64,
    since: i64,
    limit: i64,
) -> Result<Result<i64, i64>, sqlx::Error> {
    let counted: Option<i64> = on_db!(db, p => sqlx::query_scalar(RESERVE)
        .bind(subject).bind(now).bind(since).bind(limit).fetch_optional(p).await)?;
    if let Some(failures) = counted {
        return Ok(Ok(failures));
    }
    let start: Option<i64> = on_db!(db, p => sqlx::query_scalar(WINDOW_START)
        .bind(subject).fetch_optional(p).await)?;
    Ok(Err(start.unwrap_or(now)))
}

const RELEASE: &str =
    "UPDATE login_failures SET failures = failures - 1 WHERE subject = $1 AND failures > 0";

/// Gives back an attempt `reserve` counted that was no failure after all.
pub async fn release(db: &Db, subject: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(RELEASE).bind(subject).execute(p).await.map(drop))
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
