//! Who is calling: the API key in `Authorization` resolves to one company.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::keys::{KeyDigest, Scope};
use crate::scim::ScimError;
use crate::storage::{now_micros, Store};

use super::AppState;

/// The authenticated company and what its key may do. Every handler scopes its
/// queries by `company_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub company_id: i64,
    pub company_slug: String,
    pub key_id: i64,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
}

/// The key from `Authorization: Bearer KEY`, `Token token=KEY` (Teamtailor's
/// API) or a raw `KEY` (what Okta sends when the admin typed only the key).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("Bearer") || value.eq_ignore_ascii_case("Token") {
        return None;
    }
    let key = if let Some(rest) = strip_scheme(value, "Bearer") {
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
    let key = key.trim();
    (!key.is_empty()).then_some(key)
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    (head.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then(|| rest.trim_start())
}

pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, AuthFailure> {
    let token = presented_key(headers).ok_or(AuthFailure::Missing)?;
    let digest = KeyDigest::of(token);
    let stored = state
        .store
        .key_by_lookup(&digest.lookup())
        .await
        .map_err(|error| {
            tracing::error!(%error, "key lookup failed");
            AuthFailure::Invalid
        })?
        .ok_or(AuthFailure::Invalid)?;
    if !stored.digest.matches(&digest) || !stored.is_usable(now_micros()) {
        return Err(AuthFailure::Invalid);
    }
    Ok(Caller {
        company_id: stored.company_id,
        company_slug: stored.company_slug,
        key_id: stored.id,
        scopes: stored.scopes,
    })
}

/// Middleware for `/scim/v2`: a key with the `scim` scope, or a SCIM error.
pub async fn require_scim(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(caller) if caller.scopes.contains(&Scope::Scim) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(caller) => {
            tracing::info!(
                key_id = caller.key_id,
                "key without the scim scope used on SCIM"
            );
            ScimError::Forbidden("this API key does not have the 'scim' scope".into())
                .into_response()
        }
        Err(AuthFailure::Missing) => {
            ScimError::Unauthorized("missing API key: send 'Authorization: Bearer KEY'".into())
                .into_response()
        }
        Err(AuthFailure::Invalid) => {
            tracing::info!("rejected an unknown, revoked or expired API key");
            ScimError::Unauthorized("the API key is not valid (unknown, revoked or expired)".into())
                .into_response()
        }
    }
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
        assert_eq!(presented_key(&headers("Bearer abc")), Some("abc"));
        assert_eq!(presented_key(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(presented_key(&headers("Token token=abc")), Some("abc"));
        assert_eq!(presented_key(&headers("Token token=\"abc\"")), Some("abc"));
        assert_eq!(presented_key(&headers("abc")), Some("abc"));
        assert_eq!(presented_key(&headers("Bearer ")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}
