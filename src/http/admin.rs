//! `/admin`: operators manage companies and keys over HTTP with the operator
//! token from the configuration (off when none is configured).

use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::{self, company_json, key_json};
use crate::auth::{log_failure, presented_credential};
use crate::keys::{KeyDigest, Scope};
use crate::storage::{JournalQuery, Store, StoreError};

use super::auth::{blocked, source};
use super::{query_params, AppState};
use crate::http::extract::Segment;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/companies", get(list_companies).post(create_company))
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/{id}", axum::routing::delete(revoke_key))
        .route("/keys/{id}/rotate", post(rotate_key))
        .route("/signing-keys/rotate", post(rotate_signing_key))
        .route("/journal", get(list_journal))
        .route("/journal/stream", get(stream_journal))
        .merge(super::admin_companies::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(middleware::from_fn_with_state(state, require_operator))
}

pub(super) fn error(status: StatusCode, detail: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": detail.into(), "status": status.as_u16() })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"teamtailor-scim admin\""),
        );
    }
    response
}

pub(super) fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound => error(StatusCode::NOT_FOUND, "not found"),
        StoreError::Conflict(what) => error(StatusCode::CONFLICT, format!("{what} already exists")),
        other => {
            tracing::error!(error = %other, "admin storage failure");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal storage error; see the server log",
            )
        }
    }
}

/// The operator token, with wrong guesses counted and blocked like any other
/// credential's.
async fn require_operator(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.admin_token else {
        return error(
            StatusCode::NOT_FOUND,
            "the admin API is off: start the server with --admin-token (TEAMTAILOR_SCIM_ADMIN_TOKEN)",
        );
    };
    let source = source(&request);
    if let Some(wait) = state.auth.refuse_if_blocked(source) {
        return too_many_failures(wait);
    }
    match presented_credential(request.headers()) {
        Some(token) if expected.matches(&KeyDigest::of(token)) => next.run(request).await,
        Some(_) => match state.auth.record_failure(source, "wrong operator token") {
            Some(wait) => too_many_failures(wait),
            None => error(StatusCode::UNAUTHORIZED, "wrong operator token"),
        },
        None => {
            log_failure(source, "no operator token", None);
            error(
                StatusCode::UNAUTHORIZED,
                "send the operator token as 'Authorization: Bearer TOKEN'",
            )
        }
    }
}

fn too_many_failures(wait: u64) -> Response {
    blocked(
        error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed authentication attempts from this address; retry in {wait} seconds"),
        ),
        wait,
    )
}

async fn list_companies(State(state): State<AppState>) -> Response {
    match state.store.list_companies().await {
        Ok(companies) => {
            Json(companies.iter().map(company_json).collect::<Vec<_>>()).into_response()
        }
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
struct NewCompany {
    slug: String,
}

async fn create_company(State(state): State<AppState>, body: Option<Json<NewCompany>>) -> Response {
    let Some(Json(body)) = body.filter(|b| !b.0.slug.trim().is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "send {\"slug\": \"acme\"}");
    };
    match state.store.create_company(body.slug.trim()).await {
        Ok(company) => (StatusCode::CREATED, Json(company_json(&company))).into_response(),
        Err(e) => store_error(e),
    }
}

async fn list_keys(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = query_params(query.as_deref());
    let company = params
        .iter()
        .find(|(k, _)| k == "company")
        .map(|(_, v)| v.clone());
    let company_id = match company {
        None => None,
        Some(slug) => match state.store.company_by_slug(&slug).await {
            Ok(Some(company)) => Some(company.id),
            Ok(None) => return error(StatusCode::NOT_FOUND, format!("no company '{slug}'")),
            Err(e) => return store_error(e),
        },
    };
    match state.store.list_keys(company_id).await {
        Ok(keys) => Json(keys.iter().map(key_json).collect::<Vec<_>>()).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    company: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "default_key_name")]
    name: String,
    /// Seconds until the key stops working.
    expires_in: Option<u64>,
}

fn default_key_name() -> String {
    "admin-api".into()
}

