//! Orchestration: the only place where the directory, the store and the apps meet. It loads
//! state, asks the pure reconciler in `tenure-core` for a plan, and carries the plan out through
//! the connectors, recording every outcome. The CLI, the server and the demo all drive it.

mod accounts;
pub mod admin;
pub mod app_auth;
mod apply;
pub mod audit_query;
pub mod contexts;
mod csv_import;
mod dates;
mod drive_transfer;
mod error;
mod group_ops;
mod hold;
mod import_states;
mod legal_hold;
mod license_lines;
pub mod license_reclaim;
mod license_skip;
pub mod licenses;
pub mod nodes;
pub mod notify;
mod oauth_flow;
mod offboard;
mod operations;
mod planning;
mod planning_cache;
mod profile;
mod propagate;
mod quiet_read;
mod report;
mod schedule;
mod source_events;
mod sync;
mod sync_cloud;
mod sync_every;
mod sync_ldap;
mod task_reads;
mod tasks;
pub mod tokens;
mod watch;
mod worker;
pub mod workflows;

pub use accounts::{Adopted, MAX_USERS_PAGE, UsersPage};
pub use admin::{Actor, Admin};
pub use apply::{AppOutcome, AppRefusal, ApplyReport, OpFailure};
pub use contexts::{BackgroundOptions, TenantContexts};
pub use csv_import::{CsvData, CsvUpload};
pub use dates::DATES;
pub use error::EngineError;
pub use hold::{Enqueued, HeldNow, HoldView};
pub use notify::NoticePass;
pub use oauth_flow::{
    AuthorizationError, AuthorizationStart, Authorized, Callback, GrantView, Verification, complete_authorization,
};
pub use operations::{AppHealthView, BudgetWait, QueueStatus, RefusedApp};
pub use planning::AppPlan;
pub use propagate::{PropagationOptions, PropagationPass};
pub use report::{AccountClass, AccountRow, class_counts, spreadsheet_safe, write_report_csv};
pub use schedule::{DEFAULT_SYNC_EVERY, sync_interval};
pub use source_events::{ChannelOptions, ChannelsKept, GOOGLE_HOOK_PATH, GRAPH_HOOK_PATH, Notified};
pub use sync::{CsvSourceConfig, Delivery, SyncOptions, SyncPhases, SyncReport};
pub use sync_cloud::{GoogleSourceConfig, GraphSourceConfig};
pub use sync_every::{MIN_SYNC_EVERY_S, SYNC_EVERY_FIELD, kind_settings, parse_sync_every};
pub use sync_ldap::LdapSourceConfig;
pub use tasks::{TASK_DUE, TASK_ESCALATION};
pub use watch::{DEFAULT_INTERVAL as WATCH_INTERVAL, Dropped, SETTLE as WATCH_SETTLE};
pub use worker::{Executor, WorkerOptions};
pub use workflows::{WORKFLOW_TICK, WorkflowPass};

use tenure_connectors::{ClientOptions, Connector};
use tenure_core::{AppId, TenantId};
use tenure_store::{AppRecord, Store};

/// Connectors by (app, version of its row, with the workers' short retries).
type ClientCache = std::collections::HashMap<(AppId, i64, bool), std::sync::Arc<dyn Connector>>;

/// Drives one tenant. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    tenant: TenantId,
    client_options: ClientOptions,
    /// How many operations run at once against one app.
    concurrency: usize,
    /// Rate limiters by app (or by the key apps share), so every path to an app is paced by one.
    /// How queued operations are run by `apply` (and, by default, by `tenure serve`).
    worker_options: WorkerOptions,
    /// The tenant-wide deprovisioning guard, in people across every app.
    global_guard: tenure_core::guard::GuardLimits,
    /// How long `apply` waits for operations that wait for a retry.
    drain_wait: std::time::Duration,
    limiters: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tenure_connectors::RateLimiter>>>,
    >,
    /// The time the guard's windows are measured by.
    clock: std::sync::Arc<dyn Clock>,
    /// Connectors by app, kept while the app's row is unchanged (its version), so requests and
    /// workers reuse one client (its connection pool, its token cache) per app.
    clients: std::sync::Arc<std::sync::Mutex<ClientCache>>,
    /// Where the files of sources made over the API live (their uploads); `None`: nowhere, and
    /// such sources are refused.
    files_dir: Option<std::path::PathBuf>,
    /// The URL browsers reach `serve` at: notifications link to its console pages, and
    /// sources' event channels send to its hooks.
    public_url: Option<String>,
    /// Who holds duties as this engine (`nodes::node_id`, one per process).
    node: std::sync::Arc<str>,
    /// Sources with a sync on notification running (`source_events.rs`).
    event_syncs: source_events::EventSyncs,
    /// The directory and the apps' stored accounts kept between propagation passes.
    planning: std::sync::Arc<planning_cache::PlanningCache>,
    /// Each source's state as its last import left it, for the next import to compare with.
    import_states: std::sync::Arc<import_states::ImportStates>,
    /// The tenant's timezone as last read, and when: the day is asked for on every propagation
    /// pass, which must not read the settings each time (`workflows/tz.rs`).
    timezone: std::sync::Arc<std::sync::Mutex<Option<(tokio::time::Instant, jiff::tz::TimeZone)>>>,
}

