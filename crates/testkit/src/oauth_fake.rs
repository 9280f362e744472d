//! A local OAuth 2.0 authorization server, following RFC 6749
//! (<https://datatracker.ietf.org/doc/html/rfc6749>) and PKCE, RFC 7636
//! (<https://datatracker.ietf.org/doc/html/rfc7636>):
//! - §4.4.2: `POST /token`, form body, `grant_type=client_credentials`, optional `scope`;
//! - §4.1.1: `GET /authorize` with `response_type=code`, `client_id`, `redirect_uri`, `scope`,
//!   `state`, `code_challenge`, `code_challenge_method=S256` (PKCE is required, as OAuth 2.1
//!   does); the "user" consents (or, with [`OAuthFake::deny_consent`], refuses) at once and the
//!   answer is a 302 to `redirect_uri` with `code` and `state` (§4.1.2) or `error=access_denied`
//!   (§4.1.2.1); a bad client or missing redirect URI is a 400 page, never a redirect;
//! - §4.1.3: `grant_type=authorization_code` with `code` (single use, one minute), the same
//!   `redirect_uri`, the same client, and `code_verifier` matching the challenge (RFC 7636
//!   §4.6), else `invalid_grant`; the answer carries a `refresh_token`;
//! - §6: `grant_type=refresh_token`; every refresh rotates the refresh token, and a refresh token
//!   presented again after its rotation revokes the whole grant (RFC 9700 §4.14.2), as does
//!   [`OAuthFake::revoke_grants`]: both then answer `invalid_grant`;
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
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    /// Authorization codes not yet exchanged.
    codes: Mutex<HashMap<String, PendingCode>>,
    /// Refresh tokens by value: their grant, and whether they were rotated away already.
    refresh_tokens: Mutex<HashMap<String, RefreshEntry>>,
    /// Grants revoked (by reuse of a rotated refresh token, or by the test).
    revoked_grants: Mutex<std::collections::HashSet<u64>>,
    next_grant: AtomicU64,
    refreshes: AtomicU64,
    deny_consent: std::sync::atomic::AtomicBool,
    /// Every access and refresh token ever issued, for tests that look for leaks.
    every_token: Mutex<Vec<String>>,
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: Option<String>,
    until: Instant,
}

struct RefreshEntry {
    grant: u64,
    scope: Option<String>,
    rotated: bool,
}

/// How long an authorization code can be exchanged (RFC 6749 §4.1.2 recommends 10 minutes at
/// most).
const CODE_LIFETIME: Duration = Duration::from_secs(60);

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
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            revoked_grants: Mutex::new(Default::default()),
            next_grant: AtomicU64::new(1),
            refreshes: AtomicU64::new(0),
            deny_consent: Default::default(),
            every_token: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/oauth/authorize", get(authorize))
            .with_state(shared.clone());
        let server = FakeServer::start(app).await?;
        Ok(Self { shared, server })
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.server.url())
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.server.url())
    }

    /// Refresh-token grants answered so far.
    pub fn refreshes(&self) -> u64 {
        self.shared.refreshes.load(Ordering::Relaxed)
    }

    /// From now on the "user" refuses consent: the authorize endpoint redirects with
    /// `error=access_denied`.
    pub fn deny_consent(&self, deny: bool) {
        self.shared.deny_consent.store(deny, Ordering::Relaxed);
    }

    /// Revokes every authorization-code grant (consent withdrawn): their refresh tokens now
    /// answer `invalid_grant`, their access tokens are refused.
    pub fn revoke_grants(&self) {
        let grants: Vec<u64> = lock(&self.shared.refresh_tokens).values().map(|e| e.grant).collect();
        lock(&self.shared.revoked_grants).extend(grants);
        lock(&self.shared.tokens).clear();
    }

    /// The refresh token currently valid (not rotated away, not revoked), if exactly one is.
    pub fn live_refresh_token(&self) -> Option<String> {
        let revoked = lock(&self.shared.revoked_grants);
        let live: Vec<String> = lock(&self.shared.refresh_tokens)
            .iter()
            .filter(|(_, e)| !e.rotated && !revoked.contains(&e.grant))
            .map(|(t, _)| t.clone())
            .collect();
        (live.len() == 1).then(|| live[0].clone())
    }

    /// Every access and refresh token issued so far.
    pub fn every_token(&self) -> Vec<String> {
        lock(&self.shared.every_token).clone()
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
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
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
        Some("authorization_code") => return authorization_code(&shared, &id, &form),
        Some("refresh_token") => return refresh(&shared, &form),
        Some(_) => {
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unknown grant type", false);
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
    issue(&shared, scope, None)
}

/// A token response (§5.1): a new access token, and a new refresh token of `grant` if given.
fn issue(shared: &Shared, scope: Option<String>, grant: Option<u64>) -> Response {
    let lifetime = *lock(&shared.lifetime);
    let n = shared.issued.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("at-{n}-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(token.clone(), Instant::now() + lifetime);
    lock(&shared.every_token).push(token.clone());
    let mut body = json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()});
    if let Some(grant) = grant {
        let refresh = format!("rt-{grant}-{}", uuid::Uuid::new_v4().simple());
        lock(&shared.refresh_tokens)
            .insert(refresh.clone(), RefreshEntry { grant, scope: scope.clone(), rotated: false });
        lock(&shared.every_token).push(refresh.clone());
        body["refresh_token"] = json!(refresh);
    }
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], axum::Json(body))
        .into_response()
}

