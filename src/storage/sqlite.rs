//! SQLite: the embedded default. WAL mode with one writer connection (SQLite
//! allows one writer at a time anyway) and a pool of readers that never wait
//! for it. Creates, updates and deletes of users that queue for the writer
//! meanwhile are committed together (see `group_commit`). The journal is in
//! a file of its own beside the database (`app.db` -> `app.journal.db`) with
//! its own writer, so recording requests never holds up writes of users;
//! other connections attach it as `journal`.
//! Checkpointers copy each file's write-ahead log into it in the background
//! (see `checkpointer`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use super::checkpointer::{Checkpointer, FileWriter};
use super::connections::{Connections, Open};
use super::group_commit::GroupCommit;
use super::inline_reads::{InlineReaders, InlineReads};
use super::journal_inserts::JournalInserts;
use super::scans::Scans;
use super::sql_store::{bind_columns, impl_sql_store, WriteStatement};
use super::Workload;
use crate::journal::JournalEntry;

pub struct SqliteStore {
    /// Boxed: the connection options make the store large.
    reader: Box<Connections<SqliteFile>>,
    writer: Arc<Connections<SqliteFile>>,
    /// Creates, updates and deletes of users, in turns with `writer`, when
    /// serving a file (else they go through `writer` one by one).
    group_commit: Option<GroupCommit>,
    journal_writer: SqlitePool,
    /// Journal entries written without sqlx, when serving a file.
    journal_inserts: Option<JournalInserts>,
    scans: Scans,
    /// Reads of one user on the caller's thread (None for a database in memory).
    inline: Option<InlineReaders>,
    /// Serving only, one per file: a bulk load leaves checkpoints to its
    /// writers.
    checkpointers: Vec<Checkpointer>,
}

impl SqliteStore {
    pub async fn connect(url: &str, workload: Workload) -> StoreResult<Self> {
        super::sqlite_process::configure(workload);
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // SCIM `co`/`sw`/`ew` on case-exact attributes must not fold case.
            .pragma("case_sensitive_like", "ON");
        let serving = matches!(workload, Workload::Serve);
        // Serving, writers leave checkpoints to the checkpointers.
        let writing = |options: SqliteConnectOptions| {
            if serving {
                options.pragma("wal_autocheckpoint", "0")
            } else {
                options
            }
        };
        let writer_options = match workload {
            Workload::Serve => writing(options.clone()),
            // Index pages of a million users stay cached across batches, and
            // each statement's rollback journal is kept in memory, not a file.
            Workload::BulkLoad => options
                .clone()
                .pragma("cache_size", BULK_LOAD_CACHE_KIB)
                .pragma("temp_store", "memory"),
        };
        let journal_file = journal_path(options.get_filename());
        // A connection to a local file does not go stale: no ping round
        // trip to the connection's thread before every query.
        let journal_writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(writing(
                options
                    .clone()
                    .filename(&journal_file)
                    .pragma("cache_size", JOURNAL_WRITER_CACHE_PAGES),
            ))
            .await?;
        sqlx::raw_sql(include_str!("journal_file.sql"))
            .execute(&journal_writer)
            .await?;
        let writer = Arc::new(
            Connections::open(
                SqliteFile {
                    options: writer_options,
                    journal_file: journal_file.clone(),
                },
                1,
                None,
            )
            .await?,
        );
        {
            let mut connection = writer.acquire().await?;
            sqlx::migrate!("migrations/sqlite")
                .run(&mut *connection)
                .await?;
            claim_journal(&mut connection).await?;
        }
        let mut checkpointers = Vec::new();
        if serving {
            for (file, file_writer) in [
                (options.clone(), FileWriter::Database(writer.clone())),
                (
                    options.clone().filename(&journal_file),
                    FileWriter::Journal(journal_writer.clone()),
                ),
            ] {
                checkpointers.push(Checkpointer::start(file, file_writer, BUSY_TIMEOUT).await?);
            }
        }
        let readers = reader_connections();
        let inline = InlineReaders::new(options.get_filename());
        // A database file of its own (one inline readers can open too).
        let group_commit = if serving && inline.is_some() {
            Some(GroupCommit::start(
                options.get_filename(),
                writer.clone(),
                BUSY_TIMEOUT,
            )?)
        } else {
            None
        };
        let journal_inserts = if serving && inline.is_some() {
            Some(JournalInserts::open(
                &journal_file,
                journal_writer.clone(),
                BUSY_TIMEOUT,
                JOURNAL_WRITER_CACHE_PAGES,
            )?)
        } else {
            None
        };
        let reader = SqliteFile {
            options: options.read_only(true),
            journal_file,
        };
        let reader = Box::new(Connections::open(reader, readers, None).await?);
        Ok(SqliteStore {
            reader,
            group_commit,
            writer,
            journal_writer,
            journal_inserts,
            scans: Scans::new(readers),
            inline,
            checkpointers,
        })
    }

