//! SCIM filter AST -> SQL `WHERE` fragment, through a whitelist of known
//! attributes. Values are always bound as parameters, never spliced.
//!
//! Every fragment evaluates to TRUE or FALSE, never NULL, so `not (...)` over
//! an absent attribute behaves as SCIM says (absent `title eq "x"` is false,
//! so its negation is true).

use chrono::DateTime;

use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{TEAMTAILOR_USER_SCHEMA, USER_SCHEMA};
use crate::scim::ScimError;
use crate::storage::{Condition, UserOrder};

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy)]
enum ColumnKind {
    /// Text compared as sent (`caseExact: true`).
    ExactText,
    /// Text compared case-insensitively: `lower` is the expression holding
    /// the lower-cased value.
    CaselessText {
        lower: &'static str,
    },
    Id,
    Instant,
    /// SCIM `active`, derived from the role.
    Active,
}

#[derive(Debug, Clone, Copy)]
struct Column {
    expr: &'static str,
    kind: ColumnKind,
}

const fn exact(expr: &'static str) -> Column {
    Column {
        expr,
        kind: ColumnKind::ExactText,
    }
}

const fn caseless(expr: &'static str, lower: &'static str) -> Column {
    Column {
        expr,
        kind: ColumnKind::CaselessText { lower },
    }
}

fn column(path: &AttrPath) -> Result<Column, ScimError> {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    let urn = path.urn.as_deref().map(str::to_ascii_lowercase);
    let column = match (urn.as_deref(), attr.as_str(), sub.as_deref()) {
        (Some(u), "role", None) if u == TEAMTAILOR_USER_SCHEMA.to_ascii_lowercase() => {
            Some(exact("role"))
        }
        (Some(u), ..) if u != USER_SCHEMA.to_ascii_lowercase() => None,
        (_, "id", None) => Some(Column {
            expr: "id",
            kind: ColumnKind::Id,
        }),
        (_, "username", None) => Some(caseless("user_name", "user_name_lower")),
        (_, "externalid", None) => Some(exact("external_id")),
        (_, "displayname", None) => Some(caseless("display_name", "lower(display_name)")),
        (_, "title", None) => Some(caseless("title", "lower(title)")),
        (_, "active", None) => Some(Column {
            expr: "role",
            kind: ColumnKind::Active,
        }),
        (_, "name", Some("formatted")) => Some(caseless("name_formatted", "lower(name_formatted)")),
        (_, "name", Some("givenname")) => Some(caseless("given_name", "lower(given_name)")),
        (_, "name", Some("familyname")) => Some(caseless("family_name", "lower(family_name)")),
        (_, "name", Some("middlename")) => Some(caseless("middle_name", "lower(middle_name)")),
        (_, "name", Some("honorificprefix")) => {
            Some(caseless("honorific_prefix", "lower(honorific_prefix)"))
        }
        (_, "name", Some("honorificsuffix")) => {
            Some(caseless("honorific_suffix", "lower(honorific_suffix)"))
        }
        (_, "meta", Some("created")) => Some(Column {
            expr: "created_at",
            kind: ColumnKind::Instant,
        }),
        (_, "meta", Some("lastmodified")) => Some(Column {
            expr: "updated_at",
            kind: ColumnKind::Instant,
        }),
        (_, "meta", Some("resourcetype")) => None,
        _ => None,
    };
    column.ok_or_else(|| {
        ScimError::InvalidFilter(format!(
            "cannot filter on unknown attribute '{}'",
            display(path)
        ))
    })
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
        sql: String::new(),
        binds: Vec::new(),
        first_param,
    };
    let mut parts = Vec::new();
    if let Some(filter) = filter {
        out.filter(filter)?;
        parts.push(std::mem::take(&mut out.sql));
    }
    for condition in conditions {
        let sql = match condition {
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
        };
        parts.push(sql);
    }
    Ok(SqlFilter {
        sql: parts.join(" AND "),
        binds: out.binds,
    })
}

pub fn order_by(order: UserOrder) -> &'static str {
    match order {
        UserOrder::Created => "created_at, id",
        UserOrder::CreatedDescending => "created_at DESC, id DESC",
        // Case-insensitive; users without a name sort last either way.
        UserOrder::Name => "(name_sort IS NULL), name_sort, id",
        UserOrder::NameDescending => "(name_sort IS NULL), name_sort DESC, id DESC",
    }
}

