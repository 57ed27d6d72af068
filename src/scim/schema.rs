//! The schemas this server serves: exactly the attributes it stores.
//! One table drives discovery (`/Schemas`), path resolution and case rules.

use serde_json::{json, Value};

use super::filter::AttrPath;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const TEAMTAILOR_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    DateTime,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Never,
}

#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Kind,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
}

const fn string(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        description,
        canonical_values: &[],
        sub_attributes: &[],
    }
}

const fn complex(
    name: &'static str,
    multi_valued: bool,
    description: &'static str,
    sub_attributes: &'static [Attribute],
) -> Attribute {
    Attribute {
        kind: Kind::Complex,
        multi_valued,
        sub_attributes,
        ..string(name, description)
    }
}

const MULTI_VALUE_TYPES: &[&str] = &["work", "home", "other"];

const fn multi_valued_entry(value_description: &'static str) -> [Attribute; 4] {
    [
        string("value", value_description),
        string("display", "A human-readable name, primarily used for display purposes."),
        Attribute {
            canonical_values: MULTI_VALUE_TYPES,
            ..string("type", "A label indicating the attribute's function, e.g. 'work'. The 'work' entry is the Teamtailor value.")
        },
        Attribute {
            kind: Kind::Boolean,
            ..string("primary", "Whether this is the preferred entry.")
        },
    ]
}

const EMAIL_ENTRY: [Attribute; 4] =
    multi_valued_entry("Email address. The 'work' address is the Teamtailor display email.");
const PHONE_ENTRY: [Attribute; 4] =
    multi_valued_entry("Phone number. The 'work' number is the Teamtailor phone.");

const NAME_PARTS: [Attribute; 6] = [
    string(
        "formatted",
        "The full name. Teamtailor's name when present.",
    ),
    string(
        "familyName",
        "Last part of the Teamtailor name when no formatted name is sent.",
    ),
    string(
        "givenName",
        "First part of the Teamtailor name when no formatted name is sent.",
    ),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "Honorific prefix, e.g. 'Ms.'."),
    string("honorificSuffix", "Honorific suffix, e.g. 'III'."),
];

const META_PARTS: [Attribute; 5] = [
    // RFC 7643 section 3.1: resourceType is case-exact.
    Attribute {
        case_exact: true,
        ..read_only(string("resourceType", "The resource type, 'User'."))
    },
    Attribute {
        kind: Kind::DateTime,
        ..read_only(string("created", "When the user was created."))
    },
    Attribute {
        kind: Kind::DateTime,
        ..read_only(string("lastModified", "When the user was last changed."))
    },
    Attribute {
        case_exact: true,
        ..read_only(string("location", "The URI of the user."))
    },
    Attribute {
        case_exact: true,
        ..read_only(string("version", "Weak entity tag of the current version."))
    },
];

const fn read_only(attribute: Attribute) -> Attribute {
    Attribute {
        mutability: Mutability::ReadOnly,
        ..attribute
    }
}

/// Core User attributes this server stores (and `id`/`meta`, which it owns).
pub const USER_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        case_exact: true,
        returned: Returned::Always,
        unique: true,
        ..read_only(string(
            "id",
            "Teamtailor user id, a positive integer as a string.",
        ))
    },
    Attribute {
        case_exact: true,
        ..string(
            "externalId",
            "Teamtailor external_id, used by the API and as SSO name-id.",
        )
    },
    Attribute {
        required: true,
        unique: true,
        ..string(
            "userName",
            "Teamtailor login email. Unique per company, case-insensitive.",
        )
    },
    complex("name", false, "The user's name.", &NAME_PARTS),
    string(
        "displayName",
        "Name for display; Teamtailor's name when no name is sent.",
    ),
    string("title", "Teamtailor job title."),
    Attribute {
        kind: Kind::Boolean,
        // Always has a value (derived from the role); a create without it is active.
        required: true,
        ..string(
            "active",
            "false sets Teamtailor role no_access; true sets role user if it was no_access.",
        )
    },
    complex(
        "emails",
        true,
        "Email addresses, kept as sent.",
        &EMAIL_ENTRY,
    ),
    complex(
        "phoneNumbers",
        true,
        "Phone numbers, kept as sent.",
        &PHONE_ENTRY,
    ),
    Attribute {
        mutability: Mutability::ReadOnly,
        ..complex("meta", false, "Resource metadata.", &META_PARTS)
    },
];