/// The created key, with its value shown this once.
fn created(key: &crate::storage::ApiKey, secret: &crate::keys::Secret) -> Response {
    let mut body = key_json(key);
    body["key"] = Value::String(secret.expose().to_string());
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn create_key(
    State(state): State<AppState>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let scopes: Result<Vec<Scope>, String> = body.scopes.iter().map(|s| s.parse()).collect();
    let scopes = match scopes {
        Ok(scopes) => scopes,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let expires_in = body.expires_in.map(std::time::Duration::from_secs);
    match admin::create_key(&state.store, &body.company, &scopes, &body.name, expires_in).await {
        Ok((key, secret)) => created(&key, &secret),
        Err(e) => store_error(e),
    }
}

fn no_key(id: impl std::fmt::Display) -> Response {
    error(StatusCode::NOT_FOUND, format!("no active key with id {id}"))
}

async fn revoke_key(State(state): State<AppState>, Segment(id): Segment) -> Response {
    // Anything but a number names no key.
    let Ok(id) = id.parse::<i64>() else {
        return no_key(format!("'{id}'"));
    };
    let revoked = state.store.revoke_key(id).await;
    // This instance at once; the others at their next key poll.
    state.auth.keys.forget(None);
    match revoked {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => no_key(id),
        Err(e) => store_error(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// Seconds the old key keeps working.
    grace_seconds: Option<u64>,
}

async fn rotate_key(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Option<Json<Rotation>>,
) -> Response {
    // Anything but a number names no key.
    let Ok(id) = id.parse::<i64>() else {
        return no_key(format!("'{id}'"));
    };
    let grace = body
        .and_then(|b| b.0.grace_seconds)
        .map(std::time::Duration::from_secs);
    let rotated = admin::rotate_key(&state.store, id, grace).await;
    state.auth.keys.forget(None);
    match rotated {
        Ok((key, secret)) => created(&key, &secret),
        Err(StoreError::NotFound) => no_key(id),
        Err(e) => store_error(e),
    }
}

async fn rotate_signing_key(State(state): State<AppState>) -> Response {
    let kid = match admin::rotate_signing_key(&state.store).await {
        Ok(kid) => kid,
        Err(e) => return store_error(e),
    };
    if let Err(e) = state.auth.tokens.reload(&state.store).await {
        return store_error(e);
    }
    Json(json!({ "kid": kid })).into_response()
}

/// `company`, `user`, `client`, `status` (`404` or `4xx`), `since`/`until`
/// (RFC 3339), `before` (an entry id, for the next page) and `limit`.
fn journal_query(
    params: &[(String, String)],
    company_id: Option<i64>,
) -> Result<JournalQuery, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let time = |name: &str| -> Result<Option<i64>, String> {
        get(name)
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_micros())
                    .map_err(|_| {
                        format!("{name} must be an RFC 3339 time like 2026-01-01T00:00:00Z")
                    })
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<i64>, String> {
        get(name)
            .map(|n| {
                n.parse::<i64>()
                    .map_err(|_| format!("{name} must be a number"))
            })
            .transpose()
    };
    let status = match get("status") {
        None => None,
        Some(class) if class.len() == 3 && class.ends_with("xx") => {
            let digit = class[..1]
                .parse::<u16>()
                .map_err(|_| "status must be like 404 or 4xx".to_string())?;
            Some((digit * 100, digit * 100 + 99))
        }
        Some(code) => {
            let code = code
                .parse::<u16>()
                .map_err(|_| "status must be like 404 or 4xx".to_string())?;
            Some((code, code))
        }
    };
    Ok(JournalQuery {
        company_id,
        user_id: number("user")?,
        client: get("client").map(str::to_string),
        status,
        since: time("since")?,
        until: time("until")?,
        before_id: number("before")?,
        limit: number("limit")?.unwrap_or(100).clamp(1, 1000) as u32,
    })
}

async fn company_param(
    state: &AppState,
    params: &[(String, String)],
) -> Result<Option<i64>, Response> {
    match params
        .iter()
        .find(|(k, _)| k == "company")
        .map(|(_, v)| v.as_str())
    {
        None => Ok(None),
        Some(slug) => match state.store.company_by_slug(slug).await {
            Ok(Some(company)) => Ok(Some(company.id)),
            Ok(None) => Err(error(StatusCode::NOT_FOUND, format!("no company '{slug}'"))),
            Err(e) => Err(store_error(e)),
        },
    }
}

async fn list_journal(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = query_params(query.as_deref());
    let company_id = match company_param(&state, &params).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let query = match journal_query(&params, company_id) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match state.store.list_journal(&query).await {
        Ok(entries) => {
            let next = (entries.len() == query.limit as usize)
                .then(|| entries.last().and_then(|e| e.id))
                .flatten();
            Json(json!({ "entries": entries, "next_before": next, "queued": state.journal.lag() }))
                .into_response()
        }
        Err(e) => store_error(e),
    }
}

/// Server-sent events: each request as it is recorded, optionally for one company.
async fn stream_journal(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio_stream::wrappers::BroadcastStream;
    use tokio_stream::StreamExt;

    let params = query_params(query.as_deref());
    let company_id = match company_param(&state, &params).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let stream = BroadcastStream::new(state.journal.subscribe()).filter_map(move |entry| {
        let entry = entry.ok()?;
        if company_id.is_some_and(|id| id != entry.company_id) {
            return None;
        }
        Some(Ok::<Event, std::convert::Infallible>(
            Event::default().event("request").json_data(&entry).ok()?,
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
