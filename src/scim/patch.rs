//! PATCH (RFC 7644 section 3.5.2) applied to a User document in memory, with
//! the quirks Entra ID and Okta need: capitalised ops, "True"/"False" strings,
//! no-path replace with dotted keys, `Add` to a filtered path creating the entry.
//!
//! The patched document is validated afterwards exactly like a PUT body, so a
//! request either applies whole or not at all.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, CompValue, CompareOp, Filter};
use super::path::{parse_patch_path, resolve, sub_attribute, PatchPath, Target};
use super::schema::{
    self, Kind, TEAMTAILOR_ATTRIBUTES, TEAMTAILOR_USER_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp body; op names are case-insensitive (Entra sends `Replace`).
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("a PATCH body must be a JSON object".into()))?;
    let operations = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::InvalidSyntax(
                "a PATCH body needs an 'Operations' array (PatchOp schema)".into(),
            )
        })?;
    if operations.is_empty() {
        return Err(ScimError::InvalidSyntax("'Operations' is empty".into()));
    }
    operations.iter().map(parse_operation).collect()
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn parse_operation(value: &Value) -> Result<Operation, ScimError> {
    let object = value
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("each operation must be a JSON object".into()))?;
    let op = match field(object, "op").and_then(Value::as_str) {
        Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
        Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
        Some(op) => {
            return Err(ScimError::InvalidSyntax(format!(
                "unknown op '{op}'; expected add, replace or remove"
            )))
        }
        None => {
            return Err(ScimError::InvalidSyntax(
                "each operation needs an 'op'".into(),
            ))
        }
    };
    let path = match field(object, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim().to_string()),
        Some(_) => return Err(ScimError::InvalidPath("'path' must be a string".into())),
    };
    Ok(Operation {
        op,
        path,
        value: field(object, "value").cloned(),
    })
}

/// Applies every operation to `document` (a User with canonical attribute
/// names, and the Teamtailor extension under its URN). The extension is
/// read-only: sending it back unchanged is fine, changing it is `mutability`.
pub fn apply(document: &mut Map<String, Value>, operations: &[Operation]) -> Result<(), ScimError> {
    let extension = document.get(TEAMTAILOR_USER_SCHEMA).cloned();
    for operation in operations {
        match &operation.path {
            Some(path) => {
                let path = parse_patch_path(path)?;
                apply_at(document, operation.op, &path, operation.value.clone())?;
            }
            None => apply_without_path(document, operation)?,
        }
    }
    if document.get(TEAMTAILOR_USER_SCHEMA) != extension.as_ref() {
        return Err(ScimError::Mutability(format!(
            "{TEAMTAILOR_USER_SCHEMA} is read-only: set roles through the Teamtailor API or the command line"
        )));
    }
    Ok(())
}

fn apply_without_path(
    document: &mut Map<String, Value>,
    operation: &Operation,
) -> Result<(), ScimError> {
    if operation.op == Op::Remove {
        return Err(ScimError::NoTarget("'remove' needs a path".into()));
    }
    let Some(Value::Object(values)) = &operation.value else {
        return Err(ScimError::InvalidValue(
            "an operation without a path needs an object 'value'".into(),
        ));
    };
    for (key, value) in values {
        if key.eq_ignore_ascii_case(USER_SCHEMA) {
            let nested = Operation {
                op: operation.op,
                path: None,
                value: Some(value.clone()),
            };
            apply_without_path(document, &nested)?;
            continue;
        }
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if key.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) {
            apply_to_extension(document, operation.op, None, Some(value.clone()))?;
            continue;
        }
        // Entra's `aadOptscim062020` mode sends dotted keys: {"name.givenName": "A"}.
        let path = parse_patch_path(key)?;
        apply_at(document, operation.op, &path, Some(value.clone()))?;
    }
    Ok(())
}