pub const TEAMTAILOR_ATTRIBUTES: &[Attribute] = &[Attribute {
    case_exact: true,
    canonical_values: crate::teamtailor::Role::API_VALUES,
    ..read_only(string(
        "role",
        "Teamtailor role. Set through the Teamtailor API; SCIM 'active' moves it between no_access and user.",
    ))
}];

/// Finds an attribute of the core User or Teamtailor extension by case-insensitive name.
pub fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The attribute a filter or sort path names (for a multi-valued attribute
/// without a sub-attribute, its `value`), in the core User schema or the
/// Teamtailor extension.
pub fn attribute_at(path: &AttrPath) -> Option<&'static Attribute> {
    let attributes = match path.urn.as_deref() {
        None => USER_ATTRIBUTES,
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => USER_ATTRIBUTES,
        Some(urn) if urn.eq_ignore_ascii_case(TEAMTAILOR_USER_SCHEMA) => TEAMTAILOR_ATTRIBUTES,
        Some(_) => return None,
    };
    let attribute = find(attributes, &path.attr)?;
    match (&path.sub_attr, attribute.multi_valued) {
        (Some(sub), _) => find(attribute.sub_attributes, sub),
        (None, true) => find(attribute.sub_attributes, "value"),
        (None, false) => Some(attribute),
    }
}

/// Whether string comparisons on a path are case-sensitive, as `/Schemas`
/// says; unknown paths compare case-insensitively.
pub fn case_exact(path: &AttrPath) -> bool {
    attribute_at(path).is_some_and(|a| a.case_exact)
}

fn attribute_json(attribute: &Attribute) -> Value {
    let mut json = json!({
        "name": attribute.name,
        "type": match attribute.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::DateTime => "dateTime",
            Kind::Complex => "complex",
        },
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
        "mutability": match attribute.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match attribute.returned {
            Returned::Always => "always",
            Returned::Default => "default",
            Returned::Never => "never",
        },
    });
    if matches!(attribute.kind, Kind::String) {
        json["caseExact"] = json!(attribute.case_exact);
        json["uniqueness"] = json!(if attribute.unique { "server" } else { "none" });
    }
    if !attribute.canonical_values.is_empty() {
        json["canonicalValues"] = json!(attribute.canonical_values);
    }
    if !attribute.sub_attributes.is_empty() {
        json["subAttributes"] = attribute
            .sub_attributes
            .iter()
            .map(attribute_json)
            .collect();
    }
    json
}

fn schema_json(
    id: &str,
    name: &str,
    description: &str,
    attributes: &[Attribute],
    base: &str,
) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        // `id` and `meta` are common attributes (RFC 7643 section 3.1), not schema attributes.
        "attributes": attributes
            .iter()
            .filter(|a| !matches!(a.name, "id" | "meta"))
            .map(attribute_json)
            .collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{id}"),
        },
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(
            USER_SCHEMA,
            "User",
            "Teamtailor user",
            USER_ATTRIBUTES,
            base,
        ),
        schema_json(
            TEAMTAILOR_USER_SCHEMA,
            "TeamtailorUser",
            "Teamtailor attributes that SCIM reads but cannot set",
            TEAMTAILOR_ATTRIBUTES,
            base,
        ),
    ]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Teamtailor user account",
        "schema": USER_SCHEMA,
        // Not required: clients cannot send it (its only attribute is read-only).
        "schemaExtensions": [{ "schema": TEAMTAILOR_USER_SCHEMA, "required": false }],
        "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
    })]
}

pub fn service_provider_config(base: &str, max_results: u32) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/teamtailor-scim/teamtailor-scim#readme",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        // RFC 9865 cursor paging, beside startIndex/count.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": super::list::DEFAULT_COUNT,
            "maxPageSize": max_results,
        },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "API key",
            "description": "A Teamtailor API key sent as 'Authorization: Bearer KEY', 'Token token=KEY' or the raw key.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}
