//! Where errors become HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::scim::ScimError;
use crate::storage::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

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
