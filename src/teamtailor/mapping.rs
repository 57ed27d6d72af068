//! SCIM <-> Teamtailor: how a provisioned User becomes a Teamtailor user and back.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

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
    Time(micros).to_string()
}

/// A time as RFC 3339 in UTC with milliseconds (`2023-11-14T22:13:20.123Z`),
/// written without allocating: a list page shows two per user.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub Micros);

impl Time {
    /// The text, or None past year 9999 or before year 0 (chrono writes those).
    fn ascii(self) -> Option<[u8; 24]> {
        let at = DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default();
        if !(0..=9999).contains(&at.year()) {
            return None;
        }
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, value: u32, digits: usize| {
            let mut value = value;
            for i in (at..at + digits).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, at.year() as u32, 4);
        put(5, at.month(), 2);
        put(8, at.day(), 2);
        put(11, at.hour(), 2);
        put(14, at.minute(), 2);
        put(17, at.second(), 2);
        put(20, at.timestamp_subsec_millis() % 1000, 3);
        Some(text)
    }

    fn chrono_text(self) -> String {
        let at = DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default();
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ascii() {
            // Only ASCII digits and separators were written.
            Some(text) => f.write_str(std::str::from_utf8(&text).unwrap_or_default()),
            None => f.write_str(&self.chrono_text()),
        }
    }
}

/// Written as a string of its own (serde's `collect_str` would run the
/// formatting machinery and escape each piece it writes).
impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.ascii() {
            Some(text) => serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default()),
            None => serializer.serialize_str(&self.chrono_text()),
        }
    }
}

/// A version as its weak ETag (`W/"3"`), written as one string.
struct Version(i64);

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.0).as_bytes();
        // `W/"` + at most 20 characters of an i64 + `"`.
        let mut text = [0u8; 24];
        text[..3].copy_from_slice(b"W/\"");
        text[3..3 + digits.len()].copy_from_slice(digits);
        text[3 + digits.len()] = b'"';
        serializer.serialize_str(std::str::from_utf8(&text[..4 + digits.len()]).unwrap_or_default())
    }
}

/// `"schemas"` of every User resource, as JSON text written as it is.
fn user_schemas() -> &'static RawValue {
    static SCHEMAS: LazyLock<Box<RawValue>> = LazyLock::new(|| {
        serde_json::value::to_raw_value(&[USER_SCHEMA, TEAMTAILOR_USER_SCHEMA])
            .expect("two strings serialise")
    });
    &SCHEMAS
}

/// The SCIM representation: what the client sent for stored attributes, `active`
/// derived from the role, and the role itself in the read-only extension.
pub fn to_scim(user: &User, base_url: &str) -> Value {
    serde_json::to_value(ScimUser::new(user, base_url)).unwrap_or_default()
}

/// A user serialised as its SCIM resource straight from the stored fields,
/// with no `Value` tree in between: what list pages write, 100 at a time.
/// Same attributes in the same order as [`UserAttributes::to_document`].
pub struct ScimUser<'a> {
    user: &'a User,
    base_url: &'a str,
}

impl<'a> ScimUser<'a> {
    pub fn new(user: &'a User, base_url: &'a str) -> Self {
        ScimUser { user, base_url }
    }
}

impl Serialize for ScimUser<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let user = self.user;
        let a = &user.data.attributes;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schemas", user_schemas())?;
        map.serialize_entry("id", itoa::Buffer::new().format(user.id))?;
        if let Some(external_id) = &a.external_id {
            map.serialize_entry("externalId", external_id)?;
        }
        map.serialize_entry("userName", &a.user_name)?;
        if !a.name.is_empty() {
            map.serialize_entry("name", &a.name)?;
        }
        if let Some(display_name) = &a.display_name {
            map.serialize_entry("displayName", display_name)?;
        }
        if let Some(title) = &a.title {
            map.serialize_entry("title", title)?;
        }
        map.serialize_entry("active", &user.data.role.is_active())?;
        if !a.emails.is_empty() {
            map.serialize_entry("emails", &a.emails)?;
        }
        if !a.phone_numbers.is_empty() {
            map.serialize_entry("phoneNumbers", &a.phone_numbers)?;
        }
        map.serialize_entry(
            TEAMTAILOR_USER_SCHEMA,
            &RoleExtension {
                role: user.data.role.as_str(),
            },
        )?;
        map.serialize_entry(
            "meta",
            &Meta {
                resource_type: "User",
                created: Time(user.created_at),
                last_modified: Time(user.updated_at),
                location: location(self.base_url, user.id),
                version: Version(user.version),
            },
        )?;
        map.end()
    }
}

