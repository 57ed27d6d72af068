//! `/scim/v2/Users`: create, read, replace, delete, list.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use crate::journal::UserChange;
use crate::scim::filter::parse_filter;
use crate::scim::list::{decode_cursor, encode_cursor, ListBody, Paging};
use crate::scim::patch;
use crate::scim::path::parse_attr_path;
use crate::scim::projection::Projection;
use crate::scim::resource::UserRequest;
use crate::scim::schema::TEAMTAILOR_USER_SCHEMA;
use crate::scim::ScimError;
use crate::storage::{Condition, Store, StoreError, UserOrder, UserQuery};
use crate::teamtailor::mapping::ScimUser;
use crate::teamtailor::{mapping, User, UserData};

use super::extract::ScimJson;
use super::{json_bytes, scim_base_url, scim_json, scim_json_text, AppState};
use crate::auth::Caller;
use crate::http::extract::Segment;

/// About what a user takes as SCIM JSON (~700 bytes with work email and
/// phone): the buffer a response is written into, per user.
const RESOURCE_BYTES: usize = 1024;

/// Teamtailor ids are positive integers; anything else names no user.
fn user_id(id: &str) -> Result<i64, ScimError> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ScimError::user_not_found(id))
}

fn user_response(status: StatusCode, user: &User, base: &str, projection: &Projection) -> Response {
    let mut response = if projection.is_identity() {
        match json_bytes(&ScimUser::new(user, base), RESOURCE_BYTES) {
            Ok(body) => scim_json_text(status, body),
            Err(e) => return ScimError::Internal(e.to_string()).into_response(),
        }
    } else {
        scim_json(status, &project(mapping::to_scim(user, base), projection))
    };
    if let Ok(etag) = HeaderValue::from_str(&user.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn project(mut resource: Value, projection: &Projection) -> Value {
    if let Value::Object(object) = &mut resource {
        projection.apply(object);
    }
    resource
}

/// `attributes`/`excludedAttributes` from the query string, on every response.
fn query_projection(query: &Option<String>) -> Result<Projection, ScimError> {
    projection_of(&super::query_params(query.as_deref()))
}

/// `attributes`/`excludedAttributes` of a query string's parameters.
fn projection_of(params: &[(String, String)]) -> Result<Projection, ScimError> {
    Projection::parse(
        params_named(params, "attributes"),
        params_named(params, "excludedAttributes"),
    )
}

fn params_named<'a>(
    params: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    params
        .iter()
        .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
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
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let projection = query_projection(&query)?;
    let request = UserRequest::from_json(&body)?;
    let user_name = request.attributes.user_name.clone();
    let data = mapping::new_user(request);
    let user = state
        .store
        .create_user(caller.company_id, &data)
        .await
        .map_err(|e| uniqueness(e, &user_name))?;
    let base = scim_base_url(&state, &headers);
    let mut response = user_response(StatusCode::CREATED, &user, &base, &projection);
    response.extensions_mut().insert(UserChange::created(&user));
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/Users/{}", user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Segment(id): Segment,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let projection = query_projection(&query)?;
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
        &projection,
    ))
}

pub async fn replace(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Segment(id): Segment,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let projection = query_projection(&query)?;
    let request = UserRequest::from_json(&body)?;
    write_user(&state, &caller, &headers, &id, &projection, |current| {
        Ok(mapping::replace(&current.data, request.clone()))
    })
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Segment(id): Segment,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let projection = query_projection(&query)?;
    let operations = patch::parse_request(&body)?;
    write_user(&state, &caller, &headers, &id, &projection, |current| {
        let mut document = current
            .data
            .attributes
            .to_document(current.data.role.is_active());
        document.insert(
            TEAMTAILOR_USER_SCHEMA.into(),
            serde_json::json!({ "role": current.data.role.as_str() }),
        );
        patch::apply(&mut document, &operations)?;
        let request = UserRequest::from_json(&Value::Object(document))?;
        Ok(mapping::replace(&current.data, request))
    })
    .await
}

