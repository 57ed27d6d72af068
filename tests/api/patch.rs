//! PATCH semantics, errors, versions and concurrency.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, found, role, TestApp};

both_backends!(
    replace_add_remove_with_paths,
    no_path_replace_with_dotted_keys_and_urn_keys,
    add_to_a_filtered_path_with_no_match_creates_the_entry,
    a_filtered_path_takes_a_value_object,
    no_path_add_merges_and_capitalised_remove_removes,
    remove_with_a_value_filter_removes_matching_entries,
    add_appends_to_multi_valued_attributes,
    an_entry_made_primary_takes_primary_from_the_others,
    operations_apply_all_or_nothing,
    patch_error_cases,
    patch_active_moves_the_role_like_put,
    etags_change_on_every_write_and_guard_writes,
    if_none_match_gives_304,
    concurrent_patches_lose_no_update,
    a_noop_patch_keeps_the_version,
    a_patch_keeps_untouched_attributes_findable,
    concurrent_writes_with_one_etag_let_exactly_one_win,
    a_delete_with_a_stale_etag_is_412_and_the_user_remains,
    a_delete_racing_a_patch_on_one_etag_lets_exactly_one_win,
);

pub fn patch_body(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn patch(app: &TestApp, id: &str, operations: Value) -> reqwest::Response {
    app.send(
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(&patch_body(operations)),
    )
    .await
}

async fn patched(app: &TestApp, id: &str, operations: Value) -> Value {
    let response = patch(app, id, operations).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        app.get_json(&format!("/Users/{id}")).await,
        body,
        "the response is what is stored"
    );
    body
}

async fn new_user(app: &TestApp) -> (String, Value) {
    let created = app
        .create_user(&json!({
            "userName": "p@example.com",
            "externalId": "p",
            "name": {"givenName": "Pat", "familyName": "Doe"},
            "title": "Dev",
            "emails": [{"type": "work", "value": "p@work.com", "primary": true},
                       {"type": "home", "value": "p@home.com"}],
        }))
        .await;
    (created["id"].as_str().unwrap().to_string(), created)
}

async fn replace_add_remove_with_paths(app: TestApp) {
    let (id, _) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([
            {"op": "Replace", "path": "title", "value": "Lead"},
            {"op": "replace", "path": "name.givenName", "value": "Patricia"},
            {"op": "ADD", "path": "displayName", "value": "Pat D"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work.com"},
            {"op": "remove", "path": "externalId"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "Smith"},
        ]),
    )
    .await;
    assert_eq!(body["title"], "Lead");
    assert_eq!(
        body["name"],
        json!({"familyName": "Smith", "givenName": "Patricia"})
    );
    assert_eq!(body["displayName"], "Pat D");
    assert_eq!(
        body["emails"][0],
        json!({"value": "new@work.com", "type": "work", "primary": true})
    );
    assert_eq!(body["emails"][1]["value"], "p@home.com");
    assert!(body.get("externalId").is_none());
    let teamtailor = app.teamtailor_user(&id).await;
    assert_eq!(teamtailor["email"], "new@work.com");
    assert_eq!(teamtailor["name"], "Patricia Smith");
}

async fn no_path_replace_with_dotted_keys_and_urn_keys(app: TestApp) {
    let (id, _) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "replace", "value": {
            "name.givenName": "Alex",
            "title": "CTO",
            "active": false,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"},
        }}]),
    )
    .await;
    assert_eq!(body["name"]["givenName"], "Alex");
    assert_eq!(body["name"]["familyName"], "Doe");
    assert_eq!(body["title"], "CTO");
    assert_eq!(body["active"], false);
    assert!(body
        .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        .is_none());
    let enterprise_path = patched(
        &app,
        &id,
        json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"}]),
    )
    .await;
    assert_eq!(enterprise_path["title"], "CTO");
}

async fn add_to_a_filtered_path_with_no_match_creates_the_entry(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "nophone@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let body = patched(
        &app,
        id,
        json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+46 8 1"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@work.com"},
        ]),
    )
    .await;
    assert_eq!(
        body["phoneNumbers"],
        json!([{"type": "work", "value": "+46 8 1"}])
    );
    assert_eq!(
        body["emails"],
        json!([{"type": "work", "value": "w@work.com"}])
    );
    let teamtailor = app.teamtailor_user(id).await;
    assert_eq!(teamtailor["phone"], "+46 8 1");
    assert_eq!(teamtailor["email"], "w@work.com");
}

