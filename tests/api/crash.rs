//! Crash safety: a write load against the real binary, SIGKILL at a random
//! moment, a restart on the same database; every acknowledged write is there
//! and whole (its multi-valued entries included), on both backends.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use reqwest::Client;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::helpers::{create_database, Backend, SCIM_JSON};
use crate::users::urlencode;

pub(crate) const TOKEN: &str = "crash-test-token-0123456789abcdef0123456789abcdef";
const WORKERS: usize = 8;

/// The server binary, run as a process of its own.
pub(crate) struct Server {
    pub child: Child,
    pub base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start(database_url: &str) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url, "--bootstrap-token", TOKEN])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start teamtailor-scim");
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == 200 {
                return Server { child, base };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become healthy");
}

/// What one worker had acknowledged when the server died.
#[derive(Default)]
struct Acknowledged {
    /// id -> (userName, title) of every 201.
    created: HashMap<String, (String, String)>,
    /// The worker's own user and the highest counter a 200 PATCH confirmed.
    patched: Option<(String, u64)>,
    /// The highest counter sent, answered or not.
    attempted: u64,
}

fn user(worker: usize, n: u64) -> Value {
    let name = format!("w{worker}-{n}@example.com");
    json!({
        "userName": name,
        "title": format!("title {worker}-{n}"),
        "emails": [
            {"type": "work", "value": name, "primary": true},
            {"type": "home", "value": format!("home-{worker}-{n}@example.net")}
        ],
        "phoneNumbers": [{"type": "work", "value": format!("+46 {worker} {n}")}]
    })
}

async fn write_until_the_server_dies(base: String, worker: usize) -> Acknowledged {
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut acknowledged = Acknowledged::default();
    for n in 0.. {
        acknowledged.attempted = n;
        if n % 2 == 0 || acknowledged.patched.is_none() {
            let body = user(worker, n);
            let Ok(response) = client
                .post(format!("{base}/scim/v2/Users"))
                .bearer_auth(TOKEN)
                .header("content-type", SCIM_JSON)
                .body(body.to_string())
                .send()
                .await
            else {
                break;
            };
            assert_eq!(response.status(), 201, "worker {worker}, user {n}");
            let Ok(created) = response.json::<Value>().await else {
                break;
            };
            let id = created["id"].as_str().unwrap().to_string();
            acknowledged.created.insert(
                id.clone(),
                (
                    body["userName"].as_str().unwrap().into(),
                    body["title"].as_str().unwrap().into(),
                ),
            );
            if acknowledged.patched.is_none() {
                acknowledged.patched = Some((id, 0));
            }
        } else {
            let (id, _) = acknowledged.patched.clone().unwrap();
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": format!("counter {n}")}]
            });
            let Ok(response) = client
                .patch(format!("{base}/scim/v2/Users/{id}"))
                .bearer_auth(TOKEN)
                .header("content-type", SCIM_JSON)
                .body(patch.to_string())
                .send()
                .await
            else {
                break;
            };
            assert_eq!(response.status(), 200, "worker {worker}, patch {n}");
            acknowledged.patched = Some((id, n));
        }
    }
    acknowledged
}

async fn get(client: &Client, base: &str, path: &str) -> Value {
    let response = client
        .get(format!("{base}/scim/v2{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn acknowledged_writes_survive_sigkill(backend: Backend) {
    let Some((database_url, _database)) = create_database(backend).await else {
        return;
    };
    let mut server = start(&database_url).await;
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| tokio::spawn(write_until_the_server_dies(server.base.clone(), worker)))
        .collect();
    let delay = rand::rng().random_range(300..1200);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.unwrap();
    let mut results = Vec::new();
    for worker in workers {
        results.push(worker.await.unwrap());
    }
    let acknowledged_creates: usize = results.iter().map(|r| r.created.len()).sum();
    assert!(
        acknowledged_creates >= WORKERS,
        "the load was too short to mean anything ({acknowledged_creates} creates in {delay} ms)"
    );

    eprintln!("{backend:?}: SIGKILL after {delay} ms, {acknowledged_creates} creates acknowledged");
    let server = start(&database_url).await;
    let client = Client::new();
    let base = &server.base;
    for (worker, result) in results.iter().enumerate() {
        for (id, (name, title)) in &result.created {
            let stored = get(&client, base, &format!("/Users/{id}")).await;
            assert_eq!(stored["userName"], name.as_str());
            assert_eq!(stored["title"], title.as_str());
            assert_eq!(stored["emails"].as_array().unwrap().len(), 2, "{stored}");
            assert_eq!(stored["phoneNumbers"].as_array().unwrap().len(), 1);
            // The multi-valued entries are stored whole, filterable too.
            let home = stored["emails"][1]["value"].as_str().unwrap();
            let filter = urlencode(&format!("emails[type eq \"home\" and value eq \"{home}\"]"));
            let found = get(&client, base, &format!("/Users?filter={filter}")).await;
            assert_eq!(found["totalResults"], 1, "{home}");
            assert_eq!(found["Resources"][0]["id"], id.as_str());
        }
        if let Some((id, counter)) = &result.patched {
            let stored = get(&client, base, &format!("/Users/{id}")).await;
            if *counter > 0 {
                let shown: u64 = stored["displayName"]
                    .as_str()
                    .and_then(|d| d.strip_prefix("counter "))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| {
                        panic!("worker {worker}: acknowledged PATCH lost: {stored}")
                    });
                assert!(
                    shown >= *counter && shown <= result.attempted,
                    "worker {worker}: acknowledged {counter}, stored {shown}"
                );
            }
        }
    }
    // Nothing half-created: every user present is one a worker sent, whole.
    let attempted: u64 = results.iter().map(|r| r.attempted + 1).sum();
    let mut seen = 0;
    loop {
        let page = get(
            &client,
            base,
            &format!("/Users?startIndex={}&count=1000", seen + 1),
        )
        .await;
        let total = page["totalResults"].as_u64().unwrap();
        assert!(total as usize >= acknowledged_creates && total <= attempted);
        let resources = page["Resources"].as_array().unwrap();
        for resource in resources {
            assert_eq!(
                resource["emails"].as_array().unwrap().len(),
                2,
                "{resource}"
            );
        }
        seen += resources.len() as u64;
        if resources.is_empty() || seen >= total {
            assert_eq!(seen, total);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_writes_survive_sigkill() {
    acknowledged_writes_survive_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_writes_survive_sigkill() {
    acknowledged_writes_survive_sigkill(Backend::Postgres).await;
}
