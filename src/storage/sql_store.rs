//! The `Store` implementation shared by both backends. The SQL below runs
//! unchanged on PostgreSQL and SQLite (`$N` placeholders are numbered
//! parameters on both); only connection setup and migrations differ.

use std::sync::LazyLock;

use super::sql_filter::Bind;
use super::totals::{Counted, Totals};

pub(super) const COMPANY_COLUMNS: &str = "id, slug, created_at";

pub(super) const KEY_SELECT: &str = "SELECT k.id, k.company_id, c.slug, k.name, k.digest, \
    k.scopes, k.created_at, k.expires_at, k.revoked_at, k.last_used_at \
    FROM api_keys k JOIN companies c ON c.id = k.company_id";

pub(super) const USER_COLUMNS: &str = "id, company_id, user_name, external_id, name_formatted, \
    given_name, family_name, middle_name, honorific_prefix, honorific_suffix, display_name, \
    title, emails, phone_numbers, role, locale, time_zone, visible, created_at, updated_at, version";

/// A user by id (`$1` the company, `$2` the id).
pub(super) static SELECT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 AND id = $2"));

/// A user by lowercased userName (`$1` the company, `$2` the name), by the
/// unique index of (company_id, user_name_lower).
pub(super) static SELECT_BY_USER_NAME: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 AND user_name_lower = $2")
});

/// Users by externalId (`$1` the company, `$2` the externalId), at most
/// `$3`, by the index of (company_id, external_id); in no order (sorting
/// them here took SQLite a temporary B-tree, a fifth of the request).
pub(super) static SELECT_BY_EXTERNAL_ID: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 AND external_id = $2 LIMIT $3")
});

/// Users an `externalId eq` lookup reads on the request's thread at most;
/// more than that (a fixture that gives many users one externalId) and the
/// list is read as for any other filter.
pub(super) const EXTERNAL_ID_USERS: usize = 100;

/// `SELECT_BY_EXTERNAL_ID`'s limit: one more than it answers, to tell more
/// users from exactly that many.
pub(super) const EXTERNAL_ID_LIMIT: i64 = EXTERNAL_ID_USERS as i64 + 1;

/// The page of `query` among all the users it finds, `users`, in its order.
pub(super) fn page_of(
    users: Vec<crate::teamtailor::User>,
    query: &crate::storage::UserQuery,
) -> crate::storage::UserPage {
    let total = users.len() as u64;
    let skip = usize::try_from(query.start_index.saturating_sub(1)).unwrap_or(usize::MAX);
    let take = usize::try_from(query.count).unwrap_or(usize::MAX);
    crate::storage::UserPage {
        total,
        users: users.into_iter().skip(skip).take(take).collect(),
    }
}

/// Columns written from `UserData`, bound in this order by `bind_user_data!`.
pub(super) const USER_DATA_COLUMNS: [&str; 31] = [
    "user_name",
    "user_name_lower",
    "external_id",
    "name_formatted",
    "given_name",
    "family_name",
    "middle_name",
    "honorific_prefix",
    "honorific_suffix",
    "display_name",
    "title",
    "emails",
    "phone_numbers",
    "role",
    "name",
    "name_sort",
    "email",
    "email_lower",
    "phone",
    "locale",
    "time_zone",
    "visible",
    "display_name_lower",
    "title_lower",
    "name_formatted_lower",
    "given_name_lower",
    "family_name_lower",
    "middle_name_lower",
    "honorific_prefix_lower",
    "honorific_suffix_lower",
    "value_rows",
];

pub(super) fn lower(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::to_lowercase)
}

/// The `user_values` rows of a user: every entry of `emails` and `phoneNumbers`.
pub(super) fn user_value_rows(data: &crate::teamtailor::UserData) -> Vec<UserValueRow> {
    let attributes = &data.attributes;
    [
        ("emails", &attributes.emails),
        ("phoneNumbers", &attributes.phone_numbers),
    ]
    .into_iter()
    .flat_map(|(attribute, entries)| {
        entries
            .iter()
            .enumerate()
            .map(move |(position, entry)| UserValueRow {
                attribute,
                position: position as i32,
                value: lower(&entry.value),
                kind: lower(&entry.kind),
                display: lower(&entry.display),
                primary: entry.primary,
            })
    })
    .collect()
}

