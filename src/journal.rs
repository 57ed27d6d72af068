//! The provisioning journal: every SCIM and Teamtailor API request, per
//! company, with redacted bodies and the change it made. Entries are queued
//! and written in batches by a background task, so recording never waits on
//! the database; a full queue drops entries (counted) rather than slow down.

mod body;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot, Notify};

use crate::blocking::BlockingThread;
use crate::storage::{now_micros, Database, Store};
use crate::teamtailor::mapping::Time;
use crate::teamtailor::User;

pub use body::{Body, Stored};

const QUEUE: usize = 10_000;
const BATCH: usize = 500;
/// Bodies a batch takes at most: queued list pages (16 KiB each at 2,000/s)
/// are written as they gather, not held for `FLUSH_EVERY` (peak RSS).
const BATCH_BYTES: usize = 1 << 20;
/// How long a short batch waits for more entries.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Bodies longer than this are cut in the journal.
const MAX_BODY: usize = 16 * 1024;
pub const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    pub id: Option<i64>,
    #[serde(skip)]
    pub company_id: i64,
    pub company: String,
    /// Microseconds since the epoch; shown as an RFC 3339 `time` (formatted
    /// when an entry is shown, not on every request).
    #[serde(rename = "time", serialize_with = "serialize_time")]
    pub at: i64,
    pub request_id: Option<String>,
    pub method: String,
    pub path: String,
    pub client: String,
    pub user_agent: Option<String>,
    /// Redacted, kept as the JSON text it was redacted to.
    pub request_body: Option<Body>,
    pub status: u16,
    /// Kept as the text it was answered with (never re-encoded).
    pub response_body: Option<Body>,
    pub latency_ms: f64,
    pub user_id: Option<i64>,
    pub change: Option<Value>,
    pub fault: Option<String>,
}

/// Which identity provider or tool sent a request, from its User-Agent.
pub fn client_name(user_agent: Option<&str>) -> String {
    let agent = user_agent.unwrap_or("").to_ascii_lowercase();
    let name = if agent.contains("okta") {
        "Okta"
    } else if agent.contains("azure")
        || agent.contains("entra")
        || agent.contains("microsoft")
        || agent.contains("aad")
    {
        "Entra ID"
    } else if agent.starts_with("curl/") {
        "curl"
    } else if agent.contains("python") || agent.contains("httpx") {
        "Python"
    } else if agent.is_empty() {
        "unknown"
    } else {
        return user_agent.unwrap_or("").chars().take(60).collect();
    };
    name.to_string()
}

fn serialize_time<S: serde::Serializer>(at: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    Time(*at).serialize(serializer)
}

/// The first [`MAX_BODY`] bytes of a body of `len` bytes (`bytes` holds at
/// least those), marked as cut.
fn cut(bytes: &[u8], len: usize) -> Body {
    let start = utf8_start(&bytes[..MAX_BODY.min(bytes.len())]);
    Body::new(format!("{start}… ({len} bytes)"))
}

/// A request body as stored: JSON with secrets replaced, cut to size. A body
/// that is not JSON is kept only by its size: a secret in it (a password in
/// a body with a trailing comma) cannot be found to redact.
pub fn request_body(bytes: &[u8]) -> Option<Body> {
    if bytes.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => redacted(value),
        Err(_) => Some(Body::new(format!(
            "<unparseable body: {} bytes>",
            bytes.len()
        ))),
    }
}

/// A response body as stored: the server's own answers carry no secrets (a
/// password is never echoed), so an answer is kept as the text it was sent
/// as; a long one is cut. `bytes` is the body or, for one longer than
/// [`MAX_BODY`], its start; `len` is the length of the whole body.
pub fn response_body(bytes: bytes::Bytes, len: usize) -> Option<Body> {
    if len == 0 {
        return None;
    }
    if len > MAX_BODY {
        return Some(cut(&bytes, len));
    }
    // The answer's own buffer once it has been sent (no copy), as text.
    Some(Body::from_bytes(Vec::from(bytes)))
}

/// The text of a body's start: a character cut in two at its end is
/// dropped, any other invalid byte replaced.
fn utf8_start(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(error) if error.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..error.valid_up_to()])
        }
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            text.trim_end_matches('\u{fffd}').to_owned().into()
        }
    }
}