/// Read, change and write so that no concurrent write is lost (the store
/// re-applies `change` if the user moved meanwhile). With `If-Match` the
/// client pinned a version: a mismatch is 412.
async fn write_user(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    projection: &Projection,
    change: impl Fn(&User) -> Result<UserData, ScimError> + Send + Sync,
) -> Result<Response, ScimError> {
    let user_id = user_id(id)?;
    let if_match = precondition(headers, header::IF_MATCH);
    let mut user_name = String::new();
    let mut before: Option<User> = None;
    let result = state
        .store
        .modify_user(caller.company_id, user_id, |current| {
            check_if_match(if_match, current)?;
            before = Some(current.clone());
            let data = change(current)?;
            user_name.clone_from(&data.attributes.user_name);
            Ok((data != current.data).then_some(data))
        })
        .await;
    match result {
        Ok(user) => {
            let mut response = user_response(
                StatusCode::OK,
                &user,
                &scim_base_url(state, headers),
                projection,
            );
            if let Some(before) = before.filter(|b| b.version != user.version) {
                response
                    .extensions_mut()
                    .insert(UserChange::updated(&before, &user));
            }
            Ok(response)
        }
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
    Segment(id): Segment,
) -> Result<Response, ScimError> {
    let user_id = user_id(&id)?;
    let deleted = match precondition(&headers, header::IF_MATCH) {
        None => {
            state
                .store
                .delete_user(caller.company_id, user_id, None)
                .await?
        }
        Some(if_match) => delete_if_match(&state, caller.company_id, user_id, if_match).await?,
    };
    if deleted {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response
            .extensions_mut()
            .insert(UserChange::deleted(user_id));
        Ok(response)
    } else {
        Err(ScimError::user_not_found(&id))
    }
}

/// Deletes the user only at a version `If-Match` names: the delete is
/// conditional on the version read, so a write landing in between is not
/// lost. Looks again when the version moved (the list may name the new one
/// too, e.g. `*`).
async fn delete_if_match(
    state: &AppState,
    company_id: i64,
    user_id: i64,
    if_match: &str,
) -> Result<bool, ScimError> {
    for _ in 0..CONDITIONAL_DELETES {
        let Some(current) = state.store.get_user(company_id, user_id).await? else {
            return Ok(false);
        };
        check_if_match(Some(if_match), &current)?;
        if state
            .store
            .delete_user(company_id, user_id, Some(current.version))
            .await?
        {
            return Ok(true);
        }
    }
    Err(version_mismatch())
}

/// Attempts before a delete under constant concurrent writes gives up (412).
const CONDITIONAL_DELETES: usize = 4;

fn sort_order(sort_by: Option<&str>, sort_order: Option<&str>) -> Result<UserOrder, ScimError> {
    let descending = match sort_order.map(str::trim) {
        None | Some("") => false,
        Some(order) if order.eq_ignore_ascii_case("ascending") => false,
        Some(order) if order.eq_ignore_ascii_case("descending") => true,
        Some(order) => {
            return Err(ScimError::InvalidValue(format!(
                "sortOrder must be 'ascending' or 'descending', got '{order}'"
            )))
        }
    };
    match sort_by.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(UserOrder::Created),
        Some(path) => Ok(UserOrder::Attribute {
            path: parse_attr_path(path)
                .map_err(|e| ScimError::InvalidPath(format!("sortBy: {e}")))?,
            descending,
        }),
    }
}

/// A list or search request, from the query string or a SearchRequest body.
struct ListRequest {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    /// RFC 9865: present (even empty) asks for cursor paging.
    cursor: Option<String>,
    projection: Projection,
}

/// Query parameter names are matched case-insensitively; clients differ.
fn param<'a>(params: &'a [(String, String)], name: &'a str) -> Option<&'a str> {
    params_named(params, name).next()
}

