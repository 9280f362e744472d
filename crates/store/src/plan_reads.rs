//! What a saved plan read of apps whose user list may be read in full only so often (migration
//! 0031), and the claim that lets a saved plan be applied once.

use tenure_core::{AppId, PlanId, RemoteAccount, TenantId};

use crate::row::{int, parsed, text};
use crate::{OperationRecord, Store, StoreError, Tx};

/// One app's accounts as a saved plan read them.
#[derive(Debug, Clone)]
pub struct PlanRead {
    pub app_id: AppId,
    pub read_at_ms: i64,
    pub accounts: Vec<RemoteAccount>,
}

impl Tx {
    /// Keeps `read` with the saved plan `plan`, in the transaction that saves it.
    pub async fn save_plan_read(&mut self, tenant: TenantId, plan: PlanId, read: &PlanRead) -> Result<(), StoreError> {
        let accounts = serde_json::to_string(&read.accounts)
            .map_err(|e| StoreError::Invalid(format!("plan read of app {}: {e}", read.app_id)))?;
        sqlx::query(
            "INSERT INTO plan_reads (tenant_id, plan_id, app_id, read_at_ms, accounts) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.to_string())
        .bind(plan.to_string())
        .bind(read.app_id.to_string())
        .bind(read.read_at_ms)
        .bind(accounts)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The reads kept with a saved plan (none for apps read whenever asked).
    pub async fn plan_reads(&self, tenant: TenantId, plan: PlanId) -> Result<Vec<PlanRead>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id, read_at_ms, accounts FROM plan_reads WHERE tenant_id = $1 AND plan_id = $2 ORDER BY app_id",
        )
        .bind(tenant.to_string())
        .bind(plan.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let raw = text(r, "accounts")?;
                let accounts = serde_json::from_str(&raw)
                    .map_err(|e| StoreError::Corrupt(format!("plan {plan}: stored accounts: {e}")))?;
                Ok(PlanRead { app_id: parsed(r, "app_id")?, read_at_ms: int(r, "read_at_ms")?, accounts })
            })
            .collect()
    }

    /// Moves a plan from `from` to `to` if it is still `from`: one statement, so of two callers
    /// only one wins (a saved plan is applied once).
    pub async fn claim_plan_status(
        &self,
        tenant: TenantId,
        plan: PlanId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE plans SET status = $1 WHERE tenant_id = $2 AND id = $3 AND status = $4")
            .bind(to)
            .bind(tenant.to_string())
            .bind(plan.to_string())
            .bind(from)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The app's operations still queued, or settled at or after `since_ms`: Tenure's own
    /// changes to the app since it was read then.
    pub async fn app_operations_since(
        &self,
        tenant: TenantId,
        app: AppId,
        since_ms: i64,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, plan_id, seq, body, status, attempts, last_error, remote_id, not_before_ms FROM operations \
             WHERE tenant_id = $1 AND app_id = $2 AND (status = 'pending' OR (updated_ms >= $3 \
             AND status IN ('succeeded', 'failed', 'dismissed'))) ORDER BY updated_ms, seq LIMIT 1000",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::queue::operation_from_row).collect()
    }
}
