//! Fault injection per company through /admin: latency, 429 with
//! Retry-After, 500 and 503, in each surface's error format, journaled.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use teamtailor_scim::keys::{Scope, Secret};

use crate::both_backends;
use crate::helpers::{assert_scim_error, spawn_app_with, Backend, TestApp};

both_backends!(
    ;
    backend:
    faults_answer_in_each_surfaces_format,
    latency_and_fractions_are_applied,
);

const OPERATOR: &str = "operator-token";

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |s| {
        s.admin_token = Some(Secret::new(OPERATOR));
        s.api_rate_limit = None;
    })
    .await
}

async fn set_faults(app: &TestApp, company: &str, plan: &Value) -> reqwest::Response {
    app.client
        .put(format!("{}/admin/companies/{company}/faults", app.address))
        .bearer_auth(OPERATOR)
        .json(plan)
        .send()
        .await
        .unwrap()
}

async fn api_users(app: &TestApp) -> reqwest::Response {
    app.client
        .get(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap()
}

/// An injected Teamtailor API error is the one the server itself answers
/// with for that status (the same code and title: a connector's handling
/// of a real outage is what it rehearses), its detail saying it was injected.
fn assert_api_fault(body: &Value, status: &str, code: &str, title: &str) {
    let error = &body["errors"][0];
    assert_eq!(error["status"], status, "{body}");
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["title"], title, "{body}");
    assert!(
        error["detail"].as_str().unwrap().contains("injected"),
        "{body}"
    );
}

async fn faults_answer_in_each_surfaces_format(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let other = app.key_for("acme", &[Scope::Scim]).await;
    let set = set_faults(
        &app,
        "default",
        &json!({"rate_limited": 1.0, "retry_after_seconds": 7}),
    )
    .await;
    assert_eq!(set.status(), 200);
    let shown: Value = set.json().await.unwrap();
    assert_eq!(shown["active"], true);
    assert_eq!(shown["faults"]["rate_limited"], 1.0);

    let limited = app.get("/Users").await;
    assert_eq!(limited.headers()["retry-after"], "7");
    let body = assert_scim_error(limited, 429, None).await;
    assert!(body["detail"].as_str().unwrap().contains("injected"));
    let api = api_users(&app).await;
    assert_eq!(api.status(), 429);
    assert_eq!(api.headers()["retry-after"], "7");
    let api: Value = api.json().await.unwrap();
    assert_api_fault(&api, "429", "too_many_requests", "Too Many Requests");
    // Another company is not affected.
    assert_eq!(
        app.send_as(&other, Method::GET, "/Users", None)
            .await
            .status(),
        200
    );

    set_faults(&app, "default", &json!({"server_error": 1.0})).await;
    assert_scim_error(app.get("/Users").await, 500, None).await;
    let api: Value = api_users(&app).await.json().await.unwrap();
    assert_api_fault(&api, "500", "internal_error", "Internal Server Error");
    set_faults(&app, "default", &json!({"unavailable": 1.0})).await;
    assert_scim_error(
        app.post_user(&json!({"userName": "x@example.com"})).await,
        503,
        None,
    )
    .await;
    let api = api_users(&app).await;
    assert_eq!(api.status(), 503);
    assert_eq!(api.headers()["retry-after"], "5");
    let api: Value = api.json().await.unwrap();
    assert_api_fault(&api, "503", "unavailable", "Service Unavailable");

    // Injected answers are marked in the journal.
    let mut marked = Vec::new();
    for _ in 0..50 {
        let journal: Value = app
            .client
            .get(format!(
                "{}/admin/journal?company=default&status=5xx",
                app.address
            ))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        marked = journal["entries"].as_array().unwrap().clone();
        if marked.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SCIM's 500 and 503, the Teamtailor API's 500 and 503.
    assert_eq!(marked.len(), 4);
    assert!(marked
        .iter()
        .all(|e| e["fault"].as_str().unwrap().contains("(injected)")));
    assert_eq!(marked[0]["fault"], "503 (injected)");

    // Off again: nothing is injected, and nothing was created meanwhile.
    let off = app
        .client
        .delete(format!("{}/admin/companies/default/faults", app.address))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 204);
    let list = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
    let shown: Value = app
        .client
        .get(format!("{}/admin/companies/default/faults", app.address))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["active"], false);
}

async fn latency_and_fractions_are_applied(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    set_faults(&app, "default", &json!({"latency_ms": 300})).await;
    let started = Instant::now();
    assert_eq!(app.get("/Users").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let user = app
        .create_user(&json!({"userName": "faults@example.com"}))
        .await;
    let id = user["id"].as_str().unwrap();
    let plan = json!({"rate_limited": 0.2, "server_error": 0.1, "unavailable": 0.1});
    assert_eq!(set_faults(&app, "default", &plan).await.status(), 200);
    let total = 2000;
    let (mut limited, mut failed, mut unavailable, mut ok) = (0, 0, 0, 0);
    for _ in 0..total {
        let response = app.get(&format!("/Users/{id}")).await;
        match response.status().as_u16() {
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                limited += 1
            }
            500 => failed += 1,
            503 => unavailable += 1,
            200 => ok += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // Each count is binomial; 4.5 standard deviations either side of the
    // expected count fail a correct server with a probability below 1e-5.
    for (name, count, p) in [
        ("429", limited, 0.2),
        ("500", failed, 0.1),
        ("503", unavailable, 0.1),
        ("200", ok, 0.6),
    ] {
        let expected = total as f64 * p;
        let spread = 4.5 * (total as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - expected).abs() <= spread,
            "{name}: {count} of {total}, expected {expected} +- {spread:.0}"
        );
    }
}

#[tokio::test]
async fn invalid_plans_are_refused() {
    let app = app(Backend::Sqlite).await.unwrap();
    for plan in [
        json!({"rate_limited": 2.0}),
        json!({"server_error": 0.7, "unavailable": 0.7}),
        json!({"latency": 10}),
        json!({"latency_ms": -1}),
        json!("slow"),
    ] {
        let response = set_faults(&app, "default", &plan).await;
        assert_eq!(response.status(), 400, "{plan}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    assert_eq!(set_faults(&app, "nobody", &json!({})).await.status(), 404);
    assert_eq!(app.get("/Users").await.status(), 200);
}
