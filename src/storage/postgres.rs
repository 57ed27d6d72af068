//! PostgreSQL: the production backend; several stateless instances may share it.

use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

use super::background::Background;
use super::connections::{Connection, Connections, Open};
use super::gather::Gather;
use super::inserts::Inserts;
use super::lookups::Lookups;
use super::scans::Scans;
use super::sql_store::{bind_columns, bind_user_data, impl_sql_store, WriteStatement};
use super::totals::Totals;

pub struct PostgresStore {
    /// One set of connections for reads and writes, under both names.
    reader: Arc<Connections<PgConnectOptions>>,
    writer: Arc<Connections<PgConnectOptions>>,
    /// Users by id or userName, read with others asked for meanwhile.
    lookups: Arc<Gather<Lookups>>,
    /// New users, inserted with others asked for meanwhile.
    inserts: Arc<Gather<Inserts>>,
    /// The journal's batches, beside requests' statements (sqlx's pool: a
    /// batch's ping on release is no cost to speak of).
    journal_writer: PgPool,
    /// The trigram indexes' pending lists, merged in the background by a
    /// serving instance (on a journal writer's connection).
    pending_lists: OnceLock<Background>,
    scans: Scans,
    /// Totals counted by any reader (snapshots compare across connections).
    totals: Mutex<Totals>,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // Every query here is short; compiling a large one (a count over
        // many users) with JIT costs more than it saves.
        let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
        let journal_writer = PgPoolOptions::new()
            .max_connections(JOURNAL_CONNECTIONS)
            .acquire_timeout(WAIT)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&journal_writer)
            .await?;
        let connections = Arc::new(Connections::open(options, CONNECTIONS, Some(WAIT)).await?);
        Ok(PostgresStore {
            reader: connections.clone(),
            lookups: Gather::new(Lookups, connections.clone()),
            inserts: Gather::new(Inserts, connections.clone()),
            writer: connections,
            journal_writer,
            pending_lists: OnceLock::new(),
            scans: Scans::new(CONNECTIONS),
            totals: Mutex::default(),
        })
    }

    /// Starts merging the trigram indexes' pending lists in the background
    /// (see `pending_lists`), once.
    pub fn merge_pending_lists(&self) {
        self.pending_lists
            .get_or_init(|| super::pending_lists::start(self.journal_writer.clone()));
    }

    pub async fn close(&self) {
        if let Some(pending_lists) = self.pending_lists.get() {
            pending_lists.stop().await;
        }
        self.writer.close().await;
        self.journal_writer.close().await;
    }

    /// Called with every error of this store: a connection found lost has
    /// every connection checked before its next use, so that one restart of
    /// the server fails a request or so per connection, not a second's worth.
    pub fn after_error(&self, error: &StoreError) {
        let StoreError::Database(error) = error else {
            return;
        };
        // A protocol error: the stream is out of step, as good as lost.
        if super::connection_lost(error) || matches!(error, sqlx::Error::Protocol(_)) {
            self.writer.check_all();
        }
    }

    /// Each write is a transaction of its own: with many connections,
    /// PostgreSQL commits them side by side.
    async fn write(&self, statement: WriteStatement) -> StoreResult<Option<User>> {
        let row = statement
            .query()
            .fetch_optional(&mut *self.writer.acquire().await?)
            .await
            .map_err(|e| conflict(e, "userName"))?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }
}

/// A connection to the server, opened within [`WAIT`].
impl Open for PgConnectOptions {
    type Connection = PgConnection;

    async fn open(&self) -> Result<PgConnection, sqlx::Error> {
        tokio::time::timeout(WAIT, self.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }
}

/// Connections to the server, shared by reads and writes.
const CONNECTIONS: u32 = 16;

/// The journal writer's connections.
const JOURNAL_CONNECTIONS: u32 = 2;

/// How long a request waits for a connection, or for one to open, before it
/// is answered 503.
const WAIT: Duration = Duration::from_secs(10);

impl_sql_store!(
    PostgresStore,
    sqlx::Postgres,
    " FOR UPDATE",
    "EXPLAIN",
    "QUERY PLAN",
    // Plan as a large table would be planned, whatever this one holds.
    "SET LOCAL enable_seqscan = off",
    // After a bulk load, VACUUM also marks the new pages all-visible: until
    // autovacuum gets there, counting users and skipping to a deep page
    // read every row from the table instead of the index alone.
    ["VACUUM (ANALYZE) users", "VACUUM (ANALYZE) user_values"],
    write_journal,
    import_batch,
    // A deep page starts at its first row's sort key: PostgreSQL would read
    // every row an OFFSET skips from the table.
    true,
    // No sort keys remembered (see `anchors`): the skip above reads the
    // order's index alone.
    false,
    // Equal only if no transaction committed in between.
    "(SELECT pg_current_snapshot()::text)"
);

/// Journal entries, a batch in one `COPY` (see `journal_copy`).
async fn write_journal(
    store: &PostgresStore,
    entries: Vec<crate::journal::JournalEntry>,
) -> StoreResult<()> {
    super::journal_copy::copy_entries(&store.journal_writer, &entries).await
}

/// Every read goes to the server: no thread switch to save.
impl super::inline_reads::InlineReads for PostgresStore {
    fn inline_readers(&self) -> Option<&super::inline_reads::InlineReaders> {
        None
    }
}

impl super::gather::Gathered for PostgresStore {
    fn lookups(&self) -> Option<&Arc<Gather<Lookups>>> {
        Some(&self.lookups)
    }

    fn inserts(&self) -> Option<&Arc<Gather<Inserts>>> {
        Some(&self.inserts)
    }

    async fn explain_lookup(
        &self,
        company_id: i64,
        user_name: String,
    ) -> Option<super::StoreResult<super::QueryPlan>> {
        Some(super::lookups::explain(&self.reader, company_id, user_name).await)
    }
}

impl super::totals::RememberedTotals<Connection<'_, PgConnectOptions>> for PostgresStore {
    fn remembered_totals<T>(
        &self,
        _reader: &mut Connection<'_, PgConnectOptions>,
        f: impl FnOnce(&mut Totals) -> T,
    ) -> T {
        f(&mut self.totals.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Users per import statement (35 parameters each, of at most 65,535).
const IMPORT_CHUNK: usize = 500;

async fn import_batch(
    connection: &mut sqlx::PgConnection,
    company_id: i64,
    users: &[UserData],
    now: i64,
) -> StoreResult<u64> {
    // Every chunk but the last is full: two statements serve them all
    // (the second unused when the last is full too).
    let full = super::sql_store::import_users_sql(IMPORT_CHUNK);
    let last = super::sql_store::import_users_sql(users.len() % IMPORT_CHUNK);
    let bound = |chunk: &[UserData]| {
        let sql = if chunk.len() == IMPORT_CHUNK {
            &full
        } else {
            &last
        };
        let mut query = sqlx::query(sql);
        for data in chunk {
            query = bind_user_data!(query, data)
                .bind(company_id)
                .bind(now)
                .bind(now)
                .bind(1_i64);
        }
        query
    };
    let mut chunks = users.chunks(IMPORT_CHUNK);
    let mut next = chunks.next().map(bound);
    let mut inserted = 0;
    while let Some(query) = next {
        // The next chunk's parameters are encoded while the server inserts
        // this one (the insert is polled first, which sends it).
        let (result, following) = tokio::join!(query.execute(&mut *connection), async {
            chunks.next().map(bound)
        });
        inserted += result?.rows_affected();
        next = following;
    }
    Ok(inserted)
}
