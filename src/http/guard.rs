//! Guards in front of every route: a time limit on each request (so a client
//! trickling its body cannot hold the server), a query string that must
//! decode to UTF-8 (errors in the surface's own format), and the answer a
//! panicking handler gives.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::scim::ScimError;

use super::api::{ApiError, API_PREFIX};

fn error(api: bool, status: StatusCode, scim: ScimError) -> Response {
    if api {
        let (code, title) = match status {
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request Timeout"),
            _ => ("bad_request", "Bad Request"),
        };
        ApiError::new(status, code, title, scim.detail()).into_response()
    } else {
        scim.into_response()
    }
}

/// Refuses a query string that is not UTF-8, then bounds the time from a
/// request's headers to its response's headers (reading the body
/// included); past it the answer is 408. A tower layer rather than
/// `from_fn`, which would box every request's future once more (see
/// `auth::through`).
#[derive(Clone, Copy)]
pub struct GuardLayer {
    pub request_timeout: Duration,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            request_timeout: self.request_timeout,
        }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    request_timeout: Duration,
}

impl<S> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Guarded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let api = request.uri().path().starts_with(API_PREFIX);
        if let Some(name) = undecodable_param(request.uri().query()) {
            let detail = format!("the query parameter '{name}' is not valid text once decoded (invalid UTF-8 or a NUL character)");
            let scim = if name.eq_ignore_ascii_case("filter") {
                ScimError::InvalidFilter(detail)
            } else {
                ScimError::InvalidValue(detail)
            };
            return Guarded::Refused {
                response: Some(error(api, StatusCode::BAD_REQUEST, scim)),
            };
        }
        Guarded::Running {
            inner: tokio::time::timeout(self.request_timeout, self.inner.call(request)),
            api,
            limit: self.request_timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's response on its way, or the answer that refused it.
    #[project = GuardedState]
    pub enum Guarded<F> {
        Refused { response: Option<Response> },
        Running {
            #[pin]
            inner: tokio::time::Timeout<F>,
            api: bool,
            limit: Duration,
        },
    }
}

impl<F, E> Future for Guarded<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedState::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("a guard's answer is taken once")))
            }
            GuardedState::Running { inner, api, limit } => match ready!(inner.poll(cx)) {
                Ok(result) => Poll::Ready(result),
                Err(_) => {
                    metrics::counter!("request_timeouts_total").increment(1);
                    let detail = format!(
                        "the request was not completed within {} s; send the body promptly",
                        limit.as_secs_f64()
                    );
                    Poll::Ready(Ok(error(
                        *api,
                        StatusCode::REQUEST_TIMEOUT,
                        ScimError::RequestTimeout(detail),
                    )))
                }
            },
        }
    }
}

/// What a SCIM handler that panicked answers: a 500 SCIM error (the panic
/// itself is logged).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    log_panic(panic.as_ref());
    ScimError::Internal(PANIC_DETAIL.into()).into_response()
}

/// What a `/v1` handler that panicked answers: a 500 JSON:API error.
pub fn api_panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    log_panic(panic.as_ref());
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal Server Error",
        PANIC_DETAIL,
    )
    .into_response()
}

const PANIC_DETAIL: &str = "the server failed while handling this request; see the server log";

fn log_panic(panic: &(dyn std::any::Any + Send)) {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = message, "a request handler panicked");
    metrics::counter!("handler_panics_total").increment(1);
}

/// The name of the first query parameter whose name or value, once
/// percent-decoded, is not UTF-8 or holds NUL (`query_params` would decode it
/// lossily).
fn undecodable_param(query: Option<&str>) -> Option<String> {
    fn decode(text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => decoded.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16) {
                        Ok(byte) => {
                            decoded.push(byte);
                            i += 2;
                        }
                        Err(_) => decoded.push(b'%'),
                    }
                }
                byte => decoded.push(byte),
            }
            i += 1;
        }
        // NUL is refused too: no attribute holds it, PostgreSQL cannot store it.
        String::from_utf8(decoded)
            .ok()
            .filter(|text| !text.contains('\0'))
    }
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (decode(name), decode(value)) {
            (Some(_), Some(_)) => None,
            (Some(name), None) => Some(name),
            (None, _) => Some(String::from_utf8_lossy(name.as_bytes()).into_owned()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_under_v1_answers_a_json_api_500() {
        let response = api_panic_response(Box::new("boom"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[axum::http::header::CONTENT_TYPE],
            super::super::api::JSON_API
        );
        let response = panic_response(Box::new(String::from("boom")));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[axum::http::header::CONTENT_TYPE],
            crate::http::SCIM_CONTENT_TYPE
        );
    }
}
