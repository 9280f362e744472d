//! Built-in sandbox apps: in-process SCIM 2.0 service providers that behave like Slack, Notion
//! and Jira (Atlassian) do, so `tenure demo` and the tests can provision real HTTP endpoints
//! without anyone's credentials. Each app listens on 127.0.0.1 on a port of its own.
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

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::FaultPlan;
pub use profile::{DeleteMode, Profile, SLACK_USERNAME_MAX, UnknownProfile};

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
    pub(crate) started: Instant,
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
        if options.token.trim().is_empty() {
            return Err(SandboxError::EmptyToken);
        }
        if options.rate_limit_per_sec == Some(0) {
            return Err(SandboxError::ZeroRateLimit);
        }
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(SandboxError::Bind)?;
        let addr = listener.local_addr().map_err(SandboxError::Bind)?;
        let base_url = format!("http://{addr}/scim/v2");
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
            fault_plan: options.faults,
            writes: Mutex::new(Vec::new()),
            started: Instant::now(),
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

    /// The SCIM base URL, e.g. `http://127.0.0.1:PORT/scim/v2`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn profile(&self) -> Profile {
        self.shared.profile
    }

    /// A snapshot of the app's users in creation order, deactivated ones included.
    pub fn users(&self) -> Vec<tenure_scim::ScimUser> {
        lock(&self.shared.store).snapshot()
    }

    /// Every HTTP request received, including refused (401) and throttled (429) ones.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
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
