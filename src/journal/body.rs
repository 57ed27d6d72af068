//! Request and response bodies as the journal keeps them.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

/// Bodies at least this long are kept compressed where the store does so
/// (SQLite's journal file): a list page's 16 KiB then takes ~3 KiB, one
/// page of the file instead of a chain of five, each written twice (log and
/// file) and read again when the entry is pruned.
const COMPRESS_FROM: usize = 1024;

/// The longest text a stored compressed body may claim to hold: bodies are
/// cut at 16 KiB, so a larger claim is a damaged file, not a body.
const MAX_TEXT: usize = 1 << 20;

/// A body as the journal keeps it, as stored: the JSON document it was, or
/// text (a body cut to size, or one that is not JSON). Which of the two is
/// decided when an entry is shown (text as a JSON string), so recording a
/// request neither checks its answer's JSON nor escapes a cut list page.
/// Cut text ends in `… (N bytes)`, which no JSON document can. Entries
/// written before text was stored as it is hold it as a JSON string, which
/// shows the same.
#[derive(Debug, Clone)]
pub struct Body(Stored);

/// How a store binds a body.
#[derive(Debug, Clone)]
pub enum Stored {
    Text(String),
    /// The text as an LZ4 block, its length in bytes first (u32, little
    /// endian), as `lz4_flex::compress_prepend_size` writes it.
    Compressed(Vec<u8>),
}

impl Body {
    pub fn new(text: String) -> Body {
        Body(Stored::Text(text))
    }

    /// A body from bytes that should be UTF-8 (invalid bytes replaced).
    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        Body::new(utf8_text(bytes))
    }

    pub fn from_stored(stored: Stored) -> Body {
        Body(stored)
    }

    pub fn into_stored(self) -> Stored {
        self.0
    }

    pub fn stored(&self) -> &Stored {
        &self.0
    }

    /// The body compressed if it is long and compressing makes it shorter.
    pub fn compressed(self) -> Body {
        match self.0 {
            Stored::Text(text) if text.len() >= COMPRESS_FROM => {
                let bytes = lz4_flex::compress_prepend_size(text.as_bytes());
                if bytes.len() < text.len() {
                    Body(Stored::Compressed(bytes))
                } else {
                    Body(Stored::Text(text))
                }
            }
            stored => Body(stored),
        }
    }

    /// The text, decompressed if need be. A compressed body that cannot be
    /// read (a damaged file) reads as a note saying so.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.0 {
            Stored::Text(text) => Cow::Borrowed(text),
            Stored::Compressed(bytes) => {
                Cow::Owned(decompress(bytes).unwrap_or_else(|| {
                    format!("<unreadable compressed body: {} bytes>", bytes.len())
                }))
            }
        }
    }
}

fn decompress(bytes: &[u8]) -> Option<String> {
    let claimed = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if claimed > MAX_TEXT {
        return None;
    }
    let text = lz4_flex::decompress_size_prepended(bytes).ok()?;
    Some(utf8_text(text))
}

/// `bytes` as text, taking the buffer when it is UTF-8 (no copy), else with
/// invalid bytes replaced.
fn utf8_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        match serde_json::from_str::<&RawValue>(&text) {
            Ok(json) => json.serialize(serializer),
            Err(_) => serializer.serialize_str(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_compressed_and_read_back_whole() {
        let page = format!(
            "{{\"Resources\":[{}]}}",
            (0..100)
                .map(|i| format!("{{\"id\":\"{i}\",\"userName\":\"user{i}@example.com\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let body = Body::new(page.clone()).compressed();
        let Stored::Compressed(bytes) = body.clone().into_stored() else {
            panic!("a long page was not compressed");
        };
        assert!(bytes.len() < page.len() / 2, "{} bytes", bytes.len());
        assert_eq!(body.text(), page);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::from_str::<serde_json::Value>(&page).unwrap()
        );
    }

    #[test]
    fn short_bodies_stay_text() {
        let body = Body::new("{\"a\":1}".into()).compressed();
        assert!(matches!(body.into_stored(), Stored::Text(text) if text == "{\"a\":1}"));
    }

    #[test]
    fn damaged_compressed_bodies_read_as_a_note() {
        for bytes in [
            vec![1, 2],
            vec![255, 255, 255, 255, 0],
            vec![9, 0, 0, 0, 0x90],
        ] {
            let text = Body::from_stored(Stored::Compressed(bytes.clone()))
                .text()
                .into_owned();
            assert_eq!(
                text,
                format!("<unreadable compressed body: {} bytes>", bytes.len())
            );
        }
    }
}