struct Translator {
    sql: String,
    binds: Vec<Bind>,
    first_param: usize,
}

impl Translator {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.first_param + self.binds.len() - 1)
    }

    fn filter(&mut self, filter: &Filter) -> Result<(), ScimError> {
        match filter {
            Filter::And(left, right) => self.binary(left, "AND", right),
            Filter::Or(left, right) => self.binary(left, "OR", right),
            Filter::Not(inner) => {
                self.sql.push_str("NOT (");
                self.filter(inner)?;
                self.sql.push(')');
                Ok(())
            }
            Filter::Present(path) => {
                let column = column(path)?;
                let sql = match column.kind {
                    ColumnKind::Active | ColumnKind::Id | ColumnKind::Instant => "TRUE".to_string(),
                    _ => format!("({0} IS NOT NULL AND {0} <> '')", column.expr),
                };
                self.sql.push_str(&sql);
                Ok(())
            }
            Filter::Compare { path, op, value } => {
                let sql = self.compare(path, *op, value)?;
                self.sql.push_str(&sql);
                Ok(())
            }
            Filter::ValuePath { path, .. } => Err(ScimError::InvalidFilter(format!(
                "value filters on '{}' are not supported",
                display(path)
            ))),
        }
    }

    fn binary(&mut self, left: &Filter, op: &str, right: &Filter) -> Result<(), ScimError> {
        self.sql.push('(');
        self.filter(left)?;
        self.sql.push(' ');
        self.sql.push_str(op);
        self.sql.push(' ');
        self.filter(right)?;
        self.sql.push(')');
        Ok(())
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, ScimError> {
        let column = column(path)?;
        if let CompValue::Null = value {
            return match op {
                CompareOp::Eq => Ok(null_check(column, true)),
                CompareOp::Ne => Ok(null_check(column, false)),
                _ => Err(type_error(path, "null can only be compared with eq or ne")),
            };
        }
        match column.kind {
            ColumnKind::Active => {
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
                    "role <> 'no_access'"
                } else {
                    "role = 'no_access'"
                }
                .into())
            }
            ColumnKind::Id => {
                let CompValue::String(text) = value else {
                    return Err(type_error(path, "id is a string"));
                };
                match text.parse::<i64>() {
                    Ok(id) if id > 0 => {
                        let p = self.param(Bind::Int(id));
                        self.ordered(column.expr, op, &p, path)
                    }
                    // Not a Teamtailor id: equal to nothing.
                    _ => Ok(if op == CompareOp::Ne { "TRUE" } else { "FALSE" }.into()),
                }
            }
            ColumnKind::Instant => {
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
                self.ordered(column.expr, op, &p, path)
            }
            ColumnKind::ExactText | ColumnKind::CaselessText { .. } => {
                let CompValue::String(text) = value else {
                    return Err(type_error(
                        path,
                        "this attribute is a string; compare it with a quoted value",
                    ));
                };
                let (expr, text) = match column.kind {
                    ColumnKind::CaselessText { lower } => (lower, text.to_lowercase()),
                    _ => (column.expr, text.clone()),
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
                        format!(
                            "({} IS NOT NULL AND {expr} LIKE {p} ESCAPE '\\')",
                            column.expr
                        )
                    }
                    CompareOp::Ne => {
                        let p = self.param(Bind::Text(text));
                        format!("({} IS NULL OR {expr} <> {p})", column.expr)
                    }
                    _ => {
                        let p = self.param(Bind::Text(text));
                        let compared = self.ordered(expr, op, &p, path)?;
                        format!("({} IS NOT NULL AND {compared})", column.expr)
                    }
                })
            }
        }
    }

    /// eq/ne/gt/ge/lt/le on a value that is not NULL (the caller guards nullable columns).
    fn ordered(
        &self,
        expr: &str,
        op: CompareOp,
        param: &str,
        path: &AttrPath,
    ) -> Result<String, ScimError> {
        let sql_op = match op {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                return Err(type_error(path, "co, sw and ew apply to strings only"))
            }
        };
        Ok(format!("({expr} {sql_op} {param})"))
    }
}

fn null_check(column: Column, is_null: bool) -> String {
    match column.kind {
        ColumnKind::Active | ColumnKind::Id | ColumnKind::Instant => {
            if is_null { "FALSE" } else { "TRUE" }.into()
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
