//! Group commit for opaque access tokens. Every opaque token is a row
//! written before the response; one INSERT and commit per token would cost
//! more than everything else on that path together. A single writer task
//! takes the tokens waiting at that moment (up to `MAX_BATCH`) and stores
//! them with one multi-row INSERT; each request still answers only after its
//! row is committed. Under light load a batch is one row, as before.

use tokio::sync::{mpsc, oneshot};

use super::tokens::AccessToken;
use super::{Db, on_db};

const MAX_BATCH: usize = 64;
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<(), ()>>;

#[derive(Debug, thiserror::Error)]
#[error("could not store the access token (see the log)")]
pub struct WriteError;

/// Handle to the writer task; cloning it shares the task.
#[derive(Clone)]
pub struct AccessTokenWriter {
    queue: mpsc::Sender<(AccessToken, Reply)>,
}

impl AccessTokenWriter {
    /// Starts the writer task on the current runtime. It ends when the last
    /// handle is dropped.
    pub fn start(db: Db) -> AccessTokenWriter {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, pending));
        AccessTokenWriter { queue }
    }

    /// Stores the token; returns once it is committed.
    pub async fn insert(&self, token: AccessToken) -> Result<(), WriteError> {
        let (reply, committed) = oneshot::channel();
        self.queue
            .send((token, reply))
            .await
            .map_err(|_| WriteError)?;
        committed
            .await
            .map_err(|_| WriteError)?
            .map_err(|()| WriteError)
    }
}

async fn write_batches(db: Db, mut pending: mpsc::Receiver<(AccessToken, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let tokens: Vec<&AccessToken> = batch.iter().map(|(token, _)| token).collect();
        let result = insert_all(&db, &tokens).await.map_err(|e| {
            tracing::error!(error = %e, rows = tokens.len(), "storing access tokens failed");
        });
        for (_, reply) in batch.drain(..) {
            let _ = reply.send(result);
        }
    }
}

const INSERT: &str = "INSERT INTO access_tokens (token_hash, jti, client_id, user_id, grant_id, scope, \
     audiences, issued_at, expires_at) ";

async fn insert_all(db: &Db, tokens: &[&AccessToken]) -> Result<(), sqlx::Error> {
    on_db!(db, p => {
        let mut query = sqlx::QueryBuilder::new(INSERT);
        query.push_values(tokens, |mut row, t| {
            row.push_bind(&t.token_hash).push_bind(&t.jti).push_bind(&t.client_id)
                .push_bind(t.user_id).push_bind(t.grant_id).push_bind(&t.scope)
                .push_bind(&t.audiences).push_bind(t.issued_at).push_bind(t.expires_at);
        });
        query.build().execute(p).await.map(drop)
    })
}
