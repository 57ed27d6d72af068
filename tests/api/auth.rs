//! API keys on the SCIM surface, and companies kept apart.

use reqwest::Method;
use serde_json::json;
use teamtailor_scim::keys::Scope;

use crate::both_backends;
use crate::helpers::{assert_scim_error, TestApp};

both_backends!(
    every_authorization_form_is_accepted,
    missing_or_wrong_keys_are_401_with_www_authenticate,
    a_key_without_the_scim_scope_is_403,
    revoked_keys_stop_working_at_once,
    companies_see_none_of_each_others_users,
    the_same_user_name_may_exist_in_two_companies,
);

async fn every_authorization_form_is_accepted(app: TestApp) {
    for header in [
        format!("Bearer {}", app.key),
        format!("bearer {}", app.key),
        format!("Token token={}", app.key),
        format!("Token token=\"{}\"", app.key),
        app.key.clone(),
    ] {
        let response = app
            .client
            .get(app.scim("/Users"))
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{header}");
    }
}

async fn missing_or_wrong_keys_are_401_with_www_authenticate(app: TestApp) {
    let missing = app.client.get(app.scim("/Users")).send().await.unwrap();
    assert!(missing.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_scim_error(missing, 401, None).await;
    for wrong in [
        "Bearer nope",
        "Bearer ",
        "tt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Basic dXNlcjpwYXNz",
    ] {
        let response = app
            .client
            .get(app.scim("/Users"))
            .header("Authorization", wrong)
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("www-authenticate"));
        assert_scim_error(response, 401, None).await;
    }
    let mangled = format!("{}x", app.key);
    let response = app
        .send_as(
            &mangled,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "x"})),
        )
        .await;
    assert_scim_error(response, 401, None).await;
    assert_eq!(
        app.get_json("/Users").await["totalResults"],
        0,
        "nothing was written"
    );
}

async fn a_key_without_the_scim_scope_is_403(app: TestApp) {
    let api_only = app
        .key_for("default", &[Scope::ApiAdmin, Scope::ApiRead])
        .await;
    let response = app.send_as(&api_only, Method::GET, "/Users", None).await;
    let body = assert_scim_error(response, 403, None).await;
    assert!(body["detail"].as_str().unwrap().contains("scim"));
    let scim_only = app.key_for("default", &[Scope::Scim]).await;
    assert_eq!(
        app.send_as(&scim_only, Method::GET, "/Users", None)
            .await
            .status(),
        200
    );
}

async fn revoked_keys_stop_working_at_once(app: TestApp) {
    let key = app.key_for("default", &[Scope::Scim]).await;
    assert_eq!(
        app.send_as(&key, Method::GET, "/Users", None)
            .await
            .status(),
        200
    );
    let listed = app.cli(&["tokens", "list"]).await;
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        !listing.contains(&key),
        "tokens list never prints key values"
    );
    let id = listing
        .lines()
        .rfind(|l| l.contains(" test "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the test key is listed")
        .to_string();
    let revoked = app.cli(&["tokens", "revoke", &id]).await;
    assert!(revoked.status.success());
    // Revoked from another process: the server sees it at its next key poll.
    crate::helpers::key_poll().await;
    assert_scim_error(
        app.send_as(&key, Method::GET, "/Users", None).await,
        401,
        None,
    )
    .await;
    assert_eq!(
        app.get("/Users").await.status(),
        200,
        "other keys keep working"
    );
}

async fn companies_see_none_of_each_others_users(app: TestApp) {
    let other = app.key_for("acme", &[Scope::Scim]).await;
    let created = app
        .create_user(&json!({"userName": "a@example.com", "externalId": "a"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/Users/{id}");

    let list = app.send_as(&other, Method::GET, "/Users", None).await;
    let list: serde_json::Value = list.json().await.unwrap();
    assert_eq!(list["totalResults"], 0);
    let filtered = app
        .send_as(
            &other,
            Method::GET,
            "/Users?filter=userName%20eq%20%22a@example.com%22",
            None,
        )
        .await;
    assert_eq!(
        filtered.json::<serde_json::Value>().await.unwrap()["totalResults"],
        0
    );
    assert_scim_error(
        app.send_as(&other, Method::GET, &path, None).await,
        404,
        None,
    )
    .await;
    assert_scim_error(
        app.send_as(
            &other,
            Method::PUT,
            &path,
            Some(&json!({"userName": "stolen@example.com"})),
        )
        .await,
        404,
        None,
    )
    .await;
    assert_scim_error(
        app.send_as(&other, Method::DELETE, &path, None).await,
        404,
        None,
    )
    .await;
    let still = app.get_json(&path).await;
    assert_eq!(still["userName"], "a@example.com");
}

async fn the_same_user_name_may_exist_in_two_companies(app: TestApp) {
    let other = app.key_for("acme", &[Scope::Scim]).await;
    app.create_user(&json!({"userName": "shared@example.com"}))
        .await;
    let response = app
        .send_as(
            &other,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "shared@example.com"})),
        )
        .await;
    assert_eq!(response.status(), 201);
}
