//! Users looked up by id or by userName (a GET, a PATCH's read, a
//! `userName eq` filter), gathered (see `gather`): one statement per
//! company and kind of key, `id = ANY(...)` of the keys. PostgreSQL serves
//! a statement of eight lookups at about the cost of one (pgbench, 10k
//! users, 16 clients: 25k statements of one row a second, 19k of eight).
//!
//! A/B against reads each on a connection of its own (10k users, 16 wrk
//! connections, medians of 3 rounds): GET by id 11.2k -> 13.2k req/s,
//! filter by userName 8.5k -> 12.3k, PATCH 4.4k -> 5.3k; our CPU per GET
//! 75 -> 58 us. One statement at a time did best: two gave ~10% less, four
//! less again.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::Row;

use super::connections::Connections;
use super::gather::{Asked, Job};
use super::sql_filter::Bind;
use super::sql_store::USER_COLUMNS;
use super::user_row::user_from_row;
use super::{QueryPlan, StoreResult};
use crate::teamtailor::User;

/// What a user is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Id(i64),
    /// Lower-cased, as `user_name_lower` holds it.
    UserName(String),
}

pub(super) struct Lookups;

impl Job for Lookups {
    /// The company, and the key within it.
    type Ask = (i64, Key);
    type Done = Option<User>;

    const KIND: &'static str = "lookup";
    const RUNNING: usize = 1;
    const BATCH: usize = 64;
    const REPEATABLE: bool = true;
    /// A/B (10k users, 16 clients, 7 rounds): GET by id 8,762 -> 9,441
    /// req/s, filter by userName 8,365 -> 8,814, our CPU per GET 124 -> 112
    /// us. Statements had gone ~3.9 lookups each, one every ~450 us: ~340
    /// in the statement, ~110 between statements (a task ending as nothing
    /// was asked, a new one spawned for the next ask).
    const LINGER: bool = true;

    async fn answer(
        &self,
        connections: &Connections<PgConnectOptions>,
        batch: &mut Vec<Asked<Self>>,
    ) -> Result<(), sqlx::Error> {
        let kind = |asked: &Asked<Self>| (asked.ask.0, matches!(asked.ask.1, Key::UserName(_)));
        batch.sort_by_key(kind);
        let mut connection = connections.acquire().await?;
        while let Some(first) = batch.first() {
            let group = kind(first);
            let n = batch.iter().take_while(|a| kind(a) == group).count();
            let keys: Vec<&Key> = batch[..n].iter().map(|asked| &asked.ask.1).collect();
            let rows = fetch(&mut connection, group.0, &keys).await?;
            let mut found = HashMap::with_capacity(rows.len());
            for row in &rows {
                let user = user_from_row(row)?;
                let key = match group.1 {
                    false => Key::Id(user.id),
                    true => Key::UserName(user.data.attributes.user_name.to_lowercase()),
                };
                found.insert(key, user);
            }
            for asked in batch.drain(..n) {
                let user = found.get(&asked.ask.1).cloned();
                asked.answer(user);
            }
        }
        Ok(())
    }

    async fn alone(
        &self,
        connections: &Connections<PgConnectOptions>,
        (company_id, key): (i64, Key),
    ) -> Result<Option<User>, sqlx::Error> {
        let mut connection = connections.acquire().await?;
        let rows = fetch(&mut connection, company_id, &[&key]).await?;
        rows.iter().map(user_from_row).next().transpose()
    }
}

/// `keys`, all of one kind, of one company.
async fn fetch(
    connection: &mut sqlx::PgConnection,
    company_id: i64,
    keys: &[&Key],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let query = match keys.first() {
        Some(Key::Id(_)) => sqlx::query(&BY_ID).bind(company_id).bind(
            keys.iter()
                .filter_map(|key| match key {
                    Key::Id(id) => Some(*id),
                    Key::UserName(_) => None,
                })
                .collect::<Vec<i64>>(),
        ),
        Some(Key::UserName(_)) => sqlx::query(&BY_USER_NAME).bind(company_id).bind(
            keys.iter()
                .filter_map(|key| match key {
                    Key::UserName(name) => Some(name.as_str()),
                    Key::Id(_) => None,
                })
                .collect::<Vec<&str>>(),
        ),
        None => return Ok(Vec::new()),
    };
    query.fetch_all(connection).await
}

/// `EXPLAIN` of the statement a `userName eq` lookup goes in, as if alone.
pub(super) async fn explain(
    connections: &Connections<PgConnectOptions>,
    company_id: i64,
    user_name: String,
) -> StoreResult<QueryPlan> {
    let mut connection = connections.acquire().await?;
    let rows = sqlx::query(&format!("EXPLAIN {}", *BY_USER_NAME))
        .bind(company_id)
        .bind(vec![user_name.as_str()])
        .fetch_all(&mut *connection)
        .await?;
    Ok(QueryPlan {
        sql: BY_USER_NAME.clone(),
        binds: vec![
            company_id.to_string(),
            format!("[{:?}]", Bind::Text(user_name)),
        ],
        plan: rows
            .iter()
            .map(|row| row.try_get::<String, _>("QUERY PLAN"))
            .collect::<Result<_, _>>()?,
        lookup: true,
        gathered: true,
    })
}

// The keys come through an InitPlan, `(SELECT $2)`, which the planner
// cannot see into: it costs a plan with the keys as it costs one without,
// so that after five executions PostgreSQL keeps the statement's generic
// plan. With `ANY($2)` it saw how few keys a batch holds, found each
// custom plan cheaper than the generic one (costed for ten), and planned
// the statement again on every execution: a fifth of PostgreSQL's CPU
// per GET by id.
static BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS} FROM users \
         WHERE company_id = $1 AND id = ANY((SELECT $2::bigint[])::bigint[])"
    )
});

static BY_USER_NAME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS} FROM users \
         WHERE company_id = $1 AND user_name_lower = ANY((SELECT $2::text[])::text[])"
    )
});
