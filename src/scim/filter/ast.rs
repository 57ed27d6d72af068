/// An attribute path as written: optional schema URN, attribute, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A JSON literal from the filter text.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: `filter` applies to each element of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl AttrPath {
    /// Splits `[urn:]attr[.subAttr]`; the URN is everything before the last
    /// colon (URNs themselves contain dots, as in `2.0`).
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let text = text.trim();
        let (urn, rest) = if text.len() > 4
            && text
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            match text.rfind(':') {
                Some(i) => (Some(text[..i].to_string()), &text[i + 1..]),
                None => (None, text),
            }
        } else {
            (None, text)
        };
        let (attr, sub_attr) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(attr) || !sub_attr.is_none_or(is_attr_name) {
            return Err(format!("'{text}' is not a valid attribute path"));
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub_attr: sub_attr.map(str::to_string),
        })
    }
}

/// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"), and `$ref`.
fn is_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
