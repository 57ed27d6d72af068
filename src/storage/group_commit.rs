//! SQLite writes of one statement each (create, update and delete a user),
//! committed together. A thread of its own takes the statements queued
//! meanwhile (up to `MOST`) and runs them in one transaction: one commit,
//! and one write of each page they share, for many writes instead of one
//! each. Each caller gets its statement's outcome only once the transaction
//! is committed, so an acknowledged write is as durable as one committed
//! alone.
//!
//! The statements run through rusqlite (the same SQLite library) on that
//! thread's connection: sqlx would hand each statement of a batch to its
//! connection's thread and back, thread switches that cost more than an
//! insert; here a write costs one. Writes stay off the runtime's threads,
//! where a write of the log held up by the disk would stall requests. While
//! a batch is written the store's sqlx writer is held, so its other writes
//! (a contended PATCH, a company reset, the log's restart) take turns.
//!
//! A statement that breaks a constraint (a taken userName) fails alone:
//! SQLite undoes just that statement and the transaction goes on. Any other
//! error may have ended the transaction, so it is rolled back and every
//! statement of the batch runs again on its own, each with its own outcome.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::connections::Connections;
use super::inline_reads::bind_numbered;
use super::sql_store::{ColumnValue, WriteStatement};
use super::sqlite::SqliteFile;
use super::user_row::user_from_row;
use super::{StoreError, StoreResult};
use crate::teamtailor::User;

/// Statements per transaction at most.
const MOST: usize = 64;

/// Batches written, and the writes in them (their ratio: writes per commit).
const BATCHES: &str = "sqlite_group_commit_batches_total";
const WRITES: &str = "sqlite_group_commit_writes_total";

/// Prepared statements kept: an update's text depends on what it changes.
const CACHED_STATEMENTS: usize = 64;

type Outcome = StoreResult<Option<User>>;

struct Queued {
    statement: WriteStatement,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    /// The writer thread waits for writes.
    idle: bool,
    /// Set by `close` (or a drop): later writes fail; the thread writes
    /// what is queued and stops.
    closed: bool,
    /// Told when the thread has stopped (by `close`).
    stopped: Option<oneshot::Sender<()>>,
}

pub(super) struct GroupCommit {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl GroupCommit {
    /// Starts the thread that writes to the database file at `path` (opened
    /// with the writer's settings), holding `writer` meanwhile.
    pub(super) fn start(
        path: &Path,
        writer: Arc<Connections<SqliteFile>>,
        busy_timeout: Duration,
    ) -> StoreResult<Self> {
        // As the sqlx writer is set up when serving (see `SqliteStore`).
        let connection = open_writer(
            path,
            busy_timeout,
            "PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON;",
        )?;
        connection.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            wake: Condvar::new(),
        });
        let runtime = Handle::current();
        let thread = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || thread.write_batches(&connection, &writer, &runtime))
            .map_err(|error| StoreError::Config(format!("starting the SQLite writer: {error}")))?;
        Ok(GroupCommit { shared })
    }

    /// Runs `statement` in the next transaction; its user (`RETURNING`), if
    /// any, once that is committed.
    pub(super) async fn write(&self, statement: WriteStatement) -> Outcome {
        let (done, outcome) = oneshot::channel();
        {
            let mut queue = self.shared.queue();
            if queue.closed {
                return Err(closed());
            }
            queue.waiting.push_back(Queued { statement, done });
            if std::mem::take(&mut queue.idle) {
                self.shared.wake.notify_one();
            }
        }
        outcome.await.unwrap_or(Err(closed()))
    }

    /// Writes what is queued, then closes the connection; later writes fail.
    pub(super) async fn close(&self) {
        let (done, stopped) = oneshot::channel();
        {
            let mut queue = self.shared.queue();
            if queue.closed {
                return;
            }
            queue.closed = true;
            queue.stopped = Some(done);
            self.shared.wake.notify_one();
        }
        let _ = stopped.await;
    }
}

