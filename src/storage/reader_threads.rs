//! A fixed set of threads that read pages of lists through rusqlite. A page
//! (a hundred users, every column) is too long a read for a request's own
//! thread; on the blocking pool its allocations spread over as many threads
//! as ran pages lately, each keeping its allocator's heap (peak RSS at 1M
//! users 90 -> 112 MiB). These threads are as many as scans run at once
//! (`Scans`), so a page holding a scan's turn finds one free, and a thread
//! left idle hands its freed memory back.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Idle this long, a thread returns the memory freed since to the system
/// (a page's users are freed on the request's thread, after the response).
const IDLE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Set when the store is dropped: the threads stop.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) struct ReaderThreads(Arc<Shared>);

impl ReaderThreads {
    pub(super) fn start(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        for n in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{n}"))
                .spawn(move || run(&shared))?;
        }
        Ok(ReaderThreads(shared))
    }

    /// `read`'s result, or None if it panicked.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        let job = move || {
            // A request dropped while its read was queued reads nothing.
            if !done.is_closed() {
                let _ = done.send(read());
            }
        };
        self.0.queue().jobs.push_back(Box::new(job));
        self.0.ready.notify_one();
        result.await.ok()
    }
}

impl Drop for ReaderThreads {
    fn drop(&mut self) {
        self.0.queue().closed = true;
        self.0.ready.notify_all();
    }
}

fn run(shared: &Shared) {
    let mut collected = true;
    loop {
        let mut queue = shared.queue();
        let job = loop {
            if let Some(job) = queue.jobs.pop_front() {
                break job;
            }
            if queue.closed {
                return;
            }
            if collected {
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let (waited, timeout) = shared
                .ready
                .wait_timeout(queue, IDLE)
                .unwrap_or_else(PoisonError::into_inner);
            queue = waited;
            if timeout.timed_out() && queue.jobs.is_empty() {
                drop(queue);
                // SAFETY: collects this thread's own heap; no arguments.
                unsafe { libmimalloc_sys::mi_collect(true) };
                collected = true;
                queue = shared.queue();
            }
        };
        drop(queue);
        collected = false;
        // A panic drops the job's sender: its caller reads through sqlx.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a SQLite reader thread's read panicked");
        }
    }
}
