//! `last_used_at` without a write per request: uses are collected in memory
//! and written in one batch every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::storage::{now_micros, Database, Store};

pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct KeyUsage {
    pending: Mutex<HashMap<i64, i64>>,
}

impl KeyUsage {
    pub fn record(&self, key_id: i64) {
        self.pending
            .lock()
            .expect("key usage lock")
            .insert(key_id, now_micros());
    }

    pub async fn flush(&self, store: &Database) {
        let used: Vec<(i64, i64)> =
            std::mem::take(&mut *self.pending.lock().expect("key usage lock"))
                .into_iter()
                .collect();
        if let Err(error) = store.touch_keys(&used).await {
            tracing::warn!(%error, keys = used.len(), "could not record key use");
        }
    }

    /// Flushes periodically for as long as the store lives.
    pub fn spawn_flusher(self: &Arc<Self>, store: Arc<Database>) {
        let usage = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(FLUSH_EVERY);
            loop {
                interval.tick().await;
                let Some(usage) = usage.upgrade() else { break };
                usage.flush(&store).await;
            }
        });
    }
}
