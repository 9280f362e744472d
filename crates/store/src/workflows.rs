//! Lifecycle workflows' rows: the tenant's timezone, workflows, their runs and steps, and the
//! facts change triggers compare with.
//!
//! Two keys carry the guarantees: a run is unique per (workflow, person, occasion), so firing
//! twice starts one run; a step row is unique per (run, index) and is inserted when the step is
//! claimed, so a step runs at most once. A run's cursor moves only by compare-and-set. Reads go
//! to the read pool (on SQLite the WAL readers): none of them needs to be fresher than the last
//! commit, since every decision is re-checked by the write that acts on it.

use sqlx::any::AnyRow;
use tenure_core::{PersonId, RunId, TenantId, WorkflowId};

use crate::row::*;
use crate::{Store, StoreError, Tx};

/// A workflow as stored: `definition` is the engine's JSON of its trigger and steps.
#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub name: String,
    pub definition: serde_json::Value,
    /// YYYY-MM-DD, in the tenant's timezone.
    pub created_day: String,
    pub created_ms: i64,
}

/// One run of a workflow for one person.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: RunId,
    pub workflow_id: WorkflowId,
    pub workflow: String,
    pub person_id: PersonId,
    pub person: String,
    pub manager: Option<String>,
    /// What fired it: `leave-date 2026-03-10`, `department Sales -> Support`, ...
    pub occasion: String,
    pub definition: serde_json::Value,
    /// `running` (its cursor's step runs once `not_before_ms` passes), `approval` (waiting for
    /// an approval), `done`, `failed`, `cancelled` (its workflow was removed).
    pub status: String,
    pub cursor: i64,
    pub not_before_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A step of a run, as far as it went.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub run_id: RunId,
    pub index: i64,
    pub kind: String,
    /// `running` (claimed), `waiting` (an approval, or a `deprovision` step's queued
    /// operations: see `detail`), `done`, `failed`, `interrupted` (claimed by a process that
    /// stopped before recording its end: not run again).
    pub status: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub approver: Option<String>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub reminded_ms: Option<i64>,
    /// What a step that waits for queued work recorded when it queued it (the engine's JSON:
    /// the plan and what each app was to do).
    pub detail: Option<serde_json::Value>,
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub workflow: &'a WorkflowRecord,
    pub person_id: PersonId,
    pub person: &'a str,
    pub manager: Option<&'a str>,
    pub occasion: &'a str,
}

/// How a step ended, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct StepEnd<'a> {
    pub status: &'a str,
    pub result: Option<&'a str>,
    pub error: Option<&'a str>,
    pub approver: Option<&'a str>,
}

const RUN_COLUMNS: &str = "id, workflow_id, workflow, person_id, person, manager, occasion, definition, status, \
                           cursor, not_before_ms, created_ms, updated_ms";
const STEP_COLUMNS: &str =
    "run_id, idx, kind, status, result, error, approver, started_ms, finished_ms, reminded_ms, detail";

