//! The Teamtailor API surface (`/v1`): JSON:API documents, `X-Api-Version`,
//! `Authorization: Token token=KEY`, scopes and rate limits.

mod error;
pub mod rate_limit;
mod users;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;

use crate::keys::Scope;

use super::auth::{authenticate, blocked};
use super::AppState;
use crate::auth::AuthFailure;

pub use error::{ApiError, JSON_API};

pub const API_PREFIX: &str = "/v1";

/// The oldest API version Teamtailor publishes.
const FIRST_API_VERSION: (i32, u32, u32) = (2016, 11, 8);

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        // Inside the journal and rate-limit headers, so a panic's 500 gets both.
        .layer(CatchPanicLayer::custom(super::guard::api_panic_response))
        // The gate, then the journal and fault injection (`auth::through`).
        .layer(middleware::from_fn_with_state(state, gate))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; this server has /v1/users")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method Not Allowed",
        "this method is not supported on this endpoint; see the Allow header",
    )
}

/// Version, then key, then rate limit, then scope, as Teamtailor orders them:
/// a missing version is 406 before the key is looked at.
async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Err(error) = check_version(request.headers()) {
        return error.into_response();
    }
    let caller = match authenticate(&state, &request).await {
        Ok(caller) => caller,
        Err(AuthFailure::Missing) => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "missing API key: send 'Authorization: Token token=KEY'",
            )
            .into_response()
        }
        Err(AuthFailure::Invalid) => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "the API key or token is not valid (unknown, revoked or expired)",
            )
            .into_response()
        }
        Err(AuthFailure::Blocked(wait)) => {
            return blocked(
                ApiError::too_many_requests(format!(
                    "too many failed authentication attempts from this address; retry in {wait} seconds"
                ))
                .into_response(),
                wait,
            )
        }
        Err(AuthFailure::Unavailable) => {
            return ApiError::unavailable(super::auth::KEY_UNCHECKED).into_response()
        }
    };
    let decision = state
        .rate_limiter
        .as_ref()
        .map(|l| l.check(caller.principal));
    let mut response = if decision.is_some_and(|d| !d.allowed) {
        let mut response = ApiError::too_many_requests(
            "rate limit exceeded for this API key; see X-Rate-Limit-Reset",
        )
        .into_response();
        if let Some(d) = decision {
            insert(&mut response, "retry-after", d.reset_seconds.to_string());
        }
        response
    } else if !may_call(&caller.scopes, request.method()) {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "this API key may not do this: reading users needs an admin or read key, writing an admin key",
        )
        .into_response()
    } else {
        request.extensions_mut().insert(caller);
        super::auth::through(&state, request, next).await
    };
    if let Some(d) = decision {
        insert(&mut response, "x-rate-limit-limit", d.limit.to_string());
        insert(
            &mut response,
            "x-rate-limit-remaining",
            d.remaining.to_string(),
        );
        insert(
            &mut response,
            "x-rate-limit-reset",
            d.reset_seconds.to_string(),
        );
    }
    response
}

fn insert(response: &mut Response, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
}

fn may_call(scopes: &[Scope], method: &Method) -> bool {
    let reading = method == Method::GET || method == Method::HEAD;
    scopes.contains(&Scope::ApiAdmin) || (reading && scopes.contains(&Scope::ApiRead))
}

/// `X-Api-Version` must be a real date `YYYYMMDD` from Teamtailor's first
/// version on, and not in the future.
fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    let invalid = |detail: String| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "invalid_api_version",
            "Invalid/Missing API Version",
            detail,
        )
    };
    let Some(value) = headers.get("x-api-version") else {
        return Err(invalid(
            "send the X-Api-Version header, e.g. 'X-Api-Version: 20240404'".into(),
        ));
    };
    let text = value.to_str().unwrap_or("").trim();
    let (y, m, d) = FIRST_API_VERSION;
    let first = NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
    let today = chrono::Utc::now().date_naive();
    match NaiveDate::parse_from_str(text, "%Y%m%d") {
        Ok(date) if text.len() == 8 && date >= first && date <= today => Ok(()),
        _ => Err(invalid(format!(
            "'{text}' is not an API version: use a date YYYYMMDD from 20161108 on, e.g. 20240404"
        ))),
    }
}

/// A JSON body whose rejections are JSON:API errors.
pub struct ApiJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ApiJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "Payload Too Large",
                        "the request body is larger than this server accepts",
                    )
                } else {
                    ApiError::bad_request(format!("could not read the request body: {rejection}"))
                }
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?;
        if crate::http::extract::contains_nul(&value) {
            return Err(ApiError::bad_request(crate::http::extract::NUL_DETAIL));
        }
        Ok(ApiJson(value))
    }
}
