//! Listing features: attribute projection and POST .search.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, TestApp};

both_backends!(
    attributes_and_excluded_attributes_shape_every_response,
    search_posts_a_search_request,
    unknown_projection_attributes_are_invalid_path,
);

async fn seed(app: &TestApp) -> String {
    let created = app
        .create_user(&json!({
            "userName": "q@example.com",
            "title": "Dev",
            "name": {"givenName": "Q", "familyName": "R"},
            "emails": [{"type": "work", "value": "q@work.com"}]
        }))
        .await;
    created["id"].as_str().unwrap().to_string()
}

async fn attributes_and_excluded_attributes_shape_every_response(app: TestApp) {
    let id = seed(&app).await;
    let only = app
        .get_json(&format!("/Users/{id}?attributes=userName,name.givenName"))
        .await;
    let keys: Vec<&String> = only.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["schemas", "id", "userName", "name"]);
    assert_eq!(only["name"], json!({"givenName": "Q"}));

    let without = app
        .get_json(&format!(
            "/Users/{id}?excludedAttributes=emails,meta,title,id"
        ))
        .await;
    assert!(
        without.get("emails").is_none()
            && without.get("meta").is_none()
            && without.get("title").is_none()
    );
    assert_eq!(without["id"], id.as_str(), "id is always returned");

    let list = app
        .get_json("/Users?attributes=emails.value&filter=userName%20eq%20%22q@example.com%22")
        .await;
    assert_eq!(
        list["Resources"][0]["emails"],
        json!([{"value": "q@work.com"}])
    );
    assert!(list["Resources"][0].get("userName").is_none());

    let role_only = app
        .get_json(&format!("/Users/{id}?attributes=urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role"))
        .await;
    assert_eq!(
        role_only["urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"]["role"],
        "user"
    );
    assert!(role_only.get("userName").is_none());

    let patched = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}?attributes=title"),
            Some(&json!({"Operations": [{"op": "replace", "path": "title", "value": "Lead"}]})),
        )
        .await;
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched,
        json!({"schemas": patched["schemas"], "id": id, "title": "Lead"})
    );
}

async fn search_posts_a_search_request(app: TestApp) {
    seed(&app).await;
    app.create_user(&json!({"userName": "other@example.com"}))
        .await;
    for path in ["/Users/.search", "/.search"] {
        let response = app
            .send(
                Method::POST,
                path,
                Some(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "attributes": ["userName"],
                    "filter": "userName eq \"Q@example.com\"",
                    "startIndex": 1,
                    "count": 10
                })),
            )
            .await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["totalResults"], 1);
        assert_eq!(body["Resources"][0]["userName"], "q@example.com");
        assert!(body["Resources"][0].get("title").is_none());
    }
    let all = app
        .send(Method::POST, "/Users/.search", Some(&json!({"count": 1})))
        .await;
    let all: Value = all.json().await.unwrap();
    assert_eq!(all["totalResults"], 2);
    assert_eq!(all["itemsPerPage"], 1);
    let bad = app
        .send(
            Method::POST,
            "/Users/.search",
            Some(&json!({"count": "many"})),
        )
        .await;
    assert_scim_error(bad, 400, Some("invalidValue")).await;
    let bad_filter = app
        .send(
            Method::POST,
            "/.search",
            Some(&json!({"filter": "userName zz \"a\""})),
        )
        .await;
    assert_scim_error(bad_filter, 400, Some("invalidFilter")).await;
}

async fn unknown_projection_attributes_are_invalid_path(app: TestApp) {
    let id = seed(&app).await;
    assert_scim_error(
        app.get(&format!("/Users/{id}?attributes=nosuch")).await,
        400,
        Some("invalidPath"),
    )
    .await;
    assert_scim_error(
        app.get("/Users?excludedAttributes=name.nosuch").await,
        400,
        Some("invalidPath"),
    )
    .await;
}
