//! Trusted external issuers: identity providers (e.g. Entra ID's
//! `https://sts.windows.net/<tenant>/`) whose signed JWTs are accepted for one
//! company, verified with keys from a JWKS file or URL. Only asymmetric
//! algorithms are allowed, each matched to its key, so `alg: none` and HS/RS
//! confusion (an HS256 token "signed" with the public key) are refused.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;

use crate::keys::Scope;

/// One `[[trusted_issuers]]` entry of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    pub issuer: String,
    pub audience: String,
    /// The company whose users the issuer's tokens may manage.
    pub company: String,
    /// Keys read once at start; exactly one of `jwks_file` and `jwks_url`.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Keys fetched at start, every `jwks_refresh_seconds`, and when a token
    /// names a key id the set does not hold (at most every 10 s).
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_refresh_seconds")]
    pub jwks_refresh_seconds: u64,
    /// Scopes granted to the issuer's tokens (default: scim).
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn default_refresh_seconds() -> u64 {
    3600
}

impl IssuerConfig {
    /// An issuer whose keys come from a JWKS file.
    pub fn with_file(issuer: &str, audience: &str, company: &str, file: PathBuf) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            company: company.into(),
            jwks_file: Some(file),
            jwks_url: None,
            jwks_refresh_seconds: default_refresh_seconds(),
            scopes: Vec::new(),
        }
    }

    /// An issuer whose keys come from a JWKS URL.
    pub fn with_url(issuer: &str, audience: &str, company: &str, url: &str) -> Self {
        IssuerConfig {
            jwks_file: None,
            jwks_url: Some(url.into()),
            ..Self::with_file(issuer, audience, company, PathBuf::new())
        }
    }
}

pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
    pub company_id: i64,
    pub company_slug: String,
    pub scopes: Vec<Scope>,
    keys: Arc<KeySet>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot read JWKS file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JWKS file {path} is not a JSON Web Key Set: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("issuer {0}: {1}")]
    Invalid(String, String),
}

const ASYMMETRIC: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// How soon after a fetch an unknown key id may cause another.
const ON_DEMAND_GAP: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The issuer's current keys, and where to fetch new ones when they come
/// from a URL.
struct KeySet {
    keys: RwLock<Arc<Vec<Jwk>>>,
    remote: Option<Remote>,
}

struct Remote {
    url: String,
    issuer: String,
    client: reqwest::Client,
    /// When a token last caused a fetch; held while fetching, so concurrent
    /// unknown key ids fetch once.
    last_on_demand: tokio::sync::Mutex<Option<Instant>>,
}

impl TrustedIssuer {
    pub async fn load(config: &IssuerConfig, company_id: i64) -> Result<Self, IssuerError> {
        let invalid = |message: &str| IssuerError::Invalid(config.issuer.clone(), message.into());
        let scopes = if config.scopes.is_empty() {
            vec![Scope::Scim]
        } else {
            config
                .scopes
                .iter()
                .map(|s| s.parse().map_err(|e: String| invalid(&e)))
                .collect::<Result<_, _>>()?
        };
        let keys = match (&config.jwks_file, &config.jwks_url) {
            (Some(path), None) => KeySet {
                keys: RwLock::new(Arc::new(read_jwks_file(path)?)),
                remote: None,
            },
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid("jwks_url must be an http:// or https:// URL"));
                }
                if config.jwks_refresh_seconds == 0 {
                    return Err(invalid("jwks_refresh_seconds must be at least 1"));
                }
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .user_agent(concat!("teamtailor-scim/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| invalid(&e.to_string()))?;
                KeySet {
                    keys: RwLock::new(Arc::new(Vec::new())),
                    remote: Some(Remote {
                        url: url.clone(),
                        issuer: config.issuer.clone(),
                        client,
                        last_on_demand: tokio::sync::Mutex::new(None),
                    }),
                }
            }
            _ => return Err(invalid("set exactly one of jwks_file and jwks_url")),
        };
        let keys = Arc::new(keys);
        if keys.remote.is_some() {
            keys.fetch().await;
            refresh_periodically(
                Arc::downgrade(&keys),
                Duration::from_secs(config.jwks_refresh_seconds),
            );
        }
        Ok(TrustedIssuer {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            company_id,
            company_slug: config.company.clone(),
            scopes,
            keys,
        })
    }

    /// Verifies a token whose unverified `iss` named this issuer. A key id
    /// the set does not hold makes a URL-backed set fetch again first.
    pub async fn verify(&self, token: &str, header: &Header) -> bool {
        if !ASYMMETRIC.contains(&header.alg) {
            return false;
        }
        let mut keys = self.keys.current();
        if !holds_key_for(&keys, header) && self.keys.fetch_on_demand().await {
            keys = self.keys.current();
        }
        self.verify_with(&keys, token, header)
    }

    fn verify_with(&self, keys: &[Jwk], token: &str, header: &Header) -> bool {
        let candidates = keys
            .iter()
            .filter(|jwk| match (&header.kid, &jwk.common.key_id) {
                (Some(kid), Some(key_id)) => kid == key_id,
                _ => true,
            });
        for jwk in candidates {
            if !key_fits(jwk, header.alg) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let mut validation = Validation::new(header.alg);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.validate_nbf = true;
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.leeway = 60;
            if jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok() {
                return true;
            }
        }
        false
    }
}

fn read_jwks_file(path: &PathBuf) -> Result<Vec<Jwk>, IssuerError> {
    let text = std::fs::read_to_string(path).map_err(|source| IssuerError::Read {
        path: path.clone(),
        source,
    })?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|source| IssuerError::Parse {
        path: path.clone(),
        source,
    })?;
    Ok(set.keys)
}

fn holds_key_for(keys: &[Jwk], header: &Header) -> bool {
    match &header.kid {
        Some(kid) => keys
            .iter()
            .any(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
        None => !keys.is_empty(),
    }
}

impl KeySet {
    fn current(&self) -> Arc<Vec<Jwk>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches for a token naming an unknown key, unless a token did so less
    /// than `ON_DEMAND_GAP` ago; true when new keys were installed.
    async fn fetch_on_demand(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut last = remote.last_on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < ON_DEMAND_GAP) {
            return false;
        }
        *last = Some(Instant::now());
        self.fetch().await
    }

    /// Installs the URL's current keys; a failed fetch keeps the old ones.
    async fn fetch(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        match remote.fetch().await {
            Ok(keys) => {
                tracing::info!(issuer = %remote.issuer, url = %remote.url, keys = keys.len(), "JWKS loaded");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                true
            }
            Err(error) => {
                tracing::warn!(issuer = %remote.issuer, url = %remote.url, %error,
                    "cannot load JWKS; keeping the keys already loaded");
                false
            }
        }
    }
}

impl Remote {
    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| with_causes(&e))?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| with_causes(&e))?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
        Ok(set.keys)
    }
}

/// reqwest's message names only the URL; the causes say what went wrong.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Fetches the keys again every `every`, for as long as the issuer exists.
fn refresh_periodically(keys: Weak<KeySet>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(keys) = keys.upgrade() else {
                return;
            };
            keys.fetch().await;
        }
    });
}

/// The token's algorithm must suit the key type (and the key's own `alg`, if set).
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        _ => false,
    };
    let declared_fits = jwk
        .common
        .key_algorithm
        .is_none_or(|declared| format!("{declared:?}") == format!("{alg:?}"));
    family_fits && declared_fits
}
