//! SCIM filter AST -> SQL `WHERE` fragment, through a whitelist of known
//! attributes. Values are always bound as parameters, never spliced.
//!
//! Every fragment evaluates to TRUE or FALSE, never NULL, so `not (...)` over
//! an absent attribute behaves as SCIM says (absent `title eq "x"` is false,
//! so its negation is true). Case-insensitive attributes are compared through
//! columns lower-cased by the application; `emails` and `phoneNumbers` through
//! `user_values` rows with `IN` subqueries (which both planners can drive
//! from the value index; `user_id` is never null, so `NOT IN` is safe).

use chrono::DateTime;

use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{TEAMTAILOR_USER_SCHEMA, USER_SCHEMA};
use crate::scim::ScimError;
use crate::storage::{Condition, UserOrder, UserQuery};

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    /// Text compared as stored (`caseExact: true`).
    ExactText,
    /// Text stored lower-cased; the compared value is lower-cased too.
    CaselessText,
    Id,
    Instant,
    Boolean,
    /// SCIM `active`, derived from the role.
    Active,
}

#[derive(Debug, Clone, Copy)]
struct Column {
    expr: &'static str,
    kind: ColumnKind,
}

const fn column_of(expr: &'static str, kind: ColumnKind) -> Column {
    Column { expr, kind }
}

/// What an attribute path names in storage.
#[derive(Debug, Clone, Copy)]
enum Target {
    Column(Column),
    /// `emails` or `phoneNumbers`, optionally narrowed to one sub-attribute.
    MultiValued {
        attribute: &'static str,
        sub: Option<Column>,
    },
}

fn is_urn(path: &AttrPath, urn: &str) -> bool {
    path.urn
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(urn))
}

fn resolve(path: &AttrPath) -> Result<Target, ScimError> {
    use ColumnKind::*;
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    if is_urn(path, TEAMTAILOR_USER_SCHEMA) {
        return match (attr.as_str(), sub) {
            ("role", None) => Ok(Target::Column(column_of("role", ExactText))),
            _ => Err(unknown(path)),
        };
    }
    if path.urn.is_some() && !is_urn(path, USER_SCHEMA) {
        return Err(unknown(path));
    }
    let column = match (attr.as_str(), sub.as_deref()) {
        ("id", None) => column_of("id", Id),
        ("username", None) => column_of("user_name_lower", CaselessText),
        ("externalid", None) => column_of("external_id", ExactText),
        ("displayname", None) => column_of("display_name_lower", CaselessText),
        ("title", None) => column_of("title_lower", CaselessText),
        ("active", None) => column_of("role", Active),
        ("name", Some("formatted")) => column_of("name_formatted_lower", CaselessText),
        ("name", Some("givenname")) => column_of("given_name_lower", CaselessText),
        ("name", Some("familyname")) => column_of("family_name_lower", CaselessText),
        ("name", Some("middlename")) => column_of("middle_name_lower", CaselessText),
        ("name", Some("honorificprefix")) => column_of("honorific_prefix_lower", CaselessText),
        ("name", Some("honorificsuffix")) => column_of("honorific_suffix_lower", CaselessText),
        ("meta", Some("created")) => column_of("created_at", Instant),
        ("meta", Some("lastmodified")) => column_of("updated_at", Instant),
        ("meta", Some("resourcetype")) => column_of("'User'", ExactText),
        ("emails" | "phonenumbers", sub) => {
            let attribute = if attr == "emails" {
                "emails"
            } else {
                "phoneNumbers"
            };
            let sub = match sub {
                None => None,
                Some(sub) => Some(value_column(sub).ok_or_else(|| unknown(path))?),
            };
            return Ok(Target::MultiValued { attribute, sub });
        }
        _ => return Err(unknown(path)),
    };
    Ok(Target::Column(column))
}

