//! The phantom-token cache (`MONBAN_PHANTOM_CACHE` entries, off by
//! default): the JWT made for an opaque token, by the token's SHA-256, least
//! recently used first out. Revoking through this instance drops entries at
//! once; `phantom` decides what is worth caching and re-checks it.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lru::LruCache;

use crate::tokens::AccessClaims;

/// A phantom JWT with the claims it carries.
pub struct Cached {
    pub claims: AccessClaims,
    pub jwt: Arc<str>,
    /// When its opaque token was last found active.
    pub checked: Instant,
}

/// Phantom JWTs by opaque token (its SHA-256), least recently used first out.
pub struct PhantomCache {
    entries: Option<Mutex<LruCache<[u8; 32], Arc<Cached>>>>,
    /// Bumped by every revocation, so that a lookup that raced one does not
    /// put its phantom back.
    generation: AtomicU64,
}

impl PhantomCache {
    /// A cache of `capacity` entries; 0 turns it off.
    pub fn new(capacity: usize) -> PhantomCache {
        PhantomCache {
            entries: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
            generation: AtomicU64::new(0),
        }
    }

    /// Counts revocations: a lookup that saw another count raced one.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, opaque_hash: &[u8; 32]) -> Option<Arc<Cached>> {
        self.with(|c| c.get(opaque_hash).cloned()).flatten()
    }

    /// Keeps `entry` unless tokens were revoked since `generation`. The
    /// count is read under the lock: a revocation bumps it before it takes
    /// the lock to drop entries, so it either sees this entry or stops it.
    pub fn put(&self, opaque_hash: [u8; 32], entry: Cached, generation: u64) {
        self.with(|c| {
            if self.generation() == generation {
                c.put(opaque_hash, Arc::new(entry));
            }
        });
    }

    fn with<R>(&self, f: impl FnOnce(&mut LruCache<[u8; 32], Arc<Cached>>) -> R) -> Option<R> {
        let entries = self.entries.as_ref()?;
        let mut guard = entries.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard))
    }

    /// Drops the phantom of one opaque token (it was revoked here).
    pub fn forget(&self, opaque_hash: &[u8]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(key) = <[u8; 32]>::try_from(opaque_hash) {
            self.with(|c| c.pop(&key));
        }
    }

    /// Drops every phantom (tokens were revoked in bulk here: a grant, a
    /// user's consent).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.with(LruCache::clear);
    }
}
