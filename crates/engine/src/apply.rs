//! Carrying a plan out: the plan goes into the durable queue (after the deprovisioning guard),
//! and the queue's workers (`worker.rs`) carry it out. Group memberships follow once the
//! accounts exist.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tenure_connectors::Connector;
use tenure_core::*;
use tenure_store::{OperationStatus, StoredAccount};

use crate::{AppPlan, Engine, EngineError};

#[derive(Debug, Clone, Serialize)]
pub struct OpFailure {
    pub person: String,
    pub op: String,
    pub reason: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AppOutcome {
    pub app: String,
    /// Operation kind → how many succeeded.
    pub succeeded: BTreeMap<String, usize>,
    pub failed: Vec<OpFailure>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub plan_id: Option<PlanId>,
    pub apps: Vec<AppOutcome>,
    /// Why the deprovisioning guard held the plan; when not empty, nothing was applied and
    /// `plan_id` names the held plan for an admin to approve or reject.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<tenure_core::guard::GuardTrip>,
    /// Operations still waiting in the queue for a retry: `tenure serve` carries them on.
    pub queued: usize,
    /// Operations of dry-run apps: planned and logged, not written.
    pub dry_run: usize,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.apps.iter().map(|a| a.failed.len()).sum()
    }

    pub fn succeeded(&self, kind: &str) -> usize {
        self.apps.iter().map(|a| a.succeeded.get(kind).copied().unwrap_or(0)).sum()
    }
}

/// What became of plans handed to the queue.
#[derive(Debug, Clone, Default)]
pub struct Enqueued {
    /// The queued plan, when any operation was queued.
    pub plan_id: Option<PlanId>,
    /// The plan the guard held instead, with why.
    pub held: Option<(PlanId, Vec<tenure_core::guard::GuardTrip>)>,
    /// Operations of dry-run apps: logged and audited, never queued.
    pub dry_run: usize,
}

impl Engine {
    /// Hands plans to the durable queue, clearing `answered` dirty marks in the same transaction.
    /// The deprovisioning guard is checked first: a plan that trips it is held whole (nothing of
    /// it is queued) for an admin to approve, unless an approval already covers it. Dry-run
    /// apps' operations are logged and audited instead of queued.
    pub async fn enqueue(
        &self,
        plans: &[AppPlan],
        answered: &[tenure_store::DirtyMark],
    ) -> Result<Enqueued, EngineError> {
        let mut outcome = Enqueued::default();
        let mut ops: Vec<PlannedOp> = Vec::new();
        for p in plans.iter().filter(|p| p.app.settings.dry_run) {
            outcome.dry_run += p.plan.ops.len();
            for op in &p.plan.ops {
                tracing::info!(app = %p.app.name, person = %op.person, op = op.kind.name(), reason = %op.reason, "dry run: would apply");
            }
            if !p.plan.ops.is_empty() {
                let detail = serde_json::json!({"app": p.app.name, "ops": p.plan.ops});
                self.store.append_audit(self.tenant, "tenure", "plan.dry_run", &p.app.name, &detail).await?;
            }
        }
        let live: Vec<&AppPlan> = plans.iter().filter(|p| !p.app.settings.dry_run).collect();
        ops.extend(live.iter().flat_map(|p| p.plan.ops.iter().cloned()));
        let summary = serde_json::json!({
            "apps": live.iter().filter(|p| !p.plan.ops.is_empty()).map(|p| serde_json::json!({"app": p.app.name, "ops": p.plan.ops.len()})).collect::<Vec<_>>(),
        });
        let mut trips: Vec<_> =
            live.iter().filter_map(|p| tenure_core::guard::check(&p.app, &p.plan, p.managed)).collect();
        if live.iter().any(|p| p.plan.ops.iter().any(|o| o.kind.is_deprovision())) {
            let managed_people = self.store.managed_people(self.tenant).await?;
            let all = live.iter().map(|p| &p.plan);
            trips.extend(tenure_core::guard::check_global(all, managed_people, self.global_guard));
        }
        if !trips.is_empty() && !self.approved(plans, &trips).await? {
            let summary = serde_json::json!({"apps": summary["apps"], "held": trips});
            let held = self.store.save_held(self.tenant, &ops, &summary).await?;
            self.store.clear_dirty(self.tenant, answered).await?;
            self.store.append_audit(self.tenant, "tenure", "plan.held", &held.to_string(), &summary).await?;
            for trip in &trips {
                tracing::warn!(plan = %held, "deprovisioning guard: {trip}; the plan awaits approval");
            }
            outcome.held = Some((held, trips));
            return Ok(outcome);
        }
        outcome.plan_id = self.store.enqueue(self.tenant, &ops, &summary, answered).await?;
        if let Some(plan) = outcome.plan_id {
            self.store.append_audit(self.tenant, "tenure", "plan.apply", &plan.to_string(), &summary).await?;
        }
        Ok(outcome)
    }

