//! SCIM errors as values (RFC 7644 section 3.12). Mapped to HTTP in `http::error`.

use serde_json::{json, Value};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `scimType` values defined by RFC 7644 (plus the HTTP-only errors that carry none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    #[error("{0}")]
    InvalidSyntax(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    Uniqueness(String),
    #[error("{0}")]
    TooMany(String),
    /// RFC 9865: a `cursor` this server did not issue.
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Unavailable(String),
}

impl ScimError {
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidSyntax(_)
            | Self::InvalidValue(_)
            | Self::InvalidFilter(_)
            | Self::InvalidPath(_)
            | Self::NoTarget(_)
            | Self::Mutability(_)
            | Self::TooMany(_)
            | Self::InvalidCursor(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Uniqueness(_) => 409,
            Self::RequestTimeout(_) => 408,
            Self::PreconditionFailed(_) => 412,
            Self::PayloadTooLarge(_) => 413,
            Self::TooManyRequests(_) => 429,
            Self::Internal(_) => 500,
            Self::NotImplemented(_) => 501,
            Self::Unavailable(_) => 503,
        }
    }

    pub fn scim_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidSyntax(_) => "invalidSyntax",
            Self::InvalidValue(_) => "invalidValue",
            Self::InvalidFilter(_) => "invalidFilter",
            Self::InvalidPath(_) => "invalidPath",
            Self::NoTarget(_) => "noTarget",
            Self::Mutability(_) => "mutability",
            Self::Uniqueness(_) => "uniqueness",
            Self::TooMany(_) => "tooMany",
            Self::InvalidCursor(_) => "invalidCursor",
            _ => return None,
        })
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::InvalidSyntax(d)
            | Self::InvalidValue(d)
            | Self::InvalidFilter(d)
            | Self::InvalidPath(d)
            | Self::NoTarget(d)
            | Self::Mutability(d)
            | Self::Uniqueness(d)
            | Self::TooMany(d)
            | Self::InvalidCursor(d)
            | Self::NotFound(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::MethodNotAllowed(d)
            | Self::PreconditionFailed(d)
            | Self::RequestTimeout(d)
            | Self::PayloadTooLarge(d)
            | Self::TooManyRequests(d)
            | Self::NotImplemented(d)
            | Self::Internal(d)
            | Self::Unavailable(d) => d,
        }
    }

    /// The Error resource body; `status` is a string as the RFC's examples show.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status().to_string(),
            "detail": self.detail(),
        });
        if let Some(scim_type) = self.scim_type() {
            body["scimType"] = json!(scim_type);
        }
        body
    }

    pub fn user_not_found(id: &str) -> Self {
        Self::NotFound(format!("User {id} not found"))
    }
}
