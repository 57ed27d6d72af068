//! The filter language over a seeded data set: hand-written expected results
//! for 100+ expressions, injection attempts, and invalid filters.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_scim_error, TestApp};
use crate::users::urlencode;

both_backends!(
    filters_select_exactly_the_expected_users,
    injection_through_values_and_attributes_is_inert,
    invalid_filters_are_invalid_filter,
    dates_compare_as_instants_whatever_their_offset,
    users_sharing_an_external_id_are_listed_oldest_first,
);

/// The data set: short names a..j name the users.
pub fn seed_users() -> Vec<(&'static str, Value)> {
    vec![
        (
            "a",
            json!({"userName": "Ada@Example.com", "externalId": "EXT-1", "title": "50% off",
                      "name": {"givenName": "Ada", "familyName": "Lovelace"}, "displayName": "Ada L",
                      "emails": [{"type": "work", "value": "ada@work.example", "primary": true},
                                 {"type": "home", "value": "ada@home.example"}],
                      "phoneNumbers": [{"type": "work", "value": "+46 8 100"}]}),
        ),
        (
            "b",
            json!({"userName": "bob@example.com", "externalId": "ext-1", "title": "a_b",
                      "name": {"formatted": "Bob Builder"}, "active": false,
                      "emails": [{"type": "home", "value": "bob@home.example"}]}),
        ),
        (
            "c",
            json!({"userName": "carol@example.org", "title": "back\\slash",
                      "name": {"givenName": "Carol", "familyName": "O'Neil"},
                      "emails": [{"type": "work", "value": "carol@work.example", "primary": false}]}),
        ),
        (
            "d",
            json!({"userName": "dave@example.org", "externalId": "ext-4", "title": "quote\"d",
                      "displayName": ""}),
        ),
        (
            "e",
            json!({"userName": "élise@exemple.fr", "title": "Ünïcödé Chief",
                      "name": {"givenName": "Élise", "familyName": "Müller"},
                      "emails": [{"type": "work", "value": "ÉLISE@work.example"}]}),
        ),
        (
            "f",
            json!({"userName": "frank@example.com", "title": "50 percent",
                      "emails": [{"type": "other", "value": "frank%50@x.example"}],
                      "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}]}),
        ),
        (
            "g",
            json!({"userName": "grace@example.com", "title": "Admiral", "externalId": "g",
                      "name": {"givenName": "Grace", "familyName": "Hopper", "middleName": "Brewster"},
                      "emails": [{"type": "work", "value": "grace@navy.example", "primary": true}]}),
        ),
        ("h", json!({"userName": "Test_User_5b5a", "active": false})),
        (
            "i",
            json!({"userName": "ivan@example.com", "title": "abc", "displayName": "Ivan"}),
        ),
        (
            "j",
            json!({"userName": "judy@example.com", "title": "ABD",
                      "emails": [{"type": "WORK", "value": "JUDY@WORK.EXAMPLE"}]}),
        ),
    ]
}

async fn seed(app: &TestApp) {
    for (_, user) in seed_users() {
        app.create_user(&user).await;
    }
}

/// Runs a filter and returns the short names of the users it selects.
async fn selected(app: &TestApp, filter: &str) -> String {
    let names: Vec<(String, &str)> = seed_users()
        .into_iter()
        .map(|(short, user)| (user["userName"].as_str().unwrap().to_string(), short))
        .collect();
    let response = app
        .get(&format!("/Users?count=100&filter={}", urlencode(filter)))
        .await;
    assert_eq!(response.status(), 200, "{filter}");
    let body: Value = response.json().await.unwrap();
    let mut shorts: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let user_name = r["userName"].as_str().unwrap();
            names.iter().find(|(n, _)| n == user_name).unwrap().1
        })
        .collect();
    shorts.sort();
    assert_eq!(body["totalResults"], shorts.len(), "{filter}");
    shorts.concat()
}

