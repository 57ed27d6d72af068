//! SQLite WAL checkpoints off the write path. Left to the writer, every
//! thousandth page logged makes one write copy the log into the database
//! and sync both files while all other writes queue behind it: POST p99
//! 55-78 ms, against 13-15 ms here. A connection of its own copies the log
//! beside the writer. Once the log is long, the writer connection itself
//! restarts it, in its turn between writes: that copies the little left and
//! waits briefly for readers of the log; when readers are long, it tries
//! again later, meanwhile the log grows.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use tokio::time::Instant;

use super::background::Background;
use super::connections::Connections;
use super::sqlite::SqliteFile;
use super::StoreResult;

/// How often the log is copied into the database.
const INTERVAL: Duration = Duration::from_millis(25);

/// Log pages (4 KiB each) after which the log starts again from the top,
/// which bounds its file at about this size while writes go on. A restart
/// holds writes while it waits for readers (often its whole wait under
/// load): at 4,000 pages a PATCH load restarted the log 3 times a second,
/// each holding writes 8 ms on average; at 8,000 PATCH and POST p99 fell.
const RESTART_PAGES: i64 = 8000;

/// The longest a restart holds writes waiting for readers of the log.
const RESTART_WAIT_MS: u64 = 10;

/// After a restart that readers kept from finishing, the next attempt.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// How long each copy of the log took, by `file` (`database`, `journal`):
/// it syncs the file, so a disk that stalls shows here first.
pub const CHECKPOINT_SECONDS: &str = "sqlite_checkpoint_duration_seconds";

/// How long each restart of the log held writes, by `file` and `outcome`
/// (`restarted`, `readers_busy`: readers kept it from finishing, `failed`).
pub const RESTART_SECONDS: &str = "sqlite_log_restart_duration_seconds";

/// The connection that writes the file: the database's, or the journal
/// file's (a pool of one: its writes come in batches, so the pool's round
/// trip on release costs little there).
pub(super) enum FileWriter {
    Database(Arc<Connections<SqliteFile>>),
    Journal(SqlitePool),
}

/// The running checkpointer; stops when dropped with its store (and its
/// writer, which a restart cut short could leave with the short wait), or
/// with [`Checkpointer::stop`].
pub(super) struct Checkpointer {
    task: Background,
    pool: SqlitePool,
}

impl Checkpointer {
    /// Starts checkpointing the database of `options`, whose `writer` runs
    /// with `wal_autocheckpoint = 0` and waits `busy_timeout` for locks.
    pub(super) async fn start(
        options: SqliteConnectOptions,
        writer: FileWriter,
        busy_timeout: Duration,
    ) -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let checkpoints = pool.clone();
        let file = match writer {
            FileWriter::Database(_) => "database",
            FileWriter::Journal(_) => "journal",
        };
        let task = Background::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_restart = Instant::now();
            loop {
                tick.tick().await;
                let started = Instant::now();
                let checkpointed = checkpoint(&checkpoints).await;
                metrics::histogram!(CHECKPOINT_SECONDS, "file" => file)
                    .record(started.elapsed().as_secs_f64());
                let restarted = match checkpointed {
                    Ok(pages) if pages >= RESTART_PAGES && Instant::now() >= next_restart => {
                        let started = Instant::now();
                        let restarted = restart(&writer, busy_timeout).await;
                        let outcome = match restarted {
                            Ok(true) => "restarted",
                            Ok(false) => "readers_busy",
                            Err(_) => "failed",
                        };
                        metrics::histogram!(RESTART_SECONDS, "file" => file, "outcome" => outcome)
                            .record(started.elapsed().as_secs_f64());
                        restarted
                    }
                    Ok(_) => Ok(true),
                    Err(error) => Err(error),
                };
                match restarted {
                    Ok(true) => {}
                    Ok(false) => next_restart = Instant::now() + RESTART_BACKOFF,
                    Err(error) => tracing::warn!(%error, "WAL checkpoint failed; retrying"),
                }
            }
        });
        Ok(Checkpointer { task, pool })
    }

    /// Stops checkpointing and closes the checkpointer's connection.
    pub(super) async fn stop(&self) {
        self.task.stop().await;
        self.pool.close().await;
    }
}

/// Copies what readers no longer need; the pages in the log.
async fn checkpoint(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    let (_, pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(pages)
}

/// Restarts the log on the writer connection, waiting at most
/// [`RESTART_WAIT_MS`] for readers. False when readers kept it from that.
async fn restart(writer: &FileWriter, busy_timeout: Duration) -> Result<bool, sqlx::Error> {
    // Never write with the short wait: a new connection gets the usual.
    let (restarted, reset) = match writer {
        FileWriter::Database(writer) => {
            let mut connection = writer.acquire().await?;
            let (restarted, reset) = restart_on(&mut connection, busy_timeout).await;
            if reset.is_err() {
                *connection = writer.connect().await?;
            }
            (restarted, reset)
        }
        FileWriter::Journal(pool) => {
            let mut connection = pool.acquire().await?;
            let (restarted, reset) = restart_on(&mut connection, busy_timeout).await;
            if reset.is_err() {
                connection.close_on_drop();
            }
            (restarted, reset)
        }
    };
    let busy = restarted?;
    reset?;
    Ok(busy == 0)
}

/// The restart's busy flag, and whether the usual wait is back in place.
async fn restart_on(
    connection: &mut SqliteConnection,
    busy_timeout: Duration,
) -> (Result<i64, sqlx::Error>, Result<(), sqlx::Error>) {
    let wait = |ms: u128| format!("PRAGMA busy_timeout = {ms}");
    if let Err(error) = sqlx::query(&wait(RESTART_WAIT_MS.into()))
        .execute(&mut *connection)
        .await
    {
        return (Err(error), Ok(()));
    }
    let restarted = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *connection)
        .await
        .map(|(busy, _, _)| busy);
    let reset = sqlx::query(&wait(busy_timeout.as_millis()))
        .execute(&mut *connection)
        .await
        .map(|_| ());
    (restarted, reset)
}
