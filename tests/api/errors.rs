//! Every client mistake is a SCIM error with a status and a detail, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{assert_scim_error, spawn_app_with, Backend, TestApp, SCIM_JSON};

both_backends!(
    malformed_json_is_invalid_syntax,
    missing_or_empty_user_name_is_invalid_value,
    wrongly_typed_attributes_are_invalid_value,
    unknown_routes_and_methods_are_scim_errors,
    unsupported_filters_are_invalid_filter,
    bad_paging_parameters_are_invalid_value,
    json_content_type_is_accepted_and_scim_json_returned,
);

async fn raw(app: &TestApp, method: Method, path: &str, body: &'static str) -> reqwest::Response {
    app.client
        .request(method, app.scim(path))
        .bearer_auth(&app.key)
        .header("content-type", SCIM_JSON)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn malformed_json_is_invalid_syntax(app: TestApp) {
    for body in [
        "{",
        "not json",
        "",
        "[1,2]",
        "\"userName\"",
        "{\"userName\": \"a\",}",
    ] {
        assert_scim_error(
            raw(&app, Method::POST, "/Users", body).await,
            400,
            Some("invalidSyntax"),
        )
        .await;
    }
    let created = app.create_user(&json!({"userName": "x@example.com"})).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    assert_scim_error(
        raw(&app, Method::PUT, &path, "{oops").await,
        400,
        Some("invalidSyntax"),
    )
    .await;
    let deep = "[".repeat(5000);
    let response = app
        .client
        .post(app.scim("/Users"))
        .bearer_auth(&app.key)
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_scim_error(response, 400, Some("invalidSyntax")).await;
}

async fn missing_or_empty_user_name_is_invalid_value(app: TestApp) {
    for body in [
        json!({}),
        json!({"userName": ""}),
        json!({"userName": "   "}),
        json!({"userName": null}),
        json!({"userName": 5}),
    ] {
        assert_scim_error(app.post_user(&body).await, 400, Some("invalidValue")).await;
    }
    let created = app.create_user(&json!({"userName": "x@example.com"})).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    assert_scim_error(
        app.put(&path, &json!({"title": "no name"})).await,
        400,
        Some("invalidValue"),
    )
    .await;
}

async fn wrongly_typed_attributes_are_invalid_value(app: TestApp) {
    for body in [
        json!({"userName": "a@example.com", "emails": "a@example.com"}),
        json!({"userName": "a@example.com", "emails": [5]}),
        json!({"userName": "a@example.com", "name": "Ada"}),
        json!({"userName": "a@example.com", "title": 42}),
        json!({"userName": "a@example.com", "emails": [{"value": "a", "primary": "maybe"}]}),
    ] {
        let response = app.post_user(&body).await;
        let error = assert_scim_error(response, 400, Some("invalidValue")).await;
        assert!(!error["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(app.get_json("/Users").await["totalResults"], 0);
}

async fn unknown_routes_and_methods_are_scim_errors(app: TestApp) {
    assert_scim_error(app.get("/Nope").await, 404, None).await;
    let outside = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_scim_error(outside, 404, None).await;
    let response = app.send(Method::PATCH, "/Users", Some(&json!({}))).await;
    assert_scim_error(response, 405, None).await;
}

async fn unsupported_filters_are_invalid_filter(app: TestApp) {
    for filter in [
        "userName",
        "userName eq",
        "userName eq \"a\" and",
        "nosuch eq \"x\"",
        "userName eq \"unterminated",
    ] {
        let path = format!("/Users?filter={}", crate::users::urlencode(filter));
        let body = assert_scim_error(app.get(&path).await, 400, Some("invalidFilter")).await;
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{filter}");
    }
}

async fn bad_paging_parameters_are_invalid_value(app: TestApp) {
    assert_scim_error(
        app.get("/Users?startIndex=abc").await,
        400,
        Some("invalidValue"),
    )
    .await;
    assert_scim_error(app.get("/Users?count=1.5").await, 400, Some("invalidValue")).await;
}

async fn json_content_type_is_accepted_and_scim_json_returned(app: TestApp) {
    for content_type in ["application/json", "application/scim+json; charset=utf-8"] {
        let name = format!("{}@example.com", content_type.len());
        let response = app
            .client
            .post(app.scim("/Users"))
            .bearer_auth(&app.key)
            .header("content-type", content_type)
            .body(json!({"userName": name}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{content_type}");
        assert_eq!(response.headers()["content-type"], SCIM_JSON);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_body_bytes = 2048)
        .await
        .unwrap();
    let big = json!({"userName": "big@example.com", "title": "x".repeat(4096)});
    assert_scim_error(app.post_user(&big).await, 413, None).await;
    let small = json!({"userName": "small@example.com", "title": "x".repeat(100)});
    assert_eq!(app.post_user(&small).await.status(), 201);
}
