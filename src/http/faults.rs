//! Applies a company's fault plan to its SCIM and Teamtailor API requests:
//! added latency, then possibly an injected 429, 500 or 503 in the surface's
//! own error format. The journal marks such answers.

use std::future::Future;
use std::time::Duration;

use axum::extract::{OriginalUri, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::faults::Fault;
use crate::scim::ScimError;

use super::api::{ApiError, API_PREFIX};
use super::journal::InjectedFault;
use super::AppState;

/// Runs `inner` (the rest of the request's way) unless the caller's company
/// has a fault plan that answers instead.
pub async fn inject<F, R>(state: &AppState, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> R,
    R: Future<Output = Response>,
{
    let Some(company_id) = request.extensions().get::<Caller>().map(|c| c.company_id) else {
        return inner(request).await;
    };
    let Some(plan) = state.faults.plan(company_id).await else {
        return inner(request).await;
    };
    if plan.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
    }
    let api = request
        .extensions()
        .get::<OriginalUri>()
        .is_some_and(|uri| uri.path().starts_with(API_PREFIX));
    let Some(fault) = plan.draw(rand::random::<f64>()) else {
        let mut response = inner(request).await;
        if plan.latency_ms > 0 {
            let note = format!("latency {} ms (injected)", plan.latency_ms);
            response.extensions_mut().insert(InjectedFault(note));
        }
        return response;
    };
    metrics::counter!("injected_faults_total").increment(1);
    let detail =
        "injected fault: this company has fault injection on (see /admin/companies/{slug}/faults)";
    let (status, mut response) = match fault {
        Fault::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            surface_error(api, 429, detail),
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            surface_error(api, 500, detail),
        ),
        Fault::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            surface_error(api, 503, detail),
        ),
    };
    if let Fault::RateLimited {
        retry_after_seconds,
    } = fault
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    }
    let mut note = format!("{} (injected)", status.as_u16());
    if plan.latency_ms > 0 {
        note.push_str(&format!(" after latency {} ms", plan.latency_ms));
    }
    response.extensions_mut().insert(InjectedFault(note));
    response
}

/// The error the surface itself answers with for `status` (the same code,
/// title and headers as a real one), with `detail` saying it was injected.
fn surface_error(api: bool, status: u16, detail: &str) -> Response {
    if api {
        return match status {
            429 => ApiError::too_many_requests(detail),
            503 => ApiError::unavailable(detail),
            _ => ApiError::internal(detail),
        }
        .into_response();
    }
    match status {
        429 => ScimError::TooManyRequests(detail.into()),
        503 => ScimError::Unavailable(detail.into()),
        _ => ScimError::Internal(detail.into()),
    }
    .into_response()
}
