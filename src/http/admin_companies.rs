//! `/admin/companies/{slug}/...`: state control for test runs (reset, seed,
//! export) and fault injection.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::FaultPlan;
use crate::fixtures::{self, Export, Format};
use crate::storage::{Company, Store};

use super::admin::{error, store_error};
use super::{query_params, scim_base_url, AppState};
use crate::http::extract::Segment;

/// Largest fixture accepted over HTTP; `teamtailor-scim import` streams any size.
const MAX_FIXTURE_BYTES: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/companies/{slug}/faults",
            get(get_faults).put(put_faults).delete(delete_faults),
        )
        .route("/companies/{slug}/reset", post(reset))
        .route(
            "/companies/{slug}/users/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FIXTURE_BYTES)),
        )
        .route("/companies/{slug}/users/export", get(export))
}

async fn company(state: &AppState, slug: &str) -> Result<Company, Response> {
    match state.store.company_by_slug(slug).await {
        Ok(Some(company)) => Ok(company),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, format!("no company '{slug}'"))),
        Err(e) => Err(store_error(e)),
    }
}

fn plan_json(slug: &str, plan: &FaultPlan) -> Value {
    json!({ "company": slug, "faults": plan, "active": !plan.is_off() })
}

async fn get_faults(State(state): State<AppState>, Segment(slug): Segment) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let plan = state
        .faults
        .plan(company.id)
        .await
        .map(|p| (*p).clone())
        .unwrap_or_default();
    Json(plan_json(&company.slug, &plan)).into_response()
}

async fn put_faults(
    State(state): State<AppState>,
    Segment(slug): Segment,
    body: Bytes,
) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let plan: FaultPlan = match serde_json::from_slice(&body) {
        Ok(plan) => plan,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "{e}; send {{\"latency_ms\": 200, \"rate_limited\": 0.1, \"retry_after_seconds\": 5, \"server_error\": 0.05, \"unavailable\": 0.05}} (all optional)"
                ),
            )
        }
    };
    if let Err(message) = plan.validate() {
        return error(StatusCode::BAD_REQUEST, message);
    }
    if let Err(e) = state.faults.set(company.id, Some(plan.clone())).await {
        return store_error(e);
    }
    tracing::info!(company = %company.slug, ?plan, "fault injection set");
    Json(plan_json(&company.slug, &plan)).into_response()
}

async fn delete_faults(State(state): State<AppState>, Segment(slug): Segment) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    match state.faults.set(company.id, None).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(e),
    }
}

async fn reset(State(state): State<AppState>, Segment(slug): Segment) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    match state.store.reset_company(company.id).await {
        Ok(deleted) => {
            Json(json!({ "company": company.slug, "deleted_users": deleted })).into_response()
        }
        Err(e) => store_error(e),
    }
}

/// Format from `?format=`, else the content type (`text/csv` is CSV).
fn requested_format(headers: &HeaderMap, query: Option<&str>) -> Result<Format, String> {
    let params = query_params(query);
    match params
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str())
    {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(format!("format must be json or csv, not '{other}'")),
        None => Ok(headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|t| t.starts_with("text/csv"))
            .map_or(Format::Json, |_| Format::Csv)),
    }
}

/// Seeds users from a fixture in the body; existing userNames are skipped.
async fn import(
    State(state): State<AppState>,
    Segment(slug): Segment,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let format = match requested_format(&headers, query.as_deref()) {
        Ok(format) => format,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let reader = std::io::Cursor::new(body);
    match fixtures::import(
        &state.store,
        company.id,
        reader,
        format,
        fixtures::BATCH,
        |_| {},
    )
    .await
    {
        Ok(report) => Json(json!({
            "company": company.slug,
            "records": report.records,
            "imported": report.inserted,
            "skipped": report.records - report.inserted,
        }))
        .into_response(),
        Err(fixtures::ImportError::Store { error: e, .. }) => store_error(e),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Streams the company's users: JSON lines (the import format) or CSV.
async fn export(
    State(state): State<AppState>,
    Segment(slug): Segment,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let company = match company(&state, &slug).await {
        Ok(company) => company,
        Err(response) => return response,
    };
    let format = match requested_format(&HeaderMap::new(), query.as_deref()) {
        Ok(format) => format,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let mut export = Export::new(company.id, format, &scim_base_url(&state, &headers));
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let store = state.store.clone();
    tokio::spawn(async move {
        loop {
            let chunk = match export.next_chunk(&store).await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = chunk.is_err();
            if sender.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let content_type = match format {
        Format::Json => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let mut response =
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
