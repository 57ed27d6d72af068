//! Persistence: one `Store` trait, implemented for PostgreSQL and SQLite.

mod anchors;
mod background;
mod checkpointer;
mod connections;
mod gather;
mod group_commit;
mod inline_reads;
mod inserts;
mod journal_body;
mod journal_copy;
mod journal_inserts;
mod lookups;
mod pending_lists;
mod postgres;
mod scans;
mod sql_filter;
mod sql_store;
mod sqlite;
mod sqlite_process;
mod totals;
mod user_row;

use std::future::Future;

use crate::journal::JournalEntry;
use crate::keys::{KeyDigest, Scope};
use crate::scim::filter::{AttrPath, Filter};
use crate::scim::ScimError;
use crate::teamtailor::{Micros, Role, User, UserData};

pub use checkpointer::{CHECKPOINT_SECONDS, RESTART_SECONDS};
pub use pending_lists::{MERGED_PAGES, MERGE_SECONDS};
pub use postgres::PostgresStore;
pub(crate) use sql_store::now_millis_as_micros;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated; the field names the domain attribute.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A query the client asked for cannot be expressed (e.g. unknown attribute).
    #[error(transparent)]
    Query(#[from] ScimError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite through rusqlite (reads and writes on the caller's thread).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Config(String),
    /// A `modify_user` change refused the write; the caller knows why.
    #[error("the change was refused")]
    Refused,
}

/// The connection a statement ran on is gone: I/O failed, or PostgreSQL
/// ended it (shutting down by command or after a crash; class 08,
/// connection exceptions).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|c| c == "57P01" || c == "57P02" || c.starts_with("08")),
        _ => false,
    }
}

impl StoreError {
    /// The database is busy, full or away for now: the client should retry
    /// (503), as opposed to a fault in this server (500).
    pub fn is_transient(&self) -> bool {
        let error = match self {
            StoreError::Database(error) => error,
            StoreError::Sqlite(error) => {
                return matches!(
                    error.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                )
            }
            _ => return false,
        };
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            error if connection_lost(error) => true,
            sqlx::Error::Database(e) => {
                matches!(
                    e.code().as_deref(),
                    // PostgreSQL: too many connections, starting up,
                    // deadlock, serialization failure, database dropped or
                    // not accepting connections (on reconnect); SQLite:
                    // busy, locked.
                    Some("53300" | "57P03" | "40P01" | "40001" | "3D000" | "55000" | "5" | "6")
                )
            }
            _ => false,
        }
    }

    /// A value too large for the database (PostgreSQL class 54, e.g. an index
    /// entry over 2,704 bytes; SQLite `SQLITE_TOOBIG`): the client's value,
    /// not a fault here. Validation refuses such values first.
    pub fn is_limit_exceeded(&self) -> bool {
        let e = match self {
            StoreError::Database(sqlx::Error::Database(e)) => e,
            StoreError::Sqlite(error) => {
                return error.sqlite_error_code() == Some(rusqlite::ErrorCode::TooBig)
            }
            _ => return false,
        };
        e.code()
            .is_some_and(|code| code.starts_with("54") || code == "18")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: i64,
    pub slug: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: i64,
    pub company_id: i64,
    pub company_slug: String,
    pub name: String,
    pub digest: KeyDigest,
    pub scopes: Vec<Scope>,
    pub created_at: Micros,
    pub expires_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
    pub last_used_at: Option<Micros>,
}

impl ApiKey {
    pub fn is_usable(&self, now: Micros) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// An HS256 key for the server's own access tokens.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: Micros,
    pub retired_at: Option<Micros>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub company_id: i64,
    pub name: String,
    pub digest: KeyDigest,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Micros>,
}

/// A page of users: `start_index` is 1-based as in SCIM.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub filter: Option<Filter>,
    /// Teamtailor API filters, all of which must hold.
    pub conditions: Vec<Condition>,
    pub order: UserOrder,
    pub start_index: u64,
    pub count: u64,
}

