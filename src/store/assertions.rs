//! `jti`s of accepted client assertions (RFC 7523 §3 item 7), kept until the
//! assertion expires so that a replay fails on every instance.

use super::{Db, on_db};

const RECORD: &str = "INSERT INTO client_assertions (client_id, jti, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING";

/// Records a `jti` as used; false when it was used before.
pub async fn record_first_use(
    db: &Db,
    client_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(RECORD).bind(client_id).bind(jti).bind(expires_at)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

const PURGE: &str = "DELETE FROM client_assertions WHERE expires_at <= $1";

pub async fn purge_expired(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(PURGE).bind(before).execute(p).await.map(|r| r.rows_affected()))
}
