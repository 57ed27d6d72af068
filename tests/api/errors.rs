//! Every client mistake is a SCIM error with a status and a detail, never a 500.

use reqwest::Method;
use serde_json::{json, Value};
use teamtailor_scim::config::DEFAULT_MAX_BODY_BYTES;
use teamtailor_scim::scim::resource::UserAttributes;
use teamtailor_scim::scim::ScimError;
use teamtailor_scim::storage::{Database, Store};
use teamtailor_scim::teamtailor::{Role, UserData};

use crate::both_backends;
use crate::helpers::{
    assert_scim_error, random_text, random_wide_text, spawn_app_with, Backend, TestApp, SCIM_JSON,
};
use crate::users::urlencode;

both_backends!(
    malformed_json_is_invalid_syntax,
    missing_or_empty_user_name_is_invalid_value,
    wrongly_typed_attributes_are_invalid_value,
    unknown_routes_and_methods_are_scim_errors,
    unsupported_filters_are_invalid_filter,
    bad_paging_parameters_are_invalid_value,
    json_content_type_is_accepted_and_scim_json_returned,
    too_long_values_are_invalid_value,
    the_longest_values_fit_the_database,
    values_the_database_cannot_index_are_invalid_value,
    bodies_over_the_default_limit_are_413,
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

/// A user document padded (with an attribute the server ignores) to `size`
/// bytes. Just over the limit, so the server has read the whole body when it
/// answers (a client still writing a much larger one sees the connection close).
fn padded_user(user_name: &str, size: usize) -> Value {
    let mut body = json!({"userName": user_name, "padding": ""});
    let padding = size - body.to_string().len();
    body["padding"] = Value::String("x".repeat(padding));
    assert_eq!(body.to_string().len(), size);
    body
}

async fn bodies_over_the_default_limit_are_413(app: TestApp) {
    let over = padded_user("big@example.com", DEFAULT_MAX_BODY_BYTES + 1);
    assert_scim_error(app.post_user(&over).await, 413, None).await;
    let at_limit = padded_user("big@example.com", DEFAULT_MAX_BODY_BYTES);
    let created = app.create_user(&at_limit).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let over = padded_user("bigger@example.com", DEFAULT_MAX_BODY_BYTES + 1);
    assert_scim_error(app.put(&path, &over).await, 413, None).await;
    assert_eq!(app.get_json(&path).await["userName"], "big@example.com");
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

async fn assert_too_long(response: reqwest::Response) {
    let body = assert_scim_error(response, 400, Some("invalidValue")).await;
    assert!(
        body["detail"].as_str().unwrap().contains("too long"),
        "{body}"
    );
}

async fn too_long_values_are_invalid_value(app: TestApp) {
    let long = random_text(3000);
    for body in [
        json!({"userName": long}),
        json!({"userName": "a@example.com", "emails": [{"value": long, "type": "work"}]}),
        json!({"userName": "a@example.com", "title": long}),
        json!({"userName": "a@example.com", "externalId": long}),
        json!({"userName": "a@example.com", "displayName": long}),
        json!({"userName": "a@example.com", "name": {"familyName": long}}),
        json!({"userName": "a@example.com", "phoneNumbers": [{"value": "1", "type": long}]}),
    ] {
        assert_too_long(app.post_user(&body).await).await;
    }
    let created = app.create_user(&json!({"userName": "a@example.com"})).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    assert_too_long(
        app.put(&path, &json!({"userName": "a@example.com", "title": long}))
            .await,
    )
    .await;
    for operation in [
        json!({"op": "replace", "path": "userName", "value": long}),
        json!({"op": "add", "path": "emails[type eq \"work\"].value", "value": long}),
        json!({"op": "replace", "value": {"title": long}}),
    ] {
        let patch = json!({"Operations": [operation]});
        assert_too_long(app.send(Method::PATCH, &path, Some(&patch)).await).await;
    }
    let unchanged = app.get_json(&path).await;
    assert_eq!(unchanged["userName"], "a@example.com");
    assert!(unchanged.get("title").is_none());

    // Filtering by a long value is a query: it finds nothing.
    for filter in [
        format!("userName eq \"{long}\""),
        format!("emails.value eq \"{long}\""),
        format!("title sw \"{long}\""),
        format!("externalId eq \"{long}\""),
    ] {
        let listed = app
            .get_json(&format!("/Users?filter={}", urlencode(&filter)))
            .await;
        assert_eq!(listed["totalResults"], 0, "{}", &filter[..20]);
    }
}

/// The limits hold in characters of any width: 4-byte characters at the
/// limit still fit PostgreSQL's index entries.
async fn the_longest_values_fit_the_database(app: TestApp) {
    let widest = |length| Value::String(random_wide_text(length));
    let user_name = widest(512);
    let created = app
        .create_user(&json!({
            "userName": user_name,
            "externalId": widest(512),
            "title": widest(512),
            "displayName": widest(512),
            "name": {"givenName": widest(256), "familyName": widest(256)},
            "emails": [{"value": widest(512), "type": widest(64), "display": widest(512)}],
        }))
        .await;
    assert_eq!(created["userName"], user_name);
    let filter = format!("userName eq \"{}\"", user_name.as_str().unwrap());
    let listed = app
        .get_json(&format!("/Users?filter={}", urlencode(&filter)))
        .await;
    assert_eq!(listed["totalResults"], 1);
    assert_too_long(app.post_user(&json!({"userName": widest(513)})).await).await;
}

/// Should a value past the database's limits get through, it is still the
/// client's value at fault: 400, not 500.
async fn values_the_database_cannot_index_are_invalid_value(app: TestApp) {
    let store = Database::connect(&app.database_url).await.unwrap();
    let company = store.ensure_company("default").await.unwrap();
    let data = UserData::new(
        UserAttributes {
            user_name: random_text(3000),
            ..Default::default()
        },
        Role::User,
    );
    let result = store.create_user(company.id, &data).await;
    if app.database_url.starts_with("sqlite") {
        assert!(result.is_ok(), "SQLite has no index entry limit");
    } else {
        let error = result.unwrap_err();
        assert!(error.is_limit_exceeded(), "{error}");
        let error = ScimError::from(error);
        assert_eq!(
            (error.status(), error.scim_type()),
            (400, Some("invalidValue"))
        );
    }
}
