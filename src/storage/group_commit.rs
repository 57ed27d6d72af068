//! SQLite writes of one statement each (create, update and delete a user),
//! committed together. A task takes the statements queued meanwhile (up to
//! `MOST`) and runs them on the writer in one transaction: one commit, and
//! one write of each page they share, for many writes instead of one each.
//! Each caller gets its statement's outcome only once the transaction is
//! committed, so an acknowledged write is as durable as before.
//!
//! A statement that breaks a constraint (a taken userName) fails alone:
//! SQLite undoes just that statement and the transaction goes on. Any other
//! error may have ended the transaction, so it is rolled back and every
//! statement of the batch runs again on its own, each with its own outcome.

use std::sync::Arc;

use sqlx::error::ErrorKind;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use tokio::sync::{mpsc, oneshot};

use super::connections::Connections;
use super::sql_store::WriteStatement;

/// Statements per transaction at most.
const MOST: usize = 64;

type Outcome = Result<Option<SqliteRow>, sqlx::Error>;

struct Queued {
    statement: WriteStatement,
    done: oneshot::Sender<Outcome>,
}

pub(super) struct GroupCommit {
    queue: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the task that writes through `writer`'s connection.
    pub(super) fn start(writer: Arc<Connections>) -> Self {
        let (queue, received) = mpsc::channel(4 * MOST);
        tokio::spawn(write_batches(writer, received));
        GroupCommit { queue }
    }

    /// Runs `statement` in the next transaction; its row (`RETURNING`), if
    /// any, once that is committed.
    pub(super) async fn write(&self, statement: WriteStatement) -> Outcome {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Queued { statement, done })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        outcome.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn write_batches(writer: Arc<Connections>, mut received: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MOST);
    while received.recv_many(&mut batch, MOST).await > 0 {
        let outcomes = match writer.acquire().await {
            Ok(mut connection) => write_batch(&mut connection, &batch).await,
            // Closed: the store is shutting down.
            Err(_) => batch.iter().map(|_| Err(sqlx::Error::PoolClosed)).collect(),
        };
        for (queued, outcome) in batch.drain(..).zip(outcomes) {
            let _ = queued.done.send(outcome);
        }
    }
}

async fn write_batch(connection: &mut SqliteConnection, batch: &[Queued]) -> Vec<Outcome> {
    if batch.len() > 1 {
        if let Some(outcomes) = in_one_transaction(connection, batch).await {
            return outcomes;
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for queued in batch {
        outcomes.push(run(connection, &queued.statement).await);
    }
    outcomes
}

/// The batch's outcomes if it committed as one transaction; else nothing
/// of it is written.
async fn in_one_transaction(
    connection: &mut SqliteConnection,
    batch: &[Queued],
) -> Option<Vec<Outcome>> {
    sqlx::query("BEGIN").execute(&mut *connection).await.ok()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for queued in batch {
        let outcome = run(connection, &queued.statement).await;
        if let Err(error) = &outcome {
            if !breaks_a_constraint(error) {
                rollback(connection).await;
                return None;
            }
        }
        outcomes.push(outcome);
    }
    match sqlx::query("COMMIT").execute(&mut *connection).await {
        Ok(_) => Some(outcomes),
        Err(error) => {
            tracing::warn!(%error, "a group commit failed; its writes run one by one");
            rollback(connection).await;
            None
        }
    }
}

async fn rollback(connection: &mut SqliteConnection) {
    // Fails only when SQLite ended the transaction already.
    let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
}

fn breaks_a_constraint(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Database(e) if !matches!(e.kind(), ErrorKind::Other)
    )
}

async fn run(connection: &mut SqliteConnection, statement: &WriteStatement) -> Outcome {
    statement.query().fetch_optional(connection).await
}
