//! Many clients at once: creating, replacing, patching and deleting the same
//! users, on one instance and on two instances sharing a PostgreSQL database.

use std::collections::HashSet;

use rand::Rng;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp, SCIM_JSON};
use crate::users::urlencode;

both_backends!(
    clients_racing_on_the_same_users_get_no_500s_and_a_consistent_store,
    writes_sent_together_each_get_their_own_outcome,
    reads_sent_together_each_get_their_own_answer,
    creates_of_one_user_name_sent_together_give_one_201,
    patches_of_different_attributes_sent_together_all_land
);

const NAMES: [&str; 4] = [
    "ada@example.com",
    "grace@example.com",
    "edsger@example.com",
    "barbara@example.com",
];

async fn send(
    client: &Client,
    base: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, format!("{base}/scim/v2{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", SCIM_JSON)
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// GET `path` under `/scim/v2` with the app's own key.
async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    send(&app.client, &app.address, &app.key, Method::GET, path, None).await
}

async fn lookup(client: &Client, base: &str, key: &str, name: &str) -> Option<String> {
    let filter = urlencode(&format!("userName eq \"{name}\""));
    let (status, list) = send(
        client,
        base,
        key,
        Method::GET,
        &format!("/Users?filter={filter}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert!(list["totalResults"].as_u64().unwrap() <= 1, "{list}");
    list["Resources"][0]["id"].as_str().map(str::to_string)
}

/// One client's random walk over the shared names; returns every status seen.
async fn chaos(
    client: Client,
    bases: Vec<String>,
    key: String,
    rounds: usize,
) -> Vec<(String, u16)> {
    let mut seen = Vec::new();
    for round in 0..rounds {
        let (name, op, base) = {
            let mut rng = rand::rng();
            (
                NAMES[rng.random_range(0..NAMES.len())],
                rng.random_range(0..6),
                bases[rng.random_range(0..bases.len())].clone(),
            )
        };
        let (label, status) = match op {
            0 => {
                let body = json!({"userName": name, "title": format!("round {round}")});
                (
                    "create",
                    send(&client, &base, &key, Method::POST, "/Users", Some(body))
                        .await
                        .0,
                )
            }
            1 | 2 => {
                let Some(id) = lookup(&client, &base, &key, name).await else {
                    continue;
                };
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "Replace", "path": "active", "value": if round % 2 == 0 { "False" } else { "True" }},
                        {"op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": format!("+1 {round}")}
                    ]
                });
                (
                    "patch",
                    send(
                        &client,
                        &base,
                        &key,
                        Method::PATCH,
                        &format!("/Users/{id}"),
                        Some(body),
                    )
                    .await
                    .0,
                )
            }
            3 => {
                let Some(id) = lookup(&client, &base, &key, name).await else {
                    continue;
                };
                let body = json!({"userName": name, "title": "replaced", "active": true});
                (
                    "replace",
                    send(
                        &client,
                        &base,
                        &key,
                        Method::PUT,
                        &format!("/Users/{id}"),
                        Some(body),
                    )
                    .await
                    .0,
                )
            }
            4 => {
                let Some(id) = lookup(&client, &base, &key, name).await else {
                    continue;
                };
                (
                    "delete",
                    send(
                        &client,
                        &base,
                        &key,
                        Method::DELETE,
                        &format!("/Users/{id}"),
                        None,
                    )
                    .await
                    .0,
                )
            }
            _ => {
                let (status, list) =
                    send(&client, &base, &key, Method::GET, "/Users?count=100", None).await;
                assert_eq!(status, 200, "{list}");
                let resources = list["Resources"].as_array().unwrap();
                assert_eq!(
                    list["totalResults"].as_u64().unwrap() as usize,
                    resources.len(),
                    "totalResults disagrees with the page: {list}"
                );
                let names: HashSet<&str> = resources
                    .iter()
                    .map(|r| r["userName"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    names.len(),
                    resources.len(),
                    "a userName listed twice: {list}"
                );
                ("list", status)
            }
        };
        seen.push((label.to_string(), status.as_u16()));
    }
    seen
}