/// Sub-attributes of an `emails`/`phoneNumbers` entry in `user_values`.
fn value_column(name: &str) -> Option<Column> {
    use ColumnKind::*;
    Some(match name.to_ascii_lowercase().as_str() {
        "value" => column_of("v.value_lower", CaselessText),
        "type" => column_of("v.type_lower", CaselessText),
        "display" => column_of("v.display_lower", CaselessText),
        "primary" => column_of("v.is_primary", Boolean),
        _ => return None,
    })
}

fn unknown(path: &AttrPath) -> ScimError {
    ScimError::InvalidFilter(format!("unknown attribute '{}'", display(path)))
}

fn display(path: &AttrPath) -> String {
    let mut text = String::new();
    if let Some(urn) = &path.urn {
        text.push_str(urn);
        text.push(':');
    }
    text.push_str(&path.attr);
    if let Some(sub) = &path.sub_attr {
        text.push('.');
        text.push_str(sub);
    }
    text
}

/// A translated filter: SQL using `$N` placeholders numbered from the first
/// free one, and the values to bind in order.
#[derive(Debug, Default)]
pub struct SqlFilter {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// A SCIM filter and Teamtailor API conditions, all of which must hold.
pub fn translate_query(
    filter: Option<&Filter>,
    conditions: &[Condition],
    first_param: usize,
) -> Result<SqlFilter, ScimError> {
    let mut out = Translator {
        binds: Vec::new(),
        first_param,
    };
    let mut parts = Vec::new();
    if let Some(filter) = filter {
        parts.push(out.filter(filter)?);
    }
    for condition in conditions {
        parts.push(match condition {
            Condition::Email(email) => {
                let p = out.param(Bind::Text(email.to_lowercase()));
                format!("(email_lower = {p} OR user_name_lower = {p})")
            }
            Condition::ExternalId(id) => {
                let p = out.param(Bind::Text(id.clone()));
                format!("(external_id = {p})")
            }
            Condition::Role(role) => {
                let p = out.param(Bind::Text(role.as_str().into()));
                format!("(role = {p})")
            }
            Condition::After { created_at, id } => {
                let c = out.param(Bind::Int(*created_at));
                let i = out.param(Bind::Int(*id));
                format!("(created_at > {c} OR (created_at = {c} AND id > {i}))")
            }
        });
    }
    Ok(SqlFilter {
        sql: parts.join(" AND "),
        binds: out.binds,
    })
}

/// The userName a query asks for, lower-cased, if it asks for nothing else
/// (`userName eq "..."`): one user or none, whatever the order. Its
/// `sortBy` is checked all the same. What a store that gathers lookups runs
/// instead of a page (and `explain` shows).
pub fn user_name_lookup(query: &UserQuery) -> Result<Option<String>, ScimError> {
    let Some(name) = user_name_only(query) else {
        return Ok(None);
    };
    // A `sortBy` the list would refuse is refused here too.
    if let UserOrder::Attribute { path, .. } = &query.order {
        sort_column(path)?;
    }
    Ok(Some(name))
}

fn user_name_only(query: &UserQuery) -> Option<String> {
    match only_equal(query)? {
        ("user_name_lower", name) => Some(name.to_lowercase()),
        _ => None,
    }
}

/// The externalId a query asks for, if it asks for nothing else
/// (`externalId eq "..."`, case-exact) in the default order: the users that
/// have it, oldest first (usually one or none; it is not unique).
pub fn external_id_lookup(query: &UserQuery) -> Option<&str> {
    if query.order != UserOrder::Created {
        return None;
    }
    match only_equal(query)? {
        ("external_id", id) => Some(id),
        _ => None,
    }
}

/// The column and value of a query that is one `eq` of a column to a
/// string and nothing else.
fn only_equal(query: &UserQuery) -> Option<(&'static str, &str)> {
    match (&query.filter, query.conditions.is_empty()) {
        (
            Some(Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::String(value),
            }),
            true,
        ) => match resolve(path) {
            Ok(Target::Column(column)) => Some((column.expr, value)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a query finds users by a key (id, userName, externalId, an
/// email or phone number's value, or the Teamtailor API's email or
/// externalId): an index lookup of a user or a few, as provisioning clients
/// send before every write, not a scan.
pub fn is_lookup(filter: Option<&Filter>, conditions: &[Condition]) -> bool {
    fn is_key(column: Column) -> bool {
        matches!(
            column.expr,
            "id" | "user_name_lower" | "external_id" | "v.value_lower"
        )
    }
    fn pins(filter: &Filter) -> bool {
        match filter {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                ..
            } => match resolve(path) {
                Ok(Target::Column(column)) => is_key(column),
                Ok(Target::MultiValued { sub, .. }) => sub.is_none_or(is_key),
                Err(_) => false,
            },
            Filter::ValuePath { filter, .. } => pins_value(filter),
            Filter::And(left, right) => pins(left) || pins(right),
            _ => false,
        }
    }
    // Inside `emails[...]`: the entry's own sub-attributes.
    fn pins_value(filter: &Filter) -> bool {
        match filter {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                ..
            } => path.sub_attr.is_none() && value_column(&path.attr).is_some_and(is_key),
            Filter::And(left, right) => pins_value(left) || pins_value(right),
            _ => false,
        }
    }
    filter.is_some_and(pins)
        || conditions
            .iter()
            .any(|c| matches!(c, Condition::Email(_) | Condition::ExternalId(_)))
}

/// How a list is sorted: its ORDER BY clause and, when every term of the
/// order always has a value, its sort key (`created_at, id`), by which a
/// page can start at the key of its first row instead of skipping rows.
pub struct Order {
    pub sql: String,
    pub key: Option<String>,
    pub descending: bool,
    /// The key's terms when an index gives the order and can seek to a key
    /// within it (by creation, by userName), each with whether it is text;
    /// else empty.
    pub seek: Vec<(String, bool)>,
}

/// The column a `sortBy` names, or why it cannot sort.
fn sort_column(path: &AttrPath) -> Result<Column, ScimError> {
    match resolve(path) {
        Ok(Target::Column(column)) => Ok(column),
        Ok(Target::MultiValued { .. }) => Err(ScimError::InvalidPath(format!(
            "sortBy '{}': sorting on multi-valued attributes is not supported",
            display(path)
        ))),
        Err(_) => Err(ScimError::InvalidPath(format!(
            "sortBy '{}' is not a known attribute",
            display(path)
        ))),
    }
}

/// The order of a list; every order ends with `id` so pages are stable.
pub fn order_by(order: &UserOrder) -> Result<Order, ScimError> {
    let mut seek = Vec::new();
    let (terms, descending, nullable): (Vec<String>, bool, Option<&str>) = match order {
        UserOrder::Created | UserOrder::CreatedDescending => {
            seek = vec![("created_at".into(), false), ("id".into(), false)];
            let descending = matches!(order, UserOrder::CreatedDescending);
            (vec!["created_at".into(), "id".into()], descending, None)
        }
        // Case-insensitive; users without a name sort last either way.
        UserOrder::Name => (
            vec!["name_sort".into(), "id".into()],
            false,
            Some("name_sort"),
        ),
        UserOrder::NameDescending => (
            vec!["name_sort".into(), "id".into()],
            true,
            Some("name_sort"),
        ),
        UserOrder::Attribute { path, descending } => {
            let column = sort_column(path)?;
            let expr = match column.kind {
                ColumnKind::Active => "(role <> 'no_access')",
                _ => column.expr,
            };
            // Resources without a value sort last in both directions. A
            // column that always has one needs no such term, so an index on
            // it (userName, meta dates) serves the order without a sort.
            let always_present = matches!(
                column.kind,
                ColumnKind::Active | ColumnKind::Id | ColumnKind::Instant
            ) || column.expr == "user_name_lower";
            // userName and id are unique within a company: their index alone
            // gives the order, with no sort of the matches behind the page.
            let unique = matches!(column.kind, ColumnKind::Id) || column.expr == "user_name_lower";
            if column.expr == "user_name_lower" {
                seek = vec![(expr.to_string(), true)];
            }
            let terms = if unique {
                vec![expr.to_string()]
            } else {
                vec![expr.to_string(), "created_at".into(), "id".into()]
            };
            (terms, *descending, (!always_present).then_some(expr))
        }
    };
    let direction = if descending { " DESC" } else { "" };
    let sorted: Vec<String> = terms.iter().map(|t| format!("{t}{direction}")).collect();
    Ok(Order {
        sql: match nullable {
            Some(expr) => format!("({expr} IS NULL), {}", sorted.join(", ")),
            None => sorted.join(", "),
        },
        key: nullable.is_none().then(|| terms.join(", ")),
        descending,
        seek,
    })
}

struct Translator {
    binds: Vec<Bind>,
    first_param: usize,
}

impl Translator {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.first_param + self.binds.len() - 1)
    }

    fn filter(&mut self, filter: &Filter) -> Result<String, ScimError> {
        self.filter_in(filter, None)
    }

    /// `within` is the multi-valued attribute a value filter is inside of.
    fn filter_in(
        &mut self,
        filter: &Filter,
        within: Option<&'static str>,
    ) -> Result<String, ScimError> {
        Ok(match filter {
            Filter::And(left, right) => {
                format!(
                    "({} AND {})",
                    self.filter_in(left, within)?,
                    self.filter_in(right, within)?
                )
            }
            Filter::Or(left, right) => {
                format!(
                    "({} OR {})",
                    self.filter_in(left, within)?,
                    self.filter_in(right, within)?
                )
            }
            Filter::Not(inner) => format!("(NOT {})", self.filter_in(inner, within)?),
            Filter::ValuePath { path, filter } => {
                if within.is_some() {
                    return Err(ScimError::InvalidFilter(
                        "value filters cannot be nested".into(),
                    ));
                }
                match resolve(path)? {
                    Target::MultiValued {
                        attribute,
                        sub: None,
                    } => {
                        let inner = self.filter_in(filter, Some(attribute))?;
                        in_user_values(attribute, &inner)
                    }
                    _ => {
                        return Err(ScimError::InvalidFilter(format!(
                            "'{}' is not multi-valued; it cannot take a [filter]",
                            display(path)
                        )))
                    }
                }
            }
            Filter::Present(path) => match self.target(path, within)? {
                Target::Column(column) => present(column),
                Target::MultiValued { attribute, sub } => {
                    let column =
                        sub.unwrap_or(column_of("v.value_lower", ColumnKind::CaselessText));
                    in_user_values(attribute, &present(column))
                }
            },
            Filter::Compare { path, op, value } => match self.target(path, within)? {
                Target::Column(column) => self.compare(column, path, *op, value)?,
                Target::MultiValued { attribute, sub } => {
                    // `emails co "x"` compares each entry's value (RFC 7644 3.4.2.2);
                    // true when any entry matches, and `ne` is "no entry equals".
                    let column =
                        sub.unwrap_or(column_of("v.value_lower", ColumnKind::CaselessText));
                    match (op, value) {
                        (CompareOp::Eq, CompValue::Null) => {
                            format!(
                                "(NOT {})",
                                in_user_values(attribute, &null_check(column, false))
                            )
                        }
                        (CompareOp::Ne, CompValue::Null) => {
                            in_user_values(attribute, &null_check(column, false))
                        }
                        (CompareOp::Ne, _) => {
                            let equal = self.compare(column, path, CompareOp::Eq, value)?;
                            format!("(NOT {})", in_user_values(attribute, &equal))
                        }
                        _ => in_user_values(attribute, &self.compare(column, path, *op, value)?),
                    }
                }
            },
        })
    }

    /// Resolves a path, relative to the entry inside a value filter.
    fn target(&self, path: &AttrPath, within: Option<&'static str>) -> Result<Target, ScimError> {
        match within {
            None => resolve(path),
            Some(_) if path.urn.is_none() && path.sub_attr.is_none() => value_column(&path.attr)
                .map(Target::Column)
                .ok_or_else(|| unknown(path)),
            Some(_) => Err(unknown(path)),
        }
    }

    fn compare(
        &mut self,
        column: Column,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, ScimError> {
        use ColumnKind::*;
        let expr = column.expr;
        if let CompValue::Null = value {
            return match op {
                CompareOp::Eq => Ok(null_check(column, true)),
                CompareOp::Ne => Ok(null_check(column, false)),
                _ => Err(type_error(path, "null can only be compared with eq or ne")),
            };
        }
        match column.kind {
            Active => {
                let CompValue::Bool(wanted) = value else {
                    return Err(type_error(
                        path,
                        "active is a boolean; compare it with true or false",
                    ));
                };
                let is_active = match op {
                    CompareOp::Eq => *wanted,
                    CompareOp::Ne => !*wanted,
                    _ => {
                        return Err(type_error(
                            path,
                            "booleans can only be compared with eq or ne",
                        ))
                    }
                };
                Ok(if is_active {
                    "(role <> 'no_access')"
                } else {
                    "(role = 'no_access')"
                }
                .into())
            }
            Boolean => {
                let CompValue::Bool(wanted) = value else {
                    return Err(type_error(
                        path,
                        "this attribute is a boolean; compare it with true or false",
                    ));
                };
                let p = self.param(Bind::Bool(*wanted));
                match op {
                    CompareOp::Eq => Ok(format!("({expr} IS NOT NULL AND {expr} = {p})")),
                    CompareOp::Ne => Ok(format!("({expr} IS NULL OR {expr} <> {p})")),
                    _ => Err(type_error(
                        path,
                        "booleans can only be compared with eq or ne",
                    )),
                }
            }
            Id => {
                let CompValue::String(text) = value else {
                    return Err(type_error(path, "id is a string"));
                };
                match text.parse::<i64>() {
                    Ok(id) if id > 0 => {
                        let p = self.param(Bind::Int(id));
                        Ok(format!("({expr} {} {p})", ordering(op, path)?))
                    }
                    // Not a Teamtailor id: equal to nothing.
                    _ => match op {
                        CompareOp::Eq => Ok("(1 = 0)".into()),
                        CompareOp::Ne => Ok("(1 = 1)".into()),
                        _ => Err(type_error(path, "ids compare as positive integers")),
                    },
                }
            }
            Instant => {
                let CompValue::String(text) = value else {
                    return Err(type_error(
                        path,
                        "dates are strings like \"2026-01-01T00:00:00Z\"",
                    ));
                };
                let instant = DateTime::parse_from_rfc3339(text).map_err(|_| {
                    type_error(
                        path,
                        "dates must be RFC 3339 date-times like \"2026-01-01T00:00:00Z\"",
                    )
                })?;
                let p = self.param(Bind::Int(instant.timestamp_micros()));
                Ok(format!("({expr} {} {p})", ordering(op, path)?))
            }
            ExactText | CaselessText => {
                let CompValue::String(text) = value else {
                    return Err(type_error(
                        path,
                        "this attribute is a string; compare it with a quoted value",
                    ));
                };
                let text = if column.kind == CaselessText {
                    text.to_lowercase()
                } else {
                    text.clone()
                };
                Ok(match op {
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                        let escaped = escape_like(&text);
                        let pattern = match op {
                            CompareOp::Co => format!("%{escaped}%"),
                            CompareOp::Sw => format!("{escaped}%"),
                            _ => format!("%{escaped}"),
                        };
                        let p = self.param(Bind::Text(pattern));
                        format!("({expr} IS NOT NULL AND {expr} LIKE {p} ESCAPE '\\')")
                    }
                    CompareOp::Ne => {
                        let p = self.param(Bind::Text(text));
                        format!("({expr} IS NULL OR {expr} <> {p})")
                    }
                    _ => {
                        let p = self.param(Bind::Text(text));
                        format!(
                            "({expr} IS NOT NULL AND {expr} {} {p})",
                            ordering(op, path)?
                        )
                    }
                })
            }
        }
    }
}

fn ordering(op: CompareOp, path: &AttrPath) -> Result<&'static str, ScimError> {
    Ok(match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            return Err(type_error(path, "co, sw and ew apply to strings only"))
        }
    })
}

