//! Whether the database can be reached. Errors that mean it cannot — it is
//! down or restarting, refuses or drops connections, the pool found no
//! connection in time, another process holds SQLite's write lock past the
//! busy timeout, the disk is full — are answered `503` with `Retry-After`
//! (the request may well succeed shortly) instead of `500` (a bug), and
//! logged once when the outage begins and once when it ends, not once per
//! request.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

/// What `Retry-After` says while the database is unavailable, seconds.
pub const RETRY_AFTER: u64 = 5;

/// One database per process: the outage is the process's.
static DOWN: AtomicBool = AtomicBool::new(false);
/// When an unavailability error was last met (Unix seconds).
static LAST_SEEN: AtomicI64 = AtomicI64::new(0);

/// An outage ends only after this long without such errors: reads may
/// work while writes fail (a SQLite write lock, a full disk), and a good
/// read must not end it while writes still fail.
const QUIET_FOR: i64 = 5;

/// Whether `e` says the database is unavailable rather than that a
/// statement is wrong.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => unavailable_code(db.as_ref()),
        _ => false,
    }
}

fn unavailable_code(db: &dyn DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<PgDatabaseError>().is_some() {
        // PostgreSQL Appendix A: class 08 connection exceptions; 57P01-03
        // shutting down, crashed, starting up; 53 insufficient resources
        // (disk full, out of memory, too many connections); 58030 I/O.
        return code.starts_with("08")
            || code.starts_with("53")
            // 25006: read-only, as a standby during a failover.
            || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "58030" | "25006");
    }
    // SQLite result codes (the primary code is the low byte of an extended
    // one): BUSY, LOCKED, IOERR, FULL, CANTOPEN.
    code.parse::<i32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Notes `e`: `true` when it means the database is unavailable, logged
/// then only if it begins an outage.
pub fn noticed(e: &sqlx::Error) -> bool {
    if !is_unavailable(e) {
        return false;
    }
    LAST_SEEN.store(crate::unix_now(), Ordering::SeqCst);
    if !DOWN.swap(true, Ordering::SeqCst) {
        tracing::error!(error = %e, "database unavailable: answering 503 until it is back");
    }
    true
}

/// Whether an outage was noticed and has not been seen to end.
pub fn is_down() -> bool {
    DOWN.load(Ordering::SeqCst)
}

/// The database answered again: the outage ends once no request has met
/// it for `QUIET_FOR` seconds.
pub fn back() {
    let quiet = crate::unix_now() - LAST_SEEN.load(Ordering::SeqCst) >= QUIET_FOR;
    if quiet && DOWN.swap(false, Ordering::SeqCst) {
        tracing::warn!("database reachable again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailability_and_bugs_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&sqlx::Error::Io(refused)));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
