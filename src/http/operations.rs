//! Operations: Prometheus metrics, health and readiness.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::storage::Store;

use super::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (the `metrics` facade is global).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("valid buckets")
            .set_buckets_for_metric(
                Matcher::Full(crate::storage::CHECKPOINT_SECONDS.into()),
                LATENCY_BUCKETS,
            )
            .expect("valid buckets")
            .set_buckets_for_metric(
                Matcher::Full(crate::storage::RESTART_SECONDS.into()),
                LATENCY_BUCKETS,
            )
            .expect("valid buckets")
            .set_buckets_for_metric(
                Matcher::Full(crate::storage::MERGE_SECONDS.into()),
                LATENCY_BUCKETS,
            )
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (several apps in one test process).
        let _ = metrics::set_global_recorder(recorder);
        // Histogram samples are kept raw until upkeep folds them into their
        // buckets: without it memory grows with every request between scrapes.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("start the metrics upkeep thread");
        handle
    })
}

/// Counts requests and records their latency by route pattern and status.
/// A tower layer rather than `from_fn`, which would box every request's
/// future once more (see `auth::through`).
#[derive(Clone, Copy)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = counted_method(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        Tracked {
            started: Instant::now(),
            method,
            route,
            inner: self.inner.call(request),
        }
    }
}

/// The method a request is counted under: its own if it is one of HTTP's
/// nine, else `other`, so that clients making methods up cannot add series
/// (and the memory and scrape size they take) without bound.
fn counted_method(method: &Method) -> Method {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    static OTHER: OnceLock<Method> = OnceLock::new();
    if STANDARD.contains(method) {
        method.clone()
    } else {
        OTHER
            .get_or_init(|| Method::from_bytes(b"other").expect("a token"))
            .clone()
    }
}

pin_project_lite::pin_project! {
    /// A request's response on its way, counted once it is there.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: Method,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            RequestMetrics::with(this.method, route, response.status().as_u16(), |metrics| {
                metrics.count.increment(1);
                metrics.latency.record(this.started.elapsed().as_secs_f64());
            });
        }
        Poll::Ready(result)
    }
}

/// One method, route and status's handles, kept by each thread: finding a
/// metric by its name and labels builds and hashes its key every time.
struct RequestMetrics {
    method: Method,
    route: Box<str>,
    status: u16,
    count: metrics::Counter,
    latency: metrics::Histogram,
}

/// Handles kept per thread; routes are patterns, so few combinations occur.
const KEPT_METRICS: usize = 256;

impl RequestMetrics {
    fn with(method: &Method, route: &str, status: u16, f: impl FnOnce(&Self)) {
        thread_local! {
            static KEPT: std::cell::RefCell<Vec<RequestMetrics>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        KEPT.with_borrow_mut(|kept| {
            let found = kept
                .iter()
                .position(|m| m.status == status && m.method == method && *m.route == *route);
            match found {
                Some(i) => f(&kept[i]),
                None => {
                    let metrics = RequestMetrics::new(method, route, status);
                    f(&metrics);
                    if kept.len() < KEPT_METRICS {
                        kept.push(metrics);
                    }
                }
            }
        });
    }

    fn new(method: &Method, route: &str, status: u16) -> Self {
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        RequestMetrics {
            method: method.clone(),
            route: route.into(),
            status,
            count: metrics::counter!("http_requests_total", &labels),
            latency: metrics::histogram!("http_request_duration_seconds", &labels),
        }
    }
}

pub async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    let handle = prometheus();
    if let Ok(counts) = state.store.user_counts().await {
        for (company, users) in counts {
            metrics::gauge!("teamtailor_users", "company" => company).set(users as f64);
        }
    }
    metrics::gauge!("journal_queued_entries").set(state.journal.lag() as f64);
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Live: the process answers and its database does.
pub async fn healthz(State(state): State<AppState>) -> Response {
    database_check(&state).await
}

/// Ready: able to serve traffic (database reachable, not shutting down).
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
            .into_response();
    }
    database_check(&state).await
}

async fn database_check(state: &AppState) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            Json(json!({ "status": "ok", "database": state.store.backend() })).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": state.store.backend() })),
            )
                .into_response()
        }
    }
}
