//! Logging setup on stderr, filtered by `RUST_LOG`: human-readable lines, or
//! one JSON object per line with `TEAMTAILOR_SCIM_LOG_FORMAT=json`. Request
//! lines carry the request id (`x-request-id`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

mod fields;

pub const LOG_FORMAT_VAR: &str = "TEAMTAILOR_SCIM_LOG_FORMAT";

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: a log file or collector gets plain text
        // (and every request's span is formatted without escape codes).
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let json = std::env::var(LOG_FORMAT_VAR).is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder
            .fmt_fields(fields::PlainFields::default())
            .try_init()
    };
}