/// Where the engine reads the time: the system's, or a test's hand-driven one.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp_nanos().div_euclid(1_000_000) as i64
    }
}

/// A clock that moves only when told to: for tests of anything measured in time.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(now_ms))
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as i64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Engine {
    pub fn new(store: Store, tenant: TenantId) -> Self {
        Self {
            store,
            tenant,
            client_options: ClientOptions::default(),
            concurrency: 8,
            worker_options: WorkerOptions::default(),
            drain_wait: std::time::Duration::from_secs(30),
            global_guard: tenure_core::guard::GuardLimits::default(),
            limiters: Default::default(),
            clock: std::sync::Arc::new(SystemClock),
            clients: Default::default(),
            files_dir: None,
            public_url: None,
            node: std::sync::Arc::from(nodes::node_id()),
            event_syncs: Default::default(),
            planning: Default::default(),
            import_states: Default::default(),
            timezone: Default::default(),
        }
    }

    /// Reads the time from `clock` (the system's by default).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Where sources made over the API keep their files (a directory of the server's).
    pub fn with_files_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.files_dir = Some(dir.into());
        self
    }

    /// Where the console is reached (`serve --public-url`): notifications carry links to it.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url.map(|u| u.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        self
    }

    pub fn with_client_options(mut self, options: ClientOptions) -> Self {
        self.client_options = options;
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How `apply` runs the queue: backoff, attempts, workers.
    pub fn with_worker_options(mut self, options: WorkerOptions) -> Self {
        self.worker_options = options;
        self
    }

    /// How long `apply` waits for operations waiting for a retry before leaving them queued.
    pub fn with_drain_wait(mut self, wait: std::time::Duration) -> Self {
        self.drain_wait = wait;
        self
    }

    /// Limits for the tenant-wide guard (default: more than 10% of the people with managed
    /// accounts, or more than 25 people, losing access in one run).
    pub fn with_global_guard(mut self, limits: tenure_core::guard::GuardLimits) -> Self {
        self.global_guard = limits;
        self
    }

    pub fn worker_options(&self) -> &WorkerOptions {
        &self.worker_options
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The app's connector with the engine's client options, shared by every caller while the
    /// app's row is unchanged.
    pub(crate) fn client(&self, app: &AppRecord) -> Result<std::sync::Arc<dyn Connector>, EngineError> {
        self.cached_client(app, false, || self.client_options.clone())
    }

    /// A connector from the cache, built with `options` when the app (or its version) is new.
    /// `short_retries` tells the workers' clients apart from the others.
    pub(crate) fn cached_client(
        &self,
        app: &AppRecord,
        short_retries: bool,
        options: impl FnOnce() -> ClientOptions,
    ) -> Result<std::sync::Arc<dyn Connector>, EngineError> {
        let key = (app.app.id, app.version, short_retries);
        if let Some(client) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(client.clone());
        }
        let client = self.client_with(app, options())?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        // Older versions of the app's client are of no more use.
        clients.retain(|(id, version, _), _| *id != app.app.id || *version == app.version);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The app's connector, paced by the app's rate limit when it has one.
    pub(crate) fn client_with(
        &self,
        app: &AppRecord,
        options: ClientOptions,
    ) -> Result<std::sync::Arc<dyn Connector>, EngineError> {
        app_auth::connector(&self.store, self.tenant, app, options, self.limiter_for(&app.app))
            .map_err(|source| EngineError::Connector { app: app.app.name.clone(), source })
    }
}

/// Today's date in UTC. Plans compare dates with the tenant's day ([`Engine::today`]); this is
/// for callers without an engine (benches whose tenants keep the default, UTC).
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
