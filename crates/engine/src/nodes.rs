//! Several `tenure serve` nodes on one PostgreSQL database share the work without doubling it.
//!
//! - The queue is shared as it stands: workers claim operations with leases (`FOR UPDATE SKIP
//!   LOCKED`), whatever node they run on.
//! - Scheduled duties (the source schedule; the periodic reconciliation, which also carries
//!   dated offboardings out) run on one node at a time: the holder of the duty's lease row
//!   ([`Engine::hold_duty`]), renewed every [`DUTY_RENEW`] while the node works or looks for
//!   work, taken over by another node once [`DUTY_LEASE`] passes without a renewal. What the
//!   duty writes carries its [`Fence`] and is refused under an old term.
//! - Propagation of dirty marks runs on every node: two nodes planning the same mark cannot both
//!   queue its work, because `Engine::enqueue` (hold.rs) queues under the tenant's guard row lock
//!   and leaves out pairs with an operation queued, or settled, after the plan read the app.
//! - An app's rate limit is one budget for the deployment ([`StoreBudget`]): every node's
//!   requests wait for slots reserved from one row, and a 429's Retry-After stored there pauses
//!   every node.
//!
//! On SQLite there is one node (`serve` refuses to start beside another on the same file), so a
//! duty is taken at once, whoever held it before.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tenure_connectors::bearer::BoxFuture;
use tenure_connectors::{BudgetError, SharedBudget, SharedSlots};
use tenure_core::TenantId;
use tenure_store::{Backend, DutyLease, Fence, Store};

use crate::{Clock, Engine, EngineError};

/// The source schedule: which source is due, and its sync.
pub const SOURCE_SCHEDULE: &str = "source_schedule";
/// The periodic full reconciliation of every app (and so the dated offboardings).
pub const RECONCILIATION: &str = "reconciliation";
/// Keeping cloud sources' event channels (Google watch channels, Graph subscriptions): one node
/// opens and renews them, so several nodes do not each open their own.
pub const SOURCE_EVENTS: &str = "source_events";
/// Firing lifecycle workflows and carrying their runs forward (`workflows/`): one node fires, so
/// a date is acted on once; the store's keys make even a second firing start nothing.
pub const WORKFLOWS: &str = "workflows";

/// The full plan of one app (`full_plan:<app id>`): held by the node reading the app in full
/// for a propagation pass, released when its marks are answered, so nodes do not each read it.
pub fn full_plan_duty(app: tenure_core::AppId) -> String {
    format!("{FULL_PLAN_PREFIX}{app}")
}

/// What every app's full-plan duty starts with.
pub const FULL_PLAN_PREFIX: &str = "full_plan:";

/// How long a duty's lease lasts without renewal: a node killed while holding it is replaced
/// within this and one [`DUTY_RENEW`].
pub const DUTY_LEASE: Duration = Duration::from_secs(7);
/// How often a holder renews, and how often the others look whether it is gone.
pub const DUTY_RENEW: Duration = Duration::from_secs(2);

/// This process's node id: random per process, in logs, `/healthz` and `ops status`.
pub fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("node-{}", &random[..12])
    })
}

/// A duty this node holds while the guard lives: its lease is renewed in the background, and
/// [`DutyGuard::fence`] is what writes under it carry.
pub struct DutyGuard {
    lease: DutyLease,
    renewer: tokio::task::JoinHandle<()>,
}

impl DutyGuard {
    pub fn fence(&self) -> &Fence {
        &self.lease.fence
    }

    /// When the duty's periodic work was last recorded done (0: never).
    pub fn last_run_ms(&self) -> i64 {
        self.lease.last_run_ms
    }
}

impl Drop for DutyGuard {
    fn drop(&mut self) {
        // The lease stays in force until it expires or the next renewal: between two looks at
        // the work this node still holds it.
        self.renewer.abort();
    }
}