fn apply_at(
    document: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let (attr, sub_attr) = match resolve(&path.attr)? {
        Target::Ignored => return Ok(()),
        Target::Extension { attr } => return apply_to_extension(document, op, attr, value),
        Target::Core { attr, sub_attr } => (attr, sub_attr),
    };
    // A null value means "no value": the same as removing it.
    let (op, value) = match (op, value) {
        (Op::Remove, _) => (Op::Remove, None),
        (_, None | Some(Value::Null)) => (Op::Remove, None),
        (op, Some(value)) => (op, Some(value)),
    };
    let attribute = schema::find(USER_ATTRIBUTES, attr).expect("resolved attributes exist");
    if op == Op::Remove && attribute.required && sub_attr.is_none() && path.filter.is_none() {
        return Err(ScimError::Mutability(format!(
            "'{attr}' is required and cannot be removed"
        )));
    }
    if attribute.multi_valued {
        let sub = match &path.value_sub_attr {
            Some(s) => Some(sub_attribute(attribute, s)?),
            None => sub_attr,
        };
        return apply_multi_valued(document, attribute, op, path.filter.as_ref(), sub, value);
    }
    if path.filter.is_some() {
        return Err(ScimError::InvalidPath(format!(
            "'{attr}' is not multi-valued; it cannot take a filter"
        )));
    }
    match (attribute.kind, sub_attr) {
        (Kind::Complex, Some(sub)) => {
            let entry = document
                .entry(attr)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let object = entry.as_object_mut().expect("an object");
            match value {
                Some(value) => {
                    object.insert(sub.into(), value);
                }
                None => {
                    object.remove(sub);
                }
            }
        }
        (Kind::Complex, None) => match value {
            None => {
                document.remove(attr);
            }
            Some(Value::Object(parts)) => {
                let entry = document
                    .entry(attr)
                    .or_insert_with(|| Value::Object(Map::new()));
                if op == Op::Replace || !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                let object = entry.as_object_mut().expect("an object");
                for (key, part) in parts {
                    object.insert(sub_attribute(attribute, &key)?.into(), part);
                }
            }
            Some(_) => return Err(ScimError::InvalidValue(format!("'{attr}' takes an object"))),
        },
        (_, _) => match value {
            Some(value) => {
                document.insert(attr.into(), value);
            }
            None => {
                document.remove(attr);
            }
        },
    }
    Ok(())
}

/// Edits the extension object as asked; `apply` then refuses any real change.
fn apply_to_extension(
    document: &mut Map<String, Value>,
    op: Op,
    attr: Option<&'static str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let value = value.filter(|v| !v.is_null() && op != Op::Remove);
    match (attr, value) {
        (None, Some(Value::Object(mut object))) => {
            object.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
            let entry = document
                .entry(TEAMTAILOR_USER_SCHEMA)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(existing) = entry {
                if op == Op::Replace {
                    existing.clear();
                }
                for (key, part) in object {
                    let name = schema::find(TEAMTAILOR_ATTRIBUTES, &key)
                        .map_or(key, |a| a.name.to_string());
                    existing.insert(name, part);
                }
            }
        }
        (None, Some(_)) => {
            return Err(ScimError::InvalidValue(format!(
                "{TEAMTAILOR_USER_SCHEMA} takes an object"
            )))
        }
        (None, None) => {
            document.remove(TEAMTAILOR_USER_SCHEMA);
        }
        (Some(attr), value) => {
            let entry = document
                .entry(TEAMTAILOR_USER_SCHEMA)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(existing) = entry {
                match value {
                    Some(value) => existing.insert(attr.into(), value),
                    None => existing.remove(attr),
                };
            }
        }
    }
    Ok(())
}

