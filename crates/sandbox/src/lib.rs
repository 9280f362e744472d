//! Built-in sandbox apps: in-process SCIM 2.0 service providers that behave like Slack, Notion,
//! Atlassian (Jira), GitHub Enterprise Managed Users and Zoom do, so `tenure demo` and the tests
//! can provision real HTTP endpoints without anyone's credentials. Each app listens on 127.0.0.1
//! on a port of its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tenure_sandbox::SandboxError> {
//! use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
//! let slack = SandboxApp::spawn(SandboxOptions::new(Profile::Slack, "xoxp-sandbox")).await?;
//! println!("SCIM base URL {} with token {}", slack.base_url(), slack.token());
//! slack.shutdown().await;
//! # Ok(()) }
//! ```

mod faults;
mod groups;
mod misbehave;
mod oauth;
mod patch;
mod profile;
mod ratelimit;
mod routes;
mod schema;
mod store;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many requests' arrivals the sandbox logs (`SandboxApp::arrivals`).
pub const MAX_ARRIVALS: usize = 10_000;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::FaultPlan;
pub use misbehave::Misbehaviour;
pub use profile::{DeleteMode, Profile, SLACK_USERNAME_MAX, UnknownProfile};

/// How the imitated vendor account is set up, beyond the profile's documented defaults. The
/// defaults are an account on which SCIM works.
#[derive(Debug, Clone)]
pub struct VendorOptions {
    /// Slack: the workspace is on Business+ or Enterprise Grid. On a lower plan every SCIM call
    /// answers Slack's `plus_teams_only` error.
    pub slack_plan_has_scim: bool,
    /// Zoom: the account has single sign-on enabled, which Zoom's SCIM2 API requires; without
    /// it every SCIM call answers "Account has not enabled Single Sign-On".
    pub zoom_sso_enabled: bool,
    /// Zoom server-to-server OAuth: the account id the token request must name. The client
    /// secret is [`SandboxOptions::token`].
    pub zoom_account_id: String,
    /// Zoom server-to-server OAuth: the app's client id.
    pub zoom_client_id: String,
    /// How long an issued access token stays valid (Zoom: one hour).
    pub token_ttl: Duration,
}

impl Default for VendorOptions {
    fn default() -> Self {
        Self {
            slack_plan_has_scim: true,
            zoom_sso_enabled: true,
            zoom_account_id: "sandbox-account".into(),
            zoom_client_id: "sandbox-client".into(),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

use ratelimit::TokenBucket;
use store::Store;

#[derive(Clone)]
pub struct SandboxOptions {
    pub profile: Profile,
    /// The bearer token every request must carry.
    pub token: String,
    /// Sustained requests per second; `None` disables throttling. The bucket holds one
    /// second's worth of requests, so short bursts up to this many go through at once.
    pub rate_limit_per_sec: Option<u32>,
    /// Answer a share of requests with 429, 500, a broken connection or a stall.
    pub faults: Option<FaultPlan>,
}

impl SandboxOptions {
    /// Options with the profile's default (sandbox-scaled) rate limit.
    pub fn new(profile: Profile, token: impl Into<String>) -> Self {
        Self { profile, token: token.into(), rate_limit_per_sec: profile.default_rate_limit_per_sec(), faults: None }
    }
}

impl fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("profile", &self.profile)
            .field("token", &"<redacted>")
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("faults", &self.faults)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox token must not be empty")]
    EmptyToken,
    #[error("a rate limit must allow at least 1 request per second (use None for no limit)")]
    ZeroRateLimit,
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
}

/// State shared by the request handlers and the [`SandboxApp`] handle.
pub(crate) struct Shared {
    pub(crate) profile: Profile,
    pub(crate) token: String,
    pub(crate) base_url: String,
    pub(crate) store: Mutex<Store>,
    pub(crate) limiter: Option<Mutex<TokenBucket>>,
    pub(crate) requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) fault_plan: Option<FaultPlan>,
    /// Writes (POST, PUT, PATCH, DELETE) past authentication and the rate limiter, by second
    /// since start.
    pub(crate) writes: Mutex<Vec<u32>>,
    /// Each request past authentication and the rate limiter: its method and when it arrived
    /// (since the sandbox started), for tests that check a pace per endpoint.
    pub(crate) arrivals: Mutex<Vec<(String, Duration)>>,
    pub(crate) started: Instant,
    /// Also accepts the bearer tokens this says yes to (an OAuth authorization server's).
    pub(crate) token_validator: Mutex<Option<TokenValidator>>,
    pub(crate) vendor: VendorOptions,
    /// Access tokens issued by the sandbox's own token endpoint (Zoom), with their expiry.
    pub(crate) issued: Mutex<oauth::Issued>,
    /// How the app gets its lists wrong, switched at run time.
    pub(crate) misbehaviour: Mutex<Misbehaviour>,
}

/// Decides whether a presented bearer token is valid, besides the sandbox's own token.
pub type TokenValidator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn url_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Locks ignoring poison: handlers do not panic, and if one ever did the store is still
/// consistent because every write replaces a whole record.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running sandbox app. Dropping it stops the server too, but only [`SandboxApp::shutdown`]
/// waits for in-flight requests to finish.
pub struct SandboxApp {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Longest `shutdown` waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl SandboxApp {
    pub async fn spawn(options: SandboxOptions) -> Result<SandboxApp, SandboxError> {
        Self::spawn_with(options, VendorOptions::default()).await
    }

