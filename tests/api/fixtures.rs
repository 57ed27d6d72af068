//! State control between test runs: reset, seed from JSON or CSV, export;
//! over /admin and the command line.

use serde_json::{json, Value};
use teamtailor_scim::keys::Secret;

use crate::both_backends;
use crate::helpers::{found, role, spawn_app_with, Backend, TestApp};

both_backends!(
    import_export_and_reset_on_the_command_line,
    an_imported_user_is_the_user_post_creates,
    users_imported_together_are_found_by_their_values,
    ;
    backend:
    seed_export_and_reset_over_admin,
    batches_keep_the_first_user_name_and_the_file_order,
);

const OPERATOR: &str = "operator-token";

/// POSTs a JSON fixture to /admin's import; the report it answers.
async fn import_json(app: &TestApp, fixture: &impl serde::Serialize) -> Value {
    admin(app, reqwest::Method::POST, "/users/import")
        .await
        .json(fixture)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(
            method,
            format!("{}/admin/companies/default{path}", app.address),
        )
        .bearer_auth(OPERATOR)
}

fn fixture() -> Value {
    json!([
        {"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "Lovelace"},
         "emails": [{"value": "ada@example.com", "type": "work", "primary": true}], "title": "CTO",
         "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User": {"role": "admin"}},
        {"userName": "bob@example.com", "active": false},
        {"userName": "cy@example.com", "externalId": "e-3"}
    ])
}

