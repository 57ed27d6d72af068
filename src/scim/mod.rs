//! The SCIM 2.0 protocol: errors, schemas, resources, filters, lists.
//! Knows nothing of HTTP frameworks or SQL.

pub mod error;
pub mod filter;
pub mod limits;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;

pub use error::ScimError;
