//! Listing features: attribute projection and POST .search.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, ids, TestApp};

both_backends!(
    attributes_and_excluded_attributes_shape_every_response,
    search_posts_a_search_request,
    unknown_projection_attributes_are_invalid_path,
    sort_by_any_singular_attribute_in_both_orders,
    cursor_paging_walks_every_user_once,
    every_start_index_pages_through_the_same_order,
    list_totals_follow_every_write,
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

async fn sort_by_any_singular_attribute_in_both_orders(app: TestApp) {
    for (name, title) in [
        ("b@example.com", "beta"),
        ("A@example.com", "Gamma"),
        ("c@example.com", "alpha"),
    ] {
        app.create_user(&json!({"userName": name, "title": title}))
            .await;
    }
    app.create_user(&json!({"userName": "d@example.com"})).await;
    let names = |body: &Value| -> Vec<String> {
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    };
    let by_name = app.get_json("/Users?sortBy=userName").await;
    assert_eq!(
        names(&by_name),
        [
            "A@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com"
        ],
        "case-insensitive"
    );
    let by_title = app
        .get_json("/Users?sortBy=title&sortOrder=descending")
        .await;
    assert_eq!(
        names(&by_title),
        [
            "A@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com"
        ],
        "missing last"
    );
    let by_title = app
        .get_json("/Users?sortBy=title&sortOrder=ascending&count=2&startIndex=2")
        .await;
    assert_eq!(names(&by_title), ["b@example.com", "A@example.com"]);
    let newest = app
        .get_json("/Users?sortBy=meta.created&sortOrder=descending&count=1")
        .await;
    assert_eq!(names(&newest), ["d@example.com"]);
    assert_scim_error(
        app.get("/Users?sortBy=nosuch").await,
        400,
        Some("invalidPath"),
    )
    .await;
    assert_scim_error(
        app.get("/Users?sortBy=emails").await,
        400,
        Some("invalidPath"),
    )
    .await;
    assert_scim_error(
        app.get("/Users?sortBy=title&sortOrder=sideways").await,
        400,
        Some("invalidValue"),
    )
    .await;
    let config = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(config["sort"]["supported"], true);
    assert_eq!(config["pagination"]["cursor"], true);
}

async fn cursor_paging_walks_every_user_once(app: TestApp) {
    for i in 0..7 {
        app.create_user(&json!({"userName": format!("cursor{i}@example.com")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_json(&format!("/Users?count=3&cursor={cursor}"))
            .await;
        assert_eq!(page["totalResults"], 7, "the total counts every match");
        assert!(page.get("startIndex").is_none());
        for resource in page["Resources"].as_array().unwrap() {
            seen.push(resource["userName"].as_str().unwrap().to_string());
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("cursor{i}@example.com")).collect();
    assert_eq!(seen, expected);
    assert_scim_error(
        app.get("/Users?cursor=garbage!").await,
        400,
        Some("invalidCursor"),
    )
    .await;
    assert_scim_error(
        app.get("/Users?cursor=&sortBy=title").await,
        400,
        Some("invalidValue"),
    )
    .await;
}

/// A page at any `startIndex` is that slice of the whole sorted list, in
/// every order, with ties (imported users share `meta.created`), a filter,
/// and past the end.
async fn every_start_index_pages_through_the_same_order(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    let lines: Vec<String> = (0..24)
        .map(|i| {
            let mut user = json!({"userName": format!("u{:02}@example.com", (i * 7) % 24)});
            if i % 3 != 0 {
                user["title"] = json!(format!("T{}", i % 5));
            }
            user.to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    app.cli_ok(&["import", file.to_str().unwrap(), "--company", "default"])
        .await;
    for i in 0..4 {
        let user = app
            .create_user(&json!({"userName": format!("p{i}@example.com"), "title": "T9"}))
            .await;
        if i % 2 == 0 {
            let id = user["id"].as_str().unwrap();
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]
            });
            let response = app
                .send(Method::PATCH, &format!("/Users/{id}"), Some(&patch))
                .await;
            assert_eq!(response.status(), 200);
        }
    }
    for query in [
        "",
        "sortBy=meta.created&sortOrder=descending&",
        "sortBy=userName&",
        "sortBy=userName&sortOrder=descending&",
        "sortBy=active&",
        "sortBy=active&sortOrder=descending&",
        "sortBy=title&",
        "sortBy=id&sortOrder=descending&",
        "filter=title%20sw%20%22T%22&",
        "filter=title%20sw%20%22T%22&sortBy=userName&sortOrder=descending&",
    ] {
        let whole = app.get_json(&format!("/Users?{query}count=100")).await;
        let all = ids(&whole["Resources"]);
        let total = whole["totalResults"].as_u64().unwrap();
        assert_eq!(all.len() as u64, total, "{query}");
        assert!(total > 10, "{query}");
        for start in 1..=all.len() + 2 {
            let page = app
                .get_json(&format!("/Users?{query}count=4&startIndex={start}"))
                .await;
            let expected: Vec<String> = all.iter().skip(start - 1).take(4).cloned().collect();
            assert_eq!(
                ids(&page["Resources"]),
                expected,
                "{query} startIndex={start}"
            );
            assert_eq!(page["totalResults"], total, "{query} startIndex={start}");
        }
    }
}

/// The totals of the same lists, asked for twice after each kind of write
/// (SQLite readers remember a company's number of users until the database
/// changes): this server's, another instance's on the same database, and
/// another process's (`import`).
async fn list_totals_follow_every_write(app: TestApp) {
    const LISTS: [&str; 4] = [
        "/Users?count=2",
        "/Users?startIndex=3&count=2",
        "/Users?filter=title%20eq%20%22Dev%22&count=1",
        "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=1",
    ];
    async fn expect(app: &TestApp, users: u64, devs: u64, after: &str) {
        for _ in 0..2 {
            let mut totals = Vec::new();
            for list in LISTS {
                totals.push(app.get_json(list).await["totalResults"].as_u64().unwrap());
            }
            assert_eq!(totals, [users, users, devs, users], "after {after}");
        }
    }
    let mut ids = Vec::new();
    for (i, title) in ["Dev", "Dev", "Ops", "Ops"].iter().enumerate() {
        let user = app
            .create_user(&json!({"userName": format!("t{i}@example.com"), "title": title}))
            .await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    expect(&app, 4, 2, "creating four users").await;

    app.create_user(&json!({"userName": "t4@example.com", "title": "Dev"}))
        .await;
    expect(&app, 5, 3, "POST").await;

    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Dev"}]
    });
    let response = app
        .send(Method::PATCH, &format!("/Users/{}", ids[2]), Some(&patch))
        .await;
    assert_eq!(response.status(), 200);
    expect(&app, 5, 4, "PATCH").await;

    let response = app.delete(&format!("/Users/{}", ids[0])).await;
    assert_eq!(response.status(), 204);
    expect(&app, 4, 3, "DELETE").await;

    let response = app
        .put(
            &format!("/Users/{}", ids[1]),
            &json!({"userName": "t1@example.com", "title": "Ops"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    expect(&app, 4, 2, "PUT").await;

    let other = app.another_instance().await;
    let response = app
        .client
        .post(format!("{other}/scim/v2/Users"))
        .bearer_auth(&app.key)
        .json(&json!({"userName": "t5@example.com", "title": "Dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    expect(&app, 5, 3, "a POST to another instance").await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    let lines = ["t6@example.com", "t7@example.com"]
        .map(|name| json!({"userName": name, "title": "Dev"}).to_string());
    std::fs::write(&file, lines.join("\n")).unwrap();
    app.cli_ok(&["import", file.to_str().unwrap(), "--company", "default"])
        .await;
    expect(&app, 7, 5, "an import by another process").await;
}
