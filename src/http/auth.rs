//! Authentication on the SCIM surface, in SCIM's error format.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{presented_credential, AuthFailure, Caller};
use crate::keys::Scope;
use crate::scim::ScimError;

use super::AppState;

/// The address a request came from.
pub fn source(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The caller of a request, or why there is none; failures are logged.
pub fn authenticate<'a>(
    state: &'a AppState,
    request: &Request,
) -> impl std::future::Future<Output = Result<Caller, AuthFailure>> + Send + 'a {
    let source = source(request);
    // Only the credential crosses the await (a request body is not Sync),
    // not a copy of every header.
    let credential = presented_credential(request.headers()).map(str::to_owned);
    async move { state.auth.authenticate(credential.as_deref(), source).await }
}

/// A 429 for an address blocked after repeated failures.
pub fn blocked(mut response: Response, wait: u64) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Middleware for `/scim/v2`: a credential with the `scim` scope, or a SCIM error.
pub async fn require_scim(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, &request).await {
        Ok(caller) if caller.scopes.contains(&Scope::Scim) => {
            request.extensions_mut().insert(caller);
            through(&state, request, next).await
        }
        Ok(caller) => {
            tracing::info!(principal = ?caller.principal, "credential without the scim scope used on SCIM");
            ScimError::Forbidden("this credential does not have the 'scim' scope".into())
                .into_response()
        }
        Err(AuthFailure::Missing) => {
            ScimError::Unauthorized("missing API key: send 'Authorization: Bearer KEY'".into())
                .into_response()
        }
        Err(AuthFailure::Invalid) => ScimError::Unauthorized(
            "the API key or token is not valid (unknown, revoked or expired)".into(),
        )
        .into_response(),
        Err(AuthFailure::Blocked(wait)) => blocked(
            ScimError::TooManyRequests(format!(
                "too many failed authentication attempts from this address; retry in {wait} seconds"
            ))
            .into_response(),
            wait,
        ),
        Err(AuthFailure::Unavailable) => {
            ScimError::Unavailable(KEY_UNCHECKED.into()).into_response()
        }
    }
}

/// The way of a request its surface's gate let through: recorded in the
/// journal, then past the company's fault plan, to its handler. One layer
/// where three were: each `from_fn` layer boxes the request's future and
/// clones the services under it (callgrind, SQLite GET by id: ~136,000
/// instructions a request with the three, ~129,000 with one).
pub async fn through(state: &AppState, request: Request, next: Next) -> Response {
    super::journal::record(state, request, |request| {
        super::faults::inject(state, request, |request| next.run(request))
    })
    .await
}

/// The detail of a 503 when the credential could not be checked.
pub const KEY_UNCHECKED: &str =
    "the credential cannot be checked: the database is not answering; retry shortly";
