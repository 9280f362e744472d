//! The queue's workers: claim due operations, carry each out through the app's connector, and
//! record the outcome.
//!
//! Failure handling, from the operation's point of view:
//! - retryable (timeouts, resets, 5xx, 429, an app refusing our credentials): back in the queue
//!   with exponential backoff and jitter, or after the app's `Retry-After`, until the attempts run
//!   out;
//! - permanent (a 4xx that says what is wrong with this request): failed, with the app's answer,
//!   for an admin to retry or dismiss;
//! - the app's own fault (unreachable, credentials refused, 5xx): counted against the app, which
//!   is paused (quarantined) after several in a row and resumes after one success. A single
//!   operation that keeps failing ("poison") fails alone: other operations' successes keep the
//!   app running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tenure_connectors::{Connector, ConnectorError, RateLimiter, TransportKind};
use tenure_core::attributes::{self, Attributes};
use tenure_core::*;
use tenure_store::{Claim, NewAuditEntry, OperationRecord, Settlement, StoredAccount};
use tokio::sync::{Notify, Semaphore, watch};

use crate::notify::Notice;
use crate::{Engine, EngineError};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in leases: unique per process.
    pub owner: String,
    /// How long a claimed operation is ours; a worker that dies loses it after this.
    pub lease: Duration,
    /// Operations in flight at once across all apps (each app has its own cap too).
    pub workers: usize,
    /// Attempts before a retryable failure counts as failed.
    pub max_attempts: i64,
    /// First retry delay, doubled per attempt, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle worker looks for due operations (it is also woken on new work).
    pub idle_poll: Duration,
    /// Consecutive app-level failures before the app is paused, for `pause` (doubling) up to
    /// `max_pause`.
    pub quarantine_after: i64,
    pub pause: Duration,
    pub max_pause: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(15),
            workers: 16,
            max_attempts: 10,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(15 * 60),
            idle_poll: Duration::from_millis(200),
            quarantine_after: 5,
            pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(30 * 60),
        }
    }
}

/// What went wrong with one attempt, sorted for the queue.
#[derive(Debug)]
pub(crate) struct OpError {
    pub message: String,
    pub retryable: bool,
    /// The app, not the operation, is at fault: counts towards quarantine.
    pub app_fault: bool,
    pub retry_after: Option<Duration>,
    /// The worker lost its claim on the operation meanwhile: the attempt stops, and its outcome
    /// is the new holder's to record, not this worker's.
    pub lease_lost: bool,
    /// Nothing was sent: the app's budget over a long window is spent. The operation waits in
    /// the queue until `retry_after`, its attempt not counted.
    pub waiting: bool,
}

impl OpError {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            app_fault: false,
            retry_after: None,
            lease_lost: false,
            waiting: false,
        }
    }

    pub(crate) fn store(e: tenure_store::StoreError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: format!("store: {e}"),
            app_fault: false,
            retry_after: None,
            lease_lost: false,
            waiting: false,
        }
    }

    fn lease_lost() -> Self {
        Self { lease_lost: true, ..Self::permanent("the operation's lease was lost to another claim") }
    }
}

impl From<ConnectorError> for OpError {
    fn from(e: ConnectorError) -> Self {
        if let ConnectorError::WindowSpent(_) = &e {
            return Self {
                retryable: true,
                retry_after: e.retry_after(),
                waiting: true,
                ..Self::permanent(e.to_string())
            };
        }
        let status = e.status();
        // Credentials refused, or an app set up so that it refuses everyone (a vendor's documented
        // "an admin must act": a plan without SCIM, SSO not enabled), are fixed by an admin, not
        // by this operation: the operation waits (retryable) while the app is paused.
        let credentials = matches!(status, Some(401 | 403)) || matches!(e, ConnectorError::Vendor { .. });
        let app_fault = credentials
            || matches!(&e, ConnectorError::Transport { kind: TransportKind::Connect | TransportKind::Timeout, .. })
            || status.is_some_and(|s| s >= 500);
        Self {
            retryable: e.is_retryable() || credentials,
            app_fault,
            retry_after: e.retry_after(),
            message: e.to_string(),
            lease_lost: false,
            waiting: false,
        }
    }
}

/// One app as the workers use it.
struct AppRuntime {
    app: App,
    client: Arc<dyn Connector>,
    permits: Arc<Semaphore>,
    loaded: tokio::time::Instant,
}

/// How long an app's settings and credentials are cached by the workers: an admin's change made
/// from another process (a rotated token, a new rate limit) is picked up within this.
const APP_CACHE_TTL: Duration = Duration::from_secs(30);

