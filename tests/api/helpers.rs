//! One way to start the server for a test: a fresh database per test, the real
//! listener on port 0, and a client. Every storage test runs on both backends.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Client, Response};
use serde_json::Value;
use teamtailor_scim::keys::{Scope, Secret};
use teamtailor_scim::storage::{Database, NewApiKey, Store};
use teamtailor_scim::{App, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub key: String,
    pub client: Client,
    pub database_url: String,
    _database: TestDatabase,
}

/// Runs each listed `async fn name(app: TestApp)` once per backend, on an
/// app with the default settings. Tests listed after `backend:` are
/// `async fn name(backend: Backend)`: they start what they need themselves
/// (other settings, several apps) and return early when PostgreSQL is not
/// there outside CI.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)? $(; backend: $($custom:ident),* $(,)?)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                    super::$name(app.expect("SQLite is always available")).await;
                }
            )*
            $($(
                #[tokio::test]
                async fn $custom() {
                    super::$custom($crate::helpers::Backend::Sqlite).await;
                }
            )*)?
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
            $($(
                #[tokio::test]
                async fn $custom() {
                    super::$custom($crate::helpers::Backend::Postgres).await;
                }
            )*)?
        }
    };
}

pub const SCIM_JSON: &str = "application/scim+json";

pub fn postgres_admin_url() -> String {
    std::env::var("TEAMTAILOR_SCIM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "tts_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    )
}

fn rand_suffix() -> String {
    Secret::generate().expose()[3..11]
        .to_ascii_lowercase()
        .replace(['-', '_'], "x")
}

/// A database that exists for one test and is removed afterwards.
pub enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let pool = sqlx::PgPool::connect(&postgres_admin_url()).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&pool)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

pub async fn create_database(backend: Backend) -> Option<(String, TestDatabase)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            Some((url, TestDatabase::Sqlite(dir)))
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let pool = match sqlx::PgPool::connect(&admin).await {
                Ok(pool) => pool,
                Err(error) => {
                    if std::env::var_os("CI").is_some() {
                        panic!("PostgreSQL is required in CI but {admin} is unreachable: {error}");
                    }
                    eprintln!("skipping the PostgreSQL run: {admin} is unreachable ({error}); set TEAMTAILOR_SCIM_TEST_POSTGRES");
                    return None;
                }
            };
            let name = unique_name();
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let base = admin
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin);
            Some((format!("{base}/{name}"), TestDatabase::Postgres { name }))
        }
    }
}

/// Waits out the server's key cache poll, after which a key changed by
/// another process (the command line) is seen: a bound the README states.
pub async fn key_poll() {
    tokio::time::sleep(teamtailor_scim::auth::cache::POLL_EVERY * 3).await;
}

/// Server warnings and errors go to the test's output, shown when it fails.
fn show_server_errors() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
    });
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    show_server_errors();
    let (database_url, database) = create_database(backend).await?;
    let key = Secret::generate();
    let mut settings = Settings::new(&database_url);
    settings.listen = "127.0.0.1:0".into();
    settings.bootstrap_token = Some(key.clone());
    configure(&mut settings);
    let app = App::build(&settings).await.expect("the app starts");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    Some(TestApp {
        address,
        key: key.expose().to_string(),
        client: Client::new(),
        database_url,
        _database: database,
    })
}

