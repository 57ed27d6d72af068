//! Interim parser for the forms Entra and Okta send (`attr eq "v"` joined by `and`).
use super::ast::{AttrPath, CompValue, CompareOp, Filter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub expected: String,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid filter at position {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for FilterError {}

fn error(position: usize, expected: &str) -> FilterError {
    FilterError {
        position,
        expected: expected.into(),
        message: format!("expected {expected}"),
    }
}

pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut rest = input.trim_start();
    let mut result: Option<Filter> = None;
    loop {
        let pos = input.len() - rest.len();
        let end = rest
            .find(' ')
            .ok_or_else(|| error(pos, "an attribute path"))?;
        let path = AttrPath {
            urn: None,
            attr: rest[..end].to_string(),
            sub_attr: None,
        };
        rest = rest[end..].trim_start();
        let pos = input.len() - rest.len();
        let end = rest.find(' ').ok_or_else(|| error(pos, "an operator"))?;
        if !rest[..end].eq_ignore_ascii_case("eq") {
            return Err(error(pos, "eq"));
        }
        rest = rest[end..].trim_start();
        let pos = input.len() - rest.len();
        let mut de = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let value = match de.next() {
            Some(Ok(serde_json::Value::String(s))) => CompValue::String(s),
            _ => return Err(error(pos, "a string value")),
        };
        rest = rest[de.byte_offset()..].trim_start();
        let compare = Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        };
        result = Some(match result {
            None => compare,
            Some(left) => Filter::And(Box::new(left), Box::new(compare)),
        });
        if rest.is_empty() {
            return result.ok_or_else(|| error(0, "a filter"));
        }
        let pos = input.len() - rest.len();
        if rest.len() < 4 || !rest[..4].eq_ignore_ascii_case("and ") {
            return Err(error(pos, "'and' or the end of the filter"));
        }
        rest = rest[4..].trim_start();
    }
}
