//! Plans as they were applied, and the outcome of each operation.

use tenure_core::guard::Release;
use tenure_core::*;

use crate::row::*;
use crate::{Store, StoreError, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    /// Part of a plan saved for review (`tenure plan --save`): never executed.
    Preview,
    Pending,
    Succeeded,
    Failed,
    /// An admin gave up on it: it will not run.
    Dismissed,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dismissed => "dismissed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "preview" => Some(Self::Preview),
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            "dismissed" => Some(Self::Dismissed),
            _ => None,
        }
    }
}

/// A plan to write: its operations, and for each loss why the guard let it through.
pub(crate) struct NewPlan<'a> {
    pub ops: &'a [PlannedOp],
    /// Per operation (by index), the guard's release of a loss; `None` for the whole plan, or for
    /// an operation that takes nothing away.
    pub releases: Option<&'a [Option<Release>]>,
    pub summary: &'a serde_json::Value,
    pub plan_status: &'a str,
    pub op_status: OperationStatus,
    /// For a held plan: the app id it holds, or `*` for the tenant.
    pub hold_scope: Option<&'a str>,
    pub now_ms: i64,
}

/// How a release is stored: counted losses within the limits stay NULL.
pub(crate) fn release_column(release: Release) -> Option<String> {
    match release {
        Release::Budget => None,
        Release::Approved(plan) => Some(format!("approved:{plan}")),
        Release::Admin => Some("admin".to_owned()),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanRecord {
    pub id: PlanId,
    pub created_ms: i64,
    pub status: String,
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OperationRecord {
    pub id: OperationId,
    pub plan_id: PlanId,
    pub seq: i64,
    pub op: PlannedOp,
    pub status: OperationStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub remote_id: Option<String>,
    /// When a pending operation may run (again); 0 for "now".
    pub not_before_ms: i64,
}

impl Store {
    /// Stores a plan and all of its operations as pending, in one transaction.
    pub async fn save_plan(
        &self,
        tenant: TenantId,
        ops: &[PlannedOp],
        summary: &serde_json::Value,
    ) -> Result<PlanId, StoreError> {
        self.insert_plan(tenant, ops, summary, "pending", OperationStatus::Pending).await
    }

    /// Stores a plan for review and later comparison: its operations are never executed.
    pub async fn save_preview(
        &self,
        tenant: TenantId,
        ops: &[PlannedOp],
        summary: &serde_json::Value,
    ) -> Result<PlanId, StoreError> {
        self.insert_plan(tenant, ops, summary, "preview", OperationStatus::Preview).await
    }

    async fn insert_plan(
        &self,
        tenant: TenantId,
        ops: &[PlannedOp],
        summary: &serde_json::Value,
        plan_status: &str,
        status: OperationStatus,
    ) -> Result<PlanId, StoreError> {
        let mut tx = self.write_tx().await?;
        let plan = NewPlan {
            ops,
            releases: None,
            summary,
            plan_status,
            op_status: status,
            hold_scope: None,
            now_ms: now_ms(),
        };
        let id = self.insert_plan_in(&mut tx, tenant, &plan).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Writes a plan and its operations inside the caller's transaction. Queue order: on
    /// PostgreSQL a sequence (safe with several writers); SQLite has one writer, so the next
    /// numbers after the highest in use are ours until the transaction ends.
    pub(crate) async fn insert_plan_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: TenantId,
        plan: &NewPlan<'_>,
    ) -> Result<PlanId, StoreError> {
        let id = PlanId::new();
        let t = tenant.to_string();
        let now = plan.now_ms;
        sqlx::query(
            "INSERT INTO plans (id, tenant_id, created_ms, status, summary, hold_scope) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(&t)
        .bind(now)
        .bind(plan.plan_status)
        .bind(to_json(plan.summary))
        .bind(plan.hold_scope)
        .execute(&mut **tx)
        .await?;
        let (sql, mut next_seq) = match self.backend() {
            crate::Backend::Postgres => (
                "INSERT INTO operations (id, tenant_id, plan_id, seq, app_id, person_id, kind, body, status, attempts, created_ms, updated_ms, loss, guard_release) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10, $11, $12)",
                None,
            ),
            crate::Backend::Sqlite => {
                let row = sqlx::query("SELECT COALESCE(MAX(queue_seq), 0) AS top FROM operations")
                    .fetch_one(&mut **tx)
                    .await?;
                (
                    "INSERT INTO operations (id, tenant_id, plan_id, seq, app_id, person_id, kind, body, status, attempts, created_ms, updated_ms, loss, guard_release, queue_seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10, $11, $12, $13)",
                    Some(int(&row, "top")?),
                )
            }
        };
        for (seq, op) in plan.ops.iter().enumerate() {
            let release = plan.releases.and_then(|r| r.get(seq)).copied().flatten();
            let op_id = OperationId::new();
            let mut query = sqlx::query(sql)
                .bind(op_id.to_string())
                .bind(&t)
                .bind(id.to_string())
                .bind(seq as i64)
                .bind(op.app_id.to_string())
                .bind(op.person_id.to_string())
                .bind(op.kind.name())
                .bind(to_json(op))
                .bind(plan.op_status.as_str())
                .bind(now)
                .bind(i64::from(op.kind.is_deprovision()))
                .bind(release.and_then(release_column));
            if let Some(top) = next_seq.as_mut() {
                *top += 1;
                query = query.bind(*top);
            }
            query.execute(&mut **tx).await?;
            if plan.op_status == OperationStatus::Pending {
                insert_waits_in(tx, tenant, op_id, op).await?;
            }
        }
        Ok(id)
    }

    pub async fn set_plan_status(&self, tenant: TenantId, plan: PlanId, status: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE plans SET status = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(status)
            .bind(plan.to_string())
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn plan_record(&self, tenant: TenantId, plan: PlanId) -> Result<PlanRecord, StoreError> {
        let row = sqlx::query("SELECT id, created_ms, status, summary FROM plans WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(plan.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("plan {plan}")))?;
        Ok(PlanRecord {
            id: parsed(&row, "id")?,
            created_ms: int(&row, "created_ms")?,
            status: text(&row, "status")?,
            summary: json(&row, "summary")?,
        })
    }

    pub async fn list_plans(&self, tenant: TenantId, limit: i64) -> Result<Vec<PlanRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, created_ms, status, summary FROM plans WHERE tenant_id = $1 ORDER BY created_ms DESC, id LIMIT $2")
            .bind(tenant.to_string())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PlanRecord {
                    id: parsed(r, "id")?,
                    created_ms: int(r, "created_ms")?,
                    status: text(r, "status")?,
                    summary: json(r, "summary")?,
                })
            })
            .collect()
    }

    pub async fn plan_operations(&self, tenant: TenantId, plan: PlanId) -> Result<Vec<OperationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, plan_id, seq, body, status, attempts, last_error, remote_id, not_before_ms FROM operations \
             WHERE tenant_id = $1 AND plan_id = $2 ORDER BY seq",
        )
        .bind(tenant.to_string())
        .bind(plan.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::queue::operation_from_row).collect()
    }
}

/// A group change runs after the operations queued before it for the people it adds (their
/// creates): the claim reads these rows (`queue.rs`).
async fn insert_waits_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    op_id: OperationId,
    op: &PlannedOp,
) -> Result<(), StoreError> {
    let OpKind::GroupMembers { add, .. } = &op.kind else { return Ok(()) };
    let mut seen = std::collections::HashSet::new();
    for member in add {
        let MemberRef::NewAccountOf { person_id, .. } = member else { continue };
        if !seen.insert(*person_id) {
            continue;
        }
        sqlx::query("INSERT INTO operation_after (operation_id, tenant_id, app_id, person_id) VALUES ($1, $2, $3, $4)")
            .bind(op_id.to_string())
            .bind(tenant.to_string())
            .bind(op.app_id.to_string())
            .bind(person_id.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
