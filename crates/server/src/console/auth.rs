//! Who is signed in: the session cookie, looked up through the engine at every request (so a
//! removed admin or a changed role counts at once); the anti-forgery check every POST but the
//! sign-in passes; and the limits on sign-in attempts.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tenure_engine::admin::sessions;
use tenure_engine::{Actor, Admin, Engine};
use tenure_store::{ConsoleSession, Store, StoreError};

use super::view::{Failure, Nav};
use crate::ServerState;

pub const COOKIE: &str = "tenure_session";
/// The largest form the console accepts (its forms are small).
const MAX_FORM: usize = 256 * 1024;
/// The largest upload (`multipart/form-data`: an HR export).
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

/// The signed-in admin of a request.
#[derive(Clone)]
pub struct Signed {
    pub session: ConsoleSession,
    pub session_id: String,
    pub actor: Actor,
    pub engine: Engine,
}

impl Signed {
    pub fn admin(&self) -> Admin<'_> {
        self.engine.admin(&self.actor)
    }

    pub fn nav(&self, current: &'static str) -> Nav {
        Nav::new(&self.actor, &self.session.csrf, current)
    }
}

/// The value of one cookie of a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn to_sign_in() -> Response {
    Redirect::to("/login").into_response()
}

impl FromRequestParts<ServerState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Self::Rejection> {
        if let Some(signed) = parts.extensions.get::<Signed>() {
            return Ok(signed.clone());
        }
        let Some(id) = cookie(&parts.headers, COOKIE) else { return Err(to_sign_in()) };
        let session = sessions::session(&state.store, id).await.map_err(|e| Failure::from(e).into_response())?;
        let Some(session) = session else { return Err(to_sign_in()) };
        let actor = sessions::session_actor(&session);
        let engine = state.contexts.engine(session.tenant);
        Ok(Signed { session, session_id: id.to_owned(), actor, engine })
    }
}

/// The anti-forgery check: every POST but the sign-in carries the session's token, in the form's
/// `csrf` field or an `X-CSRF-Token` header; one without it is refused (403) before any handler
/// runs. A POST without a session goes to the sign-in page.
pub async fn forgery_check(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() == "/login" {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let signed = match Signed::from_request_parts(&mut parts, &state).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let multipart =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(super::multipart::boundary);
    let limit = if multipart.is_some() { MAX_UPLOAD } else { MAX_FORM };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "This form is larger than the console accepts.")
            .into_response();
    };
    let in_form = |bytes: &[u8]| match &multipart {
        Some(boundary) => super::multipart::parse(bytes, boundary)
            .ok()
            .and_then(|parts| parts.into_iter().find(|p| p.name == "csrf"))
            .and_then(|p| String::from_utf8(p.data).ok()),
        None => form_urlencoded::parse(bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()),
    };
    let given =
        parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| in_form(&bytes));
    if !given.is_some_and(|g| same(g.as_bytes(), signed.session.csrf.as_bytes())) {
        tracing::warn!(admin = %signed.session.admin.email, path = %parts.uri.path(), "console: a form without the session's anti-forgery token refused");
        return Failure::new(
            StatusCode::FORBIDDEN,
            "This form did not come from a console page of your session (the anti-forgery check failed). \
             Reload the page and try again.",
        )
        .into_response();
    }
    parts.extensions.insert(signed);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's address, when the server was started with it (`serve` is).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// Failed sign-ins counted per email and per client address over a window, in the store, so
