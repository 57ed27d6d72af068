//! `/scim/v2/Users`: create, read, replace, delete, list.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use crate::scim::filter::parse_filter;
use crate::scim::list::{list_response, Paging};
use crate::scim::patch;
use crate::scim::resource::UserRequest;
use crate::scim::ScimError;
use crate::storage::{Store, StoreError, UserQuery};
use crate::teamtailor::{mapping, User, UserData};

use super::auth::Caller;
use super::extract::ScimJson;
use super::{scim_base_url, scim_json, AppState};

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
    if precondition(&headers, header::IF_NONE_MATCH).is_some_and(|list| names_version(list, &user))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
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
    let request = UserRequest::from_json(&body)?;
    write_user(&state, &caller, &headers, &id, |current| {
        Ok(mapping::replace(&current.data, request))
    })
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let operations = patch::parse_request(&body)?;
    write_user(&state, &caller, &headers, &id, |current| {
        let mut document = current
            .data
            .attributes
            .to_document(current.data.role.is_active());
        patch::apply(&mut document, &operations)?;
        let request = UserRequest::from_json(&Value::Object(document))?;
        Ok(mapping::replace(&current.data, request))
    })
    .await
}

/// Read, change and write in one transaction with the row locked, so
/// concurrent writes queue and none is lost. With `If-Match` the client pinned
/// a version: a mismatch is 412.
async fn write_user(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    change: impl FnOnce(&User) -> Result<UserData, ScimError> + Send,
) -> Result<Response, ScimError> {
    let user_id = user_id(id)?;
    let if_match = precondition(headers, header::IF_MATCH);
    let mut user_name = String::new();
    let result = state
        .store
        .modify_user(caller.company_id, user_id, |current| {
            check_if_match(if_match, current)?;
            let data = change(current)?;
            user_name.clone_from(&data.attributes.user_name);
            Ok((data != current.data).then_some(data))
        })
        .await;
    match result {
        Ok(user) => Ok(user_response(
            StatusCode::OK,
            &user,
            &scim_base_url(state, headers),
        )),
        Err(StoreError::NotFound) => Err(ScimError::user_not_found(id)),
        Err(error) => Err(uniqueness(error, &user_name)),
    }
}

fn precondition(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether an `If-Match`/`If-None-Match` list names this user's version
/// (weak comparison: `W/"3"` and `"3"` are the same version).
fn names_version(list: &str, user: &User) -> bool {
    let etag = user.etag();
    let opaque = etag.trim_start_matches("W/");
    list.split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == opaque)
}

fn check_if_match(if_match: Option<&str>, user: &User) -> Result<(), ScimError> {
    match if_match {
        Some(list) if !names_version(list, user) => Err(version_mismatch()),
        _ => Ok(()),
    }
}

fn version_mismatch() -> ScimError {
    ScimError::PreconditionFailed(
        "If-Match does not name the current version; read the user again".into(),
    )
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let user_id = user_id(&id)?;
    if let Some(if_match) = precondition(&headers, header::IF_MATCH) {
        let current = state
            .store
            .get_user(caller.company_id, user_id)
            .await?
            .ok_or_else(|| ScimError::user_not_found(&id))?;
        check_if_match(Some(if_match), &current)?;
    }
    if state.store.delete_user(caller.company_id, user_id).await? {
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