async fn a_filtered_path_takes_a_value_object(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "phones@example.com",
                             "phoneNumbers": [{"type": "mobile", "value": "+46 70 1"}]}))
        .await;
    let id = created["id"].as_str().unwrap();
    let body = patched(
        &app,
        id,
        json!([{"op": "add", "path": "phoneNumbers[type eq \"work\"]",
                "value": {"value": "+46 8 1", "primary": true}}]),
    )
    .await;
    assert_eq!(
        body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+46 70 1"},
               {"type": "work", "value": "+46 8 1", "primary": true}]),
        "no work phone yet: the entry is created from the filter and the value"
    );
    let body = patched(
        &app,
        id,
        json!([{"op": "replace", "path": "phoneNumbers[type eq \"work\"]",
                "value": {"value": "+46 8 2"}}]),
    )
    .await;
    assert_eq!(
        body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+46 70 1"},
               {"type": "work", "value": "+46 8 2", "primary": true}]),
        "only the matching entry changes; sub-attributes not sent are kept"
    );
    assert_eq!(app.teamtailor_user(id).await["phone"], "+46 8 2");
    let response = patch(
        &app,
        id,
        json!([{"op": "replace", "path": "phoneNumbers[type eq \"work\"]", "value": "+46 8 3"}]),
    )
    .await;
    assert_scim_error(response, 400, Some("invalidValue")).await;
}

async fn no_path_add_merges_and_capitalised_remove_removes(app: TestApp) {
    let (id, _) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "add", "value": {
            "title": "Lead",
            "name": {"givenName": "Patricia"},
            "emails": [{"type": "other", "value": "p@other.com"}],
        }}]),
    )
    .await;
    assert_eq!(body["title"], "Lead");
    assert_eq!(
        body["name"],
        json!({"givenName": "Patricia", "familyName": "Doe"}),
        "add merges into a complex attribute"
    );
    assert_eq!(
        body["emails"],
        json!([{"value": "p@work.com", "type": "work", "primary": true},
               {"value": "p@home.com", "type": "home"},
               {"value": "p@other.com", "type": "other"}]),
        "add appends to a multi-valued attribute"
    );
    let body = patched(
        &app,
        &id,
        json!([
            {"op": "Remove", "path": "emails[type eq \"other\"]"},
            {"op": "Remove", "path": "title"},
            {"op": "REMOVE", "path": "name.givenName"},
        ]),
    )
    .await;
    assert_eq!(body["emails"].as_array().unwrap().len(), 2);
    assert!(body.get("title").is_none());
    assert_eq!(body["name"], json!({"familyName": "Doe"}));
}

async fn remove_with_a_value_filter_removes_matching_entries(app: TestApp) {
    let (id, _) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "p@work.com", "type": "work", "primary": true}])
    );
    let body = patched(
        &app,
        &id,
        json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "p@work.com", "type": "work"}])
    );
    let body = patched(&app, &id, json!([{"op": "remove", "path": "emails"}])).await;
    assert!(body.get("emails").is_none());
}

async fn an_entry_made_primary_takes_primary_from_the_others(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "primary@example.com", "emails": [
            {"type": "work", "value": "w@work.com", "primary": true},
            {"type": "other", "value": "o@x.com"}]}))
        .await;
    let id = created["id"].as_str().unwrap();
    let body = patched(
        &app,
        id,
        json!([{"op": "replace", "path": "emails[type eq \"other\"].primary", "value": true}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"type": "work", "value": "w@work.com"},
               {"type": "other", "value": "o@x.com", "primary": true}])
    );
    // A new entry from the filter, primary as Entra sends booleans.
    let body = patched(
        &app,
        id,
        json!([{"op": "add", "path": "emails[type eq \"home\"]",
                "value": {"value": "h@x.com", "primary": "True"}}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"type": "work", "value": "w@work.com"},
               {"type": "other", "value": "o@x.com"},
               {"type": "home", "value": "h@x.com", "primary": true}])
    );
    // Changing another sub-attribute leaves primary where it is.
    let body = patched(
        &app,
        id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w2@work.com"}]),
    )
    .await;
    assert_eq!(
        body["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .count(),
        1
    );
    assert_eq!(body["emails"][2]["primary"], true);
    assert_eq!(app.teamtailor_user(id).await["email"], "w2@work.com");
}

