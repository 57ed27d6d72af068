//! Interim in-memory evaluation for value filters on multi-valued entries.
use serde_json::Value;

use super::ast::{AttrPath, CompValue, CompareOp, Filter};

pub fn matches(filter: &Filter, resource: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource, case_exact) && matches(b, resource, case_exact),
        Filter::Or(a, b) => matches(a, resource, case_exact) || matches(b, resource, case_exact),
        Filter::Not(inner) => !matches(inner, resource, case_exact),
        Filter::Present(path) => lookup(resource, path).is_some_and(|v| !v.is_null() && v != ""),
        Filter::ValuePath { .. } => false,
        Filter::Compare { path, op, value } => {
            let actual = lookup(resource, path);
            let exact = case_exact(path);
            match (actual, value) {
                (Some(Value::String(a)), CompValue::String(b)) => {
                    let (a, b) = if exact {
                        (a.clone(), b.clone())
                    } else {
                        (a.to_lowercase(), b.to_lowercase())
                    };
                    match op {
                        CompareOp::Eq => a == b,
                        CompareOp::Ne => a != b,
                        CompareOp::Co => a.contains(&b),
                        CompareOp::Sw => a.starts_with(&b),
                        CompareOp::Ew => a.ends_with(&b),
                        CompareOp::Gt => a > b,
                        CompareOp::Ge => a >= b,
                        CompareOp::Lt => a < b,
                        CompareOp::Le => a <= b,
                    }
                }
                (Some(Value::Bool(a)), CompValue::Bool(b)) => match op {
                    CompareOp::Eq => a == b,
                    CompareOp::Ne => a != b,
                    _ => false,
                },
                (None | Some(Value::Null), CompValue::Null) => *op == CompareOp::Eq,
                _ => *op == CompareOp::Ne,
            }
        }
    }
}

fn lookup<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let object = resource.as_object()?;
    let value = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&path.attr))
        .map(|(_, v)| v)?;
    match &path.sub_attr {
        None => Some(value),
        Some(sub) => value
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(sub))
            .map(|(_, v)| v),
    }
}
