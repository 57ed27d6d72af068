//! Trusted issuers whose keys come from a JWKS URL, as Entra publishes them:
//! fetched at start, again when a token names a key the set lacks, and on a
//! schedule; an unreachable URL never stops the server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::Method;
use serde_json::Value;
use teamtailor_scim::auth::issuers::IssuerConfig;
use teamtailor_scim::Settings;
use tokio::net::TcpListener;

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend};
use crate::tokens::{
    entra_claims, fixture, scim_with, sign_rs256_with, ENTRA_AUDIENCE, ENTRA_ISSUER,
};

both_backends!(
    ;
    backend:
    keys_follow_the_identity_providers_rotation,
    an_unreachable_key_url_is_retried_on_schedule,
);

const FIRST: (&str, &str, &str) = ("issuer-private.pem", "test-issuer-key", "issuer-jwks.json");
const ROTATED: (&str, &str, &str) = (
    "issuer-rotated-private.pem",
    "test-issuer-key-rotated",
    "issuer-rotated-jwks.json",
);

/// The identity provider's key endpoint: serves whichever set it holds and
/// counts the fetches.
#[derive(Clone, Default)]
struct KeyEndpoint {
    served: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<usize>>,
}

impl KeyEndpoint {
    fn serve(&self, key: (&str, &str, &str)) {
        let text = std::fs::read_to_string(fixture(key.2)).unwrap();
        *self.served.lock().unwrap() = serde_json::from_str(&text).unwrap();
    }

    fn fetches(&self) -> usize {
        *self.fetches.lock().unwrap()
    }

    async fn listen_on(&self, listener: TcpListener) {
        async fn keys(State(endpoint): State<KeyEndpoint>) -> Json<Value> {
            *endpoint.fetches.lock().unwrap() += 1;
            Json(endpoint.served.lock().unwrap().clone())
        }
        let router = Router::new()
            .route("/discovery/v2.0/keys", get(keys))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    }
}

fn url(address: SocketAddr) -> String {
    format!("http://{address}/discovery/v2.0/keys")
}

fn trust(url: String, refresh_seconds: u64) -> impl FnOnce(&mut Settings) {
    move |settings: &mut Settings| {
        let mut issuer = IssuerConfig::with_url(ENTRA_ISSUER, ENTRA_AUDIENCE, "entra", &url);
        issuer.jwks_refresh_seconds = refresh_seconds;
        settings.trusted_issuers = vec![issuer];
    }
}

fn token(key: (&str, &str, &str)) -> String {
    sign_rs256_with(key.0, key.1, &entra_claims())
}

async fn keys_follow_the_identity_providers_rotation(backend: Backend) {
    let endpoint = KeyEndpoint::default();
    endpoint.serve(FIRST);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    endpoint.listen_on(listener).await;
    let Some(app) = spawn_app_with(backend, trust(url(address), 3600)).await else {
        return;
    };
    assert_eq!(endpoint.fetches(), 1, "fetched once at start");
    for _ in 0..5 {
        assert_eq!(scim_with(&app, &token(FIRST)).await, 200);
    }
    assert_eq!(endpoint.fetches(), 1, "known keys are not fetched again");

    // The provider rotates: a token naming the new key makes the server
    // fetch the set again, and the retired key stops verifying.
    endpoint.serve(ROTATED);
    assert_eq!(scim_with(&app, &token(ROTATED)).await, 200);
    assert_eq!(endpoint.fetches(), 2);
    assert_eq!(scim_with(&app, &token(FIRST)).await, 401);

    // Key ids nobody published do not turn into a fetch per request.
    for _ in 0..5 {
        let forged = sign_rs256_with(FIRST.0, "no-such-key", &entra_claims());
        let response = app.send_as(&forged, Method::GET, "/Users", None).await;
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
    }
    assert!(endpoint.fetches() <= 3, "{} fetches", endpoint.fetches());
}

async fn an_unreachable_key_url_is_retried_on_schedule(backend: Backend) {
    // A port with nothing listening yet.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let Some(app) = spawn_app_with(backend, trust(url(address), 1)).await else {
        return;
    };
    assert_eq!(
        app.send(Method::GET, "/Users", None).await.status(),
        200,
        "API keys work while the issuer's keys cannot be fetched"
    );
    assert_eq!(scim_with(&app, &token(FIRST)).await, 401);

    let endpoint = KeyEndpoint::default();
    endpoint.serve(FIRST);
    endpoint
        .listen_on(TcpListener::bind(address).await.unwrap())
        .await;
    let started = Instant::now();
    while endpoint.fetches() == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        endpoint.fetches() > 0,
        "the scheduled refresh reached the URL"
    );
    assert_eq!(scim_with(&app, &token(FIRST)).await, 200);

    // A later refresh that finds the provider down keeps the loaded keys.
    let fetched = endpoint.fetches();
    *endpoint.served.lock().unwrap() = serde_json::json!({"not": "a key set"});
    while endpoint.fetches() == fetched && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(scim_with(&app, &token(FIRST)).await, 200);
}

#[tokio::test]
async fn an_issuer_needs_exactly_one_key_source() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    for (case, source) in [
        ("neither", String::new()),
        (
            "both",
            format!(
                "jwks_file = {:?}\njwks_url = \"https://login.microsoftonline.com/common/discovery/v2.0/keys\"\n",
                fixture("issuer-jwks.json")
            ),
        ),
        ("not a URL", "jwks_url = \"login.microsoftonline.com/keys\"\n".into()),
    ] {
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[[trusted_issuers]]\nissuer = \"{ENTRA_ISSUER}\"\naudience = \"{ENTRA_AUDIENCE}\"\ncompany = \"entra\"\n{source}"
            ),
        )
        .unwrap();
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(env!("CARGO_BIN_EXE_teamtailor-scim"))
                .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database])
                .arg("--config")
                .arg(&config)
                .output(),
        )
        .await
        .expect("serve stops at once")
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}");
        assert!(stderr.contains(ENTRA_ISSUER), "{case}: {stderr}");
        assert!(stderr.contains("jwks_"), "{case}: {stderr}");
    }
}
