//! A store's task that runs beside requests (SQLite's checkpoints,
//! PostgreSQL's pending-list merges): stopped with the store's `close`, or
//! aborted when the store is dropped without it.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinHandle;

pub(super) struct Background(Mutex<Option<JoinHandle<()>>>);

impl Background {
    pub(super) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Background(Mutex::new(Some(tokio::spawn(task))))
    }

    /// Stops the task, waiting for it to be cut short where it stands.
    pub(super) async fn stop(&self) {
        let task = self.0.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(task) = self.0.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}
