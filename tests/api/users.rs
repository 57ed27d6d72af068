//! SCIM Users: create, read, replace, delete, list.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, role, TestApp, SCIM_JSON};

both_backends!(
    create_returns_201_with_location_etag_and_the_full_resource,
    get_returns_what_was_created,
    ids_are_positive_integers_and_other_ids_are_404,
    put_replaces_and_clears_absent_attributes,
    delete_removes_the_user,
    list_pages_with_start_index_and_count,
    filters_by_user_name_case_insensitively,
    filters_by_external_id_and_and,
    filter_for_a_missing_user_is_an_empty_list,
    concurrent_duplicate_creates_give_one_201,
    duplicate_user_name_differing_in_case_is_409,
    put_to_another_users_name_is_409,
);

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": format!("ext-{name}"),
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"type": "work", "value": format!("work-{name}"), "primary": true}],
        "active": true
    })
}

async fn create_returns_201_with_location_etag_and_the_full_resource(app: TestApp) {
    let response = app.post_user(&user("ada@example.com")).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, app.scim(&format!("/Users/{id}")));
    assert_eq!(body["meta"]["location"], location);
    assert_eq!(body["meta"]["version"], etag);
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["userName"], "ada@example.com");
    assert_eq!(body["externalId"], "ext-ada@example.com");
    assert_eq!(body["active"], true);
    assert_eq!(role(&body), "user");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
}

