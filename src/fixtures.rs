//! User fixtures for test runs: read SCIM User documents (a JSON array, one
//! JSON object per line, or a ListResponse) or CSV rows, in batches, so a
//! file of a million users loads in bounded memory; and write users back out
//! in the same formats.

use std::io::{BufRead, Read, Write};

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

use crate::scim::resource::UserRequest;
use crate::scim::schema::TEAMTAILOR_USER_SCHEMA;
use crate::storage::{now_millis_as_micros, Condition, Database, Store, StoreError, UserQuery};
use crate::teamtailor::{mapping, Role, User, UserData};

/// Users per transaction (and per export page) in a running server: short
/// enough not to hold up other writers.
pub const BATCH: usize = 1000;

/// Users per transaction for `teamtailor-scim import`, which has the database
/// to itself: a 1M-user SQLite load took 78 s at 5,000 and 61 s at 20,000.
pub const BULK_BATCH: usize = 20_000;

/// The CSV columns, in the order exports write them.
pub const CSV_COLUMNS: &[&str] = &[
    "userName",
    "externalId",
    "givenName",
    "familyName",
    "displayName",
    "email",
    "phone",
    "title",
    "active",
    "role",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of users, one JSON object per line, or a ListResponse.
    Json,
    Csv,
}

impl Format {
    /// From a file name: `.csv` is CSV, anything else JSON.
    pub fn for_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Json,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("record {record}: {message}")]
    Invalid { record: u64, message: String },
    #[error("{0}")]
    Unreadable(String),
    /// The consumer of the batches stopped (its own error is reported by it).
    #[error("import stopped")]
    Stopped,
}

/// Reads every user, handing them over in batches of `size` users. Returns
/// the number of records read. `deliver` returning `false` stops the reading.
pub fn read_users<R: Read>(
    reader: R,
    format: Format,
    size: usize,
    mut deliver: impl FnMut(Vec<UserData>) -> bool,
) -> Result<u64, FixtureError> {
    let mut batcher = Batcher {
        batch: Vec::with_capacity(size),
        size,
        records: 0,
        deliver: &mut deliver,
    };
    match format {
        Format::Json => read_json(std::io::BufReader::new(reader), &mut batcher)?,
        Format::Csv => read_csv(reader, &mut batcher)?,
    }
    batcher.flush()?;
    Ok(batcher.records)
}

struct Batcher<'a, F: FnMut(Vec<UserData>) -> bool> {
    batch: Vec<UserData>,
    size: usize,
    records: u64,
    deliver: &'a mut F,
}

impl<F: FnMut(Vec<UserData>) -> bool> Batcher<'_, F> {
    fn push(&mut self, document: &Value) -> Result<(), FixtureError> {
        self.records += 1;
        let user = user_from_document(document).map_err(|message| FixtureError::Invalid {
            record: self.records,
            message,
        })?;
        self.batch.push(user);
        if self.batch.len() >= self.size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FixtureError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        if (self.deliver)(batch) {
            Ok(())
        } else {
            Err(FixtureError::Stopped)
        }
    }
}

/// A SCIM User document as a new user: the Teamtailor extension's `role`
/// when given (so exports load back as they were), else by `active`.
pub fn user_from_document(document: &Value) -> Result<UserData, String> {
    let request = UserRequest::from_json(document).map_err(|e| e.to_string())?;
    let role = document
        .get(TEAMTAILOR_USER_SCHEMA)
        .and_then(|extension| extension.get("role"))
        .map(|role| {
            role.as_str()
                .ok_or_else(|| "the role must be a string".to_string())
                .and_then(|r| r.parse::<Role>().map_err(|e| e.to_string()))
        })
        .transpose()?;
    let mut user = mapping::new_user(request);
    if let Some(role) = role {
        user.role = role;
    }
    Ok(user)
}