    /// Queues the plans and carries them out now: runs the plan's operations through the queue
    /// (so they are retried, paced and recorded as any other), then the app-group changes.
    /// Operations still waiting for a retry when `drain_wait` runs out stay queued for
    /// `tenure serve`.
    pub async fn apply(&self, plans: Vec<AppPlan>) -> Result<ApplyReport, EngineError> {
        let mut report = ApplyReport {
            plan_id: None,
            apps: plans.iter().map(|p| AppOutcome { app: p.app.name.clone(), ..Default::default() }).collect(),
            held: Vec::new(),
            queued: 0,
            dry_run: 0,
        };
        let enqueued = self.enqueue(&plans, &[]).await?;
        report.dry_run = enqueued.dry_run;
        if let Some((held, trips)) = enqueued.held {
            report.plan_id = Some(held);
            report.held = trips;
            return Ok(report);
        }
        report.plan_id = enqueued.plan_id;
        if let Some(plan_id) = enqueued.plan_id {
            let executor = crate::Executor::new(self.clone(), self.worker_options.clone());
            executor.drain(Some(plan_id), self.drain_wait).await?;
            for rec in self.store.plan_operations(self.tenant, plan_id).await? {
                let Some(index) = plans.iter().position(|p| p.app.id == rec.op.app_id) else { continue };
                let outcome = &mut report.apps[index];
                match rec.status {
                    OperationStatus::Succeeded => {
                        *outcome.succeeded.entry(rec.op.kind.name().to_owned()).or_default() += 1
                    }
                    OperationStatus::Failed => outcome.failed.push(OpFailure {
                        person: rec.op.person.clone(),
                        op: rec.op.kind.name().to_owned(),
                        reason: rec.op.reason.to_string(),
                        error: rec.last_error.unwrap_or_default(),
                    }),
                    _ => report.queued += 1,
                }
            }
        }
        // Group memberships last: the accounts a create made exist by now.
        let records: HashMap<AppId, tenure_store::AppRecord> =
            self.store.list_apps(self.tenant).await?.into_iter().map(|r| (r.app.id, r)).collect();
        for (index, p) in plans.iter().enumerate() {
            if p.plan.group_ops.is_empty() || p.app.settings.dry_run {
                continue;
            }
            let record = records.get(&p.app.id).ok_or_else(|| EngineError::NotFound(format!("app {}", p.app.name)))?;
            let client = self.client(record)?;
            let accounts = self.store.list_accounts(self.tenant, p.app.id).await?;
            for op in &p.plan.group_ops {
                let result = self.apply_group_op(&client, &p.app, &accounts, op).await.and_then(|missing| {
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("not added, their account was not created: {}", missing.join(", ")))
                    }
                });
                let outcome = &mut report.apps[index];
                match result {
                    Ok(()) => *outcome.succeeded.entry("group_members".to_owned()).or_default() += 1,
                    Err(error) => outcome.failed.push(OpFailure {
                        person: format!("group {}", op.group),
                        op: "group_members".to_owned(),
                        reason: "assignment parameters name the group".to_owned(),
                        error,
                    }),
                }
            }
        }
        if let Some(plan_id) = report.plan_id {
            let status = match (report.failed(), report.queued) {
                (0, 0) => "applied",
                (_, 0) => "applied_with_failures",
                _ => "applying",
            };
            self.store.set_plan_status(self.tenant, plan_id, status).await?;
        }
        Ok(report)
    }
}

