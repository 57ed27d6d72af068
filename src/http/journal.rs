//! Records every authenticated SCIM and Teamtailor API request in the
//! journal: request and response bodies (redacted, bounded), status, latency,
//! client and the change it made.

use std::future::Future;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{OriginalUri, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::journal::{client_name, JournalEntry, UserChange};
use crate::scim::ScimError;
use crate::storage::now_micros;

use super::api::{ApiError, API_PREFIX};
use super::AppState;

/// Marks a response whose status came from fault injection.
#[derive(Debug, Clone)]
pub struct InjectedFault(pub String);

fn too_large(path: &str) -> Response {
    let detail = "the request body is larger than this server accepts";
    if path.starts_with(API_PREFIX) {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload Too Large",
            detail,
        )
        .into_response()
    } else {
        ScimError::PayloadTooLarge(detail.into()).into_response()
    }
}

/// The user a path names (`/Users/12`, `/users/12`), if any.
fn user_in_path(path: &str) -> Option<i64> {
    let mut segments = path.rsplit('/');
    let last = segments.next()?;
    let parent = segments.next()?;
    parent
        .eq_ignore_ascii_case("users")
        .then(|| last.parse().ok())
        .flatten()
}

/// Runs `inner` (the rest of the request's way) and records the exchange,
/// for a request its surface's gate let through (with its [`Caller`]).
pub async fn record<F, R>(state: &AppState, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> R,
    R: Future<Output = Response>,
{
    if !state.journal.enabled() {
        return inner(request).await;
    }
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return inner(request).await;
    };
    let started = Instant::now();
    let at = now_micros();
    let method = request.method().to_string();
    // Nested routers see a shortened URI; the journal shows what was sent.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let path = match uri.query() {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_string(),
    };
    // Copied out so nothing borrows the request across an await.
    let (user_agent, request_id) = {
        let header_text = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            header_text(header::USER_AGENT.as_str()),
            header_text("x-request-id"),
        )
    };

    let (parts, body) = request.into_parts();
    let Ok(request_bytes) = to_bytes(body, state.max_body_bytes).await else {
        return too_large(&path);
    };
    let response = inner(Request::from_parts(
        parts,
        Body::from(request_bytes.clone()),
    ))
    .await;

    let (parts, body) = response.into_parts();
    let response_bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let change = parts.extensions.get::<UserChange>().cloned();
    let fault = parts.extensions.get::<InjectedFault>().map(|f| f.0.clone());
    let entry = JournalEntry {
        id: None,
        company_id: caller.company_id,
        company: caller.company_slug.clone(),
        at,
        request_id,
        method,
        user_id: change
            .as_ref()
            .map(|c| c.user_id)
            .or_else(|| user_in_path(path.split('?').next().unwrap_or(""))),
        path,
        client: client_name(user_agent.as_deref()),
        user_agent,
        // Redacted by the journal's writer, off the request path.
        request_body: None,
        status: parts.status.as_u16(),
        response_body: None,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        change: change.map(|c| c.change),
        fault,
    };
    state
        .journal
        .record(entry, request_bytes, response_bytes.clone());
    Response::from_parts(parts, Body::from(response_bytes))
}