async fn race(app: &TestApp, bases: Vec<String>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(chaos(
                app.client.clone(),
                bases.clone(),
                app.key.clone(),
                25,
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    for (op, status) in &statuses {
        let allowed: &[u16] = match op.as_str() {
            "create" => &[201, 409],
            "patch" | "replace" => &[200, 404],
            "delete" => &[204, 404],
            _ => &[200],
        };
        assert!(allowed.contains(status), "{op} answered {status}");
    }
    assert!(statuses.iter().any(|(op, s)| op == "create" && *s == 201));
    assert!(statuses.iter().any(|(op, s)| op == "create" && *s == 409));

    // Afterwards: each name at most once, and the list agrees with lookups.
    let mut present = 0;
    for name in NAMES {
        if let Some(id) = lookup(&app.client, &bases[0], &app.key, name).await {
            present += 1;
            let (status, user) = send(
                &app.client,
                &bases[0],
                &app.key,
                Method::GET,
                &format!("/Users/{id}"),
                None,
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(user["userName"], name);
        }
    }
    let list = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], present);
}

async fn clients_racing_on_the_same_users_get_no_500s_and_a_consistent_store(app: TestApp) {
    let bases = vec![app.address.clone()];
    race(&app, bases).await;
}

/// Creates that arrive together (on PostgreSQL, inserted in one statement),
/// three of each new userName in different cases: one of each is created,
/// with what that request sent, and the other two are answered 409.
async fn creates_of_one_user_name_sent_together_give_one_201(app: TestApp) {
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let (client, base, key) = (app.client.clone(), app.address.clone(), app.key.clone());
            tokio::spawn(async move {
                let name = format!("twin{}@example.com", i / 3);
                let name = match i % 3 {
                    0 => name,
                    1 => name.to_uppercase(),
                    _ => name.replacen("twin", "TWIN", 1),
                };
                let title = format!("request {i}");
                let body = json!({"userName": name, "title": title});
                let (status, user) =
                    send(&client, &base, &key, Method::POST, "/Users", Some(body)).await;
                (i / 3, title, status, user)
            })
        })
        .collect();
    let mut created = std::collections::HashMap::new();
    for task in tasks {
        let (twin, title, status, user) = task.await.unwrap();
        match status.as_u16() {
            201 => {
                assert_eq!(user["title"], title.as_str(), "{user}");
                let id = user["id"].as_str().unwrap().to_string();
                assert!(
                    created.insert(twin, (id, title)).is_none(),
                    "two creates of twin{twin} answered 201"
                );
            }
            409 => assert_eq!(user["scimType"], "uniqueness", "{user}"),
            other => panic!("{other}: {user}"),
        }
    }
    assert_eq!(created.len(), 16, "one of each name is created");
    for (twin, (id, title)) in created {
        let (status, user) = get(&app, &format!("/Users/{id}")).await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(user["title"], title.as_str(), "twin{twin}: {user}");
    }
}

/// PATCHes that arrive together: each of 16 users gets three at once, of
/// its title, its emails and its active flag; every one lands, once.
async fn patches_of_different_attributes_sent_together_all_land(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..16 {
        let (status, user) = send(
            &app.client,
            &app.address,
            &app.key,
            Method::POST,
            "/Users",
            Some(json!({"userName": format!("patched{i}@example.com")})),
        )
        .await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let operations = [
            json!({"op": "replace", "path": "title", "value": format!("title {i}")}),
            json!({"op": "add", "path": "emails", "value": [{"type": "work", "value": format!("work{i}@example.com")}]}),
            json!({"op": "replace", "path": "active", "value": false}),
        ];
        for operation in operations {
            let (client, base, key) = (app.client.clone(), app.address.clone(), app.key.clone());
            let path = format!("/Users/{id}");
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [operation],
            });
            tasks.push(tokio::spawn(async move {
                send(&client, &base, &key, Method::PATCH, &path, Some(body)).await
            }));
        }
    }
    for task in tasks {
        let (status, user) = task.await.unwrap();
        assert_eq!(status, 200, "{user}");
    }
    for (i, id) in ids.iter().enumerate() {
        let (_, user) = get(&app, &format!("/Users/{id}")).await;
        assert_eq!(user["title"], format!("title {i}"), "{user}");
        assert_eq!(
            user["emails"][0]["value"],
            format!("work{i}@example.com"),
            "{user}"
        );
        assert_eq!(user["active"], false, "{user}");
        assert_eq!(user["meta"]["version"], "W/\"4\"", "{user}");
        let filter = urlencode(&format!("emails.value eq \"work{i}@example.com\""));
        let (_, found) = get(&app, &format!("/Users?filter={filter}")).await;
        assert_eq!(found["Resources"][0]["id"], id.as_str(), "{found}");
    }
}