fn read_json<R: BufRead, F: FnMut(Vec<UserData>) -> bool>(
    mut reader: R,
    batcher: &mut Batcher<'_, F>,
) -> Result<(), FixtureError> {
    let first = loop {
        let buffer = reader
            .fill_buf()
            .map_err(|e| FixtureError::Unreadable(e.to_string()))?;
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => break buffer[at],
            None if buffer.is_empty() => return Ok(()),
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    if first == b'[' {
        let mut failure = None;
        let result = EachElement {
            batcher,
            failure: &mut failure,
        }
        .deserialize(&mut deserializer);
        if let Some(failure) = failure {
            return Err(failure);
        }
        result.map_err(|e| FixtureError::Unreadable(format!("not a JSON array of users: {e}")))?;
        return deserializer
            .end()
            .map_err(|e| FixtureError::Unreadable(e.to_string()));
    }
    // One object per line, or a ListResponse whose Resources are streamed.
    loop {
        if deserializer.end().is_ok() {
            return Ok(());
        }
        let mut failure = None;
        let result = ObjectOrList {
            batcher,
            failure: &mut failure,
        }
        .deserialize(&mut deserializer);
        if let Some(failure) = failure {
            return Err(failure);
        }
        result.map_err(|e| {
            FixtureError::Unreadable(format!(
                "after record {}: invalid JSON: {e}",
                batcher.records
            ))
        })?;
    }
}

/// One JSON object: a user, or a ListResponse whose `Resources` array is
/// visited one element at a time (its other members are small and kept).
struct ObjectOrList<'b, 'a, F: FnMut(Vec<UserData>) -> bool> {
    batcher: &'b mut Batcher<'a, F>,
    failure: &'b mut Option<FixtureError>,
}

impl<'de, F: FnMut(Vec<UserData>) -> bool> DeserializeSeed<'de> for ObjectOrList<'_, '_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Vec<UserData>) -> bool> Visitor<'de> for ObjectOrList<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a SCIM User object or a ListResponse")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut document = Map::new();
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Resources" {
                listed = true;
                map.next_value_seed(EachElement {
                    batcher: &mut *self.batcher,
                    failure: &mut *self.failure,
                })?;
            } else {
                let value = map.next_value::<Value>()?;
                document.insert(key, value);
            }
        }
        if listed {
            return Ok(());
        }
        if let Err(failure) = self.batcher.push(&Value::Object(document)) {
            *self.failure = Some(failure);
            return Err(A::Error::custom("stopped"));
        }
        Ok(())
    }
}

/// Visits a JSON array one element at a time, so the array is never held whole.
struct EachElement<'b, 'a, F: FnMut(Vec<UserData>) -> bool> {
    batcher: &'b mut Batcher<'a, F>,
    failure: &'b mut Option<FixtureError>,
}

impl<'de, F: FnMut(Vec<UserData>) -> bool> DeserializeSeed<'de> for EachElement<'_, '_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Vec<UserData>) -> bool> Visitor<'de> for EachElement<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of SCIM User objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<(), A::Error> {
        while let Some(document) = sequence.next_element::<Value>()? {
            if let Err(failure) = self.batcher.push(&document) {
                *self.failure = Some(failure);
                return Err(A::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn read_csv<R: Read, F: FnMut(Vec<UserData>) -> bool>(
    reader: R,
    batcher: &mut Batcher<'_, F>,
) -> Result<(), FixtureError> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| FixtureError::Unreadable(e.to_string()))?
        .clone();
    let columns: Vec<String> = headers.iter().map(str::to_ascii_lowercase).collect();
    if let Some(unknown) = columns.iter().find(|c| {
        !CSV_COLUMNS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(c))
    }) {
        return Err(FixtureError::Unreadable(format!(
            "unknown CSV column '{unknown}'; the columns are {}",
            CSV_COLUMNS.join(", ")
        )));
    }
    if !columns.iter().any(|c| c == "username") {
        return Err(FixtureError::Unreadable(
            "the CSV header must have a userName column".into(),
        ));
    }
    for row in csv.records() {
        let row = row.map_err(|e| FixtureError::Unreadable(e.to_string()))?;
        let cell = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|i| row.get(i))
                .filter(|v| !v.is_empty())
        };
        let document = csv_document(&cell).map_err(|message| FixtureError::Invalid {
            record: batcher.records + 1,
            message,
        })?;
        batcher.push(&document)?;
    }
    Ok(())
}

