//! Attribute paths (RFC 7644 section 3.10) resolved against the schema, for
//! PATCH targets: `title`, `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:core:2.0:User:userName`.

use super::error::ScimError;
use super::filter::{parse_filter, AttrPath, Filter};
use super::schema::{
    self, Attribute, Mutability, TEAMTAILOR_ATTRIBUTES, TEAMTAILOR_USER_SCHEMA, USER_ATTRIBUTES,
    USER_SCHEMA,
};

/// Core User attributes that clients send but Teamtailor does not store.
/// Writing them is accepted and ignored, as on POST and PUT.
const UNSTORED_CORE_ATTRIBUTES: &[&str] = &[
    "nickName",
    "profileUrl",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "password",
    "emails.display",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "schemas",
];

/// Splits `[urn:]attr[.sub]`; the URN is everything before the last colon.
pub fn parse_attr_path(text: &str) -> Result<AttrPath, ScimError> {
    AttrPath::parse(text).map_err(ScimError::InvalidPath)
}

/// A PATCH `path` as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// `emails[type eq "work"]`
    pub filter: Option<Filter>,
    /// `.value` after a value filter.
    pub value_sub_attr: Option<String>,
}

pub fn parse_patch_path(text: &str) -> Result<PatchPath, ScimError> {
    let Some(open) = text.find('[') else {
        return Ok(PatchPath {
            attr: parse_attr_path(text)?,
            filter: None,
            value_sub_attr: None,
        });
    };
    let close = text.rfind(']').filter(|c| *c > open).ok_or_else(|| {
        ScimError::InvalidPath(format!("'{text}': a value filter needs a closing ']'"))
    })?;
    let attr = parse_attr_path(&text[..open])?;
    let filter = parse_filter(&text[open + 1..close])
        .map_err(|e| ScimError::InvalidPath(format!("'{text}': {e}")))?;
    let value_sub_attr = match text[close + 1..].trim() {
        "" => None,
        rest => Some(
            rest.strip_prefix('.')
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ScimError::InvalidPath(format!("'{text}': expected '.subAttribute' after ']'"))
                })?
                .to_string(),
        ),
    };
    if attr.sub_attr.is_some() {
        return Err(ScimError::InvalidPath(format!(
            "'{text}': a value filter applies to a multi-valued attribute, not a sub-attribute"
        )));
    }
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        value_sub_attr,
    })
}

/// What a path names in this server's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A stored core attribute, by canonical name, with an optional canonical sub-attribute.
    Core {
        attr: &'static str,
        sub_attr: Option<&'static str>,
    },
    /// The read-only Teamtailor extension, or one of its attributes.
    Extension { attr: Option<&'static str> },
    /// Something clients may send that is not stored: accepted and ignored.
    Ignored,
}

pub fn resolve(path: &AttrPath) -> Result<Target, ScimError> {
    // A whole schema URN parses as URN prefix + last segment ("...:2.0" + "User").
    let whole_urn = path
        .urn
        .as_deref()
        .filter(|_| path.sub_attr.is_none())
        .map(|urn| format!("{urn}:{}", path.attr));
    if let Some(urn) = whole_urn {
        if urn.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) {
            return Ok(Target::Extension { attr: None });
        }
        if urn.eq_ignore_ascii_case(USER_SCHEMA) {
            return Err(ScimError::InvalidPath(format!(
                "'{urn}' names the whole resource; name one of its attributes"
            )));
        }
    }
    match path.urn.as_deref() {
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => {}
        Some(urn) if urn.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) => {
            let attribute = schema::find(TEAMTAILOR_ATTRIBUTES, &path.attr).ok_or_else(|| {
                ScimError::InvalidPath(format!("unknown attribute '{}'", path.attr))
            })?;
            if path.sub_attr.is_some() {
                return Err(ScimError::InvalidPath(format!(
                    "'{}' has no sub-attributes",
                    attribute.name
                )));
            }
            return Ok(Target::Extension {
                attr: Some(attribute.name),
            });
        }
        // The enterprise extension and any other extension: not stored.
        Some(_) => return Ok(Target::Ignored),
        None => {}
    }
    let Some(attribute) = schema::find(USER_ATTRIBUTES, &path.attr) else {
        let full = match &path.sub_attr {
            Some(sub) => format!("{}.{sub}", path.attr),
            None => path.attr.clone(),
        };
        if UNSTORED_CORE_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&path.attr) || a.eq_ignore_ascii_case(&full))
        {
            return Ok(Target::Ignored);
        }
        return Err(ScimError::InvalidPath(format!(
            "unknown attribute '{}'",
            path.attr
        )));
    };
    if attribute.mutability == Mutability::ReadOnly {
        return Err(ScimError::Mutability(format!(
            "'{}' is read-only",
            attribute.name
        )));
    }
    let sub_attr = match &path.sub_attr {
        None => None,
        Some(sub) => Some(sub_attribute(attribute, sub)?),
    };
    Ok(Target::Core {
        attr: attribute.name,
        sub_attr,
    })
}

pub fn sub_attribute(attribute: &'static Attribute, name: &str) -> Result<&'static str, ScimError> {
    schema::find(attribute.sub_attributes, name)
        .map(|a| a.name)
        .ok_or_else(|| {
            ScimError::InvalidPath(format!(
                "'{}' has no sub-attribute '{name}'",
                attribute.name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_paths_identity_providers_send() {
        let path = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.attr.attr, "emails");
        assert!(path.filter.is_some());
        assert_eq!(path.value_sub_attr.as_deref(), Some("value"));
        let urn = parse_attr_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert_eq!(
            urn.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(resolve(&urn).unwrap(), Target::Ignored);
        let core =
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!(
            resolve(&core).unwrap(),
            Target::Core {
                attr: "name",
                sub_attr: Some("givenName")
            }
        );
        assert!(matches!(
            resolve(&parse_attr_path("meta.created").unwrap()),
            Err(ScimError::Mutability(_))
        ));
        assert!(matches!(
            resolve(&parse_attr_path("nosuch").unwrap()),
            Err(ScimError::InvalidPath(_))
        ));
        assert!(matches!(
            parse_patch_path("emails[type eq \"work\""),
            Err(ScimError::InvalidPath(_))
        ));
        assert!(matches!(
            parse_attr_path("na me"),
            Err(ScimError::InvalidPath(_))
        ));
    }
}
