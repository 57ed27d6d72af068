//! Who is calling: an API key, an access token the server issued, or a token
//! from a trusted identity provider; each resolves to exactly one company.

pub mod cache;
pub mod failures;
pub mod issuers;
pub mod tokens;
pub mod usage;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap};

use crate::keys::{KeyDigest, Scope};
use crate::storage::{now_micros, Database, Store};

use cache::KeyCache;
use failures::FailureLimiter;
use issuers::TrustedIssuer;
use tokens::TokenIssuer;
use usage::KeyUsage;

/// What a request is authenticated as; rate limits are kept per principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    ApiKey(i64),
    Issuer(usize),
}

/// The authenticated company and what the credential may do. Every handler
/// scopes its queries by `company_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub company_id: i64,
    pub company_slug: String,
    pub principal: Principal,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    /// Too many failures from this address; retry after so many seconds.
    Blocked(u64),
    /// The credential could not be checked (the database did not answer):
    /// not the caller's fault, so not counted against its address.
    Unavailable,
}

/// Why a presented credential was refused: for the log, never the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    UnknownKey,
    UnusableKey,
    UnknownSigningKey,
    ExpiredToken,
    InvalidToken,
    /// A valid token of a key since revoked or expired.
    UnusableTokenKey,
    UntrustedIssuer,
    InvalidIssuerToken,
    /// The key could not be looked up.
    Unavailable,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::UnknownKey => "unknown API key",
            Rejection::UnusableKey => "revoked or expired API key",
            Rejection::UnknownSigningKey => "access token signed by an unknown or retired key",
            Rejection::ExpiredToken => "expired access token",
            Rejection::InvalidToken => "access token with a bad signature or claims",
            Rejection::UnusableTokenKey => "access token of a revoked or expired API key",
            Rejection::UntrustedIssuer => "token from an untrusted issuer",
            Rejection::InvalidIssuerToken => "issuer token with a bad signature or claims",
            Rejection::Unavailable => "key lookup failed",
        }
    }
}

/// The one log line of a refused request: where from and why, never the
/// credential. `blocked_for` is set when this failure blocked the address.
pub fn log_failure(source: Option<IpAddr>, reason: &str, blocked_for: Option<u64>) {
    tracing::warn!(
        source = source.map(tracing::field::display),
        reason,
        blocked_for,
        "authentication failed"
    );
}

pub struct Authenticator {
    pub store: Arc<Database>,
    pub tokens: Arc<TokenIssuer>,
    pub issuers: Vec<TrustedIssuer>,
    pub usage: Arc<KeyUsage>,
    pub keys: Arc<KeyCache>,
    failures: FailureLimiter,
}

/// The credential from `Authorization: Bearer X`, `Token token=X` (Teamtailor's
/// API) or a raw `X` (what Okta sends when the admin typed only the key).
pub fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("Bearer") || value.eq_ignore_ascii_case("Token") {
        return None;
    }
    let credential = if let Some(rest) = strip_scheme(value, "Bearer") {
        rest
    } else if let Some(rest) = strip_scheme(value, "Token") {
        let rest = rest.trim();
        let token = rest
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("token="))
            .map(|_| &rest[6..])
            .unwrap_or(rest);
        token.trim_matches('"')
    } else {
        value
    };
    let credential = credential.trim();
    (!credential.is_empty()).then_some(credential)
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    (head.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then(|| rest.trim_start())
}

impl Authenticator {
    pub fn new(store: Arc<Database>, tokens: TokenIssuer, issuers: Vec<TrustedIssuer>) -> Self {
        let usage = Arc::new(KeyUsage::default());
        usage.spawn_flusher(store.clone());
        let tokens = Arc::new(tokens);
        tokens.spawn_poll(store.clone());
        Authenticator {
            keys: KeyCache::start(store.clone()),
            store,
            tokens,
            issuers,
            usage,
            failures: FailureLimiter::default(),
        }
    }

    /// Refuses a request from an address blocked after repeated failures,
    /// before its credential is read; returns the wait.
    pub fn refuse_if_blocked(&self, source: Option<IpAddr>) -> Option<u64> {
        let wait = source.and_then(|ip| self.failures.blocked_for(ip))?;
        log_failure(source, "address blocked after repeated failures", None);
        Some(wait)
    }

    /// Counts and logs a wrong credential; returns the wait when the address
    /// is now blocked.
    pub fn record_failure(&self, source: Option<IpAddr>, reason: &str) -> Option<u64> {
        let wait = source.and_then(|ip| self.failures.record_failure(ip));
        log_failure(source, reason, wait);
        wait
    }

