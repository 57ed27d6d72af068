//! The lookups identity providers make are index lookups on both backends,
//! and substring search uses trigram indexes on PostgreSQL: checked through
//! `teamtailor-scim users explain`, which prints the SQL, the bound values
//! and the database's plan for a SCIM list request.

use std::io::Write;

use sqlx::Row;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend, TestApp};

both_backends!(
    identity_provider_lookups_use_indexes,
    lookups_are_told_from_scans,
    deep_pages_skip_through_an_index
);

/// Imports users so the planners have something to weigh: PostgreSQL weighs
/// trigram indexes against a scan by real row counts, so it gets more.
async fn seed(app: &TestApp, users: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for i in 0..users {
        let user = serde_json::json!({
            "userName": format!("user{i}@example.com"),
            "externalId": format!("ext-{i}"),
            "title": format!("Engineer {}", i % 40),
            "emails": [{"type": "work", "value": format!("user{i}@example.com")}],
        });
        writeln!(file, "{user}").unwrap();
    }
    drop(file);
    app.cli_ok(&["import", path.to_str().unwrap()]).await;
}

/// `prefer_indexes` steers PostgreSQL off sequential scans, to show an index
/// can serve a query on a table too small for the planner to want it.
async fn explain(app: &TestApp, prefer_indexes: bool, args: &[&str]) -> String {
    let mut all = vec!["users", "explain"];
    if prefer_indexes {
        all.push("--prefer-indexes");
    }
    all.extend_from_slice(args);
    app.cli_ok(&all).await
}

fn plan_of(explained: &str) -> &str {
    explained.split("-- plan:").nth(1).expect("a plan")
}

