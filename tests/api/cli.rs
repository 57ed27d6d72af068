//! The command line: `serve` as a real process, keys, companies, shutdown.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::both_backends;
use crate::helpers::{create_database, Backend, TestApp};

both_backends!(
    tokens_create_prints_a_working_key_last,
    companies_create_and_list,
    ;
    backend:
    bootstrap_token_is_idempotent,
);

const BIN: &str = env!("CARGO_BIN_EXE_teamtailor-scim");

struct Server {
    child: Child,
    url: String,
    output: Vec<String>,
    /// Log lines (stderr), as they arrive.
    log: Arc<Mutex<Vec<String>>>,
}

/// Starts `serve` on a free port and reads its banner up to the first blank
/// line after the key (or the hint line).
async fn start_server(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start serve");
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut log_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = log_lines.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve prints its address")
        .unwrap()
        .expect("a line");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the listening URL")
        .to_string();
    output.push(first);
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
    {
        output.push(line);
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        child,
        url,
        output,
        log,
    }
}

impl Server {
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }
}

async fn get_json(url: String, token: &str) -> serde_json::Value {
    let response = reqwest::Client::new().get(url).bearer_auth(token).send();
    response.await.unwrap().json().await.unwrap()
}

fn key_in(output: &[String]) -> Option<String> {
    output
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("tt_"))
        .map(str::to_string)
}

#[tokio::test]
async fn first_start_creates_the_database_and_prints_a_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &[], &[]).await;
    assert!(
        dir.path().join("teamtailor-scim.db").exists(),
        "SQLite file in the working directory"
    );
    let key = key_in(&server.output).expect("a key is printed");
    assert!(server
        .output
        .iter()
        .any(|l| l.contains("curl -H 'Authorization: Bearer")));
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/scim/v2/Users", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.terminate().await.success());

    let again = start_server(dir.path(), &[], &[]).await;
    assert_eq!(
        key_in(&again.output),
        None,
        "no second key: {:?}",
        again.output
    );
    assert!(again.output.iter().any(|l| l.contains("tokens create")));
    let response = client
        .get(format!("{}/scim/v2/Users", again.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the first key survives restarts");
    assert!(again.terminate().await.success());
}

async fn bootstrap_token_is_idempotent(backend: Backend) {
    let Some((url, _guard)) = create_database(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", "dev-token-123"),
    ];
    for _ in 0..2 {
        let server = start_server(dir.path(), &[], &env).await;
        assert_eq!(
            key_in(&server.output),
            None,
            "no key minted when a bootstrap token is set"
        );
        let response = reqwest::Client::new()
            .get(format!("{}/scim/v2/Users", server.url))
            .bearer_auth("dev-token-123")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(server.terminate().await.success());
    }
    let output = Command::new(BIN)
        .args(["tokens", "list", "--database-url", &url])
        .output()
        .await
        .unwrap();
    let listing = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        listing.lines().filter(|l| l.contains("bootstrap")).count(),
        1,
        "{listing}"
    );
    assert!(!listing.contains("dev-token-123"));
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    signal_lets_in_flight_requests_finish("-TERM").await;
}

#[tokio::test]
async fn sigint_lets_in_flight_requests_finish() {
    signal_lets_in_flight_requests_finish("-INT").await;
}

async fn signal_lets_in_flight_requests_finish(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(
        dir.path(),
        &[],
        &[("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", "t0k3n")],
    )
    .await;
    let address = server.url.trim_start_matches("http://").to_string();
    let body = json!({"userName": "inflight@example.com"}).to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer t0k3n\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = server.child.id().unwrap().to_string();
    Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let mut server = server;
    let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    // The journal entry of the last request was written before exiting.
    let again = start_server(
        dir.path(),
        &[],
        &[
            ("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", "t0k3n"),
            ("TEAMTAILOR_SCIM_ADMIN_TOKEN", "op"),
        ],
    )
    .await;
    let journal = get_json(format!("{}/admin/journal?company=default", again.url), "op").await;
    assert_eq!(journal["entries"][0]["method"], "POST", "{journal}");
    assert_eq!(journal["entries"][0]["status"], 201);
    assert!(again.terminate().await.success());
}

