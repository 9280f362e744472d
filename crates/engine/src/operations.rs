//! What admins see and do about queued operations: the queue's state, failed operations, retry
//! and dismiss. Every action is audited.

use serde::Serialize;
use tenure_core::{AppId, OperationId};
use tenure_store::{OperationFilter, OperationRecord, QueueCounts};

use crate::{Engine, EngineError};

/// An app that has been failing, and whether it is paused.
#[derive(Debug, Clone, Serialize)]
pub struct AppHealthView {
    pub app: String,
    pub failures: i64,
    pub paused_until_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    #[serde(flatten)]
    pub counts: QueueCounts,
    /// Changes waiting to be planned.
    pub dirty: usize,
    pub failing_apps: Vec<AppHealthView>,
    /// Losses waiting for an admin (held plans), and approved ones still being carried out.
    pub holds: Vec<crate::HoldView>,
    /// Apps Tenure refuses to plan, with the reason (a probed profile whose paging is broken
    /// and that no partitioned read rescues).
    pub refused_apps: Vec<RefusedApp>,
    /// Apps whose hourly or daily request budget is spent: their operations wait until then.
    pub budget_waits: Vec<BudgetWait>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetWait {
    pub app: String,
    /// `hourly`, `daily`, `30-second`.
    pub window: String,
    pub requests: u32,
    pub until_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedApp {
    pub app: String,
    pub reason: String,
}

impl Engine {
    pub async fn queue_status(&self) -> Result<QueueStatus, EngineError> {
        let counts = self.store.queue_counts(self.tenant, None).await?;
        let dirty = self.store.dirty_marks(self.tenant, 1_000_000).await?.len();
        let apps = self.store.list_apps(self.tenant).await?;
        let refused_apps = apps
            .iter()
            .filter_map(|r| crate::planning::refusal_of(r).map(|reason| RefusedApp { app: r.app.name.clone(), reason }))
            .collect();
        let mut budget_waits = Vec::new();
        let now = crate::Clock::now_ms(&crate::SystemClock);
        for record in &apps {
            let Some(limits) = record.app.settings.limits.as_ref().filter(|l| !l.windows.is_empty()) else { continue };
            let key = limits.shared_key.clone().unwrap_or_else(|| record.app.id.to_string());
            let bucket = crate::worker::window_bucket(&key);
            for usage in self.store.window_usage(self.tenant, &bucket, &limits.windows, now).await? {
                if let Some(until_ms) = usage.spent_until_ms {
                    budget_waits.push(BudgetWait {
                        app: record.app.name.clone(),
                        window: usage.window.name(),
                        requests: usage.window.requests,
                        until_ms,
                    });
                }
            }
        }
        let names: std::collections::HashMap<AppId, String> =
            apps.into_iter().map(|r| (r.app.id, r.app.name)).collect();
        let failing_apps = self
            .store
            .app_health(self.tenant)
            .await?
            .into_iter()
            .map(|h| AppHealthView {
                app: names.get(&h.app_id).cloned().unwrap_or_else(|| h.app_id.to_string()),
                failures: h.failures,
                paused_until_ms: h.paused_until_ms,
                last_error: h.last_error,
            })
            .collect();
        let holds =
            self.holds(100).await?.into_iter().filter(|h| h.status == "held" || h.status == "approved").collect();
        Ok(QueueStatus { counts, dirty, failing_apps, refused_apps, holds, budget_waits })
    }

    /// Operations, newest first; `app` by name.
    pub async fn list_operations(
        &self,
        status: Option<tenure_store::OperationStatus>,
        app: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OperationRecord>, EngineError> {
        let app = match app {
            Some(name) => Some(self.store.app_by_name(self.tenant, name).await?.app.id),
            None => None,
        };
        Ok(self.store.list_operations(self.tenant, &OperationFilter { status, app, limit: Some(limit) }).await?)
    }

    /// Puts a failed operation (or every failed one) back in the queue; returns how many.
    pub async fn retry_operations(&self, op: Option<OperationId>, actor: &str) -> Result<u64, EngineError> {
        let n = self.store.retry_failed(self.tenant, op).await?;
        if n == 0 && op.is_some() {
            return Err(EngineError::NotFound(format!(
                "failed operation {}",
                op.map(|o| o.to_string()).unwrap_or_default()
            )));
        }
        let subject = op.map_or_else(|| "all failed".to_owned(), |o| o.to_string());
        self.store
            .append_audit(self.tenant, actor, "operation.retry", &subject, &serde_json::json!({"count": n}))
            .await?;
        Ok(n)
    }

    /// Gives up on a failed or waiting operation.
    pub async fn dismiss_operation(&self, op: OperationId, actor: &str) -> Result<(), EngineError> {
        if !self.store.dismiss_operation(self.tenant, op).await? {
            return Err(EngineError::NotFound(format!(
                "failed or waiting operation {op} (a running one cannot be dismissed)"
            )));
        }
        self.store
            .append_audit(self.tenant, actor, "operation.dismiss", &op.to_string(), &serde_json::json!({}))
            .await?;
        Ok(())
    }
}