/// A document with secrets replaced, as its text, or that text cut to size
/// (as text) if it is long.
fn redacted(mut value: Value) -> Option<Body> {
    redact(&mut value);
    let text = value.to_string();
    if text.len() > MAX_BODY {
        Some(cut(text.as_bytes(), text.len()))
    } else {
        Some(Body::new(text))
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "authorization", "key"]
        .iter()
        .any(|s| key.contains(s))
}

/// Replaces the values of secret-looking keys anywhere in a document, and the
/// value of PATCH operations whose path names one (`{"path":"password",...}`).
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let secret_path = object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .and_then(|(_, v)| v.as_str())
                .is_some_and(is_secret);
            for (key, item) in object.iter_mut() {
                if is_secret(key) || (secret_path && key.eq_ignore_ascii_case("value")) {
                    *item = Value::String(REDACTED.into());
                } else {
                    redact(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// What a request did to a user, for the journal.
#[derive(Debug, Clone)]
pub struct UserChange {
    pub user_id: i64,
    pub change: Value,
}

impl UserChange {
    pub fn created(user: &User) -> Self {
        UserChange {
            user_id: user.id,
            change: serde_json::json!({ "kind": "created", "role": user.data.role.as_str() }),
        }
    }

    pub fn deleted(user_id: i64) -> Self {
        UserChange {
            user_id,
            change: serde_json::json!({ "kind": "deleted" }),
        }
    }

    /// The attributes that differ, and the role transition if any.
    pub fn updated(before: &User, after: &User) -> Self {
        let old = before
            .data
            .attributes
            .to_document(before.data.role.is_active());
        let new = after
            .data
            .attributes
            .to_document(after.data.role.is_active());
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.sort();
        keys.dedup();
        let changes: Vec<Value> = keys
            .into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .map(|k| serde_json::json!({ "attribute": k, "from": old.get(k), "to": new.get(k) }))
            .collect();
        let mut change = Map::new();
        change.insert("kind".into(), "updated".into());
        change.insert("attributes".into(), Value::Array(changes));
        if before.data.role != after.data.role {
            change.insert(
                "role".into(),
                serde_json::json!({ "from": before.data.role.as_str(), "to": after.data.role.as_str() }),
            );
        }
        UserChange {
            user_id: after.id,
            change: Value::Object(change),
        }
    }
}

/// An entry as the request path leaves it: bodies still raw, redacted by the
/// writer so the request does not wait on it.
struct Pending {
    entry: JournalEntry,
    request_body: bytes::Bytes,
    /// At most [`MAX_BODY`] bytes: the start of a longer body, copied so
    /// that a list page's buffer is freed once it is sent, not when the
    /// writer gets to it.
    response_body: bytes::Bytes,
    response_len: usize,
}

enum Message {
    Entry(Box<Pending>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

impl Message {
    fn bytes(&self) -> usize {
        match self {
            Message::Entry(pending) => pending.request_body.len() + pending.response_body.len(),
            Message::Flush(_) => 0,
        }
    }
}

/// Bodies queued and not yet taken by the writer.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    /// Told when `bytes` reaches a batch's worth: the writer stops waiting.
    full: Notify,
}

impl Backlog {
    fn add(&self, bytes: usize) {
        let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if before < BATCH_BYTES && before + bytes >= BATCH_BYTES {
            self.full.notify_one();
        }
    }

    /// Bodies taken by the writer, or never queued.
    fn remove(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn is_full(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) >= BATCH_BYTES
    }
}

pub struct Journal {
    sender: mpsc::Sender<Message>,
    backlog: Arc<Backlog>,
    live: broadcast::Sender<JournalEntry>,
    dropped: AtomicU64,
    /// Off when retention keeps no entries (`--journal-max-entries 0`).
    enabled: bool,
}

impl Journal {
    /// Starts the writer and the retention task.
    pub fn start(store: Arc<Database>, retention: Retention) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let (live, _) = broadcast::channel(1024);
        let backlog = Arc::new(Backlog::default());
        tokio::spawn(write_batches(
            store.clone(),
            receiver,
            live.clone(),
            backlog.clone(),
            BlockingThread::start("journal-batches"),
        ));
        let journal = Arc::new(Journal {
            sender,
            backlog,
            live,
            dropped: AtomicU64::new(0),
            enabled: retention.max_entries_per_company > 0,
        });
        tokio::spawn(enforce_retention(store, retention));
        journal
    }

    /// Queues an entry; its bodies are redacted (and it is sent to live
    /// watchers) by the writer.
    pub fn record(
        &self,
        entry: JournalEntry,
        request_body: bytes::Bytes,
        response_body: bytes::Bytes,
    ) {
        let response_len = response_body.len();
        let response_body = if response_len > MAX_BODY {
            bytes::Bytes::copy_from_slice(&response_body[..MAX_BODY])
        } else {
            response_body
        };
        let pending = Pending {
            entry,
            request_body,
            response_body,
            response_len,
        };
        let message = Message::Entry(Box::new(pending));
        // Counted before the writer can take it, which subtracts it.
        let bytes = message.bytes();
        self.backlog.add(bytes);
        if self.sender.try_send(message).is_err() {
            self.backlog.remove(bytes);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("journal_dropped_total").increment(1);
        }
    }

    /// Whether requests are recorded at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Entries queued but not yet written.
    pub fn lag(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Waits until every entry recorded so far is written (at shutdown).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JournalEntry> {
        self.live.subscribe()
    }
}

async fn write_batches(
    store: Arc<Database>,
    mut receiver: mpsc::Receiver<Message>,
    live: broadcast::Sender<JournalEntry>,
    backlog: Arc<Backlog>,
    thread: BlockingThread,
) {
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut bytes = first.bytes();
        let mut messages = vec![first];
        while messages.len() < BATCH && bytes < BATCH_BYTES {
            let Ok(message) = receiver.try_recv() else {
                break;
            };
            bytes += message.bytes();
            messages.push(message);
        }
        backlog.remove(bytes);
        let full = messages.len() == BATCH || bytes >= BATCH_BYTES;
        let mut flushed = Vec::new();
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            match message {
                Message::Entry(entry) => pending.push(entry),
                Message::Flush(done) => flushed.push(done),
            }
        }
        if !pending.is_empty() {
            // Redacting (and compressing) a full batch takes milliseconds of
            // CPU: not on the threads that answer requests.
            let live = live.clone();
            let compress = store.compresses_journal_bodies();
            let batch = thread
                .run(move || {
                    pending
                        .into_iter()
                        .map(|pending| {
                            let mut entry = redacted_entry(*pending, &live);
                            if compress {
                                entry.request_body = entry.request_body.map(Body::compressed);
                                entry.response_body = entry.response_body.map(Body::compressed);
                            }
                            entry
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            let entries = batch.len();
            if let Err(error) = store.insert_journal(batch).await {
                tracing::warn!(%error, entries, "could not write journal entries");
            }
        }
        // A short batch drained the queue: wait for more to gather, or for
        // a batch's worth of bodies. A full one leaves a backlog, written at
        // once so the queue does not fill.
        if flushed.is_empty() && !full && !backlog.is_full() {
            tokio::select! {
                () = tokio::time::sleep(FLUSH_EVERY) => {}
                () = backlog.full.notified() => {}
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// An entry with its bodies as stored, sent to live subscribers.
fn redacted_entry(pending: Pending, live: &broadcast::Sender<JournalEntry>) -> JournalEntry {
    let Pending {
        mut entry,
        request_body,
        response_body,
        response_len,
    } = pending;
    entry.request_body = self::request_body(&request_body);
    entry.response_body = self::response_body(response_body, response_len);
    if live.receiver_count() > 0 {
        let _ = live.send(entry.clone());
    }
    entry
}

/// How much journal to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_entries_per_company: i64,
    pub max_age: Duration,
    /// How often old entries are deleted.
    pub check_every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_entries_per_company: 100_000,
            max_age: Duration::from_secs(7 * 86_400),
            check_every: Duration::from_secs(60),
        }
    }
}

async fn enforce_retention(store: Arc<Database>, retention: Retention) {
    let mut interval = tokio::time::interval(retention.check_every);
    loop {
        interval.tick().await;
        let oldest = now_micros() - retention.max_age.as_micros() as i64;
        if let Err(error) = store
            .prune_journal(oldest, retention.max_entries_per_company)
            .await
        {
            tracing::warn!(%error, "could not prune the journal");
        }
    }
}
