//! List responses and paging (RFC 7644 section 3.4.2).

use serde::Serialize;
use serde_json::{json, Value};

use super::schema::LIST_RESPONSE_SCHEMA;

/// The largest page the server returns; advertised as `filter.maxResults`.
pub const MAX_RESULTS: u64 = 1000;
pub const DEFAULT_COUNT: u64 = 100;

/// `startIndex` and `count` as SCIM defines them: 1-based, values below 1
/// treated as 1; `count` 0 asks for `totalResults` only, capped at `MAX_RESULTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub start_index: u64,
    pub count: u64,
}

impl Paging {
    pub fn new(start_index: Option<i64>, count: Option<i64>) -> Self {
        Paging {
            start_index: start_index.unwrap_or(1).max(1) as u64,
            count: count
                .unwrap_or(DEFAULT_COUNT as i64)
                .clamp(0, MAX_RESULTS as i64) as u64,
        }
    }
}

/// An opaque RFC 9865 cursor: the position after the last user of a page.
pub fn encode_cursor(created_at: i64, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_at}.{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<(i64, i64), super::ScimError> {
    use base64::Engine;
    let invalid = || {
        super::ScimError::InvalidCursor(format!("'{cursor}' is not a cursor this server issued"))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (created_at, id) = text.split_once('.').ok_or_else(invalid)?;
    Ok((
        created_at.parse().map_err(|_| invalid())?,
        id.parse().map_err(|_| invalid())?,
    ))
}

/// A ListResponse written as it is serialised: resources straight from
/// their rows. `startIndex` is left out and `nextCursor` set for cursor paging.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListBody<'a, R> {
    schemas: [&'static str; 1],
    total_results: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_index: Option<u64>,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: &'a [R],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl<'a, R> ListBody<'a, R> {
    pub fn new(
        total: u64,
        start_index: Option<u64>,
        resources: &'a [R],
        next_cursor: Option<String>,
    ) -> Self {
        ListBody {
            schemas: [LIST_RESPONSE_SCHEMA],
            total_results: total,
            start_index,
            items_per_page: resources.len(),
            resources,
            next_cursor,
        }
    }
}

pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_cursor(&encode_cursor(1_700_000_000_000_000, 42)).unwrap(),
            (1_700_000_000_000_000, 42)
        );
        assert!(decode_cursor("nope!").is_err());
        assert!(decode_cursor("bm9wZQ").is_err());
    }

    #[test]
    fn paging_clamps_to_scim_rules() {
        assert_eq!(
            Paging::new(Some(0), Some(-5)),
            Paging {
                start_index: 1,
                count: 0
            }
        );
        assert_eq!(Paging::new(None, Some(5000)).count, MAX_RESULTS);
        assert_eq!(
            Paging::new(None, None),
            Paging {
                start_index: 1,
                count: DEFAULT_COUNT
            }
        );
    }
}