impl Engine {
    /// This engine's node id ([`node_id`] unless a test gave it another).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs as the node `id` (tests of several nodes in one process).
    pub fn with_node_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.node = id.into();
        self
    }

    /// Takes or renews `duty` for this node; `None` while another node holds it. The lease is
    /// kept renewed as long as the guard lives.
    pub async fn hold_duty(&self, duty: &str) -> Result<Option<DutyGuard>, EngineError> {
        let single_node = self.store.backend() == Backend::Sqlite;
        let Some(lease) = self.store.take_duty(self.tenant, duty, &self.node, DUTY_LEASE, single_node).await? else {
            return Ok(None);
        };
        tracing::debug!(node = %self.node, duty, term = lease.fence.term, "holding the duty");
        let (store, tenant, node, name) = (self.store.clone(), self.tenant, Arc::clone(&self.node), duty.to_owned());
        let term = lease.fence.term;
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(DUTY_RENEW).await;
                match store.take_duty(tenant, &name, &node, DUTY_LEASE, single_node).await {
                    Ok(Some(renewed)) if renewed.fence.term == term => {}
                    Ok(_) => {
                        tracing::warn!(node = %node, duty = %name, term, "lost the duty to another node; its writes under this term will be refused");
                        return;
                    }
                    Err(e) => tracing::warn!(node = %node, duty = %name, error = %e, "cannot renew the duty's lease"),
                }
            }
        });
        Ok(Some(DutyGuard { lease, renewer }))
    }

    /// Gives this node's duties up (a clean stop), so another node takes them at once.
    pub async fn release_duties(&self) {
        let Ok(holders) = self.store.duty_holders(self.tenant).await else { return };
        for held in holders.into_iter().filter(|h| h.holder == *self.node) {
            let fence = Fence { tenant: self.tenant, duty: held.duty, holder: held.holder, term: held.term };
            if let Err(e) = self.store.release_duty(&fence).await {
                tracing::warn!(duty = %fence.duty, error = %e, "cannot release the duty");
            }
        }
    }

    /// The periodic reconciliation, when this node holds its duty and `every` has passed since
    /// the deployment last did it: every app is marked for a full plan, under the duty's fence.
    /// The first holder ever starts the rhythm rather than reconciling at once.
    pub(crate) async fn reconcile_if_due(&self, every: Duration) -> Result<bool, EngineError> {
        let Some(duty) = self.hold_duty(RECONCILIATION).await? else { return Ok(false) };
        let now = crate::SystemClock.now_ms();
        if duty.last_run_ms() > 0 && now - duty.last_run_ms() < every.as_millis() as i64 {
            return Ok(false);
        }
        if duty.last_run_ms() > 0 {
            let apps = self.store.list_apps(self.tenant).await?;
            let marks: Vec<tenure_store::DirtyMark> =
                apps.iter().map(|a| tenure_store::DirtyMark::app(a.app.id)).collect();
            // An app still marked from the last tick is not marked anew: its full plan is
            // pending or running, and refreshing the mark would make it plan again at once.
            self.store.mark_absent_fenced(duty.fence(), &marks).await?;
            tracing::info!(node = %self.node, apps = marks.len(), "periodic reconciliation marked every app");
        }
        self.store.record_duty_run(duty.fence(), now).await?;
        Ok(duty.last_run_ms() > 0)
    }

    /// The deployment's one budget for the bucket `key` of this tenant, where several nodes
    /// may share the work (PostgreSQL); `None` on SQLite, whose one node's limiter suffices.
    pub(crate) fn shared_budget(&self, key: &str, per_second: f64, burst: u32) -> Option<Arc<dyn SharedBudget>> {
        (self.store.backend() == Backend::Postgres).then(|| {
            Arc::new(StoreBudget {
                store: self.store.clone(),
                tenant: self.tenant,
                bucket: key.to_owned(),
                per_second: per_second * SHARED_BUDGET_HEADROOM,
                burst,
            }) as Arc<dyn SharedBudget>
        })
    }
}

/// An app's budgets over long windows, counted in the store on every backend: the one count
/// of the deployment, kept across restarts.
pub(crate) struct StoreWindows {
    pub(crate) store: Store,
    pub(crate) tenant: TenantId,
    pub(crate) bucket: String,
    pub(crate) windows: Vec<tenure_core::RequestWindow>,
}

impl tenure_connectors::RequestWindows for StoreWindows {
    fn take(&self) -> BoxFuture<'_, Result<Result<(), tenure_connectors::WindowSpent>, BudgetError>> {
        Box::pin(async move {
            let now_ms = crate::SystemClock.now_ms();
            let spent = self
                .store
                .take_window_request(self.tenant, &self.bucket, &self.windows, now_ms)
                .await
                .map_err(|e| BudgetError(e.to_string()))?;
            Ok(match spent {
                None => Ok(()),
                Some((window, until_ms)) => Err(tenure_connectors::WindowSpent {
                    window: window.name(),
                    requests: window.requests,
                    until: unix_us(until_ms.saturating_mul(1000)),
                }),
            })
        })
    }
}

/// The share of an app's documented rate that the deployment's shared budget hands out. Slots
/// are moments of sending, but the vendor counts arrivals: from several nodes, each with its own
/// transit jitter, a few requests of the seconds around a boundary land in one calendar second,
/// and 3 nodes paced at exactly 100 a second were seen to put 104 into one. Pacing 5% under the
/// limit leaves room for 25 ms of jitter on either side and still achieves about 0.95 of it.
pub(crate) const SHARED_BUDGET_HEADROOM: f64 = 0.95;

/// Slots reserved per round trip to the shared budget: about 50 ms of the rate, so a node asks
/// about twenty times a second at most, and what an idle node leaves unused is small.
pub(crate) fn budget_slice(per_second: f64) -> u32 {
    (per_second / 20.0).ceil().clamp(1.0, 50.0) as u32
}

/// An app's request budget kept in the store, shared by every node.
struct StoreBudget {
    store: Store,
    tenant: TenantId,
    bucket: String,
    per_second: f64,
    burst: u32,
}

fn unix_us(t: i64) -> SystemTime {
    if t >= 0 { SystemTime::UNIX_EPOCH + Duration::from_micros(t as u64) } else { SystemTime::UNIX_EPOCH }
}

impl SharedBudget for StoreBudget {
    fn reserve(&self, count: u32) -> BoxFuture<'_, Result<SharedSlots, BudgetError>> {
        Box::pin(async move {
            let got = self
                .store
                .reserve_budget(self.tenant, &self.bucket, self.per_second, self.burst, count)
                .await
                .map_err(|e| BudgetError(e.to_string()))?;
            Ok(SharedSlots {
                first: unix_us(got.first_us),
                interval: Duration::from_micros(got.interval_us as u64),
                count: got.count,
            })
        })
    }

    fn pause(&self, until: SystemTime) -> BoxFuture<'_, Result<(), BudgetError>> {
        Box::pin(async move {
            let until_ms = until.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            self.store.pause_budget(self.tenant, &self.bucket, until_ms).await.map_err(|e| BudgetError(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_is_about_fifty_milliseconds_of_the_rate() {
        assert_eq!(budget_slice(100.0), 5);
        assert_eq!(budget_slice(1.0), 1);
        assert_eq!(budget_slice(0.2), 1);
        assert_eq!(budget_slice(100_000.0), 50);
    }

    #[test]
    fn the_node_id_is_one_per_process() {
        assert_eq!(node_id(), node_id());
        assert!(node_id().starts_with("node-") && node_id().len() == 17, "{}", node_id());
    }
}
