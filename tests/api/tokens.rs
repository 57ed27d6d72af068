//! OAuth client credentials, the server's access tokens, trusted external
//! issuers, key lifecycle and failure limiting.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use teamtailor_scim::auth::issuers::IssuerConfig;
use teamtailor_scim::auth::usage::FLUSH_EVERY;
use teamtailor_scim::keys::{KeyDigest, Scope};
use teamtailor_scim::storage::{Database, Store};
use teamtailor_scim::Settings;

use crate::both_backends;
use crate::helpers::{assert_scim_error, spawn_app_with, Backend, TestApp};

both_backends!(
    client_credentials_give_tokens_that_work_with_the_keys_scopes,
    token_endpoint_errors_follow_rfc_6749,
    revoking_a_key_ends_its_tokens,
    a_signing_key_rotated_from_the_command_line_is_used_at_once,
    last_use_is_written_in_batches_not_per_request,
    ;
    backend:
    a_configured_secret_keeps_signing_through_rotations,
    tokens_are_validated,
    key_lifecycle,
);

pub const ENTRA_AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";
pub const ENTRA_ISSUER: &str = "https://sts.windows.net/6f1d2c9e-0000-4000-8000-000000000001/";
const JWT_SECRET: &str = "test-signing-secret-0123456789abcdef";

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn configure(settings: &mut Settings) {
    settings.jwt_secret = Some(teamtailor_scim::keys::Secret::new(JWT_SECRET));
    settings.trusted_issuers = vec![IssuerConfig::with_file(
        ENTRA_ISSUER,
        ENTRA_AUDIENCE,
        "entra",
        fixture("issuer-jwks.json").into(),
    )];
}

async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut request = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

/// Creates a key and returns (client id, secret).
async fn client(app: &TestApp, company: &str, scopes: &[Scope]) -> (String, String) {
    let secret = app.key_for(company, scopes).await;
    let listing = app.cli(&["tokens", "list", "--company", company]).await;
    let listing = String::from_utf8(listing.stdout).unwrap();
    let id = listing
        .lines()
        .filter(|l| l.contains(" test "))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|id| id.parse::<i64>().ok())
        .max()
        .unwrap()
        .to_string();
    (id, secret)
}

async fn access_token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> Value {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = token_request(app, &form, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

pub async fn scim_with(app: &TestApp, token: &str) -> u16 {
    app.send_as(token, Method::GET, "/Users", None)
        .await
        .status()
        .as_u16()
}

async fn api_with(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(format!("{}/v1/users", app.address))
        .bearer_auth(token)
        .header("X-Api-Version", "20240404")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn client_credentials_give_tokens_that_work_with_the_keys_scopes(app: TestApp) {
    let (id, secret) = client(&app, "default", &[Scope::Scim, Scope::ApiRead]).await;
    let token = access_token(&app, &id, &secret, None).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(token["scope"], "scim api-read");
    let jwt = token["access_token"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    assert!(
        jsonwebtoken::decode_header(jwt).unwrap().kid.is_some(),
        "tokens name their signing key"
    );
    assert_eq!(scim_with(&app, jwt).await, 200);
    assert_eq!(api_with(&app, jwt).await, 200);

    let narrowed = access_token(&app, &id, &secret, Some("scim")).await;
    let narrowed = narrowed["access_token"].as_str().unwrap();
    assert_eq!(scim_with(&app, narrowed).await, 200);
    assert_eq!(
        api_with(&app, narrowed).await,
        403,
        "only the scopes asked for"
    );

    let basic = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(basic.status(), 200);
}

/// A token request (form, HTTP Basic credentials) and the expected status and error.
type TokenCase<'a> = (
    Vec<(&'a str, &'a str)>,
    Option<(&'a str, &'a str)>,
    u16,
    &'a str,
);

async fn token_endpoint_errors_follow_rfc_6749(app: TestApp) {
    let (id, secret) = client(&app, "default", &[Scope::Scim]).await;
    let cases: Vec<TokenCase> = vec![
        (
            vec![("client_id", &id), ("client_secret", &secret)],
            None,
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            None,
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "client_credentials")],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nope"),
                ("client_secret", &secret),
            ],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "api-admin"),
            ],
            None,
            400,
            "invalid_scope",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", &id)],
            Some((&id, &secret)),
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some((&id, "wrong")),
            401,
            "invalid_client",
        ),
    ];
    for (form, basic, status, error) in cases {
        let response = token_request(&app, &form, basic).await;
        assert_eq!(response.status(), status, "{form:?}");
        if status == 401 {
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(challenge.starts_with(if basic.is_some() { "Basic" } else { "Bearer" }));
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}");
        assert!(
            !body.to_string().contains(&secret),
            "errors never echo the secret"
        );
    }
}