async fn get_returns_what_was_created(app: TestApp) {
    let created = app.create_user(&user("grace@example.com")).await;
    let id = created["id"].as_str().unwrap();
    let response = app.get(&format!("/Users/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    assert!(response.headers().contains_key("etag"));
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched, created);
}

async fn ids_are_positive_integers_and_other_ids_are_404(app: TestApp) {
    let created = app.create_user(&user("id@example.com")).await;
    let id: i64 = created["id"].as_str().unwrap().parse().unwrap();
    assert!(id > 0);
    for missing in [
        format!("{}", id + 1000),
        "abc".into(),
        "0".into(),
        "-1".into(),
        "1.5".into(),
    ] {
        let body = assert_scim_error(app.get(&format!("/Users/{missing}")).await, 404, None).await;
        assert!(body["detail"].as_str().unwrap().contains(&missing));
        assert_scim_error(app.delete(&format!("/Users/{missing}")).await, 404, None).await;
        assert_scim_error(
            app.put(&format!("/Users/{missing}"), &user("x@example.com"))
                .await,
            404,
            None,
        )
        .await;
    }
}

async fn put_replaces_and_clears_absent_attributes(app: TestApp) {
    let created = app
        .create_user(&json!({
            "userName": "put@example.com",
            "externalId": "e1",
            "title": "Engineer",
            "displayName": "Put",
            "phoneNumbers": [{"type": "work", "value": "+46 1"}],
            "emails": [{"type": "work", "value": "put@work.com"}]
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .put(
            &format!("/Users/{id}"),
            &json!({"id": "999", "userName": "put2@example.com", "title": "Manager",
                    "meta": {"created": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id, "read-only id is kept");
    assert_eq!(body["meta"]["created"], created["meta"]["created"]);
    assert_ne!(
        etag,
        created["meta"]["version"].as_str().unwrap(),
        "version changes on write"
    );
    assert_eq!(body["userName"], "put2@example.com");
    assert_eq!(body["title"], "Manager");
    for cleared in [
        "externalId",
        "displayName",
        "phoneNumbers",
        "emails",
        "name",
    ] {
        assert!(
            body.get(cleared).is_none(),
            "{cleared} should be cleared: {body}"
        );
    }
    assert_eq!(app.get_json(&format!("/Users/{id}")).await, body);
}

async fn delete_removes_the_user(app: TestApp) {
    let created = app.create_user(&user("gone@example.com")).await;
    let id = created["id"].as_str().unwrap();
    let response = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(response.status(), 204);
    assert_scim_error(app.get(&format!("/Users/{id}")).await, 404, None).await;
    assert_scim_error(app.delete(&format!("/Users/{id}")).await, 404, None).await;
    let list = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
    // The userName is free again.
    app.create_user(&user("gone@example.com")).await;
}

async fn list_pages_with_start_index_and_count(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let created = app
            .create_user(&user(&format!("page{i}@example.com")))
            .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let all = app.get_json("/Users").await;
    assert_eq!(
        all["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(all["totalResults"], 7);
    assert_eq!(all["itemsPerPage"], 7);
    let listed: Vec<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "stable order: by creation");

    let page = app.get_json("/Users?startIndex=3&count=2").await;
    assert_eq!(page["totalResults"], 7);
    assert_eq!(page["startIndex"], 3);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["id"], ids[2].as_str());
    assert_eq!(page["Resources"][1]["id"], ids[3].as_str());

    let tail = app.get_json("/Users?startIndex=6&count=100").await;
    assert_eq!(tail["Resources"].as_array().unwrap().len(), 2);
    let beyond = app.get_json("/Users?startIndex=50").await;
    assert_eq!(beyond["totalResults"], 7);
    assert_eq!(beyond["Resources"], json!([]));
    let zero = app.get_json("/Users?count=0").await;
    assert_eq!(zero["totalResults"], 7);
    assert_eq!(zero["Resources"], json!([]));
    let below_one = app.get_json("/Users?startIndex=0&count=1").await;
    assert_eq!(below_one["startIndex"], 1);
    assert_eq!(below_one["Resources"][0]["id"], ids[0].as_str());
}

async fn filters_by_user_name_case_insensitively(app: TestApp) {
    app.create_user(&user("Mixed.Case@Example.com")).await;
    app.create_user(&user("other@example.com")).await;
    for filter in [
        r#"userName eq "mixed.case@example.com""#,
        r#"userName eq "MIXED.CASE@EXAMPLE.COM""#,
        r#"USERNAME EQ "Mixed.Case@Example.com""#,
    ] {
        let list = app
            .get_json(&format!("/Users?filter={}", urlencode(filter)))
            .await;
        assert_eq!(list["totalResults"], 1, "{filter}");
        assert_eq!(list["Resources"][0]["userName"], "Mixed.Case@Example.com");
    }
}

async fn filters_by_external_id_and_and(app: TestApp) {
    app.create_user(&user("a@example.com")).await;
    app.create_user(&user("b@example.com")).await;
    let list = app
        .get_json(&format!(
            "/Users?filter={}",
            urlencode(r#"externalId eq "ext-b@example.com""#)
        ))
        .await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["userName"], "b@example.com");
    // externalId is case-exact.
    let none = app
        .get_json(&format!(
            "/Users?filter={}",
            urlencode(r#"externalId eq "EXT-B@example.com""#)
        ))
        .await;
    assert_eq!(none["totalResults"], 0);
    let both = app
        .get_json(&format!(
            "/Users?filter={}",
            urlencode(r#"userName eq "a@example.com" and externalId eq "ext-a@example.com""#)
        ))
        .await;
    assert_eq!(both["totalResults"], 1);
    let mismatch = app
        .get_json(&format!(
            "/Users?filter={}",
            urlencode(r#"userName eq "a@example.com" and externalId eq "ext-b@example.com""#)
        ))
        .await;
    assert_eq!(mismatch["totalResults"], 0);
}

async fn filter_for_a_missing_user_is_an_empty_list(app: TestApp) {
    // Entra's Test Connection.
    let list = app
        .get_json(&format!(
            "/Users?filter={}",
            urlencode(r#"userName eq "5b5a9e0a-87f3-4c9b-9d1e-1c6b2a7f0d11""#)
        ))
        .await;
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));
}

async fn concurrent_duplicate_creates_give_one_201(app: TestApp) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = app.scim("/Users");
        let key = app.key.clone();
        // Same userName, differing only in case.
        let name = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .header("content-type", SCIM_JSON)
                .body(json!({"userName": name}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(app.get_json("/Users").await["totalResults"], 1);
}

async fn duplicate_user_name_differing_in_case_is_409(app: TestApp) {
    app.create_user(&user("dup@example.com")).await;
    let body = assert_scim_error(
        app.post_user(&user("DUP@Example.com")).await,
        409,
        Some("uniqueness"),
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("DUP@Example.com"));
}

async fn put_to_another_users_name_is_409(app: TestApp) {
    app.create_user(&user("first@example.com")).await;
    let second = app.create_user(&user("second@example.com")).await;
    let id = second["id"].as_str().unwrap();
    assert_scim_error(
        app.put(&format!("/Users/{id}"), &user("First@example.com"))
            .await,
        409,
        Some("uniqueness"),
    )
    .await;
    let unchanged = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(unchanged["userName"], "second@example.com");
}

pub fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
