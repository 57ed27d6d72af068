//! `POST /oauth/token`: the OAuth 2.0 client credentials grant (RFC 6749
//! section 4.4). Every API key is a client: `client_id` is the key's id and
//! `client_secret` the key itself. Access tokens are short-lived JWTs carrying
//! the key's scopes (or the subset asked for).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde_json::json;

use crate::auth::log_failure;
use crate::auth::tokens::TOKEN_LIFETIME;
use crate::keys::{KeyDigest, Scope};
use crate::storage::{now_micros, ApiKey, Store};

use super::AppState;

/// An RFC 6749 section 5.2 error.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// The client authenticated with HTTP Basic: answer with a Basic challenge.
    basic: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            basic: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.basic {
                "Basic realm=\"teamtailor-scim\""
            } else {
                "Bearer realm=\"teamtailor-scim\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Client credentials from HTTP Basic (form-urlencoded parts, RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), OAuthError>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let invalid = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "malformed HTTP Basic credentials",
        )
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((id, secret)) => {
            let decode = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            match (decode(id), decode(secret)) {
                (Some(id), Some(secret)) => Ok((id, secret)),
                _ => Err(invalid()),
            }
        }
        None => Err(invalid()),
    })
}

/// The client's key, if the secret is its own and the key still usable.
fn client_key(key: Option<ApiKey>, secret: &str) -> Result<ApiKey, &'static str> {
    let key = key.ok_or("unknown OAuth client")?;
    if !key.digest.matches(&KeyDigest::of(secret)) {
        return Err("wrong client secret");
    }
    if !key.is_usable(now_micros()) {
        return Err("revoked or expired OAuth client");
    }
    Ok(key)
}

pub async fn token(
    State(state): State<AppState>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let source = connect_info.map(|Extension(info)| info.0.ip());
    match issue(&state, source, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    if let Some(wait) = state.auth.refuse_if_blocked(source) {
        return Err(OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!("too many failed attempts from this address; retry in {wait} seconds"),
        ));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            ))
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type '{other}' is not supported; use client_credentials"),
            ))
        }
    }
    let basic = basic_credentials(headers).transpose()?;
    let (client_id, secret) = match (basic.clone(), field("client_id"), field("client_secret")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send client credentials either with HTTP Basic or in the form, not both",
            ))
        }
        (Some(credentials), None, None) => credentials,
        (None, Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
        _ => {
            log_failure(source, "no client credentials", None);
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required (client_id and client_secret)",
            ));
        }
    };
    let invalid_client = || OAuthError {
        basic: basic.is_some(),
        ..OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    };
    let key = match client_id.parse::<i64>() {
        Ok(id) => state.store.key_by_id(id).await.map_err(|error| {
            tracing::error!(%error, "client lookup failed");
            OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "retry shortly",
            )
        })?,
        Err(_) => None,
    };
    let key = match client_key(key, &secret) {
        Ok(key) => key,
        Err(reason) => {
            // Blocked or not, the answer stays invalid_client (RFC 6749).
            state.auth.record_failure(source, reason);
            return Err(invalid_client());
        }
    };
    let scopes = match field("scope").map(str::trim).filter(|s| !s.is_empty()) {
        None => key.scopes.clone(),
        Some(requested) => {
            let mut granted = Vec::new();
            for name in requested.split_whitespace() {
                match name.parse::<Scope>() {
                    Ok(scope) if key.scopes.contains(&scope) => granted.push(scope),
                    _ => {
                        return Err(OAuthError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            format!("scope '{name}' is unknown or not granted to this client"),
                        ))
                    }
                }
            }
            granted
        }
    };
    let access_token = state.auth.tokens.issue(&key, &scopes).map_err(|error| {
        tracing::error!(%error, "could not sign an access token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "could not sign the token",
        )
    })?;
    state.auth.usage.record(key.id);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "scope": Scope::join(&scopes),
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