async fn revoking_a_key_ends_its_tokens(app: TestApp) {
    let (id, secret) = client(&app, "default", &[Scope::Scim]).await;
    let token = access_token(&app, &id, &secret, None).await;
    let jwt = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(scim_with(&app, &jwt).await, 200);
    assert!(app.cli(&["tokens", "revoke", &id]).await.status.success());
    crate::helpers::key_poll().await;
    assert_eq!(scim_with(&app, &jwt).await, 401);
}

async fn last_used(store: &Database, secret: &str) -> Option<i64> {
    let digest = KeyDigest::of(secret);
    store
        .list_keys(None)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.digest.matches(&digest))
        .expect("the key is listed")
        .last_used_at
}

/// Waits (up to two flush intervals) until `secret`'s last use is written.
async fn written(store: &Database, secret: &str) -> i64 {
    let deadline = Instant::now() + FLUSH_EVERY * 2;
    loop {
        if let Some(at) = last_used(store, secret).await {
            return at;
        }
        assert!(Instant::now() < deadline, "no batch was written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn last_use_is_written_in_batches_not_per_request(app: TestApp) {
    let store = Database::connect(&app.database_url).await.unwrap();
    let first = app.key_for("default", &[Scope::Scim]).await;
    let second = app.key_for("default", &[Scope::Scim]).await;
    // A batch seen through the first key: the next is a whole interval away.
    assert_eq!(scim_with(&app, &first).await, 200);
    let first_batch = written(&store, &first).await;
    let batch_seen = Instant::now();

    assert_eq!(scim_with(&app, &second).await, 200);
    assert_eq!(scim_with(&app, &first).await, 200);
    assert_eq!(
        last_used(&store, &second).await,
        None,
        "right after a request, its key's last use is not yet written"
    );
    assert_eq!(last_used(&store, &first).await, Some(first_batch));

    let second_batch = written(&store, &second).await;
    assert!(
        batch_seen.elapsed() >= FLUSH_EVERY / 2,
        "written with the next batch"
    );
    assert!(second_batch > first_batch);
    assert!(last_used(&store, &first).await.unwrap() > first_batch);
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Waits out the server's signing key poll.
async fn signing_key_poll() {
    tokio::time::sleep(teamtailor_scim::auth::tokens::POLL_EVERY * 3).await;
}

/// Moves a signing key's retirement two hours back, longer than any token lives.
async fn retire_long_ago(app: &TestApp, kid: &str) {
    let sql = format!(
        "UPDATE signing_keys SET retired_at = retired_at - {} WHERE kid = '{kid}'",
        2 * 3600 * 1_000_000i64
    );
    let updated = if app.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(&sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(&sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected()
    };
    assert_eq!(updated, 1, "{kid} is a retired key");
}

async fn a_signing_key_rotated_from_the_command_line_is_used_at_once(app: TestApp) {
    let (id, secret) = client(&app, "default", &[Scope::Scim]).await;
    let token = || async {
        let issued = app_request_token(&app.address, &id, &secret).await;
        issued["access_token"].as_str().unwrap().to_string()
    };
    let before = token().await;

    let rotated = app.cli(&["signing-keys", "rotate"]).await;
    assert!(rotated.status.success());
    signing_key_poll().await;
    let after = token().await;
    assert_ne!(
        kid_of(&after),
        kid_of(&before),
        "new tokens carry the new kid"
    );
    assert!(String::from_utf8(rotated.stdout)
        .unwrap()
        .contains(&kid_of(&after)));
    assert_eq!(
        scim_with(&app, &before).await,
        200,
        "earlier tokens stay valid"
    );
    assert_eq!(scim_with(&app, &after).await, 200);

    // The stored key survives a restart: a new instance signs with it and
    // verifies what this one issued.
    let restarted = app.another_instance().await;
    let from_restarted = app_request_token(&restarted, &id, &secret).await;
    let from_restarted = from_restarted["access_token"].as_str().unwrap();
    assert_eq!(kid_of(from_restarted), kid_of(&after));
    assert_eq!(scim_at(&app, &restarted, &after).await, 200);

    // Once no token it signed can be valid, a retired key verifies nothing.
    retire_long_ago(&app, &kid_of(&before)).await;
    signing_key_poll().await;
    assert_eq!(scim_with(&app, &before).await, 401);
    assert_eq!(scim_with(&app, &after).await, 200);

    // A key rotated elsewhere is known as soon as one of its tokens arrives.
    assert!(app.cli(&["signing-keys", "rotate"]).await.status.success());
    let newer = app.another_instance().await;
    let from_newer = app_request_token(&newer, &id, &secret).await;
    let from_newer = from_newer["access_token"].as_str().unwrap();
    assert_ne!(kid_of(from_newer), kid_of(&after));
    assert_eq!(scim_with(&app, from_newer).await, 200);
}

/// An access token from the server at `address`.
async fn app_request_token(address: &str, id: &str, secret: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{address}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn scim_at(app: &TestApp, address: &str, token: &str) -> u16 {
    app.client
        .get(format!("{address}/scim/v2/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_configured_secret_keeps_signing_through_rotations(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        configure(s);
        s.admin_token = Some(teamtailor_scim::keys::Secret::new("operator"));
    })
    .await
    else {
        return;
    };
    let (id, secret) = client(&app, "default", &[Scope::Scim]).await;
    let before = app_request_token(&app.address, &id, &secret).await;
    let before = before["access_token"].as_str().unwrap().to_string();
    assert!(kid_of(&before).starts_with("config-"));
    let rotated = app
        .client
        .post(format!("{}/admin/signing-keys/rotate", app.address))
        .bearer_auth("operator")
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    assert!(app.cli(&["signing-keys", "rotate"]).await.status.success());
    signing_key_poll().await;
    assert_eq!(
        scim_with(&app, &before).await,
        200,
        "the configured secret still verifies"
    );
    let after = app_request_token(&app.address, &id, &secret).await;
    let after = after["access_token"].as_str().unwrap();
    assert_eq!(kid_of(after), kid_of(&before), "and still signs");
    assert_eq!(scim_with(&app, after).await, 200);
    // Tokens of an instance without the secret verify here too.
    let plain = app.another_instance().await;
    let stored = app_request_token(&plain, &id, &secret).await;
    let stored = stored["access_token"].as_str().unwrap();
    assert!(!kid_of(stored).starts_with("config-"));
    assert_eq!(scim_with(&app, stored).await, 200);
}

fn sign_hs256(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn sign_rs256(claims: &Value) -> String {
    sign_rs256_with("issuer-private.pem", "test-issuer-key", claims)
}

/// Signs as the stand-in identity provider with one of its fixture keys.
pub fn sign_rs256_with(private_pem: &str, kid: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(private_pem)).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "JWT"})),
        encode(claims)
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn entra_claims() -> Value {
    json!({"iss": ENTRA_ISSUER, "aud": ENTRA_AUDIENCE, "iat": now(), "nbf": now() - 10, "exp": now() + 600,
           "tid": "6f1d2c9e-0000-4000-8000-000000000001"})
}

async fn tokens_are_validated(backend: Backend) {
    let Some(app) = spawn_app_with(backend, configure).await else {
        return;
    };
    // The server's own tokens, forged with the configured secret.
    let (id, secret) = client(&app, "default", &[Scope::Scim]).await;
    let issued = access_token(&app, &id, &secret, None).await;
    let good = issued["access_token"].as_str().unwrap().to_string();
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    assert_eq!(scim_with(&app, &good).await, 200);
    let own = |overrides: Value| {
        let mut claims = json!({"iss": "teamtailor-scim", "aud": "teamtailor-scim", "sub": id, "company": "default",
                                "scope": "scim", "iat": now(), "exp": now() + 600, "jti": "x"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(overrides.as_object().unwrap().clone());
        claims
    };
    assert_eq!(
        scim_with(
            &app,
            &sign_hs256(&own(json!({})), &kid, JWT_SECRET.as_bytes())
        )
        .await,
        200
    );
    for (case, token) in [
        (
            "expired",
            sign_hs256(
                &own(json!({"exp": now() - 120})),
                &kid,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong audience",
            sign_hs256(
                &own(json!({"aud": "someone-else"})),
                &kid,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong issuer",
            sign_hs256(&own(json!({"iss": "evil"})), &kid, JWT_SECRET.as_bytes()),
        ),
        (
            "wrong secret",
            sign_hs256(&own(json!({})), &kid, b"not-the-secret"),
        ),
        (
            "other company",
            sign_hs256(
                &own(json!({"company": "acme"})),
                &kid,
                JWT_SECRET.as_bytes(),
            ),
        ),
        ("alg none", unsigned(&own(json!({})))),
        ("tampered", {
            let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
            parts[1] = parts[1].chars().rev().collect();
            parts.join(".")
        }),
    ] {
        assert_scim_error(
            app.send_as(&token, Method::GET, "/Users", None).await,
            401,
            None,
        )
        .await;
        let _ = case;
    }

    // A trusted external issuer (Entra's shape), for company "entra".
    let entra = sign_rs256(&entra_claims());
    assert_eq!(scim_with(&app, &entra).await, 200);
    let created = app
        .send_as(
            &entra,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "from-entra@example.com"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        app.get_json("/Users").await["totalResults"],
        0,
        "the issuer's company, not default"
    );
    assert_eq!(
        api_with(&app, &entra).await,
        403,
        "issuer tokens get the scim scope only"
    );
    let public_pem = std::fs::read(fixture("issuer-public.pem")).unwrap();
    let with = |overrides: Value| {
        let mut claims = entra_claims();
        claims
            .as_object_mut()
            .unwrap()
            .extend(overrides.as_object().unwrap().clone());
        claims
    };
    for (case, token) in [
        ("expired", sign_rs256(&with(json!({"exp": now() - 300})))),
        (
            "not yet valid",
            sign_rs256(&with(json!({"nbf": now() + 600}))),
        ),
        (
            "wrong audience",
            sign_rs256(&with(
                json!({"aud": "00000003-0000-0000-c000-000000000000"}),
            )),
        ),
        (
            "untrusted issuer",
            sign_rs256(&with(
                json!({"iss": "https://sts.windows.net/other-tenant/"}),
            )),
        ),
        ("alg none", unsigned(&entra_claims())),
        (
            "HS256 signed with the public key",
            sign_hs256(&entra_claims(), "test-issuer-key", &public_pem),
        ),
        ("tampered", {
            let mut parts: Vec<String> = entra.split('.').map(str::to_string).collect();
            let claims = with(json!({"aud": ENTRA_AUDIENCE, "extra": "x"}));
            use base64::Engine;
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
            parts.join(".")
        }),
    ] {
        let response = app.send_as(&token, Method::GET, "/Users", None).await;
        assert_eq!(response.status(), 401, "{case}");
    }
}

async fn key_lifecycle(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.admin_token = Some(teamtailor_scim::keys::Secret::new("operator"))
    })
    .await
    else {
        return;
    };
    let admin = |method: Method, path: &str| {
        app.client
            .request(method, format!("{}/admin{path}", app.address))
            .bearer_auth("operator")
    };
    // Create through the admin API; the value is shown once.
    let created: Value = admin(Method::POST, "/keys")
        .json(&json!({"company": "acme", "scopes": ["scim"], "name": "entra"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    assert!(key.len() >= 43);
    assert_eq!(scim_with(&app, &key).await, 200);
    let listed = admin(Method::GET, "/keys?company=acme")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("\"entra\"") && !listed.contains(&key),
        "lists never show key values"
    );

    // Rotation with a grace period: both work; without: the old one stops at once.
    let rotated: Value = admin(Method::POST, &format!("/keys/{id}/rotate"))
        .json(&json!({"grace_seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(scim_with(&app, &new_key).await, 200);
    assert_eq!(
        scim_with(&app, &key).await,
        200,
        "the grace period keeps the old key"
    );
    let newest = app
        .cli_ok(&["tokens", "rotate", &rotated["id"].to_string()])
        .await
        .trim()
        .to_string();
    crate::helpers::key_poll().await;
    assert_eq!(scim_with(&app, &newest).await, 200);
    assert_eq!(
        scim_with(&app, &new_key).await,
        401,
        "rotated without grace: revoked at once"
    );

    // Revocation through the admin API, and expiry.
    assert_eq!(
        admin(Method::DELETE, &format!("/keys/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(scim_with(&app, &key).await, 401);
    let short: Value = admin(Method::POST, "/keys")
        .json(&json!({"company": "acme", "scopes": ["scim"], "expires_in": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let short_key = short["key"].as_str().unwrap();
    assert_eq!(scim_with(&app, short_key).await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        scim_with(&app, short_key).await,
        401,
        "expired keys stop working"
    );

    // last_used_at is recorded in batches, not on every request.
    let mut last_used = Value::Null;
    for _ in 0..40 {
        let keys: Value = admin(Method::GET, "/keys?company=acme")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        last_used = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"].is_null() && k["name"] == "entra" && k["active"] == true)
            .map(|k| k["last_used"].clone())
            .unwrap_or(Value::Null);
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        last_used.is_string(),
        "last_used appears after the batch is written"
    );

    // Operator token checks and the rest of the admin surface.
    let wrong = app
        .client
        .get(format!("{}/admin/keys", app.address))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let company = admin(Method::POST, "/companies")
        .json(&json!({"slug": "globex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(company.status(), 201);
    let again = admin(Method::POST, "/companies")
        .json(&json!({"slug": "globex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let rotated: Value = admin(Method::POST, "/signing-keys/rotate")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(rotated["kid"].is_string());
}

#[tokio::test]
async fn the_admin_api_is_off_without_an_operator_token() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let response = app
        .client
        .get(format!("{}/admin/keys", app.address))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("--admin-token"));
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_rate_limited() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..30 {
        let status = app
            .send_as(&format!("guess-{i}"), Method::GET, "/Users", None)
            .await
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let blocked = app.get("/Users").await;
    assert_eq!(
        blocked.status(),
        429,
        "even a right key waits once the address is blocked"
    );
    assert!(blocked.headers().contains_key("retry-after"));
    assert_scim_error(blocked, 429, None).await;
}

#[tokio::test]
async fn operator_token_guesses_count_toward_the_same_limit() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.admin_token = Some(teamtailor_scim::keys::Secret::new("operator"))
    })
    .await
    .unwrap();
    let admin = |token: String| {
        app.client
            .get(format!("{}/admin/keys", app.address))
            .bearer_auth(token)
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(admin(format!("guess-{i}")).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let blocked = admin("operator".into()).await.unwrap();
    assert_eq!(
        blocked.status(),
        429,
        "even the right operator token waits once the address is blocked"
    );
    assert!(blocked.headers().contains_key("retry-after"));
    assert_eq!(
        app.get("/Users").await.status(),
        429,
        "one limit per address, whichever surface was guessed at"
    );
}
