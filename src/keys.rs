//! API keys: high-entropy random tokens, stored only as SHA-256 digests.
//!
//! A key is found by a short public prefix of its digest and then verified by
//! comparing the full digest in constant time, so neither the lookup nor the
//! comparison tells an attacker how close a guess was.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The SCIM surface under `/scim/v2`.
    Scim,
    /// The Teamtailor API, read and write.
    ApiAdmin,
    /// The Teamtailor API, read only.
    ApiRead,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Scim, Scope::ApiAdmin, Scope::ApiRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scim => "scim",
            Scope::ApiAdmin => "api-admin",
            Scope::ApiRead => "api-read",
        }
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses a space-separated list as stored; unknown names are skipped so an
    /// older binary can read keys a newer one wrote.
    pub fn parse_list(text: &str) -> Vec<Scope> {
        text.split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scim" => Ok(Scope::Scim),
            "api-admin" => Ok(Scope::ApiAdmin),
            "api-read" => Ok(Scope::ApiRead),
            other => Err(format!(
                "unknown scope '{other}'; expected scim, api-admin or api-read"
            )),
        }
    }
}

/// A key as presented by a client or shown once at creation; never printed by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// 256 random bits, URL-safe so it pastes into headers and shells unquoted.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Secret(format!(
            "tt_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub fn new(token: impl Into<String>) -> Self {
        Secret(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// SHA-256 of a key; plain SHA-256 is enough because keys are random, not passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn of(token: &str) -> Self {
        KeyDigest(Sha256::digest(token.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(KeyDigest)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The indexed, non-secret part used to find the stored key.
    pub fn lookup(&self) -> String {
        hex::encode(&self.0[..8])
    }

    pub fn matches(&self, other: &KeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}…)", self.lookup())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_random_and_verify() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= 43 + 3);
        assert!(a.digest().matches(&KeyDigest::of(a.expose())));
        assert!(!a.digest().matches(&b.digest()));
        assert_eq!(format!("{a:?}"), "Secret(***)");
    }
}
