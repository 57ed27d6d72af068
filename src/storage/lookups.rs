//! PostgreSQL's point reads of users, gathered: a user asked for by id or by
//! userName (a GET, a PATCH's read, a `userName eq` filter) while a
//! statement of such reads is on its way waits for it to come back, then
//! goes with every other one asked for meanwhile, in one statement
//! (`id = ANY($2)`). PostgreSQL serves a statement of eight lookups at about
//! the cost of one (pgbench, 10k users, 16 clients: 25k statements of one
//! row a second, 19k of eight), and our server sends one message instead of
//! eight. A read alone goes at once.
//!
//! A/B against reads each on a connection of its own (10k users, 16 wrk
//! connections, medians of 3 rounds): GET by id 11.2k -> 13.2k req/s,
//! filter by userName 8.5k -> 12.3k, PATCH 4.4k -> 5.3k; our CPU per GET
//! 75 -> 58 us. One statement at a time did best: two gave ~10% less, four
//! less again.
//!
//! Each read still starts after it was asked for: it sees every write
//! answered before it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use sqlx::postgres::{PgConnectOptions, PgRow};
use tokio::sync::oneshot;

use super::connections::Connections;
use super::sql_store::USER_COLUMNS;
use super::user_row::user_from_row;
use crate::teamtailor::User;

/// Statements of gathered reads on their way at once (see above).
const RUNNING: usize = 1;

/// Reads gathered into one statement at most.
const BATCH: usize = 64;

/// What a user is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Id(i64),
    /// Lower-cased, as `user_name_lower` holds it.
    UserName(String),
}

/// An answer that did not come: the pool's own errors are passed on as
/// they are; after any other the reader asks again alone, for an error of
/// its own (sqlx's errors cannot be copied).
type Answer = Result<Option<User>, Option<sqlx::Error>>;

struct Asked {
    company_id: i64,
    key: Key,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Queue {
    asked: Vec<Asked>,
    running: usize,
}

pub(super) struct Lookups {
    connections: Arc<Connections<PgConnectOptions>>,
    queue: Mutex<Queue>,
}

impl Lookups {
    pub(super) fn new(connections: Arc<Connections<PgConnectOptions>>) -> Arc<Lookups> {
        Arc::new(Lookups {
            connections,
            queue: Mutex::default(),
        })
    }

    /// The company's user with this key, if there is one.
    pub(super) async fn user(
        self: &Arc<Self>,
        company_id: i64,
        key: Key,
    ) -> Result<Option<User>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.asked.push(Asked {
                company_id,
                key: key.clone(),
                reply,
            });
            let start = queue.running < RUNNING;
            queue.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(self.clone().run());
        }
        match answer.await {
            Ok(Ok(user)) => Ok(user),
            Ok(Err(Some(error))) => Err(error),
            // The gathered statement failed (or its task ended): alone.
            Ok(Err(None)) | Err(_) => {
                let mut connection = self.connections.acquire().await?;
                let rows = fetch(&mut connection, company_id, &[&key]).await?;
                rows.iter().map(user_from_row).next().transpose()
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers what was asked until nothing is left; `running` counts this
    /// task until then (under the lock that asking takes, so nothing asked
    /// is left without a task to answer it).
    async fn run(self: Arc<Self>) {
        let mut running = Running(&self, true);
        loop {
            let mut batch = {
                let mut queue = self.lock();
                if queue.asked.is_empty() {
                    queue.running -= 1;
                    running.1 = false;
                    return;
                }
                let n = queue.asked.len().min(BATCH);
                queue.asked.drain(..n).collect::<Vec<_>>()
            };
            batch.sort_by_key(|asked| (asked.company_id, matches!(asked.key, Key::UserName(_))));
            if let Err(error) = self.answer(&mut batch).await {
                if super::connection_lost(&error) {
                    self.connections.check_all();
                }
                for asked in batch {
                    let _ = asked.reply.send(Err(pool_error(&error)));
                }
            }
        }
    }

    /// Answers `batch`, one statement per company and kind of key; on an
    /// error, what is left of `batch` is unanswered.
    async fn answer(&self, batch: &mut Vec<Asked>) -> Result<(), sqlx::Error> {
        let mut connection = self.connections.acquire().await?;
        while let Some(first) = batch.first() {
            let (company_id, by_id) = (first.company_id, matches!(first.key, Key::Id(_)));
            let n = batch
                .iter()
                .take_while(|a| a.company_id == company_id && matches!(a.key, Key::Id(_)) == by_id)
                .count();
            let keys: Vec<&Key> = batch[..n].iter().map(|asked| &asked.key).collect();
            let rows = fetch(&mut connection, company_id, &keys).await?;
            let mut found = HashMap::with_capacity(rows.len());
            for row in &rows {
                let user = user_from_row(row)?;
                let key = match by_id {
                    true => Key::Id(user.id),
                    false => Key::UserName(user.data.attributes.user_name.to_lowercase()),
                };
                found.insert(key, user);
            }
            for asked in batch.drain(..n) {
                let _ = asked.reply.send(Ok(found.get(&asked.key).cloned()));
            }
        }
        Ok(())
    }
}

/// Counts a task in `running` until it says it is done, or ends otherwise
/// (a panic), so that the next read asked for starts another.
struct Running<'a>(&'a Lookups, bool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.lock().running -= 1;
        }
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

/// The pool's errors, which every reader of a batch would have met too.
fn pool_error(error: &sqlx::Error) -> Option<sqlx::Error> {
    match error {
        sqlx::Error::PoolTimedOut => Some(sqlx::Error::PoolTimedOut),
        sqlx::Error::PoolClosed => Some(sqlx::Error::PoolClosed),
        _ => None,
    }
}

static BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 AND id = ANY($2)")
});

static BY_USER_NAME: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 AND user_name_lower = ANY($2)")
});

/// Where a store gathers point reads (PostgreSQL).
pub(super) trait GatheredReads {
    fn lookups(&self) -> Option<&Arc<Lookups>>;
}