/// `users.value_rows`: the `user_values` rows as JSON arrays, which database
/// triggers keep `user_values` in step with (migration 0009).
pub(super) fn value_rows_json(data: &crate::teamtailor::UserData) -> String {
    let rows: Vec<serde_json::Value> = user_value_rows(data)
        .into_iter()
        .map(|r| {
            serde_json::json!([
                r.attribute,
                r.position,
                r.value,
                r.kind,
                r.display,
                r.primary
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

pub(super) struct UserValueRow {
    pub attribute: &'static str,
    pub position: i32,
    pub value: Option<String>,
    pub kind: Option<String>,
    pub display: Option<String>,
    pub primary: Option<bool>,
}

/// Optimistic attempts of `modify_user` before it locks the row.
pub(super) const OPTIMISTIC_WRITES: usize = 3;

/// An INSERT of `rows` users, `$1` on: each row's values are its
/// [`USER_DATA_COLUMNS`], then its company, created and updated times, and
/// version. Callers add what follows `VALUES`.
pub(super) fn insert_users_sql(rows: usize) -> String {
    const WIDTH: usize = USER_DATA_COLUMNS.len() + 4;
    let mut sql = format!(
        "INSERT INTO users ({}, company_id, created_at, updated_at, version) VALUES ",
        USER_DATA_COLUMNS.join(", ")
    );
    push_value_rows(&mut sql, rows, WIDTH, |sql, n| {
        use std::fmt::Write;
        let _ = write!(sql, "${n}");
    });
    sql
}

pub(super) fn import_users_sql(rows: usize) -> String {
    format!("{} ON CONFLICT DO NOTHING", insert_users_sql(rows))
}

/// `rows` parenthesised rows of `width` placeholders each, written by
/// `placeholder(sql, n)` with `n` counting from 1: `($1, $2), ($3, $4)`.
fn push_value_rows(
    sql: &mut String,
    rows: usize,
    width: usize,
    placeholder: impl Fn(&mut String, usize),
) {
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=width {
            if c > 1 {
                sql.push_str(", ");
            }
            placeholder(sql, r * width + c);
        }
        sql.push(')');
    }
}

/// A multi-row INSERT of `rows` journal entries: `verb` first, then each
/// value's placeholder written by `placeholder(sql, n)`, `n` counting from 1.
pub(super) fn insert_journal_sql(
    verb: &str,
    rows: usize,
    placeholder: impl Fn(&mut String, usize),
) -> String {
    const COLUMNS: usize = 14;
    // Built in one string: the writer builds one for every batch.
    let mut sql = format!(
        "{verb} INTO journal (company_id, at, request_id, method, path, client, user_agent, \
         request_body, status, response_body, latency_micros, user_id, change, fault) VALUES "
    );
    sql.reserve(rows * COLUMNS * 5);
    push_value_rows(&mut sql, rows, COLUMNS, placeholder);
    sql
}

pub(super) fn insert_user_sql() -> String {
    format!("{} RETURNING {USER_COLUMNS}", insert_users_sql(1))
}

/// An UPDATE of the columns of `data` that differ from `current` (the row
/// as read), with their values to bind in order, then `updated_at`,
/// `company_id`, `id` and the version read. Only what changed is written, so
/// an update touches only the indexes (and value rows) of what changed: a
/// PATCH of `active` rewrites one index entry, not seven. It bumps the
/// version and matches only while the row still has the version read.
pub(super) fn update_user_statement(
    current: &crate::teamtailor::UserData,
    data: &crate::teamtailor::UserData,
) -> (String, Vec<ColumnValue>) {
    let mut sets = String::new();
    let mut values = Vec::new();
    for (column, (old, new)) in USER_DATA_COLUMNS
        .iter()
        .zip(user_data_row(current).into_iter().zip(user_data_row(data)))
    {
        if old != new {
            values.push(new);
            sets.push_str(&format!("{column} = ${}, ", values.len()));
        }
    }
    let n = values.len();
    let sql = format!(
        "UPDATE users SET {sets}updated_at = ${}, version = version + 1 \
         WHERE company_id = ${} AND id = ${} AND version = ${} RETURNING {USER_COLUMNS}",
        n + 1,
        n + 2,
        n + 3,
        n + 4
    );
    (sql, values)
}

/// A write of one statement: its values in order, the columns' then the
/// integers'. Owned, so that the SQLite store can queue it (`group_commit`);
/// what it returns (`RETURNING`) is `USER_COLUMNS`.
pub(crate) struct WriteStatement {
    pub sql: String,
    pub columns: Vec<ColumnValue>,
    pub ints: Vec<i64>,
}

impl WriteStatement {
    /// The query with its values bound by reference (a group commit may run
    /// it twice).
    pub(super) fn query<'q, DB: sqlx::Database>(
        &'q self,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let query = bind_column_values(sqlx::query(&self.sql), &self.columns);
        self.ints.iter().fold(query, |query, n| query.bind(*n))
    }
}

/// `query` with `values` bound by reference, in order.
pub(super) fn bind_column_values<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    values: &'q [ColumnValue],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    values.iter().fold(query, |query, value| match value {
        ColumnValue::Text(text) => query.bind(text.as_deref()),
        ColumnValue::Bool(flag) => query.bind(*flag),
    })
}

/// Instants are stored at millisecond precision: what SCIM shows is exactly what
/// filters compare.
pub(crate) fn now_millis_as_micros() -> i64 {
    super::now_micros() / 1000 * 1000
}

pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_json_list<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The statements of a list request: the count alone, and the page with its
/// total as an uncorrelated subquery (one snapshot, one round trip). The
/// page's parameters are `$1` company, the remembered version if
/// `versioned`, the count's binds, the page's binds, then limit and offset.
pub(super) struct ListStatement {
    pub count_sql: String,
    pub count_binds: Vec<Bind>,
    pub page_sql: String,
    pub page_binds: Vec<Bind>,
    /// Whether the total is the company's number of users: the page then
    /// returns the database's version as `data_version`, and counts only
    /// where it differs from `$2`, a version a total was counted at
    /// earlier (else `total_results` is NULL; see `totals`).
    pub versioned: bool,
    /// Whether the page has conditions the total ignores (a cursor).
    pub page_narrower: bool,
    /// Whether it finds users by a key rather than scanning.
    pub lookup: bool,
    pub limit: i64,
    pub offset: i64,
    /// For lists whose index can seek to a sort key (see `anchors`): the
    /// page from just after a remembered key, its parameters the page's
    /// with the offset counted from the key, then the key's terms. Rows of
    /// either statement end with the key's terms (`key_1`, ...).
    pub anchored_sql: Option<String>,
    /// Whether each term of the key is text (else an integer).
    pub key_texts: Vec<bool>,
    /// The list's statement, by hash.
    list: u64,
}

impl ListStatement {
    /// Where a deep page can start instead: the offset past a key
    /// remembered at the version the total was `remembered` at, and the key.
    pub fn start_after(
        &self,
        company_id: i64,
        totals: &Totals,
        remembered: Option<&Counted>,
    ) -> Option<(i64, Vec<Bind>)> {
        let counted = remembered?;
        // Past the end a page is empty: nothing to start from.
        if self.anchored_sql.is_none() || self.offset == 0 || self.offset as u64 >= counted.users {
            return None;
        }
        let version = &counted.data_version;
        let (at, key) = totals
            .anchors
            .before((company_id, self.list), version, self.offset)?;
        // Ids after a key cost about twice what OFFSET costs a user skipped.
        let skip = self.offset - at - 1;
        (skip <= self.offset / 2).then(|| (skip, key.to_vec()))
    }

    /// Counts a deep page of a list that remembers keys, by whether it
    /// started after one.
    pub fn count_deep_page(&self, from_key: bool) {
        if self.anchored_sql.is_some() && self.offset > 0 {
            super::anchors::count_deep_page(from_key);
        }
    }

    /// Remembers the key of the last of `users` read at `data_version`.
    pub fn remember_last(
        &self,
        company_id: i64,
        totals: &mut Totals,
        data_version: &str,
        users: usize,
        key: Vec<Bind>,
    ) {
        let position = self.offset + users as i64 - 1;
        totals
            .anchors
            .remember((company_id, self.list), data_version, position, key);
    }

    /// The list's total from the page's first row (`total_results` if the
    /// page has a row: NULL when not counted, the database being at the
    /// remembered version) and the total `remembered`; None when it must be
    /// counted alone (past the end of the list, or past a cursor).
    pub fn total(&self, first: Option<Option<i64>>, remembered: Option<u64>) -> Option<u64> {
        match first {
            Some(Some(total)) => Some(total as u64),
            Some(None) => remembered,
            None if self.offset > 0 || self.page_narrower => None,
            None => Some(0),
        }
    }
}

