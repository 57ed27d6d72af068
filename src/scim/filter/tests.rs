use proptest::prelude::*;

use super::*;

fn path(attr: &str) -> AttrPath {
    AttrPath::parse(attr).unwrap()
}

fn eq(attr: &str, value: &str) -> Filter {
    Filter::Compare {
        path: path(attr),
        op: CompareOp::Eq,
        value: CompValue::String(value.into()),
    }
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

/// Found by the fuzzer: a float must parse to the same value as its printed form.
#[test]
fn long_numbers_print_and_parse_back_to_the_same_value() {
    let filter = parse_filter("ql lt 42011111151111111111111105555555").unwrap();
    assert_eq!(parse_filter(&filter.to_string()).unwrap(), filter);
}

/// Found by the fuzzer: multi-byte text where a URN prefix is looked for.
#[test]
fn non_ascii_paths_are_errors_not_panics() {
    assert!(AttrPath::parse("\u{1}\u{8}\u{10}\u{145}\u{145}").is_err());
    assert!(crate::scim::path::parse_patch_path("\u{10}\u{145}\u{145}").is_err());
    assert!(parse_filter("\u{10}\u{145}\u{145} eq 1").is_err());
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let (a, b, c) = (eq("a", "1"), eq("b", "2"), eq("c", "3"));
    assert_eq!(
        parse_filter(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap(),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse_filter(r#"a eq "1" and b eq "2" or c eq "3""#).unwrap(),
        or(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse_filter(r#"(a eq "1" or b eq "2") and c eq "3""#).unwrap(),
        and(or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse_filter(r#"not (a eq "1") and b eq "2""#).unwrap(),
        and(Filter::Not(Box::new(a.clone())), b.clone())
    );
    assert_eq!(
        parse_filter(r#"a eq "1" and b eq "2" and c eq "3""#).unwrap(),
        and(and(a, b), c)
    );
}

#[test]
fn names_operators_and_keywords_are_case_insensitive() {
    let parsed = parse_filter(r#"userName EQ "x" AND Not(title Pr) OR active eq TRUE"#).unwrap();
    assert_eq!(
        parsed.to_string(),
        r#"userName eq "x" and not (title pr) or active eq true"#
    );
}

#[test]
fn urns_sub_attributes_and_value_paths() {
    let parsed =
        parse_filter(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw "O'""#)
            .unwrap();
    let Filter::Compare { path, op, .. } = parsed else {
        panic!()
    };
    assert_eq!(
        path.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(
        (path.attr.as_str(), path.sub_attr.as_deref(), op),
        ("name", Some("familyName"), CompareOp::Sw)
    );
    let parsed = parse_filter(r#"emails[type eq "work" and value co "@x"]"#).unwrap();
    assert!(matches!(parsed, Filter::ValuePath { ref path, .. } if path.attr == "emails"));
    let role = parse_filter(
        r#"urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User:role eq "admin""#,
    )
    .unwrap();
    assert!(matches!(role, Filter::Compare { ref path, .. } if path.attr == "role"));
}

#[test]
fn literals_follow_json() {
    let value = |text: &str| match parse_filter(&format!("a eq {text}")).unwrap() {
        Filter::Compare { value, .. } => value,
        _ => unreachable!(),
    };
    assert_eq!(
        value(r#""q\"b\\s\/\u00e9\ud83d\ude00\n""#),
        CompValue::String("q\"b\\s/é😀\n".into())
    );
    assert_eq!(
        value("-12.5e3"),
        CompValue::Number(serde_json::from_str("-12.5e3").unwrap())
    );
    assert_eq!(value("0"), CompValue::Number(0.into()));
    assert_eq!(value("False"), CompValue::Bool(false));
    assert_eq!(value("null"), CompValue::Null);
    assert_eq!(
        value(r#""2026-01-01T00:00:00Z""#),
        CompValue::String("2026-01-01T00:00:00Z".into())
    );
}

#[test]
fn invalid_filters_say_where_and_what() {
    for (filter, position) in [
        ("", 0),
        ("   ", 3),
        ("userName", 8),
        ("userName eq", 11),
        (r#"userName eq "a" xyz"#, 16),
        (r#"userName eq "unterminated"#, 12),
        (r#"userName zz "a""#, 9),
        (r#"userName pr "a""#, 12),
        (r#"not userName eq "a""#, 4),
        (r#"(userName eq "a""#, 16),
        (r#"userName eq "a")"#, 15),
        (r#"emails[type eq "work""#, 21),
        (r#"emails[type[value eq "x"]]"#, 11),
        (r#"userName eq 'single'"#, 12),
        ("userName eq truex", 12),
        ("userName eq 12ab", 12),
        (r#"userName eq "\ud800""#, 12),
        (r#"userName eq "bad \q escape""#, 12),
        (r#"and userName eq "a""#, 4),
        (r#"userName eq "a" and"#, 19),
        (r#"userName eq "a" or or b eq "c""#, 22),
        (r#"name..x eq "a""#, 0),
        (r#"1name eq "a""#, 0),
        (r#"userName  eq"#, 12),
        ("userName eq -", 12),
        ("()", 1),
        (r#"name.givenName[value eq "x"]"#, 14),
        (r#"userName eq "a" ] "#, 16),
        ("not", 3),
        (r#"userName eq "a" and (title eq "b""#, 33),
    ] {
        let error = parse_filter(filter).expect_err(filter);
        assert_eq!(error.position, position, "{filter}: {error}");
        assert!(error
            .to_string()
            .starts_with(&format!("invalid filter at position {position}: ")));
        assert!(!error.expected.is_empty());
    }
}

#[test]
fn limits_protect_the_server() {
    let deep = format!("{}a eq 1{}", "(".repeat(100), ")".repeat(100));
    assert!(parse_filter(&deep)
        .unwrap_err()
        .message
        .contains("nests deeper"));
    let nots = format!("{}a eq 1{}", "not (".repeat(40), ")".repeat(40));
    assert!(parse_filter(&nots).is_err());
    let ok = format!("{}a eq 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse_filter(&ok).is_ok());
    let chain = vec!["a eq 1"; 400].join(" or ");
    assert!(chain.len() < MAX_FILTER_LEN);
    assert!(parse_filter(&chain).is_ok(), "long chains do not recurse");
    let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    assert!(parse_filter(&long)
        .unwrap_err()
        .message
        .contains("longer than"));
}

fn attr_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,6}"
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop_oneof![
            Just("urn:ietf:params:scim:schemas:core:2.0:User".to_string()),
            Just("urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User".to_string()),
        ]),
        attr_name(),
        prop::option::of(attr_name()),
    )
        .prop_map(|(urn, attr, sub_attr)| AttrPath {
            urn,
            attr,
            sub_attr,
        })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        // Binary fractions print and parse back exactly.
        (-4_000_000i64..4_000_000)
            .prop_map(|n| CompValue::Number(serde_json::Number::from_f64(n as f64 / 8.0).unwrap())),
        "[a-z%_\\\\\"' é漢😀\\n]{0,12}".prop_map(CompValue::String),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (attr_path(), compare_op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        attr_path().prop_map(Filter::Present),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (attr_name(), leaf()).prop_map(|(attr, inner)| Filter::ValuePath {
        path: AttrPath {
            urn: None,
            attr,
            sub_attr: None,
        },
        filter: Box::new(inner),
    });
    prop_oneof![leaf(), value_path].prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

proptest! {
    #[test]
    fn printing_and_parsing_gives_the_same_filter(filter in filter()) {
        let text = filter.to_string();
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&filter), "{}", text);
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,80}") {
        let _ = parse_filter(&text);
    }
}