/// Runs queued operations. Cheap to clone; clones share their caches.
#[derive(Clone)]
pub struct Executor {
    engine: Engine,
    options: Arc<WorkerOptions>,
    apps: Arc<Mutex<HashMap<AppId, Arc<AppRuntime>>>>,
    wake: Arc<Notify>,
}

impl Executor {
    pub fn new(engine: Engine, options: WorkerOptions) -> Self {
        Self { engine, options: Arc::new(options), apps: Arc::default(), wake: Arc::new(Notify::new()) }
    }

    /// Tells an idle worker there is new work.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Forgets cached app settings and credentials (after an app was changed).
    pub fn reload_apps(&self) {
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Works the queue until `shutdown` turns true, then lets running operations finish.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let claimed = match self.claim_into(&mut running, None).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "queue: cannot claim operations");
                    0
                }
            };
            if claimed > 0 && running.len() < self.options.workers {
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.options.idle_poll) => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Runs one plan's operations (or every queued one) until none is left, or until `max_wait`
    /// has passed while some wait for a retry; returns whether the queue (or plan) is done.
    pub async fn drain(&self, plan: Option<PlanId>, max_wait: Duration) -> Result<bool, EngineError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut running = tokio::task::JoinSet::new();
        loop {
            let claimed = self.claim_into(&mut running, plan).await?;
            if claimed > 0 && running.len() < self.options.workers {
                continue;
            }
            if running.join_next().await.is_some() {
                continue;
            }
            let counts = self.engine.store.queue_counts(self.engine.tenant, plan).await?;
            if counts.ready == 0 && counts.waiting == 0 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(self.options.idle_poll.min(Duration::from_millis(100))).await;
        }
    }

    async fn claim_into(
        &self,
        running: &mut tokio::task::JoinSet<()>,
        plan: Option<PlanId>,
    ) -> Result<usize, EngineError> {
        let free = self.options.workers.saturating_sub(running.len());
        // Claim in batches: a claim per finished operation would make the queue's own queries
        // the bottleneck of a busy run.
        if free == 0 || (!running.is_empty() && free < self.options.workers.div_ceil(4)) {
            return Ok(0);
        }
        let claimed = self
            .engine
            .store
            .claim_operations(self.engine.tenant, &self.options.owner, free as i64, self.options.lease, plan)
            .await?;
        let n = claimed.len();
        for rec in claimed {
            let this = self.clone();
            running.spawn(async move { this.process(rec).await });
        }
        Ok(n)
    }

    async fn process(&self, rec: OperationRecord) {
        let held = Held {
            engine: &self.engine,
            op: rec.id,
            claim: Claim { owner: &self.options.owner, attempt: rec.attempts },
            lease: self.options.lease,
        };
        let runtime = match self.runtime(rec.op.app_id).await {
            Ok(r) => r,
            Err(e) => {
                let message = format!("app unavailable: {e}");
                self.settle(&held, &rec, Err(OpError::permanent(message)), None).await;
                return;
            }
        };
        // While it runs, the lease is renewed, so a short lease (quick recovery when a process
        // dies) never runs out under a slow app. A renewal that finds the claim gone (this process
        // stalled past its lease and another claim took the operation) stops the attempt at once.
        let work = async {
            let _permit = runtime.permits.acquire().await;
            runtime.execute(&self.engine, &rec, &held).await
        };
        // The renewals run beside the work, both polled: awaited in a `select!` arm instead, a
        // renewal paused the work while it waited for the database, and on SQLite's one write
        // connection the paused work could be the holder it waited for (every write of the
        // process then stalled until the pool's 30 s acquire timeout broke the knot).
        let renewals = async {
            let mut tick = tokio::time::interval((self.options.lease / 3).max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match held.renew().await {
                    Ok(true) => {}
                    Ok(false) => return OpError::lease_lost(),
                    Err(e) => tracing::warn!(error = %e, op = %rec.id, "could not renew an operation's lease"),
                }
            }
        };
        let result = tokio::select! {
            result = work => result,
            lost = renewals => Err(lost),
        };
        if result.as_ref().is_err_and(|e| e.lease_lost) {
            tracing::warn!(op = %rec.id, attempt = rec.attempts, "lost the operation's lease to another claim; this attempt stops without recording anything");
            return;
        }
        self.settle(&held, &rec, result, Some(&runtime.app)).await;
    }

    /// Records an attempt (success, a retry later, or failure) and then the app's health. The
    /// outcome and its audit entry are one write, tried again while the database fails in a way
    /// that may pass, so an outcome is not dropped because of one busy moment.
    async fn settle(
        &self,
        held: &Held<'_>,
        rec: &OperationRecord,
        result: Result<Option<String>, OpError>,
        app: Option<&App>,
    ) {
        match self.record_outcome(held, rec, result, app).await {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, op = %rec.id, "could not record an operation's outcome; its lease will run out and it will run again")
            }
        }
    }

    async fn record_outcome(
        &self,
        held: &Held<'_>,
        rec: &OperationRecord,
        result: Result<Option<String>, OpError>,
        app: Option<&App>,
    ) -> Result<(), EngineError> {
        let store = &self.engine.store;
        let tenant = self.engine.tenant;
        let app_name = app.map(|a| a.name.clone()).unwrap_or_default();
        let detail = |error: Option<&str>, remote_id: Option<&str>| {
            let mut detail = serde_json::json!({
                "app": app_name,
                "app_id": rec.op.app_id,
                "person": rec.op.person,
                "person_id": rec.op.person_id,
                "op": rec.op.kind.name(),
                "operation": rec.id,
                "attempt": rec.attempts,
                "reason": rec.op.reason,
                "remote_id": remote_id.or(rec.op.kind.remote_id()),
                "error": error,
            });
            if let OpKind::GroupMembers { group, add, remove, .. } = &rec.op.kind {
                detail["group"] = serde_json::json!(group);
                detail["add"] = serde_json::json!(add);
                detail["remove"] = serde_json::json!(remove);
            }
            detail
        };
        let action = match rec.op.kind {
            OpKind::GroupMembers { .. } => "group.members".to_owned(),
            _ => format!("account.{}", rec.op.kind.name()),
        };
        let target = match &rec.op.kind {
            OpKind::GroupMembers { group, .. } => group.as_str(),
            _ => rec.op.person.as_str(),
        };
        let retry_wait = match &result {
            // Waiting for a window is not an attempt: never out of attempts, never capped (an
            // earlier look only finds the window still spent).
            Err(error) if error.waiting => Some(error.retry_after.unwrap_or_default()),
            Err(error) if error.retryable && rec.attempts < self.options.max_attempts => {
                Some(error.retry_after.unwrap_or_else(|| self.backoff(rec.attempts)).min(self.options.max_backoff))
            }
            _ => None,
        };
        let retry_at = retry_wait.map(|wait| now_ms() + wait.as_millis() as i64);
        let (settlement, entry_detail) = match (&result, retry_at) {
            (Ok(remote_id), _) => {
                (Settlement::succeeded(remote_id.as_deref()), Some(detail(None, remote_id.as_deref())))
            }
            (Err(error), Some(at)) if error.waiting => (Settlement::wait_until(&error.message, at), None),
            (Err(error), Some(at)) => (Settlement::retry_at(&error.message, at), None),
            (Err(error), None) => (Settlement::failed(&error.message), Some(detail(Some(&error.message), None))),
        };
        let entry = entry_detail.as_ref().map(|d| NewAuditEntry::new("tenure", &action, target, d));
        let recorded = retry_transient(SETTLE_RETRY_WINDOW, || {
            store.settle_claim(tenant, rec.id, held.claim, settlement, entry.as_ref())
        })
        .await?;
        if !recorded {
            tracing::warn!(op = %rec.id, attempt = rec.attempts, "the operation was claimed again before its outcome was recorded; the new claim records it");
            return Ok(());
        }
        match result {
            Ok(remote_id) => {
                if store.record_app_success(tenant, rec.op.app_id).await? {
                    tracing::info!(app = %app_name, "app answers again; no longer paused");
                    store.append_audit(tenant, "tenure", "app.recovered", &app_name, &serde_json::json!({})).await?;
                    let mut notice = Notice::new("app.recovered", format!("{app_name} answers again"));
                    notice.lines = vec![format!(
                        "{app_name} answers again: Tenure no longer pauses it, and its queued operations go ahead."
                    )];
                    notice.path = Some(format!("/apps/{app_name}"));
                    notice.apps = vec![rec.op.app_id];
                    self.engine.notify(&notice).await;
                }
                tracing::info!(app = %app_name, person = %rec.op.person, op = rec.op.kind.name(), reason = %rec.op.reason, remote_id = remote_id.as_deref().unwrap_or_default(), "applied");
            }
            Err(error) => {
                if error.app_fault {
                    // Credentials or the endpoint may have been fixed meanwhile: read the app again.
                    self.apps.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.op.app_id);
                }
                if error.app_fault
                    && let Some(until) = store
                        .record_app_failure(
                            tenant,
                            rec.op.app_id,
                            &error.message,
                            self.options.quarantine_after,
                            self.options.pause,
                            self.options.max_pause,
                        )
                        .await?
                {
                    tracing::error!(app = %app_name, error = %error.message, paused_until_ms = until, "app keeps failing; paused");
                    let pause = serde_json::json!({"paused_until_ms": until, "error": error.message});
                    store.append_audit(tenant, "tenure", "app.quarantined", &app_name, &pause).await?;
                    let mut notice = Notice::new("app.quarantined", format!("{app_name} keeps failing: paused"));
                    let until = time::OffsetDateTime::from_unix_timestamp(until / 1000)
                        .map(|t| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default())
                        .unwrap_or_default();
                    notice.lines = vec![
                        format!("{app_name} failed {} times in a row; Tenure pauses it until {until} UTC and tries again then.", self.options.quarantine_after),
                        format!("Last error: {}", error.message),
                        "Nothing is lost: its operations wait in the queue. Check the app's credentials and endpoint (`tenure app check`).".into(),
                    ];
                    notice.path = Some(format!("/apps/{app_name}"));
                    notice.apps = vec![rec.op.app_id];
                    notice.data = serde_json::json!({"app": app_name, "paused_until": until});
                    self.engine.notify(&notice).await;
                }
                match retry_wait {
                    Some(wait) if error.waiting => {
                        tracing::info!(app = %app_name, person = %rec.op.person, op = rec.op.kind.name(), wait_ms = wait.as_millis() as u64, why = %error.message, "operation waits for the app's request budget");
                    }
                    Some(wait) => {
                        tracing::warn!(app = %app_name, person = %rec.op.person, op = rec.op.kind.name(), attempt = rec.attempts, retry_in_ms = wait.as_millis() as u64, error = %error.message, "operation failed; will retry");
                    }
                    None => {
                        tracing::warn!(app = %app_name, person = %rec.op.person, op = rec.op.kind.name(), error = %error.message, "operation failed");
                    }
                }
            }
        }
        Ok(())
    }

    /// Exponential backoff with jitter: half fixed, half random.
    fn backoff(&self, attempts: i64) -> Duration {
        let exp = self
            .options
            .backoff
            .saturating_mul(1u32 << attempts.clamp(1, 20).saturating_sub(1))
            .min(self.options.max_backoff);
        let half = exp / 2;
        half + Duration::from_millis(rand::rng().random_range(0..=half.as_millis() as u64))
    }

    async fn runtime(&self, app: AppId) -> Result<Arc<AppRuntime>, EngineError> {
        if let Some(r) = self.apps.lock().unwrap_or_else(|p| p.into_inner()).get(&app)
            && r.loaded.elapsed() < APP_CACHE_TTL
        {
            return Ok(Arc::clone(r));
        }
        let record = self
            .engine
            .store
            .list_apps(self.engine.tenant)
            .await?
            .into_iter()
            .find(|r| r.app.id == app)
            .ok_or_else(|| EngineError::NotFound(format!("app {app}")))?;
        // The queue retries durably; in-request retries stay short so a lease is never outlived.
        let client = self.engine.cached_client(&record, true, || {
            let mut options = self.engine.client_options.clone();
            options.max_retries = options.max_retries.min(2);
            options.max_retry_wait = options.max_retry_wait.min(Duration::from_secs(10));
            options
        })?;
        let concurrency =
            record.app.settings.limits.as_ref().and_then(|l| l.concurrency).unwrap_or(self.engine.concurrency);
        let runtime = Arc::new(AppRuntime {
            client,
            app: record.app,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            loaded: tokio::time::Instant::now(),
        });
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).insert(app, Arc::clone(&runtime));
        Ok(runtime)
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// How long a worker keeps trying to record an outcome while the database fails transiently.
/// Past it the outcome is given up on, never half-written: the operation's lease runs out and it
/// runs again (a retried create looks the account up first).
const SETTLE_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// The claim an attempt runs under.
pub(crate) struct Held<'a> {
    engine: &'a Engine,
    op: OperationId,
    claim: Claim<'a>,
    lease: Duration,
}

