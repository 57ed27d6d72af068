//! Reads of SQLite answered on the request's own thread. sqlx runs every
//! SQLite connection on a thread of its own: a read is handed to that
//! thread and its rows handed back one by one, each column copied, thread
//! switches that cost more than a lookup by key (a few microseconds of
//! SQLite) and half of a page of 100 users. These reads go through rusqlite
//! (the same SQLite library) instead, on connections taken by one caller at
//! a time. They never wait: a connection that would have to wait for a
//! lock, or any other failure, gives None and the caller reads through sqlx
//! as before. A page may read here within `PAGE_BUDGET`; one that takes longer
//! (a scan of a large company) is stopped and read on sqlx's threads, where
//! it cannot hold up other requests, and pages of the same statement in the
//! same company go there directly for `SLOW_FOR`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::ToSqlOutput;
pub(super) use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, ErrorCode, OpenFlags};

use super::sql_filter::Bind;
use super::sql_store::ListStatement;
use super::totals::{Counted, Totals};
use super::user_row::user_from_row;
use super::UserPage;
use crate::teamtailor::User;

/// Reads answered here (`outcome="read"`), handed to sqlx (`"fallback"`),
/// stopped at their budget and handed to sqlx (`"over_budget"`), or handed
/// to sqlx without trying, being like one over budget (`"skipped"`).
const READS: &str = "sqlite_inline_reads_total";

/// The database's version on a connection (as `list_statement` reads it).
const DATA_VERSION: &str = "SELECT CAST(data_version AS TEXT) FROM pragma_data_version";

/// Idle connections kept (one per thread reading at once is enough).
const IDLE: usize = 8;

/// How much of SQLite's work a page may take on the request's thread, in
/// `CHECK_EVERY` instructions of its virtual machine: 100,000, about a
/// millisecond here. A page of 100 users of a company of 10k takes
/// 20-40,000, its total 30,000 more when counted (once per connection and
/// data version); a `sw` search of 10k users with its total 60,000; a
/// million users' total 3 million. A longer read would hold up the requests
/// queued on this thread (lookups among them) for as long. Counted in
/// instructions, not time, so that where a page is read does not depend on
/// how busy the machine is.
const PAGE_BUDGET: u32 = 100;

/// Each connection's page cache, in KiB (negative: SQLite's unit for KiB).
const CACHE_KIB: i64 = -1024;

/// Database files of up to this size are read through a memory map: a page
/// is read where the kernel keeps the file instead of being copied into the
/// connection's cache by a `pread` (GET by id on 10k users, a 9 MB file:
/// about 5% less CPU). Every connection maps the file for itself and
/// a mapped page counts in the server's RSS once per connection that read
/// it, so a larger file (above about 35,000 users) is read as before.
const MAP_LIMIT: u64 = 32 << 20;

/// How often the file's size is looked at again while it is mapped; once it
/// has grown past the limit, idle mapped connections close, those in use
/// as their reads end, and new ones do not map it.
const MAP_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Instructions between two calls of the budget's handler.
const CHECK_EVERY: i32 = 1000;

/// How long pages of a statement that went over its budget in a company,
/// at about the same offset, are read through sqlx without trying here. An
/// unfiltered page of a large company always would: its total is counted
/// once per connection and data version, and that count is what takes long.
const SLOW_FOR: Duration = Duration::from_secs(10);

/// Statements remembered as slow; a full map starts over.
const SLOW_CAPACITY: usize = 256;

pub(super) struct InlineReaders {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    closed: AtomicBool,
    /// When a statement (by hash, with its company and the offset's
    /// magnitude) last went over budget.
    slow: Mutex<HashMap<u64, Instant>>,
    /// `MAP_LIMIT`, and whether the file was within it when last looked at.
    map_limit: u64,
    mappable: AtomicBool,
    size_checked: Mutex<Instant>,
}