    /// Writes of one statement, committed with others queued meanwhile.
    async fn write(&self, statement: WriteStatement) -> StoreResult<Option<User>> {
        if let Some(group_commit) = &self.group_commit {
            return group_commit.write(statement).await;
        }
        let row = statement
            .query()
            .fetch_optional(&mut *self.writer.acquire().await?)
            .await
            .map_err(|e| conflict(e, "userName"))?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// Closes every connection, the writer's last: the last connection to
    /// close copies the write-ahead log into its file and removes it, and
    /// readers, opened read-only, could not.
    pub async fn close(&self) {
        if let Some(inline) = &self.inline {
            inline.close();
        }
        for checkpointer in &self.checkpointers {
            checkpointer.stop().await;
        }
        self.reader.close().await;
        if let Some(group_commit) = &self.group_commit {
            group_commit.close().await;
        }
        if let Some(inserts) = &self.journal_inserts {
            inserts.close();
        }
        self.journal_writer.close().await;
        self.writer.close().await;
    }
}

/// Readers: SQLite reads from cached pages on the caller's CPU, so more
/// connections than two per core add no throughput, only page caches
/// (up to 2 MiB each, filled by any scan).
fn reader_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).clamp(4, 16) as u32
}

/// Page cache of the journal file on every connection (pages, not KiB).
const JOURNAL_CACHE_PAGES: &str = "64";

/// Page cache of the journal's writer: a batch's new pages (500 entries,
/// ~180 pages) and the leaves of the per-user index it adds to. With 64
/// pages SQLite wrote pages to the log before the commit and read evicted
/// ones back: ~3.7 KB read per entry of ~1.3 KB; 0.7 KB with 512 (256 did
/// not help), and the writer's CPU per GET by id 11.0 -> 8.6 us.
const JOURNAL_WRITER_CACHE_PAGES: &str = "512";

/// The journal file of a database file: `app.db` -> `app.journal.db`.
fn journal_path(database: &Path) -> PathBuf {
    database.with_extension("journal.db")
}

/// Connections to a database file, each with its journal file attached.
pub(super) struct SqliteFile {
    options: SqliteConnectOptions,
    journal_file: PathBuf,
}

impl Open for SqliteFile {
    type Connection = SqliteConnection;

    async fn open(&self) -> Result<SqliteConnection, sqlx::Error> {
        let mut connection = self.options.connect().await?;
        attach_journal(&mut connection, &self.journal_file).await?;
        Ok(connection)
    }
}

/// Attaches the journal file as schema `journal`.
pub(super) async fn attach_journal(
    connection: &mut SqliteConnection,
    journal_file: &Path,
) -> Result<(), sqlx::Error> {
    sqlx::query("ATTACH DATABASE $1 AS journal")
        .bind(journal_file.to_string_lossy().into_owned())
        .execute(&mut *connection)
        .await?;
    // Only the journal listing reads it here: a small page cache.
    sqlx::query(&format!(
        "PRAGMA journal.cache_size = {JOURNAL_CACHE_PAGES}"
    ))
    .execute(&mut *connection)
    .await
    .map(|_| ())
}

/// Empties a journal file that belongs to another database (a database
/// file put in place of the one it was written for), then marks it as this
/// one's. A database made anew empties it in migration 0010.
async fn claim_journal(writer: &mut SqliteConnection) -> StoreResult<()> {
    let mut transaction = writer.begin().await?;
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM journal.journal_owner o JOIN database_identity d ON d.id = o.id)",
    )
    .fetch_one(&mut *transaction)
    .await?;
    if !owned {
        tracing::warn!("the journal file belongs to another database: its entries are removed");
        for statement in [
            "DELETE FROM journal.journal",
            "DELETE FROM journal.journal_owner",
            "INSERT INTO journal.journal_owner SELECT id FROM database_identity",
        ] {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
    }
    transaction.commit().await?;
    Ok(())
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
    write_journal,
    import_batch,
    // OFFSET skips through the order's index without reading the table.
    false,
    // Deep pages start after a sort key remembered by an earlier page.
    true,
    // Changes with every commit to the database by another connection.
    "(SELECT CAST(data_version AS TEXT) FROM pragma_data_version)"
);

impl InlineReads for SqliteStore {
    fn inline_readers(&self) -> Option<&InlineReaders> {
        self.inline.as_ref()
    }
}

/// Reads are on the caller's thread, or each on a reader's; writes are
/// committed together already (`group_commit`).
impl super::gather::Gathered for SqliteStore {
    fn lookups(&self) -> Option<&Arc<super::gather::Gather<super::lookups::Lookups>>> {
        None
    }

    fn inserts(&self) -> Option<&Arc<super::gather::Gather<super::inserts::Inserts>>> {
        None
    }
}

/// Data versions mean something only on the connection that read them.
impl super::totals::RememberedTotals<super::connections::Connection<'_, SqliteFile>>
    for SqliteStore
{
    fn remembered_totals<T>(
        &self,
        reader: &mut super::connections::Connection<'_, SqliteFile>,
        f: impl FnOnce(&mut super::totals::Totals) -> T,
    ) -> T {
        f(reader.totals())
    }
}

