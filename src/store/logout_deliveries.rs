//! The back-channel logout outbox: one row per ended SSO session and client
//! to tell, kept until it is delivered or given up, so that a restart loses
//! none and no two instances send the same one.

use uuid::Uuid;

use super::{Db, on_db};

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The client answered 400: it cannot use the token; not resent.
    Refused,
    /// No answer worth having after the last attempt.
    GivenUp,
    /// The client went away, or no longer takes logout tokens.
    Dropped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Refused => "refused",
            Outcome::GivenUp => "given_up",
            Outcome::Dropped => "dropped",
        }
    }
}

/// A delivery an instance has claimed and is sending now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub sid: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub jti: String,
    /// Including this one.
    pub attempts: i32,
}

const QUEUE: &str = "INSERT INTO logout_deliveries \
    (sid, client_id, user_id, jti, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $5) \
    ON CONFLICT (sid, client_id) DO NOTHING";

/// Queues the logout of session `sid` for `client_id`, due now; false if
/// it was queued before (each session and client is told once).
pub async fn queue(
    db: &Db,
    sid: &str,
    client_id: &str,
    user_id: Uuid,
    jti: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = on_db!(db, p => sqlx::query(QUEUE).bind(sid).bind(client_id).bind(user_id)
        .bind(jti).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(inserted == 1)
}

const DUE: &str = "SELECT sid, client_id FROM ( \
      SELECT sid, client_id, next_attempt_at, \
        ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY next_attempt_at) AS nth \
      FROM logout_deliveries \
      WHERE done_at IS NULL AND next_attempt_at <= $1 AND claimed_until <= $1) due \
    WHERE nth <= $3 ORDER BY next_attempt_at LIMIT $2";

/// Deliveries due at `now` that nobody is sending, oldest first, at most
/// `per_client` of each client: one client's many (a slow endpoint, or an
/// outsider's) cannot crowd out the others'.
pub async fn due(
    db: &Db,
    now: i64,
    limit: i64,
    per_client: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(DUE).bind(now).bind(limit).bind(per_client).fetch_all(p).await)
}

/// Conditional on the row still being free: of instances racing for it,
/// one wins. Counting the attempt before it is made keeps the retries
/// bounded even if the sender dies mid-attempt.
const CLAIM: &str = "UPDATE logout_deliveries \
    SET claimed_until = $3, attempts = attempts + 1 \
    WHERE sid = $1 AND client_id = $2 AND done_at IS NULL AND claimed_until <= $4 \
      AND next_attempt_at <= $4 \
    RETURNING sid, client_id, user_id, jti, attempts";

/// Claims one delivery for sending until `until`; None if another instance
/// has it or it is done.
pub async fn claim(
    db: &Db,
    sid: &str,
    client_id: &str,
    now: i64,
    until: i64,
) -> Result<Option<Claimed>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(CLAIM).bind(sid).bind(client_id).bind(until).bind(now)
        .fetch_optional(p).await)
}

const RETRY: &str = "UPDATE logout_deliveries SET next_attempt_at = $3, claimed_until = 0 \
    WHERE sid = $1 AND client_id = $2 AND done_at IS NULL";

/// The attempt failed: try again at `at`.
pub async fn retry_at(db: &Db, sid: &str, client_id: &str, at: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(RETRY).bind(sid).bind(client_id).bind(at).execute(p).await.map(drop))
}

const FINISH: &str = "UPDATE logout_deliveries SET done_at = $3, outcome = $4, claimed_until = 0 \
    WHERE sid = $1 AND client_id = $2 AND done_at IS NULL";

pub async fn finish(
    db: &Db,
    sid: &str,
    client_id: &str,
    outcome: Outcome,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(FINISH).bind(sid).bind(client_id).bind(now)
        .bind(outcome.as_str()).execute(p).await.map(drop))
}

const PURGE: &str = "DELETE FROM logout_deliveries WHERE done_at <= $1";

/// Deletes deliveries done before `before`.
pub async fn purge_done(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}

/// Deliveries not yet done (for `/metrics` and the tests).
pub async fn pending(db: &Db) -> Result<i64, sqlx::Error> {
    const PENDING: &str = "SELECT COUNT(*) FROM logout_deliveries WHERE done_at IS NULL";
    on_db!(db, p => sqlx::query_scalar(PENDING).fetch_one(p).await)
}
