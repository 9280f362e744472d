//! The durable queue: operations waiting to run, claimed by workers with leases.
//!
//! An operation is `pending` until it succeeds, fails for good, or an admin dismisses it. A worker
//! claims a pending operation by writing its name and a lease deadline; should the worker die,
//! the lease runs out and another worker claims it again. Claims never hold a transaction open
//! while the operation runs: the claim commits, the HTTP call happens, the outcome commits.
//!
//! Operations for one (app, person) run one at a time in queue order: only the oldest pending
//! operation of a pair can be claimed, so a link always precedes the update planned after it.
//!
//! This is the one place where the SQL differs by backend: PostgreSQL claims with
//! `FOR UPDATE SKIP LOCKED` so several nodes can share the queue; SQLite has a single writer, so
//! its `UPDATE ... RETURNING` is atomic as it stands.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;
use tenure_core::*;

use crate::ops::{OperationRecord, OperationStatus};
use crate::row::*;
use crate::{Backend, Store, StoreError, now_ms};

/// Something changed and must be planned: a person in every app (`app: None`), every person of
/// an app (`person: None`), one pair, or everything (both `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DirtyMark {
    pub app: Option<AppId>,
    pub person: Option<PersonId>,
    pub marked_ms: i64,
}

/// An attempt's outcome as the queue records it.
#[derive(Debug, Clone, Copy)]
pub struct Settlement<'a> {
    /// `Succeeded`, `Failed`, or `Pending` to run again from `retry_at_ms`.
    pub status: OperationStatus,
    pub error: Option<&'a str>,
    pub remote_id: Option<&'a str>,
    pub retry_at_ms: i64,
    /// The attempt did not count (nothing was sent: the app's request window was spent), so
    /// the operation's attempts go back to what they were before the claim.
    pub uncounted: bool,
}

impl<'a> Settlement<'a> {
    pub fn succeeded(remote_id: Option<&'a str>) -> Self {
        Self { status: OperationStatus::Succeeded, error: None, remote_id, retry_at_ms: 0, uncounted: false }
    }

    pub fn failed(error: &'a str) -> Self {
        Self { status: OperationStatus::Failed, error: Some(error), remote_id: None, retry_at_ms: 0, uncounted: false }
    }

    pub fn retry_at(error: &'a str, retry_at_ms: i64) -> Self {
        Self { status: OperationStatus::Pending, error: Some(error), remote_id: None, retry_at_ms, uncounted: false }
    }

    /// Back in the queue until `retry_at_ms`, the attempt not counted: `why` says what it waits
    /// for.
    pub fn wait_until(why: &'a str, retry_at_ms: i64) -> Self {
        Self { uncounted: true, ..Self::retry_at(why, retry_at_ms) }
    }
}

/// How an app is doing, from its operations' outcomes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppHealth {
    pub app_id: AppId,
    /// Consecutive failures that were the app's fault (not the operation's).
    pub failures: i64,
    pub paused_until_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// One claim of an operation: the worker that made it and the attempt it counted. The pair
/// names the claim, not just the worker: a worker whose lease ran out may claim the same
/// operation again, and its first attempt must then not settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub attempt: i64,
}

/// Which operations to list.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub status: Option<OperationStatus>,
    pub app: Option<AppId>,
    pub limit: Option<i64>,
}

/// Operations by state, for status pages and waiting loops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounts {
    /// Pending and due now (or claimed and running).
    pub ready: i64,
    /// Pending, waiting for a retry time.
    pub waiting: i64,
    pub failed: i64,
}

const OPERATION_COLUMNS: &str = "id, plan_id, seq, body, status, attempts, last_error, remote_id, not_before_ms";

pub(crate) fn operation_from_row(r: &AnyRow) -> Result<OperationRecord, StoreError> {
    let status = text(r, "status")?;
    Ok(OperationRecord {
        id: parsed(r, "id")?,
        plan_id: parsed(r, "plan_id")?,
        seq: int(r, "seq")?,
        op: json(r, "body")?,
        status: OperationStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(format!("operation status {status}")))?,
        attempts: int(r, "attempts")?,
        last_error: opt_text(r, "last_error")?,
        remote_id: opt_text(r, "remote_id")?,
        not_before_ms: int(r, "not_before_ms")?,
    })
}

