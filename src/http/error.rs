//! Where errors become HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::scim::ScimError;
use crate::storage::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// `Retry-After` of a 503: the database was away or busy. Entra ID and Okta
/// both retry a 503 later instead of failing the provisioning cycle.
pub const RETRY_UNAVAILABLE_SECONDS: u64 = 5;

/// Adds `Retry-After` to a 503 that has none.
pub fn retry_later(response: &mut Response) {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from(RETRY_UNAVAILABLE_SECONDS));
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.to_json().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"teamtailor-scim\""),
            );
        }
        retry_later(&mut response);
        response
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ScimError::NotFound("resource not found".into()),
            StoreError::Conflict(what) => ScimError::Uniqueness(format!("{what} already exists")),
            StoreError::Query(error) => error,
            error if error.is_limit_exceeded() => {
                tracing::warn!(%error, "value too large to store");
                ScimError::InvalidValue("a value is too long to store".into())
            }
            error if error.is_transient() => {
                tracing::warn!(%error, "database unavailable");
                ScimError::Unavailable("the database is busy; retry shortly".into())
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ScimError::Internal("internal storage error; see the server log".into())
            }
        }
    }
}
