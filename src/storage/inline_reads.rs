//! Point reads of SQLite answered on the request's own thread. sqlx runs
//! every SQLite connection on a thread of its own: a read of one user is
//! handed to that thread and its rows handed back, two thread switches that
//! cost more than the read (a lookup by key is a few microseconds of
//! SQLite). These reads go through rusqlite (the same SQLite library)
//! instead, on connections taken by one caller at a time. They never wait:
//! a connection that would have to wait for a lock, or any other failure,
//! gives None and the caller reads through sqlx as before. Scans stay on
//! sqlx's threads, where a slow one cannot hold up other requests.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
pub(super) use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OpenFlags};

use super::sql_filter::Bind;
use super::user_row::user_from_row;
use crate::teamtailor::User;

/// Reads answered here (`outcome="read"`) or handed to sqlx (`"fallback"`).
const READS: &str = "sqlite_inline_reads_total";

/// Idle connections kept (one per thread reading at once is enough).
const IDLE: usize = 8;

pub(super) struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReaders {
    /// None for a database that is not a file of its own (in memory).
    pub(super) fn new(path: &Path) -> Option<Self> {
        let name = path.to_string_lossy();
        if name.is_empty() || name.starts_with(':') || name.contains("mode=memory") {
            return None;
        }
        Some(InlineReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
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
    fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let taken = self.idle().pop();
        let connection = match taken {
            Some(connection) => connection,
            None => match self.open() {
                Ok(connection) => connection,
                Err(error) => {
                    metrics::counter!(READS, "outcome" => "fallback").increment(1);
                    tracing::debug!(%error, "inline SQLite reader not opened");
                    return None;
                }
            },
        };
        match read(&connection) {
            Ok(value) => {
                metrics::counter!(READS, "outcome" => "read").increment(1);
                let mut idle = self.idle();
                if idle.len() < IDLE {
                    idle.push(connection);
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
        self.read(|connection| {
            let mut statement = connection.prepare_cached(sql)?;
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

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
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
    fn inline_readers(&self) -> Option<&InlineReaders>;
}

/// A filter's parameter as rusqlite binds it (booleans as SQLite stores them).
pub(super) fn value(bind: &Bind) -> Value {
    match bind {
        Bind::Text(text) => Value::Text(text.clone()),
        Bind::Int(int) => Value::Integer(*int),
        Bind::Bool(flag) => Value::Integer(i64::from(*flag)),
    }
}
