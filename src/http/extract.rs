//! A JSON body extractor whose rejections are SCIM errors: malformed JSON is
//! `invalidSyntax`, an oversized body 413, whatever the content type says.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

use crate::scim::ScimError;

pub struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimError::PayloadTooLarge(
                        "the request body is larger than this server accepts".into(),
                    )
                } else {
                    ScimError::InvalidSyntax(format!(
                        "could not read the request body: {rejection}"
                    ))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ScimError::InvalidSyntax(
                "the request body is empty; send a JSON object".into(),
            ));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::InvalidSyntax(format!("the request body is not valid JSON: {e}"))
        })?;
        if contains_nul(&value) {
            return Err(ScimError::InvalidValue(NUL_DETAIL.into()));
        }
        Ok(ScimJson(value))
    }
}

/// One `{id}` or `{slug}` path segment, percent-decoded. A segment that does
/// not decode to UTF-8 names nothing that exists, so it arrives empty and the
/// handler answers 404 in its surface's format (axum's own rejection is plain text).
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Segment(
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map(|axum::extract::Path(segment)| segment)
                .unwrap_or_default(),
        ))
    }
}

pub const NUL_DETAIL: &str =
    "the request body contains a NUL character (\\u0000), which no attribute can hold";

/// Whether any string or key in `value` holds U+0000. PostgreSQL text cannot
/// store it, so it is refused on every backend alike.
pub fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}
