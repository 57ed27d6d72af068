//! Black-box tests through HTTP and the command line.

mod helpers;

mod isolation;

mod auth;
mod cli;
mod discovery;
mod entra;
mod errors;
mod mapping;
mod okta;
mod patch;
mod query;
mod readme;
mod teamtailor_api;
mod tokens;
mod users;
