//! License reclaims: the "still needed?" questions asked of managed accounts unused for their
//! pool's days, and how each was settled. A question is settled once (`state` moves from
//! `asked` exactly once, by a conditional update), which is what makes its links single-use.

use sqlx::any::AnyRow;
use tenure_core::{AppId, PersonId, TenantId};

use crate::row::*;
use crate::{Store, StoreError, Tx};

/// One question: whose account, why it was asked, by when it must be answered, and the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReclaimRecord {
    pub id: String,
    pub app_id: AppId,
    /// The pool's tier (`None`: the whole app's pool).
    pub tier: Option<String>,
    pub remote_id: String,
    pub user_name: String,
    pub person_id: PersonId,
    pub email: String,
    /// Days without activity when asked.
    pub unused_days: i64,
    /// The last activity known when asked, `YYYY-MM-DD`.
    pub last_active: String,
    pub asked_ms: i64,
    pub deadline_ms: i64,
    /// `asked`, `kept`, `released` (by an answer or the deadline), `skipped` (no longer
    /// releasable when the deadline came: a legal hold, the account gone).
    pub state: String,
    pub answered_ms: i64,
    /// Who settled it: an email from a link, `deadline`, or an admin.
    pub answered_by: String,
}

// A constant column list: the only text formatted into these statements.
const COLUMNS: &str = "id, app_id, tier, remote_id, user_name, person_id, email, unused_days, last_active, \
                       asked_ms, deadline_ms, state, answered_ms, answered_by";

fn from_row(r: &AnyRow) -> Result<ReclaimRecord, StoreError> {
    let tier = text(r, "tier")?;
    Ok(ReclaimRecord {
        id: text(r, "id")?,
        app_id: parsed(r, "app_id")?,
        tier: (!tier.is_empty()).then_some(tier),
        remote_id: text(r, "remote_id")?,
        user_name: text(r, "user_name")?,
        person_id: parsed(r, "person_id")?,
        email: text(r, "email")?,
        unused_days: int(r, "unused_days")?,
        last_active: text(r, "last_active")?,
        asked_ms: int(r, "asked_ms")?,
        deadline_ms: int(r, "deadline_ms")?,
        state: text(r, "state")?,
        answered_ms: int(r, "answered_ms")?,
        answered_by: text(r, "answered_by")?,
    })
}

impl Store {
    /// The tenant's reclaims (one app's, or all), newest first.
    pub async fn license_reclaims(
        &self,
        tenant: TenantId,
        app: Option<AppId>,
    ) -> Result<Vec<ReclaimRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM license_reclaims WHERE tenant_id = $1 AND ($2 = '' OR app_id = $2) \
             ORDER BY asked_ms DESC, id"
        )))
        .bind(tenant.to_string())
        .bind(app.map(|a| a.to_string()).unwrap_or_default())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn license_reclaim(&self, tenant: TenantId, id: &str) -> Result<Option<ReclaimRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM license_reclaims WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Open questions whose deadline is at or before `now_ms`.
    pub async fn due_reclaims(&self, tenant: TenantId, now_ms: i64) -> Result<Vec<ReclaimRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM license_reclaims WHERE tenant_id = $1 AND state = 'asked' AND deadline_ms <= $2 \
             ORDER BY deadline_ms, id"
        )))
        .bind(tenant.to_string())
        .bind(now_ms)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}

impl Tx {
    /// Asks; `false` (nothing written) when the account has an open question already.
    pub async fn insert_reclaim(&mut self, tenant: TenantId, r: &ReclaimRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO license_reclaims (id, tenant_id, app_id, tier, remote_id, user_name, person_id, email, \
             unused_days, last_active, asked_ms, deadline_ms, state, answered_ms, answered_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'asked', 0, '') \
             ON CONFLICT (app_id, remote_id) WHERE state = 'asked' DO NOTHING",
        )
        .bind(&r.id)
        .bind(tenant.to_string())
        .bind(r.app_id.to_string())
        .bind(r.tier.clone().unwrap_or_default())
        .bind(&r.remote_id)
        .bind(&r.user_name)
        .bind(r.person_id.to_string())
        .bind(&r.email)
        .bind(r.unused_days)
        .bind(&r.last_active)
        .bind(r.asked_ms)
        .bind(r.deadline_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Settles an open question; `false` when it was settled already (a link used twice, an
    /// answer racing the deadline): only the first settlement counts.
    pub async fn settle_reclaim(
        &mut self,
        tenant: TenantId,
        id: &str,
        state: &str,
        now_ms: i64,
        by: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE license_reclaims SET state = $3, answered_ms = $4, answered_by = $5 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'asked'",
        )
        .bind(tenant.to_string())
        .bind(id)
        .bind(state)
        .bind(now_ms)
        .bind(by)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
