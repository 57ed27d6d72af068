//! Hostile and broken clients: oversized headers, slow headers and bodies,
//! invalid UTF-8, deep JSON. Each gets a clear 4xx (or a closed connection)
//! and never holds the server. These exercise the HTTP layer, not storage, so
//! they run on SQLite only.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{assert_scim_error, spawn_app_with, Backend, TestApp, SCIM_JSON};

// Found by schemathesis on PostgreSQL, so on both backends.
both_backends!(
    nul_characters_are_refused_everywhere,
    huge_page_numbers_are_an_empty_page,
);

async fn api_get(app: &TestApp, path_and_query: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path_and_query}", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap()
}

async fn nul_characters_are_refused_everywhere(app: TestApp) {
    let body = serde_json::json!({"userName": "nul\u{0}@example.com"});
    assert_scim_error(app.post_user(&body).await, 400, Some("invalidValue")).await;
    let body = serde_json::json!({"userName": "ok@example.com", "name": {"given\u{0}Name": "x"}});
    assert_scim_error(app.post_user(&body).await, 400, Some("invalidValue")).await;
    let response = app.get("/Users?filter=userName%20eq%20%22a%00b%22").await;
    assert_scim_error(response, 400, Some("invalidFilter")).await;
    let search = serde_json::json!({"filter": "userName eq \"a\u{0}\""});
    let response = app
        .send(reqwest::Method::POST, "/Users/.search", Some(&search))
        .await;
    assert_scim_error(response, 400, Some("invalidValue")).await;
    for query in ["filter[email]=a%00b", "filter[external-id]=%00"] {
        let response = api_get(&app, &format!("/v1/users?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["status"], "400");
    }
    let response = app
        .client
        .post(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .body(r#"{"data":{"type":"users","attributes":{"email":"a\u0000@example.com"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(app.get_json("/Users").await["totalResults"], 0);
}

async fn huge_page_numbers_are_an_empty_page(app: TestApp) {
    app.create_user(&serde_json::json!({"userName": "page@example.com"}))
        .await;
    let response = api_get(
        &app,
        "/v1/users?page[number]=3549095057574128128&page[size]=11",
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], serde_json::json!([]));
    assert_eq!(body["meta"]["record-count"], 1);
    let list = app
        .get_json("/Users?startIndex=9223372036854775807&count=1000")
        .await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"], serde_json::json!([]));
}

async fn app_with_short_timeouts() -> TestApp {
    spawn_app_with(Backend::Sqlite, |settings| {
        settings.request_timeout = Duration::from_secs(1);
        settings.header_read_timeout = Duration::from_secs(1);
    })
    .await
    .expect("SQLite is always available")
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads what the server sends until it closes the connection (or 10 s pass).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let app = app_with_short_timeouts().await;
    let response = app
        .client
        .get(app.scim("/Users"))
        .bearer_auth(&app.key)
        .header("x-padding", "a".repeat(100 * 1024))
        .send()
        .await
        .expect("the server answers rather than dropping the connection");
    assert_eq!(response.status(), 431);
    // A normal request right after is served.
    assert_eq!(app.get("/Users").await.status(), 200);
}

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected_and_others_are_served() {
    let app = app_with_short_timeouts().await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Meanwhile other clients are served.
    assert_eq!(app.get("/Users").await.status(), 200);
    let answer = read_to_close(&mut slow).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the connection was held {waited:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "unexpected answer: {answer}"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_is_408_in_each_surface_format() {
    let app = app_with_short_timeouts().await;
    for (path, extra, content_type) in [
        ("/scim/v2/Users", "", SCIM_JSON),
        (
            "/v1/users",
            "X-Api-Version: 20240404\r\n",
            "application/vnd.api+json",
        ),
    ] {
        let mut stream = connect(&app).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n{{\"userName\":",
            app.key
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut received = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut received))
            .await
            .expect("an answer within the request timeout")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        let answer = String::from_utf8_lossy(&received[..read]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: Value = serde_json::from_str(body).expect("a JSON error body");
        if path.starts_with("/v1") {
            assert_eq!(body["errors"][0]["status"], "408", "{body}");
        } else {
            assert_eq!(body["status"], "408", "{body}");
            assert!(answer.contains(SCIM_JSON));
        }
    }
}

#[tokio::test]
async fn invalid_utf8_anywhere_is_a_4xx() {
    let app = app_with_short_timeouts().await;
    // In a JSON body.
    let response = app
        .client
        .post(app.scim("/Users"))
        .bearer_auth(&app.key)
        .header("content-type", SCIM_JSON)
        .body(b"{\"userName\": \"\xff\xfe@example.com\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_scim_error(response, 400, Some("invalidSyntax")).await;
    // In a filter.
    let response = app.get("/Users?filter=userName%20eq%20%22%FF%22").await;
    assert_scim_error(response, 400, Some("invalidFilter")).await;
    // In a path segment.
    assert_scim_error(app.get("/Users/%FF%FE").await, 404, None).await;
    let response = app
        .client
        .get(format!("{}/v1/users/%FF", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "404");
    // In the Authorization header.
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // On the Teamtailor API.
    let response = app
        .client
        .post(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .header("content-type", "application/vnd.api+json")
        .body(b"{\"data\": {\"attributes\": {\"email\": \"\xff\"}}}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "400");
}

#[tokio::test]
async fn deeply_nested_json_is_a_4xx_on_every_body() {
    let app = app_with_short_timeouts().await;
    let created = app
        .create_user(&serde_json::json!({"userName": "deep@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let deep_object = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    for (method, path) in [
        (reqwest::Method::POST, "/Users".to_string()),
        (reqwest::Method::PUT, format!("/Users/{id}")),
        (reqwest::Method::PATCH, format!("/Users/{id}")),
        (reqwest::Method::POST, "/Users/.search".to_string()),
    ] {
        let response = app
            .client
            .request(method.clone(), app.scim(&path))
            .bearer_auth(&app.key)
            .header("content-type", SCIM_JSON)
            .body(deep_object.clone())
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 400, Some("invalidSyntax")).await;
    }
    let response = app
        .client
        .patch(format!("{}/v1/users/{id}", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .body(deep_object)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The server is still there.
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 200);
}

#[tokio::test]
async fn non_ascii_paths_and_filters_are_400() {
    let app = app_with_short_timeouts().await;
    let created = app
        .create_user(&serde_json::json!({"userName": "ascii@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    for path in [
        "\u{10}\u{145}\u{145}",
        "urn\u{145}:x",
        "emails[type eq \"\u{e9}\"].\u{145}",
    ] {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": "x"}]
        });
        let response = app
            .send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(&body))
            .await;
        assert_scim_error(response, 400, Some("invalidPath")).await;
    }
    let filter = crate::users::urlencode("\u{145}\u{145}\u{145}\u{145} eq \"x\"");
    let response = app.get(&format!("/Users?filter={filter}")).await;
    assert_scim_error(response, 400, Some("invalidFilter")).await;
}
