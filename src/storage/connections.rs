//! Connections of one kind (SQLite's writer or its readers, PostgreSQL's),
//! each taken by one caller at a time. sqlx's pool would do the same, but it
//! pings every connection handed back before anyone may have it again: a
//! round trip in every request's turn. On SQLite, through the connection's
//! thread and, with one writer, in every write's turn (POST ~2,400 req/s
//! with it, ~3,000 without; GET by id ~15% slower); on PostgreSQL, a message
//! each way after every statement (GET by id 8-30% slower with it, by four
//! A/B runs). The ping would find a connection that broke; here each is
//! checked at most once a second, or at once after its store saw a
//! connection lost ([`Connections::check_all`]), and opened again.
//!
//! A statement cut short by a dropped request needs no check: sqlx reads
//! what is left of its answer before the connection's next command, and
//! SQLite's worker rolls back a transaction left open. A PostgreSQL
//! transaction left open queues its `ROLLBACK` unsent: that connection is
//! flushed before it is handed out again, so that its locks are let go now
//! rather than by its next caller.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::Connection as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::totals::Totals;

/// How long a connection goes unchecked while it is in use.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How a store opens one more connection of a kind.
pub(super) trait Open: Send + Sync + 'static {
    type Connection: sqlx::Connection;

    fn open(&self) -> impl Future<Output = Result<Self::Connection, sqlx::Error>> + Send;
}

pub(super) struct Connections<O: Open> {
    opener: O,
    size: u32,
    /// How long a caller waits for a connection before its request fails
    /// (no limit if `None`).
    wait: Option<Duration>,
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Idle<O::Connection>>>>,
    /// Moved by `check_all`: a connection last checked at an older value is
    /// checked before its next use.
    generation: AtomicU64,
}

struct Idle<C> {
    connection: C,
    checked: Instant,
    generation: u64,
    totals: Totals,
}

impl<O: Open> Connections<O> {
    /// Up to `size` connections, opened as needed; the first one now.
    pub(super) async fn open(
        opener: O,
        size: u32,
        wait: Option<Duration>,
    ) -> Result<Self, sqlx::Error> {
        let connections = Connections {
            opener,
            size,
            wait,
            permits: Arc::new(Semaphore::new(size as usize)),
            idle: Arc::default(),
            generation: AtomicU64::new(0),
        };
        drop(connections.acquire().await?);
        Ok(connections)
    }

    /// A connection, once one is free (callers are served in turn).
    pub(super) async fn acquire(&self) -> Result<Connection<'_, O>, sqlx::Error> {
        match self.wait {
            Some(limit) => tokio::time::timeout(limit, self.take())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?,
            None => self.take().await,
        }
    }

    async fn take(&self) -> Result<Connection<'_, O>, sqlx::Error> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let generation = self.generation.load(Ordering::Relaxed);
        let idle = lock(&self.idle).pop();
        let idle = match idle {
            Some(mut idle)
                if idle.generation != generation || idle.checked.elapsed() >= CHECK_INTERVAL =>
            {
                if let Err(error) = idle.connection.ping().await {
                    tracing::warn!(%error, "a database connection stopped; opening it again");
                    idle.connection = self.connect().await?;
                    idle.totals.clear();
                }
                idle.checked = Instant::now();
                idle.generation = generation;
                idle
            }
            Some(idle) => idle,
            None => Idle {
                connection: self.connect().await?,
                checked: Instant::now(),
                generation,
                totals: Totals::default(),
            },
        };
        Ok(Connection {
            connections: self,
            idle: Some(idle),
            permit: Some(permit),
        })
    }

    /// Every connection is checked before its next use: one was found
    /// lost (the server restarted or ended it), and others likely were too.
    pub(super) fn check_all(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection's turn without the connection, once one is free: for
    /// a write through another driver.
    pub(super) async fn hold(&self) -> Result<SemaphorePermit<'_>, sqlx::Error> {
        self.permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)
    }

    /// A new connection like the others, e.g. to put in one's place.
    pub(super) async fn connect(&self) -> Result<O::Connection, sqlx::Error> {
        self.opener.open().await
    }

    /// Waits for every connection to be handed back and closes them; later
    /// callers get an error.
    pub(super) async fn close(&self) {
        if let Ok(all) = self.permits.acquire_many(self.size).await {
            self.permits.close();
            drop(all);
        }
        let idle = std::mem::take(&mut *lock(&self.idle));
        for idle in idle {
            if let Err(error) = idle.connection.close().await {
                tracing::warn!(%error, "closing a database connection");
            }
        }
    }
}

