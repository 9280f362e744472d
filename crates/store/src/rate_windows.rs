//! Requests counted against an app's budgets over long windows (the arithmetic is
//! [`tenure_core::window`]): one count for the deployment, on SQLite as on PostgreSQL.
//!
//! A take is one transaction over every window of the bucket: either the request counts in all
//! of them or, when one is spent, in none. On PostgreSQL the bucket's `rate_budgets` row is
//! locked first, so two nodes taking at once are serialised; SQLite's write transaction is
//! already the only writer.

use tenure_core::{RequestWindow, TenantId};

use crate::row::int;
use crate::{Store, StoreError};

/// How much of one window is used, for `app show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowUsage {
    pub window: RequestWindow,
    /// Requests counted in the window now.
    pub used: u64,
    /// When the window is spent: the moment it lets one more request go (ms since the epoch).
    pub spent_until_ms: Option<i64>,
}

impl Store {
    /// Counts one request at `now_ms` in each of `windows` of `bucket`, or none: `Ok(None)` when
    /// it was counted, `Ok(Some((window, until_ms)))` when `window` is spent until `until_ms`.
    pub async fn take_window_request(
        &self,
        tenant: TenantId,
        bucket: &str,
        windows: &[RequestWindow],
        now_ms: i64,
    ) -> Result<Option<(RequestWindow, i64)>, StoreError> {
        let mut tx = self.write_tx().await?;
        // Serialises the nodes taking from this bucket (a no-op write takes the row's lock).
        sqlx::query(
            "INSERT INTO rate_budgets (tenant_id, bucket, next_free_us, held_until_ms) VALUES ($1, $2, 0, 0) \
             ON CONFLICT (tenant_id, bucket) DO UPDATE SET next_free_us = rate_budgets.next_free_us",
        )
        .bind(tenant.to_string())
        .bind(bucket)
        .execute(&mut *tx)
        .await?;
        let mut slots = Vec::with_capacity(windows.len());
        for window in windows {
            let seconds = window_key(window);
            sqlx::query(
                "DELETE FROM rate_windows WHERE tenant_id = $1 AND bucket = $2 AND window_s = $3 AND slot < $4",
            )
            .bind(tenant.to_string())
            .bind(bucket)
            .bind(seconds)
            .bind(window.oldest_counted(now_ms))
            .execute(&mut *tx)
            .await?;
            let counts = counts_in(&mut tx, tenant, bucket, seconds).await?;
            match window.take(&counts, now_ms) {
                Ok(slot) => slots.push((seconds, slot)),
                Err(until) => {
                    tx.rollback().await?;
                    return Ok(Some((*window, until)));
                }
            }
        }
        for (seconds, slot) in slots {
            sqlx::query(
                "INSERT INTO rate_windows (tenant_id, bucket, window_s, slot, requests) VALUES ($1, $2, $3, $4, 1) \
                 ON CONFLICT (tenant_id, bucket, window_s, slot) DO UPDATE SET requests = rate_windows.requests + 1",
            )
            .bind(tenant.to_string())
            .bind(bucket)
            .bind(seconds)
            .bind(slot)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    /// How much of each of `windows` of `bucket` is used at `now_ms`.
    pub async fn window_usage(
        &self,
        tenant: TenantId,
        bucket: &str,
        windows: &[RequestWindow],
        now_ms: i64,
    ) -> Result<Vec<WindowUsage>, StoreError> {
        let mut usage = Vec::with_capacity(windows.len());
        for window in windows {
            let rows = sqlx::query(
                "SELECT slot, requests FROM rate_windows WHERE tenant_id = $1 AND bucket = $2 AND window_s = $3",
            )
            .bind(tenant.to_string())
            .bind(bucket)
            .bind(window_key(window))
            .fetch_all(self.read_pool())
            .await?;
            let counts = rows
                .iter()
                .map(|r| Ok((int(r, "slot")?, int(r, "requests")?.max(0) as u64)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            usage.push(WindowUsage {
                window: *window,
                used: window.used(&counts, now_ms),
                spent_until_ms: window.take(&counts, now_ms).err(),
            });
        }
        Ok(usage)
    }
}

/// The window's column value: its length in seconds (a window's slots are its own).
fn window_key(window: &RequestWindow) -> i64 {
    i64::try_from(window.seconds).unwrap_or(i64::MAX)
}

async fn counts_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: TenantId,
    bucket: &str,
    seconds: i64,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let rows =
        sqlx::query("SELECT slot, requests FROM rate_windows WHERE tenant_id = $1 AND bucket = $2 AND window_s = $3")
            .bind(tenant.to_string())
            .bind(bucket)
            .bind(seconds)
            .fetch_all(&mut **tx)
            .await?;
    rows.iter().map(|r| Ok((int(r, "slot")?, int(r, "requests")?.max(0) as u64))).collect()
}
