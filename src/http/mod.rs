//! The HTTP surface (axum): one router per surface, auth, errors.

mod admin;
mod admin_companies;
pub mod api;
mod auth;
mod discovery;
mod error;
mod extract;
mod faults;
mod guard;
pub mod journal;
mod oauth;
mod openapi;
pub mod operations;
mod request_id;
mod scim_users;
pub mod serve;
mod ui;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

use crate::auth::Authenticator;
use crate::scim::ScimError;
use crate::storage::Database;

pub use crate::auth::Caller;
pub use error::SCIM_CONTENT_TYPE;

pub const SCIM_PREFIX: &str = "/scim/v2";

/// What every handler and middleware shares. Cloned for each layer a
/// request passes, so it is one reference, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Arc<Database>,
    pub auth: Arc<Authenticator>,
    pub journal: Arc<crate::journal::Journal>,
    pub faults: Arc<crate::faults::Faults>,
    pub max_body_bytes: usize,
    pub request_timeout: std::time::Duration,
    /// Set when shutdown began: `/readyz` then answers 503 so balancers drain.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Digest of the operator token for `/admin`; `None` turns the admin API off.
    pub admin_token: Option<Arc<crate::keys::KeyDigest>>,
    /// Overrides the scheme and host used in `Location` and `meta.location`.
    pub public_url: Option<Arc<str>>,
    /// Per-key limit on the Teamtailor API; `None` when switched off.
    pub rate_limiter: Option<Arc<api::rate_limit::ApiRateLimiter>>,
}

/// The whole HTTP service: the layers every request passes once (request
/// id, trace span, panic catcher, body limit), around the router. Outside
/// it, not `Router::layer`: a router's layer wraps each route in a boxed
/// service of its own, and every request clones the boxes of its route,
/// each level all the levels under it.
pub fn service(
    state: AppState,
    max_body_bytes: usize,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        // The body the layers below wrap, as axum's (one box).
        .map_response(IntoResponse::into_response)
        .layer(NormalizePathLayer::trim_trailing_slash())
        // An incoming x-request-id is kept, else one is made; it is
        // in every log line of the request and echoed on the response.
        .layer(SetRequestIdLayer::x_request_id(request_id::NewRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id)
                })
                // One line per response (status, latency) at INFO, an access
                // log; `RUST_LOG=info,tower_http=warn` silences it.
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        // A bug must not drop the connection without an answer.
        .layer(CatchPanicLayer::custom(guard::panic_response))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .service(router(state))
}

/// The routes of every surface, with what each route's requests pass (the
/// guard, and the metrics, which need the matched route).
fn router(state: AppState) -> Router {
    Router::new()
        .merge(scim_router(state.clone()))
        .nest(api::API_PREFIX, api::router(state.clone()))
        .nest("/admin", admin::router(state.clone()))
        .nest("/ui", ui::router())
        .route("/oauth/token", post(oauth::token))
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics_endpoint))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        // The metrics around the guard, so its 400s and 408s are counted;
        // one layer for both, each `Router::layer` being a boxed service in
        // every route. Paths no route serves count as route `unmatched`.
        .layer(
            ServiceBuilder::new()
                .layer(operations::TrackLayer)
                .layer(guard::GuardLayer {
                    request_timeout: state.request_timeout,
                }),
        )
        .with_state(state)
}

/// The SCIM surface, under [`SCIM_PREFIX`].
fn scim_router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            &scim("/Users"),
            get(scim_users::list).post(scim_users::create),
        )
        .route(&scim("/Users/.search"), post(scim_users::search))
        .route(&scim("/.search"), post(scim_users::search))
        .route(
            &scim("/Users/{id}"),
            get(scim_users::get)
                .put(scim_users::replace)
                .patch(scim_users::patch)
                .delete(scim_users::delete),
        )
        .route(
            &scim("/Groups"),
            get(discovery::list_groups).post(discovery::groups_not_supported),
        )
        .route(
            &scim("/Groups/{id}"),
            get(discovery::group_not_found)
                .put(discovery::groups_not_supported)
                .patch(discovery::groups_not_supported)
                .delete(discovery::groups_not_supported),
        )
        // Authentication, then the journal and fault injection (`auth::through`).
        .route_layer(middleware::from_fn_with_state(state, auth::require_scim))
        // Discovery is public (RFC 7644 section 4), so conformance tools can read it.
        .route(
            &scim("/ServiceProviderConfig"),
            get(discovery::service_provider_config),
        )
        .route(&scim("/ResourceTypes"), get(discovery::resource_types))
        .route(&scim("/ResourceTypes/{id}"), get(discovery::resource_type))
        .route(&scim("/Schemas"), get(discovery::schemas))
        .route(&scim("/Schemas/{id}"), get(discovery::schema_by_id))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A path of the SCIM surface. Its routes are merged into the top router,
/// not nested: a nested route rebuilds each request's URI without the prefix
/// (~2,500 instructions a request). Paths under it that match no route get
/// the top router's fallback, the SCIM 404.
fn scim(path: &str) -> String {
    format!("{SCIM_PREFIX}{path}")
}

async fn not_found() -> ScimError {
    ScimError::NotFound(format!(
        "no such endpoint; the SCIM API is under {SCIM_PREFIX} (Users, Groups, Schemas, ResourceTypes, ServiceProviderConfig)"
    ))
}

async fn method_not_allowed() -> ScimError {
    ScimError::MethodNotAllowed("this method is not supported on this endpoint".into())
}

/// `value` as JSON, written into a buffer of `capacity` bytes: a page of
/// users grown from serde_json's 128 bytes was copied ten times over.
pub(crate) fn json_bytes(
    value: &impl serde::Serialize,
    capacity: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    scim_json_text(status, body.to_string())
}

/// A SCIM JSON response from an already serialised body.
pub(crate) fn scim_json_text(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

/// The absolute SCIM base URL for `Location` and `meta.location`.
pub(crate) fn scim_base_url(state: &AppState, headers: &HeaderMap) -> String {
    base_url(state, headers, SCIM_PREFIX)
}

/// `scheme://host` as clients reach this server: configured, or from the request.
pub(crate) fn public_base_url(state: &AppState, headers: &HeaderMap) -> String {
    base_url(state, headers, "")
}

/// `scheme://host` and then `path`, in one allocation.
fn base_url(state: &AppState, headers: &HeaderMap, path: &str) -> String {
    let (scheme, host) = match &state.public_url {
        Some(url) => ("", url.trim_end_matches('/')),
        None => (
            headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .filter(|s| *s == "https" || *s == "http")
                .unwrap_or("http"),
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost"),
        ),
    };
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push_str("://");
    }
    url.push_str(host);
    url.push_str(path);
    url
}

/// Query parameters, decoded leniently (a malformed pair never fails a request).
pub(crate) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}
