//! SCIM filters (RFC 7644 section 3.4.2.2): AST, parser, in-memory evaluation.

mod ast;
mod eval;
mod parser;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use eval::matches;
pub use parser::{parse_filter, FilterError};
