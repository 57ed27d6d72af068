use crate::scim::resource::UserAttributes;

use super::Role;

/// Microseconds since the Unix epoch; both databases store instants this way so
/// ordering and filtering behave the same on each.
pub type Micros = i64;

/// Everything about a user that a write sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub attributes: UserAttributes,
    pub role: Role,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub visible: bool,
}

impl UserData {
    pub fn new(attributes: UserAttributes, role: Role) -> Self {
        UserData {
            attributes,
            role,
            locale: None,
            time_zone: None,
            visible: true,
        }
    }

    /// Teamtailor's full name: `name.formatted`, else given + family name, else
    /// the display name.
    pub fn full_name(&self) -> Option<String> {
        let name = &self.attributes.name;
        if let Some(formatted) = name.formatted.as_deref().filter(|s| !s.trim().is_empty()) {
            return Some(formatted.to_string());
        }
        let parts: Vec<&str> = [name.given_name.as_deref(), name.family_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return Some(parts.join(" "));
        }
        self.attributes
            .display_name
            .clone()
            .filter(|s| !s.trim().is_empty())
    }

    /// Teamtailor's display email: the work email, else the login email.
    pub fn display_email(&self) -> String {
        work_value(&self.attributes.emails)
            .unwrap_or(&self.attributes.user_name)
            .to_string()
    }

    /// Teamtailor's phone: the work phone number.
    pub fn phone(&self) -> Option<String> {
        work_value(&self.attributes.phone_numbers).map(str::to_string)
    }
}

fn work_value(entries: &[crate::scim::resource::MultiValue]) -> Option<&str> {
    entries
        .iter()
        .filter(|e| e.is_type("work"))
        .find_map(|e| e.value.as_deref().filter(|v| !v.is_empty()))
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub company_id: i64,
    pub data: UserData,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// Incremented on every write; the SCIM ETag.
    pub version: i64,
}

impl User {
    pub fn etag(&self) -> String {
        ETag(self.version).to_string()
    }
}

/// A version as its weak ETag, `W/"3"`.
pub struct ETag(pub i64);

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "W/\"{}\"", self.0)
    }
}
