//! New users, gathered (see `gather`): one `INSERT` of many rows, each
//! user's value rows written by the statement's trigger, all committed
//! together. A userName already taken (in the table, or earlier in the same
//! statement) inserts nothing for that row (`ON CONFLICT DO NOTHING`): its
//! asker is answered 409, the others are created. A statement that failed
//! is made again row by row, each for an answer of its own, unless its
//! connection was lost: it may have committed, and its askers are answered
//! 503 as a single insert's would be.

use std::collections::HashMap;

use sqlx::postgres::PgConnectOptions;

use super::connections::Connections;
use super::gather::{Asked, Job};
use super::sql_store::{bind_column_values, insert_users_sql, ColumnValue, USER_COLUMNS};
use super::user_row::user_from_row;
use crate::teamtailor::User;

/// A user to create: its columns (`user_data_row`), company and time.
pub(super) struct NewUser {
    pub(super) company_id: i64,
    pub(super) now: i64,
    pub(super) columns: [ColumnValue; 31],
}

impl NewUser {
    fn user_name_lower(&self) -> Option<&str> {
        match &self.columns[1] {
            ColumnValue::Text(name) => name.as_deref(),
            ColumnValue::Bool(_) => None,
        }
    }
}

pub(super) struct Inserts;

impl Job for Inserts {
    type Ask = NewUser;
    /// The user created, or none if its userName is taken.
    type Done = Option<User>;

    const KIND: &'static str = "create";
    const RUNNING: usize = 2;
    /// 35 parameters a row, of PostgreSQL's 65,535.
    const BATCH: usize = 64;
    const REPEATABLE: bool = false;
    /// Lingering measured no better for creates (A/B 4 rounds: 2,892 ->
    /// 2,766 POST/s).
    const LINGER: bool = false;

    async fn answer(
        &self,
        connections: &Connections<PgConnectOptions>,
        batch: &mut Vec<Asked<Self>>,
    ) -> Result<(), sqlx::Error> {
        let asks: Vec<&NewUser> = batch.iter().map(|asked| &asked.ask).collect();
        let rows = insert(connections, &asks).await?;
        // Rows by company and userName; the first to ask for a name in the
        // statement is the one it was inserted for.
        let mut created = HashMap::with_capacity(rows.len());
        for user in rows {
            let key = (
                user.company_id,
                user.data.attributes.user_name.to_lowercase(),
            );
            created.insert(key, user);
        }
        for asked in batch.drain(..) {
            let key = (asked.ask.company_id, asked.ask.user_name_lower());
            let user = key
                .1
                .and_then(|name| created.remove(&(key.0, name.to_string())));
            asked.answer(user);
        }
        Ok(())
    }

    async fn alone(
        &self,
        connections: &Connections<PgConnectOptions>,
        ask: NewUser,
    ) -> Result<Option<User>, sqlx::Error> {
        Ok(insert(connections, &[&ask]).await?.into_iter().next())
    }
}

async fn insert(
    connections: &Connections<PgConnectOptions>,
    asks: &[&NewUser],
) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!(
        "{} ON CONFLICT (company_id, user_name_lower) DO NOTHING RETURNING {USER_COLUMNS}",
        insert_users_sql(asks.len())
    );
    let mut query = sqlx::query(&sql);
    for ask in asks {
        query = bind_column_values(query, &ask.columns)
            .bind(ask.company_id)
            .bind(ask.now)
            .bind(ask.now)
            .bind(1_i64);
    }
    let mut connection = connections.acquire().await?;
    let rows = query.fetch_all(&mut *connection).await?;
    rows.iter().map(user_from_row).collect()
}
