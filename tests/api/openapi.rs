//! `/openapi.json` describes the routes the server really serves.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    openapi_document_is_served_and_self_consistent,
    every_described_operation_is_routed,
    api_attributes_are_writable_unless_described_read_only,
);

async fn openapi(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                refs.push(target);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

async fn openapi_document_is_served_and_self_consistent(app: TestApp) {
    let document = openapi(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(refs.len() > 10);
    for target in refs {
        let pointer = target.strip_prefix('#').expect("local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{target} does not resolve"
        );
    }

    // The SCIM user schema carries the same attributes as /Schemas.
    let schema = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    let described = &document["components"]["schemas"]["ScimUser"]["properties"];
    for attribute in schema["attributes"].as_array().unwrap() {
        let name = attribute["name"].as_str().unwrap();
        assert!(described.get(name).is_some(), "{name} missing from OpenAPI");
        if attribute["mutability"] == "readOnly" {
            assert_eq!(described[name]["readOnly"], true, "{name}");
        }
    }
    let roles = &document["components"]["schemas"]["ApiUser"]["properties"]["attributes"]
        ["properties"]["role"]["enum"];
    assert!(roles.as_array().unwrap().contains(&json!("no_access")));
}

async fn every_described_operation_is_routed(app: TestApp) {
    let document = openapi(&app).await;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.contains_key("/scim/v2/Users/{id}"));
    assert!(paths.contains_key("/v1/users"));
    let mut checked = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            let user = app
                .create_user(&json!({ "userName": format!("openapi{checked}@example.com") }))
                .await;
            let url = format!(
                "{}{}",
                app.address,
                path.replace("{id}", user["id"].as_str().unwrap())
            );
            let response = app
                .client
                .request(method.clone(), &url)
                .header("Authorization", format!("Bearer {}", app.key))
                .header("X-Api-Version", "20240404")
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            // A 404 for a resource is fine (no group exists); one for the
            // route is not.
            assert!(
                ![405, 500].contains(&status) && !body.contains("no such endpoint"),
                "{method} {path} answered {status}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations described");
}

/// Each attribute of the Teamtailor API's user, written alone with PATCH:
/// one described `readOnly` keeps its value, any other takes the value sent.
async fn api_attributes_are_writable_unless_described_read_only(app: TestApp) {
    let document = openapi(&app).await;
    let described = document["components"]["schemas"]["ApiUser"]["properties"]["attributes"]
        ["properties"]
        .as_object()
        .unwrap()
        .clone();
    let created = app
        .api(
            Method::POST,
            "/users",
            Some(&json!({"data": {"type": "users", "attributes": {"email": "described@example.com"}}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();
    for (name, schema) in &described {
        let current = app
            .api(Method::GET, &format!("/users/{id}"), None)
            .await
            .json::<Value>()
            .await
            .unwrap()["data"]["attributes"][name]
            .clone();
        let value = if let Some(choices) = schema["enum"].as_array() {
            choices.iter().find(|c| **c != current).unwrap().clone()
        } else if schema["type"] == "boolean" {
            json!(!current.as_bool().unwrap())
        } else if schema["format"] == "date-time" {
            json!("2001-02-03T04:05:06Z")
        } else if name.contains("email") || name == "username" {
            json!(format!("{name}.written@example.com"))
        } else {
            json!(format!("{name} written"))
        };
        let body = json!({"data": {"id": id, "type": "users", "attributes": {name: value}}});
        let response = app
            .api(Method::PATCH, &format!("/users/{id}"), Some(&body))
            .await;
        assert_eq!(response.status(), 200, "PATCH {name}");
        let read: Value = response.json().await.unwrap();
        let read = &read["data"]["attributes"][name];
        if schema["readOnly"] == true {
            assert_ne!(*read, value, "{name} is described readOnly but was written");
        } else {
            assert_eq!(
                *read, value,
                "{name} is not described readOnly but was not written"
            );
        }
    }
}
