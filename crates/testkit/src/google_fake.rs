//! A fake Google Workspace: the OAuth token endpoint for service accounts and the Admin SDK
//! Directory API's users.list, groups.list and members.list, holding a directory tests change
//! between syncs.
//!
//! Contracts followed:
//! - Token endpoint, JWT bearer grant: the assertion must be RS256-signed by the service account's
//!   key, `iss` its client_email, `sub` the impersonated user, `aud` the token URL, `scope` the
//!   requested scopes, `exp` at most an hour after `iat`; errors are `{"error", "error_description"}`
//!   with 400 (<https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>).
//! - users.list: `customer`, `maxResults` 1–500, `pageToken`/`nextPageToken`
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list>).
//! - groups.list and members.list: `maxResults` 1–200
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups/list>,
//!   <https://developers.google.com/workspace/admin/directory/reference/rest/v1/members/list>).
//! - Errors `{"error": {"code", "message", "errors": [{"domain", "reason"}]}}`; rate limits as 403
//!   (or 429) with reason `rateLimitExceeded`/`userRateLimitExceeded`
//!   (<https://developers.google.com/workspace/admin/directory/v1/limits>).
//!
//! Not faked: the `fields` partial-response filter (every field is returned, which a client must
//! tolerate anyway) and `projection=custom`.

// Handlers return the early answer (an error, a throttle) as `Err(Response)`; its size is of no
// concern in a test fake.
#![allow(clippy::result_large_err)]
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::cloud_fake::{FakeServer, TEST_KEY, Throttle, fixture, now, public_key_der, verify_rs256};

pub const CLIENT_EMAIL: &str = "tenure-sync@test-project.iam.gserviceaccount.com";
pub const ADMIN: &str = "admin@example.com";
const REQUIRED_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
];

#[derive(Debug, Clone)]
pub struct GoogleGroup {
    pub id: String,
    pub email: String,
    /// `(member id, type)`: type `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
    pub members: Vec<(String, String)>,
}

/// How many requests of each kind the fake answered (throttled ones included).
#[derive(Debug, Clone, Default)]
pub struct GoogleCounts {
    pub token: u32,
    pub users: u32,
    pub groups: u32,
    pub members: u32,
    pub throttled: u32,
}

#[derive(Debug, Default)]
pub struct GoogleDirectory {
    /// User resources as the API returns them.
    pub users: Vec<Value>,
    pub groups: Vec<GoogleGroup>,
    pub throttle: Throttle,
    pub counts: GoogleCounts,
    /// Google's reason on a throttled answer.
    pub throttle_reason: String,
}

struct Shared {
    dir: Mutex<GoogleDirectory>,
    public_key: Vec<u8>,
    token_url: String,
    customer_id: String,
    tokens: Mutex<HashSet<String>>,
}

pub struct GoogleFake {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl GoogleFake {
    pub async fn start() -> anyhow::Result<Self> {
        let public_key = public_key_der(&std::fs::read(fixture(TEST_KEY))?)?;
        // The token URL names the server's port, known only once it is bound: the handlers reach
        // the state through a slot filled right after.
        let shared_slot: Arc<Mutex<Option<Arc<Shared>>>> = Arc::new(Mutex::new(None));
        let slot = shared_slot.clone();
        let app = Router::new()
            .route("/token", post(token))
            .route("/admin/directory/v1/users", get(users))
            .route("/admin/directory/v1/groups", get(groups))
            .route("/admin/directory/v1/groups/{key}/members", get(members))
            .with_state(slot);
        let server = FakeServer::start(app).await?;
        let shared = Arc::new(Shared {
            dir: Mutex::new(GoogleDirectory { throttle_reason: "userRateLimitExceeded".into(), ..Default::default() }),
            public_key,
            token_url: format!("{}/token", server.url()),
            customer_id: "C0test".into(),
            tokens: Mutex::new(HashSet::new()),
        });
        *lock(&shared_slot) = Some(shared.clone());
        Ok(Self { shared, server })
    }

    /// The API root to configure as the source's base URL.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    pub fn token_url(&self) -> String {
        self.shared.token_url.clone()
    }

    /// The directory, to read or change between syncs.
    pub fn dir(&self) -> MutexGuard<'_, GoogleDirectory> {
        lock(&self.shared.dir)
    }

    /// A service account JSON key file for the registered account and `key_pem`.
    pub fn key_file_json(&self, key_pem: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "test-key-1",
            "private_key": key_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.token_url(),
        })
        .to_string()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Slot = Arc<Mutex<Option<Arc<Shared>>>>;

