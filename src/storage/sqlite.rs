//! SQLite: the embedded default. WAL mode with one writer connection (SQLite
//! allows one writer at a time anyway) and a pool of readers that never wait
//! for it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql_store::{bind_user_data, impl_sql_store};

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // SCIM `co`/`sw`/`ew` on case-exact attributes must not fold case.
            .pragma("case_sensitive_like", "ON");
        // A connection to a local file does not go stale: no ping round
        // trip to the connection's thread before every query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { reader, writer })
    }
}

// The single writer connection already serialises read-modify-write.
// Planner statistics are fixed by migration 0007, so nothing to refresh.
impl_sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "",
    "EXPLAIN QUERY PLAN",
    "detail",
    "",
    [] as [&str; 0],
    // Users per import statement: SQLite looks `$N` parameters up by name,
    // which grows with the square of their number.
    IMPORT_CHUNK
);

const IMPORT_CHUNK: usize = 20;
