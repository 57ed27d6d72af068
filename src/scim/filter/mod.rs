//! SCIM filters (RFC 7644 section 3.4.2.2): AST, parser, printer and
//! in-memory evaluation.

mod ast;
mod eval;
mod parser;
mod print;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use eval::matches;
pub use parser::{parse_filter, FilterError, MAX_DEPTH, MAX_FILTER_LEN};

#[cfg(test)]
mod tests;
