//! Requests' statements gathered (PostgreSQL): what is asked for while a
//! statement of the same kind is on its way waits for it to come back, then
//! goes with everything else asked for meanwhile, in one statement. A
//! statement of many rows costs PostgreSQL little more than one of one row,
//! and our server sends one message instead of many. Something asked for
//! alone goes at once. The kinds: `lookups` (users by id or userName) and
//! `inserts` (new users).
//!
//! Everything gathered is asked for before its statement starts: a read sees
//! every write answered before it was asked for, a write is answered once
//! its statement has committed.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sqlx::postgres::PgConnectOptions;
use tokio::sync::oneshot;

use super::connections::Connections;

/// A kind of statement that serves many askers at once.
pub(super) trait Job: Send + Sync + Sized + 'static {
    type Ask: Send + 'static;
    type Done: Send + 'static;

    /// Its name in `/metrics` (`kind`).
    const KIND: &'static str;

    /// Statements of this kind on their way at once.
    const RUNNING: usize;

    /// Asks one statement serves at most.
    const BATCH: usize;

    /// Whether a task that finds nothing asked lets the other tasks run
    /// once before it ends: the asks they are about to make then go in its
    /// next statement, instead of waiting for a new task to be scheduled.
    const LINGER: bool;

    /// Whether an ask may be made again after its statement's connection
    /// was lost: a read may; a write may have committed, and its asker is
    /// answered with the error instead (503).
    const REPEATABLE: bool;

    /// Answers the asks of `batch`, taking each one it answers; on an error,
    /// each one left is asked again alone by its asker (for an error of its
    /// own: sqlx's errors cannot be copied).
    fn answer(
        &self,
        connections: &Connections<PgConnectOptions>,
        batch: &mut Vec<Asked<Self>>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// One ask on its own.
    fn alone(
        &self,
        connections: &Connections<PgConnectOptions>,
        ask: Self::Ask,
    ) -> impl Future<Output = Result<Self::Done, sqlx::Error>> + Send;
}

/// What an asker is sent: its answer, or its ask back with the pool's
/// error (which it would meet too) or none (ask alone).
type Reply<J> = Result<<J as Job>::Done, (<J as Job>::Ask, Option<sqlx::Error>)>;

pub(super) struct Asked<J: Job> {
    pub(super) ask: J::Ask,
    reply: oneshot::Sender<Reply<J>>,
}

impl<J: Job> Asked<J> {
    pub(super) fn answer(self, done: J::Done) {
        // The asker may have gone (its request cut short).
        let _ = self.reply.send(Ok(done));
    }
}

struct Queue<J: Job> {
    asked: Vec<Asked<J>>,
    running: usize,
}

pub(super) struct Gather<J: Job> {
    job: J,
    connections: Arc<Connections<PgConnectOptions>>,
    queue: Mutex<Queue<J>>,
}

impl<J: Job> Gather<J> {
    pub(super) fn new(job: J, connections: Arc<Connections<PgConnectOptions>>) -> Arc<Self> {
        Arc::new(Gather {
            job,
            connections,
            queue: Mutex::new(Queue {
                asked: Vec::new(),
                running: 0,
            }),
        })
    }

    pub(super) async fn ask(self: &Arc<Self>, ask: J::Ask) -> Result<J::Done, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.asked.push(Asked { ask, reply });
            let start = queue.running < J::RUNNING;
            queue.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(self.clone().run());
        }
        match answer.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err((_, Some(error)))) => Err(error),
            Ok(Err((ask, None))) => self.job.alone(&self.connections, ask).await,
            // Its task ended unanswered (a panic); the ask went with it.
            Err(_) => Err(sqlx::Error::WorkerCrashed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<J>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers what was asked until nothing is left; `running` counts this
    /// task until then (under the lock that asking takes, so nothing asked
    /// is left without a task to answer it).
    async fn run(self: Arc<Self>) {
        let mut running = Running(&self, true);
        let mut lingered = false;
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.asked.is_empty() {
                    if J::LINGER && !lingered {
                        None
                    } else {
                        queue.running -= 1;
                        running.1 = false;
                        return;
                    }
                } else {
                    let n = queue.asked.len().min(J::BATCH);
                    Some(queue.asked.drain(..n).collect::<Vec<_>>())
                }
            };
            let Some(mut batch) = batch else {
                lingered = true;
                tokio::task::yield_now().await;
                continue;
            };
            lingered = false;
            metrics::counter!(BATCHES, "kind" => J::KIND).increment(1);
            metrics::counter!(ASKS, "kind" => J::KIND).increment(batch.len() as u64);
            if let Err(error) = self.job.answer(&self.connections, &mut batch).await {
                if super::connection_lost(&error) {
                    self.connections.check_all();
                }
                for asked in batch {
                    let error = passed_on(&error, J::REPEATABLE);
                    let _ = asked.reply.send(Err((asked.ask, error)));
                }
            }
        }
    }
}

/// Counts a task in `running` until it says it is done, or ends otherwise
/// (a panic), so that the next ask starts another.
struct Running<'a, J: Job>(&'a Gather<J>, bool);

impl<J: Job> Drop for Running<'_, J> {
    fn drop(&mut self) {
        if self.1 {
            self.0.lock().running -= 1;
        }
    }
}

/// The error each asker of a failed statement is answered with, if not
/// asked again alone: the pool's errors, which each would meet too, and a
/// lost connection where an ask may not be repeated.
fn passed_on(error: &sqlx::Error, repeatable: bool) -> Option<sqlx::Error> {
    match error {
        sqlx::Error::PoolTimedOut => Some(sqlx::Error::PoolTimedOut),
        sqlx::Error::PoolClosed => Some(sqlx::Error::PoolClosed),
        error if !repeatable && super::connection_lost(error) => Some(sqlx::Error::Io(
            std::io::Error::new(std::io::ErrorKind::ConnectionAborted, error.to_string()),
        )),
        _ => None,
    }
}

/// What was asked for, and the batches it went in (one statement each, or
/// one per company for lookups).
const ASKS: &str = "postgres_gathered_asks_total";
const BATCHES: &str = "postgres_gathered_batches_total";

/// Where a store gathers statements (PostgreSQL).
pub(super) trait Gathered {
    fn lookups(&self) -> Option<&Arc<Gather<super::lookups::Lookups>>>;
    fn inserts(&self) -> Option<&Arc<Gather<super::inserts::Inserts>>>;

    /// The plan of the statement a `userName eq` lookup goes in, where
    /// lookups are gathered.
    fn explain_lookup(
        &self,
        _company_id: i64,
        _user_name: String,
    ) -> impl Future<Output = Option<super::StoreResult<super::QueryPlan>>> + Send {
        async { None }
    }
}
