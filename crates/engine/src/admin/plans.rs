//! Plans by role: compute, save, list, show, diff, apply, approve and reject held plans,
//! explain. An app admin works with the plans of their apps only.

use std::collections::HashSet;

use serde_json::json;
use tenure_core::{Plan, PlanId, PlannedOp};
use tenure_store::{AuditRecord, PlanRecord};

use super::views::{PlanDecision, PlanDocument, SavedPlan, StoredPlanView};
use super::{Admin, Need};
use crate::{AppPlan, ApplyReport, EngineError};

impl Admin<'_> {
    /// The apps a plan may cover for this actor: the one named (which they must be allowed),
    /// or every app they may plan.
    async fn plannable(&self, app: Option<&str>) -> Result<Option<Vec<String>>, EngineError> {
        match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppPlans(id))?;
                Ok(Some(vec![name.to_owned()]))
            }
            None if self.actor.sees_every_app() => {
                self.actor.require(Need::TenantRead)?;
                Ok(None)
            }
            None => {
                let apps = self.store().list_apps(self.tenant()).await?;
                Ok(Some(
                    apps.into_iter()
                        .filter(|a| self.actor.allows(Need::AppPlans(a.app.id)) && !a.disabled)
                        .map(|a| a.app.name)
                        .collect(),
                ))
            }
        }
    }

    async fn plans_of(&self, app: Option<&str>) -> Result<Vec<AppPlan>, EngineError> {
        self.plans_of_from(app, &[]).await
    }

    /// [`Self::plans_of`], planning an app inside its minimum list interval from its read in
    /// `saved` (kept with a saved plan) where there is one.
    pub(super) async fn plans_of_from(
        &self,
        app: Option<&str>,
        saved: &[tenure_store::PlanRead],
    ) -> Result<Vec<AppPlan>, EngineError> {
        let today = self.engine.today().await?;
        match self.plannable(app).await? {
            None => self.engine.plan_from(None, today, saved).await,
            Some(names) if app.is_some() => {
                self.engine.plan_from(names.first().map(String::as_str), today, saved).await
            }
            Some(names) => {
                let mut plans = Vec::new();
                for name in names {
                    plans.extend(self.engine.plan_from(Some(&name), today, saved).await?);
                }
                Ok(plans)
            }
        }
    }

    /// What would change in the apps, and why, with the guard's decisions that stand.
    pub async fn plan(&self, app: Option<&str>) -> Result<(Vec<AppPlan>, PlanDocument), EngineError> {
        let plans = self.plans_of(app).await?;
        let mut document = PlanDocument::new(&plans);
        let covered: HashSet<tenure_core::AppId> = plans.iter().map(|p| p.app.id).collect();
        document.holds = self
            .holds()
            .await?
            .into_iter()
            .filter(|h| h.status == "held" || h.status == "approved" || (h.status == "rejected" && h.losses > 0))
            .filter(|h| app.is_none() || h.app_id.is_none_or(|id| covered.contains(&id)))
            .collect();
        Ok((plans, document))
    }

    /// Held plans the actor may see: an app's holds to whoever sees the app's plans, tenant-wide
    /// holds to those who see every app.
    pub async fn holds(&self) -> Result<Vec<crate::HoldView>, EngineError> {
        let holds = self.engine.holds(1000).await?;
        Ok(holds
            .into_iter()
            .filter(|h| match h.app_id {
                Some(app) => self.actor.allows(Need::AppPlans(app)),
                None => self.actor.sees_every_app() && self.actor.allows(Need::TenantRead),
            })
            .collect())
    }

    /// Who may decide a held plan: an app's hold, whoever may change the app; a tenant-wide
    /// hold (the global guard), org admins.
    fn require_decider(&self, hold: Option<&crate::HoldView>, ops: &[PlannedOp]) -> Result<(), EngineError> {
        match hold.and_then(|h| h.app_id) {
            Some(app) => self.actor.require(Need::AppWrite(app)),
            None if hold.is_some() => self.actor.require(Need::OrgAdmin),
            None => {
                let apps: HashSet<tenure_core::AppId> = ops.iter().map(|o| o.app_id).collect();
                if apps.is_empty() {
                    self.actor.require(Need::OrgAdmin)?;
                }
                apps.into_iter().try_for_each(|app| self.actor.require(Need::AppWrite(app)))
            }
        }
    }

    /// Computes the plan and keeps it for review (never executed).
    pub async fn save_plan(&self, app: Option<&str>) -> Result<(PlanDocument, SavedPlan), EngineError> {
        self.save_plan_shown(app).await.map(|(_, document, saved)| (document, saved))
    }

    /// [`Self::save_plan`], with the plans as computed, to show them: planning again to print
    /// them would read every app twice, and an app whose list may be read only so often (Adobe)
    /// would be refused the second read.
    pub async fn save_plan_shown(
        &self,
        app: Option<&str>,
    ) -> Result<(Vec<AppPlan>, PlanDocument, SavedPlan), EngineError> {
        let plans = self.plans_of(app).await?;
        for p in &plans {
            self.actor.require(Need::AppWrite(p.app.id))?;
        }
        let ops: Vec<PlannedOp> = plans.iter().flat_map(|p| p.plan.ops.iter().cloned()).collect();
        let summary = json!({
            "app_filter": app,
            "apps": plans.iter().map(|p| json!({"app": p.app.name, "ops": p.plan.ops.len()})).collect::<Vec<_>>(),
        });
        let mut tx = self.store().begin().await?;
        let id = tx.save_preview(self.store(), self.tenant(), &ops, &summary).await?;
        // An app whose list may be read only so often cannot be read again to check this plan
        // before `apply --plan` (saved_plans.rs): keep what was read, to check against instead.
        for p in plans
            .iter()
            .filter(|p| p.plan.refused.is_none() && p.app.settings.min_list_interval_s.is_some_and(|s| s > 0))
        {
            let read =
                tenure_store::PlanRead { app_id: p.app.id, read_at_ms: p.read_at_ms, accounts: p.observed.clone() };
            tx.save_plan_read(self.tenant(), id, &read).await?;
        }
        let subject = id.to_string();
        let entry = AuditRecord {
            actor: &self.actor.name,
            action: "plan.save",
            subject: &subject,
            person: None,
            app,
            detail: &summary,
        };
        tx.audit(self.tenant(), entry).await?;
        tx.commit().await?;
        let document = PlanDocument::new(&plans);
        Ok((plans, document, SavedPlan { plan: id, summary }))
    }

    /// Whether every app a stored plan names is one the actor may see plans of.
    async fn may_see(&self, record: &PlanRecord, ops: Option<&[PlannedOp]>) -> Result<bool, EngineError> {
        if self.actor.sees_every_app() {
            return Ok(self.actor.allows(Need::TenantRead));
        }
        let apps = self.store().list_apps(self.tenant()).await?;
        let mine: HashSet<String> =
            apps.iter().filter(|a| self.actor.allows(Need::AppPlans(a.app.id))).map(|a| a.app.name.clone()).collect();
        let named: Vec<String> = record
            .summary
            .get("apps")
            .and_then(|a| a.as_array())
            .map(|apps| apps.iter().filter_map(|a| a.get("app").and_then(|n| n.as_str()).map(str::to_owned)).collect())
            .unwrap_or_default();
        let ids: HashSet<tenure_core::AppId> =
            apps.iter().filter(|a| mine.contains(&a.app.name)).map(|a| a.app.id).collect();
        let ops_mine = ops.is_none_or(|ops| ops.iter().all(|o| ids.contains(&o.app_id)));
        Ok(!named.is_empty() && named.iter().all(|n| mine.contains(n)) && ops_mine)
    }

    /// The most recent stored plans the actor may see.
    pub async fn plans(&self, limit: i64) -> Result<Vec<PlanRecord>, EngineError> {
        if self.actor.sees_every_app() {
            self.actor.require(Need::TenantRead)?;
            return Ok(self.store().list_plans(self.tenant(), limit).await?);
        }
        let mut out = Vec::new();
        for record in self.store().list_plans(self.tenant(), limit).await? {
            if self.may_see(&record, None).await? {
                out.push(record);
            }
        }
        Ok(out)
    }

    pub async fn stored_plan(&self, id: PlanId) -> Result<StoredPlanView, EngineError> {
        let record = self.store().plan_record(self.tenant(), id).await?;
        let mut ops: Vec<PlannedOp> =
            self.store().plan_operations(self.tenant(), id).await?.into_iter().map(|r| r.op).collect();
        let hold = self.engine.holds(1000).await?.into_iter().find(|h| h.plan_id == id);
        if let Some(hold) = &hold {
            ops.extend(self.store().held_losses_of(self.tenant(), id).await?.into_iter().map(|r| r.op));
            let visible = match hold.app_id {
                Some(app) => self.actor.allows(Need::AppPlans(app)),
                None => self.actor.sees_every_app() && self.actor.allows(Need::TenantRead),
            };
            if !visible {
                return Err(EngineError::Forbidden(format!(
                    "{} ({}): plan {id} holds losses of apps that are not yours",
                    self.actor.name, self.actor.role
                )));
            }
            return Ok(StoredPlanView { plan: record, ops, hold: Some(hold.clone()) });
        }
        if !self.may_see(&record, Some(&ops)).await? {
            return Err(EngineError::Forbidden(format!(
                "{} ({}): plan {id} covers apps that are not yours",
                self.actor.name, self.actor.role
            )));
        }
        Ok(StoredPlanView { plan: record, ops, hold: None })
    }

    /// What the plan computed now does differently from a stored one. An app inside its minimum
    /// list interval is planned from the read the saved plan kept, as `apply --plan` does.
    pub async fn plan_diff(&self, id: PlanId) -> Result<(PlanRecord, tenure_core::PlanDiff, usize), EngineError> {
        let stored = self.stored_plan(id).await?;
        let app_filter = stored.plan.summary.get("app_filter").and_then(|v| v.as_str()).map(str::to_owned);
        let reads = self.store().plan_reads(self.tenant(), id).await?;
        let plans = self.plans_of_from(app_filter.as_deref(), &reads).await?;
        let now = Plan { ops: plans.into_iter().flat_map(|p| p.plan.ops).collect(), ..Plan::default() };
        let then = Plan { ops: stored.ops, ..Plan::default() };
        Ok((stored.plan, then.diff(&now), now.ops.len()))
    }

    /// Approves or rejects a plan the guard held: org admins, or an app admin whose apps are
    /// all the plan covers.
    pub async fn decide_held(&self, id: PlanId, approve: bool) -> Result<PlanDecision, EngineError> {
        let ops: Vec<PlannedOp> =
            self.store().plan_operations(self.tenant(), id).await?.into_iter().map(|r| r.op).collect();
        // A plan that does not exist is 404 for everyone (plan_record says so).
        self.store().plan_record(self.tenant(), id).await?;
        let hold = self.engine.holds(1000).await?.into_iter().find(|h| h.plan_id == id);
        self.require_decider(hold.as_ref(), &ops)?;
        let status = self.engine.decide_held(id, approve, &self.actor.name).await?;
        Ok(PlanDecision { plan: id, status: status.to_owned() })
    }

    /// Computes the plan and carries it out: org admins, or an app admin for one of their apps.
    pub async fn apply(&self, app: Option<&str>) -> Result<ApplyReport, EngineError> {
        match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppWrite(id))?;
            }
            None => self.actor.require(Need::OrgAdmin)?,
        }
        let plans = self.engine.plan(app, self.engine.today().await?).await?;
        self.engine.apply(plans).await
    }

    /// Applies plans already computed and shown (the CLI asks before it applies).
    pub async fn apply_plans(&self, plans: Vec<AppPlan>) -> Result<ApplyReport, EngineError> {
        for p in &plans {
            self.actor.require(Need::AppWrite(p.app.id))?;
        }
        if plans.len() != 1 {
            self.actor.require(Need::OrgAdmin)?;
        }
        self.engine.apply(plans).await
    }

    /// Why a person has, lacks or will lose an account in an app.
    pub async fn explain(&self, person: &str, app: &str) -> Result<tenure_core::reconcile::Explanation, EngineError> {
        let id = self.store().app_by_name(self.tenant(), app).await?.app.id;
        self.actor.require(Need::AppPlans(id))?;
        self.engine.explain(person, app, self.engine.today().await?).await
    }
}