impl Held<'_> {
    /// Extends the lease; `false` when the claim was lost.
    async fn renew(&self) -> Result<bool, tenure_store::StoreError> {
        self.engine.store.renew_claim(self.engine.tenant, self.op, self.claim, self.lease).await
    }

    /// Renews the lease before one of the attempt's writes, so a worker that lost its operation
    /// to another claim stops before writing over what the new holder records.
    async fn confirm(&self) -> Result<(), OpError> {
        match self.renew().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(OpError::lease_lost()),
            Err(e) => Err(OpError::store(e)),
        }
    }
}

/// Runs `attempt` again while it fails in a way that may pass (the database busy or
/// unreachable), pausing longer each time, until `within` has passed.
async fn retry_transient<T, F, Fut>(within: Duration, mut attempt: F) -> Result<T, tenure_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tenure_store::StoreError>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt().await {
            Err(e) if e.is_retryable() && tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "could not record an operation's outcome; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

impl Engine {
    /// The rate limiter an app's requests go through, shared by every app with the same
    /// `shared_key`; `None` when the app has no limit.
    pub(crate) fn limiter_for(&self, app: &App) -> Option<Arc<RateLimiter>> {
        let limits = app.settings.limits.as_ref()?;
        if limits.per_second.is_none() && limits.windows.is_empty() {
            return None;
        }
        let key = limits.shared_key.clone().unwrap_or_else(|| app.id.to_string());
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        // Cached by bucket and the windows: a changed budget makes a new limiter, not one that
        // keeps counting against the old figures.
        let cache_key = match limits.windows.is_empty() {
            true => key.clone(),
            false => format!("{key}|{:?}", limits.windows),
        };
        let limiter = limiters.entry(cache_key).or_insert_with(|| {
            let local = match limits.per_second {
                Some(per_second) => {
                    let burst = limits.burst.unwrap_or(1);
                    let local = RateLimiter::new(per_second, burst);
                    // Several nodes: the deployment's one budget as well as this process's.
                    match self.shared_budget(&key, per_second, burst) {
                        Some(budget) => local.with_shared_budget(budget, crate::nodes::budget_slice(per_second)),
                        None => local,
                    }
                }
                None => RateLimiter::unpaced(),
            };
            Arc::new(match limits.windows.is_empty() {
                true => local,
                false => local.with_windows(Arc::new(crate::nodes::StoreWindows {
                    store: self.store.clone(),
                    tenant: self.tenant,
                    bucket: window_bucket(&key),
                    windows: limits.windows.clone(),
                })),
            })
        });
        Some(Arc::clone(limiter))
    }
}

/// Where an app's long windows are counted: its rate bucket's name, apart from the bucket's
/// per-second budget row (which the count uses as its lock).
pub(crate) fn window_bucket(key: &str) -> String {
    format!("{key}:windows")
}

impl Engine {
    /// The pace of one endpoint of the app alone, where its vendor documents one (Canva: one
    /// create a second; Miro: 100 updates and 20 deletes per 30 s), beside the limiter every
    /// request goes through; shared like it.
    pub(crate) fn endpoint_limiter_for(&self, app: &App, endpoint: Endpoint) -> Option<Arc<RateLimiter>> {
        let limits = app.settings.limits.as_ref()?;
        let per_second = match endpoint {
            Endpoint::Creates => limits.creates_per_second,
            Endpoint::Updates => limits.updates_per_second,
            Endpoint::Deletes => limits.deletes_per_second,
        }?;
        let key = format!("{}:{}", limits.shared_key.clone().unwrap_or_else(|| app.id.to_string()), endpoint.key());
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = limiters.entry(key.clone()).or_insert_with(|| {
            let local = RateLimiter::new(per_second, 1);
            Arc::new(match self.shared_budget(&key, per_second, 1) {
                Some(budget) => local.with_shared_budget(budget, crate::nodes::budget_slice(per_second)),
                None => local,
            })
        });
        Some(Arc::clone(limiter))
    }
}

/// An endpoint a vendor may pace apart from every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Creates,
    Updates,
    Deletes,
}

