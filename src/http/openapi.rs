//! `/openapi.json`: an OpenAPI 3.1 description of `/scim/v2` and `/v1`,
//! built from the same schema definitions, roles and limits the server uses,
//! so it cannot drift from what the handlers accept.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::scim::schema::{
    Attribute, Kind, Mutability, TEAMTAILOR_ATTRIBUTES, TEAMTAILOR_USER_SCHEMA, USER_ATTRIBUTES,
};
use crate::teamtailor::Role;

use super::api::API_PREFIX;
use super::SCIM_PREFIX;

pub async fn serve() -> Response {
    let mut response = axum::Json(document()).into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// A SCIM attribute as JSON Schema.
fn attribute_schema(attribute: &Attribute) -> Value {
    let mut schema = Map::new();
    match attribute.kind {
        Kind::String => {
            schema.insert("type".into(), json!("string"));
        }
        Kind::Boolean => {
            schema.insert("type".into(), json!("boolean"));
        }
        Kind::DateTime => {
            schema.insert("type".into(), json!("string"));
            schema.insert("format".into(), json!("date-time"));
        }
        Kind::Complex => {
            schema.insert("type".into(), json!("object"));
            schema.insert("properties".into(), properties(attribute.sub_attributes));
        }
    }
    if !attribute.canonical_values.is_empty() {
        schema.insert("examples".into(), json!(attribute.canonical_values));
    }
    if attribute.mutability == Mutability::ReadOnly {
        schema.insert("readOnly".into(), json!(true));
    }
    let mut schema = Value::Object(schema);
    if attribute.multi_valued {
        schema = json!({ "type": "array", "items": schema });
    }
    schema["description"] = json!(attribute.description);
    schema
}

fn properties(attributes: &[Attribute]) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|a| (a.name.to_string(), attribute_schema(a)))
            .collect(),
    )
}

fn scim_user_schema() -> Value {
    let mut properties = properties(USER_ATTRIBUTES);
    properties["schemas"] = json!({ "type": "array", "items": { "type": "string" } });
    properties[TEAMTAILOR_USER_SCHEMA] = json!({
        "type": "object",
        "readOnly": true,
        "description": "The Teamtailor role, set by active (no_access or user) or through the Teamtailor API.",
        "properties": self::properties(TEAMTAILOR_ATTRIBUTES),
    });
    json!({
        "type": "object",
        "required": ["userName"],
        "properties": properties,
        "additionalProperties": true,
    })
}

fn scim_responses(success: &str, description: &str, schema: Option<Value>) -> Value {
    let mut responses = Map::new();
    let mut ok = json!({ "description": description });
    if let Some(schema) = schema {
        ok["content"] = json!({ "application/scim+json": { "schema": schema } });
    }
    responses.insert(success.into(), ok);
    for (status, why) in [
        ("400", "Invalid request (scimType says why)"),
        ("401", "Missing or invalid credential"),
        ("403", "The credential lacks the scim scope"),
        (
            "503",
            "The database is away or busy; retry after Retry-After seconds",
        ),
    ] {
        responses.insert(
            status.into(),
            json!({ "$ref": "#/components/responses/ScimError", "description": why }),
        );
    }
    Value::Object(responses)
}

fn scim_operation(summary: &str, responses: Value) -> Value {
    json!({ "tags": ["SCIM"], "summary": summary, "security": [{ "bearer": [] }], "responses": responses })
}

/// Teamtailor has no groups: writes are answered 501 with a SCIM error.
fn groups_not_supported() -> Value {
    let mut responses = scim_responses("501", "Groups are not supported", None);
    responses["501"] = json!({ "$ref": "#/components/responses/ScimError", "description": "Groups are not supported" });
    scim_operation(
        "Groups cannot be written (Teamtailor has no groups)",
        responses,
    )
}