    /// [`spawn`](Self::spawn) with the vendor account set up as `vendor` says (a Slack plan
    /// without SCIM, a Zoom account without SSO, Zoom's OAuth credentials and token lifetime).
    pub async fn spawn_with(options: SandboxOptions, vendor: VendorOptions) -> Result<SandboxApp, SandboxError> {
        if options.token.trim().is_empty() {
            return Err(SandboxError::EmptyToken);
        }
        if options.rate_limit_per_sec == Some(0) {
            return Err(SandboxError::ZeroRateLimit);
        }
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(SandboxError::Bind)?;
        let addr = listener.local_addr().map_err(SandboxError::Bind)?;
        let base_url = format!("http://{addr}{}", options.profile.scim_path());
        let profile = options.profile;
        let limiter = options
            .rate_limit_per_sec
            .map(|rate| Mutex::new(TokenBucket::new(rate, ratelimit::burst_for(rate), Instant::now())));
        let shared = Arc::new(Shared {
            profile,
            token: options.token,
            store: Mutex::new(Store::new(profile, base_url.clone())),
            base_url,
            limiter,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            token_validator: Mutex::new(None),
            vendor,
            issued: Mutex::new(oauth::Issued::default()),
            fault_plan: options.faults,
            writes: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            started: Instant::now(),
            misbehaviour: Mutex::new(Misbehaviour::default()),
        });
        let app = routes::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender means the handle is gone: stop as well.
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!(app = profile.name(), error = %e, "sandbox server stopped with an error");
            }
        });
        tracing::debug!(app = profile.name(), %addr, "sandbox app listening");
        Ok(SandboxApp { shared, addr, stop: Some(stop), task: Some(task) })
    }

    /// The token endpoint of the app's OAuth authorization server (Zoom's
    /// `https://zoom.us/oauth/token`), e.g. `http://127.0.0.1:PORT/oauth/token`.
    pub fn oauth_token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The token URL the way Zoom documents the server-to-server request:
    /// `…/oauth/token?grant_type=account_credentials&account_id=…`.
    pub fn account_credentials_url(&self) -> String {
        let account: String = url_encode(&self.shared.vendor.zoom_account_id);
        format!("{}?grant_type=account_credentials&account_id={account}", self.oauth_token_url())
    }

    /// From now on the app pages and filters its lists as `misbehaviour` says.
    pub fn set_misbehaviour(&self, misbehaviour: Misbehaviour) {
        *lock(&self.shared.misbehaviour) = misbehaviour;
    }

    pub fn vendor_options(&self) -> &VendorOptions {
        &self.shared.vendor
    }

    /// Access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.shared.issued).count()
    }

    /// Whether every token issued so far has expired.
    pub fn issued_tokens_expired(&self) -> bool {
        lock(&self.shared.issued).all_expired(Instant::now())
    }

    /// Invalidates every issued token, as deactivating and re-activating a Zoom app does.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.issued).revoke_all();
    }

    /// Every group the app holds, as served.
    pub fn groups(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.store).groups.snapshot()
    }

    /// The SCIM base URL, e.g. `http://127.0.0.1:PORT/scim/v2` (Zoom: `…/scim2`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts, besides the sandbox's token, every bearer token `validator` says yes to: a
    /// protected resource trusting an OAuth 2.0 authorization server (RFC 6750).
    pub fn accept_tokens_from(&self, validator: TokenValidator) {
        *lock(&self.shared.token_validator) = Some(validator);
    }

    /// The static bearer token; for Zoom the OAuth client secret instead, since its SCIM API
    /// takes only tokens from [`oauth_token_url`](Self::oauth_token_url).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn profile(&self) -> Profile {
        self.shared.profile
    }

    /// How many users the app holds (cheap: no copy).
    pub fn user_count(&self) -> usize {
        lock(&self.shared.store).len()
    }

    /// Creates users directly, without HTTP requests (a benchmark's set-up at 100,000 users);
    /// they count as neither requests nor writes. Returns them as the app serves them.
    pub fn load_users(&self, users: Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>, tenure_scim::ScimError> {
        lock(&self.shared.store).load(users)
    }

    /// A snapshot of the app's users in creation order, deactivated ones included.
    pub fn users(&self) -> Vec<tenure_scim::ScimUser> {
        lock(&self.shared.store).snapshot()
    }

    /// Every HTTP request received, including refused (401) and throttled (429) ones.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// [`request_count`](Self::request_count) as a function another task can keep calling (a
    /// test sampling when requests arrive).
    pub fn request_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || shared.requests.load(Ordering::Relaxed)
    }

    /// How many requests were answered 429.
    pub fn throttled_count(&self) -> u64 {
        self.shared.throttled.load(Ordering::Relaxed)
    }

    /// Stops accepting connections and waits (a few seconds at most) for open ones to finish.
    /// The user with this userName, if the app holds one.
    pub fn user_named(&self, user_name: &str) -> Option<tenure_scim::ScimUser> {
        lock(&self.shared.store).find_by_user_name(user_name)
    }

    /// Requests answered with an injected fault.
    pub fn fault_count(&self) -> u64 {
        self.shared.faults.load(Ordering::Relaxed)
    }

    /// The most writes received in one second (whole seconds since the sandbox started), past
    /// authentication and the rate limiter.
    pub fn peak_writes_per_second(&self) -> u32 {
        lock(&self.shared.writes).iter().copied().max().unwrap_or(0)
    }

    /// When each request with `method` (the first [`MAX_ARRIVALS`] requests are logged) (`POST`, `PATCH`, `DELETE`, ...) arrived past
    /// authentication and the rate limiter, since the sandbox started, in order.
    pub fn arrivals(&self, method: &str) -> Vec<Duration> {
        lock(&self.shared.arrivals).iter().filter(|(m, _)| m == method).map(|(_, at)| *at).collect()
    }

    /// Writes received past authentication and the rate limiter (injected faults included).
    pub fn write_count(&self) -> u64 {
        lock(&self.shared.writes).iter().map(|&n| u64::from(n)).sum()
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SandboxApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl fmt::Debug for SandboxApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxApp")
            .field("profile", &self.shared.profile)
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}
