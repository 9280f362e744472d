//! The deprovisioning guard's memory: the losses counted in a window, the holds in force and the
//! losses they hold. The decision itself is `tenure_core::guard::decide`; this module only reads
//! its inputs and writes its outcome, inside one transaction ([`GuardTx`]) that first takes the
//! tenant's guard lock, so two writers (a node's propagation and an admin's `apply`, two nodes)
//! cannot both spend the same budget.

use std::collections::{HashMap, HashSet};

use tenure_core::guard::{GuardLimits, HeldLoss, HeldState, Hold, HoldScope, Release, Window};
use tenure_core::*;

use crate::audit::{NewAuditEntry, append_audit_in};
use crate::ops::{NewPlan, OperationStatus, PlanRecord};
use crate::queue::{DirtyMark, clear_dirty_in, mark_dirty_in};
use crate::row::*;
use crate::{Store, StoreError};

/// A held plan: a hold in force (`held`), or decided (`approved`, `rejected`), with the losses
/// its rows still name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HoldRecord {
    pub plan: PlanRecord,
    pub scope: HoldScope,
    pub losses: usize,
}

/// A loss a held plan holds, as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldLossRecord {
    pub op: PlannedOp,
    pub held_ms: i64,
}

fn scope_column(scope: HoldScope) -> String {
    match scope {
        HoldScope::App(app) => app.to_string(),
        HoldScope::Tenant => "*".to_owned(),
    }
}

fn scope_from(raw: &str) -> Result<HoldScope, StoreError> {
    if raw == "*" {
        return Ok(HoldScope::Tenant);
    }
    raw.parse().map(HoldScope::App).map_err(|_| StoreError::corrupt(format!("hold scope {raw:?}")))
}

fn state_of(plan_status: &str) -> Option<HeldState> {
    match plan_status {
        "held" => Some(HeldState::Held),
        "approved" => Some(HeldState::Approved),
        "rejected" => Some(HeldState::Rejected),
        _ => None,
    }
}

impl Store {
    /// Starts the guard's transaction for `tenant`: its first statement writes the tenant's guard
    /// row, which holds SQLite's write lock, or the row's lock on PostgreSQL, until commit.
    pub async fn begin_guarded(&self, tenant: TenantId) -> Result<GuardTx, StoreError> {
        self.begin_guarded_with(tenant, None).await
    }

    /// The guard's transaction made under a duty's `fence` (a workflow step's queueing): the
    /// fence is checked first, before the guard row (a duty's lease row is always the first row
    /// a fenced transaction locks), and the transaction is refused under an old term.
    pub async fn begin_guarded_fenced(&self, tenant: TenantId, fence: &crate::Fence) -> Result<GuardTx, StoreError> {
        self.begin_guarded_with(tenant, Some(fence)).await
    }

    async fn begin_guarded_with(&self, tenant: TenantId, fence: Option<&crate::Fence>) -> Result<GuardTx, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(fence) = fence {
            crate::nodes::check_fence_in(&mut tx, fence).await?;
        }
        sqlx::query(
            "INSERT INTO guard_state (tenant_id, version) VALUES ($1, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET version = guard_state.version + 1",
        )
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await?;
        // Then the tenant's row, before anything else: on PostgreSQL every transaction that
        // writes the directory (an import, a SCIM push, a trigger) takes that row before the
        // audit chain's, and a guarded transaction writes audit entries (a join of a license
        // line, a legal hold's withheld losses) before clearing the marks it answered, which
        // takes the tenant's row too. Taken in the other order, an import and a propagation
        // pass waited on each other (PostgreSQL's deadlock detector failed the import). `NO KEY
        // UPDATE`, not `UPDATE`: every audit row's foreign key to its tenant takes a key-share
        // lock on this row, which `FOR UPDATE` blocks, so a writer holding the audit chain and
        // checking that key would wait for us while we wait for the chain.
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
                .bind(tenant.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        }
        Ok(GuardTx { store: self.clone(), tx, tenant })
    }

    /// The tenant-wide guard's limits; `None` for the defaults.
    pub async fn tenant_guard_limits(&self, tenant: TenantId) -> Result<Option<GuardLimits>, StoreError> {
        let row = sqlx::query("SELECT limits FROM guard_state WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row.map(|r| opt_text(&r, "limits")).transpose()?.flatten() {
            Some(raw) => {
                serde_json::from_str(&raw).map(Some).map_err(|e| StoreError::corrupt(format!("guard limits: {e}")))
            }
            None => Ok(None),
        }
    }

    /// Held plans, newest first: holds in force and decided ones that still name losses.
    pub async fn holds(&self, tenant: TenantId, limit: i64) -> Result<Vec<HoldRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.created_ms, p.status, p.summary, p.hold_scope, \
                    (SELECT COUNT(*) FROM held_losses h WHERE h.tenant_id = p.tenant_id AND h.plan_id = p.id) AS losses \
               FROM plans p WHERE p.tenant_id = $1 AND p.hold_scope IS NOT NULL \
              ORDER BY p.created_ms DESC, p.id LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HoldRecord {
                    plan: PlanRecord {
                        id: parsed(r, "id")?,
                        created_ms: int(r, "created_ms")?,
                        status: text(r, "status")?,
                        summary: json(r, "summary")?,
                    },
                    scope: scope_from(&text(r, "hold_scope")?)?,
                    losses: usize::try_from(int(r, "losses")?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The losses a held plan names now.
    pub async fn held_losses_of(&self, tenant: TenantId, plan: PlanId) -> Result<Vec<HeldLossRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT body, held_ms FROM held_losses WHERE tenant_id = $1 AND plan_id = $2 ORDER BY held_ms, person_id",
        )
        .bind(tenant.to_string())
        .bind(plan.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(|r| Ok(HeldLossRecord { op: json(r, "body")?, held_ms: int(r, "held_ms")? })).collect()
    }
}