fn integer_param(value: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
    value
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
    let request = ListRequest {
        filter: param(&params, "filter").map(str::to_string),
        start_index: integer_param(param(&params, "startIndex"), "startIndex")?,
        count: integer_param(param(&params, "count"), "count")?,
        sort_by: param(&params, "sortBy").map(str::to_string),
        sort_order: param(&params, "sortOrder").map(str::to_string),
        cursor: param(&params, "cursor").map(str::to_string),
        projection: projection_of(&params)?,
    };
    respond_list(&state, &caller, &headers, request).await
}

/// `POST /Users/.search` and `POST /.search` (RFC 7644 section 3.4.3).
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("a SearchRequest must be a JSON object".into()))?;
    let field = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match field(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ScimError::InvalidValue(format!("{name} must be a string"))),
        }
    };
    let integer = |name: &str| -> Result<Option<i64>, ScimError> {
        match field(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ScimError::InvalidValue(format!("{name} must be an integer"))),
            Some(Value::String(s)) => integer_param(Some(s), name),
            Some(_) => Err(ScimError::InvalidValue(format!(
                "{name} must be an integer"
            ))),
        }
    };
    let list = |name: &str| -> Result<Vec<String>, ScimError> {
        match field(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ScimError::InvalidValue(format!("{name} must list strings")))
                })
                .collect(),
            Some(_) => Err(ScimError::InvalidValue(format!(
                "{name} must be an array of strings"
            ))),
        }
    };
    let attributes = list("attributes")?;
    let excluded = list("excludedAttributes")?;
    let request = ListRequest {
        filter: text("filter")?,
        start_index: integer("startIndex")?,
        count: integer("count")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        cursor: text("cursor")?,
        projection: Projection::parse(
            attributes.iter().map(String::as_str),
            excluded.iter().map(String::as_str),
        )?,
    };
    respond_list(&state, &caller, &headers, request).await
}

async fn respond_list(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: ListRequest,
) -> Result<Response, ScimError> {
    let paging = Paging::new(request.start_index, request.count);
    let filter = request
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(f).map_err(|e| ScimError::InvalidFilter(e.to_string())))
        .transpose()?;
    let order = sort_order(request.sort_by.as_deref(), request.sort_order.as_deref())?;
    let mut query = UserQuery {
        filter,
        order,
        start_index: paging.start_index,
        count: paging.count,
        ..Default::default()
    };
    if let Some(cursor) = request.cursor.as_deref() {
        if query.order != UserOrder::Created || request.start_index.is_some() {
            return Err(ScimError::InvalidValue(
                "cursor paging walks the default order: send it without sortBy and startIndex"
                    .into(),
            ));
        }
        if !cursor.trim().is_empty() {
            let (created_at, id) = decode_cursor(cursor)?;
            query.conditions.push(Condition::After { created_at, id });
        }
        query.start_index = 1;
        // One more than asked tells whether there is a next page.
        query.count = paging.count + 1;
    }
    let mut page = state.store.list_users(caller.company_id, &query).await?;
    let next_cursor = if request.cursor.is_some() && page.users.len() as u64 > paging.count {
        page.users.truncate(paging.count as usize);
        page.users.last().map(|u| encode_cursor(u.created_at, u.id))
    } else {
        None
    };
    let base = scim_base_url(state, headers);
    let start_index = request.cursor.is_none().then_some(paging.start_index);
    let capacity = 256 + RESOURCE_BYTES * page.users.len();
    let body = if request.projection.is_identity() {
        let resources: Vec<ScimUser> = page.users.iter().map(|u| ScimUser::new(u, &base)).collect();
        json_bytes(
            &ListBody::new(page.total, start_index, &resources, next_cursor),
            capacity,
        )
    } else {
        let resources: Vec<Value> = page
            .users
            .iter()
            .map(|u| project(mapping::to_scim(u, &base), &request.projection))
            .collect();
        json_bytes(
            &ListBody::new(page.total, start_index, &resources, next_cursor),
            capacity,
        )
    };
    let body = body.map_err(|e| ScimError::Internal(e.to_string()))?;
    Ok(scim_json_text(StatusCode::OK, body))
}