fn apply_multi_valued(
    document: &mut Map<String, Value>,
    attribute: &'static schema::Attribute,
    op: Op,
    filter: Option<&Filter>,
    sub: Option<&'static str>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let attr = attribute.name;
    let mut entries: Vec<Value> = match document.remove(attr) {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    };
    let selected = |entry: &Value| selects(filter, entry);
    match (op, sub, value) {
        (Op::Remove, None, None) if filter.is_some() => entries.retain(|e| !selected(e)),
        (Op::Remove, None, None) => entries.clear(),
        (Op::Remove, Some(sub), _) => {
            for entry in entries.iter_mut().filter(|e| selected(e)) {
                if let Some(object) = entry.as_object_mut() {
                    object.remove(sub);
                }
            }
        }
        (_, Some(sub), Some(value)) => {
            let mut parts = Map::new();
            parts.insert(sub.into(), value);
            merge_into_selected(attribute, &mut entries, filter, parts);
        }
        (_, None, Some(value)) if filter.is_some() => {
            let parts = canonical_entry(attribute, value)?;
            merge_into_selected(attribute, &mut entries, filter, parts);
        }
        (op, None, Some(value)) => {
            let new_entries = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            if op == Op::Replace {
                entries.clear();
            }
            for item in new_entries {
                let item = Value::Object(canonical_entry(attribute, item)?);
                if item.get("primary").is_some_and(is_true) {
                    // At most one primary entry (RFC 7643 section 2.4).
                    for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
                        entry.remove("primary");
                    }
                }
                if !entries.contains(&item) {
                    entries.push(item);
                }
            }
        }
        (_, _, None) => unreachable!("null values were turned into removals"),
    }
    if !entries.is_empty() {
        document.insert(attr.into(), Value::Array(entries));
    }
    Ok(())
}

/// Merges `parts` into the entries the filter selects, or, when none does,
/// adds an entry made from the filter and `parts` (Entra adds
/// `emails[type eq "work"].value` to users with no work email). An entry
/// made primary takes `primary` from every other (RFC 7644 section 3.5.2).
fn merge_into_selected(
    attribute: &'static schema::Attribute,
    entries: &mut Vec<Value>,
    filter: Option<&Filter>,
    parts: Map<String, Value>,
) {
    let chosen: Vec<bool> = entries
        .iter()
        .map(|e| selects(filter, e) && e.is_object())
        .collect();
    if parts.get("primary").is_some_and(is_true) {
        for (entry, _) in entries.iter_mut().zip(&chosen).filter(|(_, c)| !**c) {
            if let Some(object) = entry.as_object_mut() {
                object.remove("primary");
            }
        }
    }
    if !chosen.contains(&true) {
        let mut created = filter
            .map(|f| entry_from_filter(attribute, f))
            .unwrap_or_default();
        created.extend(parts);
        entries.push(Value::Object(created));
        return;
    }
    for (entry, _) in entries.iter_mut().zip(&chosen).filter(|(_, c)| **c) {
        if let Some(object) = entry.as_object_mut() {
            object.extend(parts.clone());
        }
    }
}

/// Whether a path's value filter (none: every entry) selects `entry`.
fn selects(filter: Option<&Filter>, entry: &Value) -> bool {
    filter.is_none_or(|f| filter::matches(f, entry, &|_| false))
}

/// `true`, or the string "True" in any case as Entra ID sends booleans.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::String(text) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// An entry object with canonical sub-attribute names.
fn canonical_entry(
    attribute: &'static schema::Attribute,
    value: Value,
) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(object) = value else {
        return Err(ScimError::InvalidValue(format!(
            "each entry of '{}' must be an object",
            attribute.name
        )));
    };
    object
        .into_iter()
        .map(|(key, part)| Ok((sub_attribute(attribute, &key)?.to_string(), part)))
        .collect()
}

/// The sub-attributes a filter pins with `eq` (e.g. `type eq "work"`), for
/// entries created by `add` to a filtered path.
fn entry_from_filter(attribute: &'static schema::Attribute, filter: &Filter) -> Map<String, Value> {
    let mut entry = Map::new();
    collect_equalities(attribute, filter, &mut entry);
    entry
}

fn collect_equalities(
    attribute: &'static schema::Attribute,
    filter: &Filter,
    entry: &mut Map<String, Value>,
) {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub_attr.is_none() => {
            let value = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return,
            };
            if let Ok(name) = sub_attribute(attribute, &path.attr) {
                entry.insert(name.into(), value);
            }
        }
        Filter::And(left, right) => {
            collect_equalities(attribute, left, entry);
            collect_equalities(attribute, right, entry);
        }
        _ => {}
    }
}
