//! Point reads of SQLite answered on the request's own thread. sqlx runs
//! every SQLite connection on a thread of its own: a read of one user is
//! handed to that thread and its rows handed back, two thread switches that
//! cost more than the read (a lookup by key is a few microseconds of
//! SQLite). These reads go through rusqlite (the same SQLite library)
//! instead, on connections taken by one caller at a time. They never wait:
//! a connection that would have to wait for a lock, or any other failure,
//! gives None and the caller reads through sqlx as before. Pages of lists
//! that are not lookups are read the same way on threads of their own
//! (`ReaderThreads`), where a slow one cannot hold up other requests: sqlx
//! hands over each row of a page from its thread on its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
pub(super) use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OpenFlags};

use super::reader_threads::ReaderThreads;
use super::sql_filter::Bind;
use super::totals::{Counted, Totals};
use super::user_row::user_from_row;
use crate::teamtailor::User;

/// Reads answered here (`outcome="read"`) or handed to sqlx (`"fallback"`).
const READS: &str = "sqlite_inline_reads_total";

/// Idle connections kept (one per thread reading at once is enough).
const IDLE: usize = 8;

pub(super) struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    /// Where pages are read; None: pages are left to sqlx.
    threads: Option<ReaderThreads>,
}

struct Reader {
    connection: Connection,
    /// Totals counted on this connection (see `totals`).
    totals: Totals,
}

