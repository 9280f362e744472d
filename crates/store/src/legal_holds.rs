//! Legal holds: people whose accounts nothing may take away. The rows are read and written
//! inside the deprovisioning guard's transaction ([`GuardTx`]), so a hold placed while a plan is
//! being queued either lands before it (and the plan's losses are withheld) or after it (and the
//! hold dismisses what was queued).

use sqlx::any::AnyRow;
use tenure_core::{OperationId, PersonId, TenantId};

use crate::row::*;
use crate::{GuardTx, Store, StoreError};

/// A person on legal hold: since when, by whom, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LegalHold {
    pub person_id: PersonId,
    pub email: String,
    pub reason: String,
    pub actor: String,
    pub since_ms: i64,
}

fn hold_from_row(r: &AnyRow) -> Result<LegalHold, StoreError> {
    Ok(LegalHold {
        person_id: parsed(r, "person_id")?,
        email: text(r, "email")?,
        reason: text(r, "reason")?,
        actor: text(r, "actor")?,
        since_ms: int(r, "since_ms")?,
    })
}

impl Store {
    /// The tenant's legal holds, by email.
    pub async fn legal_holds(&self, tenant: TenantId) -> Result<Vec<LegalHold>, StoreError> {
        let rows = sqlx::query(
            "SELECT person_id, email, reason, actor, since_ms FROM legal_holds WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(hold_from_row).collect()
    }
}

impl GuardTx {
    /// The tenant's legal holds, as this transaction sees them.
    pub async fn legal_holds(&mut self) -> Result<Vec<LegalHold>, StoreError> {
        let rows = sqlx::query(
            "SELECT person_id, email, reason, actor, since_ms FROM legal_holds WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(hold_from_row).collect()
    }

    /// Places a hold; `false` (and nothing written) when the person is on hold already.
    pub async fn place_legal_hold(&mut self, hold: &LegalHold) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO legal_holds (tenant_id, person_id, email, reason, actor, since_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, person_id) DO NOTHING",
        )
        .bind(self.tenant.to_string())
        .bind(hold.person_id.to_string())
        .bind(&hold.email)
        .bind(&hold.reason)
        .bind(&hold.actor)
        .bind(hold.since_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lifts a person's hold; the hold it lifted, if there was one.
    pub async fn lift_legal_hold(&mut self, person: PersonId) -> Result<Option<LegalHold>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM legal_holds WHERE tenant_id = $1 AND person_id = $2 \
             RETURNING person_id, email, reason, actor, since_ms",
        )
        .bind(self.tenant.to_string())
        .bind(person.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    /// Dismisses the person's losses still waiting in the queue (pending or failed, not claimed
    /// by a worker now): they were queued before the hold. Returns the operations dismissed.
    pub async fn dismiss_queued_losses(
        &mut self,
        person: PersonId,
        now_ms: i64,
    ) -> Result<Vec<OperationId>, StoreError> {
        let rows = sqlx::query(
            "UPDATE operations SET status = 'dismissed', lease_owner = NULL, lease_until_ms = NULL, updated_ms = $1 \
             WHERE tenant_id = $2 AND person_id = $3 AND loss = 1 AND status IN ('pending', 'failed') \
             AND (lease_until_ms IS NULL OR lease_until_ms < $1) RETURNING id",
        )
        .bind(now_ms)
        .bind(self.tenant.to_string())
        .bind(person.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| parsed(r, "id")).collect()
    }
}