/// `skip_by_key`: a deep page starts at the sort key of its first row, found
/// by a subquery over the order's index, rather than skipping rows with
/// OFFSET (which PostgreSQL does by reading each skipped row from the table).
/// `remember_keys`: deep pages may start after a remembered sort key (see
/// `anchors`). `data_version`: the backend's expression for the version of
/// the whole database, as text.
pub(super) fn list_statement(
    query: &super::UserQuery,
    skip_by_key: bool,
    remember_keys: bool,
    data_version: &str,
) -> Result<ListStatement, super::StoreError> {
    use super::sql_filter;
    let order = sql_filter::order_by(&query.order)?;
    // The total counts every match, wherever a cursor stands.
    let counted: Vec<super::Condition> = query
        .conditions
        .iter()
        .filter(|c| !matches!(c, super::Condition::After { .. }))
        .cloned()
        .collect();
    let count_filter = sql_filter::translate_query(query.filter.as_ref(), &counted, 2)?;
    let versioned = count_filter.sql.is_empty();
    let count_sql = if versioned {
        "SELECT COUNT(*) FROM users WHERE company_id = $1".to_string()
    } else {
        format!(
            "SELECT COUNT(*) FROM users WHERE company_id = $1 AND {}",
            count_filter.sql
        )
    };
    let total = if versioned {
        format!(
            "CASE WHEN {data_version} = $2 THEN NULL ELSE ({count_sql}) END AS total_results, \
             {data_version} AS data_version"
        )
    } else {
        format!("({count_sql}) AS total_results")
    };
    let offset = query.start_index.saturating_sub(1).min(i64::MAX as u64) as i64;
    let first_bind = 2 + usize::from(versioned) + count_filter.binds.len();
    let filter = sql_filter::translate_query(query.filter.as_ref(), &query.conditions, first_bind)?;
    let condition = if filter.sql.is_empty() {
        String::new()
    } else {
        format!(" AND {}", filter.sql)
    };
    let n = first_bind + filter.binds.len();
    let page_narrower = counted.len() != query.conditions.len();
    // The unfiltered list, in an order an index can seek in (see `anchors`).
    let seeks = remember_keys && versioned && !page_narrower && !order.seek.is_empty();
    let keys: String = match seeks {
        true => (order.seek.iter().enumerate())
            .map(|(i, (term, _))| format!(", {term} AS key_{}", i + 1))
            .collect(),
        false => String::new(),
    };
    let matches =
        format!("SELECT {USER_COLUMNS}, {total}{keys} FROM users WHERE company_id = $1{condition}");
    let sorted = &order.sql;
    let page_sql = match &order.key {
        // Past the last match the subquery is NULL and the page empty.
        Some(key) if skip_by_key && offset > 0 => format!(
            "{matches} AND ({key}) {} \
             (SELECT {key} FROM users WHERE company_id = $1{condition} \
             ORDER BY {sorted} LIMIT 1 OFFSET ${}) \
             ORDER BY {sorted} LIMIT ${n}",
            if order.descending { "<=" } else { ">=" },
            n + 1,
        ),
        _ => format!("{matches} ORDER BY {sorted} LIMIT ${n} OFFSET ${}", n + 1),
    };
    // The ids after the key (k1, k2), from the order's index alone:
    // (k1 = $a AND k2 > $b) UNION ALL (k1 > $a), each a seek in it (SQLite
    // plans a row value's range `(k1, k2) > ($a, $b)` as `k1 > $a` and tests
    // k2 on every row); then the page's users by id, in the ids' order
    // (SQLite keeps the left side of a CROSS JOIN as the outer loop). It
    // never counts: its rows hold only at the key's version, whose total
    // is remembered (`$2`, that version, is bound but unused).
    let anchored_sql = seeks.then(|| {
        let after = if order.descending { "<" } else { ">" };
        let arms: Vec<String> = (0..order.seek.len())
            .rev()
            .map(|last| {
                let mut conditions = String::new();
                for (i, (term, _)) in order.seek[..=last].iter().enumerate() {
                    let op = if i == last { after } else { "=" };
                    conditions += &format!(" AND {term} {op} ${}", n + 2 + i);
                }
                format!(
                    "SELECT id AS page_id FROM (SELECT id FROM users WHERE company_id = $1\
                     {conditions} ORDER BY {sorted} LIMIT ${n} + ${})",
                    n + 1
                )
            })
            .collect();
        format!(
            "SELECT {USER_COLUMNS}, NULL AS total_results, {data_version} AS data_version{keys} \
             FROM ({} LIMIT ${n} OFFSET ${}) AS page \
             CROSS JOIN users WHERE users.id = page.page_id AND users.company_id = $1",
            arms.join(" UNION ALL "),
            n + 1
        )
    });
    let list = match seeks {
        true => {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&page_sql, &mut hasher);
            std::hash::Hasher::finish(&hasher)
        }
        false => 0,
    };
    Ok(ListStatement {
        count_sql,
        count_binds: count_filter.binds,
        page_sql,
        page_binds: filter.binds,
        versioned,
        page_narrower,
        lookup: sql_filter::is_lookup(query.filter.as_ref(), &query.conditions),
        limit: query.count.min(i64::MAX as u64) as i64,
        offset,
        anchored_sql,
        key_texts: match seeks {
            true => order.seek.iter().map(|(_, text)| *text).collect(),
            false => Vec::new(),
        },
        list,
    })
}

/// One value of a user's row, typed as its column is.
#[derive(PartialEq)]
pub(crate) enum ColumnValue {
    Text(Option<String>),
    Bool(bool),
}