/// The Teamtailor API's `filter[...]` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The display email or the login email, whole value, any case.
    Email(String),
    ExternalId(String),
    Role(Role),
    /// Keyset paging in the default order: users after this one.
    After {
        created_at: Micros,
        id: i64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UserOrder {
    /// Oldest first, ties by id: stable for paging.
    #[default]
    Created,
    CreatedDescending,
    Name,
    NameDescending,
    /// SCIM `sortBy` on a singular attribute.
    Attribute {
        path: AttrPath,
        descending: bool,
    },
}

/// How the database runs a list request: its SQL, bound values and plan.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    pub sql: String,
    pub binds: Vec<String>,
    pub plan: Vec<String>,
    /// A lookup by a key, not held back while scans run.
    pub lookup: bool,
    /// Run in one statement with the lookups asked at the same time (the
    /// bound array then holds theirs too).
    pub gathered: bool,
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub total: u64,
    pub users: Vec<User>,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists. Every user operation is scoped by company.
pub trait Store: Send + Sync {
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    fn create_company(&self, slug: &str) -> impl Future<Output = StoreResult<Company>> + Send;
    /// Returns the company, creating it when missing.
    fn ensure_company(&self, slug: &str) -> impl Future<Output = StoreResult<Company>> + Send;
    fn company_by_slug(
        &self,
        slug: &str,
    ) -> impl Future<Output = StoreResult<Option<Company>>> + Send;
    fn list_companies(&self) -> impl Future<Output = StoreResult<Vec<Company>>> + Send;
    /// Users per company slug, for metrics.
    fn user_counts(&self) -> impl Future<Output = StoreResult<Vec<(String, i64)>>> + Send;

    fn create_key(&self, key: &NewApiKey) -> impl Future<Output = StoreResult<ApiKey>> + Send;
    /// Makes sure a key with this digest exists, is not revoked and has these
    /// scopes (idempotent; used for the bootstrap token).
    fn ensure_key(&self, key: &NewApiKey) -> impl Future<Output = StoreResult<ApiKey>> + Send;
    fn key_by_lookup(
        &self,
        lookup: &str,
    ) -> impl Future<Output = StoreResult<Option<ApiKey>>> + Send;
    fn list_keys(
        &self,
        company_id: Option<i64>,
    ) -> impl Future<Output = StoreResult<Vec<ApiKey>>> + Send;
    fn key_by_id(&self, id: i64) -> impl Future<Output = StoreResult<Option<ApiKey>>> + Send;
    fn revoke_key(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Sets when a key stops working (`None`: never); used by rotation's grace period.
    fn set_key_expiry(
        &self,
        id: i64,
        expires_at: Option<Micros>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records when keys were last used; called in batches, not per request.
    fn touch_keys(&self, used: &[(i64, Micros)]) -> impl Future<Output = StoreResult<()>> + Send;

    /// Keys that sign the server's own access tokens, newest first.
    fn signing_keys(&self) -> impl Future<Output = StoreResult<Vec<SigningKey>>> + Send;
    /// Adds a signing key and retires the others (they still verify).
    fn rotate_signing_key(&self, key: &SigningKey) -> impl Future<Output = StoreResult<()>> + Send;
    fn count_keys(&self) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Bumped by the database on every change that can end a key's use.
    fn key_generation(&self) -> impl Future<Output = StoreResult<i64>> + Send;

    /// Takes the entries: their text is bound as it is, not copied.
    fn insert_journal(
        &self,
        entries: Vec<JournalEntry>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn list_journal(
        &self,
        query: &JournalQuery,
    ) -> impl Future<Output = StoreResult<Vec<JournalEntry>>> + Send;
    /// Deletes entries older than `oldest` and beyond `max_per_company` per company.
    fn prune_journal(
        &self,
        oldest: Micros,
        max_per_company: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The fault injection plan of a company (JSON), if one is set.
    fn company_faults(
        &self,
        company_id: i64,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    fn set_company_faults(
        &self,
        company_id: i64,
        plan: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes every user and journal entry of a company; returns the users deleted.
    fn reset_company(&self, company_id: i64) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Inserts users in one transaction, created at `created_at`, skipping
    /// userNames that exist; returns how many were inserted.
    fn import_users(
        &self,
        company_id: i64,
        users: &[UserData],
        created_at: Micros,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    fn create_user(
        &self,
        company_id: i64,
        data: &UserData,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    fn get_user(
        &self,
        company_id: i64,
        id: i64,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// Reads the user, lets `change` compute its new state (`None` leaves it
    /// as it is) and writes it only if the user's version is still the one
    /// read; otherwise reads and applies `change` again (it may run more than
    /// once), and under contention locks the row so writers queue. No
    /// concurrent change is overwritten.
    fn modify_user<F>(
        &self,
        company_id: i64,
        id: i64,
        change: F,
    ) -> impl Future<Output = StoreResult<User>> + Send
    where
        F: FnMut(&User) -> StoreResult<Option<UserData>> + Send;
    /// Whether a user was deleted; with `version`, only if the user is still
    /// at that version (checked by the delete itself, so no write is lost).
    fn delete_user(
        &self,
        company_id: i64,
        id: i64,
        version: Option<i64>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    fn list_users(
        &self,
        company_id: i64,
        query: &UserQuery,
    ) -> impl Future<Output = StoreResult<UserPage>> + Send;
    /// After a bulk load: lets the query planner see the new row counts
    /// (PostgreSQL vacuums and analyses the user tables; SQLite keeps its
    /// fixed statistics).
    fn refresh_statistics(&self) -> impl Future<Output = StoreResult<()>> + Send;
    /// The SQL and query plan of `list_users` for this query; with
    /// `prefer_indexes`, planned as for a large table (PostgreSQL).
    fn explain_users(
        &self,
        company_id: i64,
        query: &UserQuery,
        prefer_indexes: bool,
    ) -> impl Future<Output = StoreResult<QueryPlan>> + Send;
}

/// A journal query: newest first, `before_id` pages backwards.
#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    pub company_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Client name, case-insensitive (e.g. "okta").
    pub client: Option<String>,
    /// Lowest and highest status, e.g. 400..=499 for `4xx`.
    pub status: Option<(u16, u16)>,
    pub since: Option<Micros>,
    pub until: Option<Micros>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The configured backend.
pub enum Database {
    Postgres(PostgresStore),
    Sqlite(SqliteStore),
}

/// What a connection is tuned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Requests of a running server.
    Serve,
    /// `import` from the command line: large write transactions, one writer.
    BulkLoad,
}

impl Database {
    /// Whether journal bodies are handed to the store compressed (see
    /// `journal::Body::compressed`): SQLite's journal file keeps them so;
    /// PostgreSQL compresses long text itself (TOAST; lz4 since migration
    /// 0015).
    pub fn compresses_journal_bodies(&self) -> bool {
        matches!(self, Database::Sqlite(_))
    }

    /// Import batches worth writing at once: PostgreSQL inserts each on a
    /// connection (and a CPU) of its own, 1.4x as fast as one at a time;
    /// SQLite's one writer would only take them in turn, holding more
    /// batches in memory.
    pub fn import_batches_at_once(&self) -> usize {
        match self {
            Database::Postgres(_) => 2,
            Database::Sqlite(_) => 1,
        }
    }

    /// Connects to `postgres://...` or `sqlite://PATH` and runs migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_for(url, Workload::Serve).await
    }

    pub async fn connect_for(url: &str, workload: Workload) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(PostgresStore::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Database::Sqlite(SqliteStore::connect(url, workload).await?))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL '{url}': use sqlite://PATH or postgres://..."
            )))
        }
    }

    /// Starts what a serving instance does beside its requests: on
    /// PostgreSQL, merging the trigram indexes' pending lists (SQLite's
    /// checkpoints start with any connection for `Workload::Serve`).
    pub fn start_upkeep(&self) {
        if let Database::Postgres(store) = self {
            store.merge_pending_lists();
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
        }
    }

    /// Closes the connections once the work in progress on them is done; a
    /// SQLite file is then left whole, without its write-ahead log beside it.
    /// Later calls fail.
    pub async fn close(&self) {
        match self {
            Database::Postgres(store) => store.close().await,
            Database::Sqlite(store) => store.close().await,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Database::Postgres($store) => $call.await.inspect_err(|e| $store.after_error(e)),
            Database::Sqlite($store) => $call.await,
        }
    };
}

impl Store for Database {
    async fn ping(&self) -> StoreResult<()> {
        delegate!(self, s => s.ping())
    }
    async fn create_company(&self, slug: &str) -> StoreResult<Company> {
        delegate!(self, s => s.create_company(slug))
    }
    async fn ensure_company(&self, slug: &str) -> StoreResult<Company> {
        delegate!(self, s => s.ensure_company(slug))
    }
    async fn company_by_slug(&self, slug: &str) -> StoreResult<Option<Company>> {
        delegate!(self, s => s.company_by_slug(slug))
    }
    async fn list_companies(&self) -> StoreResult<Vec<Company>> {
        delegate!(self, s => s.list_companies())
    }
    async fn user_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        delegate!(self, s => s.user_counts())
    }
    async fn create_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
        delegate!(self, s => s.create_key(key))
    }
    async fn ensure_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
        delegate!(self, s => s.ensure_key(key))
    }
    async fn key_by_lookup(&self, lookup: &str) -> StoreResult<Option<ApiKey>> {
        delegate!(self, s => s.key_by_lookup(lookup))
    }
    async fn list_keys(&self, company_id: Option<i64>) -> StoreResult<Vec<ApiKey>> {
        delegate!(self, s => s.list_keys(company_id))
    }
    async fn key_by_id(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        delegate!(self, s => s.key_by_id(id))
    }
    async fn revoke_key(&self, id: i64) -> StoreResult<bool> {
        delegate!(self, s => s.revoke_key(id))
    }
    async fn set_key_expiry(&self, id: i64, expires_at: Option<Micros>) -> StoreResult<bool> {
        delegate!(self, s => s.set_key_expiry(id, expires_at))
    }
    async fn touch_keys(&self, used: &[(i64, Micros)]) -> StoreResult<()> {
        delegate!(self, s => s.touch_keys(used))
    }
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        delegate!(self, s => s.signing_keys())
    }
    async fn rotate_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        delegate!(self, s => s.rotate_signing_key(key))
    }
    async fn count_keys(&self) -> StoreResult<i64> {
        delegate!(self, s => s.count_keys())
    }
    async fn key_generation(&self) -> StoreResult<i64> {
        delegate!(self, s => s.key_generation())
    }
    async fn insert_journal(&self, entries: Vec<JournalEntry>) -> StoreResult<()> {
        delegate!(self, s => s.insert_journal(entries))
    }
    async fn list_journal(&self, query: &JournalQuery) -> StoreResult<Vec<JournalEntry>> {
        delegate!(self, s => s.list_journal(query))
    }
    async fn prune_journal(&self, oldest: Micros, max_per_company: i64) -> StoreResult<()> {
        delegate!(self, s => s.prune_journal(oldest, max_per_company))
    }
    async fn company_faults(&self, company_id: i64) -> StoreResult<Option<String>> {
        delegate!(self, s => s.company_faults(company_id))
    }
    async fn set_company_faults(&self, company_id: i64, plan: Option<&str>) -> StoreResult<()> {
        delegate!(self, s => s.set_company_faults(company_id, plan))
    }
    async fn reset_company(&self, company_id: i64) -> StoreResult<u64> {
        delegate!(self, s => s.reset_company(company_id))
    }
    async fn import_users(
        &self,
        company_id: i64,
        users: &[UserData],
        created_at: Micros,
    ) -> StoreResult<u64> {
        delegate!(self, s => s.import_users(company_id, users, created_at))
    }
    async fn create_user(&self, company_id: i64, data: &UserData) -> StoreResult<User> {
        delegate!(self, s => s.create_user(company_id, data))
    }
    async fn get_user(&self, company_id: i64, id: i64) -> StoreResult<Option<User>> {
        delegate!(self, s => s.get_user(company_id, id))
    }
    async fn modify_user<F>(&self, company_id: i64, id: i64, change: F) -> StoreResult<User>
    where
        F: FnMut(&User) -> StoreResult<Option<UserData>> + Send,
    {
        delegate!(self, s => s.modify_user(company_id, id, change))
    }
    async fn delete_user(
        &self,
        company_id: i64,
        id: i64,
        version: Option<i64>,
    ) -> StoreResult<bool> {
        delegate!(self, s => s.delete_user(company_id, id, version))
    }
    async fn list_users(&self, company_id: i64, query: &UserQuery) -> StoreResult<UserPage> {
        delegate!(self, s => s.list_users(company_id, query))
    }
    async fn refresh_statistics(&self) -> StoreResult<()> {
        delegate!(self, s => s.refresh_statistics())
    }
    async fn explain_users(
        &self,
        company_id: i64,
        query: &UserQuery,
        prefer_indexes: bool,
    ) -> StoreResult<QueryPlan> {
        delegate!(self, s => s.explain_users(company_id, query, prefer_indexes))
    }
}

pub fn now_micros() -> Micros {
    chrono::Utc::now().timestamp_micros()
}