async fn add_appends_to_multi_valued_attributes(app: TestApp) {
    let (id, _) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "add", "path": "emails", "value": [{"type": "other", "value": "o@x.com", "primary": true}]}]),
    )
    .await;
    let emails = body["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert_eq!(
        emails.iter().filter(|e| e["primary"] == true).count(),
        1,
        "one primary"
    );
    let body = patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails", "value": [{"type": "work", "value": "only@x.com"}]}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "only@x.com", "type": "work"}])
    );
}

async fn operations_apply_all_or_nothing(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let response = patch(
        &app,
        &id,
        json!([
            {"op": "replace", "path": "title", "value": "Changed"},
            {"op": "remove", "path": "userName"},
        ]),
    )
    .await;
    assert_scim_error(response, 400, Some("mutability")).await;
    let response = patch(
        &app,
        &id,
        json!([
            {"op": "replace", "path": "title", "value": "Changed"},
            {"op": "replace", "path": "active", "value": "maybe"},
        ]),
    )
    .await;
    assert_scim_error(response, 400, Some("invalidValue")).await;
    assert_eq!(app.get_json(&format!("/Users/{id}")).await, created);
}

async fn patch_error_cases(app: TestApp) {
    let (id, created) = new_user(&app).await;
    app.create_user(&json!({"userName": "taken@example.com"}))
        .await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            patch_body(
                json!([{"op": "replace", "path": "userName", "value": "taken@example.com"}]),
            ),
            409,
            "uniqueness",
        ),
        (
            patch_body(
                json!([{"op": "replace", "path": "userName", "value": "TAKEN@example.com"}]),
            ),
            409,
            "uniqueness",
        ),
        (
            patch_body(json!([{"op": "replace", "path": 5, "value": "x"}])),
            400,
            "invalidPath",
        ),
        (
            patch_body(json!([{"op": "replace", "path": ["title"], "value": "x"}])),
            400,
            "invalidPath",
        ),
        (patch_body(json!(["replace"])), 400, "invalidSyntax"),
        (
            patch_body(json!([{"op": "replace", "path": "title", "value": "x"}, 7])),
            400,
            "invalidSyntax",
        ),
        (
            patch_body(json!([{"op": 1, "path": "title", "value": "x"}])),
            400,
            "invalidSyntax",
        ),
        (
            patch_body(json!([{"op": ["replace"], "path": "title", "value": "x"}])),
            400,
            "invalidSyntax",
        ),
        // A null value removes, and userName is required.
        (
            patch_body(json!([{"op": "replace", "path": "userName", "value": null}])),
            400,
            "mutability",
        ),
        (
            patch_body(json!([{"op": "replace", "value": {"userName": null}}])),
            400,
            "mutability",
        ),
        (
            patch_body(
                json!([{"op": "replace", "path": "meta", "value": {"resourceType": "Group"}}]),
            ),
            400,
            "mutability",
        ),
        (
            patch_body(json!([{"op": "remove", "path": "meta"}])),
            400,
            "mutability",
        ),
        (
            json!({"Operations": [{"op": "frobnicate", "path": "title", "value": "x"}]}),
            400,
            "invalidSyntax",
        ),
        (
            json!({"Operations": [{"path": "title", "value": "x"}]}),
            400,
            "invalidSyntax",
        ),
        (json!({"Operations": []}), 400, "invalidSyntax"),
        (
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            400,
            "invalidSyntax",
        ),
        (json!([1]), 400, "invalidSyntax"),
        (
            patch_body(json!([{"op": "remove", "path": "userName"}])),
            400,
            "mutability",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "userName", "value": ""}])),
            400,
            "invalidValue",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "id", "value": "5"}])),
            400,
            "mutability",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "meta.lastModified", "value": "x"}])),
            400,
            "mutability",
        ),
        (
            patch_body(
                json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role", "value": "admin"}]),
            ),
            400,
            "mutability",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "nosuchattr", "value": "x"}])),
            400,
            "invalidPath",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "name.nosuch", "value": "x"}])),
            400,
            "invalidPath",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])),
            400,
            "invalidPath",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "title[type eq \"x\"]", "value": "x"}])),
            400,
            "invalidPath",
        ),
        (patch_body(json!([{"op": "remove"}])), 400, "noTarget"),
        (
            patch_body(json!([{"op": "replace", "value": "not an object"}])),
            400,
            "invalidValue",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "name", "value": "Ada"}])),
            400,
            "invalidValue",
        ),
        (
            patch_body(json!([{"op": "replace", "path": "title", "value": 5}])),
            400,
            "invalidValue",
        ),
    ];
    for (body, status, scim_type) in cases {
        let response = app
            .send(Method::PATCH, &format!("/Users/{id}"), Some(&body))
            .await;
        assert_scim_error(response, status, Some(scim_type)).await;
    }
    assert_eq!(
        app.get_json(&format!("/Users/{id}")).await,
        created,
        "nothing changed"
    );
    let missing = patch(
        &app,
        "987654",
        json!([{"op": "replace", "path": "title", "value": "x"}]),
    )
    .await;
    assert_scim_error(missing, 404, None).await;
    // Writes to unstored core attributes are accepted and ignored.
    let ignored = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "nickName", "value": "x"},
                                         {"op": "add", "path": "roles", "value": []}]),
    )
    .await;
    assert_eq!(ignored.status(), 200);
}