/// The values of [`USER_DATA_COLUMNS`], in that order: what every write of
/// a user binds, and what an SQLite import sends as one JSON array per user.
pub(super) fn user_data_row(data: &crate::teamtailor::UserData) -> [ColumnValue; 31] {
    use ColumnValue::{Bool, Text};
    let a = &data.attributes;
    [
        Text(Some(a.user_name.clone())),
        Text(Some(a.user_name_key())),
        Text(a.external_id.clone()),
        Text(a.name.formatted.clone()),
        Text(a.name.given_name.clone()),
        Text(a.name.family_name.clone()),
        Text(a.name.middle_name.clone()),
        Text(a.name.honorific_prefix.clone()),
        Text(a.name.honorific_suffix.clone()),
        Text(a.display_name.clone()),
        Text(a.title.clone()),
        Text(Some(json_text(&a.emails))),
        Text(Some(json_text(&a.phone_numbers))),
        Text(Some(data.role.as_str().to_string())),
        Text(data.full_name()),
        Text(data.full_name().map(|name| name.to_lowercase())),
        Text(Some(data.display_email())),
        Text(Some(data.display_email().to_lowercase())),
        Text(data.phone()),
        Text(data.locale.clone()),
        Text(data.time_zone.clone()),
        Bool(data.visible),
        Text(lower(&a.display_name)),
        Text(lower(&a.title)),
        Text(lower(&a.name.formatted)),
        Text(lower(&a.name.given_name)),
        Text(lower(&a.name.family_name)),
        Text(lower(&a.name.middle_name)),
        Text(lower(&a.name.honorific_prefix)),
        Text(lower(&a.name.honorific_suffix)),
        Text(Some(value_rows_json(data))),
    ]
}

macro_rules! bind_user_data {
    ($query:expr, $data:expr) => {
        bind_columns!($query, $crate::storage::sql_store::user_data_row($data))
    };
}

macro_rules! bind_columns {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                $crate::storage::sql_store::ColumnValue::Text(text) => query.bind(text),
                $crate::storage::sql_store::ColumnValue::Bool(flag) => query.bind(flag),
            };
        }
        query
    }};
}

