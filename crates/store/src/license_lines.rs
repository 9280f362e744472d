//! License pools' waiting lines: who waits for a seat, in order. Written inside the deprovisioning
//! guard's transaction ([`GuardTx`]), where the plans that take seats are queued, so two writers
//! cannot give the same free seat twice.

use sqlx::any::AnyRow;
use tenure_core::{AppId, PersonId, PlannedOp, TenantId};

use crate::row::*;
use crate::{GuardTx, Store, StoreError};

/// One person waiting in one pool's line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WaitingRow {
    pub app_id: AppId,
    /// The pool's tier (`None`: the whole app's pool).
    pub tier: Option<String>,
    pub person_id: PersonId,
    pub email: String,
    pub since_ms: i64,
}

fn waiting_from_row(r: &AnyRow) -> Result<WaitingRow, StoreError> {
    let tier = text(r, "tier")?;
    Ok(WaitingRow {
        app_id: parsed(r, "app_id")?,
        tier: (!tier.is_empty()).then_some(tier),
        person_id: parsed(r, "person_id")?,
        email: text(r, "email")?,
        since_ms: int(r, "since_ms")?,
    })
}

impl Store {
    /// The tenant's waiting lines (one app's, or all), each in line order.
    pub async fn license_waiting(&self, tenant: TenantId, app: Option<AppId>) -> Result<Vec<WaitingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id, tier, person_id, email, since_ms FROM license_waiting \
             WHERE tenant_id = $1 AND ($2 = '' OR app_id = $2) ORDER BY app_id, tier, since_ms, seq",
        )
        .bind(tenant.to_string())
        .bind(app.map(|a| a.to_string()).unwrap_or_default())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(waiting_from_row).collect()
    }

    /// The app's queued operations that will take a seat once they run (creates, re-activations
    /// and license changes still pending): seats the app does not show yet but are given.
    pub async fn pending_seat_ops(&self, tenant: TenantId, app: AppId) -> Result<Vec<PlannedOp>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM operations WHERE tenant_id = $1 AND app_id = $2 AND status = 'pending' \
             AND kind IN ('create', 'activate', 'change_license')",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(|r| json(r, "body")).collect()
    }
}

impl GuardTx {
    /// One app's lines, in order, as this transaction sees them.
    pub async fn license_waiting_of(&mut self, app: AppId) -> Result<Vec<WaitingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id, tier, person_id, email, since_ms FROM license_waiting \
             WHERE tenant_id = $1 AND app_id = $2 ORDER BY tier, since_ms, seq",
        )
        .bind(self.tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(waiting_from_row).collect()
    }

    /// The app's linked accounts, as this transaction sees them (counting seats inside it: on
    /// SQLite the transaction holds the one writer connection the store's plain reads use).
    pub async fn accounts_of(&mut self, app: AppId) -> Result<Vec<crate::StoredAccount>, StoreError> {
        let rows = sqlx::query(
            "SELECT remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by FROM accounts \
             WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(self.tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| crate::links::account_from_row(app, r)).collect()
    }

    /// [`Store::pending_seat_ops`], as this transaction sees them.
    pub async fn pending_seat_ops(&mut self, app: AppId) -> Result<Vec<PlannedOp>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM operations WHERE tenant_id = $1 AND app_id = $2 AND status = 'pending' \
             AND kind IN ('create', 'activate', 'change_license')",
        )
        .bind(self.tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| json(r, "body")).collect()
    }

    /// Puts a person at the end of a pool's line (`seq` orders those who join in one call).
    pub async fn join_waiting(&mut self, row: &WaitingRow, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO license_waiting (tenant_id, app_id, tier, person_id, email, since_ms, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, tier, person_id) DO NOTHING",
        )
        .bind(self.tenant.to_string())
        .bind(row.app_id.to_string())
        .bind(row.tier.as_deref().unwrap_or(""))
        .bind(row.person_id.to_string())
        .bind(&row.email)
        .bind(row.since_ms)
        .bind(seq)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Takes a person out of a pool's line.
    pub async fn leave_waiting(&mut self, app: AppId, tier: Option<&str>, person: PersonId) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM license_waiting WHERE tenant_id = $1 AND app_id = $2 AND tier = $3 AND person_id = $4",
        )
        .bind(self.tenant.to_string())
        .bind(app.to_string())
        .bind(tier.unwrap_or(""))
        .bind(person.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Moves a person of a pool's line just ahead of another of it (`ahead_of`), taking their
    /// place in the order (their `since_ms`): everyone else keeps their order. True when both
    /// wait in that line.
    pub async fn put_ahead(
        &mut self,
        app: AppId,
        tier: Option<&str>,
        person: PersonId,
        ahead_of: PersonId,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE license_waiting SET \
             since_ms = (SELECT w.since_ms FROM license_waiting w \
                         WHERE w.tenant_id = $1 AND w.app_id = $2 AND w.tier = $3 AND w.person_id = $5), \
             seq = (SELECT w.seq - 1 FROM license_waiting w \
                    WHERE w.tenant_id = $1 AND w.app_id = $2 AND w.tier = $3 AND w.person_id = $5) \
             WHERE tenant_id = $1 AND app_id = $2 AND tier = $3 AND person_id = $4 \
             AND EXISTS (SELECT 1 FROM license_waiting w \
                         WHERE w.tenant_id = $1 AND w.app_id = $2 AND w.tier = $3 AND w.person_id = $5)",
        )
        .bind(self.tenant.to_string())
        .bind(app.to_string())
        .bind(tier.unwrap_or(""))
        .bind(person.to_string())
        .bind(ahead_of.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