const CASES: &[(&str, &str)] = &[
    // userName: case-insensitive
    (r#"userName eq "ada@example.com""#, "a"),
    (r#"userName eq "ADA@EXAMPLE.COM""#, "a"),
    (r#"userName ne "ada@example.com""#, "bcdefghij"),
    (r#"userName co "EXAMPLE.COM""#, "abfgij"),
    (r#"userName sw "test_""#, "h"),
    (r#"userName sw "test%""#, ""),
    (r#"userName ew ".org""#, "cd"),
    (r#"userName gt "h""#, "ehij"),
    (r#"userName ge "ivan@example.com""#, "ehij"),
    (r#"userName lt "b""#, "a"),
    (r#"userName le "bob@example.com""#, "ab"),
    (r#"userName eq "ÉLISE@EXEMPLE.FR""#, "e"),
    (r#"userName pr"#, "abcdefghij"),
    (r#"USERNAME Eq "Ada@Example.com""#, "a"),
    (
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com""#,
        "b",
    ),
    // externalId: case-exact
    (r#"externalId eq "ext-1""#, "b"),
    (r#"externalId eq "EXT-1""#, "a"),
    (r#"externalId sw "ext""#, "bd"),
    (r#"externalId co "1""#, "ab"),
    (r#"externalId pr"#, "abdg"),
    (r#"not (externalId pr)"#, "cefhij"),
    (r#"externalId eq null"#, "cefhij"),
    (r#"externalId ne null"#, "abdg"),
    (r#"externalId ne "ext-1""#, "acdefghij"),
    (r#"externalId gt "ext""#, "bdg"),
    // title: %, _, \ and quotes match literally; case-insensitive
    (r#"title co "%""#, "a"),
    (r#"title co "_""#, "b"),
    (r#"title co "\\""#, "c"),
    (r#"title co "\"""#, "d"),
    (r#"title eq "back\\slash""#, "c"),
    (r#"title eq "quote\"d""#, "d"),
    (r#"title sw "50""#, "af"),
    (r#"title sw "50%""#, "a"),
    (r#"title sw "50 ""#, "f"),
    (r#"title ew "OFF""#, "a"),
    (r#"title co "ünïcödé""#, "e"),
    (r#"title eq "ÜNÏCÖDÉ CHIEF""#, "e"),
    (r#"title sw "ab""#, "ij"),
    (r#"title eq "abd""#, "j"),
    (r#"title gt "abc""#, "cdegj"),
    (r#"title lt "abc""#, "abf"),
    (r#"title le "abc""#, "abfi"),
    (r#"title ge "admiral""#, "cdeg"),
    (r#"title pr"#, "abcdefgij"),
    (r#"title eq null"#, "h"),
    (r#"title ne "abc""#, "abcdefghj"),
    (r#"title co """#, "abcdefgij"),
    // displayName: empty string is not present
    (r#"displayName pr"#, "ai"),
    (r#"displayName eq """#, "d"),
    (r#"displayName eq null"#, "bcefghj"),
    (r#"displayName co "a""#, "ai"),
    // name sub-attributes
    (r#"name.givenName eq "ada""#, "a"),
    (r#"name.givenName sw "é""#, "e"),
    (r#"name.familyName eq "o'neil""#, "c"),
    (r#"name.familyName co "ü""#, "e"),
    (r#"name.formatted pr"#, "b"),
    (r#"name.middleName eq "brewster""#, "g"),
    (r#"name.givenName pr and name.familyName pr"#, "aceg"),
    (
        r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName ew "er""#,
        "eg",
    ),
    // active and the role extension
    (r#"active eq true"#, "acdefgij"),
    (r#"active eq false"#, "bh"),
    (r#"active ne true"#, "bh"),
    (r#"active pr"#, "abcdefghij"),
    (
        r#"urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role eq "no_access""#,
        "bh",
    ),
    (
        r#"urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role eq "user""#,
        "acdefgij",
    ),
    // multi-valued: any entry
    (r#"emails co "work.example""#, "acej"),
    (r#"emails.value co "@home""#, "ab"),
    (r#"emails.value eq "ada@home.example""#, "a"),
    (r#"emails.value eq "élise@work.example""#, "e"),
    (r#"emails.value ne "ada@home.example""#, "bcdefghij"),
    (r#"emails.type eq "work""#, "acegj"),
    (r#"emails.type eq "home""#, "ab"),
    (r#"emails.type ne "work""#, "bdfhi"),
    (r#"emails pr"#, "abcefgj"),
    (r#"not (emails pr)"#, "dhi"),
    (r#"emails.value eq null"#, "dhi"),
    (r#"emails.primary eq true"#, "ag"),
    (r#"emails.primary eq false"#, "c"),
    (r#"emails.value co "%""#, "f"),
    (r#"emails.value sw "frank%5""#, "f"),
    (r#"phoneNumbers.value sw "+46""#, "a"),
    (r#"phoneNumbers pr"#, "af"),
    (r#"phoneNumbers.type eq "mobile""#, "f"),
    // value filters: the conditions hold on one entry
    (r#"emails[type eq "work"]"#, "acegj"),
    (r#"emails[type eq "work" and value co "ada"]"#, "a"),
    (r#"emails[type eq "home" and value co "ada"]"#, "a"),
    (r#"emails[type eq "home" and value co "work"]"#, ""),
    (r#"emails[type eq "work" and primary eq true]"#, "ag"),
    (r#"emails[type eq "work" and not (primary eq true)]"#, "cej"),
    (r#"emails[value ew ".example" and type ne "work"]"#, "abf"),
    (r#"emails[type eq "work" or type eq "other"]"#, "acefgj"),
    (r#"emails[not (type eq "work")]"#, "abf"),
    (r#"emails[display pr]"#, ""),
    (r#"phoneNumbers[type eq "work" and value co "8"]"#, "a"),
    (r#"not (emails[type eq "work"])"#, "bdfhi"),
    (r#"EMAILS[TYPE EQ "WORK" AND VALUE SW "JUDY"]"#, "j"),
    // precedence and grouping
    (
        r#"title eq "abc" or title eq "abd" and userName sw "j""#,
        "ij",
    ),
    (
        r#"(title eq "abc" or title eq "abd") and userName sw "j""#,
        "j",
    ),
    (
        r#"title eq "abc" or (title eq "abd" and userName sw "j")"#,
        "ij",
    ),
    (
        r#"userName sw "a" or userName sw "b" or userName sw "c""#,
        "abc",
    ),
    (
        r#"userName sw "a" and title co "%" or active eq false"#,
        "abh",
    ),
    (r#"not (active eq true) and userName co "test""#, "h"),
    (r#"not (userName sw "a" or userName sw "b")"#, "cdefghij"),
    (r#"not (not (title eq "abc"))"#, "i"),
    (r#"title pr and not (title co "a")"#, "adef"),
    (
        r#"(userName sw "a" or userName sw "b") and (emails.type eq "home")"#,
        "ab",
    ),
    (r#"active eq false and not (externalId pr)"#, "h"),
    (r#"   userName   eq   "ivan@example.com"   "#, "i"),
    // dates
    (r#"meta.created gt "2000-01-01T00:00:00Z""#, "abcdefghij"),
    (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, ""),
    (
        r#"meta.created ge "2000-01-01T00:00:00+02:00" and meta.created le "2999-01-01T00:00:00Z""#,
        "abcdefghij",
    ),
    (r#"meta.resourceType eq "User""#, "abcdefghij"),
];

async fn filters_select_exactly_the_expected_users(app: TestApp) {
    seed(&app).await;
    assert!(CASES.len() >= 100, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (filter, expected) in CASES {
        let got = selected(&app, filter).await;
        if got != *expected {
            failures.push(format!("{filter}: expected '{expected}', got '{got}'"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// externalId is not unique: an `eq` finds every user that has it, in the
/// default order, paged like any list, whether a few (read by the
/// externalId index) or more than a lookup reads (the list's way).
async fn users_sharing_an_external_id_are_listed_oldest_first(app: TestApp) {
    let user = |name: String, external_id: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "externalId": external_id,
        })
    };
    for name in ["c@shared.example", "a@shared.example", "b@shared.example"] {
        app.create_user(&user(name.into(), "shared")).await;
    }
    app.create_user(&user("d@shared.example".into(), "SHARED"))
        .await;
    for i in 0..102 {
        app.create_user(&user(format!("{i:03}@crowd.example"), "crowd"))
            .await;
    }
    let app = &app;
    let page = |external_id: &'static str, query: &'static str| async move {
        let filter = urlencode(&format!("externalId eq \"{external_id}\""));
        let body = app
            .get_json(&format!("/Users?filter={filter}{query}"))
            .await;
        let names: Vec<String> = body["Resources"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .map(|u| u["userName"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        (body["totalResults"].as_u64().unwrap(), names)
    };
    let shared = ["c@shared.example", "a@shared.example", "b@shared.example"];
    assert_eq!(
        page("shared", "").await,
        (3, shared.map(String::from).to_vec())
    );
    assert_eq!(
        page("shared", "&startIndex=2&count=1").await,
        (3, vec!["a@shared.example".to_owned()])
    );
    assert_eq!(page("shared", "&count=0").await, (3, vec![]));
    assert_eq!(page("shared", "&startIndex=4").await, (3, vec![]));
    assert_eq!(
        page("SHARED", "").await,
        (1, vec!["d@shared.example".to_owned()])
    );
    assert_eq!(page("Shared", "").await, (0, vec![]));
    assert_eq!(
        page("crowd", "&startIndex=99&count=5").await,
        (
            102,
            vec![
                "098@crowd.example",
                "099@crowd.example",
                "100@crowd.example",
                "101@crowd.example",
            ]
            .into_iter()
            .map(String::from)
            .collect()
        )
    );
}

/// The same instant written in other offsets: a string comparison would
/// order these differently.
async fn dates_compare_as_instants_whatever_their_offset(app: TestApp) {
    use chrono::{DateTime, FixedOffset, SecondsFormat};
    let mut created = Vec::new();
    for name in ["first", "middle", "last"] {
        let user = app
            .create_user(&json!({"userName": format!("{name}@dates.example")}))
            .await;
        created.push(user["meta"]["created"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    let middle = DateTime::parse_from_rfc3339(&created[1]).unwrap();
    let shifted = |hours: i32| {
        middle
            .with_timezone(&FixedOffset::east_opt(hours * 3600).unwrap())
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    let (ahead, behind) = (shifted(2), shifted(-5));
    let names = |filter: String| {
        let app = &app;
        async move {
            let body = app
                .get_json(&format!("/Users?filter={}", urlencode(&filter)))
                .await;
            body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["userName"]
                        .as_str()
                        .unwrap()
                        .split('@')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    assert_eq!(
        names(format!(r#"meta.created eq "{ahead}""#)).await,
        "middle"
    );
    assert_eq!(
        names(format!(r#"meta.created lt "{ahead}""#)).await,
        "first"
    );
    assert_eq!(
        names(format!(r#"meta.created gt "{behind}""#)).await,
        "last"
    );
    assert_eq!(
        names(format!(
            r#"meta.created ge "{behind}" and meta.created le "{ahead}""#
        ))
        .await,
        "middle"
    );
    assert_eq!(
        names(format!(r#"meta.lastModified ge "{}""#, created[1])).await,
        "middle,last"
    );
}

async fn injection_through_values_and_attributes_is_inert(app: TestApp) {
    seed(&app).await;
    for filter in [
        r#"userName eq "x' OR '1'='1""#,
        r#"userName eq "x\" OR 1=1 --""#,
        r#"title eq "'; DROP TABLE users; --""#,
        r#"title co "%' OR title LIKE '%""#,
        r#"emails[value eq "a') OR 1=1 --"]"#,
    ] {
        assert_eq!(selected(&app, filter).await, "", "{filter}");
    }
    for filter in [
        r#"userName) OR (1=1 eq "x""#,
        r#"users.id eq "1""#,
        r#"company_id eq "1""#,
        r#"user_name_lower eq "ada@example.com""#,
        r#"title; DROP TABLE users eq "x""#,
        r#"emails[value) OR (1=1 eq "x"]"#,
    ] {
        let path = format!("/Users?filter={}", urlencode(filter));
        assert_scim_error(app.get(&path).await, 400, Some("invalidFilter")).await;
    }
    assert_eq!(
        app.get_json("/Users").await["totalResults"],
        10,
        "nothing was dropped"
    );
}

async fn invalid_filters_are_invalid_filter(app: TestApp) {
    for filter in [
        "userName",
        "userName eq",
        r#"userName eq "a" and"#,
        r#"nosuch eq "x""#,
        r#"name.nosuch eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
        r#"userName eq "unterminated"#,
        r#"active gt true"#,
        r#"active eq "yes""#,
        r#"title eq 5"#,
        r#"title gt null"#,
        r#"meta.created gt "yesterday""#,
        r#"title[value eq "x"]"#,
        r#"emails[nosuch eq "x"]"#,
        r#"emails[value eq "a"] and emails[type[value eq "x"]]"#,
        r#"emails.primary co "t""#,
        &format!("{}userName pr{}", "(".repeat(60), ")".repeat(60)),
        &format!("userName eq \"{}\"", "x".repeat(5000)),
    ] {
        let path = format!("/Users?filter={}", urlencode(filter));
        let body = assert_scim_error(app.get(&path).await, 400, Some("invalidFilter")).await;
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
}