async fn identity_provider_lookups_use_indexes(app: TestApp) {
    let postgres = app.database_url.starts_with("postgres");
    seed(&app, if postgres { 30_000 } else { 3000 }).await;
    for (filter, index, value) in [
        (
            r#"userName eq "User7@Example.com""#,
            "users_company_user_name_key",
            "user7@example.com",
        ),
        (
            r#"externalId eq "ext-7""#,
            "users_company_external_id",
            "ext-7",
        ),
        (
            r#"emails[type eq "work" and value eq "user7@example.com"]"#,
            "user_values_value",
            "user7@example.com",
        ),
        (
            r#"emails.value eq "user7@example.com""#,
            "user_values_value",
            "user7@example.com",
        ),
    ] {
        // The planner's own choice: equality lookups need no steering.
        let explained = explain(&app, false, &["--filter", filter]).await;
        let plan = plan_of(&explained);
        assert!(
            plan.contains(index),
            "{filter} does not use {index}:\n{explained}"
        );
        assert!(
            !plan.to_lowercase().contains("seq scan on users"),
            "{explained}"
        );
        // The value is bound, never part of the SQL text.
        let sql = explained.lines().nth(1).unwrap();
        assert!(!sql.contains(value), "{sql}");
        assert!(
            explained.contains(&format!("Text(\"{value}\")")),
            "{explained}"
        );
    }
    if postgres {
        for (filter, index) in [
            (r#"userName co "ser2999@""#, "users_user_name_trigram"),
            (
                r#"emails[type eq "work" and value co "ser7@"]"#,
                "user_values_value_trigram",
            ),
        ] {
            let explained = explain(&app, true, &["--filter", filter]).await;
            assert!(
                plan_of(&explained).contains(index),
                "{filter} does not use {index}:\n{explained}"
            );
        }
    }
    // A page sorted by userName walks the userName index instead of sorting.
    let explained = explain(&app, true, &["--sort-by", "userName"]).await;
    let plan = plan_of(&explained);
    let page_plan = if postgres {
        // The page's scan, not the total's subquery (on `users_1`).
        plan.lines()
            .find(|l| l.contains("Index Scan using") && l.contains(" on users "))
            .unwrap_or("")
    } else {
        plan.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
    };
    assert!(
        page_plan.contains("users_company_user_name_key"),
        "{explained}"
    );
    // userName is unique: the index order is the whole order, so nothing
    // behind the page is sorted, not even in part.
    let sorting = plan.lines().find(|l| {
        let step = l.trim_start().trim_start_matches("->").trim_start();
        l.contains("TEMP B-TREE")
            || step.starts_with("Sort")
            || step.starts_with("Incremental Sort")
    });
    assert_eq!(sorting, None, "{explained}");
}

/// Lookups by a key are never queued behind scans (which may hold all but
/// one reader connection); `explain` tells which a filter is.
async fn lookups_are_told_from_scans(app: TestApp) {
    let postgres = app.database_url.starts_with("postgres");
    for (filter, lookup) in [
        (r#"userName eq "ada@example.com""#, true),
        (r#"USERNAME eq "ada@example.com""#, true),
        (r#"externalId eq "ext-7""#, true),
        (r#"id eq "42""#, true),
        (r#"emails.value eq "ada@example.com""#, true),
        (r#"emails eq "ada@example.com""#, true),
        (
            r#"emails[type eq "work" and value eq "ada@example.com"]"#,
            true,
        ),
        (r#"userName eq "ada@example.com" and active eq true"#, true),
        (r#"title sw "Eng" and externalId eq "ext-7""#, true),
        (r#"userName co "ada""#, false),
        (r#"userName eq "ada@example.com" or title sw "Eng""#, false),
        (r#"not (userName eq "ada@example.com")"#, false),
        (r#"userName ne "ada@example.com""#, false),
        (r#"emails[type eq "work"]"#, false),
        (r#"emails.type eq "work""#, false),
        (r#"title eq "Engineer""#, false),
        (r#"active eq true"#, false),
    ] {
        let explained = explain(&app, false, &["--filter", filter]).await;
        let runs_as = explained
            .lines()
            .find_map(|line| line.strip_prefix("-- runs as: "))
            .unwrap_or_else(|| panic!("no 'runs as' line:\n{explained}"));
        assert_eq!(
            runs_as.starts_with("a lookup"),
            lookup,
            "{filter}: {runs_as}"
        );
        // PostgreSQL answers `userName eq` alone with the userName lookups
        // asked at the same time, in one statement: explain shows that one.
        let alone = filter.eq_ignore_ascii_case(r#"userName eq "ada@example.com""#);
        let gathered = postgres && alone;
        assert_eq!(
            runs_as.contains("in one statement"),
            gathered,
            "{filter}: {runs_as}"
        );
        let sql = explained.lines().nth(1).unwrap();
        assert_eq!(
            sql.contains("user_name_lower = ANY((SELECT $2::text[])::text[])"),
            gathered,
            "{explained}"
        );
        // SQLite reads that one user by its key alone: no page, no count;
        // and the users of an externalId by its index, sorted after.
        assert_eq!(
            sql.ends_with("WHERE company_id = $1 AND user_name_lower = $2"),
            !postgres && alone,
            "{explained}"
        );
        assert_eq!(
            sql.ends_with("WHERE company_id = $1 AND external_id = $2 LIMIT $3"),
            !postgres && filter == r#"externalId eq "ext-7""#,
            "{explained}"
        );
    }
    let explained = explain(&app, false, &[]).await;
    assert!(explained.contains("-- runs as: a scan"), "{explained}");
}

/// A page far into a company's users skips the ones before it through the
/// order's index: PostgreSQL finds the first row's sort key there (its
/// OFFSET would read each skipped row from the table), SQLite's OFFSET
/// steps through the index. `explain --start-index` shows it.
async fn deep_pages_skip_through_an_index(app: TestApp) {
    let postgres = app.database_url.starts_with("postgres");
    seed(&app, 3000).await;
    for (sort_by, index) in [
        (None, "users_company_created"),
        (Some("userName"), "users_company_user_name_key"),
    ] {
        let mut args = vec!["--start-index", "2001"];
        args.extend(sort_by.iter().flat_map(|path| ["--sort-by", *path]));
        let explained = explain(&app, true, &args).await;
        let plan = plan_of(&explained);
        assert!(plan.contains(index), "{explained}");
        assert!(!plan.contains("TEMP B-TREE"), "{explained}");
        assert!(explained.contains("2000"), "{explained}");
        let sql = explained.lines().nth(1).unwrap();
        assert_eq!(sql.contains("LIMIT 1 OFFSET"), postgres, "{explained}");
        // The first page starts at the index's start.
        args[1] = "1";
        let first = explain(&app, true, &args).await;
        assert!(!first.contains("LIMIT 1 OFFSET"), "{first}");
    }
}

/// PostgreSQL plans the statement gathered `userName eq` lookups go in once
/// per connection, not on every execution: the statement `users explain`
/// prints, run as the server runs it (prepared, a few keys bound), is
/// served from its generic plan after PostgreSQL's five custom ones.
#[tokio::test]
async fn gathered_lookups_keep_one_plan_on_postgresql() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    seed(&app, 3000).await;
    let explained = explain(
        &app,
        false,
        &["--filter", r#"userName eq "user7@example.com""#],
    )
    .await;
    let sql = explained.lines().nth(1).unwrap();
    assert!(sql.contains("user_name_lower = ANY("), "{explained}");
    let database = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let mut connection = database.acquire().await.unwrap();
    let company: i64 = sqlx::query("SELECT id FROM companies WHERE slug = 'default'")
        .fetch_one(&mut *connection)
        .await
        .unwrap()
        .get(0);
    for n in 1..=8 {
        let names: Vec<String> = (1..=n).map(|i| format!("user{i}@example.com")).collect();
        let found = sqlx::query(sql)
            .bind(company)
            .bind(&names)
            .fetch_all(&mut *connection)
            .await
            .unwrap();
        assert_eq!(found.len(), n, "{sql}");
    }
    let (generic, custom): (i64, i64) = sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
    )
    .bind(sql)
    .fetch_one(&mut *connection)
    .await
    .unwrap();
    assert_eq!((generic, custom), (3, 5), "{sql}");
    drop(connection);
    database.close().await;
}