impl Store {
    /// The tenant's timezone (an IANA name), when one was set.
    pub async fn timezone(&self, tenant: TenantId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT timezone FROM tenant_settings WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.read_pool())
            .await?;
        row.as_ref().map(|r| text(r, "timezone")).transpose()
    }

    pub async fn workflows(&self, tenant: TenantId) -> Result<Vec<WorkflowRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, definition, created_day, created_ms FROM workflows WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowRecord {
                    id: parsed(r, "id")?,
                    name: text(r, "name")?,
                    definition: json(r, "definition")?,
                    created_day: text(r, "created_day")?,
                    created_ms: int(r, "created_ms")?,
                })
            })
            .collect()
    }

    /// Runs whose next step may run: running and due at `now_ms`, oldest first.
    pub async fn due_runs(&self, tenant: TenantId, now_ms: i64, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 AND status = 'running' \
             AND not_before_ms <= $2 ORDER BY not_before_ms, created_ms LIMIT $3"
        )))
        .bind(tenant.to_string())
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs in `status`, oldest first.
    pub async fn runs_in(&self, tenant: TenantId, status: &str) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 AND status = $2 ORDER BY created_ms"
        )))
        .bind(tenant.to_string())
        .bind(status)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs, newest first; only one person's (by email) with `person`.
    pub async fn runs(&self, tenant: TenantId, person: Option<&str>, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 AND ($2 = '' OR LOWER(person) = LOWER($2)) \
             ORDER BY created_ms DESC, id LIMIT $3"
        )))
        .bind(tenant.to_string())
        .bind(person.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn run(&self, tenant: TenantId, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The steps a run has reached, in order.
    pub async fn run_steps(&self, tenant: TenantId, run: RunId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STEP_COLUMNS} FROM workflow_steps WHERE tenant_id = $1 AND run_id = $2 ORDER BY idx"
        )))
        .bind(tenant.to_string())
        .bind(run.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    /// Which (workflow, person, occasion) have a run already.
    pub async fn run_keys(
        &self,
        tenant: TenantId,
    ) -> Result<std::collections::HashSet<(WorkflowId, PersonId, String)>, StoreError> {
        let rows = sqlx::query("SELECT workflow_id, person_id, occasion FROM workflow_runs WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(|r| Ok((parsed(r, "workflow_id")?, parsed(r, "person_id")?, text(r, "occasion")?))).collect()
    }

    /// The facts change triggers compare with, by person.
    pub async fn workflow_facts(
        &self,
        tenant: TenantId,
    ) -> Result<std::collections::HashMap<PersonId, serde_json::Value>, StoreError> {
        let rows = sqlx::query("SELECT person_id, facts FROM workflow_facts WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(|r| Ok((parsed(r, "person_id")?, json(r, "facts")?))).collect()
    }
}

impl Tx {
    pub async fn set_timezone(&mut self, tenant: TenantId, timezone: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, timezone, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET timezone = excluded.timezone, updated_ms = excluded.updated_ms",
        )
        .bind(tenant.to_string())
        .bind(timezone)
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A new workflow; a name in use is a conflict.
    pub async fn insert_workflow(
        &mut self,
        tenant: TenantId,
        name: &str,
        definition: &serde_json::Value,
        created_day: &str,
        now_ms: i64,
    ) -> Result<WorkflowId, StoreError> {
        let id = WorkflowId::new();
        let done = sqlx::query(
            "INSERT INTO workflows (id, tenant_id, name, definition, created_day, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(name)
        .bind(to_json(definition))
        .bind(created_day)
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("workflow {name}")));
        }
        Ok(id)
    }

    /// Removes a workflow and cancels its unfinished runs; how many were cancelled, `None`
    /// when there was no such workflow.
    pub async fn delete_workflow(
        &mut self,
        tenant: TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let id: Option<String> = sqlx::query("SELECT id FROM workflows WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| text(&r, "id"))
            .transpose()?;
        let Some(id) = id else { return Ok(None) };
        let cancelled = sqlx::query(
            "UPDATE workflow_runs SET status = 'cancelled', updated_ms = $1 WHERE tenant_id = $2 AND workflow_id = $3 \
             AND status IN ('running', 'approval')",
        )
        .bind(now_ms)
        .bind(tenant.to_string())
        .bind(&id)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM workflows WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(&id)
            .execute(&mut *self.tx)
            .await?;
        Ok(Some(cancelled.rows_affected()))
    }

    /// Starts a run, due at once; `None` when the workflow already ran for this person and
    /// occasion.
    pub async fn start_run(
        &mut self,
        tenant: TenantId,
        run: &NewRun<'_>,
        now_ms: i64,
    ) -> Result<Option<RunId>, StoreError> {
        let id = RunId::new();
        let done = sqlx::query(
            "INSERT INTO workflow_runs (id, tenant_id, workflow_id, workflow, person_id, person, manager, occasion, \
             definition, status, cursor, not_before_ms, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', 0, $10, $10, $10) \
             ON CONFLICT (tenant_id, workflow_id, person_id, occasion) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(run.workflow.id.to_string())
        .bind(&run.workflow.name)
        .bind(run.person_id.to_string())
        .bind(run.person)
        .bind(run.manager)
        .bind(run.occasion)
        .bind(to_json(&run.workflow.definition))
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok((done.rows_affected() == 1).then_some(id))
    }

    /// Claims step `index` of a run, recorded in `status` (`running` for a step that acts
    /// outside the store, or its final status for one whose effect commits with the claim).
    /// False when the step was claimed before: it is not run again.
    pub async fn claim_step(
        &mut self,
        tenant: TenantId,
        run: RunId,
        index: i64,
        kind: &str,
        end: StepEnd<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let finished = (!matches!(end.status, "running" | "waiting")).then_some(now_ms);
        let done = sqlx::query(
            "INSERT INTO workflow_steps (run_id, tenant_id, idx, kind, status, result, error, approver, started_ms, \
             finished_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_id, idx) DO NOTHING",
        )
        .bind(run.to_string())
        .bind(tenant.to_string())
        .bind(index)
        .bind(kind)
        .bind(end.status)
        .bind(end.result)
        .bind(end.error)
        .bind(end.approver)
        .bind(now_ms)
        .bind(finished)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the end of a claimed (`running`) or waiting step; false when it had ended.
    pub async fn finish_step(
        &mut self,
        tenant: TenantId,
        run: RunId,
        index: i64,
        end: StepEnd<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_steps SET status = $1, result = $2, error = $3, approver = $4, finished_ms = $5 \
             WHERE tenant_id = $6 AND run_id = $7 AND idx = $8 AND status IN ('running', 'waiting')",
        )
        .bind(end.status)
        .bind(end.result)
        .bind(end.error)
        .bind(end.approver)
        .bind(now_ms)
        .bind(tenant.to_string())
        .bind(run.to_string())
        .bind(index)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a run from (`from_status`, `from_cursor`) to its next state; false when it has
    /// moved since it was read (another node, an approval), and then nothing is changed.
    #[allow(clippy::too_many_arguments)]
    pub async fn advance_run(
        &mut self,
        tenant: TenantId,
        run: RunId,
        from_status: &str,
        from_cursor: i64,
        status: &str,
        cursor: i64,
        not_before_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_runs SET status = $1, cursor = $2, not_before_ms = $3, updated_ms = $4 \
             WHERE tenant_id = $5 AND id = $6 AND status = $7 AND cursor = $8",
        )
        .bind(status)
        .bind(cursor)
        .bind(not_before_ms)
        .bind(now_ms)
        .bind(tenant.to_string())
        .bind(run.to_string())
        .bind(from_status)
        .bind(from_cursor)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A claimed (`running`) step now waits for work it queued: `waiting`, with what it queued
    /// (`detail`) and its progress in words (`result`). False when it is not claimed and running.
    pub async fn wait_step(
        &mut self,
        tenant: TenantId,
        run: RunId,
        index: i64,
        result: &str,
        detail: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_steps SET status = 'waiting', result = $1, detail = $2 \
             WHERE tenant_id = $3 AND run_id = $4 AND idx = $5 AND status = 'running'",
        )
        .bind(result)
        .bind(to_json(detail))
        .bind(tenant.to_string())
        .bind(run.to_string())
        .bind(index)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A waiting step's progress in words ("waiting for 2 operations"); false when it no longer
    /// waits.
    pub async fn step_progress(
        &mut self,
        tenant: TenantId,
        run: RunId,
        index: i64,
        result: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_steps SET result = $1 WHERE tenant_id = $2 AND run_id = $3 AND idx = $4 \
             AND status = 'waiting'",
        )
        .bind(result)
        .bind(tenant.to_string())
        .bind(run.to_string())
        .bind(index)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that a waiting approval was reminded; false when it was already.
    pub async fn set_reminded(
        &mut self,
        tenant: TenantId,
        run: RunId,
        index: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_steps SET reminded_ms = $1 WHERE tenant_id = $2 AND run_id = $3 AND idx = $4 \
             AND status = 'waiting' AND reminded_ms IS NULL",
        )
        .bind(now_ms)
        .bind(tenant.to_string())
        .bind(run.to_string())
        .bind(index)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_workflow_facts(
        &mut self,
        tenant: TenantId,
        person: PersonId,
        facts: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workflow_facts (tenant_id, person_id, facts, seen_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, person_id) DO UPDATE SET facts = excluded.facts, seen_ms = excluded.seen_ms",
        )
        .bind(tenant.to_string())
        .bind(person.to_string())
        .bind(to_json(facts))
        .bind(now_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

fn run_from_row(r: &AnyRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: parsed(r, "id")?,
        workflow_id: parsed(r, "workflow_id")?,
        workflow: text(r, "workflow")?,
        person_id: parsed(r, "person_id")?,
        person: text(r, "person")?,
        manager: opt_text(r, "manager")?,
        occasion: text(r, "occasion")?,
        definition: json(r, "definition")?,
        status: text(r, "status")?,
        cursor: int(r, "cursor")?,
        not_before_ms: int(r, "not_before_ms")?,
        created_ms: int(r, "created_ms")?,
        updated_ms: int(r, "updated_ms")?,
    })
}

fn step_from_row(r: &AnyRow) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        run_id: parsed(r, "run_id")?,
        index: int(r, "idx")?,
        kind: text(r, "kind")?,
        status: text(r, "status")?,
        result: opt_text(r, "result")?,
        error: opt_text(r, "error")?,
        approver: opt_text(r, "approver")?,
        started_ms: int(r, "started_ms")?,
        finished_ms: opt_int(r, "finished_ms")?,
        reminded_ms: opt_int(r, "reminded_ms")?,
        detail: opt_text(r, "detail")?
            .map(|raw| serde_json::from_str(&raw).map_err(|e| StoreError::corrupt(format!("column detail: {e}"))))
            .transpose()?,
    })
}
