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
    /// Why the deprovisioning guard holds losses of this plan: one entry per held plan they
    /// wait in (`held_plans`, same order), for an admin to approve or reject. Everything else
    /// of the plan was applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<tenure_core::guard::GuardTrip>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_plans: Vec<PlanId>,
    /// Losses of this plan that wait in held plans.
    #[serde(skip_serializing_if = "is_zero")]
    pub held_losses: usize,
    /// Losses of this plan an admin rejected: not carried out until their people change in the
    /// source.
    #[serde(skip_serializing_if = "is_zero")]
    pub rejected_losses: usize,
    /// Operations still waiting in the queue for a retry: `tenure serve` carries them on.
    pub queued: usize,
    /// Operations of dry-run apps: planned and logged, not written.
    pub dry_run: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.apps.iter().map(|a| a.failed.len()).sum()
    }

    pub fn succeeded(&self, kind: &str) -> usize {
        self.apps.iter().map(|a| a.succeeded.get(kind).copied().unwrap_or(0)).sum()
    }
}

impl Engine {
    /// Queues the plans and carries them out now: runs the plan's operations through the queue
    /// (so they are retried, paced and recorded as any other), then the app-group changes.
    /// Operations still waiting for a retry when `drain_wait` runs out stay queued for
    /// `tenure serve`.
    pub async fn apply(&self, plans: Vec<AppPlan>) -> Result<ApplyReport, EngineError> {
        let mut report = ApplyReport {
            apps: plans.iter().map(|p| AppOutcome { app: p.app.name.clone(), ..Default::default() }).collect(),
            ..ApplyReport::default()
        };
        let enqueued = self.enqueue(&plans, &[]).await?;
        report.dry_run = enqueued.dry_run;
        report.held_losses = enqueued.held_losses;
        report.rejected_losses = enqueued.suppressed;
        for hold in &enqueued.holds {
            report.held_plans.push(hold.plan);
            report.held.extend(hold.trip.clone());
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
                let Some(op) = without_waiting(op, &enqueued.waiting) else { continue };
                let result = self.apply_group_op(&client, &p.app, &accounts, &op).await.and_then(|missing| {
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

/// The group change without the removals of accounts whose losses wait for an admin: a held
/// person keeps their access, in-app groups included. `None` when nothing is left to do.
pub(crate) fn without_waiting(op: &GroupOp, waiting: &std::collections::HashSet<(AppId, String)>) -> Option<GroupOp> {
    let mut op = op.clone();
    op.remove.retain(|remote| !waiting.contains(&(op.app_id, remote.clone())));
    (op.remote_id.is_none() || !op.add.is_empty() || !op.remove.is_empty()).then_some(op)
}

impl Engine {
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
