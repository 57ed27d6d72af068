//! `attributes` and `excludedAttributes` (RFC 7644 section 3.9) on resource
//! responses. `id` and `schemas` are always returned.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::parse_attr_path;
use super::schema::{
    self, TEAMTAILOR_ATTRIBUTES, TEAMTAILOR_USER_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA,
};

/// One selected attribute: a top-level key of the resource and an optional
/// sub-attribute. `None` key: an attribute this server does not store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    key: Option<String>,
    sub: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    include: Option<Vec<Selector>>,
    exclude: Vec<Selector>,
}

const ALWAYS_RETURNED: [&str; 2] = ["id", "schemas"];

impl Projection {
    /// Parses comma-separated attribute lists; unknown attributes are 400
    /// `invalidPath`, never a silently empty response.
    pub fn parse<'a>(
        attributes: impl IntoIterator<Item = &'a str>,
        excluded: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ScimError> {
        let include: Vec<Selector> = selectors(attributes)?;
        Ok(Projection {
            include: (!include.is_empty()).then_some(include),
            exclude: selectors(excluded)?,
        })
    }

    pub fn is_identity(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    pub fn apply(&self, resource: &mut Map<String, Value>) {
        if let Some(include) = &self.include {
            let kept: Map<String, Value> = std::mem::take(resource)
                .into_iter()
                .filter_map(|(key, value)| {
                    if ALWAYS_RETURNED.contains(&key.as_str()) {
                        return Some((key, value));
                    }
                    let wanted: Vec<&Selector> = include
                        .iter()
                        .filter(|s| s.key.as_deref() == Some(key.as_str()))
                        .collect();
                    if wanted.is_empty() {
                        None
                    } else if wanted.iter().any(|s| s.sub.is_none()) {
                        Some((key, value))
                    } else {
                        let subs: Vec<&str> =
                            wanted.iter().filter_map(|s| s.sub.as_deref()).collect();
                        keep_subs(value, &subs).map(|v| (key, v))
                    }
                })
                .collect();
            *resource = kept;
        }
        for selector in &self.exclude {
            let Some(key) = selector.key.as_deref() else {
                continue;
            };
            if ALWAYS_RETURNED.contains(&key) {
                continue;
            }
            match &selector.sub {
                None => {
                    resource.remove(key);
                }
                Some(sub) => {
                    let emptied = match resource.get_mut(key) {
                        Some(Value::Object(object)) => {
                            object.remove(sub);
                            object.is_empty()
                        }
                        Some(Value::Array(items)) => {
                            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                                item.remove(sub);
                            }
                            items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
                            items.is_empty()
                        }
                        _ => false,
                    };
                    if emptied {
                        resource.remove(key);
                    }
                }
            }
        }
    }
}

fn keep_subs(value: Value, subs: &[&str]) -> Option<Value> {
    let keep = |object: Map<String, Value>| -> Map<String, Value> {
        object
            .into_iter()
            .filter(|(k, _)| subs.contains(&k.as_str()))
            .collect()
    };
    match value {
        Value::Object(object) => {
            let kept = keep(object);
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(object) => Some(keep(object))
                        .filter(|o| !o.is_empty())
                        .map(Value::Object),
                    _ => None,
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn selectors<'a>(lists: impl IntoIterator<Item = &'a str>) -> Result<Vec<Selector>, ScimError> {
    lists
        .into_iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(selector)
        .collect()
}

fn selector(text: &str) -> Result<Selector, ScimError> {
    if text.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) {
        return Ok(Selector {
            key: Some(TEAMTAILOR_USER_SCHEMA.into()),
            sub: None,
        });
    }
    if text.eq_ignore_ascii_case("schemas") {
        return Ok(Selector {
            key: Some("schemas".into()),
            sub: None,
        });
    }
    let path = parse_attr_path(text)?;
    let unknown = || ScimError::InvalidPath(format!("unknown attribute '{text}'"));
    let (key, attributes) = match path.urn.as_deref() {
        None => (None, USER_ATTRIBUTES),
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => (None, USER_ATTRIBUTES),
        Some(urn) if urn.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) => {
            (Some(TEAMTAILOR_USER_SCHEMA), TEAMTAILOR_ATTRIBUTES)
        }
        // Other extensions (e.g. enterprise) are accepted but not stored.
        Some(_) => {
            return Ok(Selector {
                key: None,
                sub: None,
            })
        }
    };
    let attribute = schema::find(attributes, &path.attr).ok_or_else(unknown)?;
    let sub = match &path.sub_attr {
        None => None,
        Some(sub) => Some(
            schema::find(attribute.sub_attributes, sub)
                .ok_or_else(unknown)?
                .name
                .to_string(),
        ),
    };
    Ok(match key {
        // An extension attribute is a sub-key of the extension object.
        Some(urn) => Selector {
            key: Some(urn.into()),
            sub: Some(attribute.name.into()),
        },
        None => Selector {
            key: Some(attribute.name.into()),
            sub,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(attributes: &str, excluded: &str, resource: Value) -> Value {
        let mut object = resource.as_object().unwrap().clone();
        Projection::parse([attributes], [excluded])
            .unwrap()
            .apply(&mut object);
        Value::Object(object)
    }

    #[test]
    fn keeps_requested_attributes_and_always_returned_ones() {
        let user = json!({"schemas": ["s"], "id": "1", "userName": "u", "title": "t",
                          "name": {"givenName": "g", "familyName": "f"},
                          "emails": [{"value": "a", "type": "work"}],
                          TEAMTAILOR_USER_SCHEMA: {"role": "user"}});
        assert_eq!(
            project("userName,name.givenName,emails.value", "", user.clone()),
            json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "g"}, "emails": [{"value": "a"}]})
        );
        assert_eq!(
            project("", "title,name.familyName,id,urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role", user.clone()),
            json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "g"},
                   "emails": [{"value": "a", "type": "work"}]})
        );
        assert_eq!(
            project(TEAMTAILOR_USER_SCHEMA, "", user)[TEAMTAILOR_USER_SCHEMA]["role"],
            "user"
        );
        assert!(Projection::parse(["nosuch"], []).is_err());
    }
}
