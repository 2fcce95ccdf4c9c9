//! Device authorization requests (RFC 8628), from the device's request to
//! the one token response that redeems them.

use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, on_db};
use crate::types::DeviceStatus;

#[derive(Debug, Clone, FromRow)]
pub struct DeviceCode {
    pub device_code_hash: Vec<u8>,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub audiences: Json<Vec<String>>,
    /// An unknown status is a decoding error: only `approved` approves.
    #[sqlx(try_from = "String")]
    pub status: DeviceStatus,
    pub user_id: Option<Uuid>,
    pub sid: Option<String>,
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Option<Json<Vec<String>>>,
    pub poll_interval: i64,
    pub polled_at: Option<i64>,
    pub expires_at: i64,
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "device_code_hash, user_code, client_id, scope, audiences, status, user_id, sid, \
         auth_time, acr, amr, poll_interval, polled_at, expires_at, created_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO device_codes (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT DO NOTHING"
);

/// Stores a new request; false if its user code is taken (try another).
pub async fn insert(db: &Db, d: &DeviceCode) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(INSERT)
        .bind(&d.device_code_hash).bind(&d.user_code).bind(&d.client_id).bind(&d.scope)
        .bind(&d.audiences).bind(d.status.as_str()).bind(d.user_id).bind(&d.sid).bind(d.auth_time)
        .bind(&d.acr).bind(&d.amr).bind(d.poll_interval).bind(d.polled_at).bind(d.expires_at)
        .bind(d.created_at)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const PENDING: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM device_codes WHERE user_code = $1 AND status = 'pending' AND expires_at > $2"
);

/// A request still waiting for the user, by its user code.
pub async fn pending_by_user_code(
    db: &Db,
    user_code: &str,
    now: i64,
) -> Result<Option<DeviceCode>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(PENDING).bind(user_code).bind(now).fetch_optional(p).await)
}

/// The user's answer: who approved, and how they had signed in.
pub struct Decision<'a> {
    pub approve: bool,
    pub user_id: Uuid,
    pub sid: &'a str,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a [String],
}

/// A user's approved requests not yet redeemed become denied (signed out
/// everywhere): the device's next poll is `access_denied`.
pub(super) const DENY_USER_APPROVED: &str =
    "UPDATE device_codes SET status = 'denied' WHERE user_id = $1 AND status = 'approved'";

const DECIDE: &str = "UPDATE device_codes SET status = $3, user_id = $4, sid = $5, auth_time = $6, \
     acr = $7, amr = $8 WHERE user_code = $1 AND status = 'pending' AND expires_at > $2 \
     RETURNING client_id, scope";

/// Records the user's answer: the client and scope answered, or `None` if
/// the request is gone or answered.
pub async fn decide(
    db: &Db,
    user_code: &str,
    d: &Decision<'_>,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let status = if d.approve {
        DeviceStatus::Approved
    } else {
        DeviceStatus::Denied
    };
    on_db!(db, p => sqlx::query_as(DECIDE).bind(user_code).bind(now).bind(status.as_str()).bind(d.user_id)
        .bind(d.sid).bind(d.auth_time).bind(d.acr).bind(Json(d.amr))
        .fetch_optional(p).await)
}

const FIND: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM device_codes WHERE device_code_hash = $1 AND client_id = $2"
);

/// The request a device polls for, if it is this client's.
pub async fn find(
    db: &Db,
    device_code_hash: &[u8],
    client_id: &str,
) -> Result<Option<DeviceCode>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as(FIND).bind(device_code_hash).bind(client_id).fetch_optional(p).await)
}

const POLLED: &str =
    "UPDATE device_codes SET polled_at = $2, poll_interval = $3 WHERE device_code_hash = $1";

/// Notes a poll, with the interval the device must keep from now on.
pub async fn polled(
    db: &Db,
    device_code_hash: &[u8],
    now: i64,
    interval: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(POLLED).bind(device_code_hash).bind(now).bind(interval)
        .execute(p).await.map(drop))
}

const TAKE: &str = "DELETE FROM device_codes WHERE device_code_hash = $1 AND status = $2";

/// Removes an answered request, once: true for the one caller that did.
pub async fn take(
    db: &Db,
    device_code_hash: &[u8],
    status: DeviceStatus,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(TAKE).bind(device_code_hash).bind(status.as_str())
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const PURGE: &str = "DELETE FROM device_codes WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|r| r.rows_affected()))
}
