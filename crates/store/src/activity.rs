//! What each app's queue did lately: operations settled per hour over a recent window, and when
//! an operation of the app last settled. The console draws it (last activity, ops per hour).

use std::collections::HashMap;

use tenure_core::{AppId, TenantId};

use crate::row::*;
use crate::{Store, StoreError};

const HOUR_MS: i64 = 3_600_000;

/// One app's recent work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppActivity {
    /// When an operation of the app last settled (succeeded or failed), ever.
    pub last_ms: Option<i64>,
    /// Operations settled in each hour of the window, oldest first: (succeeded, failed).
    pub hours: Vec<(u64, u64)>,
}

impl Store {
    /// Every app's settled operations per hour over the `hours` hours ending at `now_ms`, and
    /// its last settled operation. Apps that never ran an operation are absent.
    pub async fn app_activity(
        &self,
        tenant: TenantId,
        now_ms: i64,
        hours: usize,
    ) -> Result<HashMap<AppId, AppActivity>, StoreError> {
        let span = i64::try_from(hours).unwrap_or(i64::MAX / HOUR_MS).max(1);
        let since = now_ms - span * HOUR_MS;
        let mut out: HashMap<AppId, AppActivity> = HashMap::new();
        let rows = sqlx::query(
            "SELECT app_id, MAX(updated_ms) AS last_ms FROM operations \
             WHERE tenant_id = $1 AND status IN ('succeeded', 'failed') GROUP BY app_id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        for r in &rows {
            let app: AppId = parsed(r, "app_id")?;
            out.entry(app).or_default().last_ms = opt_int(r, "last_ms")?;
        }
        let rows = sqlx::query(
            "SELECT app_id, status, (updated_ms - $2) / $3 AS bucket, COUNT(*) AS n FROM operations \
             WHERE tenant_id = $1 AND updated_ms >= $2 AND status IN ('succeeded', 'failed') \
             GROUP BY app_id, status, (updated_ms - $2) / $3",
        )
        .bind(tenant.to_string())
        .bind(since)
        .bind(HOUR_MS)
        .fetch_all(self.read_pool())
        .await?;
        for r in &rows {
            let app: AppId = parsed(r, "app_id")?;
            let entry = out.entry(app).or_default();
            if entry.hours.is_empty() {
                entry.hours = vec![(0, 0); hours.max(1)];
            }
            // An operation settled after `now_ms` (a clock step) counts in the last hour.
            let bucket = usize::try_from(int(r, "bucket")?.max(0)).unwrap_or(0).min(entry.hours.len() - 1);
            let n = u64::try_from(int(r, "n")?).unwrap_or(0);
            match text(r, "status")?.as_str() {
                "succeeded" => entry.hours[bucket].0 += n,
                _ => entry.hours[bucket].1 += n,
            }
        }
        for entry in out.values_mut() {
            if entry.hours.is_empty() {
                entry.hours = vec![(0, 0); hours.max(1)];
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Operations of one app (or of every app) settled since `since_ms`: (succeeded, failed).
    pub async fn settled_since(
        &self,
        tenant: TenantId,
        app: Option<AppId>,
        since_ms: i64,
    ) -> Result<(u64, u64), StoreError> {
        let sql = if app.is_some() {
            "SELECT status, COUNT(*) AS n FROM operations WHERE tenant_id = $1 AND updated_ms >= $2 \
             AND status IN ('succeeded', 'failed') AND app_id = $3 GROUP BY status"
        } else {
            "SELECT status, COUNT(*) AS n FROM operations WHERE tenant_id = $1 AND updated_ms >= $2 \
             AND status IN ('succeeded', 'failed') GROUP BY status"
        };
        let mut query = sqlx::query(sql).bind(tenant.to_string()).bind(since_ms);
        if let Some(app) = app {
            query = query.bind(app.to_string());
        }
        let mut out = (0, 0);
        for r in &query.fetch_all(self.read_pool()).await? {
            let n = u64::try_from(int(r, "n")?).unwrap_or(0);
            match text(r, "status")?.as_str() {
                "succeeded" => out.0 += n,
                _ => out.1 += n,
            }
        }
        Ok(out)
    }
}
