//! The RFC 7644 section 3.4.2.2 filter grammar, parsed with nom.
//!
//! Precedence is `not` > `and` > `or`, both binary operators left-associative.
//! `and`/`or` chains are parsed in loops, and nesting (parentheses, `not`,
//! value filters) is bounded, so no input can exhaust the stack.

use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace1, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};

use super::ast::{AttrPath, CompValue, CompareOp, Filter};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset into the filter where parsing stopped.
    pub position: usize,
    pub expected: String,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid filter at position {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for FilterError {}

pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError {
            position: MAX_FILTER_LEN,
            expected: "a shorter filter".into(),
            message: format!("the filter is longer than {MAX_FILTER_LEN} bytes"),
        });
    }
    let mut parser = FilterParser {
        input,
        depth: 0,
        in_value_path: false,
    };
    let rest = skip_ws(input);
    if rest.is_empty() {
        return Err(parser.error(rest, "an attribute path", "the filter is empty"));
    }
    let (rest, filter) = parser.or_expr(rest)?;
    let rest = skip_ws(rest);
    if !rest.is_empty() {
        return Err(parser.error(
            rest,
            "'and', 'or' or the end of the filter",
            &format!(
                "expected 'and', 'or' or the end of the filter, found '{}'",
                preview(rest)
            ),
        ));
    }
    Ok(filter)
}

fn preview(rest: &str) -> String {
    rest.chars().take(20).collect()
}

fn skip_ws(input: &str) -> &str {
    input.trim_start_matches([' ', '\t', '\n', '\r'])
}

type Parsed<'a, T> = Result<(&'a str, T), FilterError>;

struct FilterParser<'a> {
    input: &'a str,
    depth: usize,
    in_value_path: bool,
}

impl<'a> FilterParser<'a> {
    fn position(&self, rest: &str) -> usize {
        self.input.len() - rest.len()
    }

    fn error(&self, rest: &str, expected: &str, message: &str) -> FilterError {
        FilterError {
            position: self.position(rest),
            expected: expected.into(),
            message: message.into(),
        }
    }

    fn expected(&self, rest: &str, expected: &str) -> FilterError {
        let found = if rest.is_empty() {
            "the end of the filter".to_string()
        } else {
            format!("'{}'", preview(rest))
        };
        self.error(
            rest,
            expected,
            &format!("expected {expected}, found {found}"),
        )
    }

    fn enter(&mut self, rest: &str) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                rest,
                "less nesting",
                &format!("the filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self, input: &'a str) -> Parsed<'a, Filter> {
        let (mut rest, mut left) = self.and_expr(input)?;
        while let Ok((after, _)) = keyword(rest, "or") {
            let (after, right) = self.and_expr(after)?;
            left = Filter::Or(Box::new(left), Box::new(right));
            rest = after;
        }
        Ok((rest, left))
    }

