//! Discovery endpoints (RFC 7644 section 4) and the `/Groups` answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::scim::list::{list_response, MAX_RESULTS};
use crate::scim::schema;
use crate::scim::ScimError;

use super::{scim_base_url, scim_json, AppState};
use crate::http::extract::Segment;

pub async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let base = scim_base_url(&state, &headers);
    scim_json(
        StatusCode::OK,
        &schema::service_provider_config(&base, MAX_RESULTS as u32),
    )
}

pub async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let types = schema::resource_types(&scim_base_url(&state, &headers));
    let total = types.len() as u64;
    scim_json(StatusCode::OK, &list_response(total, 1, types))
}

pub async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Segment(id): Segment,
) -> Result<Response, ScimError> {
    schema::resource_types(&scim_base_url(&state, &headers))
        .into_iter()
        .find(|t| t["id"] == id.as_str())
        .map(|t| scim_json(StatusCode::OK, &t))
        .ok_or_else(|| {
            ScimError::NotFound(format!(
                "resource type '{id}' not found; this server has 'User'"
            ))
        })
}

pub async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let schemas = schema::schemas(&scim_base_url(&state, &headers));
    let total = schemas.len() as u64;
    scim_json(StatusCode::OK, &list_response(total, 1, schemas))
}

pub async fn schema_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Segment(id): Segment,
) -> Result<Response, ScimError> {
    schema::schemas(&scim_base_url(&state, &headers))
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::NotFound(format!("schema '{id}' not found")))
}

/// Teamtailor has no groups; Entra's and Okta's connection tests still probe them.
pub async fn list_groups() -> Response {
    scim_json(StatusCode::OK, &list_response(0, 1, Vec::new()))
}

pub async fn groups_not_supported() -> ScimError {
    ScimError::NotImplemented(
        "Teamtailor does not support groups; only Users can be provisioned".into(),
    )
}

pub async fn group_not_found(Segment(id): Segment) -> ScimError {
    ScimError::NotFound(format!(
        "Group {id} not found: Teamtailor does not support groups"
    ))
}
