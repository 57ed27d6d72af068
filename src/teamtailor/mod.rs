//! The emulated product: Teamtailor users and roles, and how SCIM maps onto them.

pub mod api;
pub mod mapping;
mod role;
mod user;

pub use role::{Role, UnknownRole};
pub use user::{Micros, User, UserData};