/// A connection and the totals counted through it (its data version is
/// its own, see `totals`).
struct Reader {
    connection: Connection,
    totals: Totals,
    /// Whether it reads through a memory map (see `MAP_LIMIT`).
    mapped: bool,
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
            closed: AtomicBool::new(false),
            slow: Mutex::new(HashMap::new()),
            map_limit: MAP_LIMIT,
            mappable: AtomicBool::new(false),
            size_checked: Mutex::new(Instant::now()),
        })
    }

    fn open(&self) -> rusqlite::Result<Reader> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait: a lock held elsewhere sends the read to sqlx.
        connection.busy_timeout(Duration::ZERO)?;
        // As on every other connection (filters on case-exact attributes).
        connection.pragma_update(None, "case_sensitive_like", "ON")?;
        // Short reads need the upper levels of a few B-trees, not SQLite's
        // default 2 MiB a connection (pages read once stay in the OS's cache).
        connection.pragma_update(None, "cache_size", CACHE_KIB)?;
        let mapped = self.file_fits_map();
        self.mappable.store(mapped, Ordering::Release);
        if mapped {
            connection.pragma_update(None, "mmap_size", self.map_limit)?;
        }
        Ok(Reader {
            connection,
            totals: Totals::default(),
            mapped,
        })
    }

    fn file_fits_map(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|file| file.len() <= self.map_limit)
    }

    /// Whether the file was within `MAP_LIMIT` when last looked at (again
    /// every `MAP_CHECK_EVERY`, by one caller at a time).
    fn still_mappable(&self) -> bool {
        if let Ok(mut checked) = self.size_checked.try_lock() {
            if checked.elapsed() >= MAP_CHECK_EVERY {
                *checked = Instant::now();
                let fits = self.file_fits_map();
                self.mappable.store(fits, Ordering::Release);
                if !fits {
                    lock(&self.idle).retain(|reader| !reader.mapped);
                }
            }
        }
        self.mappable.load(Ordering::Acquire)
    }

    /// Runs `read` on an idle connection (or a new one), stopped after
    /// `budget` if given (see `PAGE_BUDGET`).
    fn read<T>(
        &self,
        budget: Option<u32>,
        read: impl FnOnce(&Connection, &mut Totals) -> rusqlite::Result<T>,
    ) -> Result<T, Unread> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Unread::Failed);
        }
        let taken = lock(&self.idle).pop();
        let mut reader = match taken {
            Some(reader) => reader,
            None => match self.open() {
                Ok(reader) => reader,
                Err(error) => {
                    metrics::counter!(READS, "outcome" => "fallback").increment(1);
                    tracing::debug!(%error, "inline SQLite reader not opened");
                    return Err(Unread::Failed);
                }
            },
        };
        if let Some(budget) = budget {
            set_budget(&reader.connection, budget);
        }
        let result = read(&reader.connection, &mut reader.totals);
        if budget.is_some() {
            reader.connection.progress_handler(0, None::<fn() -> bool>);
        }
        match result {
            Ok(value) => {
                metrics::counter!(READS, "outcome" => "read").increment(1);
                self.keep(reader);
                Ok(value)
            }
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == ErrorCode::OperationInterrupted =>
            {
                metrics::counter!(READS, "outcome" => "over_budget").increment(1);
                self.keep(reader);
                Err(Unread::OverBudget)
            }
            // The connection is closed: the next read opens a fresh one.
            Err(error) => {
                metrics::counter!(READS, "outcome" => "fallback").increment(1);
                tracing::debug!(%error, "inline SQLite read failed; reading through sqlx");
                Err(Unread::Failed)
            }
        }
    }

    fn keep(&self, reader: Reader) {
        // A file grown past the map's limit: closed, which unmaps it.
        if reader.mapped && !self.still_mappable() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE && !self.closed.load(Ordering::Acquire) {
            idle.push(reader);
        }
    }

    /// Closes the idle connections, and each one in use as its read ends;
    /// later reads go through sqlx. Before the store's own connections: a
    /// read-only connection closed last would leave the write-ahead log.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.idle).clear();
    }

    /// The users of a statement that selects `USER_COLUMNS` first.
    pub(super) fn users(&self, sql: &str, binds: &[Value]) -> Option<Vec<User>> {
        self.read(None, |connection, _| {
            let mut statement = prepare(connection, sql, binds)?;
            let mut rows = statement.raw_query();
            let mut users = Vec::new();
            while let Some(row) = rows.next()? {
                users.push(user_from_row(row)?);
            }
            Ok(users)
        })
        .ok()
    }

    /// A page of a list with its total, as the sqlx path reads it (see
    /// `ListStatement`); a page that is not a lookup gets `PAGE_BUDGET`.
    pub(super) fn page(&self, company_id: i64, statement: &ListStatement) -> Option<UserPage> {
        if statement.limit == 0 {
            return None;
        }
        // Deep pages take longer than the first ones: by the offset's magnitude.
        let slow_key = (!statement.lookup).then(|| {
            let mut hasher = DefaultHasher::new();
            let depth = statement.offset.max(0).checked_ilog2();
            (company_id, &statement.page_sql, depth).hash(&mut hasher);
            hasher.finish()
        });
        if let Some(key) = slow_key {
            let slow = lock(&self.slow).get(&key).copied();
            if slow.is_some_and(|since| since.elapsed() < SLOW_FOR) {
                metrics::counter!(READS, "outcome" => "skipped").increment(1);
                return None;
            }
        }
        let budget = slow_key.map(|_| PAGE_BUDGET);
        let page = self.read(budget, |connection, totals| {
            read_page(connection, totals, budget, company_id, statement)
        });
        if let (Err(Unread::OverBudget), Some(key)) = (&page, slow_key) {
            let mut slow = lock(&self.slow);
            if slow.len() >= SLOW_CAPACITY {
                slow.clear();
            }
            slow.insert(key, Instant::now());
        }
        page.ok()
    }
}

