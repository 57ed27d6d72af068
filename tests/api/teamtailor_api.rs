//! The Teamtailor API (`/v1/users`) as connectors use it, sharing users with SCIM.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{json, Value};
use teamtailor_scim::http::api::rate_limit::RateLimit;
use teamtailor_scim::keys::Scope;

use crate::both_backends;
use crate::helpers::{random_text, role, spawn_app_with, Backend, TestApp};

both_backends!(
    a_connector_sync_walks_links_next_and_sees_each_user_once,
    the_api_version_is_checked_before_the_key,
    keys_are_checked_in_the_api_error_format,
    a_wrong_method_is_405_in_the_api_error_format,
    scopes_decide_who_reads_and_writes,
    invalid_attributes_are_422_with_a_pointer,
    too_long_attributes_are_422_with_a_pointer,
    page_size_filters_and_sort_are_validated,
    filters_find_users_by_email_external_id_and_role,
    sort_by_name_and_created_at,
    scim_and_the_api_agree,
    api_writes_are_seen_by_scim,
    other_companies_are_invisible,
    ;
    backend:
    rate_limits_are_announced_and_enforced,
);

const VERSION: &str = "20240404";

impl TestApp {
    pub(crate) async fn api_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/v1{path}", self.address)
        };
        let mut request = self
            .client
            .request(method, url)
            .header("Authorization", format!("Token token={key}"))
            .header("X-Api-Version", VERSION);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/vnd.api+json")
                .body(body.to_string());
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.api_as(&self.key, method, path, body).await
    }

    async fn api_json(&self, path: &str) -> Value {
        let response = self.api(Method::GET, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.api+json"
        );
        response.json().await.unwrap()
    }
}

async fn assert_api_error(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json"
    );
    let body: Value = response.json().await.unwrap();
    let error = &body["errors"][0];
    assert_eq!(error["status"], status.to_string(), "{body}");
    for field in ["code", "title", "detail"] {
        assert!(
            error[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {body}"
        );
    }
    body
}

fn api_user(email: &str, extra: Value) -> Value {
    let mut attributes = json!({"email": email, "name": "New Person"});
    attributes
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"data": {"type": "users", "attributes": attributes}})
}

async fn a_connector_sync_walks_links_next_and_sees_each_user_once(app: TestApp) {
    for i in 0..65 {
        app.create_user(
            &json!({"userName": format!("sync{i:02}@example.com"), "title": "T",
                                 "active": i % 10 != 0}),
        )
        .await;
    }
    let mut seen = HashSet::new();
    let mut next = Some(format!("{}/v1/users?page[size]=30", app.address));
    let mut pages = 0;
    while let Some(url) = next {
        let response = app.api(Method::GET, &url, None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["meta"]["record-count"], 65);
        assert_eq!(body["meta"]["page-count"], 3);
        for user in body["data"].as_array().unwrap() {
            assert_eq!(user["type"], "users");
            let attributes = &user["attributes"];
            assert!(attributes["name"].is_null() || attributes["name"].is_string());
            assert!(attributes["username"].is_string());
            assert!(attributes["email"].as_str().unwrap().contains('@'));
            assert!(attributes["visible"].is_boolean());
            assert!(
                seen.insert(user["id"].as_str().unwrap().to_string()),
                "each user once"
            );
        }
        let links = body["links"].as_object().unwrap();
        assert!(links["first"].as_str().unwrap().starts_with("http://"));
        assert!(links["last"]
            .as_str()
            .unwrap()
            .contains("page%5Bnumber%5D=3"));
        assert!(
            links.get("next").is_none_or(|n| !n.is_null()),
            "next is absent, never null"
        );
        next = links.get("next").map(|n| n.as_str().unwrap().to_string());
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 65);

    // The default page is 10; last, prev and first work when followed.
    let first_page = app.api_json("/users").await;
    assert_eq!(first_page["data"].as_array().unwrap().len(), 10);
    assert_eq!(first_page["meta"]["page-count"], 7);
    assert!(first_page["links"].get("prev").is_none());
    let follow = |link: &Value| {
        let url = link.as_str().expect("a link").to_string();
        let app = &app;
        async move {
            let response = app.api(Method::GET, &url, None).await;
            assert_eq!(response.status(), 200, "{url}");
            response.json::<Value>().await.unwrap()
        }
    };
    let last = follow(&first_page["links"]["last"]).await;
    assert_eq!(last["data"].as_array().unwrap().len(), 5);
    assert!(last["links"].get("next").is_none());
    let before_last = follow(&last["links"]["prev"]).await;
    assert_eq!(before_last["data"].as_array().unwrap().len(), 10);
    assert_ne!(before_last["data"][0]["id"], last["data"][0]["id"]);
    let first_again = follow(&before_last["links"]["first"]).await;
    assert_eq!(first_again["data"], first_page["data"]);

    // Every attribute Teamtailor's API documents, in kebab case.
    let mut keys: Vec<&str> = first_page["data"][0]["attributes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created-at",
            "email",
            "external-id",
            "locale",
            "login-email",
            "name",
            "phone",
            "role",
            "time-zone",
            "title",
            "updated-at",
            "username",
            "visible"
        ]
    );
    let no_access = app
        .api_json("/users?filter[role]=no_access&page[size]=30")
        .await;
    assert_eq!(no_access["meta"]["record-count"], 7);
}