/// Implements `Store` for a struct with a `journal_writer` pool of `$db`,
/// a `reader` and a `writer` whose `acquire()` gives a connection of it,
/// `scans` for the reader's lists that are not lookups, and a method
/// `write(WriteStatement)` for writes of one statement, giving the user it
/// returns and a unique violation as a taken userName;
/// `$row_lock` is appended to a SELECT that must lock the row it reads;
/// `$write_journal(store, entries)` writes a batch of journal entries;
/// `$data_version` is the version of the whole database (see
/// `list_statement`) and the store keeps the totals counted at one
/// (`totals::RememberedTotals`).
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $row_lock:expr, $explain:expr, $plan_column:expr, $prefer_indexes:expr, $analyze:expr, $write_journal:path, $import_batch:path, $skip_by_key:expr, $remember_keys:expr, $data_version:expr) => {
        use sqlx::Row as _;

        use crate::keys::{KeyDigest, Scope};
        use crate::storage::gather::Gathered as _;
        use crate::storage::lookups::Key;
        use crate::storage::sql_filter::Bind;
        use crate::storage::totals::{Counted, RememberedTotals as _};
        use crate::storage::user_row::user_from_row;
        use crate::storage::sql_store::*;
        use crate::storage::{
            ApiKey, Company, NewApiKey, Store, StoreError, StoreResult, UserPage, UserQuery,
        };
        use crate::teamtailor::{User, UserData};

        type DbRow = <$db as sqlx::Database>::Row;

        fn company_from_row(row: &DbRow) -> Result<Company, sqlx::Error> {
            Ok(Company {
                id: row.try_get(0)?,
                slug: row.try_get(1)?,
                created_at: row.try_get(2)?,
            })
        }

        fn key_from_row(row: &DbRow) -> Result<ApiKey, sqlx::Error> {
            let digest: Vec<u8> = row.try_get(4)?;
            let scopes: String = row.try_get(5)?;
            Ok(ApiKey {
                id: row.try_get(0)?,
                company_id: row.try_get(1)?,
                company_slug: row.try_get(2)?,
                name: row.try_get(3)?,
                digest: KeyDigest::from_bytes(&digest).ok_or_else(|| {
                    sqlx::Error::Decode("api key digest is not 32 bytes".into())
                })?,
                scopes: Scope::parse_list(&scopes),
                created_at: row.try_get(6)?,
                expires_at: row.try_get(7)?,
                revoked_at: row.try_get(8)?,
                last_used_at: row.try_get(9)?,
            })
        }

        /// Maps a unique violation to the domain attribute it protects.
        fn conflict(error: sqlx::Error, what: &'static str) -> StoreError {
            match &error {
                sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict(what),
                _ => StoreError::Database(error),
            }
        }

        impl $store {
            /// The user a `select` of one user finds (`binds` as its `$N`),
            /// read on this thread where the backend can.
            fn inline_user(&self, select: &str, binds: &[crate::storage::inline_reads::Value]) -> Option<Option<User>> {
                use crate::storage::inline_reads::InlineReads as _;
                let users = self.inline_readers()?.users(select, binds)?;
                Some(users.into_iter().next())
            }

            /// The plan of `sql`, a statement read on the request's thread
            /// (`$1` the company, then `binds`).
            async fn explain_inline(&self, sql: &str, company_id: i64, binds: &[Bind]) -> StoreResult<crate::storage::QueryPlan> {
                let explain = format!("{} {sql}", $explain);
                let rows = bind_all(sqlx::query(&explain).bind(company_id), binds)
                    .fetch_all(&mut *self.reader.acquire().await?)
                    .await?;
                Ok(crate::storage::QueryPlan {
                    lookup: true,
                    gathered: false,
                    sql: sql.to_owned(),
                    binds: std::iter::once(company_id.to_string()).chain(binds.iter().map(|bind| format!("{bind:?}"))).collect(),
                    plan: rows.iter().map(|row| row.try_get::<String, _>($plan_column)).collect::<Result<_, _>>()?,
                })
            }

            /// A user by id (`select` binds the company and the id): on this
            /// thread where the backend can, gathered with others where it
            /// can (see `lookups`), else alone.
            async fn read_user(&self, select: &str, company_id: i64, id: i64) -> StoreResult<Option<User>> {
                use crate::storage::inline_reads::Value;
                if let Some(user) = self.inline_user(select, &[Value::Integer(company_id), Value::Integer(id)]) {
                    return Ok(user);
                }
                if let Some(lookups) = self.lookups() {
                    return Ok(lookups.ask((company_id, Key::Id(id))).await?);
                }
                let row = sqlx::query(select)
                    .bind(company_id)
                    .bind(id)
                    .fetch_optional(&mut *self.reader.acquire().await?)
                    .await?;
                Ok(row.as_ref().map(user_from_row).transpose()?)
            }

            /// A page, read on this thread where the backend can (see
            /// `inline_reads`).
            fn inline_page(&self, company_id: i64, statement: &ListStatement) -> Option<UserPage> {
                use crate::storage::inline_reads::InlineReads as _;
                self.inline_readers()?.page(company_id, statement)
            }
        }

        fn bind_all<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            binds: &'q [Bind],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for bind in binds {
                query = match bind {
                    Bind::Text(text) => query.bind(text.as_str()),
                    Bind::Int(n) => query.bind(*n),
                    Bind::Bool(b) => query.bind(*b),
                };
            }
            query
        }

        impl Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&mut *self.reader.acquire().await?).await?;
                Ok(())
            }

            async fn create_company(&self, slug: &str) -> StoreResult<Company> {
                let sql = format!(
                    "INSERT INTO companies (slug, created_at) VALUES ($1, $2) RETURNING {COMPANY_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(slug)
                    .bind(now_millis_as_micros())
                    .fetch_one(&mut *self.writer.acquire().await?)
                    .await
                    .map_err(|e| conflict(e, "company"))?;
                Ok(company_from_row(&row)?)
            }

            async fn ensure_company(&self, slug: &str) -> StoreResult<Company> {
                sqlx::query(
                    "INSERT INTO companies (slug, created_at) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING",
                )
                .bind(slug)
                .bind(now_millis_as_micros())
                .execute(&mut *self.writer.acquire().await?)
                .await?;
                self.company_by_slug(slug)
                    .await?
                    .ok_or(StoreError::NotFound)
            }

            async fn company_by_slug(&self, slug: &str) -> StoreResult<Option<Company>> {
                let sql = format!("SELECT {COMPANY_COLUMNS} FROM companies WHERE slug = $1");
                let row = sqlx::query(&sql).bind(slug).fetch_optional(&mut *self.writer.acquire().await?).await?;
                Ok(row.as_ref().map(company_from_row).transpose()?)
            }

            async fn list_companies(&self) -> StoreResult<Vec<Company>> {
                let sql = format!("SELECT {COMPANY_COLUMNS} FROM companies ORDER BY id");
                let rows = sqlx::query(&sql).fetch_all(&mut *self.reader.acquire().await?).await?;
                Ok(rows.iter().map(company_from_row).collect::<Result<_, _>>()?)
            }

            async fn user_counts(&self) -> StoreResult<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "SELECT c.slug, COUNT(u.id) FROM companies c \
                     LEFT JOIN users u ON u.company_id = c.id GROUP BY c.slug ORDER BY c.slug",
                )
                .fetch_all(&mut *self.reader.acquire().await?)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn create_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
                let row = sqlx::query(
                    "INSERT INTO api_keys (company_id, name, lookup, digest, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(key.company_id)
                .bind(key.name.as_str())
                .bind(key.digest.lookup())
                .bind(key.digest.as_bytes())
                .bind(Scope::join(&key.scopes))
                .bind(now_millis_as_micros())
                .bind(key.expires_at)
                .fetch_one(&mut *self.writer.acquire().await?)
                .await
                .map_err(|e| conflict(e, "api key"))?;
                let id: i64 = row.try_get(0)?;
                let sql = format!("{KEY_SELECT} WHERE k.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_one(&mut *self.writer.acquire().await?).await?;
                Ok(key_from_row(&row)?)
            }

            async fn ensure_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
                sqlx::query(
                    "INSERT INTO api_keys (company_id, name, lookup, digest, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (lookup) DO UPDATE SET company_id = excluded.company_id, \
                     digest = excluded.digest, scopes = excluded.scopes, \
                     expires_at = excluded.expires_at, revoked_at = NULL",
                )
                .bind(key.company_id)
                .bind(key.name.as_str())
                .bind(key.digest.lookup())
                .bind(key.digest.as_bytes())
                .bind(Scope::join(&key.scopes))
                .bind(now_millis_as_micros())
                .bind(key.expires_at)
                .execute(&mut *self.writer.acquire().await?)
                .await?;
                self.key_by_lookup(&key.digest.lookup())
                    .await?
                    .ok_or(StoreError::NotFound)
            }

            async fn key_by_lookup(&self, lookup: &str) -> StoreResult<Option<ApiKey>> {
                let sql = format!("{KEY_SELECT} WHERE k.lookup = $1");
                let row = sqlx::query(&sql).bind(lookup).fetch_optional(&mut *self.reader.acquire().await?).await?;
                Ok(row.as_ref().map(key_from_row).transpose()?)
            }

            async fn list_keys(&self, company_id: Option<i64>) -> StoreResult<Vec<ApiKey>> {
                let rows = match company_id {
                    Some(id) => {
                        let sql = format!("{KEY_SELECT} WHERE k.company_id = $1 ORDER BY k.id");
                        sqlx::query(&sql).bind(id).fetch_all(&mut *self.reader.acquire().await?).await?
                    }
                    None => {
                        let sql = format!("{KEY_SELECT} ORDER BY k.id");
                        sqlx::query(&sql).fetch_all(&mut *self.reader.acquire().await?).await?
                    }
                };
                Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
            }

            async fn key_by_id(&self, id: i64) -> StoreResult<Option<ApiKey>> {
                let sql = format!("{KEY_SELECT} WHERE k.id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.reader.acquire().await?).await?;
                Ok(row.as_ref().map(key_from_row).transpose()?)
            }

            async fn set_key_expiry(&self, id: i64, expires_at: Option<i64>) -> StoreResult<bool> {
                let result = sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                    .bind(expires_at)
                    .bind(id)
                    .execute(&mut *self.writer.acquire().await?)
                    .await?;
                Ok(result.rows_affected() > 0)
            }

            async fn touch_keys(&self, used: &[(i64, i64)]) -> StoreResult<()> {
                if used.is_empty() {
                    return Ok(());
                }
                let mut writer = self.writer.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *writer).await?;
                for (id, at) in used {
                    sqlx::query(
                        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
                         AND (last_used_at IS NULL OR last_used_at < $1)",
                    )
                    .bind(*at)
                    .bind(*id)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok(())
            }

            async fn signing_keys(&self) -> StoreResult<Vec<crate::storage::SigningKey>> {
                let rows = sqlx::query(
                    "SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
                )
                .fetch_all(&mut *self.writer.acquire().await?)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(crate::storage::SigningKey {
                            kid: row.try_get(0)?,
                            secret: row.try_get(1)?,
                            created_at: row.try_get(2)?,
                            retired_at: row.try_get(3)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn rotate_signing_key(&self, key: &crate::storage::SigningKey) -> StoreResult<()> {
                let mut writer = self.writer.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *writer).await?;
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(key.created_at)
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
                    .bind(key.kid.as_str())
                    .bind(key.secret.as_slice())
                    .bind(key.created_at)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(())
            }

            async fn revoke_key(&self, id: i64) -> StoreResult<bool> {
                let result = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now_millis_as_micros())
                .bind(id)
                .execute(&mut *self.writer.acquire().await?)
                .await?;
                Ok(result.rows_affected() > 0)
            }

            async fn key_generation(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT generation FROM key_changes WHERE id = 1")
                    .fetch_one(&mut *self.reader.acquire().await?)
                    .await?;
                Ok(row.try_get(0)?)
            }

            async fn count_keys(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COUNT(*) FROM api_keys")
                    .fetch_one(&mut *self.reader.acquire().await?)
                    .await?;
                Ok(row.try_get(0)?)
            }

            async fn insert_journal(&self, entries: Vec<crate::journal::JournalEntry>) -> StoreResult<()> {
                $write_journal(self, entries).await
            }

            async fn list_journal(
                &self,
                query: &crate::storage::JournalQuery,
            ) -> StoreResult<Vec<crate::journal::JournalEntry>> {
                let mut conditions = Vec::new();
                let mut binds: Vec<Bind> = Vec::new();
                let param = |bind: Bind, binds: &mut Vec<Bind>| {
                    binds.push(bind);
                    format!("${}", binds.len())
                };
                if let Some(id) = query.company_id {
                    conditions.push(format!("j.company_id = {}", param(Bind::Int(id), &mut binds)));
                }
                if let Some(id) = query.user_id {
                    // SQLite finds a user's entries among their company's.
                    if query.company_id.is_none() {
                        conditions.push("j.company_id IN (SELECT id FROM companies)".to_owned());
                    }
                    conditions.push(format!("j.user_id = {}", param(Bind::Int(id), &mut binds)));
                }
                if let Some(client) = &query.client {
                    conditions.push(format!("lower(j.client) = {}", param(Bind::Text(client.to_ascii_lowercase()), &mut binds)));
                }
                if let Some((low, high)) = query.status {
                    conditions.push(format!("j.status >= {}", param(Bind::Int(low.into()), &mut binds)));
                    conditions.push(format!("j.status <= {}", param(Bind::Int(high.into()), &mut binds)));
                }
                if let Some(since) = query.since {
                    conditions.push(format!("j.at >= {}", param(Bind::Int(since), &mut binds)));
                }
                if let Some(until) = query.until {
                    conditions.push(format!("j.at <= {}", param(Bind::Int(until), &mut binds)));
                }
                if let Some(before) = query.before_id {
                    conditions.push(format!("j.id < {}", param(Bind::Int(before), &mut binds)));
                }
                let condition = if conditions.is_empty() {
                    String::new()
                } else {
                    format!("WHERE {}", conditions.join(" AND "))
                };
                let limit = param(Bind::Int(query.limit.into()), &mut binds);
                let sql = format!(
                    "SELECT j.id, j.company_id, c.slug, j.at, j.request_id, j.method, j.path, j.client, \
                     j.user_agent, j.request_body, j.status, j.response_body, j.latency_micros, j.user_id, \
                     j.change, j.fault FROM journal j JOIN companies c ON c.id = j.company_id \
                     {condition} ORDER BY j.id DESC LIMIT {limit}"
                );
                let _scan = self.scans.start().await?;
                let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *self.reader.acquire().await?).await?;
                let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
                rows.iter()
                    .map(|row| {
                        let at: i64 = row.try_get(3)?;
                        let status: i32 = row.try_get(10)?;
                        let latency: i64 = row.try_get(12)?;
                        Ok(crate::journal::JournalEntry {
                            id: Some(row.try_get(0)?),
                            company_id: row.try_get(1)?,
                            company: row.try_get(2)?,
                            at,
                            request_id: row.try_get(4)?,
                            method: row.try_get(5)?,
                            path: row.try_get(6)?,
                            client: row.try_get(7)?,
                            user_agent: row.try_get(8)?,
                            request_body: row.try_get(9)?,
                            status: status as u16,
                            response_body: row.try_get(11)?,
                            latency_ms: latency as f64 / 1000.0,
                            user_id: row.try_get(13)?,
                            change: json(row.try_get(14)?),
                            fault: row.try_get(15)?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn prune_journal(&self, oldest: i64, max_per_company: i64) -> StoreResult<()> {
                // In batches, so the writer is never held for long (SQLite
                // has one; requests' writes wait behind it), with a pause
                // between them: a minute's deletes (~170k entries under
                // list pages) spread over a second or two instead of
                // taking a core at once.
                const BATCH: i64 = 1000;
                const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
                async fn in_batches<'e, E>(writer: E, condition: &str, binds: &[i64]) -> StoreResult<()>
                where
                    E: sqlx::Executor<'e, Database = $db> + Copy,
                {
                    let sql = format!(
                        "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE {condition} ORDER BY id LIMIT {BATCH})"
                    );
                    loop {
                        let mut query = sqlx::query(&sql);
                        for bind in binds {
                            query = query.bind(*bind);
                        }
                        let deleted = query
                            .execute(writer)
                            .await?
                            .rows_affected();
                        if deleted < BATCH as u64 {
                            return Ok(());
                        }
                        tokio::time::sleep(PAUSE).await;
                    }
                }
                in_batches(&self.journal_writer, "at < $1", &[oldest]).await?;
                let companies = sqlx::query("SELECT id FROM companies").fetch_all(&mut *self.reader.acquire().await?).await?;
                for row in companies {
                    let company_id: i64 = row.try_get(0)?;
                    let cut = sqlx::query(
                        "SELECT id FROM journal WHERE company_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
                    )
                    .bind(company_id)
                    .bind(max_per_company)
                    .fetch_optional(&mut *self.reader.acquire().await?)
                    .await?;
                    if let Some(cut) = cut {
                        let cut: i64 = cut.try_get(0)?;
                        in_batches(&self.journal_writer, "company_id = $1 AND id <= $2", &[company_id, cut]).await?;
                    }
                }
                Ok(())
            }

            async fn company_faults(&self, company_id: i64) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT plan FROM company_faults WHERE company_id = $1")
                    .bind(company_id)
                    .fetch_optional(&mut *self.reader.acquire().await?)
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn set_company_faults(&self, company_id: i64, plan: Option<&str>) -> StoreResult<()> {
                match plan {
                    Some(plan) => sqlx::query(
                        "INSERT INTO company_faults (company_id, plan) VALUES ($1, $2) \
                         ON CONFLICT (company_id) DO UPDATE SET plan = excluded.plan",
                    )
                    .bind(company_id)
                    .bind(plan),
                    None => sqlx::query("DELETE FROM company_faults WHERE company_id = $1").bind(company_id),
                }
                .execute(&mut *self.writer.acquire().await?)
                .await?;
                Ok(())
            }

            async fn reset_company(&self, company_id: i64) -> StoreResult<u64> {
                let mut writer = self.writer.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *writer).await?;
                sqlx::query("DELETE FROM journal WHERE company_id = $1")
                    .bind(company_id)
                    .execute(&mut *transaction)
                    .await?;
                let deleted = sqlx::query("DELETE FROM users WHERE company_id = $1")
                    .bind(company_id)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                transaction.commit().await?;
                Ok(deleted)
            }

            async fn import_users(&self, company_id: i64, users: &[UserData], now: i64) -> StoreResult<u64> {
                let mut writer = self.writer.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *writer).await?;
                // Value rows come with each user, by trigger.
                let inserted = $import_batch(&mut transaction, company_id, users, now).await?;
                transaction.commit().await?;
                Ok(inserted)
            }

            async fn create_user(&self, company_id: i64, data: &UserData) -> StoreResult<User> {
                let now = now_millis_as_micros();
                if let Some(inserts) = self.inserts() {
                    let user = crate::storage::inserts::NewUser { company_id, now, columns: user_data_row(data) };
                    return inserts.ask(user).await?.ok_or(StoreError::Conflict("userName"));
                }
                // One statement: the user and, by trigger, its value rows.
                let user = self
                    .write(WriteStatement {
                        sql: insert_user_sql(),
                        columns: user_data_row(data).into(),
                        ints: vec![company_id, now, now, 1],
                    })
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                Ok(user)
            }

            async fn get_user(&self, company_id: i64, id: i64) -> StoreResult<Option<User>> {
                self.read_user(&crate::storage::sql_store::SELECT_BY_ID, company_id, id).await
            }

            async fn modify_user<F>(&self, company_id: i64, id: i64, mut change: F) -> StoreResult<User>
            where
                F: FnMut(&User) -> StoreResult<Option<UserData>> + Send,
            {
                // Optimistic: read without holding the writer, write only if
                // the version is still the one read (one statement each).
                let select: &str = &crate::storage::sql_store::SELECT_BY_ID;
                for _ in 0..OPTIMISTIC_WRITES {
                    let current = self.read_user(select, company_id, id).await?.ok_or(StoreError::NotFound)?;
                    let Some(data) = change(&current)? else {
                        return Ok(current);
                    };
                    let (sql, columns) = update_user_statement(&current.data, &data);
                    let written = self
                        .write(WriteStatement {
                            sql,
                            columns,
                            ints: vec![now_millis_as_micros(), company_id, id, current.version],
                        })
                        .await?;
                    if let Some(user) = written {
                        return Ok(user);
                    }
                }
                // Contended: lock the row so writers queue and this one lands.
                let mut writer = self.writer.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *writer).await?;
                let locked = format!("{select}{}", $row_lock);
                let row = sqlx::query(&locked)
                    .bind(company_id)
                    .bind(id)
                    .fetch_optional(&mut *transaction)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let current = user_from_row(&row)?;
                let Some(data) = change(&current)? else {
                    return Ok(current);
                };
                let (update, values) = update_user_statement(&current.data, &data);
                let row = bind_columns!(sqlx::query(&update), values)
                    .bind(now_millis_as_micros())
                    .bind(company_id)
                    .bind(id)
                    .bind(current.version)
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(|e| conflict(e, "userName"))?;
                transaction.commit().await?;
                Ok(user_from_row(&row)?)
            }

            async fn delete_user(&self, company_id: i64, id: i64, version: Option<i64>) -> StoreResult<bool> {
                let (condition, ints) = match version {
                    None => ("", vec![company_id, id]),
                    Some(version) => (" AND version = $3", vec![company_id, id, version]),
                };
                let statement = WriteStatement {
                    sql: format!("DELETE FROM users WHERE company_id = $1 AND id = $2{condition} RETURNING {USER_COLUMNS}"),
                    columns: Vec::new(),
                    ints,
                };
                Ok(self.write(statement).await?.is_some())
            }

            async fn list_users(&self, company_id: i64, query: &UserQuery) -> StoreResult<UserPage> {
                // `userName eq "..."`: one user or none, read on this thread
                // or gathered where the store can.
                if let Some(name) = crate::storage::sql_filter::user_name_lookup(query)? {
                    // By the unique index of (company_id, user_name_lower),
                    // without building the list's statement and its count.
                    use crate::storage::inline_reads::Value;
                    let binds = [Value::Integer(company_id), Value::Text(name.clone())];
                    let found = match self.inline_user(&crate::storage::sql_store::SELECT_BY_USER_NAME, &binds) {
                        Some(user) => Some(user),
                        None => match self.lookups() {
                            Some(lookups) => Some(lookups.ask((company_id, Key::UserName(name))).await?),
                            None => None,
                        },
                    };
                    if let Some(user) = found {
                        return Ok(page_of(user.into_iter().collect(), query));
                    }
                }
                // `externalId eq "..."`: the few users that have it, read by
                // its index on this thread where the store can.
                if let Some(external_id) = crate::storage::sql_filter::external_id_lookup(query) {
                    use crate::storage::inline_reads::{InlineReads as _, Value};
                    let binds = [
                        Value::Integer(company_id),
                        Value::Text(external_id.to_owned()),
                        Value::Integer(EXTERNAL_ID_LIMIT),
                    ];
                    let users = self.inline_readers().and_then(|readers| readers.users(&SELECT_BY_EXTERNAL_ID, &binds));
                    if let Some(mut users) = users.filter(|users| users.len() <= EXTERNAL_ID_USERS) {
                        users.sort_unstable_by_key(|user| (user.created_at, user.id));
                        return Ok(page_of(users, query));
                    }
                }
                let statement = list_statement(query, $skip_by_key, $remember_keys, $data_version)?;
                // Scans take their turn (see `scans`) wherever they are read.
                let _scan = if statement.lookup {
                    None
                } else {
                    Some(self.scans.start().await?)
                };
                if let Some(page) = self.inline_page(company_id, &statement) {
                    return Ok(page);
                }
                let mut reader = self.reader.acquire().await?;
                let count = || bind_all(sqlx::query(&statement.count_sql).bind(company_id), &statement.count_binds);
                if query.count == 0 {
                    let total: i64 = count().fetch_one(&mut *reader).await?.try_get(0)?;
                    return Ok(UserPage { total: total as u64, users: Vec::new() });
                }
                // The company's number of users, if counted before (the page
                // counts again unless the database is at the same version).
                let remembered = if statement.versioned {
                    self.remembered_totals(&mut reader, |totals| totals.get(company_id))
                } else {
                    None
                };
                let version = remembered.as_ref().map(|counted| counted.data_version.as_str());
                let page = |sql, offset| {
                    let mut page = sqlx::query(sql).bind(company_id);
                    if statement.versioned {
                        page = page.bind(version);
                    }
                    let page = bind_all(page, &statement.count_binds);
                    bind_all(page, &statement.page_binds).bind(statement.limit).bind(offset)
                };
                // A deep page from a remembered key (see `anchors`), if still
                // at its version.
                let start = self.remembered_totals(&mut reader, |totals| {
                    statement.start_after(company_id, totals, remembered.as_ref())
                });
                // The version rows were read at, if the list is versioned.
                let version_of = |rows: &[DbRow]| match (rows.first(), statement.versioned) {
                    (Some(first), true) => first.try_get::<String, _>("data_version").map(Some),
                    _ => Ok(None),
                };
                let mut read = None;
                if let (Some((offset, key)), Some(sql)) = (&start, &statement.anchored_sql) {
                    let rows = bind_all(page(sql, *offset), key).fetch_all(&mut *reader).await?;
                    let read_at = version_of(&rows)?;
                    if read_at.is_some() && read_at.as_deref() == version {
                        read = Some((rows, read_at));
                    }
                }
                statement.count_deep_page(read.is_some());
                let (rows, read_at) = match read {
                    Some(read) => read,
                    None => {
                        let rows = page(&statement.page_sql, statement.offset).fetch_all(&mut *reader).await?;
                        let read_at = version_of(&rows)?;
                        (rows, read_at)
                    }
                };
                if let (Some(data_version), Some(last), true) = (&read_at, rows.last(), statement.anchored_sql.is_some()) {
                    let key = statement.key_texts.iter().enumerate().map(|(i, text)| {
                        let column = format!("key_{}", i + 1);
                        Ok(match text {
                            true => Bind::Text(last.try_get(column.as_str())?),
                            false => Bind::Int(last.try_get(column.as_str())?),
                        })
                    }).collect::<Result<Vec<_>, sqlx::Error>>()?;
                    self.remembered_totals(&mut reader, |totals| {
                        statement.remember_last(company_id, totals, data_version, rows.len(), key)
                    });
                }
                let first_total = rows
                    .first()
                    .map(|row| row.try_get::<Option<i64>, _>("total_results"))
                    .transpose()?;
                if let (Some(Some(total)), Some(data_version)) = (first_total, read_at) {
                    let counted = Counted { data_version, users: total as u64 };
                    self.remembered_totals(&mut reader, |totals| totals.remember(company_id, counted));
                }
                let total = match statement.total(first_total, remembered.map(|counted| counted.users)) {
                    Some(total) => total,
                    None => count().fetch_one(&mut *reader).await?.try_get::<i64, _>(0)? as u64,
                };
                Ok(UserPage {
                    total,
                    users: rows.iter().map(user_from_row).collect::<Result<_, _>>()?,
                })
            }

            async fn refresh_statistics(&self) -> StoreResult<()> {
                for statement in $analyze {
                    sqlx::query(statement).execute(&mut *self.writer.acquire().await?).await?;
                }
                Ok(())
            }

            async fn explain_users(&self, company_id: i64, query: &UserQuery, prefer_indexes: bool) -> StoreResult<crate::storage::QueryPlan> {
                // What `list_users` runs instead of a page for `userName eq`:
                // gathered lookups, or a read of one user on the request's thread.
                if let Some(name) = crate::storage::sql_filter::user_name_lookup(query)? {
                    if let Some(plan) = self.explain_lookup(company_id, name.clone()).await {
                        return plan;
                    }
                    if crate::storage::inline_reads::InlineReads::inline_readers(self).is_some() {
                        return self.explain_inline(&SELECT_BY_USER_NAME, company_id, &[Bind::Text(name)]).await;
                    }
                }
                // And for `externalId eq`, where it reads them on the request's thread.
                if let Some(external_id) = crate::storage::sql_filter::external_id_lookup(query) {
                    if crate::storage::inline_reads::InlineReads::inline_readers(self).is_some() {
                        let binds = [Bind::Text(external_id.to_owned()), Bind::Int(EXTERNAL_ID_LIMIT)];
                        return self.explain_inline(&SELECT_BY_EXTERNAL_ID, company_id, &binds).await;
                    }
                }
                let statement = list_statement(query, $skip_by_key, $remember_keys, $data_version)?;
                let explain = format!("{} {}", $explain, statement.page_sql);
                let mut reader = self.reader.acquire().await?;
                let mut transaction = sqlx::Connection::begin(&mut *reader).await?;
                if prefer_indexes && !$prefer_indexes.is_empty() {
                    sqlx::query($prefer_indexes).execute(&mut *transaction).await?;
                }
                let mut page = sqlx::query(&explain).bind(company_id);
                if statement.versioned {
                    page = page.bind(None::<String>);
                }
                let rows = bind_all(bind_all(page, &statement.count_binds), &statement.page_binds)
                    .bind(statement.limit)
                    .bind(statement.offset)
                    .fetch_all(&mut *transaction)
                    .await?;
                transaction.rollback().await?;
                let mut binds = vec![company_id.to_string()];
                if statement.versioned {
                    binds.push("NULL".to_string());
                }
                binds.extend(statement.count_binds.iter().chain(&statement.page_binds).map(|b| format!("{b:?}")));
                binds.push(statement.limit.to_string());
                binds.push(statement.offset.to_string());
                Ok(crate::storage::QueryPlan {
                    lookup: statement.lookup,
                    gathered: false,
                    sql: statement.page_sql,
                    binds,
                    plan: rows.iter().map(|row| row.try_get::<String, _>($plan_column)).collect::<Result<_, _>>()?,
                })
            }
        }

    };
}

pub(super) use bind_columns;
pub(super) use bind_user_data;
pub(super) use impl_sql_store;
