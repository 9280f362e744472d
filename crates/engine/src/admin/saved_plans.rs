//! Applying a saved plan exactly as saved (`tenure apply --plan ID`): what an admin reviewed is
//! what is queued, or nothing is. Before it queues anything it plans the same apps again and
//! refuses, naming each difference, if the plan now differs from the saved one in any
//! operation: a delete planned from a state that no longer holds is never queued.
//!
//! An app whose user list may be read in full only so often (Adobe's lock-out,
//! `min_list_interval_s`) cannot be read again inside its interval: it is planned again from the
//! accounts the saved plan read (kept with it, `plan_reads`), and any operation Tenure queued or
//! settled on that app since that read counts as a difference, since the read cannot show it.

use std::collections::HashSet;

use serde_json::json;
use tenure_core::{Plan, PlanId, PlannedOp};
use tenure_store::AuditRecord;

use super::{Admin, Need};
use crate::{AppPlan, ApplyReport, EngineError};

/// The status of a plan saved for review and not applied (`save_preview`).
const SAVED: &str = "preview";
/// While one caller applies it: a second `apply --plan` of the same plan is refused.
const APPLYING: &str = "applying_saved";
/// Once its operations are queued (under the queued plan's own id, named in the audit entry).
const APPLIED: &str = "applied_saved";

impl Admin<'_> {
    /// Queues exactly the operations of saved plan `id`, through the deprovisioning guard, once
    /// the apps it covers still give the same plan; otherwise refuses, naming the differences.
    /// Org admins, or an app admin for a plan of one of their apps (as `apply`).
    pub async fn apply_saved(&self, id: PlanId) -> Result<ApplyReport, EngineError> {
        let stored = self.stored_plan(id).await?;
        if stored.plan.status != SAVED {
            return Err(EngineError::Refused(format!(
                "plan {id} is {}: only a plan saved with `tenure plan --save` and not yet applied can be applied as \
                 saved",
                stored.plan.status
            )));
        }
        let app_filter = stored.plan.summary.get("app_filter").and_then(|v| v.as_str()).map(str::to_owned);
        let covered: Vec<String> = stored
            .plan
            .summary
            .get("apps")
            .and_then(|a| a.as_array())
            .map(|apps| apps.iter().filter_map(|a| a.get("app").and_then(|n| n.as_str()).map(str::to_owned)).collect())
            .unwrap_or_default();
        match &app_filter {
            Some(name) => {
                let app = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppWrite(app))?;
            }
            None => self.actor.require(Need::OrgAdmin)?,
        }

        let reads = self.store().plan_reads(self.tenant(), id).await?;
        let plans: Vec<AppPlan> = self
            .plans_of_from(app_filter.as_deref(), &reads)
            .await?
            .into_iter()
            .filter(|p| covered.contains(&p.app.name))
            .collect();
        let differences = self.differences(id, &stored.ops, &covered, &plans, &reads).await?;
        if !differences.is_empty() {
            return Err(EngineError::Refused(format!(
                "plan {id} was not applied: the apps changed since it was saved ({} difference(s)): {}. Nothing was \
                 queued; save a new plan (`tenure plan --save`) and review it",
                differences.len(),
                differences.join("; ")
            )));
        }

        // Exactly the saved operations: the same as planned now (checked above), in the saved
        // order. In-app group changes were never part of a saved plan; the next reconciliation
        // makes them.
        let mut plans = plans;
        for p in &mut plans {
            p.plan.ops = stored.ops.iter().filter(|o| o.app_id == p.app.id).cloned().collect();
            p.plan.group_ops.clear();
        }
        if !self.store().claim_plan_status(self.tenant(), id, SAVED, APPLYING).await? {
            return Err(EngineError::Refused(format!("plan {id} is already being applied")));
        }
        let report = match self.engine.apply(plans).await {
            Ok(report) => report,
            Err(e) => {
                // It may be applied again. If the error came after the queueing (enqueue is one
                // transaction; the drain after it may fail), its operations are pending, and a
                // second apply queues nothing for their pairs (`hold.rs` defers busy pairs).
                self.store().claim_plan_status(self.tenant(), id, APPLYING, SAVED).await?;
                return Err(e);
            }
        };
        self.store().set_plan_status(self.tenant(), id, APPLIED).await?;
        let subject = id.to_string();
        let detail = json!({
            "saved_plan": id,
            "queued_plan": report.plan_id,
            "ops": stored.ops.len(),
            "apps": covered,
            "held_losses": report.held_losses,
        });
        let entry = AuditRecord {
            actor: &self.actor.name,
            action: "plan.apply_saved",
            subject: &subject,
            person: None,
            app: app_filter.as_deref(),
            detail: &detail,
        };
        let mut tx = self.store().begin().await?;
        tx.audit(self.tenant(), entry).await?;
        tx.commit().await?;
        Ok(ApplyReport { saved_plan: Some(id), ..report })
    }

    /// Each way the apps now differ from saved plan `id`, in words.
    async fn differences(
        &self,
        id: PlanId,
        saved: &[PlannedOp],
        covered: &[String],
        plans: &[AppPlan],
        reads: &[tenure_store::PlanRead],
    ) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        let planned: HashSet<&str> = plans.iter().map(|p| p.app.name.as_str()).collect();
        for name in covered.iter().filter(|n| !planned.contains(n.as_str())) {
            out.push(format!("{name}: no longer planned (removed or disabled)"));
        }
        for p in plans {
            if let Some(reason) = &p.plan.refused {
                out.push(format!("{}: cannot be checked: {reason}", p.app.name));
            }
        }
        // Tenure's own writes since a kept read: that read cannot show them.
        for read in reads {
            let Some(p) = plans.iter().find(|p| p.app.id == read.app_id && p.read_at_ms == read.read_at_ms) else {
                continue;
            };
            for rec in self.store().app_operations_since(self.tenant(), read.app_id, read.read_at_ms).await? {
                out.push(format!(
                    "{}: {} of {} is {} since plan {id} read the app",
                    p.app.name,
                    rec.op.kind.name(),
                    rec.op.person,
                    rec.status.as_str()
                ));
            }
        }
        let then = Plan { ops: saved.to_vec(), ..Plan::default() };
        let now = Plan { ops: plans.iter().flat_map(|p| p.plan.ops.iter().cloned()).collect(), ..Plan::default() };
        let diff = then.diff(&now);
        let app_name = |op: &PlannedOp| {
            plans.iter().find(|p| p.app.id == op.app_id).map_or_else(|| op.app_id.to_string(), |p| p.app.name.clone())
        };
        for op in &diff.added {
            out.push(format!(
                "{}: {} of {} is planned now, not in the saved plan",
                app_name(op),
                op.kind.name(),
                op.person
            ));
        }
        for op in &diff.removed {
            out.push(format!("{}: {} of {} is no longer planned", app_name(op), op.kind.name(), op.person));
        }
        Ok(out)
    }
}