/// Why a read was not answered here.
enum Unread {
    OverBudget,
    Failed,
}

/// A page and its total on `connection` (see `ListStatement`), with the
/// totals counted through it and the sort keys it remembers (`anchors`).
fn read_page(
    connection: &Connection,
    totals: &mut Totals,
    budget: Option<u32>,
    company_id: i64,
    statement: &ListStatement,
) -> rusqlite::Result<UserPage> {
    let mut remembered = statement
        .versioned
        .then(|| totals.get(company_id))
        .flatten();
    // The company's total, if the database moved since it was counted here,
    // is counted first within a budget of its own: a page that fits its
    // budget still does once every connection has to count again (any
    // write moves the version, a key's last use every few seconds).
    if statement.versioned {
        let version: Option<String> = first_value(connection, DATA_VERSION, &[])?;
        if version.as_ref() != remembered.as_ref().map(|c| &c.data_version) {
            // With the version it counted at (a commit may come between).
            let sql = format!("SELECT ({}), ({DATA_VERSION})", statement.count_sql);
            let mut count = prepare(connection, &sql, &[Value::Integer(company_id)])?;
            let mut rows = count.raw_query();
            let row = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let counted = Counted {
                users: row.get::<_, i64>(0)? as u64,
                data_version: row.get(1)?,
            };
            drop(rows);
            totals.remember(company_id, counted.clone());
            remembered = Some(counted);
            if let Some(budget) = budget {
                set_budget(connection, budget);
            }
        }
    }
    let version = remembered.as_ref().map(|counted| &counted.data_version);
    let mut binds = vec![Value::Integer(company_id)];
    if statement.versioned {
        binds.push(version.cloned().map_or(Value::Null, Value::Text));
    }
    binds.extend(
        statement
            .count_binds
            .iter()
            .chain(&statement.page_binds)
            .map(value),
    );
    binds.push(Value::Integer(statement.limit));
    binds.push(Value::Integer(statement.offset));

    // A deep page from a remembered key, if still at its version.
    let mut read = None;
    let start = statement.start_after(company_id, totals, remembered.as_ref());
    if let (Some((offset, key)), Some(sql)) = (start, &statement.anchored_sql) {
        let mut anchored = binds.clone();
        anchored.pop();
        anchored.push(Value::Integer(offset));
        anchored.extend(key.iter().map(value));
        let rows = read_rows(connection, sql, &anchored, statement)?;
        if rows.version.is_some() && rows.version.as_ref() == version {
            read = Some(rows);
        }
    }
    let from_key = read.is_some();
    let rows = match read {
        Some(rows) => rows,
        None => read_rows(connection, &statement.page_sql, &binds, statement)?,
    };
    if let (Some(data_version), Some(key)) = (&rows.version, rows.last_key) {
        statement.remember_last(company_id, totals, data_version, rows.users.len(), key);
    }
    if let (Some(Some(total)), Some(data_version)) = (rows.first_total, rows.version) {
        let counted = Counted {
            data_version,
            users: total as u64,
        };
        totals.remember(company_id, counted);
    }
    let total = match statement.total(rows.first_total, remembered.map(|counted| counted.users)) {
        Some(total) => total,
        None => {
            let count_binds =
                &binds[..1 + usize::from(statement.versioned) + statement.count_binds.len()];
            let total: Option<i64> = first_value(connection, &statement.count_sql, count_binds)?;
            total.unwrap_or(0) as u64
        }
    };
    statement.count_deep_page(from_key);
    Ok(UserPage {
        total,
        users: rows.users,
    })
}

