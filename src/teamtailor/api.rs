//! The Teamtailor API's view of a user: JSON:API `users` resources with
//! kebab-case attributes, and how API writes change the user.

use serde_json::{json, Map, Value};

use crate::scim::limits;
use crate::scim::resource::{MultiValue, UserAttributes};

use super::mapping::format_time;
use super::{Role, User, UserData};

/// A rejected attribute: its JSON:API pointer and what is wrong with it (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAttribute {
    pub attribute: &'static str,
    pub detail: String,
}

impl InvalidAttribute {
    fn new(attribute: &'static str, detail: impl Into<String>) -> Self {
        InvalidAttribute {
            attribute,
            detail: detail.into(),
        }
    }

    pub fn pointer(&self) -> String {
        format!("/data/attributes/{}", self.attribute)
    }
}

pub fn to_resource(user: &User, api_base: &str) -> Value {
    let data = &user.data;
    let attributes = &data.attributes;
    json!({
        "id": user.id.to_string(),
        "type": "users",
        "links": { "self": format!("{api_base}/users/{}", user.id) },
        "attributes": {
            "email": data.display_email(),
            "login-email": attributes.user_name,
            "username": attributes.user_name,
            "name": data.full_name(),
            "title": attributes.title,
            "role": data.role.as_str(),
            "external-id": attributes.external_id,
            "phone": data.phone(),
            "visible": data.visible,
            "locale": data.locale,
            "time-zone": data.time_zone,
            "created-at": format_time(user.created_at),
            "updated-at": format_time(user.updated_at),
        },
    })
}

/// A user created through the API: `email` is required and is also the login
/// email unless `login-email` is given; the role defaults to `user`.
pub fn new_user(attributes: &Map<String, Value>) -> Result<UserData, Vec<InvalidAttribute>> {
    let email = match attributes.get("email") {
        Some(Value::String(email)) => email.trim().to_string(),
        _ => {
            return Err(vec![InvalidAttribute::new(
                "email",
                "email is required and must be an email address",
            )])
        }
    };
    let data = UserData::new(
        UserAttributes {
            user_name: email,
            ..Default::default()
        },
        Role::User,
    );
    update(&data, attributes)
}

/// Applies the attributes an API client sent (others are kept).
pub fn update(
    current: &UserData,
    attributes: &Map<String, Value>,
) -> Result<UserData, Vec<InvalidAttribute>> {
    let mut data = current.clone();
    let mut errors = Vec::new();
    for (key, value) in attributes {
        if let Err(error) = apply(&mut data, key, value) {
            errors.push(error);
        }
    }
    if errors.is_empty() {
        Ok(data)
    } else {
        Err(errors)
    }
}

fn apply(data: &mut UserData, key: &str, value: &Value) -> Result<(), InvalidAttribute> {
    let attributes = &mut data.attributes;
    match key {
        "email" => {
            let email = valid_email("email", value)?;
            set_work_entry(&mut attributes.emails, Some(email));
        }
        "login-email" | "username" => {
            let attribute = if key == "username" {
                "username"
            } else {
                "login-email"
            };
            attributes.user_name = valid_email(attribute, value)?;
        }
        "name" => attributes.name.formatted = optional_text("name", value, limits::NAME_PART)?,
        "title" => attributes.title = optional_text("title", value, limits::TEXT)?,
        "external-id" => {
            attributes.external_id = optional_text("external-id", value, limits::TEXT)?
        }
        "phone" => set_work_entry(
            &mut attributes.phone_numbers,
            optional_text("phone", value, limits::TEXT)?,
        ),
        "role" => {
            let text = value
                .as_str()
                .ok_or_else(|| InvalidAttribute::new("role", "role must be a string"))?;
            data.role = text
                .parse()
                .map_err(|e: super::UnknownRole| InvalidAttribute::new("role", e.to_string()))?;
        }
        "visible" => {
            data.visible = value
                .as_bool()
                .ok_or_else(|| InvalidAttribute::new("visible", "visible must be true or false"))?
        }
        "locale" => data.locale = optional_text("locale", value, limits::LABEL)?,
        "time-zone" => data.time_zone = optional_text("time-zone", value, limits::LABEL)?,
        // Read-only attributes are ignored, as JSON:API servers commonly do.
        "created-at" | "updated-at" => {}
        _ => {}
    }
    Ok(())
}

fn optional_text(
    attribute: &'static str,
    value: &Value,
    max_chars: usize,
) -> Result<Option<String>, InvalidAttribute> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            limits::check(attribute, s, max_chars)
                .map_err(|detail| InvalidAttribute::new(attribute, detail))?;
            Ok(Some(s.clone()))
        }
        _ => Err(InvalidAttribute::new(
            attribute,
            format!("{attribute} must be a string or null"),
        )),
    }
}

fn valid_email(attribute: &'static str, value: &Value) -> Result<String, InvalidAttribute> {
    let text = value.as_str().map(str::trim).unwrap_or_default();
    limits::check(attribute, text, limits::TEXT)
        .map_err(|detail| InvalidAttribute::new(attribute, detail))?;
    let plausible = text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !text.contains(char::is_whitespace)
    });
    if plausible {
        Ok(text.to_string())
    } else {
        Err(InvalidAttribute::new(
            attribute,
            format!("{attribute} must be an email address"),
        ))
    }
}

/// Sets (or with `None` removes) the value of the `work` entry, creating a
/// primary work entry when there is none.
fn set_work_entry(entries: &mut Vec<MultiValue>, value: Option<String>) {
    match (entries.iter_mut().find(|e| e.is_type("work")), value) {
        (Some(entry), Some(value)) => entry.value = Some(value),
        (Some(_), None) => entries.retain(|e| !e.is_type("work")),
        (None, Some(value)) => entries.push(MultiValue {
            value: Some(value),
            kind: Some("work".into()),
            primary: Some(entries.is_empty()),
            display: None,
        }),
        (None, None) => {}
    }
}
