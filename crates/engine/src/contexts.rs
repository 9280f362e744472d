//! One long-lived context per tenant: the tenant's [`Engine`] (store handle, rate limiters,
//! connector clients) and its queue [`Executor`], built once and reused by every request and
//! every background task of `tenure serve`, so an API `apply` and the workers pace an app by
//! the same limiter.
//!
//! [`TenantContexts::run_background`] runs the background work of every tenant: for each, its
//! own queue workers, propagation, scheduled syncs, lifecycle workflows and watched directories, as tasks of their
//! own. Tenants share nothing but the database, so one tenant's backlog or failing app holds up
//! only its own tasks (`crates/engine/tests/tenants.rs` checks it with 5,000 queued operations
//! against a slow app). Tenants created while it runs are picked up within `tenant_poll`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenure_core::TenantId;
use tenure_store::Store;
use tokio::sync::watch;

use crate::{Engine, Executor, PropagationOptions, WorkerOptions};

/// How `tenure serve` runs each tenant's background work (the queue's options are the
/// contexts', [`TenantContexts::with_worker_options`]).
#[derive(Debug, Clone)]
pub struct BackgroundOptions {
    pub propagation: PropagationOptions,
    /// Queue workers and propagation (off: the API and scheduled syncs only).
    pub run_workers: bool,
    /// How often watched directories are looked into.
    pub watch_interval: Duration,
    /// How often the list of tenants is read for new ones.
    pub tenant_poll: Duration,
    /// Cloud sources' event channels (opened only where `serve` has a public URL).
    pub channels: crate::ChannelOptions,
}

impl Default for BackgroundOptions {
    fn default() -> Self {
        Self {
            propagation: PropagationOptions::default(),
            run_workers: true,
            watch_interval: crate::WATCH_INTERVAL,
            tenant_poll: Duration::from_secs(5),
            channels: crate::ChannelOptions::default(),
        }
    }
}

#[derive(Clone)]
struct Context {
    engine: Engine,
    executor: Executor,
}

/// The tenants' contexts, created on first use and kept. Cheap to clone.
#[derive(Clone)]
pub struct TenantContexts {
    store: Store,
    files_root: Option<PathBuf>,
    worker_options: WorkerOptions,
    public_url: Option<String>,
    contexts: Arc<Mutex<HashMap<TenantId, Context>>>,
}

impl TenantContexts {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            files_root: None,
            worker_options: WorkerOptions::default(),
            public_url: None,
            contexts: Arc::default(),
        }
    }

    /// Where sources made over the API keep their files (each tenant below it).
    pub fn with_files_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.files_root = Some(dir.into());
        self
    }

    /// How every tenant's queue runs (the workers of `serve` and of `apply`).
    pub fn with_worker_options(mut self, options: WorkerOptions) -> Self {
        self.worker_options = options;
        self
    }

    /// Where browsers reach the console: notifications link to it.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn context(&self, tenant: TenantId) -> Context {
        let mut contexts = self.contexts.lock().unwrap_or_else(|p| p.into_inner());
        contexts
            .entry(tenant)
            .or_insert_with(|| {
                let mut engine = Engine::new(self.store.clone(), tenant)
                    .with_worker_options(self.worker_options.clone())
                    .with_public_url(self.public_url.clone());
                if let Some(root) = &self.files_root {
                    engine = engine.with_files_dir(root.clone());
                }
                let executor = Executor::new(engine.clone(), self.worker_options.clone());
                Context { engine, executor }
            })
            .clone()
    }

    /// The tenant's engine, the same one every time.
    pub fn engine(&self, tenant: TenantId) -> Engine {
        self.context(tenant).engine
    }

    /// The tenant's queue executor, the same one every time.
    pub fn executor(&self, tenant: TenantId) -> Executor {
        self.context(tenant).executor
    }

    /// Runs the background work of every tenant until `shutdown` turns true, then waits for it
    /// to stop (operations in flight finish and are recorded).
    pub async fn run_background(&self, options: BackgroundOptions, mut shutdown: watch::Receiver<bool>) {
        let mut running: std::collections::HashSet<TenantId> = Default::default();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.store.list_tenants().await {
                Ok(tenants) => {
                    for tenant in tenants {
                        if running.insert(tenant.id) {
                            tracing::info!(tenant = %tenant.name, "running the tenant's background work");
                            self.spawn_tenant(&mut tasks, tenant.id, &options, &shutdown);
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list tenants"),
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(options.tenant_poll) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        // A clean stop hands the duties on at once rather than after their lease.
        for tenant in running {
            self.engine(tenant).release_duties().await;
        }
    }

    fn spawn_tenant(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        tenant: TenantId,
        options: &BackgroundOptions,
        shutdown: &watch::Receiver<bool>,
    ) {
        let Context { engine, executor } = self.context(tenant);
        if options.run_workers {
            let (worker, watch) = (executor.clone(), shutdown.clone());
            tasks.spawn(async move { worker.run(watch).await });
            let (propagator, propagation, watch) = (engine.clone(), options.propagation.clone(), shutdown.clone());
            tasks.spawn(async move { propagator.run_propagation(propagation, Some(executor), watch).await });
        }
        // The notification outbox is drained whether or not the queue runs here.
        let (notifier, watch) = (engine.clone(), shutdown.clone());
        tasks.spawn(async move { notifier.run_notifications(watch).await });
        let (scheduler, watch) = (engine.clone(), shutdown.clone());
        tasks.spawn(async move { scheduler.run_source_schedule(watch).await });
        let (workflows, watch) = (engine.clone(), shutdown.clone());
        tasks.spawn(async move { workflows.run_workflows(watch).await });
        let (events, channels, watch) = (engine.clone(), options.channels.clone(), shutdown.clone());
        tasks.spawn(async move { events.run_source_events(channels, watch).await });
        let (interval, mut watch) = (options.watch_interval, shutdown.clone());
        tasks.spawn(async move {
            let stop = async move { while watch.changed().await.is_ok() && !*watch.borrow() {} };
            engine.watch_sources(interval, stop).await
        });
    }
}
