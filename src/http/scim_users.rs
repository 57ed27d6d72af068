//! `/scim/v2/Users`: create, read, replace, delete, list.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use crate::scim::filter::parse_filter;
use crate::scim::list::{list_response, Paging};
use crate::scim::resource::UserRequest;
use crate::scim::ScimError;
use crate::storage::{Store, StoreError, UserQuery};
use crate::teamtailor::{mapping, User};

use super::auth::Caller;
use super::extract::ScimJson;
use super::{scim_base_url, scim_json, AppState};

/// How often a PUT retries when a concurrent write changed the user under it.
const WRITE_RETRIES: usize = 5;

/// Teamtailor ids are positive integers; anything else names no user.
fn user_id(id: &str) -> Result<i64, ScimError> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ScimError::user_not_found(id))
}

fn user_response(status: StatusCode, user: &User, base: &str) -> Response {
    let mut response = scim_json(status, &mapping::to_scim(user, base));
    if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn uniqueness(error: StoreError, user_name: &str) -> ScimError {
    match error {
        StoreError::Conflict(_) => ScimError::Uniqueness(format!(
            "a user with userName '{user_name}' already exists in this company"
        )),
        other => other.into(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let request = UserRequest::from_json(&body)?;
    let user_name = request.attributes.user_name.clone();
    let data = mapping::new_user(request);
    let user = state
        .store
        .create_user(caller.company_id, &data)
        .await
        .map_err(|e| uniqueness(e, &user_name))?;
    let base = scim_base_url(&state, &headers);
    let mut response = user_response(StatusCode::CREATED, &user, &base);
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/Users/{}", user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let user = state
        .store
        .get_user(caller.company_id, user_id(&id)?)
        .await?
        .ok_or_else(|| ScimError::user_not_found(&id))?;
    Ok(user_response(
        StatusCode::OK,
        &user,
        &scim_base_url(&state, &headers),
    ))
}

pub async fn replace(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let user_id = user_id(&id)?;
    let request = UserRequest::from_json(&body)?;
    let user_name = request.attributes.user_name.clone();
    for _ in 0..WRITE_RETRIES {
        let current = state
            .store
            .get_user(caller.company_id, user_id)
            .await?
            .ok_or_else(|| ScimError::user_not_found(&id))?;
        let data = mapping::replace(&current.data, request.clone());
        match state
            .store
            .update_user(caller.company_id, user_id, current.version, &data)
            .await
        {
            Ok(user) => {
                return Ok(user_response(
                    StatusCode::OK,
                    &user,
                    &scim_base_url(&state, &headers),
                ))
            }
            Err(StoreError::VersionMismatch) => continue,
            Err(StoreError::NotFound) => return Err(ScimError::user_not_found(&id)),
            Err(error) => return Err(uniqueness(error, &user_name)),
        }
    }
    Err(ScimError::Unavailable(
        "the user is being changed by many requests at once; retry".into(),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    if state
        .store
        .delete_user(caller.company_id, user_id(&id)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ScimError::user_not_found(&id))
    }
}

/// Query parameter names are matched case-insensitively; clients differ.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn integer_param(params: &[(String, String)], name: &str) -> Result<Option<i64>, ScimError> {
    param(params, name)
        .map(|value| {
            value.trim().parse::<i64>().map_err(|_| {
                ScimError::InvalidValue(format!("{name} must be an integer, got '{value}'"))
            })
        })
        .transpose()
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let params = super::query_params(query.as_deref());
    let paging = Paging::new(
        integer_param(&params, "startIndex")?,
        integer_param(&params, "count")?,
    );
    let filter = param(&params, "filter")
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(f).map_err(|e| ScimError::InvalidFilter(e.to_string())))
        .transpose()?;
    let query = UserQuery {
        filter,
        start_index: paging.start_index,
        count: paging.count,
    };
    let page = state.store.list_users(caller.company_id, &query).await?;
    let base = scim_base_url(&state, &headers);
    let resources: Vec<Value> = page
        .users
        .iter()
        .map(|u| mapping::to_scim(u, &base))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, paging.start_index, resources),
    ))
}
