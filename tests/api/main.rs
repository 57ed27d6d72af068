//! Black-box tests through HTTP and the command line.

mod helpers;

mod isolation;
mod journal;
mod jwks;

mod auth;
mod cli;
mod concurrency;
mod crash;
mod discovery;
mod entra;
mod equivalence;
mod errors;
mod faults;
mod filters;
mod fixtures;
mod hostile;
mod mapping;
mod okta;
mod openapi;
mod operations;
mod patch;
mod query;
mod query_plans;
mod readme;
mod teamtailor_api;
mod tokens;
mod ui;
mod users;
