//! Trusted external issuers: identity providers (e.g. Entra ID's
//! `https://sts.windows.net/<tenant>/`) whose signed JWTs are accepted for one
//! company, verified with keys from a JWKS file. Only asymmetric algorithms
//! are allowed, each matched to its key, so `alg: none` and HS/RS confusion
//! (an HS256 token "signed" with the public key) are refused.

use std::path::PathBuf;

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
    pub jwks_file: PathBuf,
    /// Scopes granted to the issuer's tokens (default: scim).
    #[serde(default)]
    pub scopes: Vec<String>,
}

pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
    pub company_id: i64,
    pub company_slug: String,
    pub scopes: Vec<Scope>,
    keys: Vec<Jwk>,
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

impl TrustedIssuer {
    pub fn load(config: &IssuerConfig, company_id: i64) -> Result<Self, IssuerError> {
        let text =
            std::fs::read_to_string(&config.jwks_file).map_err(|source| IssuerError::Read {
                path: config.jwks_file.clone(),
                source,
            })?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|source| IssuerError::Parse {
            path: config.jwks_file.clone(),
            source,
        })?;
        let scopes = if config.scopes.is_empty() {
            vec![Scope::Scim]
        } else {
            config
                .scopes
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|e: String| IssuerError::Invalid(config.issuer.clone(), e))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(TrustedIssuer {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            company_id,
            company_slug: config.company.clone(),
            scopes,
            keys: set.keys,
        })
    }

    /// Verifies a token whose unverified `iss` named this issuer.
    pub fn verify(&self, token: &str, header: &Header) -> bool {
        if !ASYMMETRIC.contains(&header.alg) {
            return false;
        }
        let candidates = self
            .keys
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