fn shared(slot: &Slot) -> Arc<Shared> {
    lock(slot).clone().expect("the fake's state is set before it serves")
}

fn oauth_error(code: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": code, "error_description": description}))).into_response()
}

fn api_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}});
    (status, axum::Json(body)).into_response()
}

async fn token(State(slot): State<Slot>, body: String) -> Response {
    let shared = shared(&slot);
    lock(&shared.dir).counts.token += 1;
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = form.get("assertion") else { return oauth_error("invalid_request", "Missing assertion") };
    let claims = match verify_rs256(assertion, &shared.public_key) {
        Ok((_, claims)) => claims,
        Err(why) => return oauth_error("invalid_grant", &why),
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let int = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    if text("iss") != CLIENT_EMAIL {
        return oauth_error("invalid_client", "The OAuth client was not found.");
    }
    if text("aud") != shared.token_url {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    }
    let (iat, exp, t) = (int("iat"), int("exp"), now());
    if exp <= t || iat > t + 60 || exp - iat > 3600 {
        return oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    if text("sub") != ADMIN {
        return oauth_error("invalid_grant", "Invalid email or User ID");
    }
    let scopes: Vec<String> = text("scope").split_whitespace().map(str::to_owned).collect();
    if REQUIRED_SCOPES.iter().any(|s| !scopes.iter().any(|g| g == s)) {
        return oauth_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let access = format!("ya29.fake-{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(access.clone());
    axum::Json(json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

/// Authenticates and applies injected throttling; `Err` is the answer to send instead.
fn admit(shared: &Shared, headers: &HeaderMap, count: impl FnOnce(&mut GoogleCounts)) -> Result<(), Response> {
    let mut dir = lock(&shared.dir);
    count(&mut dir.counts);
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| lock(&shared.tokens).contains(t)) {
        return Err(api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials"));
    }
    if let Some(retry_after) = dir.throttle.take() {
        dir.counts.throttled += 1;
        let status = StatusCode::from_u16(dir.throttle.status).unwrap_or(StatusCode::FORBIDDEN);
        let mut response = api_error(status, &dir.throttle_reason.clone(), "Rate Limit Exceeded");
        if let Some(wait) = retry_after
            && let Ok(value) = wait.as_secs().to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    Ok(())
}

/// One page of `items` per `pageToken` (an offset) and `maxResults` (1..=max).
fn page(items: Vec<Value>, key: &str, query: &std::collections::HashMap<String, String>, max: usize) -> Response {
    let size = match query.get("maxResults").map(|v| v.parse::<usize>()) {
        None => max.min(100),
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid value for maxResults"),
    };
    let offset = match query.get("pageToken").map(|t| t.strip_prefix("pt-").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token"),
    };
    let end = (offset + size).min(items.len());
    let slice: Vec<Value> = items.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut body = json!({"kind": format!("admin#directory#{key}")});
    if !slice.is_empty() {
        body[key] = Value::Array(slice);
    }
    if end < items.len() {
        body["nextPageToken"] = json!(format!("pt-{end}"));
    }
    axum::Json(body).into_response()
}

fn check_customer(shared: &Shared, query: &std::collections::HashMap<String, String>) -> Result<(), Response> {
    match query.get("customer").map(String::as_str) {
        Some("my_customer") => Ok(()),
        Some(c) if c == shared.customer_id => Ok(()),
        _ => Err(api_error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request")),
    }
}

async fn users(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.users += 1).and_then(|()| check_customer(&shared, &query)) {
        return r;
    }
    let users = lock(&shared.dir).users.clone();
    page(users, "users", &query, 500)
}

async fn groups(
    State(slot): State<Slot>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.groups += 1).and_then(|()| check_customer(&shared, &query)) {
        return r;
    }
    let groups: Vec<Value> = lock(&shared.dir)
        .groups
        .iter()
        .map(|g| {
            json!({"kind": "admin#directory#group", "id": g.id, "email": g.email, "name": g.email,
            "directMembersCount": g.members.len().to_string()})
        })
        .collect();
    page(groups, "groups", &query, 200)
}

async fn members(
    State(slot): State<Slot>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let shared = shared(&slot);
    if let Err(r) = admit(&shared, &headers, |c| c.members += 1) {
        return r;
    }
    let found = lock(&shared.dir).groups.iter().find(|g| g.id == key || g.email == key).cloned();
    let Some(group) = found else {
        return api_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: groupKey");
    };
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|(id, kind)| json!({"kind": "admin#directory#member", "id": id, "type": kind, "role": "MEMBER", "status": "ACTIVE"}))
        .collect();
    page(members, "members", &query, 200)
}