impl TestApp {
    pub fn scim(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.address)
    }

    /// Starts another server on this test's database, as a second instance
    /// behind a load balancer would be; returns its base address.
    pub async fn another_instance(&self) -> String {
        let mut settings = Settings::new(&self.database_url);
        settings.listen = "127.0.0.1:0".into();
        settings.bootstrap_token = Some(Secret::new(self.key.clone()));
        let app = App::build(&settings)
            .await
            .expect("the second instance starts");
        let address = format!("http://{}", app.local_addr());
        tokio::spawn(app.run(std::future::pending()));
        address
    }

    /// The database file of a SQLite test's server.
    pub fn sqlite_path(&self) -> String {
        let path = self.database_url.strip_prefix("sqlite://");
        path.expect("a SQLite database").to_string()
    }

    /// A new server on this test's database, with the same key, in place of
    /// this one (which keeps serving the requests it was given).
    pub async fn reopened(self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings::new(&self.database_url);
        settings.listen = "127.0.0.1:0".into();
        settings.bootstrap_token = Some(Secret::new(self.key.clone()));
        configure(&mut settings);
        let app = App::build(&settings).await.expect("the app starts again");
        let address = format!("http://{}", app.local_addr());
        tokio::spawn(app.run(std::future::pending()));
        TestApp { address, ..self }
    }

    /// Creates a key for `company` (created if missing) with the given scopes.
    pub async fn key_for(&self, company: &str, scopes: &[Scope]) -> String {
        let store = Database::connect(&self.database_url)
            .await
            .expect("database");
        let company = store.ensure_company(company).await.expect("company");
        let secret = Secret::generate();
        store
            .create_key(&NewApiKey {
                company_id: company.id,
                name: "test".into(),
                digest: secret.digest(),
                scopes: scopes.to_vec(),
                expires_at: None,
            })
            .await
            .expect("key");
        secret.expose().to_string()
    }

    /// Runs the command-line tool against this test's database.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run teamtailor-scim")
    }

    /// Runs the command-line tool and returns what it printed, failing the
    /// test (with what it wrote to stderr) if it did not succeed.
    pub async fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args).await;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// The company's users as Teamtailor sees them (`users list`).
    pub async fn teamtailor_users(&self, company: &str) -> Vec<Value> {
        self.cli_ok(&["users", "list", "--company", company])
            .await
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    pub async fn teamtailor_user(&self, id: &str) -> Value {
        self.teamtailor_users("default")
            .await
            .into_iter()
            .find(|u| u["id"] == id)
            .expect("user in Teamtailor")
    }

    pub async fn set_role(&self, id: &str, role: &str) {
        self.cli_ok(&["users", "set-role", id, role]).await;
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        self.send_as(&self.key, method, path, body).await
    }

    pub async fn send_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.scim(path))
            .header("Authorization", format!("Bearer {key}"));
        if let Some(body) = body {
            request = request
                .header("Content-Type", SCIM_JSON)
                .body(body.to_string());
        }
        request.send().await.expect("request")
    }

    pub async fn post_user(&self, body: &Value) -> Response {
        self.send(reqwest::Method::POST, "/Users", Some(body)).await
    }

    /// Creates a user and returns the resource; panics unless 201.
    pub async fn create_user(&self, body: &Value) -> Value {
        let response = self.post_user(body).await;
        assert_eq!(response.status(), 201, "create failed");
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// Asserts a SCIM error response and returns its body.
pub async fn assert_scim_error(response: Response, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        SCIM_JSON
    );
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], status.to_string());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    match scim_type {
        Some(t) => assert_eq!(body["scimType"], t, "{body}"),
        None => assert!(body.get("scimType").is_none(), "{body}"),
    }
    body
}

/// The ids of a list of users, SCIM `Resources` or `/v1` `data` (none when absent).
pub fn ids(resources: &Value) -> Vec<String> {
    resources
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// ids of the users a filter finds.
pub async fn found(app: &TestApp, filter: &str) -> Vec<String> {
    let page = app
        .get_json(&format!(
            "/Users?filter={}",
            crate::users::urlencode(filter)
        ))
        .await;
    assert!(page["Resources"].is_array(), "{filter}: {page}");
    ids(&page["Resources"])
}

pub fn role(resource: &Value) -> &str {
    resource["urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"]["role"]
        .as_str()
        .expect("role")
}

/// `length` random letters and digits: text no database compresses.
pub fn random_text(length: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), length)
}

/// `length` random 4-byte characters (pictographs): the most bytes a value
/// of that many characters can take.
pub fn random_wide_text(length: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from_u32(rng.random_range(0x1F300..0x1F600)).expect("a pictograph"))
        .collect()
}
