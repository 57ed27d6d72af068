//! Journal entries written to an SQLite journal file through rusqlite, on
//! a thread of their own. Through sqlx each batch went to its connection's
//! thread as multi-row statements of boxed arguments, copied again there:
//! ~16,500 instructions an entry (callgrind, GET by id), against ~13,800
//! here, where the same statements bind each entry's values in place; most
//! of what is left is SQLite's own. While a batch is written the store's
//! sqlx journal writer is held, so its pruning and the journal's
//! checkpointer take turns with it, as they did.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use sqlx::SqlitePool;

use super::group_commit::open_writer;
use super::sqlite::{journal_statement, JOURNAL_ROWS};
use super::{StoreError, StoreResult};
use crate::blocking::BlockingThread;
use crate::journal::{Body, JournalEntry, Stored};

pub(super) struct JournalInserts {
    /// None once closed.
    connection: Arc<Mutex<Option<Connection>>>,
    /// The sqlx writer of the same file, held while a batch is written.
    writer: SqlitePool,
    /// Where batches are written (see `blocking`).
    thread: BlockingThread,
}

impl JournalInserts {
    /// Opens the journal file at `path` with its sqlx writer's settings
    /// when serving (`cache_pages`, checkpoints left to the checkpointer).
    pub(super) fn open(
        path: &Path,
        writer: SqlitePool,
        busy_timeout: Duration,
        cache_pages: &str,
    ) -> StoreResult<Self> {
        let connection = open_writer(
            path,
            busy_timeout,
            &format!("PRAGMA cache_size = {cache_pages};"),
        )?;
        Ok(JournalInserts {
            connection: Arc::new(Mutex::new(Some(connection))),
            writer,
            thread: BlockingThread::start("sqlite-journal"),
        })
    }

    /// Writes `entries` in one transaction.
    pub(super) async fn insert(&self, entries: Vec<JournalEntry>) -> StoreResult<()> {
        let _held = self.writer.acquire().await?;
        let connection = self.connection.clone();
        self.thread
            .run(
                move || match &*connection.lock().unwrap_or_else(PoisonError::into_inner) {
                    Some(connection) => {
                        insert_entries(connection, entries).map_err(StoreError::from)
                    }
                    None => Err(closed()),
                },
            )
            .await
            .unwrap_or_else(|| Err(closed()))
    }

    /// Closes the connection (before the sqlx writer's, so that the last
    /// connection to close, which copies the log into the file, is that
    /// one); later batches fail.
    pub(super) fn close(&self) {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Err((_, error))) = connection.map(Connection::close) {
            tracing::warn!(%error, "closing the journal's writer");
        }
    }
}

fn closed() -> StoreError {
    StoreError::Config("the journal's writer is closed".into())
}

fn insert_entries(connection: &Connection, entries: Vec<JournalEntry>) -> rusqlite::Result<()> {
    let transaction = connection.unchecked_transaction()?;
    // Rows a statement: each statement reads and writes the table's
    // AUTOINCREMENT counter once (one row a statement cost more than sqlx).
    let mut full = None;
    for chunk in entries.chunks(JOURNAL_ROWS) {
        let sql = journal_statement(chunk.len(), &mut full);
        let mut insert = transaction.prepare_cached(&sql)?;
        let mut index = 0;
        let mut bind = |value: &dyn ToSql| {
            index += 1;
            insert.raw_bind_parameter(index, value)
        };
        for e in chunk {
            bind(&e.company_id)?;
            bind(&e.at)?;
            bind(&e.request_id)?;
            bind(&e.method)?;
            bind(&e.path)?;
            bind(&e.client)?;
            bind(&e.user_agent)?;
            bind(&e.request_body.as_ref().map(BodyValue))?;
            bind(&e.status)?;
            bind(&e.response_body.as_ref().map(BodyValue))?;
            bind(&((e.latency_ms * 1000.0) as i64))?;
            bind(&e.user_id)?;
            bind(&e.change.as_ref().map(|v| v.to_string()))?;
            bind(&e.fault)?;
        }
        insert.raw_execute()?;
    }
    transaction.commit()
}

/// A body bound as sqlx binds it (`journal_body`): text, or a BLOB when
/// kept compressed.
struct BodyValue<'a>(&'a Body);

impl ToSql for BodyValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0.stored() {
            Stored::Text(text) => ValueRef::Text(text.as_bytes()),
            Stored::Compressed(bytes) => ValueRef::Blob(bytes),
        }))
    }
}