fn in_user_values(attribute: &'static str, condition: &str) -> String {
    // `attribute` is one of two constants, never client text.
    format!(
        "users.id IN (SELECT v.user_id FROM user_values v WHERE v.attribute = '{attribute}' AND {condition})"
    )
}

fn present(column: Column) -> String {
    match column.kind {
        ColumnKind::Active | ColumnKind::Id | ColumnKind::Instant => "(1 = 1)".into(),
        ColumnKind::Boolean => format!("({} IS NOT NULL)", column.expr),
        _ => format!("({0} IS NOT NULL AND {0} <> '')", column.expr),
    }
}

fn null_check(column: Column, is_null: bool) -> String {
    match column.kind {
        ColumnKind::Active | ColumnKind::Id | ColumnKind::Instant => {
            if is_null { "(1 = 0)" } else { "(1 = 1)" }.into()
        }
        _ if is_null => format!("({} IS NULL)", column.expr),
        _ => format!("({} IS NOT NULL)", column.expr),
    }
}

fn type_error(path: &AttrPath, detail: &str) -> ScimError {
    ScimError::InvalidFilter(format!(
        "invalid comparison on '{}': {detail}",
        display(path)
    ))
}

/// `%`, `_` and the escape character itself match literally in `co`/`sw`/`ew`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{self, Attribute, TEAMTAILOR_ATTRIBUTES, USER_ATTRIBUTES};

    /// Every path of the schema this translation knows, with and without the URN.
    fn schema_paths() -> Vec<AttrPath> {
        fn paths(urn: &str, attributes: &[Attribute], out: &mut Vec<AttrPath>) {
            for attribute in attributes {
                let mut subs: Vec<Option<String>> = attribute
                    .sub_attributes
                    .iter()
                    .map(|s| Some(s.name.to_string()))
                    .collect();
                if attribute.sub_attributes.is_empty() || attribute.multi_valued {
                    subs.push(None);
                }
                for sub_attr in subs {
                    for urn in [None, Some(urn.to_string())] {
                        out.push(AttrPath {
                            urn,
                            attr: attribute.name.to_string(),
                            sub_attr: sub_attr.clone(),
                        });
                    }
                }
            }
        }
        let mut out = Vec::new();
        paths(USER_SCHEMA, USER_ATTRIBUTES, &mut out);
        paths(TEAMTAILOR_USER_SCHEMA, TEAMTAILOR_ATTRIBUTES, &mut out);
        out.retain(|p| p.urn.is_some() || schema::find(USER_ATTRIBUTES, &p.attr).is_some());
        out
    }

    #[test]
    fn text_comparisons_follow_the_schemas_case_rules() {
        let mut checked = 0;
        for path in schema_paths() {
            let column = match resolve(&path) {
                Ok(Target::Column(column)) => Some(column),
                Ok(Target::MultiValued { sub, .. }) => sub.or(value_column("value")),
                Err(_) => None,
            };
            let Some(column) = column else { continue };
            let exact = match column.kind {
                ColumnKind::ExactText => true,
                ColumnKind::CaselessText => false,
                _ => continue,
            };
            assert_eq!(
                exact,
                schema::case_exact(&path),
                "{} compares {} but /Schemas says caseExact {}",
                display(&path),
                if exact {
                    "case-exactly"
                } else {
                    "ignoring case"
                },
                schema::case_exact(&path)
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} text paths checked");
    }
}
