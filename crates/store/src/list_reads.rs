//! Full reads of an app's user list, claimed one at a time for apps whose vendor penalises
//! reading the list from the start too often (see migration 0023).

use tenure_core::{AppId, TenantId};

use crate::{Store, StoreError};

impl Store {
    /// Claims a full read of the app's user list at `now_ms` if none was claimed in the
    /// `interval_ms` before it: `None` when claimed (read now), else when the last one was (the
    /// next is allowed `interval_ms` after it). One statement, so two nodes cannot both claim.
    pub async fn claim_list_read(
        &self,
        tenant: TenantId,
        app: AppId,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "INSERT INTO app_list_reads (tenant_id, app_id, read_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (app_id) DO UPDATE SET read_at_ms = excluded.read_at_ms \
             WHERE app_list_reads.read_at_ms <= $4",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(now_ms)
        .bind(now_ms.saturating_sub(interval_ms))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let last = if claimed {
            None
        } else {
            let row = sqlx::query("SELECT read_at_ms FROM app_list_reads WHERE tenant_id = $1 AND app_id = $2")
                .bind(tenant.to_string())
                .bind(app.to_string())
                .fetch_one(&mut *tx)
                .await?;
            Some(crate::row::int(&row, "read_at_ms")?)
        };
        tx.commit().await?;
        Ok(last)
    }
}
