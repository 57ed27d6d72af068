//! The one connection that writes a SQLite file, taken in turn. A pool of
//! one would do the same, but sqlx's pool pings every connection handed
//! back, through the connection's thread, before the next caller gets it:
//! a round trip in every write's turn (POST ~2,400 req/s with it, ~3,000
//! without). The ping would find a connection whose thread has stopped;
//! this checks for that at most once a second and opens the connection
//! again. A statement or transaction cut short by a dropped request needs no
//! check: sqlx's SQLite worker finishes or rolls it back before the next.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio::time::Instant;

/// How long a connection goes unchecked while it is in use.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Writer {
    options: SqliteConnectOptions,
    /// The journal file, attached as `journal` on every connection.
    journal_file: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// None once closed.
    connection: Option<SqliteConnection>,
    checked: Instant,
}

impl Writer {
    pub(super) async fn connect(
        options: SqliteConnectOptions,
        journal_file: PathBuf,
    ) -> Result<Self, sqlx::Error> {
        let connection = open(&options, &journal_file).await?;
        Ok(Writer {
            options,
            journal_file,
            state: Mutex::new(State {
                connection: Some(connection),
                checked: Instant::now(),
            }),
        })
    }

    /// The connection, once every earlier caller is done with it.
    pub(super) async fn acquire(
        &self,
    ) -> Result<MappedMutexGuard<'_, SqliteConnection>, sqlx::Error> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let Some(connection) = state.connection.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        if state.checked.elapsed() >= CHECK_INTERVAL {
            if let Err(error) = connection.ping().await {
                tracing::warn!(%error, "the SQLite writer connection stopped; opening it again");
                *connection = self.open().await?;
            }
            state.checked = Instant::now();
        }
        MutexGuard::try_map(guard, |state| state.connection.as_mut())
            .map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Closes the connection once the caller before is done; later callers
    /// get an error.
    pub(super) async fn close(&self) {
        let mut state = self.state.lock().await;
        if let Some(connection) = state.connection.take() {
            if let Err(error) = connection.close().await {
                tracing::warn!(%error, "closing the SQLite writer connection");
            }
        }
    }

    /// A new connection like the one this holds, to put in its place.
    pub(super) async fn open(&self) -> Result<SqliteConnection, sqlx::Error> {
        open(&self.options, &self.journal_file).await
    }
}

async fn open(
    options: &SqliteConnectOptions,
    journal_file: &std::path::Path,
) -> Result<SqliteConnection, sqlx::Error> {
    let mut connection = options.connect().await?;
    super::sqlite::attach_journal(&mut connection, journal_file).await?;
    Ok(connection)
}