fn key(id: Option<impl ToString>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

impl Store {
    /// Claims up to `limit` due operations for `owner` until the lease runs out; each claim counts
    /// as an attempt. Only the oldest pending operation of each (app, person) is eligible, and
    /// none of an app that is paused, disabled or quiet for a full read (see `quiet.rs`). `plan`
    /// restricts the claim to one plan's operations.
    pub async fn claim_operations(
        &self,
        tenant: TenantId,
        owner: &str,
        limit: i64,
        lease: Duration,
        plan: Option<PlanId>,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        let now = now_ms();
        let lease_until = now + lease.as_millis() as i64;
        let plan_filter = if plan.is_some() { "AND o.plan_id = $5" } else { "AND $5 = ''" };
        let eligible = format!(
            "SELECT o.id FROM operations o WHERE o.tenant_id = $1 AND o.status = 'pending' AND o.not_before_ms <= $2 \
             AND (o.lease_until_ms IS NULL OR o.lease_until_ms < $2) {plan_filter} \
             AND NOT EXISTS (SELECT 1 FROM operations e WHERE e.app_id = o.app_id AND e.person_id = o.person_id \
                 AND e.status = 'pending' AND e.queue_seq < o.queue_seq) \
             AND NOT EXISTS (SELECT 1 FROM operation_after w JOIN operations e ON e.app_id = w.app_id \
                 AND e.person_id = w.person_id AND e.status = 'pending' AND e.queue_seq < o.queue_seq \
                 WHERE w.operation_id = o.id) \
             AND NOT EXISTS (SELECT 1 FROM app_health h WHERE h.app_id = o.app_id AND h.paused_until_ms > $2) \
             AND NOT EXISTS (SELECT 1 FROM app_quiet q WHERE q.app_id = o.app_id AND q.until_ms > $2) \
             AND NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = o.app_id AND a.disabled <> 0) \
             ORDER BY o.queue_seq LIMIT $6"
        );
        let sql = match self.backend() {
            Backend::Postgres => format!(
                "WITH ready AS ({eligible} FOR UPDATE OF o SKIP LOCKED) \
                 UPDATE operations SET lease_owner = $3, lease_until_ms = $4, attempts = attempts + 1, updated_ms = $2 \
                 FROM ready WHERE operations.id = ready.id RETURNING {}",
                OPERATION_COLUMNS.split(", ").map(|c| format!("operations.{c}")).collect::<Vec<_>>().join(", ")
            ),
            Backend::Sqlite => format!(
                "UPDATE operations SET lease_owner = $3, lease_until_ms = $4, attempts = attempts + 1, updated_ms = $2 \
                 WHERE id IN ({eligible}) RETURNING {OPERATION_COLUMNS}"
            ),
        };
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(now)
            .bind(owner)
            .bind(lease_until)
            .bind(key(plan))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows.iter().map(operation_from_row).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|r| (r.plan_id.to_string(), r.seq));
        Ok(claimed)
    }

    /// Records an operation's end (`Succeeded` or `Failed`), or, with `Pending` and a time, that
    /// it will be tried again then. Only the lease holder's word counts: a worker whose lease ran
    /// out (and whose operation another worker took over) is told so by `false`.
    pub async fn settle_operation(
        &self,
        tenant: TenantId,
        op: OperationId,
        owner: &str,
        outcome: Settlement<'_>,
    ) -> Result<bool, StoreError> {
        let Settlement { status, error, remote_id, retry_at_ms, uncounted } = outcome;
        let done = sqlx::query(
            "UPDATE operations SET status = $1, last_error = $2, remote_id = COALESCE($3, remote_id), \
             not_before_ms = $4, lease_owner = NULL, lease_until_ms = NULL, updated_ms = $5, \
             attempts = CASE WHEN $9 = 1 AND attempts > 0 THEN attempts - 1 ELSE attempts END \
             WHERE id = $6 AND tenant_id = $7 AND lease_owner = $8",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(remote_id)
        .bind(retry_at_ms)
        .bind(now_ms())
        .bind(op.to_string())
        .bind(tenant.to_string())
        .bind(owner)
        .bind(i64::from(uncounted))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends a running operation's lease; `false` when the lease was lost meanwhile.
    pub async fn renew_lease(
        &self,
        tenant: TenantId,
        op: OperationId,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operations SET lease_until_ms = $1 WHERE id = $2 AND tenant_id = $3 AND lease_owner = $4 AND status = 'pending'",
        )
        .bind(now_ms() + lease.as_millis() as i64)
        .bind(op.to_string())
        .bind(tenant.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends the lease of the claim `claim` made; `false` when it was lost meanwhile (the lease
    /// ran out and the operation was claimed again, by another worker or by this one).
    pub async fn renew_claim(
        &self,
        tenant: TenantId,
        op: OperationId,
        claim: Claim<'_>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operations SET lease_until_ms = $1 WHERE id = $2 AND tenant_id = $3 AND lease_owner = $4 \
             AND attempts = $5 AND status = 'pending'",
        )
        .bind(now_ms() + lease.as_millis() as i64)
        .bind(op.to_string())
        .bind(tenant.to_string())
        .bind(claim.owner)
        .bind(claim.attempt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an attempt's outcome only if `claim` still holds the operation, with its audit
    /// entry (if any) in the same transaction: an outcome is recorded with its entry or not at all,
    /// so a settlement that failed can be tried again without writing an entry twice. `false`
    /// when the claim was lost (or the outcome was recorded already).
    pub async fn settle_claim(
        &self,
        tenant: TenantId,
        op: OperationId,
        claim: Claim<'_>,
        outcome: Settlement<'_>,
        audit: Option<&crate::NewAuditEntry<'_>>,
    ) -> Result<bool, StoreError> {
        let Settlement { status, error, remote_id, retry_at_ms, uncounted } = outcome;
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE operations SET status = $1, last_error = $2, remote_id = COALESCE($3, remote_id), \
             not_before_ms = $4, lease_owner = NULL, lease_until_ms = NULL, updated_ms = $5, \
             attempts = CASE WHEN $10 = 1 AND attempts > 0 THEN attempts - 1 ELSE attempts END \
             WHERE id = $6 AND tenant_id = $7 AND lease_owner = $8 AND attempts = $9 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(remote_id)
        .bind(retry_at_ms)
        .bind(now_ms())
        .bind(op.to_string())
        .bind(tenant.to_string())
        .bind(claim.owner)
        .bind(claim.attempt)
        .bind(i64::from(uncounted))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(entry) = audit {
            crate::audit::append_audit_in(&mut tx, tenant, entry).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Operations, newest first.
    pub async fn list_operations(
        &self,
        tenant: TenantId,
        filter: &OperationFilter,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        let sql = format!(
            "SELECT {OPERATION_COLUMNS} FROM operations WHERE tenant_id = $1 AND status <> 'preview' \
             AND ($2 = '' OR status = $2) AND ($3 = '' OR app_id = $3) ORDER BY queue_seq DESC LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(filter.status.map(OperationStatus::as_str).unwrap_or_default())
            .bind(key(filter.app))
            .bind(filter.limit.unwrap_or(1000))
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(operation_from_row).collect()
    }

    /// Puts failed operations (one, or all of them) back in the queue, due now. Returns how many.
    pub async fn retry_failed(&self, tenant: TenantId, op: Option<OperationId>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE operations SET status = 'pending', not_before_ms = 0, updated_ms = $1 \
             WHERE tenant_id = $2 AND status = 'failed' AND ($3 = '' OR id = $3)",
        )
        .bind(now_ms())
        .bind(tenant.to_string())
        .bind(key(op))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Gives up on an operation that failed or still waits: it will not run.
    pub async fn dismiss_operation(&self, tenant: TenantId, op: OperationId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operations SET status = 'dismissed', lease_owner = NULL, lease_until_ms = NULL, updated_ms = $1 \
             WHERE tenant_id = $2 AND id = $3 AND status IN ('failed', 'pending') AND (lease_until_ms IS NULL OR lease_until_ms < $1)",
        )
        .bind(now_ms())
        .bind(tenant.to_string())
        .bind(op.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How much work is queued (all of it, or one plan's).
    pub async fn queue_counts(&self, tenant: TenantId, plan: Option<PlanId>) -> Result<QueueCounts, StoreError> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN status = 'pending' AND not_before_ms <= $3 THEN 1 ELSE 0 END), 0) AS ready, \
               COALESCE(SUM(CASE WHEN status = 'pending' AND not_before_ms > $3 THEN 1 ELSE 0 END), 0) AS waiting, \
               COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed \
             FROM operations WHERE tenant_id = $1 AND ($2 = '' OR plan_id = $2)",
        )
        .bind(tenant.to_string())
        .bind(key(plan))
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueCounts { ready: int(&row, "ready")?, waiting: int(&row, "waiting")?, failed: int(&row, "failed")? })
    }

    /// The (app, person) pairs with an operation still to run: planning them again now would
    /// plan the same work twice.
    pub async fn unfinished_pairs(&self, tenant: TenantId) -> Result<HashSet<(AppId, PersonId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT app_id, person_id FROM operations WHERE tenant_id = $1 AND status = 'pending'",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((parsed(r, "app_id")?, parsed(r, "person_id")?))).collect()
    }

    /// Whether the app has more than `more_than` pending operations (counted up to that many
    /// plus one, so a long queue costs no more than a short one).
    pub async fn app_has_pending(&self, tenant: TenantId, app: AppId, more_than: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM operations WHERE tenant_id = $1 AND app_id = $2 \
             AND status = 'pending' LIMIT $3) AS queued",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(more_than + 1)
        .fetch_one(&self.pool)
        .await?;
        Ok(int(&row, "n")? > more_than)
    }

    /// Marks what changed, to be planned soon. Marking again only refreshes the time.
    pub async fn mark_dirty(&self, tenant: TenantId, marks: &[DirtyMark]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        mark_dirty_in(&mut tx, tenant, marks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The oldest marks, up to `limit`, leaving out pairs with an operation still queued: they are
    /// planned once it has run.
    pub async fn dirty_marks(&self, tenant: TenantId, limit: i64) -> Result<Vec<DirtyMark>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.app_id, d.person_id, d.marked_ms FROM dirty d WHERE d.tenant_id = $1 \
             AND NOT (d.app_id <> '' AND d.person_id <> '' AND EXISTS (SELECT 1 FROM operations o \
                 WHERE o.app_id = d.app_id AND o.person_id = d.person_id AND o.status = 'pending')) \
             ORDER BY d.marked_ms LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let app = text(r, "app_id")?;
                let person = text(r, "person_id")?;
                Ok(DirtyMark {
                    app: optional_id(&app)?,
                    person: optional_id(&person)?,
                    marked_ms: int(r, "marked_ms")?,
                })
            })
            .collect()
    }

    /// Stores planned operations in the queue and clears the marks they answer, in one
    /// transaction: a change is either still marked or its operations are queued, whatever
    /// happens to the process. A mark refreshed since it was read stays.
    pub async fn enqueue(
        &self,
        tenant: TenantId,
        ops: &[PlannedOp],
        summary: &serde_json::Value,
        answered: &[DirtyMark],
    ) -> Result<Option<PlanId>, StoreError> {
        let mut tx = self.write_tx().await?;
        let plan = if ops.is_empty() {
            None
        } else {
            let plan = crate::ops::NewPlan {
                ops,
                releases: None,
                summary,
                plan_status: "pending",
                op_status: OperationStatus::Pending,
                hold_scope: None,
                now_ms: now_ms(),
            };
            Some(self.insert_plan_in(&mut tx, tenant, &plan).await?)
        };
        clear_dirty_in(&mut tx, tenant, answered).await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Clears marks that needed no operation.
    pub async fn clear_dirty(&self, tenant: TenantId, answered: &[DirtyMark]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        clear_dirty_in(&mut tx, tenant, answered).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a failure that is the app's (unreachable, credentials refused) and pauses the app
    /// once `pause_after` such failures follow one another, for `pause` doubled on each further
    /// failure up to `max_pause`. Returns the pause deadline when the app is paused.
    pub async fn record_app_failure(
        &self,
        tenant: TenantId,
        app: AppId,
        error: &str,
        pause_after: i64,
        pause: Duration,
        max_pause: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO app_health (app_id, tenant_id, failures, paused_until_ms, last_error, updated_ms) \
             VALUES ($1, $2, 1, NULL, $3, $4) \
             ON CONFLICT (app_id) DO UPDATE SET failures = app_health.failures + 1, last_error = $3, updated_ms = $4 \
             RETURNING failures",
        )
        .bind(app.to_string())
        .bind(tenant.to_string())
        .bind(error)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let failures = int(&row, "failures")?;
        if failures < pause_after {
            return Ok(None);
        }
        let doublings = (failures - pause_after).min(16) as u32;
        let wait = pause.saturating_mul(1 << doublings).min(max_pause);
        let until = now + wait.as_millis() as i64;
        sqlx::query("UPDATE app_health SET paused_until_ms = $1 WHERE app_id = $2 AND tenant_id = $3")
            .bind(until)
            .bind(app.to_string())
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        Ok(Some(until))
    }

    /// One success lifts a pause. Returns whether the app had been failing.
    pub async fn record_app_success(&self, tenant: TenantId, app: AppId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM app_health WHERE app_id = $1 AND tenant_id = $2")
            .bind(app.to_string())
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn app_health(&self, tenant: TenantId) -> Result<Vec<AppHealth>, StoreError> {
        let rows =
            sqlx::query("SELECT app_id, failures, paused_until_ms, last_error FROM app_health WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .fetch_all(self.read_pool())
                .await?;
        rows.iter()
            .map(|r| {
                Ok(AppHealth {
                    app_id: parsed(r, "app_id")?,
                    failures: int(r, "failures")?,
                    paused_until_ms: opt_int(r, "paused_until_ms")?,
                    last_error: opt_text(r, "last_error")?,
                })
            })
            .collect()
    }
}

/// A mark's id column: empty for "every".
fn optional_id<T: std::str::FromStr>(s: &str) -> Result<Option<T>, StoreError> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| StoreError::corrupt(format!("dirty mark id {s}")))
}

pub(crate) async fn mark_dirty_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    marks: &[DirtyMark],
) -> Result<(), StoreError> {
    insert_marks(tx, tenant, marks, "DO UPDATE SET marked_ms = excluded.marked_ms").await
}

/// Marks that are not there yet; a mark already there keeps its time.
pub(crate) async fn mark_absent_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    marks: &[DirtyMark],
) -> Result<(), StoreError> {
    insert_marks(tx, tenant, marks, "DO NOTHING").await
}

/// `on_conflict` is one of the two constant clauses above, never outside input.
async fn insert_marks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    marks: &[DirtyMark],
    on_conflict: &'static str,
) -> Result<(), StoreError> {
    let t = tenant.to_string();
    let sql = format!(
        "INSERT INTO dirty (tenant_id, app_id, person_id, marked_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, app_id, person_id) {on_conflict}"
    );
    for mark in marks {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(&t)
            .bind(key(mark.app))
            .bind(key(mark.person))
            .bind(mark.marked_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn clear_dirty_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    answered: &[DirtyMark],
) -> Result<(), StoreError> {
    let t = tenant.to_string();
    // Before the marks: every transaction that takes both takes the tenant's row first (a
    // directory write's trigger does the same), so two of them cannot wait on each other.
    if answered.iter().any(|m| m.app.is_none()) {
        sqlx::query("UPDATE tenants SET marks_answered = marks_answered + 1 WHERE id = $1")
            .bind(&t)
            .execute(&mut **tx)
            .await?;
    }
    for mark in answered {
        sqlx::query("DELETE FROM dirty WHERE tenant_id = $1 AND app_id = $2 AND person_id = $3 AND marked_ms <= $4")
            .bind(&t)
            .bind(key(mark.app))
            .bind(key(mark.person))
            .bind(mark.marked_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl DirtyMark {
    pub fn person(person: PersonId) -> Self {
        Self { app: None, person: Some(person), marked_ms: now_ms() }
    }

    pub fn app(app: AppId) -> Self {
        Self { app: Some(app), person: None, marked_ms: now_ms() }
    }

    pub fn pair(app: AppId, person: PersonId) -> Self {
        Self { app: Some(app), person: Some(person), marked_ms: now_ms() }
    }

    pub fn everything() -> Self {
        Self { app: None, person: None, marked_ms: now_ms() }
    }
}