/// Reads that arrive together (on PostgreSQL, looked up in one statement;
/// on SQLite, by id and by userName, each on its request's thread):
/// two companies with the same userNames, every user asked for by id and by
/// userName in another case, at once, each answered with its own company's
/// user; another company's id is not found, an unknown name finds nothing,
/// and a lookup's paging holds (`startIndex=2`, `count=0`).
async fn reads_sent_together_each_get_their_own_answer(app: TestApp) {
    let other_key = app
        .key_for("acme", &teamtailor_scim::keys::Scope::ALL)
        .await;
    let mut users = Vec::new(); // (key, company, userName, id)
    for (key, company) in [(app.key.clone(), "default"), (other_key, "acme")] {
        for i in 0..12 {
            let name = format!("reader{i}@example.com");
            let (status, user) = send(
                &app.client,
                &app.address,
                &key,
                Method::POST,
                "/Users",
                Some(json!({"userName": name, "title": format!("{company} {i}")})),
            )
            .await;
            assert_eq!(status, 201, "{user}");
            let id = user["id"].as_str().unwrap().to_string();
            users.push((key.clone(), company, name, id));
        }
    }
    let mut tasks = Vec::new();
    for _round in 0..3 {
        for (n, (key, company, name, id)) in users.iter().enumerate() {
            let (twin_key, _, _, twin_id) = &users[(n + 12) % users.len()];
            let checks = [
                (format!("/Users/{id}"), Some(id.clone())),
                (format!("/Users/{twin_id}"), None),
                (
                    format!(
                        "/Users?filter={}",
                        urlencode(&format!("userName eq \"{}\"", name.to_uppercase()))
                    ),
                    Some(id.clone()),
                ),
                (
                    format!(
                        "/Users?filter={}",
                        urlencode(&format!("userName eq \"x{name}\""))
                    ),
                    None,
                ),
                (
                    format!(
                        "/Users?startIndex=2&filter={}",
                        urlencode(&format!("userName eq \"{name}\""))
                    ),
                    None,
                ),
                (
                    format!(
                        "/Users?count=0&filter={}",
                        urlencode(&format!("userName eq \"{name}\""))
                    ),
                    None,
                ),
            ];
            assert_ne!(key, twin_key);
            for (check, (path, expected)) in checks.into_iter().enumerate() {
                let (client, base, key) = (app.client.clone(), app.address.clone(), key.clone());
                let title_prefix = format!("{company} ");
                tasks.push(tokio::spawn(async move {
                    let (status, body) = send(&client, &base, &key, Method::GET, &path, None).await;
                    (check, path, status, body, expected, title_prefix)
                }));
            }
        }
    }
    for task in tasks {
        let (check, path, status, body, expected, title_prefix) = task.await.unwrap();
        let user = match check {
            0 => {
                assert_eq!(status, 200, "{path}: {body}");
                body
            }
            1 => {
                assert_eq!(status, 404, "{path}: another company's user: {body}");
                continue;
            }
            _ => {
                assert_eq!(status, 200, "{path}: {body}");
                let total = body["totalResults"].as_u64();
                let resources = body["Resources"].as_array().map_or(0, Vec::len);
                match check {
                    2 => {
                        assert_eq!((total, resources), (Some(1), 1), "{path}: {body}");
                        body["Resources"][0].clone()
                    }
                    3 => {
                        assert_eq!((total, resources), (Some(0), 0), "{path}: {body}");
                        continue;
                    }
                    _ => {
                        assert_eq!((total, resources), (Some(1), 0), "{path}: {body}");
                        continue;
                    }
                }
            }
        };
        assert_eq!(user["id"].as_str(), expected.as_deref(), "{path}: {user}");
        let title = user["title"].as_str().unwrap_or_default();
        assert!(title.starts_with(&title_prefix), "{path}: {user}");
    }
    // A lookup's sortBy is checked as any list's.
    let filter = urlencode("userName eq \"reader1@example.com\"");
    for sort_by in ["emails", "nosuch"] {
        let (status, error) = get(&app, &format!("/Users?filter={filter}&sortBy={sort_by}")).await;
        assert_eq!(status, 400, "{sort_by}: {error}");
        assert_eq!(error["scimType"], "invalidPath", "{sort_by}: {error}");
    }
}