fn lock<C>(idle: &Mutex<Vec<Idle<C>>>) -> std::sync::MutexGuard<'_, Vec<Idle<C>>> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection taken from [`Connections`]; handed back when dropped.
pub(super) struct Connection<'a, O: Open> {
    connections: &'a Connections<O>,
    idle: Option<Idle<O::Connection>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl<O: Open> Connection<'_, O> {
    /// The totals this connection counted (see `totals`).
    pub(super) fn totals(&mut self) -> &mut Totals {
        &mut self.idle.as_mut().expect("held until dropped").totals
    }
}

impl<O: Open> Deref for Connection<'_, O> {
    type Target = O::Connection;

    fn deref(&self) -> &O::Connection {
        &self.idle.as_ref().expect("held until dropped").connection
    }
}

impl<O: Open> DerefMut for Connection<'_, O> {
    fn deref_mut(&mut self) -> &mut O::Connection {
        &mut self.idle.as_mut().expect("held until dropped").connection
    }
}

impl<O: Open> Drop for Connection<'_, O> {
    fn drop(&mut self) {
        let Some(mut idle) = self.idle.take() else {
            return;
        };
        if !idle.connection.should_flush() {
            lock(&self.connections.idle).push(idle);
            return;
        }
        // Commands queued and unsent (a dropped transaction's rollback):
        // sent now, the connection's turn held until they are answered.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.connections.idle.clone();
        let permit = self.permit.take();
        runtime.spawn(async move {
            match idle.connection.ping().await {
                Ok(()) => {
                    idle.checked = Instant::now();
                    lock(&pool).push(idle);
                }
                Err(error) => tracing::warn!(%error, "a database connection broke; closing it"),
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{Connection as _, Row};

    use super::Connections;

    /// PostgreSQL's admin database, as the API tests reach it; `None` (a
    /// skip) outside CI when nothing answers there.
    async fn postgres() -> Option<String> {
        let url = std::env::var("TEAMTAILOR_SCIM_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match PgConnection::connect(&url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                Some(url)
            }
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL is required in CI but {url} is unreachable: {error}")
            }
            Err(_) => None,
        }
    }

    /// A transaction dropped unfinished (its request cut short) lets go of
    /// its locks with no one taking its connection again.
    #[tokio::test]
    async fn a_dropped_transaction_lets_go_of_its_locks_at_once() {
        let Some(url) = postgres().await else {
            return;
        };
        let key = i64::from(std::process::id()) << 20 | 0x5c1;
        let options = PgConnectOptions::from_str(&url).unwrap();
        let connections = Connections::open(options, 2, None).await.unwrap();
        {
            let mut connection = connections.acquire().await.unwrap();
            let mut transaction = connection.begin().await.unwrap();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *transaction)
                .await
                .unwrap();
        }
        let mut other = PgConnection::connect(&url).await.unwrap();
        let mut taken = false;
        for _ in 0..100 {
            taken = sqlx::query("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut other)
                .await
                .unwrap()
                .get(0);
            if taken {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(taken, "the lock is still held by the idle connection");
        // The connection went back and serves the next caller.
        let mut again = connections.acquire().await.unwrap();
        let one: i32 = sqlx::query("SELECT 1")
            .fetch_one(&mut *again)
            .await
            .unwrap()
            .get(0);
        assert_eq!(one, 1);
        drop(again);
        connections.close().await;
    }
}
