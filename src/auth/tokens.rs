//! The server's own OAuth access tokens: short-lived HS256 JWTs naming the API
//! key (the OAuth client) they were issued to. Signing keys carry a `kid` and
//! are stored, so every instance verifies what any instance issued.

use std::sync::RwLock;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::keys::{Scope, Secret};
use crate::storage::{now_micros, ApiKey, Database, SigningKey, Store, StoreError};

/// The audience of the server's own tokens.
pub const AUDIENCE: &str = "teamtailor-scim";
pub const DEFAULT_ISSUER: &str = "teamtailor-scim";
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The id of the API key the token was issued to.
    pub sub: String,
    pub company: String,
    /// Space-separated scopes.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub struct TokenIssuer {
    issuer: String,
    keys: RwLock<Vec<SigningKey>>,
}

pub fn new_signing_key() -> SigningKey {
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let mut kid = [0u8; 6];
    rand::rng().fill_bytes(&mut kid);
    SigningKey {
        kid: hex::encode(kid),
        secret,
        created_at: now_micros(),
        retired_at: None,
    }
}

impl TokenIssuer {
    /// Uses the configured secret, or the stored keys (creating the first).
    pub async fn load(
        store: &Database,
        configured: Option<&Secret>,
        issuer: &str,
    ) -> Result<Self, StoreError> {
        let keys = match configured {
            Some(secret) => vec![SigningKey {
                kid: format!("config-{}", &secret.digest().lookup()[..8]),
                secret: secret.expose().as_bytes().to_vec(),
                created_at: 0,
                retired_at: None,
            }],
            None => {
                let mut keys = store.signing_keys().await?;
                if keys.is_empty() {
                    let key = new_signing_key();
                    store.rotate_signing_key(&key).await?;
                    keys = store.signing_keys().await?;
                }
                keys
            }
        };
        Ok(TokenIssuer {
            issuer: issuer.to_string(),
            keys: RwLock::new(keys),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs a token for `key` carrying `scopes` (a subset of the key's).
    pub fn issue(
        &self,
        key: &ApiKey,
        scopes: &[Scope],
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let keys = self.keys.read().expect("signing keys lock");
        let signing = keys
            .iter()
            .find(|k| k.retired_at.is_none())
            .or(keys.first())
            .expect("at least one signing key");
        let now = chrono::Utc::now().timestamp();
        let mut jti = [0u8; 12];
        rand::rng().fill_bytes(&mut jti);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: key.id.to_string(),
            company: key.company_slug.clone(),
            scope: Scope::join(scopes),
            iat: now,
            exp: now + TOKEN_LIFETIME.as_secs() as i64,
            jti: hex::encode(jti),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&signing.secret))
    }

    /// Picks up keys rotated since start (e.g. through `/admin`).
    pub async fn reload(&self, store: &Database) -> Result<(), StoreError> {
        let keys = store.signing_keys().await?;
        if !keys.is_empty() {
            *self.keys.write().expect("signing keys lock") = keys;
        }
        Ok(())
    }

    /// Whether this `kid` is one of ours (possibly after another instance rotated).
    pub async fn knows(&self, kid: &str, store: &Database) -> bool {
        if self.find(kid).is_some() {
            return true;
        }
        if let Ok(keys) = store.signing_keys().await {
            if keys.iter().any(|k| k.kid == kid) {
                *self.keys.write().expect("signing keys lock") = keys;
                return true;
            }
        }
        false
    }

    fn find(&self, kid: &str) -> Option<Vec<u8>> {
        self.keys
            .read()
            .expect("signing keys lock")
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.secret.clone())
    }

    /// Verifies signature, algorithm (HS256 only), issuer, audience and expiry.
    pub fn verify(&self, token: &str, kid: &str) -> Option<AccessClaims> {
        let secret = self.find(kid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(&secret), &validation)
            .map(|data| data.claims)
            .ok()
    }
}
