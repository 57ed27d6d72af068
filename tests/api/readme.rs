//! The README's curl examples work as written.

use crate::helpers::{spawn_app, Backend};

#[tokio::test]
async fn readme_curl_examples_work_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Try it with curl")
        .nth(1)
        .expect("the curl section");
    let script = section
        .split("```sh")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a sh block");
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
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
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
