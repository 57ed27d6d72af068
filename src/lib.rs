//! teamtailor-scim: Teamtailor's user provisioning surface as a local server.
//!
//! `scim` is the protocol, `teamtailor` the emulated product and its mapping,
//! `storage` the databases, `http` the axum surface; `app` ties them together.

pub mod admin;
pub mod app;
pub mod auth;
pub mod blocking;
pub mod cli;
pub mod config;
pub mod faults;
pub mod fixtures;
pub mod http;
pub mod journal;
pub mod keys;
pub mod scim;
pub mod storage;
pub mod teamtailor;
pub mod telemetry;

pub use app::App;
pub use config::Settings;
