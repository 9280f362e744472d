//! Lifecycle workflows and the tenant's timezone: defining, listing and removing workflows,
//! their runs, and approving a run that waits for an approval.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_core::RunId;
use tenure_store::{AuditRecord, RunRecord, StepEnd, StepRecord};
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::EngineError;
use crate::workflows::model::{self, Action, Approver, Definition};
use crate::workflows::tz;

/// A workflow as asked: its trigger (`leave-date`, `start-date` with `offset_days`, negative
/// for before; `department-change`, `org-unit-change`, `manager-change`, `offboarding`,
/// `onboarding`) and its steps in order, each spelled as on the command line
/// (`notify:manager,org-admins`, `deprovision`, `task:APP:TEXT`, `wait:2`,
/// `approval:manager:3`, `remove-groups:github` or `remove-groups:all`,
/// `reassign-license:jira:manager` or `reassign-license:jira:EMAIL`, `reassign-role:jira:manager`,
/// optionally ending in `+continue`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub name: String,
    pub trigger: String,
    #[serde(default)]
    pub offset_days: Option<i64>,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowView {
    pub name: String,
    /// As asked: `leave-date`, ...
    pub trigger: String,
    pub offset_days: Option<i64>,
    /// In words: `leave-date 3 days before`.
    pub when: String,
    pub steps: Vec<String>,
    /// The tenant's day it was made: date triggers fire for dates from then on.
    pub since: String,
    pub created_ms: i64,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunStepView {
    pub index: i64,
    /// As defined: `approval:manager:2`.
    pub step: String,
    /// `pending` (not reached), `running`, `waiting` (an approval, or a `deprovision` step
    /// whose queued operations are not all settled: `result` says `waiting for N operations`),
    /// `done`, `failed`,
    /// `interrupted` (its process stopped mid-step; not run again).
    pub status: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub approver: Option<String>,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub workflow: String,
    pub person: String,
    pub manager: Option<String>,
    /// What fired it: `leave-date 2026-03-10`, `department Sales -> Support on 2026-03-02`.
    pub occasion: String,
    /// `running`, `approval`, `done`, `failed`, `cancelled`.
    pub status: String,
    /// While `running`: not before this (a wait).
    pub not_before_ms: i64,
    pub steps: Vec<RunStepView>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The tenant's settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantSettings {
    /// IANA name: dates act on the day as it is there (default UTC).
    pub timezone: String,
}

/// A change of the tenant's settings (absent fields unchanged).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default)]
    pub timezone: Option<String>,
}

fn view(w: &tenure_store::WorkflowRecord) -> Result<WorkflowView, EngineError> {
    let def: Definition = serde_json::from_value(w.definition.clone())
        .map_err(|e| EngineError::Internal(format!("workflow {}: stored definition unreadable ({e})", w.name)))?;
    let (trigger, offset_days) = match &def.trigger {
        model::Trigger::StartDate { offset_days } => ("start-date".to_owned(), Some(*offset_days)),
        model::Trigger::LeaveDate { offset_days } => ("leave-date".to_owned(), Some(*offset_days)),
        other => (other.to_string(), None),
    };
    Ok(WorkflowView {
        name: w.name.clone(),
        trigger,
        offset_days,
        when: def.trigger.to_string(),
        steps: def.steps.iter().map(|s| s.to_string()).collect(),
        since: w.created_day.clone(),
        created_ms: w.created_ms,
    })
}

fn run_view(run: &RunRecord, steps: &[StepRecord]) -> RunView {
    let defined: Vec<String> = serde_json::from_value::<Definition>(run.definition.clone())
        .map(|d| d.steps.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let steps = defined
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let rec = steps.iter().find(|s| s.index == i as i64);
            RunStepView {
                index: i as i64,
                step: step.clone(),
                status: rec.map_or_else(|| "pending".to_owned(), |r| r.status.clone()),
                result: rec.and_then(|r| r.result.clone()),
                error: rec.and_then(|r| r.error.clone()),
                approver: rec.and_then(|r| r.approver.clone()),
                started_ms: rec.map(|r| r.started_ms),
                finished_ms: rec.and_then(|r| r.finished_ms),
            }
        })
        .collect();
    RunView {
        id: run.id.to_string(),
        workflow: run.workflow.clone(),
        person: run.person.clone(),
        manager: run.manager.clone(),
        occasion: run.occasion.clone(),
        status: run.status.clone(),
        not_before_ms: run.not_before_ms,
        steps,
        created_ms: run.created_ms,
        updated_ms: run.updated_ms,
    }
}