    /// The caller presenting `credential` (see [`presented_credential`]).
    pub async fn authenticate(
        &self,
        credential: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        if let Some(wait) = self.refuse_if_blocked(source) {
            return Err(AuthFailure::Blocked(wait));
        }
        let Some(credential) = credential else {
            log_failure(source, "no credential", None);
            return Err(AuthFailure::Missing);
        };
        match self.resolve(credential).await {
            Ok(caller) => Ok(caller),
            Err(Rejection::Unavailable) => {
                log_failure(source, Rejection::Unavailable.reason(), None);
                Err(AuthFailure::Unavailable)
            }
            Err(rejection) => match self.record_failure(source, rejection.reason()) {
                Some(wait) => Err(AuthFailure::Blocked(wait)),
                None => Err(AuthFailure::Invalid),
            },
        }
    }

    async fn resolve(&self, credential: &str) -> Result<Caller, Rejection> {
        match jsonwebtoken::decode_header(credential) {
            Ok(header) => self.resolve_token(credential, &header).await,
            Err(_) => self.resolve_key(credential).await,
        }
    }

    async fn resolve_key(&self, token: &str) -> Result<Caller, Rejection> {
        let digest = KeyDigest::of(token);
        let lookup = digest.lookup();
        let stored = match self.keys.by_lookup(&lookup) {
            Some(cached) => cached,
            None => {
                let generation = self.keys.generation();
                let stored = match self.store.key_by_lookup(&lookup).await {
                    Ok(stored) => stored.ok_or(Rejection::UnknownKey)?,
                    Err(error) => {
                        tracing::error!(%error, "key lookup failed");
                        return Err(Rejection::Unavailable);
                    }
                };
                if stored.digest.matches(&digest) {
                    self.keys.insert(generation, &stored);
                }
                stored
            }
        };
        if !stored.digest.matches(&digest) {
            return Err(Rejection::UnknownKey);
        }
        if !stored.is_usable(now_micros()) {
            return Err(Rejection::UnusableKey);
        }
        self.usage.record(stored.id);
        Ok(Caller {
            company_id: stored.company_id,
            company_slug: stored.company_slug,
            principal: Principal::ApiKey(stored.id),
            scopes: stored.scopes,
        })
    }

    async fn resolve_token(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> Result<Caller, Rejection> {
        let issuer = unverified_issuer(token).ok_or(Rejection::InvalidToken)?;
        // Only a token naming this server reloads signing keys on a new kid.
        if issuer == self.tokens.issuer() {
            let kid = header.kid.as_deref().ok_or(Rejection::UnknownSigningKey)?;
            if !self.tokens.knows(kid, &self.store).await {
                return Err(Rejection::UnknownSigningKey);
            }
            return self.resolve_own_token(token, kid).await;
        }
        let (index, trusted) = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.issuer == issuer)
            .ok_or(Rejection::UntrustedIssuer)?;
        if !trusted.verify(token, header).await {
            return Err(Rejection::InvalidIssuerToken);
        }
        Ok(Caller {
            company_id: trusted.company_id,
            company_slug: trusted.company_slug.clone(),
            principal: Principal::Issuer(index),
            scopes: trusted.scopes.clone(),
        })
    }

    /// A token this server issued stays tied to its API key: revoking the key
    /// ends the token too.
    async fn resolve_own_token(&self, token: &str, kid: &str) -> Result<Caller, Rejection> {
        let claims = self.tokens.verify(token, kid)?;
        let key_id: i64 = claims.sub.parse().map_err(|_| Rejection::InvalidToken)?;
        let key = match self.keys.by_id(key_id) {
            Some(cached) => cached,
            None => {
                let generation = self.keys.generation();
                let key = match self.store.key_by_id(key_id).await {
                    Ok(key) => key.ok_or(Rejection::UnusableTokenKey)?,
                    Err(error) => {
                        tracing::error!(%error, "key lookup failed");
                        return Err(Rejection::Unavailable);
                    }
                };
                self.keys.insert(generation, &key);
                key
            }
        };
        if key.company_slug != claims.company {
            return Err(Rejection::InvalidToken);
        }
        if !key.is_usable(now_micros()) {
            return Err(Rejection::UnusableTokenKey);
        }
        let granted = Scope::parse_list(&claims.scope);
        self.usage.record(key.id);
        Ok(Caller {
            company_id: key.company_id,
            company_slug: key.company_slug,
            principal: Principal::ApiKey(key.id),
            scopes: key
                .scopes
                .into_iter()
                .filter(|s| granted.contains(s))
                .collect(),
        })
    }
}

/// The `iss` claim before verification, only to pick which issuer verifies.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn reads_every_authorization_form_clients_send() {
        assert_eq!(presented_credential(&headers("Bearer abc")), Some("abc"));
        assert_eq!(presented_credential(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(
            presented_credential(&headers("Token token=abc")),
            Some("abc")
        );
        assert_eq!(
            presented_credential(&headers("Token token=\"abc\"")),
            Some("abc")
        );
        assert_eq!(presented_credential(&headers("abc")), Some("abc"));
        assert_eq!(presented_credential(&headers("Bearer ")), None);
        assert_eq!(presented_credential(&HeaderMap::new()), None);
    }
}