async fn tokens_create_prints_a_working_key_last(app: TestApp) {
    let stdout = app
        .cli_ok(&[
            "tokens",
            "create",
            "--company",
            "acme",
            "--scope",
            "scim",
            "--name",
            "ci",
        ])
        .await;
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.len() >= 43, "256-bit key: {key}");
    let response = app
        .send_as(
            &key,
            reqwest::Method::POST,
            "/Users",
            Some(&json!({"userName": "cli@example.com"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    // The key belongs to acme, not to the default company.
    assert_eq!(app.get_json("/Users").await["totalResults"], 0);
    let listing = app.cli(&["tokens", "list", "--company", "acme"]).await;
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("ci") && listing.contains("scim") && !listing.contains(&key));

    // Every flag can come from the environment instead.
    let output = tokio::process::Command::new(BIN)
        .args(["tokens", "create"])
        .env("DATABASE_URL", &app.database_url)
        .env("TEAMTAILOR_SCIM_COMPANY", "envco")
        .env("TEAMTAILOR_SCIM_TOKEN_SCOPES", "api-read,scim")
        .env("TEAMTAILOR_SCIM_TOKEN_NAME", "from-env")
        .env("TEAMTAILOR_SCIM_TOKEN_EXPIRES_IN", "1h")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).unwrap();
    let key = key.lines().last().unwrap().trim().to_string();
    let response = app
        .send_as(&key, reqwest::Method::GET, "/Users", None)
        .await;
    assert_eq!(response.status(), 200);
    let listing = app.cli(&["tokens", "list", "--company", "envco"]).await;
    let listing = String::from_utf8(listing.stdout).unwrap();
    let line = listing
        .lines()
        .find(|l| l.contains("from-env"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains("api-read") && line.contains("scim"), "{line}");

    let bad = app.cli(&["tokens", "create", "--scope", "root"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));
}

async fn companies_create_and_list(app: TestApp) {
    let created = app.cli(&["companies", "create", "globex"]).await;
    assert!(created.status.success());
    let again = app.cli(&["companies", "create", "globex"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let list = app.cli(&["companies", "list"]).await;
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("globex") && list.contains("default"),
        "{list}"
    );
}

/// A SCIM user padded (with an attribute the server ignores) to `size` bytes.
fn padded_user(size: usize) -> String {
    let body = json!({"userName": format!("{size}@example.com"), "padding": ""}).to_string();
    let padding = "x".repeat(size - body.len());
    body.replace("\"padding\":\"\"", &format!("\"padding\":\"{padding}\""))
}

async fn post_user(server: &Server, token: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/scim/v2/Users", server.url))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_body_limit_is_set_by_flag_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token = ("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", "t0k3n");
    let lowered = start_server(dir.path(), &["--max-body-bytes", "4096"], &[token]).await;
    let refused = post_user(&lowered, "t0k3n", padded_user(4097)).await;
    assert_eq!(refused.status(), 413);
    assert_eq!(refused.headers()["content-type"], "application/scim+json");
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["status"], "413");
    assert_eq!(
        post_user(&lowered, "t0k3n", padded_user(4096))
            .await
            .status(),
        201
    );
    assert!(lowered.terminate().await.success());

    let two_mib = (2 * 1024 * 1024).to_string();
    let raised = start_server(
        dir.path(),
        &[],
        &[token, ("TEAMTAILOR_SCIM_MAX_BODY_BYTES", &two_mib)],
    )
    .await;
    let past_the_default = 1024 * 1024 + 1;
    assert_eq!(
        post_user(&raised, "t0k3n", padded_user(past_the_default))
            .await
            .status(),
        201
    );
    assert_eq!(
        post_user(&raised, "t0k3n", padded_user(2 * 1024 * 1024 + 1))
            .await
            .status(),
        413
    );
    assert!(raised.terminate().await.success());
}

#[tokio::test]
async fn each_authentication_failure_is_logged_once_without_the_credential() {
    const KEY: &str = "bootstrap-key-0123456789";
    const OPERATOR: &str = "operator-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(
        dir.path(),
        &[],
        &[
            ("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", KEY),
            ("TEAMTAILOR_SCIM_ADMIN_TOKEN", OPERATOR),
            ("TEAMTAILOR_SCIM_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("{}/oauth/token", server.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "1"),
            ("client_secret", KEY),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("an access token");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(token).unwrap().kid;
    let claims = json!({"iss": "teamtailor-scim", "aud": "teamtailor-scim", "sub": "1",
                        "company": "default", "scope": "scim", "iat": 0, "exp": 4_000_000_000i64});
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"forged-signing-secret"),
    )
    .unwrap();
    let wrong_key = "tt_wrongwrongwrongwrongwrongwrongwrongwrong";
    let wrong_secret = "wrong-client-secret-0123456789";
    let wrong_operator = "wrong-operator-token-0123456789";

    let failures = [
        client
            .get(format!("{}/v1/users", server.url))
            .header("Authorization", format!("Token token={wrong_key}"))
            .header("X-Api-Version", "20240404"),
        client
            .get(format!("{}/scim/v2/Users", server.url))
            .bearer_auth(&forged),
        client.get(format!("{}/scim/v2/Users", server.url)),
        client.post(format!("{}/oauth/token", server.url)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "1"),
            ("client_secret", wrong_secret),
        ]),
        client
            .get(format!("{}/admin/keys", server.url))
            .bearer_auth(wrong_operator),
    ];
    for request in failures {
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
    let log = server.log.clone();
    assert!(server.terminate().await.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = log.lock().unwrap().clone();

    let reasons: Vec<String> = log
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line"))
        .filter(|entry| entry["fields"]["message"] == "authentication failed")
        .map(|entry| {
            assert_eq!(entry["level"], "WARN", "{entry}");
            assert_eq!(entry["fields"]["source"], "127.0.0.1", "{entry}");
            entry["fields"]["reason"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "unknown API key",
            "access token with a bad signature or claims",
            "no credential",
            "wrong client secret",
            "wrong operator token",
        ],
        "one line per failure: {log:#?}"
    );
    let signature = forged.rsplit('.').next().unwrap();
    for secret in [
        KEY,
        OPERATOR,
        token,
        &forged,
        signature,
        wrong_key,
        wrong_secret,
        wrong_operator,
    ] {
        assert!(
            !log.iter().any(|line| line.contains(secret)),
            "the log shows a credential: {log:#?}"
        );
    }
}

/// The write-ahead logs beside a SQLite run's files (`-wal`, `-shm`).
fn logs_beside(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("-wal") || name.ends_with("-shm"))
        .collect()
}

/// A stopped server and a finished command leave their SQLite files whole:
/// the two files alone, copied elsewhere, hold every user and journal entry.
#[tokio::test]
async fn sqlite_files_are_whole_after_serve_and_commands_exit() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("TEAMTAILOR_SCIM_BOOTSTRAP_TOKEN", "t0k3n")];
    let server = start_server(dir.path(), &[], &env).await;
    let client = reqwest::Client::new();
    for i in 0..50 {
        let response = client
            .post(format!("{}/scim/v2/Users", server.url))
            .bearer_auth("t0k3n")
            .json(&json!({"userName": format!("served{i}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    // Reads of one user and of a page, which SQLite answers on the
    // request's thread through read-only connections of their own.
    let listed = client
        .get(format!("{}/scim/v2/Users?count=5", server.url))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let listed: serde_json::Value = listed.json().await.unwrap();
    let id = listed["Resources"][0]["id"].as_str().unwrap();
    let one = client
        .get(format!("{}/scim/v2/Users/{id}", server.url))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert!(!logs_beside(dir.path()).is_empty(), "a running server logs");
    assert!(server.terminate().await.success());
    assert_eq!(logs_beside(dir.path()), Vec::<String>::new(), "after serve");

    let users = dir.path().join("users.json");
    let lines: Vec<String> = (0..500)
        .map(|i| json!({"userName": format!("imported{i}@example.com")}).to_string())
        .collect();
    std::fs::write(&users, lines.join("\n")).unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .args(["import", users.to_str().unwrap(), "--company", "default"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        logs_beside(dir.path()),
        Vec::<String>::new(),
        "after import"
    );

    let copy = tempfile::tempdir().unwrap();
    for file in ["teamtailor-scim.db", "teamtailor-scim.journal.db"] {
        std::fs::copy(dir.path().join(file), copy.path().join(file)).unwrap();
    }
    let admin = [("TEAMTAILOR_SCIM_ADMIN_TOKEN", "op"), env[0]];
    let again = start_server(copy.path(), &[], &admin).await;
    let listed = get_json(format!("{}/scim/v2/Users?count=0", again.url), "t0k3n").await;
    assert_eq!(listed["totalResults"], 550, "{listed}");
    let journal = format!("{}/admin/journal?company=default&limit=100", again.url);
    let journal = get_json(journal, "op").await;
    let posts = journal["entries"].as_array().unwrap().iter();
    assert_eq!(
        posts.filter(|e| e["method"] == "POST").count(),
        50,
        "{journal}"
    );
    assert!(again.terminate().await.success());
}
