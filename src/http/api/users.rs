//! `/v1/users`: list, read, create, update, delete as JSON:API.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Map, Value};

use crate::journal::UserChange;
use crate::storage::{Condition, Store, StoreError, UserOrder, UserQuery};
use crate::teamtailor::api::{self, InvalidAttribute};
use crate::teamtailor::{Role, User};

use super::super::{public_base_url, query_params};
use super::{ApiError, ApiJson, API_PREFIX, JSON_API};
use crate::auth::Caller;
use crate::http::extract::Segment;

const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 30;

fn api_base(state: &super::AppState, headers: &HeaderMap) -> String {
    format!("{}{API_PREFIX}", public_base_url(state, headers))
}

fn document(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API));
    response
}

fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no user with id '{id}'")))
}

/// A list request: page, filters and sort, validated.
struct ListParams {
    size: u64,
    number: u64,
    conditions: Vec<Condition>,
    order: UserOrder,
}

fn parse_list_params(params: &[(String, String)]) -> Result<ListParams, ApiError> {
    let mut list = ListParams {
        size: DEFAULT_PAGE_SIZE,
        number: 1,
        conditions: Vec::new(),
        order: UserOrder::Created,
    };
    for (key, value) in params {
        match key.as_str() {
            "page[size]" => {
                list.size = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "page[size] must be a number from 1 to {MAX_PAGE_SIZE}, got '{value}'"
                        ))
                    })?
            }
            "page[number]" => {
                list.number = value.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ApiError::bad_request(format!("page[number] must be 1 or more, got '{value}'"))
                })?
            }
            "filter[email]" => list.conditions.push(Condition::Email(value.trim().to_string())),
            "filter[external-id]" => list.conditions.push(Condition::ExternalId(value.clone())),
            "filter[role]" => {
                let role: Role = value.parse().map_err(|e: crate::teamtailor::UnknownRole| {
                    ApiError::bad_request(format!("filter[role]: {e}"))
                })?;
                list.conditions.push(Condition::Role(role));
            }
            "sort" => {
                list.order = match value.as_str() {
                    "created-at" => UserOrder::Created,
                    "-created-at" => UserOrder::CreatedDescending,
                    "name" => UserOrder::Name,
                    "-name" => UserOrder::NameDescending,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "cannot sort by '{other}'; use created-at, -created-at, name or -name"
                        )))
                    }
                }
            }
            filter if filter.starts_with("filter[") => {
                return Err(ApiError::bad_request(format!(
                    "unknown filter '{filter}'; users can be filtered by filter[email], filter[external-id] and filter[role]"
                )))
            }
            _ => {}
        }
    }
    Ok(list)
}

/// An absolute link to another page that keeps the request's other parameters.
fn page_link(base: &str, params: &[(String, String)], number: u64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params.iter().filter(|(k, _)| k != "page[number]") {
        query.append_pair(key, value);
    }
    query.append_pair("page[number]", &number.to_string());
    format!("{base}/users?{}", query.finish())
}

pub async fn list(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_params(raw.as_deref());
    let list = parse_list_params(&params)?;
    let query = UserQuery {
        conditions: list.conditions,
        order: list.order,
        start_index: (list.number - 1)
            .saturating_mul(list.size)
            .saturating_add(1),
        count: list.size,
        ..Default::default()
    };
    let page = state.store.list_users(caller.company_id, &query).await?;
    let base = api_base(&state, &headers);
    let page_count = page.total.div_ceil(list.size);
    let mut links = Map::new();
    links.insert("first".into(), json!(page_link(&base, &params, 1)));
    if list.number > 1 {
        links.insert(
            "prev".into(),
            json!(page_link(
                &base,
                &params,
                (list.number - 1).min(page_count.max(1))
            )),
        );
    }
    // On the last page `next` is absent, not null: some connectors reject null.
    if list.number < page_count {
        links.insert(
            "next".into(),
            json!(page_link(&base, &params, list.number + 1)),
        );
    }
    links.insert(
        "last".into(),
        json!(page_link(&base, &params, page_count.max(1))),
    );
    let body = json!({
        "data": page.users.iter().map(|u| api::to_resource(u, &base)).collect::<Vec<_>>(),
        "meta": { "record-count": page.total, "page-count": page_count },
        "links": links,
    });
    Ok(document(StatusCode::OK, &body))
}

pub async fn get(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let user = state
        .store
        .get_user(caller.company_id, user_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id '{id}'")))?;
    Ok(single(StatusCode::OK, &user, &api_base(&state, &headers)))
}

fn single(status: StatusCode, user: &User, base: &str) -> Response {
    let resource = api::to_resource(user, base);
    let links = resource["links"].clone();
    document(status, &json!({ "data": resource, "links": links }))
}

/// `data.attributes` of a request document, checking `data.type` (and `data.id`).
fn attributes(body: &Value, id: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("the document needs a 'data' object"))?;
    match data.get("type").and_then(Value::as_str) {
        Some("users") => {}
        other => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "type_mismatch",
                "Type mismatch",
                format!("data.type must be 'users', got {other:?}"),
            ))
        }
    }
    if let (Some(expected), Some(sent)) = (id, data.get("id")) {
        if sent.as_str() != Some(expected) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "id_mismatch",
                "Id mismatch",
                format!("data.id {sent} does not match the URL's id {expected}"),
            ));
        }
    }
    match data.get("attributes") {
        None => Ok(Map::new()),
        Some(Value::Object(attributes)) => Ok(attributes.clone()),
        Some(_) => Err(ApiError::bad_request("data.attributes must be an object")),
    }
}

pub async fn create(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson,
) -> Result<Response, ApiError> {
    let attributes = attributes(&body, None)?;
    let data = api::new_user(&attributes).map_err(|e| ApiError::unprocessable(&e))?;
    let user = state.store.create_user(caller.company_id, &data).await?;
    let base = api_base(&state, &headers);
    let mut response = single(StatusCode::CREATED, &user, &base);
    response.extensions_mut().insert(UserChange::created(&user));
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/users/{}", user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn update(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Segment(id): Segment,
    ApiJson(body): ApiJson,
) -> Result<Response, ApiError> {
    let user_id = user_id(&id)?;
    let attributes = attributes(&body, Some(&id))?;
    let mut invalid: Vec<InvalidAttribute> = Vec::new();
    let mut before: Option<User> = None;
    let result = state
        .store
        .modify_user(caller.company_id, user_id, |current| {
            match api::update(&current.data, &attributes) {
                Ok(data) => {
                    before = Some(current.clone());
                    Ok((data != current.data).then_some(data))
                }
                Err(errors) => {
                    invalid = errors;
                    Err(StoreError::Refused)
                }
            }
        })
        .await;
    match result {
        Ok(user) => {
            let mut response = single(StatusCode::OK, &user, &api_base(&state, &headers));
            if let Some(before) = before.filter(|b| b.version != user.version) {
                response
                    .extensions_mut()
                    .insert(UserChange::updated(&before, &user));
            }
            Ok(response)
        }
        Err(StoreError::Refused) => Err(ApiError::unprocessable(&invalid)),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("no user with id '{id}'"))),
        Err(error) => Err(error.into()),
    }
}

pub async fn delete(
    State(state): State<super::AppState>,
    Extension(caller): Extension<Caller>,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let user_id = user_id(&id)?;
    if state
        .store
        .delete_user(caller.company_id, user_id, None)
        .await?
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response
            .extensions_mut()
            .insert(UserChange::deleted(user_id));
        Ok(response)
    } else {
        Err(ApiError::not_found(format!("no user with id '{id}'")))
    }
}