fn id_parameter() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9]+$" } })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn scim_paths() -> Map<String, Value> {
    let user = json!({ "$ref": "#/components/schemas/ScimUser" });
    let list = json!({ "$ref": "#/components/schemas/ScimListResponse" });
    let user_body = json!({ "required": true, "content": { "application/scim+json": { "schema": user }, "application/json": { "schema": user } } });
    let list_parameters = json!([
        query(
            "filter",
            "RFC 7644 filter, e.g. userName eq \"ada@example.com\"",
            json!({ "type": "string" })
        ),
        query(
            "startIndex",
            "1-based index of the first result",
            json!({ "type": "integer", "minimum": 1 })
        ),
        query(
            "count",
            "Page size (at most 1000)",
            json!({ "type": "integer", "minimum": 0 })
        ),
        query(
            "sortBy",
            "Attribute path to sort by",
            json!({ "type": "string" })
        ),
        query(
            "sortOrder",
            "ascending or descending",
            json!({ "type": "string", "enum": ["ascending", "descending"] })
        ),
        query(
            "cursor",
            "RFC 9865 cursor paging",
            json!({ "type": "string" })
        ),
        query(
            "attributes",
            "Attributes to return",
            json!({ "type": "string" })
        ),
        query(
            "excludedAttributes",
            "Attributes to leave out",
            json!({ "type": "string" })
        ),
    ]);
    let if_match = json!({ "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" }, "description": "Answer 412 unless the user's ETag matches" });
    let mut paths = Map::new();
    paths.insert(
        format!("{SCIM_PREFIX}/Users"),
        json!({
            "get": merge(scim_operation("List and filter users", scim_responses("200", "A ListResponse", Some(list.clone()))), json!({ "parameters": list_parameters })),
            "post": merge(scim_operation("Create a user (role user, or no_access when active is false)", scim_responses("201", "The created user", Some(user.clone()))), json!({ "requestBody": user_body.clone() })),
        }),
    );
    for search in ["/Users/.search", "/.search"] {
        paths.insert(
            format!("{SCIM_PREFIX}{search}"),
            json!({ "post": merge(scim_operation("Search users with a SearchRequest body", scim_responses("200", "A ListResponse", Some(list.clone()))), json!({ "requestBody": { "required": true, "content": { "application/scim+json": { "schema": { "$ref": "#/components/schemas/ScimSearchRequest" } } } } })) }),
        );
    }
    paths.insert(
        format!("{SCIM_PREFIX}/Users/{{id}}"),
        json!({
            "parameters": [id_parameter()],
            "get": (scim_operation("Read a user", scim_responses("200", "The user", Some(user.clone())))),
            "put": merge(scim_operation("Replace a user", scim_responses("200", "The user", Some(user.clone()))), json!({ "parameters": [if_match.clone()], "requestBody": user_body })),
            "patch": merge(scim_operation("Change a user (add, replace, remove)", scim_responses("200", "The user", Some(user))), json!({ "parameters": [if_match.clone()], "requestBody": { "required": true, "content": { "application/scim+json": { "schema": { "$ref": "#/components/schemas/ScimPatchOp" } } } } })),
            "delete": merge(scim_operation("Delete a user", scim_responses("204", "Deleted", None)), json!({ "parameters": [if_match] })),
        }),
    );
    paths.insert(
        format!("{SCIM_PREFIX}/Groups"),
        json!({
            "get": (scim_operation("Groups are not stored; always an empty list", scim_responses("200", "An empty ListResponse", Some(list)))),
            "post": groups_not_supported(),
        }),
    );
    paths.insert(
        format!("{SCIM_PREFIX}/Groups/{{id}}"),
        json!({
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "get": scim_operation("No group exists", scim_responses("404", "Not found", None)),
            "put": groups_not_supported(),
            "patch": groups_not_supported(),
            "delete": groups_not_supported(),
        }),
    );
    for (path, summary) in [
        ("ServiceProviderConfig", "What this server supports"),
        ("ResourceTypes", "The User resource type"),
        ("Schemas", "The User and Teamtailor extension schemas"),
    ] {
        paths.insert(
            format!("{SCIM_PREFIX}/{path}"),
            json!({ "get": { "tags": ["SCIM"], "summary": summary, "security": [], "responses": { "200": { "description": summary, "content": { "application/scim+json": { "schema": { "type": "object" } } } } } } }),
        );
    }
    paths
}