async fn patch_active_moves_the_role_like_put(app: TestApp) {
    let (id, _) = new_user(&app).await;
    app.set_role(&id, "recruiter").await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(role(&body), "recruiter", "active true keeps recruiter");
    let body = patched(
        &app,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(role(&body), "no_access");
    assert_eq!(body["active"], false);
    let body = patched(
        &app,
        &id,
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await;
    assert_eq!(
        role(&body),
        "user",
        "a deactivated recruiter comes back as user"
    );
}

async fn etags_change_on_every_write_and_guard_writes(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let path = format!("/Users/{id}");
    let v1 = created["meta"]["version"].as_str().unwrap().to_string();
    let response = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "title", "value": "A"}]),
    )
    .await;
    let v2 = response.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(v1, v2);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["meta"]["version"], v2);

    let stale = app
        .client
        .patch(app.scim(&path))
        .bearer_auth(&app.key)
        .header("If-Match", &v1)
        .json(&patch_body(
            json!([{"op": "replace", "path": "title", "value": "B"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_scim_error(stale, 412, None).await;
    let stale_put = app
        .client
        .put(app.scim(&path))
        .bearer_auth(&app.key)
        .header("If-Match", &v1)
        .json(&json!({"userName": "p@example.com"}))
        .send()
        .await
        .unwrap();
    assert_scim_error(stale_put, 412, None).await;
    let stale_delete = app
        .client
        .delete(app.scim(&path))
        .bearer_auth(&app.key)
        .header("If-Match", &v1)
        .send()
        .await
        .unwrap();
    assert_scim_error(stale_delete, 412, None).await;
    assert_eq!(app.get_json(&path).await["title"], "A");

    let fresh = app
        .client
        .patch(app.scim(&path))
        .bearer_auth(&app.key)
        .header("If-Match", &v2)
        .json(&patch_body(
            json!([{"op": "replace", "path": "title", "value": "B"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    let v3 = fresh.headers()["etag"].to_str().unwrap().to_string();
    let delete = app
        .client
        .delete(app.scim(&path))
        .bearer_auth(&app.key)
        .header("If-Match", &v3)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
}

async fn if_none_match_gives_304(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let url = app.scim(&format!("/Users/{id}"));
    let version = created["meta"]["version"].as_str().unwrap();
    let response = app
        .client
        .get(&url)
        .bearer_auth(&app.key)
        .header("If-None-Match", version)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], version);
    let response = app
        .client
        .get(&url)
        .bearer_auth(&app.key)
        .header("If-None-Match", "W/\"999\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn concurrent_patches_lose_no_update(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "busy@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let url = app.scim(&format!("/Users/{id}"));
        let key = app.key.clone();
        tasks.push(tokio::spawn(async move {
            let body = patch_body(json!([{"op": "add", "path": "phoneNumbers",
                                          "value": [{"type": "other", "value": format!("+{i}")}]}]));
            client.patch(url).bearer_auth(key).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let user = app.get_json(&format!("/Users/{id}")).await;
    let mut numbers: Vec<String> = user["phoneNumbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("+{i}")).collect();
    expected.sort();
    assert_eq!(numbers, expected, "every concurrent add is kept");
}

async fn a_noop_patch_keeps_the_version(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let body = patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "title", "value": "Dev"}]),
    )
    .await;
    assert_eq!(body["meta"]["version"], created["meta"]["version"]);
}

/// A write stores only what changed; everything else stays stored and
/// indexed as it was, and what changed is found by its new value only.
async fn a_patch_keeps_untouched_attributes_findable(app: TestApp) {
    let (id, _) = new_user(&app).await;
    patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    for filter in [
        r#"userName eq "P@EXAMPLE.COM""#,
        r#"externalId eq "p""#,
        r#"name.givenName eq "Pat""#,
        r#"emails[type eq "work" and value eq "p@work.com"]"#,
        r#"emails.value eq "p@home.com""#,
        r#"title eq "Lead""#,
        "active eq false",
    ] {
        assert_eq!(found(&app, filter).await, [id.as_str()], "{filter}");
    }
    assert!(found(&app, r#"title eq "Dev""#).await.is_empty());

    patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "q@work.com"}]),
    )
    .await;
    assert!(found(&app, r#"emails.value eq "p@work.com""#)
        .await
        .is_empty());
    assert_eq!(
        found(&app, r#"emails.value eq "q@work.com""#).await,
        [id.as_str()]
    );
    assert_eq!(
        found(&app, r#"emails.value eq "p@home.com""#).await,
        [id.as_str()]
    );
    assert_eq!(found(&app, r#"title eq "Lead""#).await, [id.as_str()]);
    let teamtailor = app.teamtailor_user(&id).await;
    assert_eq!(teamtailor["email"], "q@work.com");
    assert_eq!(teamtailor["title"], "Lead");
    assert_eq!(teamtailor["role"], "no_access");
}

async fn concurrent_writes_with_one_etag_let_exactly_one_win(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let version = created["meta"]["version"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = app.client.clone();
        let url = app.scim(&format!("/Users/{id}"));
        let key = app.key.clone();
        let version = version.clone();
        tasks.push(tokio::spawn(async move {
            let body = patch_body(
                json!([{"op": "replace", "path": "title", "value": format!("writer {i}")}]),
            );
            let response = client
                .patch(url)
                .bearer_auth(key)
                .header("If-Match", version)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), i)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (status, i) = task.await.unwrap();
        assert!(status == 200 || status == 412, "{status}");
        if status == 200 {
            winners.push(i);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one write with the same ETag wins: {winners:?}"
    );
    let stored = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(
        stored["title"],
        format!("writer {}", winners[0]),
        "the winner's write is what is stored"
    );
}

async fn delete_if_match(app: &TestApp, id: &str, version: &str) -> reqwest::Response {
    app.client
        .delete(app.scim(&format!("/Users/{id}")))
        .bearer_auth(&app.key)
        .header("If-Match", version)
        .send()
        .await
        .unwrap()
}

async fn a_delete_with_a_stale_etag_is_412_and_the_user_remains(app: TestApp) {
    let (id, created) = new_user(&app).await;
    let v1 = created["meta"]["version"].as_str().unwrap().to_string();
    let body = patched(
        &app,
        &id,
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    assert_scim_error(delete_if_match(&app, &id, &v1).await, 412, None).await;
    let kept = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(kept["title"], "Lead");
    assert_eq!(kept["meta"]["version"], body["meta"]["version"]);

    let v2 = body["meta"]["version"].as_str().unwrap();
    assert_eq!(delete_if_match(&app, &id, v2).await.status(), 204);
    assert_scim_error(delete_if_match(&app, &id, v2).await, 404, None).await;
}

async fn a_delete_racing_a_patch_on_one_etag_lets_exactly_one_win(app: TestApp) {
    for round in 0..5 {
        let created = app
            .create_user(&json!({"userName": format!("race{round}@example.com")}))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let version = created["meta"]["version"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let client = app.client.clone();
            let url = app.scim(&format!("/Users/{id}"));
            let key = app.key.clone();
            let version = version.clone();
            tasks.push(tokio::spawn(async move {
                let request = if i % 2 == 0 {
                    client.delete(url)
                } else {
                    client.patch(url).json(&patch_body(
                        json!([{"op": "replace", "path": "title", "value": format!("writer {i}")}]),
                    ))
                };
                let response = request
                    .bearer_auth(key)
                    .header("If-Match", version)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), i)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (status, i) = task.await.unwrap();
            assert!(matches!(status, 200 | 204 | 404 | 412), "{status}");
            if status == 200 || status == 204 {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "one write per ETag: {winners:?}");
        let stored = app.get(&format!("/Users/{id}")).await;
        if winners[0] % 2 == 0 {
            assert_eq!(stored.status(), 404, "the delete won");
        } else {
            assert_eq!(stored.status(), 200, "a patch won and is not deleted");
        }
    }
}
