//! Microsoft Entra ID provisioning, replayed from the request shapes of
//! Microsoft's SCIM tutorial and test collection: default mode (capitalised
//! ops, "True"/"False" strings) and the `aadOptscim062020` mode.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, role, TestApp, SCIM_JSON};
use crate::users::urlencode;

both_backends!(
    entra_default_mode_provisioning_cycle,
    entra_aad_opt_scim_062020_mode,
);

struct Entra<'a> {
    app: &'a TestApp,
    /// `?aadOptscim062020` when the tenant URL carries the flag.
    flag: &'static str,
}

impl Entra<'_> {
    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let separator = if self.flag.is_empty() || query.is_empty() {
            ""
        } else {
            "&"
        };
        let query = format!("{}{separator}{query}", self.flag);
        let url = if query.is_empty() {
            self.app.scim(path)
        } else {
            format!("{}?{query}", self.app.scim(path))
        };
        let mut request = self
            .app
            .client
            .request(method, url)
            .header("Authorization", format!("Bearer {}", self.app.key))
            .header("Accept", "application/scim+json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        request.send().await.unwrap()
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let response = self.request(method, path, query, body).await;
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["content-type"], SCIM_JSON);
        response.json().await.unwrap()
    }

    async fn lookup(&self, filter: &str) -> Value {
        self.json(
            Method::GET,
            "/Users",
            &format!("filter={}", urlencode(filter)),
            None,
            StatusCode::OK,
        )
        .await
    }

    async fn patch(&self, id: &str, operations: Value) -> Value {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        self.json(
            Method::PATCH,
            &format!("/Users/{id}"),
            "",
            Some(body),
            StatusCode::OK,
        )
        .await
    }
}

fn create_body(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": true,
        "addresses": [],
        "displayName": "displayName",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "title": "Engineer",
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0100"}],
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering", "manager": {"value": "m1"}}
    })
}

async fn test_connection_and_create(entra: &Entra<'_>, user_name: &str) -> String {
    // Test Connection: a filter on a random GUID must give an empty list.
    let probe = entra
        .lookup(r#"userName eq "e6b4a6f4-5a9f-4f7f-9b1e-2bd0b1c9e6a1""#)
        .await;
    assert_eq!(probe["totalResults"], 0);
    assert_eq!(probe["Resources"], json!([]));
    let groups = entra
        .request(
            Method::GET,
            "/Groups",
            "excludedAttributes=members&filter=displayName+eq+%22x%22",
            None,
        )
        .await;
    assert_eq!(
        groups.status(),
        200,
        "a 404 on /Groups fails Entra's connection test"
    );

    // Lookup before create, then create.
    assert_eq!(
        entra.lookup(&format!(r#"userName eq "{user_name}""#)).await["totalResults"],
        0
    );
    let response = entra
        .request(Method::POST, "/Users", "", Some(create_body(user_name)))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/Users/{id}")));
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["userName"], user_name);
    assert_eq!(created["active"], true);
    assert_eq!(created["name"]["formatted"], "givenName familyName");
    assert_eq!(created["emails"][0]["type"], "work");
    assert!(created.get("roles").is_none());

    // A second create of the same userName is a 409 uniqueness.
    let duplicate = entra
        .request(Method::POST, "/Users", "", Some(create_body(user_name)))
        .await;
    assert_scim_error(duplicate, 409, Some("uniqueness")).await;

    // Lookups by userName and externalId.
    let by_name = entra.lookup(&format!(r#"userName eq "{user_name}""#)).await;
    assert_eq!(by_name["totalResults"], 1);
    assert_eq!(by_name["Resources"][0]["id"], id.as_str());
    let by_external = entra
        .lookup(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)
        .await;
    assert_eq!(by_external["Resources"][0]["id"], id.as_str());
    id
}

async fn hard_delete(entra: &Entra<'_>, id: &str) {
    let response = entra
        .request(Method::DELETE, &format!("/Users/{id}"), "", None)
        .await;
    assert_eq!(response.status(), 204);
    let gone = entra
        .request(Method::GET, &format!("/Users/{id}"), "", None)
        .await;
    assert_scim_error(gone, 404, None).await;
}

async fn entra_default_mode_provisioning_cycle(app: TestApp) {
    let entra = Entra {
        app: &app,
        flag: "",
    };
    let user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1";
    let id = test_connection_and_create(&entra, user_name).await;

    // Update multi-valued and single-valued attributes (capitalised ops).
    let updated = entra
        .patch(
            &id,
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 425 555 0199"},
            ]),
        )
        .await;
    assert_eq!(updated["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(updated["name"]["familyName"], "updatedFamilyName");
    assert_eq!(updated["phoneNumbers"].as_array().unwrap().len(), 2);
    let renamed = entra
        .patch(&id, json!([{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]))
        .await;
    assert_eq!(
        renamed["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    let teamtailor = app.teamtailor_user(&id).await;
    assert_eq!(
        teamtailor["login_email"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    assert_eq!(teamtailor["email"], "updatedEmail@microsoft.com");

    // Disable (soft delete) and re-enable with string booleans.
    let disabled = entra
        .patch(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(disabled["active"], false);
    assert_eq!(role(&disabled), "no_access");
    let listed = entra
        .lookup(r#"userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com""#)
        .await;
    assert_eq!(
        listed["Resources"][0]["active"], false,
        "soft-deleted users stay listed"
    );
    let enabled = entra
        .patch(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(enabled["active"], true);
    assert_eq!(role(&enabled), "user");

    hard_delete(&entra, &id).await;
}

async fn entra_aad_opt_scim_062020_mode(app: TestApp) {
    let entra = Entra {
        app: &app,
        flag: "aadOptscim062020",
    };
    let id =
        test_connection_and_create(&entra, "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee").await;
    let updated = entra
        .patch(
            &id,
            json!([
                {"op": "replace", "value": {
                    "displayName": "Updated Name",
                    "name.givenName": "Updated",
                    "name.familyName": "Name",
                    "title": "Principal",
                    "active": false
                }},
                {"op": "add", "path": "emails[type eq \"work\"].value", "value": "updated@contoso.com"},
            ]),
        )
        .await;
    assert_eq!(updated["displayName"], "Updated Name");
    assert_eq!(updated["name"]["givenName"], "Updated");
    assert_eq!(updated["name"]["familyName"], "Name");
    assert_eq!(updated["title"], "Principal");
    assert_eq!(updated["active"], false);
    assert_eq!(role(&updated), "no_access");
    let enabled = entra
        .patch(
            &id,
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(role(&enabled), "user");
    let removed = entra
        .patch(&id, json!([{"op": "remove", "path": "title"}]))
        .await;
    assert!(removed.get("title").is_none());
    hard_delete(&entra, &id).await;
}