#[derive(Serialize)]
struct RoleExtension {
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    resource_type: &'static str,
    created: Time,
    last_modified: Time,
    location: String,
    version: Version,
}

/// `{base_url}/Users/{id}`, in one allocation.
fn location(base_url: &str, id: i64) -> String {
    let mut digits = itoa::Buffer::new();
    let id = digits.format(id);
    let mut location = String::with_capacity(base_url.len() + "/Users/".len() + id.len());
    location.push_str(base_url);
    location.push_str("/Users/");
    location.push_str(id);
    location
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::{MultiValue, Name, UserAttributes};

    fn user(attributes: UserAttributes, role: Role) -> User {
        User {
            id: 42,
            company_id: 1,
            data: UserData::new(attributes, role),
            created_at: 1_700_000_000_123_000,
            updated_at: 1_700_000_100_456_000,
            version: 3,
        }
    }

    /// Times read as chrono writes RFC 3339 with milliseconds, on either
    /// side of 1970, on a leap day and past year 9999.
    #[test]
    fn times_are_written_as_rfc3339_with_milliseconds() {
        for micros in [
            0,
            -1,
            1_700_000_000_123_456,
            951_782_400_999_999,
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
            253_402_300_800_000_000,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp_micros(micros)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(Time(micros).to_string(), chrono, "{micros}");
            assert_eq!(format_time(micros), chrono);
            assert_eq!(serde_json::to_value(Time(micros)).unwrap(), chrono);
        }
        assert_eq!(format_time(951_782_400_999_999), "2000-02-29T00:00:00.999Z");
    }

    /// `meta.version` reads as the ETag header does, for any version.
    #[test]
    fn versions_are_written_as_their_etag() {
        for version in [0, 1, 42, i64::MAX, -1, i64::MIN] {
            let etag = crate::teamtailor::user::ETag(version).to_string();
            assert_eq!(serde_json::to_value(Version(version)).unwrap(), etag);
        }
    }

    /// The resource shows exactly the document PATCH edits, in its order,
    /// between `id` and the role extension.
    #[test]
    fn resources_show_the_document_patch_edits() {
        let entry = |value: &str, kind: &str, primary| MultiValue {
            value: Some(value.into()),
            display: None,
            kind: Some(kind.into()),
            primary,
        };
        let full = UserAttributes {
            user_name: "ada@example.com".into(),
            external_id: Some("e-1".into()),
            name: Name {
                formatted: Some("Ada Lovelace".into()),
                family_name: Some("Lovelace".into()),
                given_name: Some("Ada".into()),
                ..Name::default()
            },
            display_name: Some("Ada".into()),
            title: Some("Engineer \"50%\"".into()),
            emails: vec![entry("ada@example.com", "work", Some(true))],
            phone_numbers: vec![entry("+46 8 123", "work", None)],
        };
        let minimal = UserAttributes {
            user_name: "min@example.com".into(),
            ..UserAttributes::default()
        };
        for (attributes, role) in [(full, Role::Admin), (minimal, Role::NoAccess)] {
            let user = user(attributes, role);
            let resource = to_scim(&user, "http://h/scim/v2");
            let object = resource.as_object().unwrap();
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let document = user.data.attributes.to_document(role.is_active());
            let mut expected = vec!["schemas", "id"];
            expected.extend(document.keys().map(String::as_str));
            expected.extend([TEAMTAILOR_USER_SCHEMA, "meta"]);
            assert_eq!(keys, expected);
            for (key, value) in &document {
                assert_eq!(&object[key], value, "{key}");
            }
            assert_eq!(object["id"], "42");
            assert_eq!(object[TEAMTAILOR_USER_SCHEMA]["role"], role.as_str());
            assert_eq!(
                object["meta"],
                serde_json::json!({
                    "resourceType": "User",
                    "created": "2023-11-14T22:13:20.123Z",
                    "lastModified": "2023-11-14T22:15:00.456Z",
                    "location": "http://h/scim/v2/Users/42",
                    "version": "W/\"3\"",
                })
            );
        }
    }
}
