//! Quiet reads: an app's user list read in full while every node's workers hold their writes to
//! that app back (migration 0029). A read that raced the app's changes is made again this way.

use tenure_core::{AppId, TenantId};

use crate::row::int;
use crate::{Store, StoreError};

impl Store {
    /// Asks every worker to send `app` nothing until `until_ms` (or until [`Self::end_quiet`]);
    /// calling it again with a later time renews it. `reader` names this read: several readers
    /// of one app each keep their own row, so one finishing does not end another's quiet.
    pub async fn hold_quiet(
        &self,
        tenant: TenantId,
        app: AppId,
        reader: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO app_quiet (tenant_id, app_id, reader, until_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id, reader) DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(reader)
        .bind(until_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends `reader`'s quiet on `app`, and forgets any quiet that lapsed (its reader died).
    pub async fn end_quiet(&self, tenant: TenantId, app: AppId, reader: &str, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM app_quiet WHERE tenant_id = $1 AND app_id = $2 AND (reader = $3 OR until_ms <= $4)")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .bind(reader)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Operations of `app` that a worker holds now (claimed, lease not yet run out): writes
    /// that may still reach the app.
    pub async fn app_writes_in_flight(&self, tenant: TenantId, app: AppId, now_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM operations WHERE tenant_id = $1 AND app_id = $2 AND status = 'pending' \
             AND lease_until_ms IS NOT NULL AND lease_until_ms >= $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        int(&row, "n")
    }

    /// Until when `app` is quiet, if it is at `now_ms`.
    pub async fn quiet_until(&self, tenant: TenantId, app: AppId, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(until_ms) AS until_ms FROM app_quiet WHERE tenant_id = $1 AND app_id = $2 AND until_ms > $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        crate::row::opt_int(&row, "until_ms")
    }
}
