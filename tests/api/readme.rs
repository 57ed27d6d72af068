//! The README's curl examples work as written.

use crate::helpers::{spawn_app, Backend};

/// The first `sh` block after `heading` in the README.
fn sh_block(heading: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split(heading).nth(1).expect("the section");
    section
        .split("```sh")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a sh block")
        .to_string()
}

async fn run(script: &str) -> String {
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn readme_curl_examples_work_as_written() {
    let script = sh_block("## Try it with curl");
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let script: String = script
        .lines()
        .map(|line| {
            if line.starts_with("KEY=") {
                format!("KEY={}", app.key)
            } else if line.starts_with("BASE=") {
                format!("BASE={}/scim/v2", app.address)
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect();
    let stdout = run(&script).await;
    // create, read, filter, deactivate, delete
    assert_eq!(
        stdout.matches(r#""userName":"ada@contoso.com""#).count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains(r#""totalResults":1"#), "{stdout}");
    assert!(stdout.contains(r#""active":false"#), "{stdout}");
    assert!(stdout.contains(r#""role":"no_access""#), "{stdout}");
    assert!(stdout.trim_end().ends_with("204"), "{stdout}");
    assert_eq!(app.get_json("/Users").await["totalResults"], 0);
}

#[tokio::test]
async fn readme_api_example_works_as_written() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    app.create_user(&serde_json::json!({"userName": "gone@example.com", "active": false}))
        .await;
    let script = format!(
        "KEY={}\n{}",
        app.key,
        sh_block("## The Teamtailor API").replace("http://127.0.0.1:8080", &app.address)
    );
    let stdout = run(&script).await;
    let body: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON:API document");
    assert_eq!(body["meta"]["record-count"], 1, "{stdout}");
    assert_eq!(body["data"][0]["attributes"]["role"], "no_access");
}