fn csv_document<'r>(cell: &dyn Fn(&str) -> Option<&'r str>) -> Result<Value, String> {
    let mut document = Map::new();
    let mut put = |key: &str, value: Value| {
        document.insert(key.into(), value);
    };
    if let Some(user_name) = cell("username") {
        put("userName", json!(user_name));
    }
    for (column, key) in [
        ("externalid", "externalId"),
        ("displayname", "displayName"),
        ("title", "title"),
    ] {
        if let Some(value) = cell(column) {
            put(key, json!(value));
        }
    }
    let mut name = Map::new();
    for (column, key) in [("givenname", "givenName"), ("familyname", "familyName")] {
        if let Some(value) = cell(column) {
            name.insert(key.into(), json!(value));
        }
    }
    if !name.is_empty() {
        put("name", Value::Object(name));
    }
    if let Some(email) = cell("email") {
        put(
            "emails",
            json!([{ "value": email, "type": "work", "primary": true }]),
        );
    }
    if let Some(phone) = cell("phone") {
        put("phoneNumbers", json!([{ "value": phone, "type": "work" }]));
    }
    if let Some(active) = cell("active") {
        let active = match active.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => return Err(format!("active must be true or false, not '{other}'")),
        };
        put("active", json!(active));
    }
    if let Some(role) = cell("role") {
        put(TEAMTAILOR_USER_SCHEMA, json!({ "role": role }));
    }
    Ok(Value::Object(document))
}

/// Writes users as one SCIM document per line (what `import` reads back).
pub fn write_json_lines(
    out: &mut impl Write,
    users: &[User],
    base_url: &str,
) -> std::io::Result<()> {
    for user in users {
        serde_json::to_writer(&mut *out, &mapping::to_scim(user, base_url))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn write_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(CSV_COLUMNS)?;
    csv.flush()
}

pub fn write_csv_rows(out: &mut impl Write, users: &[User]) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    for user in users {
        let data = &user.data;
        let attributes = &data.attributes;
        let email = attributes.emails.iter().find_map(|e| e.value.clone());
        csv.write_record([
            attributes.user_name.as_str(),
            attributes.external_id.as_deref().unwrap_or(""),
            attributes.name.given_name.as_deref().unwrap_or(""),
            attributes.name.family_name.as_deref().unwrap_or(""),
            attributes.display_name.as_deref().unwrap_or(""),
            email.as_deref().unwrap_or(""),
            data.phone().as_deref().unwrap_or(""),
            attributes.title.as_deref().unwrap_or(""),
            if data.role.is_active() {
                "true"
            } else {
                "false"
            },
            data.role.as_str(),
        ])?;
    }
    csv.flush()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Records read from the fixture.
    pub records: u64,
    /// Users created; the others had a userName the company already has.
    pub inserted: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{error} ({inserted} users were imported before it; importing again skips them)")]
    Fixture { error: FixtureError, inserted: u64 },
    // With two batches written at once, one may land after the other failed.
    #[error("storage: {error} ({inserted} users were imported; importing again skips them)")]
    Store { error: StoreError, inserted: u64 },
}

