//! Journal entries written to PostgreSQL with one `COPY ... FROM STDIN` a
//! batch, in COPY's text format. As multi-row INSERTs, each size of batch
//! up to 500 was a statement of its own (up to 7,000 parameters), prepared
//! on the server and kept in sqlx's cache of each connection; COPY has no
//! statement to prepare or keep: the server's RSS under load 72-102 MiB
//! before, 42-60 MiB with it, and a little less CPU a request.

use std::io::Write;

use sqlx::PgPool;

use super::StoreResult;
use crate::journal::JournalEntry;

const COPY: &str = "COPY journal (company_id, at, request_id, method, path, client, \
     user_agent, request_body, status, response_body, latency_micros, user_id, change, fault) \
     FROM STDIN";

/// Writes `entries` in one transaction (the COPY's own).
pub(super) async fn copy_entries(pool: &PgPool, entries: &[JournalEntry]) -> StoreResult<()> {
    let mut data = Vec::with_capacity(entries.len() * 1024);
    for entry in entries {
        write_row(&mut data, entry);
    }
    let mut connection = pool.acquire().await?;
    let mut copy = connection.copy_in_raw(COPY).await?;
    if let Err(error) = copy.send(data).await {
        // Ends the COPY, so the connection goes back to the pool usable.
        let _ = copy.abort(error.to_string()).await;
        return Err(error.into());
    }
    copy.finish().await?;
    Ok(())
}

/// One entry as a line of COPY's text format: fields in `COPY`'s order,
/// separated by tabs.
fn write_row(out: &mut Vec<u8>, e: &JournalEntry) {
    let _ = write!(out, "{}\t{}\t", e.company_id, e.at);
    write_text(out, e.request_id.as_deref());
    out.push(b'\t');
    write_text(out, Some(&e.method));
    out.push(b'\t');
    write_text(out, Some(&e.path));
    out.push(b'\t');
    write_text(out, Some(&e.client));
    out.push(b'\t');
    write_text(out, e.user_agent.as_deref());
    out.push(b'\t');
    write_text(out, e.request_body.as_ref().map(|b| b.text()).as_deref());
    let _ = write!(out, "\t{}\t", e.status);
    write_text(out, e.response_body.as_ref().map(|b| b.text()).as_deref());
    let _ = write!(out, "\t{}\t", (e.latency_ms * 1000.0) as i64);
    match e.user_id {
        Some(id) => {
            let _ = write!(out, "{id}");
        }
        None => out.extend_from_slice(NULL),
    }
    out.push(b'\t');
    write_text(out, e.change.as_ref().map(|v| v.to_string()).as_deref());
    out.push(b'\t');
    write_text(out, e.fault.as_deref());
    out.push(b'\n');
}

/// How COPY's text format writes NULL.
const NULL: &[u8] = b"\\N";

/// A text field: the characters COPY's text format reads specially (the
/// backslash, and the tab, newline and carriage return that end fields and
/// lines) escaped, the rest as it is.
fn write_text(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(NULL);
        return;
    };
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let escaped: &[u8] = match byte {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<&str>) -> String {
        let mut out = Vec::new();
        write_text(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_fields_escape_what_copy_reads_specially() {
        assert_eq!(text(None), "\\N");
        assert_eq!(text(Some("")), "");
        assert_eq!(text(Some("plain é")), "plain é");
        assert_eq!(text(Some("a\tb\nc\rd\\e\\N")), "a\\tb\\nc\\rd\\\\e\\\\N");
    }
}
