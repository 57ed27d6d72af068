//! JSON:API error documents, the Teamtailor API's error format.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::storage::StoreError;
use crate::teamtailor::api::InvalidAttribute;

pub const JSON_API: &str = "application/vnd.api+json";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            errors: vec![json!({
                "status": status.as_u16().to_string(),
                "code": code,
                "title": title,
                "detail": detail.into(),
            })],
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Bad Request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Record not found",
            detail,
        )
    }

    /// 429: over the rate limit, or blocked after failed logins.
    pub fn too_many_requests(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too Many Requests",
            detail,
        )
    }

    /// 503: the database is away or busy (`Retry-After` is added).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service Unavailable",
            detail,
        )
    }

    /// 500: a failure of ours.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal Server Error",
            detail,
        )
    }

    pub fn unprocessable(errors: &[InvalidAttribute]) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors: errors
                .iter()
                .map(|e| {
                    json!({
                        "status": "422",
                        "code": "validation_error",
                        "title": "Validation error",
                        "detail": e.detail,
                        "source": { "pointer": e.pointer() },
                    })
                })
                .collect(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": self.errors });
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Token realm=\"Application\""),
            );
        }
        crate::http::error::retry_later(&mut response);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found("no such user"),
            StoreError::Conflict(_) => ApiError::unprocessable(&[InvalidAttribute {
                attribute: "login-email",
                detail: "login-email has already been taken".into(),
            }]),
            error if error.is_limit_exceeded() => {
                tracing::warn!(%error, "value too large to store");
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_error",
                    "Validation error",
                    "a value is too long to store",
                )
            }
            error if error.is_transient() => {
                tracing::warn!(%error, "database unavailable");
                ApiError::unavailable("the database is busy; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal("internal storage error; see the server log")
            }
        }
    }
}