fn invalid_grant(shared: &Shared, description: &str) -> Response {
    shared.refused.fetch_add(1, Ordering::Relaxed);
    error(StatusCode::BAD_REQUEST, "invalid_grant", description, false)
}

/// §4.1.3 with RFC 7636 §4.6.
fn authorization_code(shared: &Shared, client_id: &str, form: &HashMap<String, String>) -> Response {
    let Some(code) = form.get("code") else {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::BAD_REQUEST, "invalid_request", "code is required", false);
    };
    // Removed on first use, whatever follows: a code is good for one try.
    let Some(pending) = lock(&shared.codes).remove(code) else {
        return invalid_grant(shared, "unknown or already used authorization code");
    };
    if Instant::now() >= pending.until {
        return invalid_grant(shared, "the authorization code expired");
    }
    if pending.client_id != client_id {
        return invalid_grant(shared, "the code was issued to another client");
    }
    if form.get("redirect_uri") != Some(&pending.redirect_uri) {
        return invalid_grant(shared, "redirect_uri differs from the authorization request's");
    }
    let verified = form.get("code_verifier").is_some_and(|v| {
        let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()) == pending.challenge
    });
    if !verified {
        return invalid_grant(shared, "PKCE verification failed");
    }
    let grant = shared.next_grant.fetch_add(1, Ordering::Relaxed);
    issue(shared, pending.scope, Some(grant))
}

/// §6, rotating the refresh token each time.
fn refresh(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let Some(presented) = form.get("refresh_token") else {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required", false);
    };
    let (grant, scope) = {
        let mut all = lock(&shared.refresh_tokens);
        let Some(entry) = all.get_mut(presented) else {
            drop(all);
            return invalid_grant(shared, "unknown refresh token");
        };
        if lock(&shared.revoked_grants).contains(&entry.grant) {
            drop(all);
            return invalid_grant(shared, "the grant was revoked");
        }
        if entry.rotated {
            // Reuse of a rotated refresh token: someone has a copy. The whole grant goes.
            let grant = entry.grant;
            drop(all);
            lock(&shared.revoked_grants).insert(grant);
            return invalid_grant(shared, "refresh token reused after rotation; grant revoked");
        }
        entry.rotated = true;
        (entry.grant, entry.scope.clone())
    };
    shared.refreshes.fetch_add(1, Ordering::Relaxed);
    issue(shared, scope, Some(grant))
}

#[derive(serde::Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// §4.1.1: the user consents at once (or refuses, when told to).
async fn authorize(State(shared): State<Arc<Shared>>, Query(q): Query<AuthorizeQuery>) -> Response {
    // §4.1.2.1: without a valid client and redirect URI, tell the user, never redirect.
    let page = |text: &str| (StatusCode::BAD_REQUEST, text.to_owned()).into_response();
    if q.client_id.as_deref() != Some(CLIENT_ID) {
        return page("unknown client_id");
    }
    let Some(redirect) = q.redirect_uri.as_deref().and_then(|r| url::Url::parse(r).ok()) else {
        return page("redirect_uri missing or invalid");
    };
    let answer = |pairs: &[(&str, &str)]| {
        let mut to = redirect.clone();
        {
            let mut query = to.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            if let Some(state) = &q.state {
                query.append_pair("state", state);
            }
        }
        (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
    };
    if q.response_type.as_deref() != Some("code") {
        return answer(&[("error", "unsupported_response_type")]);
    }
    let Some(challenge) = q.code_challenge.clone().filter(|c| !c.is_empty()) else {
        return answer(&[("error", "invalid_request"), ("error_description", "code_challenge required")]);
    };
    if q.code_challenge_method.as_deref() != Some("S256") {
        return answer(&[("error", "invalid_request"), ("error_description", "code_challenge_method must be S256")]);
    }
    if let Some(scope) = &q.scope
        && !shared.allowed_scopes.is_empty()
        && !scope.split(' ').all(|s| shared.allowed_scopes.iter().any(|a| a == s))
    {
        return answer(&[("error", "invalid_scope")]);
    }
    if shared.deny_consent.load(Ordering::Relaxed) {
        return answer(&[("error", "access_denied"), ("error_description", "the user refused <consent>")]);
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.codes).insert(
        code.clone(),
        PendingCode {
            client_id: CLIENT_ID.to_owned(),
            redirect_uri: q.redirect_uri.clone().unwrap_or_default(),
            challenge,
            scope: q.scope.clone(),
            until: Instant::now() + CODE_LIFETIME,
        },
    );
    answer(&[("code", &code)])
}