/// One guarded write: read the window and the holds, write what the guard decided, commit.
/// Dropped without [`GuardTx::commit`], nothing of it happened.
pub struct GuardTx {
    pub(crate) store: Store,
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) tenant: TenantId,
}

impl GuardTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub async fn tenant_limits(&mut self) -> Result<Option<GuardLimits>, StoreError> {
        let row = sqlx::query("SELECT limits FROM guard_state WHERE tenant_id = $1")
            .bind(self.tenant.to_string())
            .fetch_one(&mut *self.tx)
            .await?;
        opt_text(&row, "limits")?
            .map(|raw| serde_json::from_str(&raw).map_err(|e| StoreError::corrupt(format!("guard limits: {e}"))))
            .transpose()
    }

    pub async fn set_tenant_limits(&mut self, limits: Option<&GuardLimits>) -> Result<(), StoreError> {
        sqlx::query("UPDATE guard_state SET limits = $1 WHERE tenant_id = $2")
            .bind(limits.map(to_json))
            .bind(self.tenant.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The counted losses since `since_ms` of each app (each its own window start) and of the
    /// tenant: people who lost access without an approval, carried out, queued, or failed (an
    /// admin may retry a failed one).
    pub async fn windows(
        &mut self,
        apps: &[(AppId, i64)],
        tenant_since_ms: i64,
    ) -> Result<(HashMap<AppId, Window>, Window), StoreError> {
        let earliest = apps.iter().map(|(_, since)| *since).chain([tenant_since_ms]).min().unwrap_or(tenant_since_ms);
        let rows = sqlx::query(
            "SELECT app_id, person_id, created_ms FROM operations \
              WHERE tenant_id = $1 AND loss = 1 AND created_ms >= $2 \
                AND status IN ('pending', 'succeeded', 'failed') \
                AND (guard_release IS NULL OR guard_release = 'admin')",
        )
        .bind(self.tenant.to_string())
        .bind(earliest)
        .fetch_all(&mut *self.tx)
        .await?;
        let since: HashMap<AppId, i64> = apps.iter().copied().collect();
        let mut per_app: HashMap<AppId, Window> = apps.iter().map(|(app, _)| (*app, Window::default())).collect();
        let mut tenant = Window::default();
        let count = |window: &mut Window, person: PersonId, at: i64| {
            window.recent.insert(person);
            window.oldest_ms = Some(window.oldest_ms.map_or(at, |o| o.min(at)));
        };
        for r in &rows {
            let (app, person, at): (AppId, PersonId, i64) =
                (parsed(r, "app_id")?, parsed(r, "person_id")?, int(r, "created_ms")?);
            if at >= tenant_since_ms {
                count(&mut tenant, person, at);
            }
            if let (Some(window), Some(start)) = (per_app.get_mut(&app), since.get(&app))
                && at >= *start
            {
                count(window, person, at);
            }
        }
        Ok((per_app, tenant))
    }

    /// Holds in force: held plans waiting for a decision.
    pub async fn holds(&mut self) -> Result<Vec<Hold>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, hold_scope FROM plans WHERE tenant_id = $1 AND status = 'held' AND hold_scope IS NOT NULL \
             ORDER BY created_ms, id",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| Ok(Hold { plan: parsed(r, "id")?, scope: scope_from(&text(r, "hold_scope")?)? })).collect()
    }

    /// Every held, approved or rejected loss of the tenant, with its plan's decision.
    pub async fn held_losses(&mut self) -> Result<Vec<HeldLoss>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.plan_id, h.body, h.fingerprint, p.status FROM held_losses h JOIN plans p ON p.id = h.plan_id \
              WHERE h.tenant_id = $1",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            // A row of a plan in any other state is a leftover; it holds nothing.
            let Some(state) = state_of(&text(r, "status")?) else { continue };
            out.push(HeldLoss {
                plan: parsed(r, "plan_id")?,
                state,
                op: json(r, "body")?,
                fingerprint: text(r, "fingerprint")?,
            });
        }
        Ok(out)
    }

    /// Pairs with an operation still queued, or settled since `since_ms` (when the plan at hand
    /// read the app): planning them again, or from a reading older than their last operation,
    /// would queue the same work twice.
    pub async fn busy_pairs(&mut self, since_ms: i64) -> Result<HashSet<(AppId, PersonId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT app_id, person_id FROM operations WHERE tenant_id = $1 AND status = 'pending' \
             UNION SELECT DISTINCT app_id, person_id FROM operations WHERE tenant_id = $1 AND updated_ms >= $2 \
               AND status IN ('succeeded', 'failed', 'dismissed')",
        )
        .bind(self.tenant.to_string())
        .bind(since_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| Ok((parsed(r, "app_id")?, parsed(r, "person_id")?))).collect()
    }

    pub async fn plan_record(&mut self, plan: PlanId) -> Result<PlanRecord, StoreError> {
        let row = sqlx::query("SELECT id, created_ms, status, summary FROM plans WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.to_string())
            .bind(plan.to_string())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("plan {plan}")))?;
        Ok(PlanRecord {
            id: parsed(&row, "id")?,
            created_ms: int(&row, "created_ms")?,
            status: text(&row, "status")?,
            summary: json(&row, "summary")?,
        })
    }

    /// The losses a plan's rows name.
    pub async fn held_ops_of(&mut self, plan: PlanId) -> Result<Vec<PlannedOp>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM held_losses WHERE tenant_id = $1 AND plan_id = $2 ORDER BY held_ms, person_id",
        )
        .bind(self.tenant.to_string())
        .bind(plan.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| json(r, "body")).collect()
    }

    /// Starts a hold: a held plan over `scope`, with no losses yet.
    pub async fn start_hold(
        &mut self,
        scope: HoldScope,
        summary: &serde_json::Value,
        now_ms: i64,
    ) -> Result<PlanId, StoreError> {
        let scope = scope_column(scope);
        let plan = NewPlan {
            ops: &[],
            releases: None,
            summary,
            plan_status: "held",
            op_status: OperationStatus::Preview,
            hold_scope: Some(&scope),
            now_ms,
        };
        self.store.insert_plan_in(&mut self.tx, self.tenant, &plan).await
    }

    /// Puts a loss in a held plan, or keeps its newest form there.
    pub async fn hold_loss(
        &mut self,
        plan: PlanId,
        op: &PlannedOp,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO held_losses (tenant_id, app_id, person_id, plan_id, body, fingerprint, held_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, app_id, person_id) DO UPDATE SET plan_id = excluded.plan_id, \
                body = excluded.body, fingerprint = excluded.fingerprint",
        )
        .bind(self.tenant.to_string())
        .bind(op.app_id.to_string())
        .bind(op.person_id.to_string())
        .bind(plan.to_string())
        .bind(to_json(op))
        .bind(fingerprint)
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A loss leaves its held plan.
    pub async fn drop_held(&mut self, app: AppId, person: PersonId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM held_losses WHERE tenant_id = $1 AND app_id = $2 AND person_id = $3")
            .bind(self.tenant.to_string())
            .bind(app.to_string())
            .bind(person.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_plan_status(&mut self, plan: PlanId, status: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE plans SET status = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(status)
            .bind(plan.to_string())
            .bind(self.tenant.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_plan_summary(&mut self, plan: PlanId, summary: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE plans SET summary = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(to_json(summary))
            .bind(plan.to_string())
            .bind(self.tenant.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Approved plans whose every loss was carried out (or is no longer due): their approval is
    /// used up. Returns them, now `approved_applied`.
    pub async fn finish_approvals(&mut self) -> Result<Vec<PlanId>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id FROM plans p WHERE p.tenant_id = $1 AND p.status = 'approved' AND p.hold_scope IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM held_losses h WHERE h.tenant_id = p.tenant_id AND h.plan_id = p.id)",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        let done: Vec<PlanId> = rows.iter().map(|r| parsed(r, "id")).collect::<Result<_, _>>()?;
        for plan in &done {
            self.set_plan_status(*plan, "approved_applied").await?;
        }
        Ok(done)
    }

    /// Queues operations as one plan; `releases[i]` says why the i-th, if a loss, may go.
    pub async fn queue(
        &mut self,
        ops: &[PlannedOp],
        releases: &[Option<Release>],
        summary: &serde_json::Value,
        now_ms: i64,
    ) -> Result<Option<PlanId>, StoreError> {
        if ops.is_empty() {
            return Ok(None);
        }
        let plan = NewPlan {
            ops,
            releases: Some(releases),
            summary,
            plan_status: "pending",
            op_status: OperationStatus::Pending,
            hold_scope: None,
            now_ms,
        };
        Ok(Some(self.store.insert_plan_in(&mut self.tx, self.tenant, &plan).await?))
    }

    pub async fn clear_marks(&mut self, answered: &[DirtyMark]) -> Result<(), StoreError> {
        clear_dirty_in(&mut self.tx, self.tenant, answered).await
    }

    pub async fn mark(&mut self, marks: &[DirtyMark]) -> Result<(), StoreError> {
        mark_dirty_in(&mut self.tx, self.tenant, marks).await
    }

    pub async fn audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        append_audit_in(&mut self.tx, self.tenant, entry).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