/// Loads a fixture into a company: parsed on a blocking thread, inserted one
/// transaction per batch of `batch_size` users, on PostgreSQL two batches
/// at a time, so memory stays bounded whatever the file's size. `progress`
/// is called after each batch with the running report.
pub async fn import<R: Read + Send + 'static>(
    store: &Database,
    company_id: i64,
    reader: R,
    format: Format,
    batch_size: usize,
    mut progress: impl FnMut(ImportReport),
) -> Result<ImportReport, ImportError> {
    // Room for the next batches to be parsed while these are written.
    let most = store.import_batches_at_once();
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Vec<UserData>>(most);
    let parser = tokio::task::spawn_blocking(move || {
        read_users(reader, format, batch_size, |batch| {
            sender.blocking_send(batch).is_ok()
        })
    });
    let mut report = ImportReport::default();
    let mut failure = None;
    let mut created_at = 0;
    let mut at_once: Vec<Vec<UserData>> = Vec::with_capacity(most);
    while let Some(batch) = batches.recv().await {
        at_once.push(batch);
        // More batches only if they are parsed already: a short fixture
        // does not wait for them.
        while at_once.len() < most {
            match batches.try_recv() {
                Ok(batch) => at_once.push(batch),
                Err(_) => break,
            }
        }
        let skipped = without_earlier_user_names(&mut at_once);
        // Each batch a millisecond after the one before: users list in
        // the file's order, whichever batch commits first.
        let inserts = at_once.iter().map(|batch| {
            created_at = now_millis_as_micros().max(created_at + 1000);
            store.import_users(company_id, batch, created_at)
        });
        let results = futures_util::future::join_all(inserts).await;
        for ((batch, skipped), result) in at_once.drain(..).zip(skipped).zip(results) {
            match result {
                Ok(inserted) => {
                    report.records += (batch.len() + skipped) as u64;
                    report.inserted += inserted;
                    progress(report);
                }
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        if failure.is_some() {
            break;
        }
    }
    drop(batches);
    let parsed = parser
        .await
        .unwrap_or_else(|e| Err(FixtureError::Unreadable(e.to_string())));
    let inserted = report.inserted;
    if let Some(error) = failure {
        return Err(ImportError::Store { error, inserted });
    }
    parsed.map_err(|error| ImportError::Fixture { error, inserted })?;
    if report.inserted > 0 {
        store
            .refresh_statistics()
            .await
            .map_err(|error| ImportError::Store { error, inserted })?;
    }
    Ok(report)
}

/// Drops from each batch the users whose userName (in any case) an earlier
/// batch of `batches` holds, as writing the batches in turn would skip
/// them: the first in the file is kept, and batches written at once share
/// no userName (so they cannot deadlock on one). Returns how many each
/// batch lost.
fn without_earlier_user_names(batches: &mut [Vec<UserData>]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    let count = batches.len();
    batches
        .iter_mut()
        .enumerate()
        .map(|(i, batch)| {
            let before = batch.len();
            if i > 0 {
                batch.retain(|user| !seen.contains(&user.attributes.user_name_key()));
            }
            if i + 1 < count {
                seen.extend(batch.iter().map(|u| u.attributes.user_name_key()));
            }
            before - batch.len()
        })
        .collect()
}

/// A company's users, page by page in creation order, as bytes of a format.
pub struct Export {
    company_id: i64,
    format: Format,
    base_url: String,
    after: Option<(i64, i64)>,
    started: bool,
    done: bool,
}

impl Export {
    pub fn new(company_id: i64, format: Format, base_url: &str) -> Self {
        Export {
            company_id,
            format,
            base_url: base_url.into(),
            after: None,
            started: false,
            done: false,
        }
    }

    /// The next chunk, or `None` after the last user.
    pub async fn next_chunk(&mut self, store: &Database) -> Result<Option<Vec<u8>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let mut out = Vec::new();
        if !self.started && self.format == Format::Csv {
            write_csv_header(&mut out).expect("writing to memory");
        }
        self.started = true;
        let mut query = UserQuery {
            count: BATCH as u64,
            start_index: 1,
            ..UserQuery::default()
        };
        if let Some((created_at, id)) = self.after {
            query.conditions.push(Condition::After { created_at, id });
        }
        let page = store.list_users(self.company_id, &query).await?;
        self.done = page.users.len() < BATCH;
        if let Some(last) = page.users.last() {
            self.after = Some((last.created_at, last.id));
        }
        match self.format {
            Format::Json => write_json_lines(&mut out, &page.users, &self.base_url),
            Format::Csv => write_csv_rows(&mut out, &page.users),
        }
        .expect("writing to memory");
        Ok(Some(out))
    }
}
