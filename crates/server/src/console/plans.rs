//! Plans: held plans with the losses they hold and the guard's reason, approve or reject (for
//! whoever may change the held app); the apps' current plans in counts.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_engine::admin::Need;

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, when};

pub struct HoldLine {
    pub id: String,
    pub app: String,
    pub status: String,
    pub losses: usize,
    pub since: String,
    pub reason: String,
    pub can_decide: bool,
    pub losses_held: Vec<String>,
}

pub struct PlanLine {
    pub app: String,
    pub operations: usize,
    pub refused: String,
    pub counts: String,
}

#[derive(Template)]
#[template(path = "console/plans.html")]
struct PlansPage {
    nav: Nav,
    notice: Option<Notice>,
    holds: Vec<HoldLine>,
    plans: Vec<PlanLine>,
    plan_error: Option<String>,
}

pub async fn page(signed: Signed) -> PageResult {
    plans_page(&signed, None).await
}

async fn plans_page(signed: &Signed, notice: Option<Notice>) -> PageResult {
    let admin = signed.admin();
    let mut holds = Vec::new();
    for h in admin.holds().await? {
        let can_decide = h.status == "held"
            && match h.app_id {
                Some(app) => signed.actor.allows(Need::AppWrite(app)),
                None => signed.actor.allows(Need::OrgAdmin),
            };
        // Exactly the losses it holds now (a reader who may not see the plan sees the count).
        let losses_held = if h.status == "held" {
            admin
                .stored_plan(h.plan_id)
                .await
                .map(|p| {
                    p.ops.iter().take(200).map(|o| format!("{} {} ({})", o.kind.name(), o.person, o.reason)).collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        holds.push(HoldLine {
            id: h.plan_id.to_string(),
            app: h.app.clone().unwrap_or_else(|| "every app (tenant guard)".into()),
            status: h.status.clone(),
            losses: h.losses,
            since: when(Some(h.since_ms)),
            reason: h.reason.clone(),
            can_decide,
            losses_held,
        });
    }
    let (plans, plan_error) = match admin.plan(None).await {
        Ok((plans, _)) => (
            plans
                .iter()
                .filter(|p| signed.actor.allows(Need::AppPlans(p.app.id)))
                .map(|p| {
                    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                    for op in &p.plan.ops {
                        *counts.entry(op.kind.name()).or_default() += 1;
                    }
                    PlanLine {
                        app: p.app.name.clone(),
                        operations: p.plan.ops.len(),
                        refused: p.plan.refused.clone().unwrap_or_default(),
                        counts: counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", "),
                    }
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(render(&PlansPage { nav: signed.nav("plans"), notice, holds, plans, plan_error }))
}

#[derive(Debug, Deserialize)]
pub struct Decision {
    /// `approve` or `reject`.
    decision: String,
}

pub async fn decide(signed: Signed, Path(id): Path<String>, Form(form): Form<Decision>) -> PageResult {
    let id = id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("plan {id} not found")))?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => return Err(Failure::new(StatusCode::BAD_REQUEST, format!("{other:?}: approve or reject"))),
    };
    let decided = signed.admin().decide_held(id, approve).await?;
    plans_page(&signed, Notice::ok(format!("Plan {} {}.", decided.plan, decided.status))).await
}
