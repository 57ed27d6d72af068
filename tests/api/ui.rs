//! The inspector page at /ui, served by the binary and driven in headless
//! Chromium by tests/ui/inspector.mjs (playwright-core).

use std::path::{Path, PathBuf};

use teamtailor_scim::keys::Secret;

use crate::helpers::{spawn_app_with, Backend};

const OPERATOR: &str = "operator-token";

#[tokio::test]
async fn the_inspector_is_served_with_a_strict_policy() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    for (path, content_type) in [
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/inspector.js", "text/javascript; charset=utf-8"),
        ("/ui/inspector.css", "text/css; charset=utf-8"),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
    }
    // The page holds no data: everything it shows comes from /admin with the operator token.
    let page = app
        .client
        .get(format!("{}/ui", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("operator token"));
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(bytes.len() > 10_000, "{} has content", path.display());
    (number(16), number(20))
}

#[tokio::test]
async fn the_inspector_shows_users_history_and_live_requests_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = root.join("tests/ui/node_modules/playwright-core");
    if !Path::new(&chromium).exists() || !driver.exists() {
        let how =
            "install Chromium (apt-get install chromium) and the driver (npm ci --prefix tests/ui)";
        assert!(
            std::env::var("CI").is_err(),
            "the browser test needs a browser in CI: {how}"
        );
        eprintln!("skipping the browser test: {how}");
        return;
    }
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.admin_token = Some(Secret::new(OPERATOR))
    })
    .await
    else {
        return;
    };
    let shots = root.join("target/ui-screenshots");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(root.join("tests/ui/inspector.mjs"))
            .args([&app.address, &app.key, OPERATOR, shots.to_str().unwrap()])
            .env("CHROMIUM", &chromium)
            .output(),
    )
    .await
    .expect("the browser script finishes")
    .expect("node runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(png_size(&shots.join("users.png")), (1400, 800));
    let (width, height) = png_size(&shots.join("inspector.png"));
    assert!(width == 1400 && height >= 800);
}
