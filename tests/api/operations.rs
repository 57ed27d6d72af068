//! Operations: metrics, health, readiness, request ids.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    create_database, key_poll, postgres_admin_url, spawn_app, Backend, TestApp, SCIM_JSON,
};

both_backends!(
    metrics_expose_requests_latency_and_users,
    request_ids_are_kept_or_made,
    health_and_readiness;
    backend: reads_of_one_user_are_answered_on_the_request_thread,
    pages_are_read_on_the_request_thread_unless_they_take_long,
    deep_pages_start_after_a_remembered_sort_key,
    deep_pages_of_a_large_company_start_after_a_remembered_sort_key,
    writes_are_counted_by_the_transactions_they_took,
);

/// The text of a server's `/metrics`.
async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The value of one series (name and labels as written) in `metrics`.
fn series(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse::<f64>().unwrap())
}

/// On SQLite, creates and deletes that arrive together are committed
/// together, every one counted in `/metrics` with the transactions they
/// took, and the log's copies into the files are timed there; PostgreSQL
/// has no such series, but counts the creates it inserted together and the
/// statements they took, and the trigram indexes' pending-list pages merged
/// in the background.
async fn writes_are_counted_by_the_transactions_they_took(backend: Backend) {
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    let server = crate::crash::start(&database_url).await;
    let client = reqwest::Client::new();
    let users = format!("{}/scim/v2/Users", server.base);
    let creates = (0..40).map(|i| {
        client
            .post(&users)
            .bearer_auth(crate::crash::TOKEN)
            .header("content-type", SCIM_JSON)
            .json(&json!({
                "userName": format!("batch{i}@example.com"),
                "emails": [{"value": format!("batch{i}@example.com"), "type": "work"}],
            }))
            .send()
    });
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(creates).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    let one = format!("{users}/{}", ids[0].as_str().unwrap());
    let deleted = client.delete(&one).bearer_auth(crate::crash::TOKEN).send();
    assert_eq!(deleted.await.unwrap().status(), 204);
    let listed = client
        .get(format!("{users}?count=0"))
        .bearer_auth(crate::crash::TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["totalResults"], 39, "{listed}");

    let metrics = scrape(&client, &server.base).await;
    let writes = series(&metrics, "sqlite_group_commit_writes_total");
    let batches = series(&metrics, "sqlite_group_commit_batches_total");
    // The log's copies into both files, timed: each takes a sync of the file.
    let checkpoints = |file: &str| {
        let count = format!("sqlite_checkpoint_duration_seconds_count{{file=\"{file}\"}}");
        series(&metrics, &count)
    };
    match backend {
        Backend::Sqlite => {
            assert_eq!(writes, Some(41.0), "{metrics}");
            let batches = batches.unwrap();
            assert!((1.0..=41.0).contains(&batches), "{metrics}");
            assert!(checkpoints("database") >= Some(1.0), "{metrics}");
            assert!(checkpoints("journal") >= Some(1.0), "{metrics}");
            let bucket = r#"sqlite_checkpoint_duration_seconds_bucket{file="database",le="+Inf"}"#;
            assert_eq!(series(&metrics, bucket), checkpoints("database"));
        }
        Backend::Postgres => {
            assert_eq!((writes, batches), (None, None), "{metrics}");
            assert!(!metrics.contains("sqlite_checkpoint"), "{metrics}");
            // Creates go to PostgreSQL together, many to a statement.
            let asks = series(&metrics, r#"postgres_gathered_asks_total{kind="create"}"#);
            assert_eq!(asks, Some(40.0), "{metrics}");
            let batches = r#"postgres_gathered_batches_total{kind="create"}"#;
            let batches = series(&metrics, batches).unwrap();
            assert!((1.0..=40.0).contains(&batches), "{metrics}");
            // The new users' entries in the trigram indexes are merged from
            // their pending lists in the background, within a second or so.
            let merged = |metrics: &str, index: &str| {
                let pages =
                    format!("postgres_pending_list_pages_merged_total{{index=\"{index}\"}}");
                series(metrics, &pages).unwrap_or(0.0)
            };
            let indexes = ["users_user_name_trigram", "user_values_value_trigram"];
            let mut metrics = metrics;
            for _ in 0..50 {
                if indexes.iter().all(|index| merged(&metrics, index) >= 1.0) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                metrics = scrape(&client, &server.base).await;
            }
            for index in indexes {
                assert!(merged(&metrics, index) >= 1.0, "{index}: {metrics}");
            }
            let merges = r#"postgres_pending_list_merge_duration_seconds_count{index="users_user_name_trigram"}"#;
            assert!(series(&metrics, merges) >= Some(1.0), "{metrics}");
        }
    }
}

/// SQLite answers reads of one user (by id, by a unique key, and a PATCH's
/// read before its write) on the request's own thread, and counts them in
/// `/metrics`, here of a server process of its own. PostgreSQL has no such
/// reads; it counts its lookups, gathered, and the statements they took.
async fn reads_of_one_user_are_answered_on_the_request_thread(backend: Backend) {
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    let server = crate::crash::start(&database_url).await;
    let client = reqwest::Client::new();
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request
            .bearer_auth(crate::crash::TOKEN)
            .header("content-type", SCIM_JSON)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let users = format!("{}/scim/v2/Users", server.base);
    let (status, created) = send(client.post(&users).json(&json!({
        "userName": "inline@example.com",
        "externalId": "inline-1",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "inline@example.com", "type": "work", "primary": true}],
    })))
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let one = format!("{users}/{id}");

    let (status, fetched) = send(client.get(&one)).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    let (_, found) =
        send(client.get(format!("{users}?filter=externalId%20eq%20%22inline-1%22"))).await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0], created);
    let (_, none) = send(client.get(format!(
        "{users}?filter=userName%20eq%20%22nobody@example.com%22"
    )))
    .await;
    assert_eq!(none["totalResults"], 0, "{none}");
    assert_eq!(send(client.get(format!("{users}/999999"))).await.0, 404);
    let (status, patched) = send(client.patch(&one).json(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}],
    })))
    .await;
    assert_eq!(status, 200, "{patched}");
    // The write is seen by the next read on the request's thread.
    let (_, after) = send(client.get(&one)).await;
    assert_eq!(after["active"], false, "{after}");
    assert_eq!(after["meta"]["version"], patched["meta"]["version"]);

    let metrics = scrape(&client, &server.base).await;
    let read = series(&metrics, r#"sqlite_inline_reads_total{outcome="read"}"#);
    match backend {
        // GET, lookup, empty lookup, GET of a missing user, PATCH, GET.
        Backend::Sqlite => {
            assert!(read >= Some(6.0), "{metrics}");
            assert!(!metrics.contains(r#"outcome="fallback""#), "{metrics}");
            assert!(!metrics.contains("postgres_gathered"), "{metrics}");
        }
        // The same reads but the externalId lookup, gathered (each alone
        // here, one after another).
        Backend::Postgres => {
            assert!(!metrics.contains("sqlite_inline_reads_total"), "{metrics}");
            let asks = series(&metrics, r#"postgres_gathered_asks_total{kind="lookup"}"#);
            assert_eq!(asks, Some(5.0), "{metrics}");
            let batches = r#"postgres_gathered_batches_total{kind="lookup"}"#;
            assert_eq!(series(&metrics, batches), Some(5.0), "{metrics}");
        }
    }
}

/// SQLite reads pages of lists on the request's own thread too, with their
/// totals (remembered per connection and counted again after a write), but
/// stops a page that scans for longer than its budget (100,000 of SQLite's
/// instructions) and reads it through sqlx, with the same answer, as it then
/// does pages of that statement in that company at about that offset for a
/// while. Counted in `/metrics` of a server process of its own; PostgreSQL
/// has no such reads.
async fn pages_are_read_on_the_request_thread_unless_they_take_long(backend: Backend) {
    use std::io::Write;
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    const USERS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("users.jsonl");
    let mut file = std::fs::File::create(&fixture).unwrap();
    for i in 0..USERS {
        let user = json!({
            "userName": format!("user{i}@example.com"),
            "title": format!("Engineer {}", i % 40),
        });
        writeln!(file, "{user}").unwrap();
    }
    drop(file);
    let imported = tokio::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
        .args([
            "import",
            fixture.to_str().unwrap(),
            "--database-url",
            &database_url,
        ])
        .output()
        .await
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");

    let server = crate::crash::start(&database_url).await;
    let client = reqwest::Client::new();
    let users = format!("{}/scim/v2/Users", server.base);
    let get = |query: String| {
        let request = client.get(format!("{users}?{query}"));
        async move {
            let response = request
                .bearer_auth(crate::crash::TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let user_names = |page: &Value| -> Vec<String> {
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        resources
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };

    let page = get("startIndex=101&count=3&sortBy=userName".into()).await;
    assert_eq!(page["totalResults"], USERS, "{page}");
    let mut expected: Vec<String> = (0..USERS).map(|i| format!("user{i}@example.com")).collect();
    expected.sort();
    assert_eq!(user_names(&page), expected[100..103], "{page}");
    // Deep pages: the same users as a page across them, in every order.
    let mut descending = expected.clone();
    descending.reverse();
    for (order, sorted) in [
        ("", None),
        ("&sortBy=userName", Some(&expected)),
        ("&sortBy=userName&sortOrder=descending", Some(&descending)),
    ] {
        let across = user_names(&get(format!("startIndex=991&count=20{order}")).await);
        let deep = get(format!("startIndex=1001&count=10{order}")).await;
        assert_eq!(deep["totalResults"], USERS, "{deep}");
        assert_eq!(user_names(&deep), across[10..], "{order}");
        let last = user_names(&get(format!("startIndex=1996&count=10{order}")).await);
        assert_eq!(last.len(), 5, "{order}");
        if let Some(sorted) = sorted {
            assert_eq!(across, sorted[990..1010], "{order}");
            assert_eq!(last, sorted[1995..], "{order}");
        }
    }
    // The total again (remembered), then after a write (counted again).
    let again = get("startIndex=5&count=2".into()).await;
    assert_eq!(again["totalResults"], USERS, "{again}");
    let created = client
        .post(&users)
        .bearer_auth(crate::crash::TOKEN)
        .json(&json!({"userName": "newcomer@example.com", "title": "Engineer 7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let after = get("count=1".into()).await;
    assert_eq!(after["totalResults"], USERS + 1, "{after}");
    let titled = get("filter=title%20eq%20%22engineer%207%22&count=2".into()).await;
    assert_eq!(titled["totalResults"], USERS / 40 + 1, "{titled}");
    let past_the_end = get("filter=title%20eq%20%22engineer%207%22&startIndex=9999".into()).await;
    assert_eq!(
        past_the_end["totalResults"],
        USERS / 40 + 1,
        "{past_the_end}"
    );
    assert_eq!(user_names(&past_the_end), Vec::<String>::new());
    let metrics = scrape(&client, &server.base).await;
    let read = |metrics: &str| series(metrics, r#"sqlite_inline_reads_total{outcome="read"}"#);
    let over_budget = |metrics: &str| {
        series(
            metrics,
            r#"sqlite_inline_reads_total{outcome="over_budget"}"#,
        )
    };
    if backend == Backend::Sqlite {
        // The pages above (and the POST's check of its userName).
        assert!(read(&metrics) >= Some(14.0), "{metrics}");
        assert_eq!(over_budget(&metrics), None, "{metrics}");
    }

    // A search no index serves, of every user, many times over: longer
    // than a page may take on the request's thread on any machine.
    let slow = (0..60)
        .map(|n| format!("title%20co%20%22x{n}y%22%20or%20displayName%20co%20%22x{n}y%22"))
        .collect::<Vec<_>>()
        .join("%20or%20");
    let none = get(format!("filter={slow}&count=5")).await;
    assert_eq!(none["totalResults"], 0, "{none}");
    let sevens = get(format!(
        "filter={slow}%20or%20title%20co%20%22neer%207%22&count=5"
    ))
    .await;
    assert_eq!(sevens["totalResults"], USERS / 40 + 1, "{sevens}");
    assert_eq!(user_names(&sevens).len(), 5, "{sevens}");
    // The same statement again (at about the same offset) goes to sqlx
    // without trying.
    let again = get(format!("filter={slow}&count=7")).await;
    assert_eq!(again["totalResults"], 0, "{again}");
    // Far deeper, it is tried here again.
    let deep = get(format!("filter={slow}&startIndex=1000")).await;
    assert_eq!(deep["totalResults"], 0, "{deep}");
    let metrics = scrape(&client, &server.base).await;
    let skipped = series(&metrics, r#"sqlite_inline_reads_total{outcome="skipped"}"#);
    match backend {
        Backend::Sqlite => {
            assert_eq!(over_budget(&metrics), Some(3.0), "{metrics}");
            assert_eq!(skipped, Some(1.0), "{metrics}");
            assert!(!metrics.contains(r#"outcome="fallback""#), "{metrics}");
        }
        Backend::Postgres => assert!(!metrics.contains("sqlite_inline_reads_total"), "{metrics}"),
    }
}

/// Paging through the unfiltered list, by creation and by userName both
/// ways, gives every user once and in order, and so do pages at any offset:
/// on SQLite a deep page starts after the sort key of an earlier page's last
/// user (counted in `/metrics`), which holds while no write moves the list.
/// Imported users share their creation instant; users created after them
/// each have their own.
async fn deep_pages_start_after_a_remembered_sort_key(backend: Backend) {
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    const CREATED: usize = 30;
    let (server, imported) = serve_imported(&database_url, 600).await;
    let client = reqwest::Client::new();
    let users = format!("{}/scim/v2/Users", server.base);
    let create = |name: String| {
        let request = client.post(&users).bearer_auth(crate::crash::TOKEN);
        async move {
            let response = request.json(&json!({ "userName": name })).send().await;
            let response = response.unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        }
    };
    let page = |order: &str, start: usize, count: usize| {
        let url = format!("{users}?startIndex={start}&count={count}{order}");
        let request = client.get(url).bearer_auth(crate::crash::TOKEN);
        async move {
            let page = request.send().await.unwrap().json::<Value>().await.unwrap();
            let names: Vec<String> = (page["Resources"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|user| user["userName"].as_str().unwrap().to_owned())
                .collect();
            (page["totalResults"].as_u64().unwrap() as usize, names)
        }
    };
    let mut by_creation = imported.clone();
    for i in 0..CREATED {
        let name = format!("late{i:02}@example.com");
        create(name.clone()).await;
        by_creation.push(name);
    }
    let orders = |by_creation: &Vec<String>| {
        let mut ascending = by_creation.clone();
        ascending.sort();
        let descending: Vec<String> = ascending.iter().rev().cloned().collect();
        [
            ("", by_creation.clone()),
            ("&sortBy=userName", ascending),
            ("&sortBy=userName&sortOrder=descending", descending),
        ]
    };
    let deep_pages = |metrics: &str, start: &str| {
        let name = format!("sqlite_deep_pages_total{{start=\"{start}\"}}");
        series(metrics, &name).unwrap_or(0.0) as usize
    };

    let mut deep = 0;
    for (order, expected) in orders(&by_creation) {
        let mut paged = Vec::new();
        for start in (1..=expected.len()).step_by(37) {
            let (total, names) = page(order, start, 37).await;
            assert_eq!(total, expected.len(), "{order} at {start}");
            paged.extend(names);
            deep += usize::from(start > 1);
        }
        assert_eq!(paged, expected, "{order}");
        for start in [400, 12, 590, 251, 250, 601, 620, 630] {
            let (_, names) = page(order, start, 25).await;
            let end = expected.len().min(start - 1 + 25);
            assert_eq!(names, expected[start - 1..end], "{order} at {start}");
            deep += 1;
        }
        for start in [631, i64::MAX as usize] {
            let (total, past_the_end) = page(order, start, 25).await;
            assert_eq!((total, past_the_end.len()), (expected.len(), 0), "{order}");
            deep += 1;
        }
    }
    let metrics = scrape(&client, &server.base).await;
    let from_key = deep_pages(&metrics, "key");
    let from_offset = deep_pages(&metrics, "offset");
    match backend {
        Backend::Sqlite => {
            assert_eq!(from_key + from_offset, deep, "{metrics}");
            // All but a page before the first key and two past the end, in
            // each order, less any read another connection took over and a
            // page or two for each time the keys' last use was written meanwhile
            // (every 5 s), which moves the database's version.
            let fallback = r#"sqlite_inline_reads_total{outcome="fallback"}"#;
            let fallbacks = series(&metrics, fallback).unwrap_or(0.0) as usize;
            assert!(from_key + 9 + fallbacks + 6 >= deep, "{metrics}");
            assert!(from_key + 9 <= deep, "{metrics}");
        }
        Backend::Postgres => assert_eq!((from_key, from_offset), (0, 0), "{metrics}"),
    }

    // A write moves every position after it: a user created last whose
    // userName sorts in the middle, and the first user created deleted.
    let middle = "u299x@example.com".to_string();
    create(middle.clone()).await;
    by_creation.push(middle);
    let first = client
        .get(format!("{users}?count=1"))
        .bearer_auth(crate::crash::TOKEN);
    let first = first.send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(first["Resources"][0]["userName"], imported[0], "{first}");
    let id = first["Resources"][0]["id"].as_str().unwrap().to_owned();
    let deleted = client
        .delete(format!("{users}/{id}"))
        .bearer_auth(crate::crash::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    by_creation.remove(0);
    for (order, expected) in orders(&by_creation) {
        for start in [300, 40, 600] {
            let (total, names) = page(order, start, 25).await;
            assert_eq!(total, expected.len(), "{order} at {start}");
            let end = expected.len().min(start - 1 + 25);
            assert_eq!(names, expected[start - 1..end], "{order} at {start}");
        }
    }
}

/// A company large enough that counting its users takes longer than a page
/// may take on the request's thread has its pages read through sqlx; they
/// too start after a remembered sort key, and give the same users.
async fn deep_pages_of_a_large_company_start_after_a_remembered_sort_key(backend: Backend) {
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    const USERS: usize = 50_000;
    let (server, by_creation) = serve_imported(&database_url, USERS).await;
    let client = reqwest::Client::new();
    let users = format!("{}/scim/v2/Users", server.base);
    let mut by_user_name = by_creation.clone();
    by_user_name.sort();
    // Each deep page starts after the nearest key before it, unless that is
    // further back than half its offset (30,001: the nearest is at 2,000).
    let (mut from_keys, mut from_offsets) = (0, 0);
    for (order, expected) in [("", &by_creation), ("&sortBy=userName", &by_user_name)] {
        for start in [1, 1001, 2001, 30_001, 40_001, 49_501, 31_001] {
            let url = format!("{users}?startIndex={start}&count=1000{order}");
            let response = client.get(url).bearer_auth(crate::crash::TOKEN).send();
            let page = response.await.unwrap().json::<Value>().await.unwrap();
            assert_eq!(page["totalResults"], USERS, "{order} at {start}");
            let names: Vec<&str> = (page["Resources"].as_array().unwrap().iter())
                .map(|user| user["userName"].as_str().unwrap())
                .collect();
            let end = USERS.min(start - 1 + 1000);
            assert_eq!(names, expected[start - 1..end], "{order} at {start}");
            match start {
                1 => {}
                30_001 => from_offsets += 1,
                _ => from_keys += 1,
            }
        }
    }
    let metrics = scrape(&client, &server.base).await;
    let count = |name: &str| series(&metrics, name).unwrap_or(0.0) as usize;
    let from_key = count(r#"sqlite_deep_pages_total{start="key"}"#);
    let from_offset = count(r#"sqlite_deep_pages_total{start="offset"}"#);
    match backend {
        Backend::Sqlite => {
            // Every page left the request's thread (its count went over
            // budget, or its statement had at about its offset).
            let over = count(r#"sqlite_inline_reads_total{outcome="over_budget"}"#);
            let skipped = count(r#"sqlite_inline_reads_total{outcome="skipped"}"#);
            assert_eq!(over + skipped, 14, "{metrics}");
            assert_eq!(
                from_key + from_offset,
                from_keys + from_offsets,
                "{metrics}"
            );
            // Less a page or two for each time the keys' last use was written
            // meanwhile (every 5 s), which moves the database's version.
            assert!(from_key + 4 >= from_keys, "{metrics}");
            assert!(from_key <= from_keys, "{metrics}");
        }
        Backend::Postgres => assert_eq!((from_key, from_offset), (0, 0), "{metrics}"),
    }
}

/// A server process on a database into which `users` users were imported
/// (by `import`, at one instant), with their userNames in creation order:
/// `u<n>@example.com`, n running through 0..users in another order (7919 is
/// a prime that divides no count used here).
async fn serve_imported(database_url: &str, users: usize) -> (crate::crash::Server, Vec<String>) {
    use std::io::Write;
    let width = users.to_string().len() - 1;
    let user_names: Vec<String> = (0..users)
        .map(|i| format!("u{:0width$}@example.com", i * 7919 % users))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("users.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&fixture).unwrap());
    for name in &user_names {
        writeln!(file, "{}", json!({ "userName": name })).unwrap();
    }
    drop(file);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
        .args(["import", fixture.to_str().unwrap()])
        .args(["--database-url", database_url])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    (crate::crash::start(database_url).await, user_names)
}

/// The first response log line of `serve` (`TEAMTAILOR_SCIM_LOG_FORMAT` as
/// `format`, stderr a pipe) for a `GET /scim/v2/Users` sent with
/// `request_id`, and the key it was sent with.
async fn response_log_line(format: &str, request_id: &str) -> (String, &'static str) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let token = "log-test-token-0123456789abcdef0123456789abcdef";
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
        .current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bootstrap-token",
            token,
        ])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("TEAMTAILOR_SCIM_LOG_FORMAT", format)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = stdout
        .next_line()
        .await
        .unwrap()
        .expect("the listening line");
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the listening URL")
        .to_string();
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let response = reqwest::Client::new()
        .get(format!("{url}/scim/v2/Users"))
        .bearer_auth(token)
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let line = stderr.next_line().await.unwrap().expect("a log line");
            if line.contains(request_id) && line.contains("latency") {
                return line;
            }
        }
    })
    .await
    .expect("a response log line");
    (line, token)
}

/// `serve` with JSON logs writes one line per response carrying the
/// request id, the status and the latency.
#[tokio::test]
async fn responses_are_logged_as_json_with_their_request_id() {
    let (line, token) = response_log_line("json", "log-me-42").await;
    let entry: serde_json::Value = serde_json::from_str(&line).expect(&line);
    assert_eq!(entry["level"], "INFO", "{line}");
    assert_eq!(entry["span"]["request_id"], "log-me-42", "{line}");
    assert_eq!(entry["span"]["uri"], "/scim/v2/Users", "{line}");
    assert_eq!(entry["fields"]["status"], 200, "{line}");
    assert!(!line.contains(token), "the key leaked into the log: {line}");
}

/// Without a terminal, the plain text lines carry the request's span as
/// `name=value` fields, without colours.
#[tokio::test]
async fn responses_are_logged_as_text_with_their_request_id() {
    let (line, token) = response_log_line("text", "log-me-43").await;
    assert!(
        line.contains(r#"INFO request{method=GET uri=/scim/v2/Users request_id="log-me-43"}: "#),
        "{line}"
    );
    assert!(line.contains("status=200"), "{line}");
    assert!(!line.contains('\x1b'), "colours in a pipe: {line}");
    assert!(!line.contains(token), "the key leaked into the log: {line}");
}

async fn metrics_expose_requests_latency_and_users(app: TestApp) {
    app.create_user(&json!({"userName": "metrics@example.com"}))
        .await;
    app.get("/Users").await;
    app.get("/Users/999999").await;
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    // Every sample line parses as `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/scim/v2/Users",status="201"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/scim/v2/Users/{id}",status="404""#));
    assert!(text.contains("http_request_duration_seconds_bucket{"));
    // The recorder is process-wide and tests run in parallel: check the series, not its value.
    assert!(
        text.contains(r#"teamtailor_users{company="default"}"#),
        "{text}"
    );
    assert!(text.contains("journal_queued_entries "), "{text}");
}

/// Each method, route and status is a series of its own, counting exactly
/// its requests, those of paths no route serves included; a method made up
/// by the client is counted as `other`, never under its own name. Once,
/// not per backend: the metrics are the process's, and no other test makes
/// methods up, so the `other` series are this test's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_method_route_and_status() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let made_up = format!("COUNTED{}", rand::random::<u32>());
    let method = reqwest::Method::from_bytes(made_up.as_bytes()).unwrap();
    let mut sent = std::collections::HashMap::new();
    let paths = [
        ("/Users", 3),
        ("/Users?filter=%FF", 2),
        ("/Users/12", 4),
        ("/Nowhere", 2),
    ];
    for (path, times) in paths {
        for _ in 0..times {
            let response = app
                .client
                .request(method.clone(), app.scim(path))
                .bearer_auth(&app.key)
                .send()
                .await
                .unwrap();
            let route = if path.starts_with("/Users/") {
                "/scim/v2/Users/{id}"
            } else if path.starts_with("/Users") {
                "/scim/v2/Users"
            } else {
                // A path no route serves is counted too, under one name.
                "unmatched"
            };
            *sent.entry((route, response.status().as_u16())).or_insert(0) += 1;
        }
    }
    let statuses: std::collections::HashSet<u16> = sent.keys().map(|(_, s)| *s).collect();
    assert!(statuses.len() >= 2, "two statuses on one route: {sent:?}");
    let metrics = scrape(&app.client, &app.address).await;
    assert!(!metrics.contains(&made_up), "{metrics}");
    for ((route, status), count) in &sent {
        let name =
            format!(r#"http_requests_total{{method="other",route="{route}",status="{status}"}}"#);
        assert_eq!(
            series(&metrics, &name),
            Some(*count as f64),
            "{name}\n{metrics}"
        );
    }
}

async fn request_ids_are_kept_or_made(app: TestApp) {
    let kept = app
        .client
        .get(app.scim("/Users"))
        .bearer_auth(&app.key)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-me-123");
    let mut made = std::collections::HashSet::new();
    for _ in 0..20 {
        let response = app.get("/Users").await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // A random (version 4) UUID in lower case.
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{id}"
        );
        assert!(groups[2].starts_with('4'), "{id}");
        assert!("89ab".contains(&groups[3][..1]), "{id}");
        made.insert(id);
    }
    assert_eq!(made.len(), 20, "every request gets an id of its own");
}

async fn health_and_readiness(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

/// PostgreSQL only: a SQLite file cannot be taken from a process that has it
/// open (deleting or locking it leaves the open connections working).
#[tokio::test]
async fn health_and_readiness_are_503_when_the_database_is_gone() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let health = format!("{}/healthz", app.address);
    assert_eq!(app.client.get(&health).send().await.unwrap().status(), 200);
    let name = app.database_url.rsplit('/').next().unwrap();
    let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"status": "unavailable", "database": "postgres"}),
            "{path}"
        );
    }
    let users = app.get("/Users").await;
    assert_eq!(users.status(), 503);
    assert_eq!(users.headers()["retry-after"], "5");
}

/// Lets connections into the test's database or turns them away, ending
/// the ones open (as a restart or failover of PostgreSQL would).
async fn allow_connections(app: &TestApp, allowed: bool) {
    let name = app.database_url.rsplit('/').next().unwrap();
    let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allowed}"
    ))
    .execute(&admin)
    .await
    .unwrap();
    if !allowed {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&admin)
            .await
            .unwrap();
    }
}

/// PostgreSQL only (see above). While the database turns connections away,
/// a valid key gets 503 with `Retry-After` on both surfaces: never a 401,
/// which Entra ID and Okta take as wrong credentials, and never counted as
/// a failed login, so the address is not blocked once the database is back.
#[tokio::test]
async fn a_database_outage_is_503_and_never_a_failed_login() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let created = app
        .create_user(&json!({"userName": "outage@example.com"}))
        .await;
    let user = format!("/Users/{}", created["id"].as_str().unwrap());
    allow_connections(&app, false).await;
    // The key cache empties at its next poll: from then on the key itself
    // has to be looked up.
    key_poll().await;
    // More requests than the failed-login budget of an address.
    for _ in 0..25 {
        for response in [
            app.get("/Users").await,
            app.get(&user).await,
            app.post_user(&json!({"userName": "during@example.com"}))
                .await,
        ] {
            assert_eq!(response.status(), 503, "{}", response.url());
            assert_eq!(response.headers()["retry-after"], "5");
            assert_eq!(response.headers()["content-type"], "application/scim+json");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["status"], "503");
        }
        let response = app.api(reqwest::Method::GET, "/users", None).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["status"], "503");
        // As an injected 503 answers (tests/api/faults.rs).
        assert_eq!(body["errors"][0]["code"], "unavailable");
        assert_eq!(body["errors"][0]["title"], "Service Unavailable");
    }
    allow_connections(&app, true).await;
    // Back: the pool reconnects and the key is accepted, not blocked.
    let mut status = 0;
    for _ in 0..50 {
        status = app.get(&user).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the key works once the database is back");
    assert_eq!(
        app.api(reqwest::Method::GET, "/users", None).await.status(),
        200
    );
    let listed = app
        .get_json("/Users?filter=userName eq \"during@example.com\"")
        .await;
    assert_eq!(
        listed["totalResults"], 0,
        "no create landed during the outage"
    );
}

/// PostgreSQL only. When the database ends every connection (a restart or
/// a failover), one request or so fails with 503 and the connections are
/// opened again at once: not every request until each connection's next
/// periodic check.
#[tokio::test]
async fn connections_ended_by_the_database_are_opened_again_after_one_failure() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let created = app
        .create_user(&json!({"userName": "restart@example.com"}))
        .await;
    let user = format!("/Users/{}", created["id"].as_str().unwrap());
    // In use for over a second: the connection was checked within the last
    // second, so no periodic check is due when the database ends it.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1200) {
        assert_eq!(app.get(&user).await.status(), 200);
    }
    allow_connections(&app, false).await;
    allow_connections(&app, true).await;
    let mut failed = 0;
    for _ in 0..20 {
        let response = app.get(&user).await;
        if response.status() != 200 {
            assert_eq!(response.status(), 503);
            failed += 1;
        }
    }
    assert!(
        failed <= 1,
        "{failed} of 20 requests failed after the database ended its connections"
    );
}

/// SQLite only. The write-ahead log is copied into the database beside the
/// writer and starts over once long, so sustained writes leave it bounded:
/// without checkpoints these 2,000 users leave about 100 MiB of log.
#[tokio::test]
async fn sustained_writes_keep_the_sqlite_log_bounded() {
    let app = std::sync::Arc::new(spawn_app(Backend::Sqlite).await.unwrap());
    let log = format!("{}-wal", app.sqlite_path());
    for round in 0..20 {
        let mut writers = tokio::task::JoinSet::new();
        for n in 0..100 {
            let app = app.clone();
            writers.spawn(async move {
                let user = format!("log-{round}-{n}@example.com");
                app.post_user(&json!({
                    "userName": user,
                    "externalId": format!("log-{round}-{n}"),
                    "name": {"givenName": "Log", "familyName": format!("Writer {n}")},
                    "emails": [{"type": "work", "value": user, "primary": true}],
                    "title": "Engineer",
                }))
                .await
                .status()
            });
        }
        while let Some(status) = writers.join_next().await {
            assert_eq!(status.unwrap(), 201);
        }
    }
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 40 << 20, "the log grew to {size} bytes");
}