async fn the_api_version_is_checked_before_the_key(app: TestApp) {
    let url = format!("{}/v1/users", app.address);
    let missing = app.client.get(&url).send().await.unwrap();
    let body = assert_api_error(missing, 406).await;
    assert_eq!(body["errors"][0]["title"], "Invalid/Missing API Version");
    for version in ["2024", "20161107", "20241399", "29991231", "abc"] {
        let response = app
            .client
            .get(&url)
            .header("X-Api-Version", version)
            .header("Authorization", format!("Token token={}", app.key))
            .send()
            .await
            .unwrap();
        assert_api_error(response, 406).await;
    }
    for version in ["20161108", "20210218", "20240904"] {
        let response = app
            .client
            .get(&url)
            .header("X-Api-Version", version)
            .header("Authorization", format!("Token token={}", app.key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{version}");
    }
}

async fn keys_are_checked_in_the_api_error_format(app: TestApp) {
    let url = format!("{}/v1/users", app.address);
    let missing = app
        .client
        .get(&url)
        .header("X-Api-Version", VERSION)
        .send()
        .await
        .unwrap();
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_api_error(missing, 401).await;
    assert_api_error(app.api_as("wrong", Method::GET, "/users", None).await, 401).await;
    let bearer = app
        .client
        .get(&url)
        .header("X-Api-Version", VERSION)
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_api_error(app.api(Method::GET, "/nope", None).await, 404).await;
    assert_api_error(app.api(Method::GET, "/users/999999", None).await, 404).await;
    assert_api_error(app.api(Method::GET, "/users/abc", None).await, 404).await;
}

async fn a_wrong_method_is_405_in_the_api_error_format(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "method@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let body = api_user("method@example.com", json!({}));
    for (method, path, allowed) in [
        (Method::PUT, format!("/users/{id}"), "GET,HEAD,PATCH,DELETE"),
        (
            Method::POST,
            format!("/users/{id}"),
            "GET,HEAD,PATCH,DELETE",
        ),
        (Method::DELETE, "/users".to_string(), "GET,HEAD,POST"),
        (Method::PUT, "/users".to_string(), "GET,HEAD,POST"),
    ] {
        let response = app.api(method.clone(), &path, Some(&body)).await;
        let allow: HashSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        assert_eq!(
            allow,
            allowed.split(',').map(String::from).collect(),
            "{method} {path}"
        );
        let error = assert_api_error(response, 405).await;
        assert_eq!(error["errors"][0]["code"], "method_not_allowed");
    }
    assert_eq!(
        app.get_json(&format!("/Users/{id}")).await["userName"],
        "method@example.com",
        "the user is untouched"
    );
}

async fn scopes_decide_who_reads_and_writes(app: TestApp) {
    let scim_only = app.key_for("default", &[Scope::Scim]).await;
    let reader = app.key_for("default", &[Scope::ApiRead]).await;
    let admin = app.key_for("default", &[Scope::ApiAdmin]).await;
    assert_api_error(
        app.api_as(&scim_only, Method::GET, "/users", None).await,
        403,
    )
    .await;
    assert_eq!(
        app.api_as(&reader, Method::GET, "/users", None)
            .await
            .status(),
        200
    );
    let body = api_user("reader@example.com", json!({}));
    assert_api_error(
        app.api_as(&reader, Method::POST, "/users", Some(&body))
            .await,
        403,
    )
    .await;
    let created = app
        .api_as(&admin, Method::POST, "/users", Some(&body))
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/users/{id}");
    let patch = json!({"data": {"id": id, "type": "users", "attributes": {"title": "T"}}});
    for (method, body) in [(Method::PATCH, Some(&patch)), (Method::DELETE, None)] {
        assert_api_error(app.api_as(&reader, method, &path, body).await, 403).await;
    }
    assert_eq!(
        app.api_as(&reader, Method::GET, &path, None).await.status(),
        200,
        "the refused writes changed nothing"
    );
    // An API-only key cannot use SCIM.
    let scim = app.send_as(&admin, Method::GET, "/Users", None).await;
    assert_eq!(scim.status(), 403);
}

async fn invalid_attributes_are_422_with_a_pointer(app: TestApp) {
    let created = app
        .api(
            Method::POST,
            "/users",
            Some(&api_user("v@example.com", json!({}))),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["data"]["id"].as_str().unwrap();
    let patch = json!({"data": {"type": "users", "id": id, "attributes": {"role": "superuser"}}});
    let body = assert_api_error(
        app.api(Method::PATCH, &format!("/users/{id}"), Some(&patch))
            .await,
        422,
    )
    .await;
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/role"
    );
    let no_email = json!({"data": {"type": "users", "attributes": {"name": "X"}}});
    let body = assert_api_error(app.api(Method::POST, "/users", Some(&no_email)).await, 422).await;
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/email"
    );
    let bad = api_user("not-an-email", json!({}));
    assert_api_error(app.api(Method::POST, "/users", Some(&bad)).await, 422).await;
    let taken = api_user("v@example.com", json!({}));
    let body = assert_api_error(app.api(Method::POST, "/users", Some(&taken)).await, 422).await;
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/login-email"
    );
    let wrong_type = json!({"data": {"type": "jobs", "attributes": {}}});
    assert_api_error(
        app.api(Method::POST, "/users", Some(&wrong_type)).await,
        409,
    )
    .await;
    let not_json = app
        .client
        .post(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", VERSION)
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_api_error(not_json, 400).await;
    let unchanged = app.api_json(&format!("/users/{id}")).await;
    assert_eq!(unchanged["data"]["attributes"]["role"], "user");
}

async fn too_long_attributes_are_422_with_a_pointer(app: TestApp) {
    let long = random_text(3000);
    let long_email = format!("{long}@example.com");
    for (attributes, pointer) in [
        (json!({"email": long_email}), "/data/attributes/email"),
        (
            json!({"email": "l@example.com", "login-email": long_email}),
            "/data/attributes/login-email",
        ),
        (
            json!({"email": "l@example.com", "title": long}),
            "/data/attributes/title",
        ),
        (
            json!({"email": "l@example.com", "name": long}),
            "/data/attributes/name",
        ),
        (
            json!({"email": "l@example.com", "external-id": long}),
            "/data/attributes/external-id",
        ),
    ] {
        let document = json!({"data": {"type": "users", "attributes": attributes}});
        let body =
            assert_api_error(app.api(Method::POST, "/users", Some(&document)).await, 422).await;
        assert_eq!(body["errors"][0]["source"]["pointer"], pointer, "{body}");
    }
    let created = app
        .api(
            Method::POST,
            "/users",
            Some(&api_user("l@example.com", json!({}))),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["data"]["id"].as_str().unwrap();
    let patch = json!({"data": {"type": "users", "id": id, "attributes": {"phone": long}}});
    let body = assert_api_error(
        app.api(Method::PATCH, &format!("/users/{id}"), Some(&patch))
            .await,
        422,
    )
    .await;
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/phone"
    );
    let found = app
        .api_json(&format!(
            "/users?filter[email]={}",
            crate::users::urlencode(&long_email)
        ))
        .await;
    assert_eq!(found["meta"]["record-count"], 0);
}

async fn page_size_filters_and_sort_are_validated(app: TestApp) {
    for path in [
        "/users?page[size]=31",
        "/users?page[size]=0",
        "/users?page[number]=0",
        "/users?filter[nope]=1",
        "/users?sort=title",
        "/users?filter[role]=boss",
    ] {
        assert_api_error(app.api(Method::GET, path, None).await, 400).await;
    }
    let empty = app.api_json("/users?page[size]=30").await;
    assert_eq!(empty["meta"]["record-count"], 0);
    assert!(empty["links"].get("next").is_none());
}

async fn filters_find_users_by_email_external_id_and_role(app: TestApp) {
    app.create_user(
        &json!({"userName": "Login@Example.com", "externalId": "ext-1",
                             "emails": [{"type": "work", "value": "Display@Work.com"}]}),
    )
    .await;
    app.create_user(&json!({"userName": "other@example.com", "externalId": "EXT-1"}))
        .await;
    for email in ["display@work.com", "DISPLAY@WORK.COM", "login@example.com"] {
        let found = app.api_json(&format!("/users?filter[email]={email}")).await;
        assert_eq!(found["meta"]["record-count"], 1, "{email}");
        assert_eq!(
            found["data"][0]["attributes"]["login-email"],
            "Login@Example.com"
        );
    }
    assert_eq!(
        app.api_json("/users?filter[email]=display").await["meta"]["record-count"],
        0,
        "whole value"
    );
    let by_external = app.api_json("/users?filter[external-id]=ext-1").await;
    assert_eq!(
        by_external["meta"]["record-count"], 1,
        "external-id is exact"
    );
    let kept = app
        .api_json("/users?filter[external-id]=ext-1&page[size]=1")
        .await;
    assert!(kept["links"]["first"]
        .as_str()
        .unwrap()
        .contains("filter%5Bexternal-id%5D=ext-1"));
}

async fn sort_by_name_and_created_at(app: TestApp) {
    for name in ["Charlie", "alpha", "Bravo"] {
        app.create_user(
            &json!({"userName": format!("{name}@example.com"), "name": {"formatted": name}}),
        )
        .await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["attributes"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&app.api_json("/users?sort=name").await),
        ["alpha", "Bravo", "Charlie"]
    );
    assert_eq!(
        names(&app.api_json("/users?sort=-name").await),
        ["Charlie", "Bravo", "alpha"]
    );
    assert_eq!(
        names(&app.api_json("/users?sort=-created-at").await),
        ["Bravo", "alpha", "Charlie"]
    );
}

async fn scim_and_the_api_agree(app: TestApp) {
    let created = app
        .create_user(
            &json!({"userName": "agree@example.com", "title": "Recruiting Lead",
                             "name": {"givenName": "Ann", "familyName": "Gree"}}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let api_user = app.api_json(&format!("/users/{id}")).await;
    assert_eq!(api_user["data"]["id"], id, "the same id on both surfaces");
    assert_eq!(api_user["data"]["attributes"]["role"], "user");
    assert_eq!(api_user["data"]["attributes"]["title"], "Recruiting Lead");
    assert_eq!(api_user["data"]["attributes"]["name"], "Ann Gree");
    assert_eq!(
        api_user["data"]["links"]["self"],
        format!("{}/v1/users/{id}", app.address)
    );

    let make_admin = json!({"data": {"type": "users", "id": id, "attributes": {"role": "admin"}}});
    let response = app
        .api(Method::PATCH, &format!("/users/{id}"), Some(&make_admin))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(role(&app.get_json(&format!("/Users/{id}")).await), "admin");

    let patch = |active: bool| json!({"Operations": [{"op": "replace", "path": "active", "value": active}]});
    app.send(Method::PATCH, &format!("/Users/{id}"), Some(&patch(false)))
        .await;
    assert_eq!(
        app.api_json(&format!("/users/{id}")).await["data"]["attributes"]["role"],
        "no_access"
    );
    app.send(Method::PATCH, &format!("/Users/{id}"), Some(&patch(true)))
        .await;
    assert_eq!(
        app.api_json(&format!("/users/{id}")).await["data"]["attributes"]["role"],
        "user"
    );
}

async fn api_writes_are_seen_by_scim(app: TestApp) {
    let response = app
        .api(Method::POST, "/users", Some(&api_user("api@example.com", json!({"title": "Designer", "role": "designer",
                                                                              "phone": "+46 1", "external-id": "x9"}))))
        .await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("location"));
    let created: Value = response.json().await.unwrap();
    let id = created["data"]["id"].as_str().unwrap();
    let scim = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(scim["userName"], "api@example.com");
    assert_eq!(scim["externalId"], "x9");
    assert_eq!(scim["title"], "Designer");
    assert_eq!(scim["name"]["formatted"], "New Person");
    assert_eq!(
        scim["phoneNumbers"],
        json!([{"value": "+46 1", "type": "work", "primary": true}])
    );
    assert_eq!(role(&scim), "designer");

    let change =
        json!({"data": {"type": "users", "id": id, "attributes": {"email": "work@example.com"}}});
    let response = app
        .api(Method::PATCH, &format!("/users/{id}"), Some(&change))
        .await;
    assert_eq!(response.status(), 200);
    let scim = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(scim["emails"][0]["value"], "work@example.com");
    assert_eq!(
        scim["userName"], "api@example.com",
        "the login email is kept"
    );

    assert_eq!(
        app.api(Method::DELETE, &format!("/users/{id}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
}

async fn other_companies_are_invisible(app: TestApp) {
    let other = app.key_for("acme", &[Scope::ApiAdmin]).await;
    let created = app
        .create_user(&json!({"userName": "mine@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let list: Value = app
        .api_as(&other, Method::GET, "/users", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["record-count"], 0);
    assert_api_error(
        app.api_as(&other, Method::GET, &format!("/users/{id}"), None)
            .await,
        404,
    )
    .await;
    let change = json!({"data": {"type": "users", "attributes": {"role": "admin"}}});
    assert_api_error(
        app.api_as(
            &other,
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&change),
        )
        .await,
        404,
    )
    .await;
    assert_api_error(
        app.api_as(&other, Method::DELETE, &format!("/users/{id}"), None)
            .await,
        404,
    )
    .await;
}

async fn rate_limits_are_announced_and_enforced(backend: Backend) {
    let limit = RateLimit {
        requests: NonZeroU32::new(3).unwrap(),
        period: Duration::from_secs(60),
    };
    let Some(app) = spawn_app_with(backend, |s| s.api_rate_limit = Some(limit)).await else {
        return;
    };
    for expected_remaining in [2, 1, 0] {
        let response = app.api(Method::GET, "/users", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-rate-limit-limit"], "3");
        assert_eq!(
            response.headers()["x-rate-limit-remaining"],
            expected_remaining.to_string()
        );
        assert!(
            response.headers()["x-rate-limit-reset"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                <= 60
        );
    }
    let refused = app.api(Method::GET, "/users", None).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["x-rate-limit-remaining"], "0");
    assert!(refused.headers().contains_key("x-rate-limit-reset"));
    let body = assert_api_error(refused, 429).await;
    // As an injected 429 answers (tests/api/faults.rs).
    assert_eq!(body["errors"][0]["code"], "too_many_requests");
    assert_eq!(body["errors"][0]["title"], "Too Many Requests");
    // Limits are per key, and every answer announces them.
    let other = app.key_for("default", &[Scope::ApiAdmin]).await;
    let created = app
        .api_as(
            &other,
            Method::POST,
            "/users",
            Some(&api_user("limited@example.com", json!({}))),
        )
        .await;
    let missing = app.api_as(&other, Method::GET, "/users/999999", None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-rate-limit-remaining"], "1");
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-rate-limit-remaining"], "2");
    let id = created.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = app
        .api_as(&other, Method::DELETE, &format!("/users/{id}"), None)
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.headers()["x-rate-limit-limit"], "3");
    assert_eq!(deleted.headers()["x-rate-limit-remaining"], "0");
    assert_eq!(app.get("/Users").await.status(), 200, "SCIM is not limited");

    let Some(unlimited) = spawn_app_with(backend, |s| s.api_rate_limit = None).await else {
        return;
    };
    for _ in 0..60 {
        let response = unlimited.api(Method::GET, "/users", None).await;
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("x-rate-limit-limit"));
    }
}
