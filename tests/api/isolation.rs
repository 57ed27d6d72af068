//! Companies are kept strictly apart: every route, walked with another
//! company's credential, sees nothing of this company's users.

use reqwest::Method;
use serde_json::{json, Value};
use teamtailor_scim::keys::Scope;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(every_route_is_scoped_to_the_callers_company,);

async fn every_route_is_scoped_to_the_callers_company(app: TestApp) {
    let created = app
        .create_user(
            &json!({"userName": "private@example.com", "externalId": "p1",
                             "emails": [{"type": "work", "value": "private@work.com"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let other = app.key_for("acme", &Scope::ALL).await;
    // The same userName may exist in the other company.
    let theirs = app
        .send_as(
            &other,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "private@example.com"})),
        )
        .await;
    assert_eq!(theirs.status(), 201);
    let their_id = theirs.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "stolen"}]});
    let put = json!({"userName": "stolen@example.com"});
    let scim: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/Users/{id}"), None),
        (Method::PUT, format!("/Users/{id}"), Some(put.clone())),
        (Method::PATCH, format!("/Users/{id}"), Some(patch.clone())),
        (Method::DELETE, format!("/Users/{id}"), None),
    ];
    for (method, path, body) in scim {
        let response = app
            .send_as(&other, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    for path in [
        "/Users".to_string(),
        "/Users?filter=userName%20eq%20%22private@example.com%22".to_string(),
        "/Users?filter=externalId%20eq%20%22p1%22".to_string(),
        format!("/Users?filter=id%20eq%20%22{id}%22"),
        "/Users?filter=emails%5Bvalue%20co%20%22private@work%22%5D".to_string(),
        "/Users?cursor=&count=100".to_string(),
    ] {
        let list: Value = app
            .send_as(&other, Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&id.as_str()), "{path}: {list}");
    }
    for path in ["/Users/.search", "/.search"] {
        let list: Value = app
            .send_as(
                &other,
                Method::POST,
                path,
                Some(&json!({"filter": "userName eq \"private@example.com\""})),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["totalResults"], 1, "{path}: only their own user");
        assert_eq!(list["Resources"][0]["id"], their_id.as_str());
    }

    let api = |method: Method, path: String, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, format!("{}/v1{path}", app.address))
            .header("Authorization", format!("Token token={other}"))
            .header("X-Api-Version", "20240404");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let api_patch = json!({"data": {"type": "users", "id": id, "attributes": {"role": "admin"}}});
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(api_patch)),
        (Method::DELETE, None),
    ] {
        let response = api(method.clone(), format!("/users/{id}"), body)
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} /v1/users/{id}");
    }
    for path in [
        "/users",
        "/users?filter[email]=private@work.com",
        "/users?filter[external-id]=p1",
    ] {
        let list: Value = api(Method::GET, path.to_string(), None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&id.as_str()), "{path}");
    }

    let mine = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(
        mine, created,
        "nothing the other company did changed this user"
    );
}
