//! Group commit for the rows written on hot paths: opaque access tokens and
//! authorization codes. One INSERT and commit per row would cost more than
//! everything else on those paths together. A writer task per table takes
//! the rows waiting at that moment (up to `MAX_BATCH`) and stores them with
//! one multi-row INSERT; each request still answers only after its row is
//! committed. Under light load a batch is one row, as before.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::codes::Code;
use super::tokens::AccessToken;
use super::{Db, on_db};

const MAX_BATCH: usize = 64;
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<(), WriteError>>;

#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("could not store the row (see the log)")]
pub struct WriteError {
    /// The database was unavailable (store::outage), not the row wrong.
    pub unavailable: bool,
}

/// A row type that can be inserted many at a time.
pub trait Batched: Send + Sync + 'static {
    const WHAT: &'static str;
    fn insert_all(db: &Db, rows: &[&Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Handle to a writer task; cloning it shares the task.
pub struct BatchWriter<T> {
    queue: mpsc::Sender<(T, Reply)>,
}

impl<T> Clone for BatchWriter<T> {
    fn clone(&self) -> Self {
        BatchWriter {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Batched> BatchWriter<T> {
    /// Starts the writer task on the current runtime. It ends when the last
    /// handle is dropped.
    pub fn start(db: Db) -> BatchWriter<T> {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, pending));
        BatchWriter { queue }
    }

    /// Stores the row; returns once it is committed.
    pub async fn insert(&self, row: T) -> Result<(), WriteError> {
        let (reply, committed) = oneshot::channel();
        // The writer task gone: a failure inside, not an outage.
        let gone = WriteError { unavailable: false };
        self.queue.send((row, reply)).await.map_err(|_| gone)?;
        committed.await.map_err(|_| gone)?
    }
}

async fn write_batches<T: Batched>(db: Db, mut pending: mpsc::Receiver<(T, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<&T> = batch.iter().map(|(row, _)| row).collect();
        let result = T::insert_all(&db, &rows).await.map_err(|e| {
            let unavailable = super::outage::noticed(&e);
            if !unavailable {
                tracing::error!(error = %e, rows = rows.len(), "storing {} failed", T::WHAT);
            }
            WriteError { unavailable }
        });
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result);
        }
    }
}

impl Batched for AccessToken {
    const WHAT: &'static str = "access tokens";

    fn insert_all(db: &Db, rows: &[&Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        const INSERT: &str = "INSERT INTO access_tokens (token_hash, jti, client_id, user_id, grant_id, \
             scope, audiences, groups, act, issued_at, expires_at, auth_time, acr, amr) ";
        async move {
            on_db!(db, p => {
                let mut query = sqlx::QueryBuilder::new(INSERT);
                query.push_values(rows, |mut row, t| {
                    row.push_bind(&t.token_hash).push_bind(&t.jti).push_bind(&t.client_id)
                        .push_bind(t.user_id).push_bind(t.grant_id).push_bind(&t.scope)
                        .push_bind(&t.audiences).push_bind(&t.groups).push_bind(&t.act)
                        .push_bind(t.issued_at)
                        .push_bind(t.expires_at).push_bind(t.auth_time).push_bind(&t.acr)
                        .push_bind(&t.amr);
                });
                query.build().execute(p).await.map(drop)
            })
        }
    }
}

impl Batched for Code {
    const WHAT: &'static str = "authorization codes";

    fn insert_all(db: &Db, rows: &[&Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        const INSERT: &str = "INSERT INTO authorization_codes (code_hash, client_id, user_id, sid, \
             redirect_uri, scope, audiences, nonce, code_challenge, auth_time, acr, amr, offline, grant_id, \
             access_jti, created_at, expires_at, used_at) ";
        async move {
            on_db!(db, p => {
                let mut query = sqlx::QueryBuilder::new(INSERT);
                query.push_values(rows, |mut row, c| {
                    row.push_bind(&c.code_hash).push_bind(&c.client_id).push_bind(c.user_id)
                        .push_bind(&c.sid).push_bind(&c.redirect_uri).push_bind(&c.scope)
                        .push_bind(&c.audiences).push_bind(&c.nonce).push_bind(&c.code_challenge)
                        .push_bind(c.auth_time).push_bind(&c.acr).push_bind(&c.amr).push_bind(c.offline)
                        .push_bind(c.grant_id).push_bind(&c.access_jti).push_bind(c.created_at)
                        .push_bind(c.expires_at).push_bind(c.used_at);
                });
                query.build().execute(p).await.map(drop)
            })
        }
    }
}