/// 2,402 users through /admin (batches of 1,000, on PostgreSQL two at a
/// time): a userName repeated in a later batch, in any case, keeps the
/// file's first record, even with each batch holding a name of the other;
/// users list in the file's order.
async fn batches_keep_the_first_user_name_and_the_file_order(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.admin_token = Some(Secret::new(OPERATOR))).await
    else {
        return;
    };
    let mut records: Vec<(String, String)> = (0..2400)
        .map(|i| (format!("u{i}@order.example"), format!("Title {i}")))
        .collect();
    // Batch 1 holds a name of batch 2, batch 2 one of batch 1.
    records.insert(500, ("U1500@order.example".into(), "First 1500".into()));
    records.insert(1600, ("U100@Order.example".into(), "Second 100".into()));
    let fixture: Vec<Value> = records
        .iter()
        .map(|(name, title)| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": name, "title": title, "active": true})
        })
        .collect();
    let seeded: Value = import_json(&app, &fixture).await;
    assert_eq!(
        seeded,
        json!({"company": "default", "records": 2402, "imported": 2400, "skipped": 2})
    );

    let mut expected: Vec<(String, String)> = Vec::new();
    for (name, title) in &records {
        if !expected.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            expected.push((name.clone(), title.clone()));
        }
    }
    let mut listed: Vec<(String, String)> = Vec::new();
    for start in [1, 1001, 2001] {
        let page = app
            .get_json(&format!(
                "/Users?startIndex={start}&count=1000&attributes=userName,title"
            ))
            .await;
        for user in page["Resources"].as_array().unwrap() {
            listed.push((
                user["userName"].as_str().unwrap().to_string(),
                user["title"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(listed.len(), 2400);
    assert_eq!(
        listed[500],
        ("U1500@order.example".into(), "First 1500".into())
    );
    assert_eq!(listed, expected);
}

async fn seed_export_and_reset_over_admin(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.admin_token = Some(Secret::new(OPERATOR))).await
    else {
        return;
    };
    let seeded: Value = import_json(&app, &fixture()).await;
    assert_eq!(
        seeded,
        json!({"company": "default", "records": 3, "imported": 3, "skipped": 0})
    );
    let again: Value = import_json(&app, &fixture()).await;
    assert_eq!(
        (again["imported"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(3))
    );

    let list = app
        .get_json("/Users?filter=userName%20eq%20%22ada@example.com%22")
        .await;
    let ada = &list["Resources"][0];
    assert_eq!(role(ada), "admin");
    assert_eq!(ada["title"], "CTO");
    let bob = &app
        .get_json("/Users?filter=userName%20eq%20%22bob@example.com%22")
        .await["Resources"][0];
    assert_eq!(
        (bob["active"].as_bool(), role(bob)),
        (Some(false), "no_access")
    );

    // CSV in, with a role column.
    let csv = "userName,givenName,familyName,email,active,role\ndee@example.com,Dee,Doe,dee@work.example.com,true,recruiter\n";
    let seeded: Value = admin(&app, reqwest::Method::POST, "/users/import")
        .await
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["imported"], 1);
    let dee = &app
        .get_json("/Users?filter=userName%20eq%20%22dee@example.com%22")
        .await["Resources"][0];
    assert_eq!(dee["emails"][0]["value"], "dee@work.example.com");
    assert_eq!(role(dee), "recruiter");

    // A bad record names its position and nothing after it is loaded.
    let bad = admin(&app, reqwest::Method::POST, "/users/import")
        .await
        .json(&json!([{"userName": "ok@example.com"}, {"displayName": "no userName"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let message = bad.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("record 2") && message.contains("userName"),
        "{message}"
    );
    let bad_format = admin(&app, reqwest::Method::POST, "/users/import?format=xml")
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(bad_format.status(), 400);

    // Export: one SCIM document per line, that imports back to the same users.
    let export = admin(&app, reqwest::Method::GET, "/users/export")
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let exported = export.text().await.unwrap();
    let lines: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["userName"], "ada@example.com");
    let csv_export = admin(&app, reqwest::Method::GET, "/users/export?format=csv")
        .await
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv_export.starts_with(
        "userName,externalId,givenName,familyName,displayName,email,phone,title,active,role\n"
    ));
    assert!(
        csv_export.contains("ada@example.com,,Ada,Lovelace,,ada@example.com,,CTO,true,admin"),
        "{csv_export}"
    );

    let reset: Value = admin(&app, reqwest::Method::POST, "/reset")
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["deleted_users"], 4);
    assert_eq!(app.get_json("/Users").await["totalResults"], 0);
    let reloaded: Value = admin(&app, reqwest::Method::POST, "/users/import")
        .await
        .body(exported)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reloaded["imported"], 4);
    let ada = &app
        .get_json("/Users?filter=userName%20eq%20%22ada@example.com%22")
        .await["Resources"][0];
    assert_eq!(
        (role(ada), ada["name"]["familyName"].as_str()),
        ("admin", Some("Lovelace"))
    );
}

async fn import_export_and_reset_on_the_command_line(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    // More users than one batch, one object per line.
    let lines: Vec<String> = (0..2500)
        .map(|i| {
            json!({"userName": format!("user{i}@example.com"), "title": format!("T{i}")})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let stdout = app
        .cli_ok(&["import", file.to_str().unwrap(), "--company", "seeded"])
        .await;
    assert!(
        stdout.starts_with("Imported 2500 users into company 'seeded'"),
        "{stdout}"
    );

    let csv = app
        .cli_ok(&["export", "--company", "seeded", "--format", "csv"])
        .await;
    assert_eq!(csv.lines().count(), 2501);
    assert!(csv
        .lines()
        .nth(2500)
        .unwrap()
        .starts_with("user2499@example.com,"));

    // The CSV export imports back: every userName exists, so all are skipped.
    let csv_file = dir.path().join("users.csv");
    std::fs::write(&csv_file, &csv).unwrap();
    let output = app
        .cli(&["import", csv_file.to_str().unwrap(), "--company", "seeded"])
        .await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("Imported 0 users") && stdout.contains("2500 skipped"),
        "{stdout}"
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "[{\"userName\": \"a@example.com\"}, {\"userName\": 5}]",
    )
    .unwrap();
    let output = app
        .cli(&["import", broken.to_str().unwrap(), "--company", "seeded"])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("record 2: userName must be a string"),
        "{stderr}"
    );

    let refused = app.cli(&["reset", "--company", "seeded"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(app
        .cli_ok(&["reset", "--company", "seeded", "--yes"])
        .await
        .contains("Deleted 2500 users"));
    assert!(app.teamtailor_users("seeded").await.is_empty());
    let missing = app.cli(&["import", "/nonexistent/users.json"]).await;
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot open /nonexistent/users.json")
    );
}

/// Runs `import` on a file and returns its peak resident memory in MiB,
/// read from /proc while it runs (VmHWM only grows).
fn import_peak_rss_mib(app: &TestApp, path: &std::path::Path, company: &str) -> f64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
        .args(["import", path.to_str().unwrap(), "--company", company])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(exit) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            assert!(exit.success(), "{stderr}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    peak_kib as f64 / 1024.0
}

/// A JSON array and a ListResponse of 60,000 users (about 100 MiB once
/// parsed whole) load in a fixed amount of memory: SQLite's 64 MiB bulk-load
/// page cache and at most three batches of 20,000 users, whatever the file's size.
#[tokio::test]
async fn large_fixtures_import_in_bounded_memory() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = 60_000;
    let user = |i: usize| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
               "userName": format!("user{i}@bounded.example"), "externalId": format!("ext-{i}"),
               "name": {"givenName": "Given", "familyName": format!("Family {i}")},
               "emails": [{"type": "work", "value": format!("user{i}@bounded.example"), "primary": true}],
               "title": "Engineer", "active": true})
        .to_string()
    };
    let array = dir.path().join("array.json");
    let list = dir.path().join("list.json");
    let body: Vec<String> = (0..users).map(user).collect();
    std::fs::write(&array, format!("[{}]", body.join(",\n"))).unwrap();
    std::fs::write(
        &list,
        format!(
            r#"{{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": {users}, "Resources": [{}], "itemsPerPage": {users}}}"#,
            body.join(",\n")
        ),
    )
    .unwrap();
    drop(body);
    for (file, company) in [(&array, "array"), (&list, "list")] {
        let peak = import_peak_rss_mib(&app, file, company);
        assert!(peak < 192.0, "{company}: import peaked at {peak:.0} MiB");
        let users_listed = app.teamtailor_users(company).await;
        assert_eq!(users_listed.len(), users, "{company}");
    }
}