/// Anonymous `?` parameters: SQLite looks a `$N` up by name in a list, which
/// grows with the square of their number. `OR FAIL`: a statement of many
/// rows then needs no statement journal (a copy of every page it changes,
/// to undo the statement alone); a failed batch rolls back whole anyway.
fn journal_insert(rows: usize) -> String {
    super::sql_store::insert_journal_sql("INSERT OR FAIL", rows, |sql, _| sql.push('?'))
}

/// Journal entries a statement at most, through sqlx or `JournalInserts`.
pub(super) const JOURNAL_ROWS: usize = 20;

/// The statement for a chunk of `rows` entries: every chunk but a batch's
/// last is full, and the full one is built once, into `full`.
pub(super) fn journal_statement(rows: usize, full: &mut Option<String>) -> Cow<'_, str> {
    if rows == JOURNAL_ROWS {
        Cow::Borrowed(full.get_or_insert_with(|| journal_insert(JOURNAL_ROWS)))
    } else {
        Cow::Owned(journal_insert(rows))
    }
}

/// Writes journal entries in one transaction: on the journal file's own
/// thread when serving a file (`JournalInserts`), else through sqlx in
/// multi-row statements, the writer held for as few round trips as possible.
async fn write_journal(store: &SqliteStore, entries: Vec<JournalEntry>) -> StoreResult<()> {
    if let Some(inserts) = &store.journal_inserts {
        return inserts.insert(entries).await;
    }
    let mut transaction = store.journal_writer.begin().await?;
    let mut full = None;
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<_> = entries.by_ref().take(JOURNAL_ROWS).collect();
        let sql = journal_statement(chunk.len(), &mut full);
        let mut query = sqlx::query(&sql);
        for e in chunk {
            query = query
                .bind(e.company_id)
                .bind(e.at)
                .bind(e.request_id)
                .bind(e.method)
                .bind(e.path)
                .bind(e.client)
                .bind(e.user_agent)
                .bind(e.request_body)
                .bind(i32::from(e.status))
                .bind(e.response_body)
                .bind((e.latency_ms * 1000.0) as i64)
                .bind(e.user_id)
                .bind(e.change.map(|v| v.to_string()))
                .bind(e.fault);
        }
        query.execute(&mut *transaction).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// How long a connection waits for a lock another holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Users per import statement; each statement binds three parameters.
const IMPORT_CHUNK: usize = 1000;

/// The writer's page cache for a bulk load (negative: KiB). Measured at 1M
/// users: 32 MiB and 128 MiB were both slower than 64 MiB.
const BULK_LOAD_CACHE_KIB: &str = "-65536";

/// A batch in a few statements of one JSON parameter each: every user a JSON
/// array of its column values, spread into rows by `json_each`, in file
/// order. Far cheaper than binding 31 parameters per user. Each row is turned
/// into JSONB once, so reading its 31 values does not parse the text 31 times.
async fn import_batch(
    connection: &mut sqlx::SqliteConnection,
    company_id: i64,
    users: &[UserData],
    now: i64,
) -> StoreResult<u64> {
    use super::sql_store::{user_data_row, ColumnValue, USER_DATA_COLUMNS};
    let values: Vec<String> = (0..USER_DATA_COLUMNS.len())
        .map(|i| format!("row.v ->> {i}"))
        .collect();
    // `WHERE true` tells SQLite's parser the ON CONFLICT is the upsert's.
    let sql = format!(
        "WITH row (position, v) AS MATERIALIZED (SELECT key, jsonb(value) FROM json_each($1)) \
         INSERT INTO users ({}, company_id, created_at, updated_at, version) \
         SELECT {}, $2, $3, $3, 1 FROM row WHERE true ORDER BY position \
         ON CONFLICT DO NOTHING",
        USER_DATA_COLUMNS.join(", "),
        values.join(", ")
    );
    let encode = |chunk: &[UserData]| {
        let rows: Vec<Vec<serde_json::Value>> = chunk
            .iter()
            .map(|data| {
                user_data_row(data)
                    .into_iter()
                    .map(|value| match value {
                        ColumnValue::Text(text) => text.map_or(serde_json::Value::Null, Into::into),
                        ColumnValue::Bool(flag) => flag.into(),
                    })
                    .collect()
            })
            .collect();
        serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
    };
    let mut chunks = users.chunks(IMPORT_CHUNK);
    let mut next = chunks.next().map(encode);
    let mut inserted = 0;
    while let Some(rows) = next {
        let insert = sqlx::query(&sql)
            .bind(rows)
            .bind(company_id)
            .bind(now)
            .execute(&mut *connection);
        // The next chunk is encoded here while the connection's thread
        // inserts this one (the insert is polled first, which sends it).
        let (result, following) = tokio::join!(insert, async { chunks.next().map(encode) });
        inserted += result?.rows_affected();
        next = following;
    }
    Ok(inserted)
}