    fn and_expr(&mut self, input: &'a str) -> Parsed<'a, Filter> {
        let (mut rest, mut left) = self.unary(input)?;
        while let Ok((after, _)) = keyword(rest, "and") {
            let (after, right) = self.unary(after)?;
            left = Filter::And(Box::new(left), Box::new(right));
            rest = after;
        }
        Ok((rest, left))
    }

    fn unary(&mut self, input: &'a str) -> Parsed<'a, Filter> {
        let input = skip_ws(input);
        if let Ok((rest, _)) = not_keyword(input) {
            let rest = skip_ws(rest);
            if !rest.starts_with('(') {
                return Err(self.expected(rest, "'(' after 'not'"));
            }
            self.enter(rest)?;
            let (rest, inner) = self.group(rest)?;
            self.depth -= 1;
            return Ok((rest, Filter::Not(Box::new(inner))));
        }
        if input.starts_with('(') {
            self.enter(input)?;
            let (rest, inner) = self.group(input)?;
            self.depth -= 1;
            return Ok((rest, inner));
        }
        self.attribute_expression(input)
    }

    /// `( filter )`
    fn group(&mut self, input: &'a str) -> Parsed<'a, Filter> {
        let rest = &input[1..];
        let (rest, inner) = self.or_expr(rest)?;
        let rest = skip_ws(rest);
        match rest.strip_prefix(')') {
            Some(rest) => Ok((rest, inner)),
            None => Err(self.expected(rest, "')'")),
        }
    }

    fn attribute_expression(&mut self, input: &'a str) -> Parsed<'a, Filter> {
        let (rest, path) = match attr_path_text(input) {
            Ok((rest, text)) => (
                rest,
                AttrPath::parse(text)
                    .map_err(|message| self.error(input, "an attribute path", &message))?,
            ),
            Err(_) => return Err(self.expected(input, "an attribute path, '(' or 'not'")),
        };
        if let Some(after) = rest.strip_prefix('[') {
            if self.in_value_path {
                return Err(self.error(rest, "']'", "value filters cannot be nested"));
            }
            if path.sub_attr.is_some() {
                return Err(self.error(
                    rest,
                    "an attribute without a sub-attribute before '['",
                    "a value filter applies to a multi-valued attribute, not to a sub-attribute",
                ));
            }
            self.enter(rest)?;
            self.in_value_path = true;
            let (after, inner) = self.or_expr(after)?;
            self.in_value_path = false;
            self.depth -= 1;
            let after = skip_ws(after);
            return match after.strip_prefix(']') {
                Some(after) => Ok((
                    after,
                    Filter::ValuePath {
                        path,
                        filter: Box::new(inner),
                    },
                )),
                None => Err(self.expected(after, "']'")),
            };
        }
        let Ok((after_space, _)) = multispace1::<&str, nom::error::Error<&str>>(rest) else {
            return Err(self.expected(
                rest,
                "a space and an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
            ));
        };
        let (after_op, op_text) = match word(after_space) {
            Ok(found) => found,
            Err(_) => {
                return Err(self.expected(
                    after_space,
                    "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                ))
            }
        };
        if op_text.eq_ignore_ascii_case("pr") {
            return Ok((after_op, Filter::Present(path)));
        }
        let Some(op) = compare_op(op_text) else {
            return Err(self.error(
                after_space,
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                &format!(
                "unknown operator '{op_text}'; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr"
            ),
            ));
        };
        let Ok((value_start, _)) = multispace1::<&str, nom::error::Error<&str>>(after_op) else {
            return Err(self.expected(after_op, "a space and a value"));
        };
        let (rest, value) = self.value(value_start)?;
        Ok((rest, Filter::Compare { path, op, value }))
    }

    fn value(&self, input: &'a str) -> Parsed<'a, CompValue> {
        if input.starts_with('"') {
            let end = string_end(input).ok_or_else(|| {
                self.error(input, "a closing '\"'", "the string is not terminated")
            })?;
            let literal = &input[..end];
            let text: String = serde_json::from_str(literal)
                .map_err(|e| self.error(input, "a JSON string", &format!("invalid string: {e}")))?;
            return Ok((&input[end..], CompValue::String(text)));
        }
        if let Ok((rest, text)) = number(input) {
            if ends_token(rest) {
                let number: serde_json::Number = serde_json::from_str(text)
                    .map_err(|_| self.error(input, "a number", "invalid number"))?;
                return Ok((rest, CompValue::Number(number)));
            }
        }
        if let Ok((rest, text)) = word(input) {
            if ends_token(rest) {
                match text.to_ascii_lowercase().as_str() {
                    "true" => return Ok((rest, CompValue::Bool(true))),
                    "false" => return Ok((rest, CompValue::Bool(false))),
                    "null" => return Ok((rest, CompValue::Null)),
                    _ => {}
                }
            }
        }
        Err(self.expected(
            input,
            "a value (a \"string\", a number, true, false or null)",
        ))
    }
}

/// Whether a token ends here (so `truex` or `12ab` are not values).
fn ends_token(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_none_or(|c| c.is_whitespace() || c == ')' || c == ']')
}

/// Byte index just past the closing quote of the JSON string at the start.
fn string_end(input: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in input.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// ` and ` / ` or `; also at the very end, so `a eq 1 and` reports the
/// missing filter after it rather than a stray word.
fn keyword<'a>(input: &'a str, name: &'static str) -> IResult<&'a str, &'a str> {
    let (rest, _) = multispace1(input)?;
    let (rest, word) = tag_no_case(name).parse(rest)?;
    if rest.trim().is_empty() {
        return Ok((rest, word));
    }
    let (rest, _) = multispace1(rest)?;
    Ok((rest, word))
}

fn not_keyword(input: &str) -> IResult<&str, &str> {
    let (rest, word) = tag_no_case("not").parse(input)?;
    // `not(` and `not (` but not an attribute called `notes`.
    match rest.chars().next() {
        Some(c) if c.is_whitespace() || c == '(' => Ok((rest, word)),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        ))),
    }
}

fn word(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphabetic()).parse(input)
}

fn compare_op(text: &str) -> Option<CompareOp> {
    Some(match text.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    })
}

/// The text of an attribute path: letters, digits, `$ - _ . :` (URNs included).
fn attr_path_text(input: &str) -> IResult<&str, &str> {
    recognize((
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '$'),
        take_while(|c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '$')),
    ))
    .parse(input)
}

/// The JSON number grammar.
fn number(input: &str) -> IResult<&str, &str> {
    recognize((
        opt(char('-')),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(input)
}
