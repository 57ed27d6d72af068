//! Black-box tests through HTTP and the command line.

mod helpers;

mod auth;
mod cli;
mod discovery;
mod errors;
mod mapping;
mod patch;
mod users;
