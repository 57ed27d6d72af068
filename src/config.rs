//! Server settings, from flags or environment variables (see `cli`).

use crate::http::api::rate_limit::RateLimit;
use crate::keys::Secret;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://teamtailor-scim.db";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The company that bootstrap and first-start keys belong to.
pub const DEFAULT_COMPANY: &str = "default";

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub bootstrap_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub public_url: Option<String>,
    /// Per-key limit on the Teamtailor API; `None` switches it off.
    pub api_rate_limit: Option<RateLimit>,
}

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Self {
        Settings {
            listen: DEFAULT_LISTEN.into(),
            database_url: database_url.into(),
            bootstrap_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            public_url: None,
            api_rate_limit: Some(RateLimit::TEAMTAILOR),
        }
    }
}

/// The database URL with any password hidden, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/scim"),
            "postgres://app:***@db:5432/scim"
        );
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