impl Endpoint {
    fn key(self) -> &'static str {
        match self {
            Self::Creates => "creates",
            Self::Updates => "updates",
            Self::Deletes => "deletes",
        }
    }
}

impl AppRuntime {
    /// Waits for the endpoint's own pace, where the app's vendor documents one.
    async fn pace(&self, engine: &Engine, endpoint: Endpoint) -> Result<(), OpError> {
        if let Some(limiter) = engine.endpoint_limiter_for(&self.app, endpoint) {
            limiter.acquire().await.map_err(|spent| OpError::from(ConnectorError::from(spent)))?;
        }
        Ok(())
    }

    /// Creates an account, disabled from the start when `active` is false and the connector
    /// can say so in its create; otherwise active (the caller disables it).
    async fn create(&self, attributes: &Attributes, active: bool) -> Result<RemoteAccount, ConnectorError> {
        if active {
            return self.client.create_user(attributes).await;
        }
        match self.client.create_inactive_user(attributes).await {
            Err(ConnectorError::Unsupported { .. }) => self.client.create_user(attributes).await,
            // An app that refuses `active` in a create (HTTP 400) is asked again without it.
            Err(ConnectorError::Status { status: 400, .. }) => {
                tracing::info!(app = %self.app.name, "the app refused a disabled create; created active, then disabled");
                self.client.create_user(attributes).await
            }
            other => other,
        }
    }

