//! Evaluates a filter against a resource in memory, with the same semantics
//! as the SQL translation (a property test holds the two together):
//! an absent attribute fails every comparison except `ne` and `eq null`; a
//! multi-valued attribute matches when any entry does, and `ne` means that
//! no entry is equal.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::ast::{AttrPath, CompValue, CompareOp, Filter};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// `case_exact` tells whether string comparison on a path is case-sensitive.
pub fn matches(filter: &Filter, resource: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
    match filter {
        Filter::And(left, right) => {
            matches(left, resource, case_exact) && matches(right, resource, case_exact)
        }
        Filter::Or(left, right) => {
            matches(left, resource, case_exact) || matches(right, resource, case_exact)
        }
        Filter::Not(inner) => !matches(inner, resource, case_exact),
        Filter::ValuePath { path, filter } => match attribute(resource, path) {
            Some(Value::Array(entries)) => entries
                .iter()
                .any(|entry| matches(filter, entry, case_exact)),
            _ => false,
        },
        Filter::Present(path) => match attribute(resource, path) {
            Some(Value::Array(entries)) => entries.iter().any(|entry| {
                is_present(sub_value(
                    entry,
                    path.sub_attr.as_deref().unwrap_or("value"),
                ))
            }),
            Some(value) => is_present(Some(value).and_then(|v| descend(v, path))),
            None => false,
        },
        Filter::Compare { path, op, value } if is_id(path) => compare_id(resource, *op, value),
        Filter::Compare { path, op, value } => {
            let exact = case_exact(path);
            let date = is_date(path);
            match attribute(resource, path) {
                Some(Value::Array(entries)) => {
                    let sub = path.sub_attr.as_deref().unwrap_or("value");
                    let values = entries.iter().map(|entry| sub_value(entry, sub));
                    match (op, value) {
                        (CompareOp::Eq, CompValue::Null) => {
                            !entries.iter().any(|e| is_set(sub_value(e, sub)))
                        }
                        (CompareOp::Ne, CompValue::Null) => {
                            entries.iter().any(|e| is_set(sub_value(e, sub)))
                        }
                        (CompareOp::Ne, _) => !values
                            .into_iter()
                            .any(|v| compare(v, CompareOp::Eq, value, exact, date)),
                        _ => values
                            .into_iter()
                            .any(|v| compare(v, *op, value, exact, date)),
                    }
                }
                single => compare(
                    single.and_then(|v| descend(v, path)),
                    *op,
                    value,
                    exact,
                    date,
                ),
            }
        }
    }
}

fn is_id(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("id")
        && path.sub_attr.is_none()
        && path
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(CORE_USER))
}

/// Ids are Teamtailor's positive integers and order as numbers; a value
/// that is not one equals no id.
fn compare_id(resource: &Value, op: CompareOp, expected: &CompValue) -> bool {
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok());
    let wanted = match expected {
        CompValue::String(s) => s.parse::<i64>().ok().filter(|n| *n > 0),
        _ => None,
    };
    match (id, wanted) {
        (Some(id), Some(wanted)) => ordered(op, id.cmp(&wanted)),
        _ => op == CompareOp::Ne,
    }
}

fn is_date(path: &AttrPath) -> bool {
    path.attr.eq_ignore_ascii_case("meta")
        && path.sub_attr.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("created") || s.eq_ignore_ascii_case("lastModified")
        })
}

fn get<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The top-level (or extension) value a path starts from.
fn attribute<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let object = resource.as_object()?;
    let scope = match path.urn.as_deref() {
        None => object,
        Some(urn) if urn.eq_ignore_ascii_case(CORE_USER) => object,
        Some(urn) => get(object, urn)?.as_object()?,
    };
    get(scope, &path.attr)
}

/// A singular attribute's value, following the sub-attribute if any.
fn descend<'a>(value: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.sub_attr {
        None => Some(value),
        Some(sub) => get(value.as_object()?, sub),
    }
}

fn sub_value<'a>(entry: &'a Value, sub: &str) -> Option<&'a Value> {
    get(entry.as_object()?, sub)
}

fn is_set(value: Option<&Value>) -> bool {
    value.is_some_and(|v| !v.is_null())
}

fn is_present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn compare(
    actual: Option<&Value>,
    op: CompareOp,
    expected: &CompValue,
    exact: bool,
    date: bool,
) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    let Some(actual) = actual else {
        // Absent is null: `eq null` holds, `ne null` does not, `ne x` does.
        return match expected {
            CompValue::Null => op == CompareOp::Eq,
            _ => op == CompareOp::Ne,
        };
    };
    let ordering = match (actual, expected) {
        (_, CompValue::Null) => return op == CompareOp::Ne,
        (Value::String(a), CompValue::String(b)) => {
            if date {
                if let (Ok(a), Ok(b)) = (
                    DateTime::parse_from_rfc3339(a),
                    DateTime::parse_from_rfc3339(b),
                ) {
                    return ordered(op, a.cmp(&b));
                }
            }
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => a.cmp(&b),
            }
        }
        (Value::Bool(a), CompValue::Bool(b)) => match op {
            CompareOp::Eq => return a == b,
            CompareOp::Ne => return a != b,
            _ => return false,
        },
        (Value::Number(a), CompValue::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) if !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                match a.partial_cmp(&b) {
                    Some(ordering) => ordering,
                    None => return false,
                }
            }
            _ => return false,
        },
        // Different types are never equal.
        _ => return op == CompareOp::Ne,
    };
    ordered(op, ordering)
}

fn ordered(op: CompareOp, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