impl InlineReaders {
    /// None for a database that is not a file of its own (in memory).
    /// Pages are read on `page_threads` threads (none: left to sqlx).
    pub(super) fn new(path: &Path, page_threads: usize) -> Option<Self> {
        let name = path.to_string_lossy();
        if name.is_empty() || name.starts_with(':') || name.contains("mode=memory") {
            return None;
        }
        Some(InlineReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            threads: (page_threads > 0)
                .then(|| ReaderThreads::start(page_threads))
                .and_then(|started| {
                    started
                        .inspect_err(|error| tracing::warn!(%error, "SQLite reader threads"))
                        .ok()
                }),
        })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait: a lock held elsewhere sends the read to sqlx.
        connection.busy_timeout(Duration::ZERO)?;
        // As on every other connection (filters on case-exact attributes).
        connection.pragma_update(None, "case_sensitive_like", "ON")?;
        Ok(connection)
    }

    /// Runs `read` on an idle connection (or a new one); None if it fails.
    fn read<T>(&self, read: impl FnOnce(&mut Reader) -> rusqlite::Result<T>) -> Option<T> {
        let taken = self.idle().pop();
        let mut reader = match taken {
            Some(reader) => reader,
            None => match self.open() {
                Ok(connection) => Reader {
                    connection,
                    totals: Totals::default(),
                },
                Err(error) => {
                    metrics::counter!(READS, "outcome" => "fallback").increment(1);
                    tracing::debug!(%error, "inline SQLite reader not opened");
                    return None;
                }
            },
        };
        match read(&mut reader) {
            Ok(value) => {
                metrics::counter!(READS, "outcome" => "read").increment(1);
                let mut idle = self.idle();
                if idle.len() < IDLE {
                    idle.push(reader);
                }
                Some(value)
            }
            // The connection is closed: the next read opens a fresh one.
            Err(error) => {
                metrics::counter!(READS, "outcome" => "fallback").increment(1);
                tracing::debug!(%error, "inline SQLite read failed; reading through sqlx");
                None
            }
        }
    }

    /// The users of a statement that selects `USER_COLUMNS` first, with
    /// the integer column `extra` (if any) of each row.
    pub(super) fn users(
        &self,
        sql: &str,
        binds: &[Value],
        extra: Option<&str>,
    ) -> Option<Vec<(User, Option<i64>)>> {
        self.read(|reader| {
            let mut statement = reader.connection.prepare_cached(sql)?;
            bind_numbered(&mut statement, |n| {
                let value = binds.get(n.checked_sub(1)?)?;
                Some(ToSqlOutput::Borrowed(value.into()))
            })?;
            let extra = extra.map(|name| statement.column_index(name)).transpose()?;
            let mut rows = statement.raw_query();
            let mut users = Vec::new();
            while let Some(row) = rows.next()? {
                let value = extra
                    .map(|index| row.get::<_, Option<i64>>(index))
                    .transpose()?;
                users.push((user_from_row(row)?, value.flatten()));
            }
            Ok(users)
        })
    }

    /// A page of a list that is not a lookup and its total, from a
    /// statement that selects `USER_COLUMNS`, then `total_results` and, if
    /// `versioned`, `data_version` (see `list_statement`). `$1` is the
    /// company, `$2` the version its total was remembered at on the
    /// connection if `versioned`, and `rest` the parameters after. The
    /// inner None: the total needs a count of its own (an empty page past
    /// the start), left to sqlx.
    fn page(
        &self,
        company_id: i64,
        sql: &str,
        rest: &[Value],
        versioned: bool,
        past_start: bool,
    ) -> Option<Option<(Vec<User>, u64)>> {
        self.read(|reader| {
            let remembered = versioned.then(|| reader.totals.get(company_id)).flatten();
            let version = remembered.as_ref().map_or(Value::Null, |counted| {
                Value::Text(counted.data_version.clone())
            });
            let leading = [Value::Integer(company_id), version];
            let leading = &leading[..if versioned { 2 } else { 1 }];
            let mut statement = reader.connection.prepare_cached(sql)?;
            bind_numbered(&mut statement, |n| {
                let index = n.checked_sub(1)?;
                let value = match index.checked_sub(leading.len()) {
                    None => &leading[index],
                    Some(index) => rest.get(index)?,
                };
                Some(ToSqlOutput::Borrowed(value.into()))
            })?;
            let total_at = statement.column_index("total_results")?;
            let version_at = versioned
                .then(|| statement.column_index("data_version"))
                .transpose()?;
            let mut rows = statement.raw_query();
            let mut users = Vec::new();
            let mut first = None;
            while let Some(row) = rows.next()? {
                if first.is_none() {
                    let version = version_at
                        .map(|index| row.get::<_, String>(index))
                        .transpose()?;
                    first = Some((row.get::<_, Option<i64>>(total_at)?, version));
                }
                users.push(user_from_row(row)?);
            }
            let total = match first {
                Some((Some(total), Some(data_version))) => {
                    let users = total as u64;
                    let counted = Counted {
                        data_version,
                        users,
                    };
                    reader.totals.remember(company_id, counted);
                    Some(users)
                }
                Some((Some(total), None)) => Some(total as u64),
                // Not counted: the database is at the remembered version.
                Some((None, _)) => remembered.map(|counted| counted.users),
                None if past_start => None,
                None => Some(0),
            };
            Ok(total.map(|total| (users, total)))
        })
    }

    /// `page` on a reader thread; None without them.
    pub(super) async fn page_on_thread(
        self: &Arc<Self>,
        company_id: i64,
        sql: String,
        rest: Vec<Value>,
        versioned: bool,
        past_start: bool,
    ) -> Option<Option<(Vec<User>, u64)>> {
        let threads = self.threads.as_ref()?;
        let readers = Arc::clone(self);
        threads
            .run(move || readers.page(company_id, &sql, &rest, versioned, past_start))
            .await?
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Reader>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Binds `$N` of a statement to `value(N)`, wherever it first appears.
pub(super) fn bind_numbered<'v>(
    statement: &mut CachedStatement<'_>,
    value: impl Fn(usize) -> Option<ToSqlOutput<'v>>,
) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or_default();
        let bound = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(&value)
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        statement.raw_bind_parameter(index, bound)?;
    }
    Ok(())
}

/// Where a store can read without a thread switch (SQLite files).
pub(super) trait InlineReads {
    fn inline_readers(&self) -> Option<&Arc<InlineReaders>>;
}

/// A filter's parameter as rusqlite binds it (booleans as SQLite stores them).
pub(super) fn value(bind: &Bind) -> Value {
    match bind {
        Bind::Text(text) => Value::Text(text.clone()),
        Bind::Int(int) => Value::Integer(*int),
        Bind::Bool(flag) => Value::Integer(i64::from(*flag)),
    }
}
