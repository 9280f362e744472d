//! Plans: held plans with the losses they hold and the guard's reason, approve or reject (for
//! whoever may change the held app); the apps' current plans in counts; saving a plan, a saved
//! plan and its diff against a fresh one, applying by hand (a job with live progress); the
//! tenant's guard limits.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_engine::admin::{GuardSpec, Need};

use super::auth::Signed;
use super::jobs;
use super::view::{Failure, Nav, Notice, PageResult, render, when};
use crate::ServerState;

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
    /// Apps whose plans the admin may save and apply.
    writable: Vec<String>,
    /// Every app at once: org admins.
    all_apps: bool,
    saved: Vec<SavedLine>,
    guard: Option<GuardLine>,
}

pub struct SavedLine {
    pub id: String,
    pub at: String,
    pub apps: String,
}

pub struct GuardLine {
    pub max_percent: u8,
    pub max_count: usize,
    pub window_s: u64,
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
    let mut writable = Vec::new();
    for app in admin.apps().await? {
        if signed.actor.allows(Need::AppWrite(app.id)) && !app.disabled {
            writable.push(app.name);
        }
    }
    let saved = admin
        .plans(20)
        .await?
        .into_iter()
        .filter(|p| p.status == "preview")
        .map(|p| SavedLine { id: p.id.to_string(), at: when(Some(p.created_ms)), apps: summary_apps(&p.summary) })
        .collect();
    let guard = if signed.actor.allows(Need::TenantRead) {
        let g = admin.guard().await?.global;
        Some(GuardLine { max_percent: g.max_percent, max_count: g.max_count, window_s: g.window_s })
    } else {
        None
    };
    let all_apps = signed.actor.allows(Need::OrgAdmin);
    Ok(render(&PlansPage {
        nav: signed.nav("plans"),
        notice,
        holds,
        plans,
        plan_error,
        writable,
        all_apps,
        saved,
        guard,
    }))
}

/// `slack (3), notion (0)` from a saved plan's summary.
fn summary_apps(summary: &serde_json::Value) -> String {
    summary
        .get("apps")
        .and_then(|a| a.as_array())
        .map(|apps| {
            apps.iter()
                .map(|a| {
                    let name = a.get("app").and_then(|n| n.as_str()).unwrap_or("?");
                    let ops = a.get("ops").and_then(serde_json::Value::as_u64).unwrap_or(0);
                    format!("{name} ({ops})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct AppChoice {
    /// An app's name, or empty for every app.
    #[serde(default)]
    app: String,
}

fn chosen(form: &AppChoice) -> Option<&str> {
    Some(form.app.trim()).filter(|a| !a.is_empty())
}

/// Saves the plan of one app or of every app, for review; it is never carried out.
pub async fn save(signed: Signed, Form(form): Form<AppChoice>) -> PageResult {
    let notice = match signed.admin().save_plan(chosen(&form)).await {
        Ok((_, saved)) => Notice::ok(format!("Plan {} saved: open it below to see what changed since.", saved.plan)),
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
        Err(e) => Notice::error(e.to_string()),
    };
    plans_page(&signed, notice).await
}

/// Computes the plan and carries it out in a job whose page shows its progress.
pub async fn apply(State(state): State<ServerState>, signed: Signed, Form(form): Form<AppChoice>) -> PageResult {
    match jobs::start_apply(&state, &signed, chosen(&form)).await {
        Ok(id) => jobs::shown(&state, &signed, &id).await,
        Err(e) if e.status == StatusCode::FORBIDDEN || e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => plans_page(&signed, Notice::error(e.message)).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct GuardForm {
    #[serde(default)]
    max_percent: String,
    #[serde(default)]
    max_count: String,
    #[serde(default)]
    window_s: String,
    /// `default` goes back to the defaults.
    #[serde(default)]
    action: String,
}

/// Sets the tenant-wide guard's limits (org admins).
pub async fn guard(signed: Signed, Form(form): Form<GuardForm>) -> PageResult {
    fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| format!("{field}: {text:?} is not a whole number"))
    }
    let spec = (|| -> Result<GuardSpec, String> {
        if form.action == "default" {
            return Ok(GuardSpec { default: true, ..Default::default() });
        }
        Ok(GuardSpec {
            max_percent: number("max_percent", &form.max_percent)?,
            max_count: number("max_count", &form.max_count)?,
            window_s: number("window_s", &form.window_s)?,
            default: false,
        })
    })();
    let notice = match spec {
        Err(message) => {
            signed.actor.require(Need::OrgAdmin)?;
            Notice::error(message)
        }
        Ok(spec) => match signed.admin().set_guard(spec).await {
            Ok(g) => Notice::ok(format!(
                "The tenant's guard now holds more than {}% or {} people's losses within {} s.",
                g.global.max_percent, g.global.max_count, g.global.window_s
            )),
            Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
            Err(e) => Notice::error(e.to_string()),
        },
    };
    plans_page(&signed, notice).await
}

#[derive(Template)]
#[template(path = "console/saved_plan.html")]
struct SavedPlanPage {
    nav: Nav,
    notice: Option<Notice>,
    id: String,
    at: String,
    status: String,
    apps: String,
    ops: Vec<String>,
    total: usize,
    added: Vec<String>,
    removed: Vec<String>,
    fresh: usize,
    diff_error: Option<String>,
}

/// A saved plan: its operations, and what a plan computed now does differently.
pub async fn saved(signed: Signed, Path(id): Path<String>) -> PageResult {
    let id = id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("plan {id} not found")))?;
    let admin = signed.admin();
    let stored = admin.stored_plan(id).await?;
    let line = |o: &tenure_core::PlannedOp| format!("{} {} ({})", o.kind.name(), o.person, o.reason);
    let (added, removed, fresh, diff_error) = match admin.plan_diff(id).await {
        Ok((_, diff, fresh)) => (
            diff.added.iter().take(500).map(line).collect(),
            diff.removed.iter().take(500).map(line).collect(),
            fresh,
            None,
        ),
        Err(e @ tenure_engine::EngineError::Forbidden(_)) => return Err(e.into()),
        Err(e) => (Vec::new(), Vec::new(), 0, Some(e.to_string())),
    };
    Ok(render(&SavedPlanPage {
        nav: signed.nav("plans"),
        notice: None,
        id: stored.plan.id.to_string(),
        at: when(Some(stored.plan.created_ms)),
        status: stored.plan.status.clone(),
        apps: summary_apps(&stored.plan.summary),
        total: stored.ops.len(),
        ops: stored.ops.iter().take(500).map(line).collect(),
        added,
        removed,
        fresh,
        diff_error,
    }))
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
