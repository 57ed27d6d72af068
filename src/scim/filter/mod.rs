//! SCIM filters (RFC 7644 section 3.4.2.2): AST and parser.

mod ast;
mod parser;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use parser::{parse_filter, FilterError};
