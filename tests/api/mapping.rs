//! Teamtailor's attribute mapping and role transitions, observed through SCIM
//! and through the Teamtailor user record (`users list`).

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{role, TestApp};

both_backends!(
    every_mapping_row_reaches_the_teamtailor_user,
    display_email_falls_back_to_the_login_email,
    formatted_name_wins_over_given_and_family,
    resources_round_trip_what_the_client_sent,
    created_inactive_gets_no_access,
    deactivating_sets_no_access_and_the_user_stays_listed,
    reactivating_from_no_access_gives_user,
    active_true_on_a_recruiter_keeps_recruiter,
    deactivating_an_admin_then_reactivating_gives_user,
    active_accepts_true_and_false_strings_in_any_case,
    unmapped_attributes_are_ignored_and_passwords_never_echoed,
    put_without_active_keeps_the_role,
);

async fn every_mapping_row_reaches_the_teamtailor_user(app: TestApp) {
    let created = app
        .create_user(&json!({
            "userName": "Ada.Lovelace@contoso.com",
            "externalId": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"type": "home", "value": "ada@home.example", "primary": false},
                {"type": "work", "value": "ada@work.example", "primary": true}
            ],
            "phoneNumbers": [
                {"type": "mobile", "value": "+46 70 000"},
                {"type": "work", "value": "+46 8 123"}
            ],
            "title": "Analyst",
            "active": true
        }))
        .await;
    let teamtailor = app.teamtailor_user(created["id"].as_str().unwrap()).await;
    assert_eq!(teamtailor["login_email"], "Ada.Lovelace@contoso.com");
    assert_eq!(teamtailor["external_id"], "ada");
    assert_eq!(teamtailor["email"], "ada@work.example");
    assert_eq!(teamtailor["phone"], "+46 8 123");
    assert_eq!(teamtailor["title"], "Analyst");
    assert_eq!(teamtailor["name"], "Ada Lovelace");
    assert_eq!(teamtailor["role"], "user");
}

async fn display_email_falls_back_to_the_login_email(app: TestApp) {
    let created = app
        .create_user(&json!({
            "userName": "Test_User_1b2c",
            "emails": [{"type": "home", "value": "home@example.com"}]
        }))
        .await;
    let teamtailor = app.teamtailor_user(created["id"].as_str().unwrap()).await;
    assert_eq!(teamtailor["email"], "Test_User_1b2c");
    assert_eq!(teamtailor["phone"], Value::Null);
    assert_eq!(teamtailor["name"], Value::Null);
}

async fn formatted_name_wins_over_given_and_family(app: TestApp) {
    let created = app
        .create_user(&json!({
            "userName": "f@example.com",
            "name": {"formatted": "Dr. Grace Hopper", "givenName": "Grace", "familyName": "Hopper"}
        }))
        .await;
    let teamtailor = app.teamtailor_user(created["id"].as_str().unwrap()).await;
    assert_eq!(teamtailor["name"], "Dr. Grace Hopper");
}

async fn resources_round_trip_what_the_client_sent(app: TestApp) {
    let sent = json!({
        "userName": "round@example.com",
        "name": {"givenName": "  Ada ", "familyName": "Lovelace", "middleName": "King"},
        "displayName": "Ada",
        "emails": [{"value": "x@example.com", "type": "work", "primary": true, "display": "X"}],
        "phoneNumbers": [{"value": "+1", "type": "work"}]
    });
    let created = app.create_user(&sent).await;
    let fetched = app
        .get_json(&format!("/Users/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched["name"], sent["name"], "given/family names as sent");
    assert_eq!(fetched["displayName"], "Ada");
    assert_eq!(
        fetched["emails"],
        json!([{"value": "x@example.com", "display": "X", "type": "work", "primary": true}])
    );
    assert_eq!(
        fetched["phoneNumbers"],
        json!([{"value": "+1", "type": "work"}])
    );
}

async fn created_inactive_gets_no_access(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "off@example.com", "active": false}))
        .await;
    assert_eq!(created["active"], false);
    assert_eq!(role(&created), "no_access");
    let teamtailor = app.teamtailor_user(created["id"].as_str().unwrap()).await;
    assert_eq!(teamtailor["role"], "no_access");
}

async fn put_active(app: &TestApp, id: &str, active: Value) -> Value {
    let mut current = app.get_json(&format!("/Users/{id}")).await;
    current["active"] = active;
    let response = app.put(&format!("/Users/{id}"), &current).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn deactivating_sets_no_access_and_the_user_stays_listed(app: TestApp) {
    let created = app.create_user(&json!({"userName": "d@example.com"})).await;
    let id = created["id"].as_str().unwrap();
    let updated = put_active(&app, id, json!(false)).await;
    assert_eq!(updated["active"], false);
    assert_eq!(role(&updated), "no_access");
    let list = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["active"], false);
}

async fn reactivating_from_no_access_gives_user(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "r@example.com", "active": false}))
        .await;
    let id = created["id"].as_str().unwrap();
    let updated = put_active(&app, id, json!(true)).await;
    assert_eq!(updated["active"], true);
    assert_eq!(role(&updated), "user");
}

async fn active_true_on_a_recruiter_keeps_recruiter(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "rec@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    app.set_role(id, "recruiter").await;
    let updated = put_active(&app, id, json!(true)).await;
    assert_eq!(role(&updated), "recruiter");
    assert_eq!(updated["active"], true);
}

async fn deactivating_an_admin_then_reactivating_gives_user(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "admin@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    app.set_role(id, "admin").await;
    assert_eq!(role(&app.get_json(&format!("/Users/{id}")).await), "admin");
    let off = put_active(&app, id, json!(false)).await;
    assert_eq!(role(&off), "no_access");
    let on = put_active(&app, id, json!(true)).await;
    assert_eq!(role(&on), "user");
    assert_eq!(app.teamtailor_user(id).await["role"], "user");
}

async fn active_accepts_true_and_false_strings_in_any_case(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "s@example.com", "active": "False"}))
        .await;
    assert_eq!(role(&created), "no_access");
    let id = created["id"].as_str().unwrap();
    assert_eq!(role(&put_active(&app, id, json!("TRUE")).await), "user");
    assert_eq!(
        role(&put_active(&app, id, json!("false")).await),
        "no_access"
    );
    let bad = app
        .post_user(&json!({"userName": "t@example.com", "active": "yes"}))
        .await;
    crate::helpers::assert_scim_error(bad, 400, Some("invalidValue")).await;
}

async fn unmapped_attributes_are_ignored_and_passwords_never_echoed(app: TestApp) {
    let response = app
        .post_user(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "okta@example.com",
            "password": "Sup3rSecret!",
            "groups": [],
            "roles": [],
            "locale": "en-US",
            "nickName": "O",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User": {"role": "admin"},
            "meta": {"resourceType": "User"}
        }))
        .await;
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(!text.contains("Sup3rSecret!"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body.get("password").is_none());
    assert!(body.get("groups").is_none());
    assert_eq!(role(&body), "user", "the role extension is read-only");
    let fetched = app
        .get(&format!("/Users/{}", body["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(!fetched.contains("Sup3rSecret!"));
}

async fn put_without_active_keeps_the_role(app: TestApp) {
    let created = app
        .create_user(&json!({"userName": "keep@example.com"}))
        .await;
    let id = created["id"].as_str().unwrap();
    app.set_role(id, "designer").await;
    let response = app
        .put(
            &format!("/Users/{id}"),
            &json!({"userName": "keep@example.com", "title": "X"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(role(&body), "designer");
}
