//! Okta provisioning, replayed from the request shapes of Okta's SCIM 2.0
//! test specification: HTTP Header auth, lookup before create, PUT of the
//! whole object, deactivate by PUT and by no-path PATCH, import by paging.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, role, TestApp, SCIM_JSON};
use crate::users::urlencode;

both_backends!(
    okta_provisioning_cycle,
    okta_import_pages_through_every_user,
);

async fn okta(
    app: &TestApp,
    method: Method,
    path_and_query: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}/scim/v2{path_and_query}", app.address))
        // "HTTP Header" mode: the raw key the admin pasted.
        .header("Authorization", &app.key)
        .header("User-Agent", "Okta SCIM Client 1.0.0")
        .header("Accept", "application/scim+json")
        .header("Accept-Charset", "utf-8");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/scim+json; charset=utf-8")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn okta_json(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    status: u16,
) -> Value {
    let response = okta(app, method, path, body).await;
    assert_eq!(response.status(), status, "{path}");
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    response.json().await.unwrap()
}

fn okta_user(login: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": login,
        "name": {"givenName": "Okta", "familyName": "User"},
        "emails": [{"primary": true, "value": login, "type": "work"}],
        "displayName": "Okta User",
        "locale": "en-US",
        "externalId": "00u1abcd2EFGHijk3l4",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

async fn okta_provisioning_cycle(app: TestApp) {
    // Test connection.
    let list = okta_json(&app, Method::GET, "/Users?startIndex=1&count=2", None, 200).await;
    assert_eq!(
        list["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    let groups = okta(&app, Method::GET, "/Groups", None).await;
    assert_eq!(groups.status(), 200);

    // Lookup before create finds nothing.
    let login = "okta.user@example.com";
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        urlencode(&format!(r#"userName eq "{login}""#))
    );
    assert_eq!(
        okta_json(&app, Method::GET, &lookup, None, 200).await["totalResults"],
        0
    );

    // Create with password, groups and locale; the password is never echoed.
    let response = okta(&app, Method::POST, "/Users", Some(&okta_user(login))).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("location"));
    let text = response.text().await.unwrap();
    assert!(!text.contains("1mz050nq"));
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["active"], true);

    // Get by id; filter with userName in another case; duplicate is 409.
    let fetched = okta_json(&app, Method::GET, &format!("/Users/{id}"), None, 200).await;
    assert_eq!(fetched["userName"], login);
    let upper = format!(
        "/Users?filter={}&startIndex=1&count=100",
        urlencode(r#"userName eq "OKTA.USER@EXAMPLE.COM""#)
    );
    let found = okta_json(&app, Method::GET, &upper, None, 200).await;
    assert_eq!(found["totalResults"], 1);
    let duplicate = okta(&app, Method::POST, "/Users", Some(&okta_user(login))).await;
    assert_scim_error(duplicate, 409, Some("uniqueness")).await;

    // Update: GET, change, PUT the whole object back.
    let mut whole = fetched.clone();
    whole["name"]["familyName"] = json!("Renamed");
    whole["password"] = json!("another");
    let updated = okta_json(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&whole),
        200,
    )
    .await;
    assert_eq!(updated["name"]["familyName"], "Renamed");
    assert_eq!(updated["id"], id.as_str());
    assert!(updated.get("password").is_none());

    // Deactivate by PUT, reactivate and deactivate by no-path PATCH.
    let mut inactive = updated.clone();
    inactive["active"] = json!(false);
    let deactivated = okta_json(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&inactive),
        200,
    )
    .await;
    assert_eq!(deactivated["active"], false);
    assert_eq!(role(&deactivated), "no_access");
    let patch = |active: bool| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "value": {"active": active}}]})
    };
    let reactivated = okta_json(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(&patch(true)),
        200,
    )
    .await;
    assert_eq!(reactivated["active"], true);
    assert_eq!(role(&reactivated), "user");
    let again = okta_json(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(&patch(false)),
        200,
    )
    .await;
    assert_eq!(again["active"], false);

    // Unknown id: 404 with the Error schema; a bad token: 401.
    let missing = okta(&app, Method::GET, "/Users/010101001010101", None).await;
    let error = assert_scim_error(missing, 404, None).await;
    assert_eq!(error["status"], "404");
    let bad = app
        .client
        .get(format!("{}/scim/v2/Users", app.address))
        .header("Authorization", "Bearer not-a-real-key")
        .header("User-Agent", "Okta SCIM Client 1.0.0")
        .send()
        .await
        .unwrap();
    assert_scim_error(bad, 401, None).await;
}

async fn okta_import_pages_through_every_user(app: TestApp) {
    for i in 0..11 {
        let response = okta(
            &app,
            Method::POST,
            "/Users",
            Some(&okta_user(&format!("import{i}@example.com"))),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let mut seen = HashSet::new();
    let mut start = 1;
    loop {
        let page = okta_json(
            &app,
            Method::GET,
            &format!("/Users?startIndex={start}&count=3"),
            None,
            200,
        )
        .await;
        assert_eq!(page["totalResults"], 11);
        let resources = page["Resources"].as_array().unwrap();
        if resources.is_empty() {
            break;
        }
        for resource in resources {
            assert!(
                seen.insert(resource["id"].as_str().unwrap().to_string()),
                "each user once"
            );
        }
        start += resources.len();
    }
    assert_eq!(seen.len(), 11);
}
