//! Verified API keys kept in memory, so a request costs no key lookup. The
//! database bumps a generation on every change that can end a key's use
//! (revocation, expiry, scopes, deletion), from any instance or the command
//! line; a poll every `POLL_EVERY` empties the cache when it moves. Expiry is
//! still checked on every use, and only keys that verified are kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::storage::{ApiKey, Database, Store};

pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// More distinct keys than this in use at once empties the cache.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
struct Cached {
    /// `None` until the first poll and after a failed one: nothing is kept.
    generation: Option<i64>,
    by_lookup: HashMap<String, ApiKey>,
    by_id: HashMap<i64, ApiKey>,
}

#[derive(Default)]
pub struct KeyCache {
    inner: RwLock<Cached>,
}

impl KeyCache {
    /// Starts the poll; it ends when the cache is dropped.
    pub fn start(store: Arc<Database>) -> Arc<Self> {
        let cache = Arc::new(KeyCache::default());
        tokio::spawn(poll(Arc::downgrade(&cache), store));
        cache
    }

    /// The generation to pass to `insert` for a lookup made now.
    pub fn generation(&self) -> Option<i64> {
        self.read().generation
    }

    pub fn by_lookup(&self, lookup: &str) -> Option<ApiKey> {
        self.read().by_lookup.get(lookup).cloned()
    }

    pub fn by_id(&self, id: i64) -> Option<ApiKey> {
        self.read().by_id.get(&id).cloned()
    }

    /// Keeps a key read from the database at `generation`, unless the keys
    /// changed since (it could be stale).
    pub fn insert(&self, generation: Option<i64>, key: &ApiKey) {
        let mut cached = self.inner.write().expect("key cache lock");
        if generation.is_none() || cached.generation != generation {
            return;
        }
        if cached.by_id.len() >= MAX_KEYS {
            cached.by_lookup.clear();
            cached.by_id.clear();
        }
        cached.by_lookup.insert(key.digest.lookup(), key.clone());
        cached.by_id.insert(key.id, key.clone());
    }

    /// Forgets every key and moves to `generation`.
    pub fn forget(&self, generation: Option<i64>) {
        let mut cached = self.inner.write().expect("key cache lock");
        cached.generation = generation;
        cached.by_lookup.clear();
        cached.by_id.clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.inner.read().expect("key cache lock")
    }
}

async fn poll(cache: Weak<KeyCache>, store: Arc<Database>) {
    let mut interval = tokio::time::interval(POLL_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        match store.key_generation().await {
            Ok(generation) if Some(generation) != cache.generation() => {
                cache.forget(Some(generation))
            }
            Ok(_) => {}
            // Unknown state: keep nothing, so every request asks the database.
            Err(error) => {
                if cache.generation().is_some() {
                    tracing::warn!(%error, "cannot read the key generation; not caching keys");
                }
                cache.forget(None);
            }
        }
    }
}