impl Engine {
    /// An admin's decision on a plan the guard held: `approved` lets the next apply carry out
    /// the losses it lists (once); `rejected` closes it. Only a held plan can be decided.
    pub async fn decide_held(&self, plan: PlanId, approve: bool, actor: &str) -> Result<&'static str, EngineError> {
        let record = self.store.plan_record(self.tenant, plan).await?;
        if record.status != "held" {
            return Err(EngineError::NotHeld { plan: plan.to_string(), status: record.status });
        }
        let status = if approve { "approved" } else { "rejected" };
        self.store.set_plan_status(self.tenant, plan, status).await?;
        if approve {
            // A running `tenure serve` plans again and finds the approval covering its losses.
            self.store.mark_dirty(self.tenant, &[tenure_store::DirtyMark::everything()]).await?;
        }
        self.store
            .append_audit(self.tenant, actor, &format!("plan.{status}"), &plan.to_string(), &record.summary)
            .await?;
        Ok(status)
    }

    /// Whether an admin approved a held plan that covers every deprovisioning this plan would do
    /// in the apps the guard trips on. An approval is used once: the plan is then marked
    /// `approved_applied`. Approving means "these losses", not "anything from now on".
    async fn approved(&self, plans: &[AppPlan], trips: &[tenure_core::guard::GuardTrip]) -> Result<bool, EngineError> {
        let tripped: std::collections::HashSet<AppId> = trips.iter().map(|t| t.app_id).collect();
        // The global guard is about every app's losses together: its approval must cover them all.
        let global = trips.iter().any(|t| t.global);
        let losses: Vec<&PlannedOp> = plans
            .iter()
            .flat_map(|p| p.plan.ops.iter())
            .filter(|o| (global || tripped.contains(&o.app_id)) && o.kind.is_deprovision())
            .collect();
        for record in self.store.list_plans(self.tenant, 50).await? {
            if record.status != "approved" {
                continue;
            }
            let approved: Vec<PlannedOp> =
                self.store.plan_operations(self.tenant, record.id).await?.into_iter().map(|r| r.op).collect();
            let covered = losses.iter().all(|l| {
                approved.iter().any(|a| a.app_id == l.app_id && a.person_id == l.person_id && a.kind == l.kind)
            });
            if covered {
                self.store.set_plan_status(self.tenant, record.id, "approved_applied").await?;
                self.store
                    .append_audit(
                        self.tenant,
                        "tenure",
                        "plan.approval_used",
                        &record.id.to_string(),
                        &serde_json::json!({}),
                    )
                    .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Creates the group if needed and changes its members; new accounts are found by person.
    /// Returns the people left out because their account does not exist yet.
    pub(crate) async fn apply_group_op(
        &self,
        client: &std::sync::Arc<dyn Connector>,
        app: &App,
        accounts: &[StoredAccount],
        op: &GroupOp,
    ) -> Result<Vec<String>, String> {
        let mut add = Vec::with_capacity(op.add.len());
        let mut missing = Vec::new();
        for member in &op.add {
            match member {
                MemberRef::Account { remote_id } => add.push(remote_id.clone()),
                MemberRef::NewAccountOf { person_id, person } => {
                    match accounts.iter().find(|a| a.link.person_id == *person_id) {
                        Some(a) => add.push(a.link.remote_id.clone()),
                        None => missing.push(person.clone()),
                    }
                }
            }
        }
        let result = match &op.remote_id {
            Some(id) => client.change_group_members(id, &add, &op.remove).await,
            None => client.create_group(&op.group, &add).await.map(drop),
        };
        let detail = serde_json::json!({
            "app": app.name, "group": op.group, "add": add, "remove": op.remove,
            "error": result.as_ref().err().map(ToString::to_string),
        });
        self.store
            .append_audit(self.tenant, "tenure", "group.members", &op.group, &detail)
            .await
            .map_err(|e| format!("done in the app, but not recorded: {e}"))?;
        result.map_err(|e| e.to_string())?;
        Ok(missing)
    }
}
