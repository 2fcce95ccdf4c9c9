//! Registered clients, cached for a few seconds: the token, introspection
//! and revocation endpoints look a client up on every request, and a
//! database round trip costs more than everything else on the JWT path but
//! the signature. A change made elsewhere (the CLI, another instance) is seen
//! within `TTL`. A failed authentication always re-reads the client, so a
//! rotated secret works at once; the old one may work for up to `TTL`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{self, Db, clients::Client};

/// How stale a cached client may be.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; the cache starts over beyond that.
const CAPACITY: usize = 10_000;

/// Where a client came from: a cached copy may be up to `TTL` old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

#[derive(Default)]
pub struct ClientCache {
    entries: RwLock<HashMap<String, (Arc<Client>, Instant)>>,
}

impl ClientCache {
    /// The client, from the cache when fresh, else from the database.
    /// Unknown clients are not cached.
    pub async fn get(
        &self,
        db: &Db,
        client_id: &str,
    ) -> Result<Option<(Arc<Client>, Source)>, sqlx::Error> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(client_id)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(client, _)| Arc::clone(client));
        match cached {
            Some(client) => Ok(Some((client, Source::Cache))),
            None => Ok(self
                .load(db, client_id)
                .await?
                .map(|c| (c, Source::Database))),
        }
    }

    /// The client as the database has it now, refreshing the cache.
    pub async fn load(&self, db: &Db, client_id: &str) -> Result<Option<Arc<Client>>, sqlx::Error> {
        let found = store::clients::find(db, client_id).await?.map(Arc::new);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match &found {
            Some(client) => {
                if entries.len() >= CAPACITY {
                    entries.clear();
                }
                entries.insert(client_id.to_owned(), (Arc::clone(client), Instant::now()));
            }
            None => {
                entries.remove(client_id);
            }
        }
        Ok(found)
    }

    /// Drops one client: the next use reads it (another instance changed it).
    pub fn forget(&self, client_id: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(client_id);
    }

    /// Drops every client (changes may have been missed).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
