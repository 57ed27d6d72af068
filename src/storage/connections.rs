//! SQLite connections of one kind (the writer, or the readers), each taken
//! by one caller at a time. sqlx's pool would do the same, but it pings every
//! connection handed back, through the connection's thread, before anyone
//! may have it again: with one writer that round trip is in every write's
//! turn (POST ~2,400 req/s with it, ~3,000 without), and for reads it costs
//! CPU (GET by id ~15% slower). The ping would find a connection whose
//! thread has stopped; here each connection is checked at most once a
//! second and opened again. A statement or transaction cut short by a
//! dropped request needs no check: sqlx's SQLite worker finishes or rolls it
//! back before the next command.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection as _};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::totals::Totals;

/// How long a connection goes unchecked while it is in use.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Connections {
    options: SqliteConnectOptions,
    /// The journal file, attached as `journal` on every connection.
    journal_file: PathBuf,
    size: u32,
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    connection: SqliteConnection,
    checked: Instant,
    totals: Totals,
}

impl Connections {
    /// Up to `size` connections, opened as needed; the first one now.
    pub(super) async fn open(
        options: SqliteConnectOptions,
        journal_file: PathBuf,
        size: u32,
    ) -> Result<Self, sqlx::Error> {
        let connections = Connections {
            options,
            journal_file,
            size,
            permits: Semaphore::new(size as usize),
            idle: Mutex::new(Vec::new()),
        };
        drop(connections.acquire().await?);
        Ok(connections)
    }

    /// A connection, once one is free (callers are served in turn).
    pub(super) async fn acquire(&self) -> Result<Connection<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle().pop();
        let idle = match idle {
            Some(mut idle) if idle.checked.elapsed() >= CHECK_INTERVAL => {
                if let Err(error) = idle.connection.ping().await {
                    tracing::warn!(%error, "a SQLite connection stopped; opening it again");
                    idle.connection = self.connect().await?;
                    idle.totals.clear();
                }
                idle.checked = Instant::now();
                idle
            }
            Some(idle) => idle,
            None => Idle {
                connection: self.connect().await?,
                checked: Instant::now(),
                totals: Totals::default(),
            },
        };
        Ok(Connection {
            connections: self,
            idle: Some(idle),
            _permit: permit,
        })
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
    pub(super) async fn connect(&self) -> Result<SqliteConnection, sqlx::Error> {
        let mut connection = self.options.connect().await?;
        super::sqlite::attach_journal(&mut connection, &self.journal_file).await?;
        Ok(connection)
    }

    /// Waits for every connection to be handed back and closes them; later
    /// callers get an error.
    pub(super) async fn close(&self) {
        if let Ok(all) = self.permits.acquire_many(self.size).await {
            self.permits.close();
            drop(all);
        }
        let idle = std::mem::take(&mut *self.idle());
        for idle in idle {
            if let Err(error) = idle.connection.close().await {
                tracing::warn!(%error, "closing a SQLite connection");
            }
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection taken from [`Connections`]; handed back when dropped.
pub(super) struct Connection<'a> {
    connections: &'a Connections,
    idle: Option<Idle>,
    _permit: SemaphorePermit<'a>,
}

impl Connection<'_> {
    /// The totals this connection counted (see `totals`).
    pub(super) fn totals(&mut self) -> &mut Totals {
        &mut self.idle.as_mut().expect("held until dropped").totals
    }
}

impl Deref for Connection<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.idle.as_ref().expect("held until dropped").connection
    }
}

impl DerefMut for Connection<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.idle.as_mut().expect("held until dropped").connection
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        if let Some(idle) = self.idle.take() {
            self.connections.idle().push(idle);
        }
    }
}
