//! The provisioning journal: what each request sent and got, what it changed,
//! redacted, bounded, queryable and streamed.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use teamtailor_scim::journal::Retention;
use teamtailor_scim::keys::{Scope, Secret};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

both_backends!(
    ;
    backend:
    records_requests_changes_and_redacts,
    retention_bounds_the_journal,
    large_bodies_are_cut,
    a_cut_body_keeps_whole_characters,
    a_burst_of_large_bodies_is_written_whole,
    unparseable_bodies_are_kept_by_size_only,
    retention_removes_old_entries,
    deletes_are_recorded_as_changes,
    a_users_history_is_found_with_or_without_the_company,
    a_reset_deletes_the_companys_entries_only,
    texts_with_tabs_newlines_and_backslashes_are_kept_exactly,
);

const OPERATOR: &str = "operator-token";

async fn app(backend: Backend, retention: Option<Retention>) -> Option<TestApp> {
    spawn_app_with(backend, |s| {
        s.admin_token = Some(Secret::new(OPERATOR));
        if let Some(retention) = retention {
            s.journal_retention = retention;
        }
    })
    .await
}

async fn journal(app: &TestApp, query: &str) -> Value {
    let response = app
        .client
        .get(format!("{}/admin/journal?{query}", app.address))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

/// Waits until the background writer has stored `count` entries.
async fn entries(app: &TestApp, query: &str, count: usize) -> Vec<Value> {
    for _ in 0..50 {
        let body = journal(app, query).await;
        let entries = body["entries"].as_array().unwrap().clone();
        if entries.len() >= count {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the journal did not reach {count} entries for {query}");
}

async fn records_requests_changes_and_redacts(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    let okta = |method: Method, path: &str| {
        app.client
            .request(method, app.scim(path))
            .header("Authorization", &app.key)
            .header("User-Agent", "Okta SCIM Client 1.0.0")
    };
    let created: Value = okta(Method::POST, "/Users")
        .json(&json!({"userName": "j@example.com", "password": "Hunter2!secret", "title": "Dev"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let patch = json!({"Operations": [
        {"op": "replace", "value": {"active": false, "title": "Lead"}},
        {"op": "replace", "path": "password", "value": "An0ther-secret"}
    ]});
    assert_eq!(
        okta(Method::PATCH, &format!("/Users/{id}"))
            .json(&patch)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        okta(Method::GET, "/Users/999999")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let api = app
        .client
        .get(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .header("User-Agent", "curl/8.5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);

    let all = entries(&app, "company=default", 4).await;
    let text = serde_json::to_string(&all).unwrap();
    for secret in ["Hunter2!secret", "An0ther-secret", &app.key] {
        assert!(!text.contains(secret), "the journal never holds secrets");
    }
    let api_entry = &all[0];
    assert_eq!(api_entry["client"], "curl");
    assert_eq!(api_entry["path"], "/v1/users");
    let missing = &all[1];
    assert_eq!(
        (missing["status"].as_u64(), missing["client"].as_str()),
        (Some(404), Some("Okta"))
    );
    let patched = &all[2];
    assert_eq!(patched["method"], "PATCH");
    assert_eq!(patched["user_id"].as_i64().unwrap().to_string(), id);
    assert_eq!(patched["change"]["kind"], "updated");
    assert_eq!(
        patched["change"]["role"],
        json!({"from": "user", "to": "no_access"})
    );
    let changed: Vec<&str> = patched["change"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attribute"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["active", "title"]);
    assert_eq!(
        patched["request_body"]["Operations"][1]["value"],
        "[redacted]"
    );
    assert_eq!(patched["response_body"]["active"], false);
    let create = &all[3];
    assert_eq!(create["change"], json!({"kind": "created", "role": "user"}));
    assert_eq!(create["request_body"]["password"], "[redacted]");
    assert!(create["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(create["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    assert!(create["time"].as_str().unwrap().ends_with('Z'));

    // Filters and paging.
    assert_eq!(
        journal(&app, &format!("user={id}")).await["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        journal(&app, "client=okta").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        journal(&app, "status=4xx").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        journal(&app, "since=2999-01-01T00:00:00Z").await["entries"],
        json!([])
    );
    let first_page = journal(&app, "limit=2").await;
    let next = first_page["next_before"].as_i64().unwrap();
    let second_page = journal(&app, &format!("limit=2&before={next}")).await;
    assert_eq!(second_page["entries"].as_array().unwrap().len(), 2);
    assert_ne!(
        first_page["entries"][0]["id"],
        second_page["entries"][0]["id"]
    );

    // Companies see only their own journal.
    let other = app.key_for("acme", &[Scope::Scim]).await;
    app.send_as(&other, Method::GET, "/Users", None).await;
    entries(&app, "company=acme", 1).await;
    assert_eq!(
        journal(&app, "company=default").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let bad = app
        .client
        .get(format!("{}/admin/journal?status=abc", app.address))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// Tabs, newlines, carriage returns and backslashes (and a text that reads
/// `\N`) in every kind of text an entry holds come back as they were sent.
async fn texts_with_tabs_newlines_and_backslashes_are_kept_exactly(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    let title = "Lead\tDev\nline two\r\\N back\\slash \\";
    let new_title = "\\\t\n";
    let agent = "Okta\tSCIM \\client\\N";
    let request_id = "req\\id\\t";
    let send = |method: Method, path: &str, body: Value| {
        app.client
            .request(method, app.scim(path))
            .header("Authorization", &app.key)
            .header("User-Agent", agent)
            .header("x-request-id", request_id)
            .json(&body)
            .send()
    };
    let created = send(
        Method::POST,
        "/Users",
        json!({"userName": "escapes@example.com", "title": title}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["title"], title);
    let id = created["id"].as_str().unwrap();
    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": new_title}]});
    let patched = send(Method::PATCH, &format!("/Users/{id}"), patch)
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);

    let all = entries(&app, "company=default", 2).await;
    let (patch, create) = (&all[0], &all[1]);
    for entry in [patch, create] {
        assert_eq!(entry["user_agent"], agent);
        assert_eq!(entry["request_id"], request_id);
    }
    assert_eq!(create["request_body"]["title"], title);
    assert_eq!(create["response_body"]["title"], title);
    assert_eq!(patch["request_body"]["Operations"][0]["value"], new_title);
    assert_eq!(patch["response_body"]["title"], new_title);
    assert_eq!(
        patch["change"]["attributes"],
        json!([{"attribute": "title", "from": title, "to": new_title}])
    );
}

async fn retention_bounds_the_journal(backend: Backend) {
    let retention = Retention {
        max_entries_per_company: 5,
        max_age: Duration::from_secs(3600),
        check_every: Duration::from_millis(200),
    };
    let Some(app) = app(backend, Some(retention)).await else {
        return;
    };
    for _ in 0..12 {
        app.get("/Users").await;
    }
    let mut kept = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        kept = journal(&app, "company=default").await["entries"]
            .as_array()
            .unwrap()
            .len();
        if kept == 5 {
            break;
        }
    }
    assert_eq!(kept, 5, "only the newest entries are kept");
}

#[tokio::test]
async fn the_journal_streams_requests_as_server_sent_events() {
    let app = app(Backend::Sqlite, None).await.unwrap();
    let mut stream = app
        .client
        .get(format!(
            "{}/admin/journal/stream?company=default",
            app.address
        ))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    app.create_user(&json!({"userName": "live@example.com"}))
        .await;
    let mut received = String::new();
    while !received.contains("live@example.com") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event arrives")
            .unwrap()
            .expect("the stream stays open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.contains("event: request"));
    assert!(received.contains("\"kind\":\"created\""));
}

/// 60 users whose list (`/Users?count=60`) is longer than a body kept.
async fn create_long_users(app: &TestApp) {
    for i in 0..60 {
        app.create_user(&json!({
            "userName": format!("long{i}@example.com"),
            "title": "x".repeat(300),
        }))
        .await;
    }
}

/// A large answer (a page of users) is kept cut to size, as text.
async fn large_bodies_are_cut(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    create_long_users(&app).await;
    let list = app.get_json("/Users?count=60").await;
    let size = list.to_string().len();
    assert!(size > 16 * 1024);
    // Newest first: the list, once all 61 requests are written.
    let listed = entries(&app, "limit=100", 61).await;
    let body = listed[0]["response_body"].as_str().expect("cut to text");
    assert!(body.starts_with("{\"schemas\""), "{body}");
    assert!(
        body.ends_with(&format!("… ({size} bytes)")),
        "{}",
        &body[body.len() - 40..]
    );
    assert!(body.len() < 17 * 1024);
}

/// A body cut inside a character keeps the characters before it whole:
/// the journal shows exactly the start of what was sent.
async fn a_cut_body_keeps_whole_characters(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    for i in 0..40 {
        app.create_user(&json!({
            "userName": format!("accent{i}@example.com"),
            // Users of many lengths, odd and even: pages from different
            // starts are cut at different places.
            "title": format!("{}{}", "é".repeat(50 + i * 37 % 200), "x".repeat(i % 2)),
            "name": {"formatted": "é".repeat(255)},
        }))
        .await;
    }
    let mut sent = Vec::new();
    for start in 1..=20 {
        let path = format!("/Users?startIndex={start}&count=20");
        let text = app.get(&path).await.text().await.unwrap();
        sent.push((path, text));
    }
    let split = |text: &str| !text.is_char_boundary(16 * 1024);
    assert!(
        sent.iter().any(|(_, text)| split(text)),
        "some page is cut inside a character"
    );
    let written = entries(&app, "limit=100", 60).await;
    for (path, text) in &sent {
        let entry = written
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(path.as_str()))
            .unwrap_or_else(|| panic!("{path} journaled"));
        let mut end = 16 * 1024;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let expected = format!("{}… ({} bytes)", &text[..end], text.len());
        assert_eq!(entry["response_body"].as_str(), Some(expected.as_str()));
    }
}

/// More cut bodies at once than the writer takes in one batch (1 MiB):
/// every entry is still written, once, in order.
async fn a_burst_of_large_bodies_is_written_whole(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    create_long_users(&app).await;
    let lists = (0..100).map(|_| app.get_json("/Users?count=60"));
    let sizes: Vec<usize> = futures_util::future::join_all(lists)
        .await
        .iter()
        .map(|list| list.to_string().len())
        .collect();
    assert!(sizes.iter().all(|&size| size > 16 * 1024));
    let written = entries(&app, "limit=1000", 160).await;
    assert_eq!(written.len(), 160);
    let ids: Vec<i64> = written.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, once each"
    );
    let cut = written[..100]
        .iter()
        .map(|e| e["response_body"].as_str().unwrap());
    for body in cut {
        assert!(body.starts_with("{\"schemas\""), "{body}");
        assert!(body.ends_with(&format!("… ({} bytes)", sizes[0])));
    }
    assert!(written[100..].iter().all(|e| e["method"] == "POST"));
}

#[tokio::test]
async fn the_journal_can_be_switched_off() {
    let retention = Retention {
        max_entries_per_company: 0,
        ..Retention::default()
    };
    let app = app(Backend::Sqlite, Some(retention)).await.unwrap();
    app.create_user(&json!({"userName": "off@example.com"}))
        .await;
    app.get_json("/Users").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(journal(&app, "").await["entries"], json!([]));
}

/// A body that is not JSON cannot be searched for secrets: only its size is kept.
async fn unparseable_bodies_are_kept_by_size_only(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    let scim_body = r#"{"userName":"u@example.com","password":"Tr4iling-comma",}"#;
    let scim = app
        .client
        .post(app.scim("/Users"))
        .bearer_auth(&app.key)
        .header("Content-Type", "application/scim+json")
        .body(scim_body)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 400);
    let api_body = r#"{"data": {"type": "users", "attributes": {"password": "Api-s3cret"}"#;
    let api = app
        .client
        .post(format!("{}/v1/users", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .header("Content-Type", "application/vnd.api+json")
        .body(api_body)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 400);

    let all = entries(&app, "company=default", 2).await;
    let text = serde_json::to_string(&all).unwrap();
    for secret in ["Tr4iling-comma", "Api-s3cret"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert_eq!(
        all[0]["request_body"],
        format!("<unparseable body: {} bytes>", api_body.len())
    );
    assert_eq!(
        all[1]["request_body"],
        format!("<unparseable body: {} bytes>", scim_body.len())
    );
    assert_eq!(all[1]["response_body"]["scimType"], "invalidSyntax");
}

async fn retention_removes_old_entries(backend: Backend) {
    let max_age = Duration::from_secs(2);
    let retention = Retention {
        max_entries_per_company: 1000,
        max_age,
        check_every: Duration::from_millis(100),
    };
    let Some(app) = app(backend, Some(retention)).await else {
        return;
    };
    for _ in 0..3 {
        app.get("/Users?old").await;
    }
    entries(&app, "company=default", 3).await;
    tokio::time::sleep(max_age + Duration::from_millis(200)).await;
    for _ in 0..2 {
        app.get("/Users?new").await;
    }
    // The old entries go within a check; the new ones stay for `max_age`.
    let mut paths = Vec::new();
    for _ in 0..10 {
        let kept = journal(&app, "company=default").await["entries"]
            .as_array()
            .unwrap()
            .clone();
        paths = kept
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect();
        if paths == ["/scim/v2/Users?new", "/scim/v2/Users?new"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected only the new entries, kept {paths:?}");
}

async fn deletes_are_recorded_as_changes(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    let by_scim = app
        .create_user(&json!({"userName": "scim-gone@example.com"}))
        .await;
    let by_api = app
        .create_user(&json!({"userName": "api-gone@example.com"}))
        .await;
    let scim_id = by_scim["id"].as_str().unwrap();
    let api_id = by_api["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/Users/{scim_id}")).await.status(), 204);
    let deleted = app
        .client
        .delete(format!("{}/v1/users/{api_id}", app.address))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let all = entries(&app, "company=default", 4).await;
    let deletes: Vec<(String, String, &Value)> = all
        .iter()
        .filter(|e| e["method"] == "DELETE")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["user_id"].to_string(),
                &e["change"],
            )
        })
        .collect();
    assert_eq!(
        deletes,
        [
            (
                format!("/v1/users/{api_id}"),
                api_id.to_string(),
                &json!({"kind": "deleted"})
            ),
            (
                format!("/scim/v2/Users/{scim_id}"),
                scim_id.to_string(),
                &json!({"kind": "deleted"})
            ),
        ]
    );
}

/// The paths of a journal answer, newest first.
fn paths(body: &Value) -> Vec<String> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["method"].as_str().unwrap(),
                e["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// A user's history among other users' requests and another company's:
/// by company and user, by user alone, and paged.
async fn a_users_history_is_found_with_or_without_the_company(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    let acme = app.key_for("acme", &[Scope::Scim]).await;
    let ann = app
        .create_user(&json!({"userName": "ann@example.com"}))
        .await;
    let bob = app
        .create_user(&json!({"userName": "bob@example.com"}))
        .await;
    let created = app
        .send_as(
            &acme,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "cy@example.com"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let cy: Value = created.json().await.unwrap();
    let (ann, bob, cy) = (
        ann["id"].as_str().unwrap(),
        bob["id"].as_str().unwrap(),
        cy["id"].as_str().unwrap(),
    );
    let deactivate = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]
    });
    for round in 0..3 {
        assert_eq!(app.get(&format!("/Users/{ann}")).await.status(), 200);
        assert_eq!(app.get(&format!("/Users/{bob}")).await.status(), 200);
        let cy_path = format!("/Users/{cy}");
        assert_eq!(
            app.send_as(&acme, Method::GET, &cy_path, None)
                .await
                .status(),
            200
        );
        if round == 1 {
            let patched = app
                .send(Method::PATCH, &format!("/Users/{ann}"), Some(&deactivate))
                .await;
            assert_eq!(patched.status(), 200);
        }
    }
    // 3 creates, 9 reads and a PATCH.
    entries(&app, "", 13).await;

    let get = |id: &str| format!("GET /scim/v2/Users/{id}");
    let patch = format!("PATCH /scim/v2/Users/{ann}");
    let post = "POST /scim/v2/Users".to_string();
    let anns = vec![get(ann), patch, get(ann), get(ann), post.clone()];
    for query in [format!("company=default&user={ann}"), format!("user={ann}")] {
        assert_eq!(paths(&journal(&app, &query).await), anns, "{query}");
    }
    assert_eq!(
        paths(&journal(&app, &format!("company=acme&user={ann}")).await),
        Vec::<String>::new()
    );
    let cys = vec![get(cy), get(cy), get(cy), post];
    assert_eq!(paths(&journal(&app, &format!("user={cy}")).await), cys);
    assert_eq!(
        paths(&journal(&app, &format!("company=acme&user={cy}")).await),
        cys
    );

    // Paged two at a time, newest first.
    let mut paged = Vec::new();
    let mut query = format!("company=default&user={ann}&limit=2");
    loop {
        let page = journal(&app, &query).await;
        paged.extend(paths(&page));
        match page["next_before"].as_i64() {
            Some(before) => query = format!("company=default&user={ann}&limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(paged, anns);
}

/// SQLite keeps the journal in a file beside the database (`test.db` ->
/// `test.journal.db`). Another database put in place of the first (both
/// number companies from 1) must not show the first one's journal; one
/// created anew empties the file when it is made.
#[tokio::test]
async fn a_journal_file_of_another_database_is_not_shown() {
    let app = app(Backend::Sqlite, None).await.unwrap();
    app.create_user(&json!({"userName": "first-database@example.com"}))
        .await;
    entries(&app, "company=default", 1).await;
    let database = app.sqlite_path();
    let journal_file = std::path::Path::new(&database).with_extension("journal.db");
    assert!(journal_file.exists(), "{}", journal_file.display());

    let other = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let other = other.sqlite_path();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{database}{suffix}"));
        if std::path::Path::new(&format!("{other}{suffix}")).exists() {
            std::fs::copy(format!("{other}{suffix}"), format!("{database}{suffix}")).unwrap();
        }
    }
    let again = app
        .reopened(|s| s.admin_token = Some(Secret::new(OPERATOR)))
        .await;
    let body = journal(&again, "company=default").await;
    assert_eq!(body["entries"], json!([]), "{body}");
    again
        .create_user(&json!({"userName": "second-database@example.com"}))
        .await;
    let recorded = entries(&again, "company=default", 1).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["method"], "POST");
}

/// SQLite's journal file keeps long bodies compressed (a BLOB of a few KiB
/// for a list page's 16 KiB) and short ones as text; entries read the same
/// either way, text written by an earlier version included, and a damaged
/// compressed body reads as a note instead of failing the listing.
#[tokio::test]
async fn long_bodies_are_kept_compressed_in_the_journal_file() {
    let app = app(Backend::Sqlite, None).await.unwrap();
    create_long_users(&app).await;
    let list = app.get_json("/Users?count=60").await;
    let size = list.to_string().len();
    let listed = entries(&app, "limit=100", 61).await;
    let shown = listed[0]["response_body"].as_str().unwrap().to_string();
    assert!(shown.starts_with("{\"schemas\""), "{shown}");
    assert!(shown.ends_with(&format!("… ({size} bytes)")));

    let journal_file = std::path::Path::new(&app.sqlite_path()).with_extension("journal.db");
    let file = sqlx::SqlitePool::connect(&format!("sqlite://{}", journal_file.display()))
        .await
        .unwrap();
    let stored: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, typeof(response_body), length(response_body) FROM journal ORDER BY id DESC",
    )
    .fetch_all(&file)
    .await
    .unwrap();
    let (list_id, kind, length) = stored[0].clone();
    assert_eq!(kind, "blob", "{stored:?}");
    assert!(length < 6 * 1024, "a cut list page kept in {length} bytes");
    // The users' POSTs answered ~500 bytes each: kept as text.
    assert!(
        stored[1..].iter().all(|(_, kind, _)| kind == "text"),
        "{stored:?}"
    );

    // As an earlier version wrote it (text), and damaged.
    let created_id = stored[1].0;
    sqlx::query("UPDATE journal SET response_body = $1 WHERE id = $2")
        .bind(&shown)
        .bind(list_id)
        .execute(&file)
        .await
        .unwrap();
    sqlx::query("UPDATE journal SET response_body = x'ffffff7f0102' WHERE id = $1")
        .bind(created_id)
        .execute(&file)
        .await
        .unwrap();
    file.close().await;
    let again = journal(&app, "limit=2").await;
    assert_eq!(again["entries"][0]["response_body"], shown.as_str());
    assert_eq!(
        again["entries"][1]["response_body"],
        "<unreadable compressed body: 6 bytes>"
    );
}

/// PostgreSQL keeps a long body (a list page's) compressed with lz4 where
/// the server was built with it (else with its default, pglz), and the
/// entry shows it as it was answered.
#[tokio::test]
async fn long_bodies_are_compressed_with_lz4_on_postgresql() {
    let Some(app) = app(Backend::Postgres, None).await else {
        return;
    };
    create_long_users(&app).await;
    let list = app.get_json("/Users?count=60").await;
    let size = list.to_string().len();
    let listed = entries(&app, "limit=100", 61).await;
    let shown = listed[0]["response_body"].as_str().unwrap();
    assert!(shown.starts_with("{\"schemas\""), "{shown}");
    assert!(shown.ends_with(&format!("… ({size} bytes)")));

    let database = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (methods,): (Vec<String>,) =
        sqlx::query_as("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
            .fetch_one(&database)
            .await
            .unwrap();
    let (compression,): (Option<String>,) =
        sqlx::query_as("SELECT pg_column_compression(response_body) FROM journal WHERE id = $1")
            .bind(listed[0]["id"].as_i64().unwrap())
            .fetch_one(&database)
            .await
            .unwrap();
    let expected = if methods.iter().any(|m| m == "lz4") {
        "lz4"
    } else {
        "pglz"
    };
    assert_eq!(compression.as_deref(), Some(expected), "{methods:?}");
    database.close().await;
}

/// PostgreSQL indexes a company's entries once, in order with the user each
/// is about (as SQLite's journal file does), and finds a user's history
/// through that index.
#[tokio::test]
async fn postgresql_indexes_each_companys_entries_in_order() {
    let Some(app) = app(Backend::Postgres, None).await else {
        return;
    };
    let ann = app
        .create_user(&json!({"userName": "ann@example.com"}))
        .await;
    let ann = ann["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/Users/{ann}")).await.status(), 200);
    app.get("/Users?count=1").await;
    entries(&app, "company=default", 3).await;

    let database = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'journal' ORDER BY indexname",
    )
    .fetch_all(&database)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        ["journal_at", "journal_company_entries", "journal_pkey"]
    );
    let company: i64 = sqlx::query_scalar("SELECT company_id FROM journal LIMIT 1")
        .fetch_one(&database)
        .await
        .unwrap();
    let mut transaction = database.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *transaction)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM journal WHERE company_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT 50",
    )
    .bind(company)
    .bind(ann.parse::<i64>().unwrap())
    .fetch_all(&mut *transaction)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("journal_company_entries"), "{plan}");
    transaction.rollback().await.unwrap();
    database.close().await;

    let history = journal(&app, &format!("company=default&user={ann}")).await;
    assert_eq!(
        paths(&history),
        [
            format!("GET /scim/v2/Users/{ann}"),
            "POST /scim/v2/Users".into()
        ]
    );
}

/// A journal file written by an earlier version (entries indexed by user
/// and by company apart) keeps its entries and histories once a server
/// starts on it, and is left with the one index of each company's entries.
#[tokio::test]
async fn a_journal_file_of_an_earlier_version_is_upgraded() {
    let app = app(Backend::Sqlite, None).await.unwrap();
    let ann = app
        .create_user(&json!({"userName": "ann@example.com"}))
        .await;
    let ann = ann["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&format!("/Users/{ann}")).await.status(), 200);
    entries(&app, "company=default", 2).await;

    let journal_file = std::path::Path::new(&app.sqlite_path()).with_extension("journal.db");
    let url = format!("sqlite://{}", journal_file.display());
    let indexes = |pool: sqlx::SqlitePool| async move {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'journal' ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        names
    };
    let earlier = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE INDEX journal_company_id ON journal (company_id, id);
         CREATE INDEX journal_company_user ON journal (company_id, user_id, id);
         DROP INDEX journal_company_entries;",
    )
    .execute(&earlier)
    .await
    .unwrap();
    assert_eq!(
        indexes(earlier).await,
        ["journal_at", "journal_company_id", "journal_company_user"]
    );

    let again = app
        .reopened(|s| s.admin_token = Some(Secret::new(OPERATOR)))
        .await;
    assert_eq!(again.get(&format!("/Users/{ann}")).await.status(), 200);
    let history = entries(&again, &format!("company=default&user={ann}"), 3).await;
    let methods: Vec<&str> = history
        .iter()
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET", "GET", "POST"]);
    let upgraded = sqlx::SqlitePool::connect(&url).await.unwrap();
    assert_eq!(
        indexes(upgraded).await,
        ["journal_at", "journal_company_entries"]
    );
}

/// A company's reset deletes its journal entries and no other company's.
/// On PostgreSQL entries name their company without a foreign key
/// (migration 0016): the reset deletes them itself.
async fn a_reset_deletes_the_companys_entries_only(backend: Backend) {
    let Some(app) = app(backend, None).await else {
        return;
    };
    app.create_user(&json!({"userName": "ann@example.com"}))
        .await;
    let other = app.key_for("acme", &[Scope::Scim]).await;
    app.send_as(&other, Method::GET, "/Users", None).await;
    entries(&app, "company=default", 1).await;
    entries(&app, "company=acme", 1).await;

    let reset = app
        .client
        .post(format!("{}/admin/companies/default/reset", app.address))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let left = journal(&app, "company=default").await;
    let paths: Vec<&str> = left["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["path"].as_str().unwrap())
        .collect();
    assert!(
        !paths.iter().any(|path| path.starts_with("/scim/")),
        "{paths:?}"
    );
    assert_eq!(entries(&app, "company=acme", 1).await.len(), 1);

    if backend == Backend::Postgres {
        let database = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let (keys,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_constraint \
             WHERE conrelid = 'journal'::regclass AND contype = 'f'",
        )
        .fetch_one(&database)
        .await
        .unwrap();
        assert_eq!(keys, 0);
        database.close().await;
    }
}