fn api_user_attributes() -> Value {
    json!({
        "type": "object",
        "properties": {
            "email": { "type": "string" },
            "login-email": { "type": "string" },
            "username": { "type": "string", "description": "The login email; writing it sets login-email" },
            "name": { "type": ["string", "null"] },
            "title": { "type": ["string", "null"] },
            "role": { "type": "string", "enum": Role::API_VALUES },
            "external-id": { "type": ["string", "null"] },
            "phone": { "type": ["string", "null"] },
            "visible": { "type": "boolean" },
            "locale": { "type": ["string", "null"] },
            "time-zone": { "type": ["string", "null"] },
            "created-at": { "type": "string", "format": "date-time", "readOnly": true },
            "updated-at": { "type": "string", "format": "date-time", "readOnly": true },
        },
    })
}

fn api_operation(summary: &str, success: &str, schema: Option<&str>) -> Value {
    let mut ok = json!({ "description": summary, "headers": {
        "X-Rate-Limit-Limit": { "schema": { "type": "integer" } },
        "X-Rate-Limit-Remaining": { "schema": { "type": "integer" } },
        "X-Rate-Limit-Reset": { "schema": { "type": "integer" } },
    } });
    if let Some(schema) = schema {
        ok["content"] = json!({ "application/vnd.api+json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } });
    }
    let error = json!({ "$ref": "#/components/responses/ApiError" });
    json!({
        "tags": ["Teamtailor API"],
        "summary": summary,
        "security": [{ "token": [] }, { "bearer": [] }],
        "parameters": [{ "$ref": "#/components/parameters/ApiVersion" }],
        "responses": { success: ok, "400": error, "401": error, "403": error, "404": error, "406": error, "422": error, "429": error, "503": error },
    })
}

fn api_paths() -> Map<String, Value> {
    let body = json!({ "required": true, "content": { "application/vnd.api+json": { "schema": { "$ref": "#/components/schemas/ApiUserWrite" } } } });
    let list_parameters = json!([
        { "$ref": "#/components/parameters/ApiVersion" },
        query("page[size]", "Page size, 1 to 30 (default 10)", json!({ "type": "integer", "minimum": 1, "maximum": 30 })),
        query("page[number]", "1-based page number", json!({ "type": "integer", "minimum": 1 })),
        query("filter[email]", "Display or login email, any case", json!({ "type": "string" })),
        query("filter[external-id]", "External id", json!({ "type": "string" })),
        query("filter[role]", "Role", json!({ "type": "string", "enum": Role::API_VALUES })),
        query("sort", "created-at, name, or either with a leading -", json!({ "type": "string", "enum": ["created-at", "-created-at", "name", "-name"] })),
    ]);
    let mut list = api_operation("List users", "200", Some("ApiUserList"));
    list["parameters"] = list_parameters;
    let mut paths = Map::new();
    paths.insert(
        format!("{API_PREFIX}/users"),
        json!({
            "get": list,
            "post": merge(api_operation("Create a user", "201", Some("ApiUserDocument")), json!({ "requestBody": body.clone() })),
        }),
    );
    paths.insert(
        format!("{API_PREFIX}/users/{{id}}"),
        json!({
            "parameters": [id_parameter()],
            "get": api_operation("Read a user", "200", Some("ApiUserDocument")),
            "patch": merge(api_operation("Change a user, including its role", "200", Some("ApiUserDocument")), json!({ "requestBody": body })),
            "delete": api_operation("Delete a user", "204", None),
        }),
    );
    paths
}

fn components() -> Value {
    let api_user = json!({
        "type": "object",
        "required": ["id", "type", "attributes"],
        "properties": {
            "id": { "type": "string" },
            "type": { "const": "users" },
            "attributes": api_user_attributes(),
            "links": { "type": "object", "properties": { "self": { "type": "string", "format": "uri" } } },
        },
    });
    json!({
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer", "description": "An API key, or an access token from /oauth/token or a trusted issuer" },
            "token": { "type": "apiKey", "in": "header", "name": "Authorization", "description": "Teamtailor's form: Token token=KEY" },
        },
        "parameters": {
            "ApiVersion": { "name": "X-Api-Version", "in": "header", "required": true, "schema": { "type": "string", "pattern": "^[0-9]{8}$", "examples": ["20240404"] }, "description": "A Teamtailor API version date; missing or unknown gives 406" },
        },
        "responses": {
            "ScimError": { "description": "A SCIM error", "content": { "application/scim+json": { "schema": { "$ref": "#/components/schemas/ScimError" } } } },
            "ApiError": { "description": "A JSON:API errors document", "content": { "application/vnd.api+json": { "schema": { "$ref": "#/components/schemas/ApiErrors" } } } },
        },
        "schemas": {
            "ScimUser": scim_user_schema(),
            "ScimListResponse": {
                "type": "object",
                "properties": {
                    "schemas": { "type": "array", "items": { "type": "string" } },
                    "totalResults": { "type": "integer" },
                    "startIndex": { "type": "integer" },
                    "itemsPerPage": { "type": "integer" },
                    "nextCursor": { "type": "string" },
                    "Resources": { "type": "array", "items": { "$ref": "#/components/schemas/ScimUser" } },
                },
            },
            "ScimSearchRequest": {
                "type": "object",
                "properties": {
                    "schemas": { "type": "array", "items": { "type": "string" } },
                    "filter": { "type": "string" }, "startIndex": { "type": "integer" }, "count": { "type": "integer" },
                    "sortBy": { "type": "string" }, "sortOrder": { "type": "string" },
                    "attributes": { "type": "array", "items": { "type": "string" } },
                    "excludedAttributes": { "type": "array", "items": { "type": "string" } },
                },
            },
            "ScimPatchOp": {
                "type": "object",
                "required": ["Operations"],
                "properties": {
                    "schemas": { "type": "array", "items": { "type": "string" } },
                    "Operations": { "type": "array", "items": { "type": "object", "required": ["op"], "properties": {
                        "op": { "type": "string", "description": "add, replace or remove, any case" },
                        "path": { "type": "string" },
                        "value": {},
                    } } },
                },
            },
            "ScimError": {
                "type": "object",
                "required": ["schemas", "status"],
                "properties": {
                    "schemas": { "type": "array", "items": { "type": "string" } },
                    "status": { "type": "string" }, "scimType": { "type": "string" }, "detail": { "type": "string" },
                },
            },
            "ApiUser": api_user,
            "ApiUserDocument": { "type": "object", "required": ["data"], "properties": { "data": { "$ref": "#/components/schemas/ApiUser" } } },
            "ApiUserList": {
                "type": "object",
                "properties": {
                    "data": { "type": "array", "items": { "$ref": "#/components/schemas/ApiUser" } },
                    "meta": { "type": "object", "properties": { "record-count": { "type": "integer" }, "page-count": { "type": "integer" } } },
                    "links": { "type": "object" },
                },
            },
            "ApiUserWrite": {
                "type": "object",
                "required": ["data"],
                "properties": { "data": { "type": "object", "properties": { "type": { "const": "users" }, "attributes": api_user_attributes() } } },
            },
            "ApiErrors": {
                "type": "object",
                "required": ["errors"],
                "properties": { "errors": { "type": "array", "items": { "type": "object", "properties": {
                    "status": { "type": "string" }, "code": { "type": "string" }, "title": { "type": "string" }, "detail": { "type": "string" },
                    "source": { "type": "object", "properties": { "pointer": { "type": "string" } } },
                } } } },
            },
        },
    })
}

/// An operation with more fields (parameters, a request body).
fn merge(mut operation: Value, extra: Value) -> Value {
    if let (Some(operation), Value::Object(extra)) = (operation.as_object_mut(), extra) {
        operation.extend(extra);
    }
    operation
}

pub fn document() -> Value {
    let mut paths = scim_paths();
    paths.extend(api_paths());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "teamtailor-scim",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Teamtailor's user provisioning surface: SCIM 2.0 Users and the Teamtailor /v1 users API (JSON:API).",
        },
        "tags": [{ "name": "SCIM" }, { "name": "Teamtailor API" }],
        "paths": paths,
        "components": components(),
    })
}
