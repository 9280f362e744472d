//! Event channels of cloud sources: the Google push channels and Graph subscriptions a tenant's
//! sources have open, what a notification is checked against (its secret as a SHA-256 only),
//! and when each runs out.

use tenure_core::*;

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// One open channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChannel {
    pub channel_id: String,
    pub source_id: SourceId,
    /// What it watches: a Google user event (`add`, ...) or a Graph resource (`users`, `groups`).
    pub resource: String,
    /// Hex SHA-256 of the channel token (Google) or `clientState` (Graph).
    pub secret_hash: String,
    /// Google's `resourceId`, which stopping the channel needs.
    pub resource_id: Option<String>,
    /// The address notifications are sent to.
    pub address: String,
    pub expires_ms: i64,
}

fn channel_from_row(r: &sqlx::any::AnyRow) -> Result<SourceChannel, StoreError> {
    Ok(SourceChannel {
        channel_id: text(r, "channel_id")?,
        source_id: parsed(r, "source_id")?,
        resource: text(r, "resource")?,
        secret_hash: text(r, "secret_hash")?,
        resource_id: opt_text(r, "resource_id")?,
        address: text(r, "address")?,
        expires_ms: int(r, "expires_ms")?,
    })
}

const COLUMNS: &str = "channel_id, source_id, resource, secret_hash, resource_id, address, expires_ms";

impl Store {
    /// Every open channel of the tenant.
    pub async fn source_channels(&self, tenant: TenantId) -> Result<Vec<SourceChannel>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM source_channels WHERE tenant_id = $1 ORDER BY source_id, resource");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// One channel, by the id its notifications carry.
    pub async fn source_channel(
        &self,
        tenant: TenantId,
        channel_id: &str,
    ) -> Result<Option<SourceChannel>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM source_channels WHERE tenant_id = $1 AND channel_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(channel_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// Records a channel just opened (or its renewal: same id, new expiry).
    pub async fn save_source_channel(&self, tenant: TenantId, channel: &SourceChannel) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_channels (tenant_id, channel_id, source_id, resource, secret_hash, resource_id, address, \
             expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, channel_id) DO UPDATE SET expires_ms = $8",
        )
        .bind(tenant.to_string())
        .bind(&channel.channel_id)
        .bind(channel.source_id.to_string())
        .bind(&channel.resource)
        .bind(&channel.secret_hash)
        .bind(channel.resource_id.as_deref())
        .bind(&channel.address)
        .bind(channel.expires_ms)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a channel (stopped, replaced, or its source gone).
    pub async fn remove_source_channel(&self, tenant: TenantId, channel_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM source_channels WHERE tenant_id = $1 AND channel_id = $2")
            .bind(tenant.to_string())
            .bind(channel_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