/// `import` writes users its own way (many per statement); what it stores
/// must read back, filter and sort exactly as the same user sent by POST.
async fn an_imported_user_is_the_user_post_creates(app: TestApp) {
    let user = |user_name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
               "userName": user_name, "externalId": format!("ext-{user_name}"),
               "name": {"formatted": "Dr. Ärla Öst Jr.", "givenName": "Ärla", "familyName": "Öst",
                        "middleName": "M", "honorificPrefix": "Dr.", "honorificSuffix": "Jr."},
               "displayName": "Ärla", "title": "Head of 50% \\ \"QA\"", "active": false,
               "emails": [{"value": format!("w-{user_name}"), "type": "work", "primary": true},
                          {"value": "home@example.com", "type": "home"}],
               "phoneNumbers": [{"value": "+46 8 123 45", "type": "work"}]})
    };
    let posted = app.create_user(&user("ÄRLA.POST@Example.com")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.jsonl");
    std::fs::write(&path, format!("{}\n", user("ÄRLA.IMPORT@Example.com"))).unwrap();
    app.cli_ok(&["import", path.to_str().unwrap()]).await;

    let listed = app
        .get_json("/Users?filter=userName%20eq%20%22%C3%A4rla.import%40example.com%22")
        .await;
    assert_eq!(listed["totalResults"], 1, "{listed}");
    let imported = listed["Resources"][0].clone();
    let comparable = |resource: &Value| {
        let mut resource = resource.clone();
        let object = resource.as_object_mut().unwrap();
        for key in ["id", "meta", "userName", "externalId", "emails"] {
            object.remove(key);
        }
        resource
    };
    assert_eq!(comparable(&imported), comparable(&posted));
    assert_eq!(imported["userName"], "ÄRLA.IMPORT@Example.com");
    assert_eq!(imported["emails"][1], posted["emails"][1]);
    assert_eq!(
        imported["urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"]["role"],
        "no_access"
    );

    // The derived columns behind filters were written too.
    for filter in [
        r#"emails[type eq "work" and value eq "W-ärla.import@example.com"]"#,
        r#"title sw "head of 50%""#,
        r#"name.familyName eq "öst" and active eq false"#,
        r#"phoneNumbers.value eq "+46 8 123 45""#,
    ] {
        let ids = found(&app, filter).await;
        assert!(
            ids.iter().any(|id| imported["id"] == id.as_str()),
            "{filter}: {ids:?}"
        );
    }
    let api = app
        .client
        .get(format!(
            "{}/v1/users/{}",
            app.address,
            imported["id"].as_str().unwrap()
        ))
        .header("Authorization", format!("Token token={}", app.key))
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap();
    let api: Value = api.json().await.unwrap();
    let attributes = &api["data"]["attributes"];
    assert_eq!(attributes["name"], "Dr. Ärla Öst Jr.", "{api}");
    assert_eq!(attributes["phone"], "+46 8 123 45");
    assert_eq!(attributes["email"], "w-ÄRLA.IMPORT@Example.com");
    assert_eq!(attributes["role"], "no_access");
    assert_eq!(attributes["visible"], true);
}

