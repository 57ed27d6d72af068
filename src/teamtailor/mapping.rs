//! SCIM <-> Teamtailor: how a provisioned User becomes a Teamtailor user and back.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::scim::resource::UserRequest;
use crate::scim::schema::{TEAMTAILOR_USER_SCHEMA, USER_SCHEMA};

use super::{Micros, Role, User, UserData};

/// A user created through SCIM: role `user` when active (the default), else `no_access`.
pub fn new_user(request: UserRequest) -> UserData {
    let role = Role::for_new_user(request.active.unwrap_or(true));
    UserData::new(request.attributes, role)
}

/// PUT: every SCIM attribute is replaced (absent ones cleared); `active`, when
/// sent, moves the role by Teamtailor's rule. API-only fields are kept.
pub fn replace(current: &UserData, request: UserRequest) -> UserData {
    let role = match request.active {
        Some(active) => current.role.after_active(active),
        None => current.role,
    };
    UserData {
        attributes: request.attributes,
        role,
        ..current.clone()
    }
}

pub fn format_time(micros: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The SCIM representation: what the client sent for stored attributes, `active`
/// derived from the role, and the role itself in the read-only extension.
pub fn to_scim(user: &User, base_url: &str) -> Value {
    let mut resource = Map::new();
    resource.insert(
        "schemas".into(),
        json!([USER_SCHEMA, TEAMTAILOR_USER_SCHEMA]),
    );
    resource.insert("id".into(), json!(user.id.to_string()));
    resource.extend(user.data.attributes.to_document(user.data.role.is_active()));
    resource.insert(
        TEAMTAILOR_USER_SCHEMA.into(),
        json!({ "role": user.data.role.as_str() }),
    );
    resource.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": format_time(user.created_at),
            "lastModified": format_time(user.updated_at),
            "location": format!("{base_url}/Users/{}", user.id),
            "version": user.etag(),
        }),
    );
    Value::Object(resource)
}
