//! Zoom's server-to-server OAuth, the only way into Zoom's SCIM2 API
//! (<https://developers.zoom.us/docs/internal-apps/s2s-oauth/>):
//!
//! - `POST /oauth/token?grant_type=account_credentials&account_id=ACCOUNT` with
//!   `Authorization: Basic base64(client_id:client_secret)`; the sandbox also takes the two
//!   parameters from a form body, as RFC 6749 clients send them.
//! - The answer is `{"access_token", "token_type": "bearer", "expires_in": 3599, "scope", "api_url"}`:
//!   an hour-long token and no refresh token; the client asks again when it expires.
//! - Errors are `{"reason": "...", "error": "invalid_client" | "unsupported_grant_type" |
//!   "invalid_request"}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use crate::{Shared, lock};

/// Tokens the endpoint has handed out, each with when it stops working.
#[derive(Default)]
pub(crate) struct Issued {
    tokens: HashMap<String, Instant>,
    count: u64,
}

impl Issued {
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn is_valid(&self, token: &str, now: Instant) -> bool {
        self.tokens.get(token).is_some_and(|expires| now < *expires)
    }

    pub(crate) fn all_expired(&self, now: Instant) -> bool {
        self.tokens.values().all(|expires| now >= *expires)
    }

    pub(crate) fn revoke_all(&mut self) {
        self.tokens.clear();
    }

    fn issue(&mut self, expires: Instant) -> String {
        // Expired tokens are dropped as new ones are minted, so a long demo does not grow this.
        let now = Instant::now();
        self.tokens.retain(|_, at| *at > now);
        let token = format!("zsandbox.{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), expires);
        self.count += 1;
        token
    }
}

fn error(status: StatusCode, error: &str, reason: &str) -> Response {
    (status, axum::Json(json!({"reason": reason, "error": error}))).into_response()
}

/// `(name, value)` pairs of a query string or form body.
fn pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match raw.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client id and secret of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both halves are form-urlencoded before they are joined.
    Some((decode(id), decode(secret)))
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if !shared.profile.uses_oauth() {
        return error(StatusCode::NOT_FOUND, "not_found", "this app has no OAuth token endpoint");
    }
    let mut params = pairs(query.as_deref().unwrap_or(""));
    params.extend(pairs(&String::from_utf8_lossy(&body)));
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let vendor = &shared.vendor;
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client_id or client_secret");
    };
    let secret_ok = crate::routes::constant_time_eq(secret.as_bytes(), shared.token.as_bytes());
    if client_id != vendor.zoom_client_id || !secret_ok {
        return error(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client_id or client_secret");
    }
    if param("grant_type") != Some("account_credentials") {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant type");
    }
    if param("account_id") != Some(vendor.zoom_account_id.as_str()) {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Invalid request : Account ID is invalid");
    }
    let ttl = vendor.token_ttl;
    let token = lock(&shared.issued).issue(Instant::now() + ttl);
    tracing::debug!(app = shared.profile.name(), ttl_s = ttl.as_secs(), "sandbox issued an access token");
    let api_url = shared.base_url.strip_suffix(shared.profile.scim_path()).unwrap_or(&shared.base_url).to_owned();
    axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": ttl.as_secs().max(1),
        "scope": "scim2",
        "api_url": api_url,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(decode("a+b%3Dc%2"), "a b=c%2");
        assert_eq!(
            pairs("grant_type=account_credentials&account_id=x%2By"),
            [("grant_type".into(), "account_credentials".into()), ("account_id".into(), "x+y".into())]
        );
    }

    #[test]
    fn tokens_expire() {
        let mut issued = Issued::default();
        let now = Instant::now();
        let t = issued.issue(now + std::time::Duration::from_secs(5));
        assert!(issued.is_valid(&t, now));
        assert!(!issued.is_valid(&t, now + std::time::Duration::from_secs(5)));
        assert!(!issued.is_valid("other", now));
        assert!(issued.all_expired(now + std::time::Duration::from_secs(6)));
        issued.revoke_all();
        assert!(!issued.is_valid(&t, now));
    }
}
