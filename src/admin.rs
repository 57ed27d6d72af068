//! Operator actions on companies and keys, shared by the command line and the
//! `/admin` HTTP API so both behave the same.

use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::tokens::new_signing_key;
use crate::keys::{Scope, Secret};
use crate::storage::{now_micros, ApiKey, Company, Database, NewApiKey, Store, StoreError};
use crate::teamtailor::mapping::format_time;

/// A key as shown to operators: never its value.
pub fn key_json(key: &ApiKey) -> Value {
    let now = now_micros();
    json!({
        "id": key.id,
        "client_id": key.id.to_string(),
        "company": key.company_slug,
        "name": key.name,
        "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "created": format_time(key.created_at),
        "expires": key.expires_at.map(format_time),
        "revoked": key.revoked_at.map(format_time),
        "last_used": key.last_used_at.map(format_time),
        "active": key.is_usable(now),
    })
}

pub fn company_json(company: &Company) -> Value {
    json!({ "id": company.id, "slug": company.slug, "created": format_time(company.created_at) })
}

/// Creates a key for `company` (created if missing); the secret is shown once.
pub async fn create_key(
    store: &Database,
    company: &str,
    scopes: &[Scope],
    name: &str,
    expires_in: Option<Duration>,
) -> Result<(ApiKey, Secret), StoreError> {
    let company = store.ensure_company(company).await?;
    let mut scopes = if scopes.is_empty() {
        Scope::ALL.to_vec()
    } else {
        scopes.to_vec()
    };
    scopes.sort();
    scopes.dedup();
    let secret = Secret::generate();
    let key = store
        .create_key(&NewApiKey {
            company_id: company.id,
            name: name.to_string(),
            digest: secret.digest(),
            scopes,
            expires_at: expires_in.map(|d| now_micros() + d.as_micros() as i64),
        })
        .await?;
    Ok((key, secret))
}

/// Replaces a key with a new one of the same company, name and scopes. The old
/// key stops working at once, or after `grace` so clients can switch.
pub async fn rotate_key(
    store: &Database,
    id: i64,
    grace: Option<Duration>,
) -> Result<(ApiKey, Secret), StoreError> {
    let old = store.key_by_id(id).await?.ok_or(StoreError::NotFound)?;
    if !old.is_usable(now_micros()) {
        return Err(StoreError::NotFound);
    }
    let remaining = old
        .expires_at
        .map(|at| Duration::from_micros((at - now_micros()).max(0) as u64));
    let (key, secret) =
        create_key(store, &old.company_slug, &old.scopes, &old.name, remaining).await?;
    match grace.filter(|g| !g.is_zero()) {
        Some(grace) => {
            let until = now_micros() + grace.as_micros() as i64;
            let until = old.expires_at.map_or(until, |at| at.min(until));
            store.set_key_expiry(old.id, Some(until)).await?;
        }
        None => {
            store.revoke_key(old.id).await?;
        }
    }
    Ok((key, secret))
}

/// Starts signing access tokens with a new key; tokens signed before stay
/// valid until they expire.
pub async fn rotate_signing_key(store: &Database) -> Result<String, StoreError> {
    let key = new_signing_key();
    store.rotate_signing_key(&key).await?;
    Ok(key.kid)
}

/// `90d`, `12h`, `30m`, `45s` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; use e.g. 90d, 12h, 30m or 45s"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "'{text}' is not a duration; use e.g. 90d, 12h, 30m or 45s"
            ))
        }
    };
    if seconds == 0 {
        return Err("a duration must be more than zero".into());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
