//! Discovery endpoints and the Groups probe.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, TestApp, SCIM_JSON};

both_backends!(
    service_provider_config_describes_the_server,
    schemas_describe_exactly_what_is_stored,
    resource_types_list_users,
    groups_list_is_empty_and_writes_are_refused,
    health_checks_the_database,
);

async fn service_provider_config_describes_the_server(app: TestApp) {
    let response = app
        .client
        .get(app.scim("/ServiceProviderConfig"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    let config: Value = response.json().await.unwrap();
    assert_eq!(
        config["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(config["filter"]["supported"], true);
    assert!(config["filter"]["maxResults"].as_u64().unwrap() > 0);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
}

async fn schemas_describe_exactly_what_is_stored(app: TestApp) {
    let list = app.get_json("/Schemas").await;
    assert_eq!(list["totalResults"], 2);
    let user = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    let attributes = user["attributes"].as_array().unwrap();
    let names: Vec<&str> = attributes
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "externalId",
            "userName",
            "name",
            "displayName",
            "title",
            "active",
            "emails",
            "phoneNumbers"
        ]
    );
    let attribute = |name: &str| {
        attributes
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(attribute("userName")["caseExact"], false);
    assert_eq!(attribute("userName")["uniqueness"], "server");
    assert_eq!(attribute("userName")["required"], true);
    assert_eq!(attribute("externalId")["caseExact"], true);
    assert_eq!(attribute("active")["type"], "boolean");
    assert_eq!(attribute("emails")["multiValued"], true);
    let emails = attribute("emails");
    let email_parts: Vec<&str> = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(email_parts, ["value", "display", "type", "primary"]);
    let extension = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User")
        .await;
    assert_eq!(extension["attributes"][0]["name"], "role");
    assert_eq!(extension["attributes"][0]["mutability"], "readOnly");
    assert_scim_error(app.get("/Schemas/urn:nope").await, 404, None).await;
}

async fn resource_types_list_users(app: TestApp) {
    let list = app.get_json("/ResourceTypes").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        list["Resources"][0]["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"
    );
    assert_eq!(app.get_json("/ResourceTypes/User").await["name"], "User");
}

async fn groups_list_is_empty_and_writes_are_refused(app: TestApp) {
    let list = app.get_json("/Groups").await;
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));
    let filtered = app
        .get("/Groups?filter=displayName%20eq%20%22x%22&count=1")
        .await;
    assert_eq!(filtered.status(), 200);
    let body = assert_scim_error(
        app.send(
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Team"})),
        )
        .await,
        501,
        None,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("groups"));
    assert_scim_error(app.get("/Groups/1").await, 404, None).await;
    let unauthenticated = app.client.get(app.scim("/Groups")).send().await.unwrap();
    assert_scim_error(unauthenticated, 401, None).await;
}

async fn health_checks_the_database(app: TestApp) {
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}
