//! PostgreSQL's trigram indexes take new entries into a pending list (GIN's
//! fast update) that is merged into the index in one go. Left to inserts,
//! the insert that finds a list over `gin_pending_list_limit` merges it, and
//! every create gathered into its statement waits for that. A serving
//! instance (not the other commands) merges the lists in the background
//! instead, every [`INTERVAL`]; migration 0014 raises the limit to 4 MB so
//! that an insert merges only when this falls behind (at 6,600 POSTs a
//! second each list grows by about 4 MB a second). An insert that finds a
//! merge under way leaves the list to it; instances sharing a database
//! merge in turn.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use super::background::Background;

/// How often the lists are merged.
const INTERVAL: Duration = Duration::from_millis(200);

/// After a merge failed (the database gone, or the indexes owned by another
/// role: only their owner may merge them), the next attempt.
const BACKOFF: Duration = Duration::from_secs(10);

/// The indexes with pending lists.
const INDEXES: [&str; 2] = ["users_user_name_trigram", "user_values_value_trigram"];

/// Pending-list pages merged into each index, by `index`.
pub const MERGED_PAGES: &str = "postgres_pending_list_pages_merged_total";

/// How long each merge took, by `index`.
pub const MERGE_SECONDS: &str = "postgres_pending_list_merge_duration_seconds";

/// Starts merging on a connection of `pool`.
pub(super) fn start(pool: PgPool) -> Background {
    Background::spawn(async move {
        let mut warned = false;
        loop {
            tokio::time::sleep(INTERVAL).await;
            match merge_all(&pool).await {
                Ok(()) => warned = false,
                Err(error) => {
                    if !warned {
                        tracing::warn!(
                            %error,
                            "merging the trigram indexes' pending lists failed; inserts \
                             merge them meanwhile (retrying every {} s)",
                            BACKOFF.as_secs()
                        );
                    }
                    warned = true;
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        }
    })
}

async fn merge_all(pool: &PgPool) -> Result<(), sqlx::Error> {
    for index in INDEXES {
        let started = Instant::now();
        let (pages,): (i64,) = sqlx::query_as("SELECT gin_clean_pending_list($1::regclass)")
            .bind(index)
            .fetch_one(pool)
            .await?;
        metrics::histogram!(MERGE_SECONDS, "index" => index)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(MERGED_PAGES, "index" => index).increment(pages.max(0) as u64);
    }
    Ok(())
}