/// The rows of a page: its users, the first row's total and data version,
/// and the last row's sort key (for lists that remember keys).
struct PageRows {
    users: Vec<User>,
    first_total: Option<Option<i64>>,
    version: Option<String>,
    last_key: Option<Vec<Bind>>,
}

fn read_rows(
    connection: &Connection,
    sql: &str,
    binds: &[Value],
    statement: &ListStatement,
) -> rusqlite::Result<PageRows> {
    let mut page = prepare(connection, sql, binds)?;
    let total_column = page.column_index("total_results")?;
    let version_column = if statement.versioned {
        Some(page.column_index("data_version")?)
    } else {
        None
    };
    let key_columns = (1..=statement.key_texts.len())
        .map(|i| page.column_index(&format!("key_{i}")))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut rows = page.raw_query();
    let mut key = Vec::with_capacity(key_columns.len());
    let mut read = PageRows {
        users: Vec::new(),
        first_total: None,
        version: None,
        last_key: None,
    };
    while let Some(row) = rows.next()? {
        if read.first_total.is_none() {
            let version = version_column
                .map(|index| row.get::<_, Option<String>>(index))
                .transpose()?;
            read.first_total = Some(row.get::<_, Option<i64>>(total_column)?);
            read.version = version.flatten();
        }
        read.users.push(user_from_row(row)?);
        // The last row's key: each row's, over the one before.
        key.clear();
        for (&index, &text) in key_columns.iter().zip(&statement.key_texts) {
            key.push(match text {
                true => Bind::Text(row.get(index)?),
                false => Bind::Int(row.get(index)?),
            });
        }
    }
    if !read.users.is_empty() && !key.is_empty() {
        read.last_key = Some(key);
    }
    Ok(read)
}

/// Stops the statements on `connection` once they have taken `budget`
/// (see `PAGE_BUDGET`) from now on.
fn set_budget(connection: &Connection, budget: u32) {
    let mut left = budget;
    let over = move || {
        left = left.saturating_sub(1);
        left == 0
    };
    connection.progress_handler(CHECK_EVERY, Some(over));
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The first column of the first row of a statement, if it has a row.
fn first_value<T: rusqlite::types::FromSql>(
    connection: &Connection,
    sql: &str,
    binds: &[Value],
) -> rusqlite::Result<Option<T>> {
    let mut statement = prepare(connection, sql, binds)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(|row| row.get(0)).transpose()
}

/// A cached statement with `$N` bound to `binds[N - 1]`.
fn prepare<'c>(
    connection: &'c Connection,
    sql: &str,
    binds: &[Value],
) -> rusqlite::Result<CachedStatement<'c>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_numbered(&mut statement, |n| {
        let value = binds.get(n.checked_sub(1)?)?;
        Some(ToSqlOutput::Borrowed(value.into()))
    })?;
    Ok(statement)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this process maps `path` (as /proc/self/maps lists it).
    fn mapped(path: &Path) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        let path = path.to_string_lossy();
        maps.lines().any(|line| line.ends_with(path.as_ref()))
    }

    fn count(readers: &InlineReaders) -> i64 {
        let read = readers.read(None, |connection, _| {
            connection.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        });
        read.unwrap_or_else(|_| panic!("not read inline"))
    }

    #[test]
    fn a_small_file_is_mapped_until_it_outgrows_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("map.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (x'00');")
            .expect("create");
        let mut readers = InlineReaders::new(&path).expect("a file");
        readers.map_limit = 1 << 20;

        assert_eq!(count(&readers), 1);
        assert!(mapped(&path), "a file within the limit is mapped");
        // A second connection that has read (and so mapped the file), left
        // idle below the one in use.
        let idle = readers.open().expect("open");
        assert!(idle.mapped);
        let rows: i64 = idle
            .connection
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("read");
        assert_eq!(rows, 1);
        lock(&readers.idle).insert(0, idle);

        writer
            .execute("INSERT INTO t VALUES (zeroblob(2 * 1024 * 1024))", [])
            .expect("grow");
        std::thread::sleep(MAP_CHECK_EVERY + Duration::from_millis(100));
        // Read (through the map, the new row included), then closed with
        // the idle one.
        assert_eq!(count(&readers), 2);
        assert!(!mapped(&path), "the mapped connections are closed");
        assert_eq!(count(&readers), 2);
        assert!(
            !mapped(&path),
            "a file over the limit is read without a map"
        );
    }
}