/// Writes that arrive together (on SQLite, committed in one transaction):
/// a taken userName fails its own create only, the others land, and every
/// acknowledged write is there afterwards.
async fn writes_sent_together_each_get_their_own_outcome(app: TestApp) {
    let (taken, _) = send(
        &app.client,
        &app.address,
        &app.key,
        Method::POST,
        "/Users",
        Some(json!({"userName": "taken@example.com"})),
    )
    .await;
    assert_eq!(taken, 201);
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let (client, base, key) = (app.client.clone(), app.address.clone(), app.key.clone());
            tokio::spawn(async move {
                // Every third a name already taken (in another case).
                let name = match i % 3 {
                    0 => "TAKEN@example.com".to_string(),
                    _ => format!("together{i}@example.com"),
                };
                let (status, user) = send(
                    &client,
                    &base,
                    &key,
                    Method::POST,
                    "/Users",
                    Some(json!({"userName": name, "title": format!("t{i}")})),
                )
                .await;
                (name, status, user)
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        let (name, status, user) = task.await.unwrap();
        if name.starts_with("TAKEN") {
            assert_eq!(status, 409, "{user}");
            assert_eq!(user["scimType"], "uniqueness", "{user}");
        } else {
            assert_eq!(status, 201, "{user}");
            created.push((name, user["id"].as_str().unwrap().to_string()));
        }
    }
    // Patch and delete them all at once too: each answer is its own.
    let tasks: Vec<_> = created
        .iter()
        .enumerate()
        .map(|(i, (_, id))| {
            let (client, base, key, id) = (
                app.client.clone(),
                app.address.clone(),
                app.key.clone(),
                id.clone(),
            );
            tokio::spawn(async move {
                let (method, body) = if i % 2 == 0 {
                    (Method::DELETE, None)
                } else {
                    (
                        Method::PATCH,
                        Some(json!({
                            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "title", "value": format!("patched{i}")}],
                        })),
                    )
                };
                send(&client, &base, &key, method, &format!("/Users/{id}"), body)
                    .await
                    .0
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let status = task.await.unwrap();
        assert_eq!(status, if i % 2 == 0 { 204 } else { 200 });
    }
    for (i, (name, id)) in created.iter().enumerate() {
        let (status, user) = get(&app, &format!("/Users/{id}")).await;
        if i % 2 == 0 {
            assert_eq!(status, 404, "{name} was deleted: {user}");
        } else {
            assert_eq!(status, 200, "{user}");
            assert_eq!(user["userName"], name.as_str());
            assert_eq!(user["title"], format!("patched{i}"));
        }
    }
    let list = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 1 + created.len() / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_share_uniqueness_and_versions() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let second = app.another_instance().await;
    let bases = vec![app.address.clone(), second.clone()];

    // Duplicate creates split across both instances: exactly one 201.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (client, base, key) = (app.client.clone(), bases[i % 2].clone(), app.key.clone());
            tokio::spawn(async move {
                let name = if i % 3 == 0 {
                    "SHARED@example.com"
                } else {
                    "shared@example.com"
                };
                send(
                    &client,
                    &base,
                    &key,
                    Method::POST,
                    "/Users",
                    Some(json!({"userName": name})),
                )
                .await
                .0
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap().as_u16() {
            201 => created += 1,
            409 => {}
            other => panic!("create answered {other}"),
        }
    }
    assert_eq!(created, 1);

    // A write on one instance is seen, with its new version, on the other.
    let id = lookup(&app.client, &second, &app.key, "shared@example.com")
        .await
        .unwrap();
    let path = format!("/Users/{id}");
    let (_, before) = send(&app.client, &second, &app.key, Method::GET, &path, None).await;
    let old_version = before["meta"]["version"].as_str().unwrap().to_string();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]
    });
    let (status, patched) = send(
        &app.client,
        &app.address,
        &app.key,
        Method::PATCH,
        &path,
        Some(patch.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let (_, seen) = send(&app.client, &second, &app.key, Method::GET, &path, None).await;
    assert_eq!(seen["title"], "Engineer");
    assert_eq!(seen["meta"]["version"], patched["meta"]["version"]);
    assert_ne!(seen["meta"]["version"], old_version.as_str());

    // The old version is refused on the other instance.
    let response = app
        .client
        .patch(format!("{second}/scim/v2{path}"))
        .bearer_auth(&app.key)
        .header("content-type", SCIM_JSON)
        .header("if-match", &old_version)
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    // Deleted through one, gone from the other.
    let (status, _) = send(
        &app.client,
        &app.address,
        &app.key,
        Method::DELETE,
        &path,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(&app.client, &second, &app.key, Method::GET, &path, None).await;
    assert_eq!(status, 404);

    // And the mixed race holds across both.
    race(&app, bases).await;
}
