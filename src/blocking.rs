//! A thread of its own for blocking work that comes in turns (the
//! journal's batches). Tokio's blocking pool runs each task on whichever of
//! its threads is idle, and the allocator keeps what a thread freed in that
//! thread's heap until it allocates again: a server under a GET load with
//! the journal's batches spread over the pool's threads peaked 10-20 MiB
//! higher than with them on one thread each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

pub struct BlockingThread {
    /// None if the thread could not be started: work goes to the pool.
    jobs: Option<mpsc::Sender<Job>>,
}

impl BlockingThread {
    /// Starts a thread named `name`; it ends when this is dropped, after
    /// the work sent before.
    pub fn start(name: &str) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in queue {
                    // A panic fails that job alone (its caller gets None).
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            });
        match started {
            Ok(_) => BlockingThread { jobs: Some(jobs) },
            Err(error) => {
                tracing::warn!(%error, name, "thread not started; its work goes to the blocking pool");
                BlockingThread { jobs: None }
            }
        }
    }

    /// Runs `work` on the thread once the work sent before it is done;
    /// None if it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let Some(jobs) = &self.jobs else {
            return tokio::task::spawn_blocking(work).await.ok();
        };
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        jobs.send(job).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_in_turn_on_one_thread_and_survives_a_panic() {
        let thread = BlockingThread::start("blocking-test");
        let name = || std::thread::current().name().map(str::to_owned);
        let first = thread.run(name).await.flatten();
        assert_eq!(first.as_deref(), Some("blocking-test"));
        assert_eq!(
            thread.run(|| -> u8 { panic!("a failed batch") }).await,
            None
        );
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let runs = (0..5).map(|i| {
            let order = order.clone();
            thread.run(move || order.lock().unwrap().push(i))
        });
        futures_util::future::join_all(runs).await;
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(thread.run(name).await.flatten(), first);
    }
}
