//! Companies are kept strictly apart: every route, walked with another
//! company's API key and with its OAuth access token, sees nothing of this
//! company's users; `/admin` takes no company credential at all. The walk
//! must cover every authenticated route `/openapi.json` describes and every
//! admin route the README lists.

use std::collections::BTreeSet;

use reqwest::{Method, Response};
use serde_json::{json, Value};
use teamtailor_scim::keys::Secret;

use crate::both_backends;
use crate::helpers::{ids, spawn_app_with, Backend, TestApp, SCIM_JSON};

both_backends!(
    ;
    backend:
    every_route_is_scoped_to_the_callers_company,
);

const OPERATOR: &str = "operator-token";
/// What only the owning company's user carries; no answer to the other may contain it.
const PRIVATE_EMAIL: &str = "private@work.com";
const PRIVATE_TITLE: &str = "Keeper of the payroll";

async fn every_route_is_scoped_to_the_callers_company(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.admin_token = Some(Secret::new(OPERATOR))).await
    else {
        return;
    };
    let mine = app
        .create_user(
            &json!({"userName": "private@example.com", "externalId": "p1",
                             "title": PRIVATE_TITLE,
                             "emails": [{"type": "work", "value": PRIVATE_EMAIL}]}),
        )
        .await;
    let id = mine["id"].as_str().unwrap().to_string();

    // Company acme: an API key, and an OAuth client whose access token is used.
    let other_key = app
        .key_for("acme", &teamtailor_scim::keys::Scope::ALL)
        .await;
    let client: Value = app
        .client
        .post(format!("{}/admin/keys", app.address))
        .bearer_auth(OPERATOR)
        .json(&json!({"company": "acme", "scopes": ["scim", "api-admin", "api-read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issued: Value = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client["id"].to_string()),
            ("client_secret", client["key"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_token = issued["access_token"].as_str().unwrap().to_string();

    // Uniqueness is per company: the same login email may exist in both.
    let theirs = Walk::new(&app, &other_key, &id)
        .send(
            Method::POST,
            "/v1/users",
            Some(json!({"data": {"type": "users",
                                 "attributes": {"email": "private@example.com", "name": "Theirs"}}})),
        )
        .await;
    assert_eq!(theirs.status(), 201);
    let their_id = theirs.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut walked = BTreeSet::new();
    for (round, credential) in [&other_key, &other_token].into_iter().enumerate() {
        let mut walk = Walk::new(&app, credential, &id);
        walk.user_routes(round, &their_id).await;
        walked.extend(walk.walked);
    }
    assert_eq!(
        walked,
        authenticated_routes(&app).await,
        "walked vs described"
    );

    // The admin API wants the operator token, never a company's credential.
    let admin = admin_routes();
    assert!(admin.len() >= 14, "{admin:?}");
    for (method, path) in &admin {
        let concrete = path.replace("{id}", "1").replace("{slug}", "acme");
        let response = app
            .client
            .request(method.clone(), format!("{}{concrete}", app.address))
            .bearer_auth(&other_key)
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    let with_token = app
        .client
        .get(format!("{}/admin/keys", app.address))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_token.status(),
        401,
        "an access token is no operator token"
    );

    assert_eq!(
        app.get_json(&format!("/Users/{id}")).await,
        mine,
        "nothing the other company did changed this user"
    );
}

/// Requests with one credential of the other company, recording each route.
struct Walk<'a> {
    app: &'a TestApp,
    credential: &'a str,
    /// The user of the company being protected.
    id: &'a str,
    walked: BTreeSet<(String, String)>,
}

impl<'a> Walk<'a> {
    fn new(app: &'a TestApp, credential: &'a str, id: &'a str) -> Self {
        Walk {
            app,
            credential,
            id,
            walked: BTreeSet::new(),
        }
    }

    /// `route` is a path template (`{id}` is the protected user) with an
    /// optional query; the answer never shows the protected user's data.
    async fn send(&mut self, method: Method, route: &str, body: Option<Value>) -> Response {
        let template = route.split('?').next().unwrap();
        self.walked
            .insert((method.to_string(), template.to_string()));
        let url = format!("{}{}", self.app.address, route.replace("{id}", self.id));
        let mut request = self
            .app
            .client
            .request(method, url)
            .bearer_auth(self.credential)
            .header("X-Api-Version", "20240404");
        if let Some(body) = body {
            let content_type = if route.starts_with("/v1") {
                "application/vnd.api+json"
            } else {
                SCIM_JSON
            };
            request = request
                .header("Content-Type", content_type)
                .body(body.to_string());
        }
        request.send().await.unwrap()
    }

    /// Sends and returns the status and body, checking nothing private leaked.
    async fn answer(&mut self, method: Method, route: &str, body: Option<Value>) -> (u16, Value) {
        let response = self.send(method.clone(), route, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            !text.contains(PRIVATE_EMAIL) && !text.contains(PRIVATE_TITLE),
            "{method} {route} leaked: {text}"
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn expect(&mut self, method: Method, route: &str, body: Option<Value>, status: u16) {
        let (answered, body) = self.answer(method.clone(), route, body).await;
        assert_eq!(answered, status, "{method} {route}: {body}");
    }

    /// Every SCIM and Teamtailor API route; `round` keeps created names apart.
    async fn user_routes(&mut self, round: usize, their_id: &str) {
        let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "stolen"}]});
        let put = json!({"userName": "stolen@example.com"});
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(put.clone())),
            (Method::PATCH, Some(patch.clone())),
            (Method::DELETE, None),
        ] {
            self.expect(method, "/scim/v2/Users/{id}", body, 404).await;
        }
        for route in [
            "/scim/v2/Users",
            "/scim/v2/Users?filter=userName%20eq%20%22private@example.com%22",
            "/scim/v2/Users?filter=externalId%20eq%20%22p1%22",
            "/scim/v2/Users?filter=id%20eq%20%22{id}%22",
            "/scim/v2/Users?filter=emails%5Bvalue%20co%20%22private@work%22%5D",
            "/scim/v2/Users?cursor=&count=100",
        ] {
            let (status, list) = self.answer(Method::GET, route, None).await;
            assert_eq!(status, 200, "{route}");
            assert!(
                !ids(&list["Resources"]).contains(&self.id.to_string()),
                "{route}"
            );
        }
        for route in ["/scim/v2/Users/.search", "/scim/v2/.search"] {
            let search = json!({"filter": "userName eq \"private@example.com\""});
            let (status, list) = self.answer(Method::POST, route, Some(search)).await;
            assert_eq!(status, 200, "{route}");
            assert_eq!(
                ids(&list["Resources"]),
                [their_id],
                "{route}: only their own"
            );
        }
        let created = json!({"userName": format!("walk{round}@example.com")});
        self.expect(Method::POST, "/scim/v2/Users", Some(created), 201)
            .await;

        let (status, groups) = self.answer(Method::GET, "/scim/v2/Groups", None).await;
        assert_eq!((status, &groups["totalResults"]), (200, &json!(0)));
        let group = json!({"displayName": "stolen"});
        self.expect(Method::POST, "/scim/v2/Groups", Some(group.clone()), 501)
            .await;
        self.expect(Method::GET, "/scim/v2/Groups/{id}", None, 404)
            .await;
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            self.expect(method, "/scim/v2/Groups/{id}", Some(group.clone()), 501)
                .await;
        }

        let api_patch =
            json!({"data": {"type": "users", "id": self.id, "attributes": {"role": "admin"}}});
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(api_patch)),
            (Method::DELETE, None),
        ] {
            self.expect(method, "/v1/users/{id}", body, 404).await;
        }
        for route in [
            "/v1/users",
            "/v1/users?filter[email]=private@work.com",
            "/v1/users?filter[external-id]=p1",
        ] {
            let (status, list) = self.answer(Method::GET, route, None).await;
            assert_eq!(status, 200, "{route}");
            assert!(
                !ids(&list["data"]).contains(&self.id.to_string()),
                "{route}"
            );
        }
        let created = json!({"data": {"type": "users",
                                      "attributes": {"email": format!("walk-api{round}@example.com")}}});
        self.expect(Method::POST, "/v1/users", Some(created), 201)
            .await;
    }
}

/// (method, path) of every operation `/openapi.json` describes as needing a credential.
async fn authenticated_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let document: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = operation["security"]
                .as_array()
                .is_some_and(|s| s.is_empty());
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) && !public {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// (method, path) of every row of the README's admin API table.
fn admin_routes() -> Vec<(Method, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("**Admin API**")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the admin API section");
    let mut routes = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let route = row.split('`').nth(1).unwrap();
        let (methods, path) = route.split_once(' ').unwrap();
        let path = path.split('[').next().unwrap();
        for method in methods.split('/') {
            routes.push((method.parse().unwrap(), path.to_string()));
        }
    }
    routes
}
