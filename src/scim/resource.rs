//! The User resource as SCIM clients send it: parsed once at the edge, leniently
//! where identity providers are quirky (key case, "True" strings, unknown attributes).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ScimError;
use super::limits;
use super::schema::USER_SCHEMA;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        *self == Name::default()
    }
}

/// One entry of `emails` or `phoneNumbers`, kept as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

impl MultiValue {
    pub fn is_type(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    }
}

/// The writable core User attributes this server stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAttributes {
    pub user_name: String,
    pub external_id: Option<String>,
    pub name: Name,
    pub display_name: Option<String>,
    pub title: Option<String>,
    pub emails: Vec<MultiValue>,
    pub phone_numbers: Vec<MultiValue>,
}

impl UserAttributes {
    /// The userName as its uniqueness is checked: in any case (RFC 7643
    /// gives userName `caseExact: false`).
    pub fn user_name_key(&self) -> String {
        self.user_name.to_lowercase()
    }

    /// The writable attributes as a SCIM document with canonical names: what a
    /// resource shows of them and what PATCH edits.
    pub fn to_document(&self, active: bool) -> Map<String, Value> {
        let mut document = Map::new();
        if let Some(external_id) = &self.external_id {
            document.insert("externalId".into(), Value::String(external_id.clone()));
        }
        document.insert("userName".into(), Value::String(self.user_name.clone()));
        if !self.name.is_empty() {
            document.insert(
                "name".into(),
                serde_json::to_value(&self.name).unwrap_or_default(),
            );
        }
        if let Some(display_name) = &self.display_name {
            document.insert("displayName".into(), Value::String(display_name.clone()));
        }
        if let Some(title) = &self.title {
            document.insert("title".into(), Value::String(title.clone()));
        }
        document.insert("active".into(), Value::Bool(active));
        if !self.emails.is_empty() {
            document.insert(
                "emails".into(),
                serde_json::to_value(&self.emails).unwrap_or_default(),
            );
        }
        if !self.phone_numbers.is_empty() {
            document.insert(
                "phoneNumbers".into(),
                serde_json::to_value(&self.phone_numbers).unwrap_or_default(),
            );
        }
        document
    }
}

/// A User resource from a POST or PUT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequest {
    pub attributes: UserAttributes,
    /// `None` when the client did not send `active`.
    pub active: Option<bool>,
}

impl UserRequest {
    pub fn from_json(body: &Value) -> Result<Self, ScimError> {
        let object = body.as_object().ok_or_else(|| {
            ScimError::InvalidSyntax("the request body must be a JSON object".into())
        })?;
        let fields = core_fields(object);
        let user_name = match lookup(&fields, "userName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ScimError::InvalidValue(
                    "userName is required and must be a non-empty string".into(),
                ))
            }
            Some(_) => return Err(ScimError::InvalidValue("userName must be a string".into())),
        };
        limits::check("userName", &user_name, limits::TEXT).map_err(ScimError::InvalidValue)?;
        let attributes = UserAttributes {
            user_name,
            external_id: optional_string(&fields, "externalId")?,
            name: parse_name(lookup(&fields, "name"))?,
            display_name: optional_string(&fields, "displayName")?,
            title: optional_string(&fields, "title")?,
            emails: parse_multi_valued(lookup(&fields, "emails"), "emails")?,
            phone_numbers: parse_multi_valued(lookup(&fields, "phoneNumbers"), "phoneNumbers")?,
        };
        let active = match lookup(&fields, "active") {
            None | Some(Value::Null) => None,
            Some(value) => Some(parse_bool(value, "active")?),
        };
        Ok(UserRequest { attributes, active })
    }
}

/// Top-level attributes, with those nested under the core schema URN (allowed by
/// RFC 7644 section 3.10) merged in.
fn core_fields(object: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut fields: Vec<(&str, &Value)> = Vec::with_capacity(object.len());
    for (key, value) in object {
        if key.eq_ignore_ascii_case(USER_SCHEMA) {
            if let Value::Object(nested) = value {
                fields.extend(nested.iter().map(|(k, v)| (k.as_str(), v)));
            }
        } else {
            fields.push((key.as_str(), value));
        }
    }
    fields
}

/// Attribute names are case-insensitive (RFC 7643 section 2.1).
fn lookup<'a>(fields: &[(&str, &'a Value)], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| *value)
}

fn optional_string(fields: &[(&str, &Value)], name: &str) -> Result<Option<String>, ScimError> {
    string_value(lookup(fields, name), name, limits::TEXT)
}

fn string_value(
    value: Option<&Value>,
    name: &str,
    max_chars: usize,
) -> Result<Option<String>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            limits::check(name, s, max_chars).map_err(ScimError::InvalidValue)?;
            Ok(Some(s.clone()))
        }
        Some(other) => Err(ScimError::InvalidValue(format!(
            "{name} must be a string, got {}",
            json_type(other)
        ))),
    }
}

/// Booleans may arrive as JSON booleans or as the strings "True"/"False" (Entra).
pub fn parse_bool(value: &Value, name: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::InvalidValue(format!(
            "{name} must be a boolean (true or false), got {other}"
        ))),
    }
}

pub fn parse_name(value: Option<&Value>) -> Result<Name, ScimError> {
    let object = match value {
        None | Some(Value::Null) => return Ok(Name::default()),
        Some(Value::Object(object)) => object,
        Some(other) => {
            return Err(ScimError::InvalidValue(format!(
                "name must be an object, got {}",
                json_type(other)
            )))
        }
    };
    let fields: Vec<(&str, &Value)> = object.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let part = |key: &str| {
        string_value(
            lookup(&fields, key),
            &format!("name.{key}"),
            limits::NAME_PART,
        )
    };
    Ok(Name {
        formatted: part("formatted")?,
        family_name: part("familyName")?,
        given_name: part("givenName")?,
        middle_name: part("middleName")?,
        honorific_prefix: part("honorificPrefix")?,
        honorific_suffix: part("honorificSuffix")?,
    })
}

pub fn parse_multi_valued(value: Option<&Value>, name: &str) -> Result<Vec<MultiValue>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| parse_multi_value(item, name))
            .collect(),
        Some(other) => Err(ScimError::InvalidValue(format!(
            "{name} must be an array, got {}",
            json_type(other)
        ))),
    }
}

pub fn parse_multi_value(item: &Value, name: &str) -> Result<MultiValue, ScimError> {
    let object = item.as_object().ok_or_else(|| {
        ScimError::InvalidValue(format!("each entry of {name} must be an object"))
    })?;
    let fields: Vec<(&str, &Value)> = object.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Ok(MultiValue {
        value: string_value(
            lookup(&fields, "value"),
            &format!("{name}.value"),
            limits::TEXT,
        )?,
        display: string_value(
            lookup(&fields, "display"),
            &format!("{name}.display"),
            limits::TEXT,
        )?,
        kind: string_value(
            lookup(&fields, "type"),
            &format!("{name}.type"),
            limits::LABEL,
        )?,
        primary: match lookup(&fields, "primary") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_bool(v, &format!("{name}.primary"))?),
        },
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
