//! Carrying a plan out: the plan goes into the durable queue (after the deprovisioning guard),
//! and the queue's workers (`worker.rs`) carry it out, in-app group changes included (queued
//! after the creates of the members they add, `group_ops.rs`).

use std::collections::BTreeMap;

use serde::Serialize;
use tenure_core::*;
use tenure_store::OperationStatus;

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
    /// The plan queued (its operations and audit entries carry this id).
    pub plan_id: Option<PlanId>,
    /// The saved plan this apply carried out exactly (`tenure apply --plan ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_plan: Option<PlanId>,
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
    /// Apps whose plan was refused, so nothing of theirs was applied: each with why and, for an
    /// app whose full list may be read only so often (Adobe's lock-out, `min_list_interval_s`),
    /// when the next read is allowed. Applying never reads such a list sooner.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<AppRefusal>,
}

/// An app left out of an apply, and why.
#[derive(Debug, Clone, Serialize)]
pub struct AppRefusal {
    pub app: String,
    pub reason: String,
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
    /// Queues the plans and carries them out now: runs the plan's operations, in-app group
    /// changes included, through the queue (so they are retried, paced and recorded as any other).
    /// Operations still waiting for a retry when `drain_wait` runs out stay queued for
    /// `tenure serve`.
    pub async fn apply(&self, plans: Vec<AppPlan>) -> Result<ApplyReport, EngineError> {
        let mut report = ApplyReport {
            apps: plans.iter().map(|p| AppOutcome { app: p.app.name.clone(), ..Default::default() }).collect(),
            ..ApplyReport::default()
        };
        report.refused = plans
            .iter()
            .filter_map(|p| p.plan.refused.as_ref().map(|r| AppRefusal { app: p.app.name.clone(), reason: r.clone() }))
            .collect();
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
