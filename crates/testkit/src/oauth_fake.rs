//! A local OAuth 2.0 authorization server issuing client-credentials tokens, following RFC 6749
//! (<https://datatracker.ietf.org/doc/html/rfc6749>):
//! - §4.4.2: `POST /token`, form body, `grant_type=client_credentials`, optional `scope`;
//! - §2.3.1: the client authenticates with HTTP Basic (id and secret form-urlencoded, then
//!   base64) or with `client_id` / `client_secret` in the body, never both (§2.3);
//! - §5.1: `{"access_token", "token_type": "Bearer", "expires_in", "scope"}` with
//!   `Cache-Control: no-store`;
//! - §5.2: errors as JSON `error` / `error_description`; `invalid_client` is a 401 with a
//!   `WWW-Authenticate: Basic` challenge when the client tried Basic.
//!
//! [`OAuthFake::validator`] answers, for a protected resource, whether a token is one this
//! server issued and has not expired or been revoked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::cloud_fake::FakeServer;

pub const CLIENT_ID: &str = "tenure-test-client";
pub const CLIENT_SECRET: &str = "test-only-oauth-client-secret";

struct Shared {
    /// Lifetime of the tokens issued from now on.
    lifetime: Mutex<Duration>,
    /// Scopes a request may ask for; empty allows any.
    allowed_scopes: Vec<String>,
    tokens: Mutex<HashMap<String, Instant>>,
    issued: AtomicU64,
    refused: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct OAuthFake {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl OAuthFake {
    /// Tokens live `lifetime`; `allowed_scopes` empty lets any scope through.
    pub async fn start(lifetime: Duration, allowed_scopes: &[&str]) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            lifetime: Mutex::new(lifetime),
            allowed_scopes: allowed_scopes.iter().map(|s| (*s).to_owned()).collect(),
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let app = Router::new().route("/oauth/token", post(token)).with_state(shared.clone());
        let server = FakeServer::start(app).await?;
        Ok(Self { shared, server })
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.server.url())
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.shared.issued.load(Ordering::Relaxed)
    }

    /// Token requests refused so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Revokes every token issued so far (a resource checking with [`validator`] now refuses them).
    pub fn revoke_all(&self) {
        lock(&self.shared.tokens).clear();
    }

    pub fn set_lifetime(&self, lifetime: Duration) {
        *lock(&self.shared.lifetime) = lifetime;
    }

    /// Whether a token is one of this server's, unexpired and not revoked.
    pub fn validator(&self) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
        let shared = self.shared.clone();
        Arc::new(move |token: &str| lock(&shared.tokens).get(token).is_some_and(|until| Instant::now() < *until))
    }
}

fn error(status: StatusCode, code: &str, description: &str, basic_challenge: bool) -> Response {
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    if basic_challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"fake\""));
    }
    response
}

fn form_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The client's id and secret from `Authorization: Basic`, if that header is there.
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok();
    let pair = decoded
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|text| text.split_once(':').map(|(id, secret)| (form_decode(id), form_decode(secret))));
    Some(pair)
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let refuse = |status, code: &str, description: &str, basic: bool| {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        error(status, code, description, basic)
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
            false,
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let basic = basic_credentials(&headers);
    let in_body = form.get("client_id").zip(form.get("client_secret"));
    let (id, secret, used_basic) = match (basic, in_body) {
        (Some(_), Some(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "more than one client authentication method",
                false,
            );
        }
        (Some(Some((id, secret))), None) => (id, secret, true),
        (Some(None), None) => {
            return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "malformed Basic credentials", true);
        }
        (None, Some((id, secret))) => (id.clone(), secret.clone(), false),
        (None, None) => {
            return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication required", true);
        }
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed", used_basic);
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only client_credentials", false);
        }
        None => return refuse(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required", false),
    }
    let scope = form.get("scope").cloned();
    if let Some(scope) = &scope
        && !shared.allowed_scopes.is_empty()
        && !scope.split(' ').all(|s| shared.allowed_scopes.iter().any(|a| a == s))
    {
        return refuse(StatusCode::BAD_REQUEST, "invalid_scope", "scope not granted to this client", false);
    }
    let lifetime = *lock(&shared.lifetime);
    let n = shared.issued.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("at-{n}-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(token.clone(), Instant::now() + lifetime);
    let mut body = json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], axum::Json(body))
        .into_response()
}
