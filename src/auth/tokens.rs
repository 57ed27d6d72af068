//! The server's own OAuth access tokens: short-lived HS256 JWTs naming the API
//! key (the OAuth client) they were issued to. Signing keys carry a `kid` and
//! are stored, so every instance verifies what any instance issued. A poll
//! every `POLL_EVERY` picks up a rotation made elsewhere (the command line,
//! another instance); an unknown `kid` reloads at once, sharing one reload
//! per `RELOAD_GAP` so forged kids cannot hammer the database. A retired key
//! verifies only as long as a token it signed can be valid.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::keys::{Scope, Secret};
use crate::storage::{now_micros, ApiKey, Database, SigningKey, Store, StoreError};
use crate::teamtailor::Micros;

use super::Rejection;

/// The audience of the server's own tokens.
pub const AUDIENCE: &str = "teamtailor-scim";
pub const DEFAULT_ISSUER: &str = "teamtailor-scim";
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
pub const POLL_EVERY: Duration = Duration::from_millis(500);
const RELOAD_GAP: Duration = Duration::from_millis(100);
/// Clock skew allowed on `exp`.
const LEEWAY: Duration = Duration::from_secs(30);

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
    /// `--jwt-secret`: signs every token and always verifies; never reloaded.
    configured: Option<SigningKey>,
    /// The stored keys that can still verify a token, newest first.
    stored: RwLock<Vec<SigningKey>>,
    /// When the latest reload began.
    last_reload: tokio::sync::Mutex<Instant>,
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

/// Whether `key` may still verify at `now`: a retired key until the last
/// token it can have signed (on an instance that had not yet seen the
/// rotation) has expired.
fn verifies(key: &SigningKey, now: Micros) -> bool {
    let window = (TOKEN_LIFETIME + LEEWAY + POLL_EVERY).as_micros() as Micros;
    key.retired_at.is_none_or(|at| now < at + window)
}

impl TokenIssuer {
    /// Uses the configured secret, or the stored keys (creating the first);
    /// stored keys verify either way.
    pub async fn load(
        store: &Database,
        configured: Option<&Secret>,
        issuer: &str,
    ) -> Result<Self, StoreError> {
        let configured = configured.map(|secret| SigningKey {
            kid: format!("config-{}", &secret.digest().lookup()[..8]),
            secret: secret.expose().as_bytes().to_vec(),
            created_at: 0,
            retired_at: None,
        });
        let mut stored = store.signing_keys().await?;
        if configured.is_none() && !stored.iter().any(|k| k.retired_at.is_none()) {
            store.rotate_signing_key(&new_signing_key()).await?;
            stored = store.signing_keys().await?;
        }
        let now = now_micros();
        stored.retain(|k| verifies(k, now));
        Ok(TokenIssuer {
            issuer: issuer.to_string(),
            configured,
            stored: RwLock::new(stored),
            last_reload: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// Reloads the stored keys every `POLL_EVERY` until the issuer is dropped.
    pub fn spawn_poll(self: &Arc<Self>, store: Arc<Database>) {
        tokio::spawn(poll(Arc::downgrade(self), store));
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs a token for `key` carrying `scopes` (a subset of the key's) with
    /// the configured secret, or else the newest stored key not retired.
    pub fn issue(
        &self,
        key: &ApiKey,
        scopes: &[Scope],
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let stored = self.stored.read().expect("signing keys lock");
        let signing = self
            .configured
            .as_ref()
            .or_else(|| stored.iter().find(|k| k.retired_at.is_none()))
            .ok_or_else(|| ErrorKind::Signing("no signing key".into()))?;
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

    /// Reads the stored keys again (after a rotation, or on the poll).
    pub async fn reload(&self, store: &Database) -> Result<(), StoreError> {
        let mut last = self.last_reload.lock().await;
        self.reload_locked(store, &mut last).await
    }

    /// Reloads run one at a time, so an older read never replaces a newer.
    async fn reload_locked(&self, store: &Database, last: &mut Instant) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut keys = store.signing_keys().await?;
        let now = now_micros();
        keys.retain(|k| verifies(k, now));
        *self.stored.write().expect("signing keys lock") = keys;
        *last = started;
        Ok(())
    }

    /// Whether this `kid` is one of ours, reloading if it is new (another
    /// instance may have rotated since the last poll). Requests with new kids
    /// share one reload per `RELOAD_GAP`, waiting for it at most that long.
    pub async fn knows(&self, kid: &str, store: &Database) -> bool {
        if self.secret(kid).is_some() {
            return true;
        }
        let asked = Instant::now();
        let mut last = self.last_reload.lock().await;
        if *last < asked {
            tokio::time::sleep(RELOAD_GAP.saturating_sub(last.elapsed())).await;
            if let Err(error) = self.reload_locked(store, &mut last).await {
                tracing::warn!(%error, "cannot read the signing keys");
            }
        }
        self.secret(kid).is_some()
    }

    fn secret(&self, kid: &str) -> Option<Vec<u8>> {
        if let Some(configured) = self.configured.as_ref().filter(|k| k.kid == kid) {
            return Some(configured.secret.clone());
        }
        let now = now_micros();
        self.stored
            .read()
            .expect("signing keys lock")
            .iter()
            .find(|k| k.kid == kid && verifies(k, now))
            .map(|k| k.secret.clone())
    }

    /// Verifies signature, algorithm (HS256 only), issuer, audience and expiry.
    pub fn verify(&self, token: &str, kid: &str) -> Result<AccessClaims, Rejection> {
        let secret = self.secret(kid).ok_or(Rejection::UnknownSigningKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY.as_secs();
        jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(&secret), &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => Rejection::ExpiredToken,
                _ => Rejection::InvalidToken,
            })
    }
}

async fn poll(issuer: Weak<TokenIssuer>, store: Arc<Database>) {
    let mut interval = tokio::time::interval(POLL_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        interval.tick().await;
        let Some(issuer) = issuer.upgrade() else {
            return;
        };
        // On failure the keys in hand keep working.
        match issuer.reload(&store).await {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot read the signing keys; keeping those in hand");
            }
            Err(_) => {}
        }
    }
}