/// that every node of a deployment counts the same attempts: past the limit, sign-in is refused
/// without checking the password, with the same words as a wrong one. Unknown bearer tokens are
/// counted in memory, per node (see [`TOKENS_PER_ADDRESS`]).
pub struct SignInLimits {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_EMAIL: i64 = 5;
const PER_ADDRESS: i64 = 20;
/// Unknown or expired bearer tokens (API and SCIM) from one client address: a token is 256 bits
/// of randomness, so this does not stop guessing (nothing needs to); it stops one client from
/// making the server look tokens up without end. A node's own count is enough for that.
const TOKENS_PER_ADDRESS: usize = 100;
/// Bounds the memory a flood of made-up client addresses can take.
const MAX_KEYS: usize = 10_000;

impl Default for SignInLimits {
    fn default() -> Self {
        Self { failures: Mutex::new(HashMap::new()) }
    }
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

fn sign_in_keys(email: &str, ip: Option<IpAddr>) -> [(String, i64); 2] {
    [
        (email_key(email), PER_EMAIL),
        (ip.map_or_else(|| "address:unknown".to_owned(), |ip| format!("address:{ip}")), PER_ADDRESS),
    ]
}

fn window_start_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    now as i64 - WINDOW.as_millis() as i64
}

impl SignInLimits {
    /// Whether this email or address has used up its attempts, on any node.
    pub async fn blocked(&self, store: &Store, email: &str, ip: Option<IpAddr>) -> Result<bool, StoreError> {
        let since = window_start_ms();
        for (key, limit) in sign_in_keys(email, ip) {
            if store.sign_in_failures(&key, since).await? >= limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn failed(&self, store: &Store, email: &str, ip: Option<IpAddr>) -> Result<(), StoreError> {
        let keys: Vec<String> = sign_in_keys(email, ip).into_iter().map(|(key, _)| key).collect();
        store.record_sign_in_failure(&keys, window_start_ms()).await
    }

    /// A successful sign-in forgets the email's failures (not the address's).
    pub async fn succeeded(&self, store: &Store, email: &str) -> Result<(), StoreError> {
        store.clear_sign_in_failures(&email_key(email)).await
    }

    fn token_key(ip: Option<IpAddr>) -> String {
        ip.map_or_else(|| "token:unknown".to_owned(), |ip| format!("token:{ip}"))
    }

    /// Whether this client address has sent too many unknown or expired tokens lately.
    pub fn token_blocked(&self, ip: Option<IpAddr>) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        failures.get_mut(&Self::token_key(ip)).is_some_and(|times| {
            while times.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
                times.pop_front();
            }
            times.len() >= TOKENS_PER_ADDRESS
        })
    }

    pub fn token_failed(&self, ip: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) <= WINDOW));
        }
        let key = Self::token_key(ip);
        if failures.len() < MAX_KEYS || failures.contains_key(&key) {
            failures.entry(key).or_default().push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; tenure_session=abc ; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn bad_tokens_are_limited_per_address() {
        let limits = SignInLimits::default();
        let (a, b) = (Some(IpAddr::from([10, 0, 0, 1])), Some(IpAddr::from([10, 0, 0, 2])));
        for _ in 0..TOKENS_PER_ADDRESS {
            assert!(!limits.token_blocked(a));
            limits.token_failed(a);
        }
        assert!(limits.token_blocked(a));
        assert!(!limits.token_blocked(b), "another address is not slowed");
    }

    async fn store() -> anyhow::Result<(tenure_testkit::TestDb, Store)> {
        let db = tenure_testkit::TestDb::sqlite()?;
        let keys = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?;
        let store = Store::connect_with_keys(db.url(), keys).await?;
        Ok((db, store))
    }

    #[tokio::test]
    async fn sign_in_is_limited_per_email_across_nodes() -> anyhow::Result<()> {
        let (_db, store) = store().await?;
        // Two nodes: two limiters in two servers, one database.
        let (node_a, node_b) = (SignInLimits::default(), SignInLimits::default());
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        for attempt in 0..PER_EMAIL {
            let node = if attempt % 2 == 0 { &node_a } else { &node_b };
            assert!(!node.blocked(&store, "Ada@x.com", ip).await?);
            node.failed(&store, "ada@x.com", ip).await?;
        }
        assert!(node_a.blocked(&store, "ada@x.com", ip).await?);
        assert!(node_b.blocked(&store, "ADA@x.com", ip).await?, "the other node counts the same attempts");
        assert!(!node_b.blocked(&store, "bob@x.com", None).await?);
        node_a.succeeded(&store, "ada@x.com").await?;
        assert!(!node_b.blocked(&store, "ada@x.com", ip).await?);
        Ok(())
    }

    #[tokio::test]
    async fn sign_in_is_limited_per_address() -> anyhow::Result<()> {
        let (_db, store) = store().await?;
        let limits = SignInLimits::default();
        let (a, b) = (Some(IpAddr::from([10, 0, 0, 1])), Some(IpAddr::from([10, 0, 0, 2])));
        for n in 0..PER_ADDRESS {
            limits.failed(&store, &format!("user{n}@x.com"), a).await?;
        }
        assert!(limits.blocked(&store, "new@x.com", a).await?, "one address guessing many emails is stopped");
        assert!(!limits.blocked(&store, "new@x.com", b).await?);
        Ok(())
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
