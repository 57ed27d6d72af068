//! Server settings, from flags or environment variables (see `cli`).

use crate::auth::issuers::IssuerConfig;
use crate::auth::tokens::DEFAULT_ISSUER;
use crate::http::api::rate_limit::RateLimit;
use crate::journal::Retention;
use crate::keys::Secret;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://teamtailor-scim.db";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 10;
/// The company that bootstrap and first-start keys belong to.
pub const DEFAULT_COMPANY: &str = "default";

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub bootstrap_token: Option<Secret>,
    pub max_body_bytes: usize,
    /// From a request's headers to its response's headers (body included); then 408.
    pub request_timeout: std::time::Duration,
    /// For a connection to send a request's headers; then it is closed.
    pub header_read_timeout: std::time::Duration,
    pub public_url: Option<String>,
    /// Per-key limit on the Teamtailor API; `None` switches it off.
    pub api_rate_limit: Option<RateLimit>,
    /// The operator token for `/admin`; without it the admin API is off.
    pub admin_token: Option<Secret>,
    /// Signs the server's access tokens; without it keys are generated and stored.
    pub jwt_secret: Option<Secret>,
    /// `iss` of the server's access tokens.
    pub token_issuer: String,
    pub trusted_issuers: Vec<IssuerConfig>,
    pub journal_retention: Retention,
}

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Self {
        Settings {
            listen: DEFAULT_LISTEN.into(),
            database_url: database_url.into(),
            bootstrap_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: std::time::Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECONDS),
            header_read_timeout: std::time::Duration::from_secs(
                DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
            ),
            public_url: None,
            api_rate_limit: Some(RateLimit::TEAMTAILOR),
            admin_token: None,
            jwt_secret: None,
            token_issuer: DEFAULT_ISSUER.into(),
            trusted_issuers: Vec::new(),
            journal_retention: Retention::default(),
        }
    }
}

/// Settings as written in a TOML file (`--config`) or given as flags and
/// environment variables; every field optional, merged by `resolve`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSettings {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub bootstrap_token: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_seconds: Option<u64>,
    pub header_read_timeout_seconds: Option<u64>,
    pub public_url: Option<String>,
    pub api_rate_limit: Option<u32>,
    pub api_rate_limit_period: Option<u64>,
    pub admin_token: Option<String>,
    pub jwt_secret: Option<String>,
    pub token_issuer: Option<String>,
    pub journal_max_entries: Option<i64>,
    pub journal_max_age_days: Option<u64>,
    #[serde(default)]
    pub trusted_issuers: Vec<IssuerConfig>,
}

impl PartialSettings {
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// Flags and environment variables (`self`) win over the file, which wins
    /// over the defaults.
    pub fn resolve(self, file: PartialSettings) -> Result<Settings, String> {
        let period = self
            .api_rate_limit_period
            .or(file.api_rate_limit_period)
            .unwrap_or(10);
        if period == 0 {
            return Err("api_rate_limit_period must be at least 1 second".into());
        }
        let requests = self.api_rate_limit.or(file.api_rate_limit).unwrap_or(50);
        let request_timeout = self
            .request_timeout_seconds
            .or(file.request_timeout_seconds)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
        let header_read_timeout = self
            .header_read_timeout_seconds
            .or(file.header_read_timeout_seconds)
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_SECONDS);
        if request_timeout == 0 || header_read_timeout == 0 {
            return Err(
                "request_timeout_seconds and header_read_timeout_seconds must be at least 1".into(),
            );
        }
        let mut trusted_issuers = file.trusted_issuers;
        trusted_issuers.extend(self.trusted_issuers);
        Ok(Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.into()),
            database_url: self
                .database_url
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            bootstrap_token: self
                .bootstrap_token
                .or(file.bootstrap_token)
                .map(Secret::new),
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            request_timeout: std::time::Duration::from_secs(request_timeout),
            header_read_timeout: std::time::Duration::from_secs(header_read_timeout),
            public_url: self.public_url.or(file.public_url),
            api_rate_limit: std::num::NonZeroU32::new(requests).map(|requests| RateLimit {
                requests,
                period: std::time::Duration::from_secs(period),
            }),
            admin_token: self.admin_token.or(file.admin_token).map(Secret::new),
            jwt_secret: self.jwt_secret.or(file.jwt_secret).map(Secret::new),
            token_issuer: self
                .token_issuer
                .or(file.token_issuer)
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            trusted_issuers,
            journal_retention: Retention {
                max_entries_per_company: self
                    .journal_max_entries
                    .or(file.journal_max_entries)
                    .unwrap_or(Retention::default().max_entries_per_company),
                max_age: self
                    .journal_max_age_days
                    .or(file.journal_max_age_days)
                    .map(|days| std::time::Duration::from_secs(days * 86_400))
                    .unwrap_or(Retention::default().max_age),
                ..Retention::default()
            },
        })
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
    use super::PartialSettings;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file: PartialSettings = toml::from_str(
            "listen = \"0.0.0.0:9000\"\napi_rate_limit = 5\nadmin_token = \"file\"\n",
        )
        .unwrap();
        let flags = PartialSettings {
            admin_token: Some("flag".into()),
            ..Default::default()
        };
        let settings = flags.resolve(file).unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.api_rate_limit.unwrap().requests.get(), 5);
        assert_eq!(settings.admin_token.unwrap().expose(), "flag");
        assert_eq!(settings.database_url, super::DEFAULT_DATABASE_URL);
        assert!(toml::from_str::<PartialSettings>("nonsense = 1").is_err());
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/scim"),
            "postgres://app:***@db:5432/scim"
        );
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
