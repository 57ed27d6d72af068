//! Lists that may read many users (a page, a `co` filter, the journal) take
//! at most all but one of the reader's connections: however many clients
//! page or search at once, a lookup by id, userName or externalId (what
//! provisioning clients send before every write, and what PATCH reads) still
//! finds a connection instead of queueing behind scans of a large company.

use tokio::sync::{Semaphore, SemaphorePermit};

pub(super) struct Scans(Semaphore);

impl Scans {
    /// For a reader of `connections` connections.
    pub(super) fn new(connections: u32) -> Self {
        Scans(Semaphore::new(connections.saturating_sub(1).max(1) as usize))
    }

    /// Waits for a scan's turn; held while the scan runs.
    pub(super) async fn start(&self) -> Result<SemaphorePermit<'_>, sqlx::Error> {
        self.0.acquire().await.map_err(|_| sqlx::Error::PoolClosed)
    }
}