impl Admin<'_> {
    fn audit_record<'a>(&'a self, action: &'a str, subject: &'a str, detail: &'a serde_json::Value) -> AuditRecord<'a> {
        AuditRecord { actor: &self.actor.name, action, subject, person: None, app: None, detail }
    }

    pub async fn tenant_settings(&self) -> Result<TenantSettings, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(TenantSettings { timezone: self.engine.timezone_name().await? })
    }

    /// Changes the tenant's settings: a timezone must be a known IANA name.
    pub async fn set_tenant_settings(&self, change: SettingsChange) -> Result<TenantSettings, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let Some(timezone) = change.timezone else { return self.tenant_settings().await };
        let timezone = timezone.trim().to_owned();
        tz::parse(&timezone)?;
        let before = self.engine.timezone_name().await?;
        let detail = json!({"timezone": {"from": before, "to": timezone}});
        let mut tx = self.store().begin().await?;
        tx.set_timezone(self.tenant(), &timezone, self.engine.now_ms()).await?;
        tx.audit(self.tenant(), self.audit_record("tenant.settings", "timezone", &detail)).await?;
        tx.commit().await?;
        self.engine.forget_timezone();
        Ok(TenantSettings { timezone })
    }

    /// Defines a workflow. Every part is checked first (apps its tasks name must exist).
    pub async fn add_workflow(&self, spec: WorkflowSpec) -> Result<WorkflowView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let name = spec.name.trim();
        model::check_name(name)?;
        let def = Definition::parse(&spec.trigger, spec.offset_days, &spec.steps)?;
        for (i, step) in def.steps.iter().enumerate() {
            let named = match &step.action {
                Action::Task { app, .. }
                | Action::RemoveGroups { app: Some(app) }
                | Action::ReassignLicense { app, .. }
                | Action::ReassignRole { app, .. } => Some(app),
                _ => None,
            };
            if let Some(app) = named {
                match self.store().app_by_name(self.tenant(), app).await {
                    Ok(_) => {}
                    Err(tenure_store::StoreError::NotFound(_)) => {
                        return Err(EngineError::field(format!("steps[{i}]"), format!("app {app:?} not found")));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let now = self.engine.now_ms();
        let today = self.engine.local_day(now).await?;
        let definition = serde_json::to_value(&def).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut tx = self.store().begin().await?;
        tx.insert_workflow(self.tenant(), name, &definition, &today.to_string(), now).await?;
        let detail = json!({"definition": definition});
        tx.audit(self.tenant(), self.audit_record("workflow.add", name, &detail)).await?;
        tx.commit().await?;
        let stored = self.store().workflows(self.tenant()).await?;
        let record = stored
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| EngineError::Internal(format!("workflow {name} not found after its creation")))?;
        view(record)
    }

    pub async fn workflows(&self) -> Result<Vec<WorkflowView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        self.store().workflows(self.tenant()).await?.iter().map(view).collect()
    }

    /// Removes a workflow; its unfinished runs are cancelled (their steps done so far stand).
    pub async fn remove_workflow(&self, name: &str) -> Result<u64, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let mut tx = self.store().begin().await?;
        let Some(cancelled) = tx.delete_workflow(self.tenant(), name.trim(), self.engine.now_ms()).await? else {
            return Err(EngineError::NotFound(format!("workflow {name}")));
        };
        let detail = json!({"cancelled_runs": cancelled});
        tx.audit(self.tenant(), self.audit_record("workflow.remove", name, &detail)).await?;
        tx.commit().await?;
        Ok(cancelled)
    }

    /// Runs, newest first, with every step: what it did, what failed and why, who approved.
    pub async fn workflow_runs(&self, person: Option<&str>, limit: i64) -> Result<Vec<RunView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        if !(1..=1000).contains(&limit) {
            return Err(EngineError::field("limit", format!("{limit}: 1 to 1000")));
        }
        let mut out = Vec::new();
        for run in self.store().runs(self.tenant(), person.map(str::trim), limit).await? {
            let steps = self.store().run_steps(self.tenant(), run.id).await?;
            out.push(run_view(&run, &steps));
        }
        Ok(out)
    }

    /// Approves the approval a run waits for: by an org admin, or — for `approval:manager` —
    /// by the person's manager (an admin of Tenure signed in with that email). The run goes on
    /// at the next workflow pass.
    pub async fn approve_run(&self, id: &str) -> Result<RunView, EngineError> {
        self.decide_run(id, Decision::Approve).await
    }

    /// Rejects the approval a run waits for (the same people may reject as may approve): the
    /// step ends `rejected` with the reason, the run ends `rejected`, and no later step runs.
    pub async fn reject_run(&self, id: &str, reason: &str) -> Result<RunView, EngineError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(EngineError::field("reason", "say why the run is rejected (1 to 500 characters)"));
        }
        self.decide_run(id, Decision::Reject(reason)).await
    }

    async fn decide_run(&self, id: &str, decision: Decision<'_>) -> Result<RunView, EngineError> {
        let run_id: RunId =
            id.trim().parse().map_err(|_| EngineError::field("run", format!("{id:?} is not a run id")))?;
        let run = self
            .store()
            .run(self.tenant(), run_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("workflow run {id}")))?;
        let def: Definition = serde_json::from_value(run.definition.clone())
            .map_err(|e| EngineError::Internal(format!("run {id}: definition unreadable ({e})")))?;
        let by = match def.steps.get(run.cursor as usize).map(|s| &s.action) {
            Some(Action::Approval { by, .. }) if run.status == "approval" => *by,
            _ => return Err(EngineError::Refused(format!("run {id} is {}, not waiting for an approval", run.status))),
        };
        let is_manager = run.manager.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&self.actor.name));
        if !(by == Approver::Manager && is_manager) {
            self.actor.require(Need::OrgAdmin).map_err(|_| {
                let (who, _) = crate::workflows::approvers(&run, by);
                EngineError::Forbidden(format!("{} ({}): this approval is for {who}", self.actor.name, self.actor.role))
            })?;
        }
        let now = self.engine.now_ms();
        let last = run.cursor as usize + 1 >= def.steps.len();
        let (step_status, result, status, cursor, action) = match decision {
            Decision::Approve if last => ("done", "approved".to_owned(), "done", run.cursor + 1, "workflow.approved"),
            Decision::Approve => ("done", "approved".to_owned(), "running", run.cursor + 1, "workflow.approved"),
            Decision::Reject(reason) => {
                ("rejected", format!("rejected: {reason}"), "rejected", run.cursor, "workflow.rejected")
            }
        };
        let mut tx = self.store().begin().await?;
        let ended =
            StepEnd { status: step_status, result: Some(&result), error: None, approver: Some(&self.actor.name) };
        let decided = tx.finish_step(self.tenant(), run.id, run.cursor, ended, now).await?
            && tx.advance_run(self.tenant(), run.id, "approval", run.cursor, status, cursor, now, now).await?;
        if !decided {
            return Err(EngineError::Refused(format!("run {id} was approved, rejected or moved meanwhile")));
        }
        let mut detail = json!({"run": run.id, "workflow": run.workflow, "step": run.cursor});
        if let Decision::Reject(reason) = decision {
            detail["reason"] = json!(reason);
        }
        let record = AuditRecord {
            actor: &self.actor.name,
            action,
            subject: &run.id.to_string(),
            person: Some(&run.person),
            app: None,
            detail: &detail,
        };
        tx.audit(self.tenant(), record).await?;
        tx.commit().await?;
        let run = self.store().run(self.tenant(), run_id).await?.unwrap_or(run);
        let steps = self.store().run_steps(self.tenant(), run.id).await?;
        Ok(run_view(&run, &steps))
    }
}

/// What an approver decided.
#[derive(Clone, Copy)]
enum Decision<'a> {
    Approve,
    Reject(&'a str),
}