    /// Performs one operation in the app and updates the stored link; returns the remote id.
    async fn execute(
        &self,
        engine: &Engine,
        rec: &OperationRecord,
        held: &Held<'_>,
    ) -> Result<Option<String>, OpError> {
        let store = &engine.store;
        let tenant = engine.tenant;
        let op = &rec.op;
        match &op.kind {
            OpKind::Create { attributes, active } => {
                // A retried create may have succeeded before the process died: look first. So
                // must every create where the vendor documents that its list leaves accounts out
                // (Figma's only SCIM-made users, Asana's no guests): not being listed proves nothing.
                let look_first = rec.attempts > 1 || crate::profile::list_partial(&self.app);
                let earlier = if look_first {
                    self.find_existing(engine, op.person_id, &op.person, attributes).await?
                } else {
                    None
                };
                if earlier.is_none() {
                    self.pace(engine, Endpoint::Creates).await?;
                }
                let (account, origin) = match earlier {
                    Some(found) => found,
                    None => match self.create(attributes, *active).await {
                        Ok(account) => (account, AccountOrigin::Created),
                        // The account exists already (made by an earlier attempt, or by hand):
                        // find it and link it rather than fail or create a second one.
                        Err(e) if e.is_conflict() => self
                            .find_existing(engine, op.person_id, &op.person, attributes)
                            .await?
                            .ok_or_else(|| OpError::from(e))?,
                        Err(e) => return Err(e.into()),
                    },
                };
                let mut account = account;
                // Prepared ahead of the start date: a SCIM app is asked for `active: false` in
                // the create itself; a connector that cannot ask (or an app that made it active
                // all the same) has it disabled at once and until the day. A retry after a
                // failure here finds the account (it looks first) and disables it then.
                if !*active && account.active {
                    self.client.set_active(&account.remote_id, false).await?;
                    account.active = false;
                }
                let remote_id = account.remote_id.clone();
                // The new account's in-app groups are a group operation queued after this one.
                held.confirm().await?;
                store.upsert_account(tenant, &stored_from(op, origin, &account)).await.map_err(OpError::store)?;
                Ok(Some(remote_id))
            }
            OpKind::Link { remote_id, .. } => {
                let account = self
                    .client
                    .get_user(remote_id)
                    .await?
                    .ok_or_else(|| OpError::permanent(format!("account {remote_id} is no longer in the app")))?;
                held.confirm().await?;
                store
                    .upsert_account(tenant, &stored_from(op, AccountOrigin::Matched, &account))
                    .await
                    .map_err(OpError::store)?;
                Ok(Some(remote_id.clone()))
            }
            OpKind::Update { remote_id, changes } => {
                self.pace(engine, Endpoint::Updates).await?;
                self.update(engine, op, remote_id, changes, held).await
            }
            OpKind::ChangeLicense { remote_id, license } => {
                self.pace(engine, Endpoint::Updates).await?;
                let changes = Attributes::from([(attributes::LICENSE, license.clone().unwrap_or_default())]);
                self.update(engine, op, remote_id, &changes, held).await
            }
            OpKind::Activate { remote_id } | OpKind::Deactivate { remote_id } => {
                let active = matches!(op.kind, OpKind::Activate { .. });
                if !active {
                    crate::drive_transfer::before_loss(engine, self.client.as_ref(), &self.app, rec, remote_id).await?;
                }
                self.pace(engine, Endpoint::Updates).await?;
                self.client.set_active(remote_id, active).await?;
                held.confirm().await?;
                store
                    .set_account_active(tenant, self.app.id, remote_id, active, engine.today_or_utc().await)
                    .await
                    .map_err(OpError::store)?;
                Ok(Some(remote_id.clone()))
            }
            OpKind::GroupMembers { .. } => {
                held.confirm().await?;
                crate::group_ops::run(engine, &self.client, op, rec.attempts).await
            }
            OpKind::Delete { remote_id } => {
                // An account still active goes with its files unless they are handed on first; a
                // suspended one had them handed on when it was suspended.
                if crate::drive_transfer::policy(&self.app).is_some()
                    && store
                        .get_account(tenant, self.app.id, remote_id)
                        .await
                        .map_err(OpError::store)?
                        .is_some_and(|a| a.active)
                {
                    crate::drive_transfer::before_loss(engine, self.client.as_ref(), &self.app, rec, remote_id).await?;
                }
                self.pace(engine, Endpoint::Deletes).await?;
                match self.client.delete_user(remote_id).await {
                    Ok(()) => {}
                    // Already gone is the state we wanted.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                held.confirm().await?;
                if self.client.describe().delete.account_remains() {
                    // The app's delete only deactivates (Slack, Atlassian): the account is still
                    // there, so it stays linked and known to be inactive, never an orphan.
                    store
                        .set_account_active(tenant, self.app.id, remote_id, false, engine.today_or_utc().await)
                        .await
                        .map_err(OpError::store)?;
                } else {
                    store.remove_account(tenant, self.app.id, remote_id).await.map_err(OpError::store)?;
                }
                Ok(Some(remote_id.clone()))
            }
        }
    }

    /// Writes attribute changes and records the account's new state, so the next update is a
    /// diff against what the app now holds.
    async fn update(
        &self,
        engine: &Engine,
        op: &PlannedOp,
        remote_id: &str,
        changes: &Attributes,
        held: &Held<'_>,
    ) -> Result<Option<String>, OpError> {
        let store = &engine.store;
        let tenant = engine.tenant;
        self.client.update_user(remote_id, changes).await?;
        let mut account = match store.get_account(tenant, self.app.id, remote_id).await.map_err(OpError::store)? {
            Some(stored) => stored,
            // Linked by this plan's link operation, or matched: read what the app holds.
            None => {
                let observed = self
                    .client
                    .get_user(remote_id)
                    .await?
                    .ok_or_else(|| OpError::permanent(format!("account {remote_id} is no longer in the app")))?;
                stored_from(op, AccountOrigin::Matched, &observed)
            }
        };
        held.confirm().await?;
        account.attributes.extend(changes.iter().map(|(k, v)| (k, v.clone())));
        account.attributes.retain(|_, v| !v.is_empty());
        if let Some(grant) = op.reason.grant() {
            account.link.granted_by = Some(grant.assignment());
        }
        if let Some(user_name) = changes.get(attributes::USER_NAME) {
            account.user_name = user_name.clone();
        }
        store.upsert_account(tenant, &account).await.map_err(OpError::store)?;
        Ok(Some(remote_id.to_owned()))
    }

    /// The account Tenure would have created, if it exists. One carrying the person's id as
    /// externalId is Tenure's own from an earlier attempt (created). Otherwise the app is asked
    /// by the app's configured match keys in the planner's order (strongest first), with the
    /// planner's rule that a key's value must name one account: the first account found is
    /// linked (matched) only when nothing says it is someone else's: not linked to another
    /// person, not marked a known external, no other externalId, no other email. Anything else
    /// fails the operation for an admin rather than take another person's account over.
    /// (Not the planner's function itself: that needs the whole directory per retried create,
    /// which a restart after a crash, retrying many at once, cannot afford.)
    async fn find_existing(
        &self,
        engine: &Engine,
        person: PersonId,
        email_of_person: &str,
        attrs: &Attributes,
    ) -> Result<Option<(RemoteAccount, AccountOrigin)>, OpError> {
        let own_id = person.to_string();
        if let Some(own) = self.client.find_user(attributes::EXTERNAL_ID, &own_id).await?
            && own.external_id().is_some_and(|x| x.eq_ignore_ascii_case(&own_id))
        {
            return Ok(Some((own, AccountOrigin::Created)));
        }
        let email = attrs.get(attributes::EMAIL).map(|e| e.to_lowercase());
        for key in &self.app.settings.match_keys {
            let (attribute, value) = match key {
                // Looked up above: nothing of the app carries the person's id.
                MatchKey::ExternalId => continue,
                MatchKey::UserName => (attributes::USER_NAME, attrs.get(attributes::USER_NAME)),
                MatchKey::Email => (attributes::EMAIL, attrs.get(attributes::EMAIL)),
            };
            let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
            let Some(found) = self.client.find_user(attribute, value).await? else { continue };
            let store = &engine.store;
            // An admin said this account is nobody in the directory: never take it over.
            if store.account_mark(engine.tenant, self.app.id, &found.remote_id).await.map_err(OpError::store)?.is_some()
            {
                return Err(OpError::permanent(format!(
                    "{} {value} is taken in the app by account {}, which an admin marked as a known external \
                     account; clear the mark or adopt it for this person",
                    key.as_str(),
                    found.remote_id
                )));
            }
            let linked =
                store.get_account(engine.tenant, self.app.id, &found.remote_id).await.map_err(OpError::store)?;
            if let Some(link) = linked {
                if link.link.person_id == person {
                    return Ok(Some((found, link.link.origin)));
                }
                return Err(OpError::permanent(format!(
                    "{} {value} is taken in the app by account {}, linked to another person; an admin must resolve it",
                    key.as_str(),
                    found.remote_id
                )));
            }
            let foreign_id = found.external_id().is_some_and(|x| !x.eq_ignore_ascii_case(&own_id));
            let foreign_email = match (found.email(), &email) {
                (Some(theirs), Some(ours)) => theirs.to_lowercase() != *ours,
                _ => false,
            };
            if foreign_id || foreign_email {
                return Err(OpError::permanent(format!(
                    "{} {value} is taken in the app by another account ({}); an admin must resolve it",
                    key.as_str(),
                    found.email().unwrap_or(&found.remote_id)
                )));
            }
            // The planner's correlation policy, once more: an account nobody manages is not
            // taken over for a person the policy leaves to an admin (by default, one an identity
            // provider pushed).
            if !self.may_link(engine, email_of_person).await? {
                return Err(OpError::permanent(format!(
                    "{} {value} is taken in the app by account {}, which Tenure does not manage; the app's \
                     correlation policy ({}) leaves it to an admin: adopt it for this person (`tenure adopt`) \
                     or set the app's --correlation to link",
                    key.as_str(),
                    found.remote_id,
                    self.app.settings.correlation.as_str(),
                )));
            }
            return Ok(Some((found, AccountOrigin::Matched)));
        }
        Ok(None)
    }

    /// Whether the app's correlation policy links an account nobody manages to this person.
    async fn may_link(&self, engine: &Engine, email_of_person: &str) -> Result<bool, OpError> {
        let store = &engine.store;
        let pushed = match store.person_by_email(engine.tenant, email_of_person).await.map_err(OpError::store)? {
            Some(person) => store
                .list_sources(engine.tenant)
                .await
                .map_err(OpError::store)?
                .iter()
                .any(|s| s.id == person.source_id && s.kind == "scim"),
            None => false,
        };
        Ok(self.app.settings.correlation.links(pushed))
    }
}

/// A link for an account an operation just created or matched, remembering the assignment that
/// granted it.
fn stored_from(op: &PlannedOp, origin: AccountOrigin, account: &RemoteAccount) -> StoredAccount {
    StoredAccount {
        link: AccountLink {
            app_id: op.app_id,
            remote_id: account.remote_id.clone(),
            person_id: op.person_id,
            origin,
            deactivated_on: None,
            granted_by: op.reason.grant().map(Grant::assignment),
        },
        user_name: account.user_name().to_owned(),
        active: account.active,
        attributes: account.attributes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_outcome_the_database_refused_for_a_moment_is_recorded_on_a_later_try() {
        let mut calls = 0;
        let recorded = retry_transient(Duration::from_secs(10), || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(tenure_store::StoreError::Concurrent("operations".into())) } else { Ok(true) } }
        })
        .await;
        assert!(matches!(recorded, Ok(true)), "{recorded:?}");
        assert_eq!(calls, 3, "tried until it was recorded");
    }

    #[tokio::test]
    async fn an_outcome_refused_for_good_is_not_tried_again_nor_past_the_window() {
        let mut calls = 0;
        let refused = retry_transient(Duration::from_secs(10), || {
            calls += 1;
            async { Err::<bool, _>(tenure_store::StoreError::Invalid("bad row".into())) }
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(calls, 1, "a permanent error is not retried");
        let mut calls = 0;
        let started = tokio::time::Instant::now();
        let busy = retry_transient(Duration::from_millis(300), || {
            calls += 1;
            async { Err::<bool, _>(tenure_store::StoreError::Concurrent("operations".into())) }
        })
        .await;
        assert!(busy.is_err() && calls > 1, "{calls} calls");
        assert!(started.elapsed() < Duration::from_secs(5), "the window bounds the retries");
    }

    #[test]
    fn a_grant_to_reauthorize_waits_and_counts_against_the_app() {
        // Like refused credentials: the operation waits for an admin, the app is quarantined.
        let e = OpError::from(ConnectorError::Reauthorize { reason: "invalid_grant".into() });
        assert!(e.retryable && e.app_fault, "{e:?}");
        assert!(e.message.contains("re-authorize the app"), "{e:?}");
    }

    #[test]
    fn a_vendor_refusal_waits_and_counts_against_the_app_but_a_bad_request_fails() {
        let sso = ConnectorError::Vendor {
            vendor: "zoom",
            code: "sso".into(),
            status: 400,
            message: "Zoom answered that the account has not enabled Single Sign-On".into(),
        };
        let e = OpError::from(sso);
        assert!(e.retryable && e.app_fault, "{e:?}");
        let bad = OpError::from(ConnectorError::Status {
            method: "POST".into(),
            url: "u".into(),
            status: 400,
            scim_type: None,
            detail: Some("userName too long".into()),
            retry_after: None,
        });
        assert!(!bad.retryable && !bad.app_fault, "{bad:?}");
    }
}