/// A rusqlite connection that writes the file at `path` as a serving sqlx
/// writer does (checkpoints left to the checkpointer), with `pragmas` run.
pub(super) fn open_writer(
    path: &Path,
    busy_timeout: Duration,
    pragmas: &str,
) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(busy_timeout)?;
    connection.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; {pragmas}"
    ))?;
    Ok(connection)
}

impl Drop for GroupCommit {
    /// A store dropped without `close` (a test's) stops its thread too.
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        if !queue.closed {
            queue.closed = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Shared {
    /// The writer thread: batches until closed.
    fn write_batches(
        &self,
        connection: &Connection,
        writer: &Connections<SqliteFile>,
        runtime: &Handle,
    ) {
        loop {
            let (batch, last) = {
                let mut queue = self.queue();
                while queue.waiting.is_empty() && !queue.closed {
                    queue.idle = true;
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                queue.idle = false;
                let most = queue.waiting.len().min(MOST);
                let batch: Vec<Queued> = queue.waiting.drain(..most).collect();
                (batch, queue.closed && queue.waiting.is_empty())
            };
            if !batch.is_empty() {
                let outcomes = match runtime.block_on(writer.hold()) {
                    Ok(_held) => write_batch(connection, &batch),
                    Err(_) => batch.iter().map(|_| Err(closed())).collect(),
                };
                metrics::counter!(BATCHES).increment(1);
                metrics::counter!(WRITES).increment(batch.len() as u64);
                for (queued, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = queued.done.send(outcome);
                }
            }
            if last {
                if let Some(stopped) = self.queue().stopped.take() {
                    let _ = stopped.send(());
                }
                return;
            }
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The batch's outcomes, each once the batch is committed.
fn write_batch(connection: &Connection, batch: &[Queued]) -> Vec<Outcome> {
    if batch.len() == 1 || execute(connection, "BEGIN IMMEDIATE").is_err() {
        return one_by_one(connection, batch);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for queued in batch {
        let outcome = run(connection, &queued.statement);
        if let Err(error) = &outcome {
            if !breaks_a_constraint(error) {
                rollback(connection);
                return one_by_one(connection, batch);
            }
        }
        outcomes.push(outcome.map_err(store_error));
    }
    if let Err(error) = execute(connection, "COMMIT") {
        tracing::warn!(%error, "a group commit failed; its writes run one by one");
        rollback(connection);
        return one_by_one(connection, batch);
    }
    outcomes
}

fn one_by_one(connection: &Connection, batch: &[Queued]) -> Vec<Outcome> {
    batch
        .iter()
        .map(|queued| run(connection, &queued.statement).map_err(store_error))
        .collect()
}

fn run(connection: &Connection, statement: &WriteStatement) -> rusqlite::Result<Option<User>> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    bind_numbered(&mut prepared, |n| value(statement, n))?;
    let mut rows = prepared.raw_query();
    // SQLite makes every change of a statement with RETURNING in its first
    // step; dropping the rows resets it.
    match rows.next()? {
        Some(row) => Ok(Some(user_from_row(row)?)),
        None => Ok(None),
    }
}

/// The statement's `$n`: its columns' values, then its integers.
fn value(statement: &WriteStatement, n: usize) -> Option<ToSqlOutput<'_>> {
    let index = n.checked_sub(1)?;
    Some(match statement.columns.get(index) {
        Some(ColumnValue::Text(Some(text))) => {
            ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes()))
        }
        Some(ColumnValue::Text(None)) => ToSqlOutput::Owned(Value::Null),
        // As sqlx stores a boolean in SQLite.
        Some(ColumnValue::Bool(flag)) => ToSqlOutput::Owned(Value::Integer(i64::from(*flag))),
        None => ToSqlOutput::Owned(Value::Integer(
            *statement.ints.get(index - statement.columns.len())?,
        )),
    })
}

fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.raw_execute().map(|_| ())
}

fn rollback(connection: &Connection) {
    // Fails only when SQLite ended the transaction already.
    let _ = execute(connection, "ROLLBACK");
}

fn breaks_a_constraint(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// A unique constraint is a taken userName, as for every other write.
fn store_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            StoreError::Conflict("userName")
        }
        _ => StoreError::Sqlite(error),
    }
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}