/// Rows behind multi-valued filters, of any user: a deleted user's rows
/// would match no user, so only the table shows whether they were left.
async fn value_rows(app: &TestApp) -> i64 {
    let sql = "SELECT count(*) FROM user_values";
    if app.database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

/// An import writes many users in one statement; each gets the value rows
/// that email and phone filters use, and deleting users (one, or a whole
/// company by reset) removes theirs.
async fn users_imported_together_are_found_by_their_values(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.jsonl");
    let lines: Vec<String> = (0..5)
        .map(|i| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": format!("batch{i}@example.com"), "active": true,
                   "emails": [{"value": format!("work{i}@example.com"), "type": "work", "primary": true},
                              {"value": format!("home{i}@example.net"), "type": "home"}],
                   "phoneNumbers": [{"value": format!("+46 70 {i}{i}{i}"), "type": "mobile"}]})
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    app.cli_ok(&["import", path.to_str().unwrap()]).await;
    assert_eq!(value_rows(&app).await, 15);

    let mut ids = Vec::new();
    for i in 0..5 {
        let by_user_name = found(&app, &format!(r#"userName eq "batch{i}@example.com""#)).await;
        assert_eq!(by_user_name.len(), 1);
        for filter in [
            format!(r#"emails[type eq "home" and value eq "HOME{i}@example.net"]"#),
            format!(r#"emails.value eq "work{i}@example.com""#),
            format!(r#"phoneNumbers co "{i}{i}{i}""#),
        ] {
            assert_eq!(found(&app, &filter).await, by_user_name, "{filter}");
        }
        ids.push(by_user_name[0].clone());
    }
    assert_eq!(
        found(&app, r#"emails.value ew "@example.net""#).await.len(),
        5
    );

    let deleted = app.delete(&format!("/Users/{}", ids[2])).await;
    assert_eq!(deleted.status(), 204);
    assert!(found(&app, r#"emails.value eq "home2@example.net""#)
        .await
        .is_empty());
    assert_eq!(
        found(&app, r#"emails.value ew "@example.net""#).await.len(),
        4
    );
    assert_eq!(value_rows(&app).await, 12);

    app.cli_ok(&["reset", "--company", "default", "--yes"])
        .await;
    assert_eq!(value_rows(&app).await, 0);

    // Imported again (new ids), the values are found once each.
    app.cli_ok(&["import", path.to_str().unwrap()]).await;
    assert_eq!(
        found(&app, r#"emails.value ew "@example.net""#).await.len(),
        5
    );
    assert_eq!(value_rows(&app).await, 15);
}
