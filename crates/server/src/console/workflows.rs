//! Lifecycle workflows and their runs: each workflow with its trigger and steps, each run with
//! every step (what it did, what failed and why, who approved), and the approval a run waits
//! for, approved or rejected by whom the engine lets decide (an org admin, or the person's
//! manager for `approval:manager`). Org admins define and remove workflows here too.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use serde::Deserialize;
use tenure_engine::admin::{Need, RunView, WorkflowSpec};

use super::auth::Signed;
use super::forms::{Refusal, field_root, refusal};
use super::view::{Nav, Notice, PageResult, render, segment, when};

/// The most runs one page shows (the engine's limit is 1,000).
const RUNS: i64 = 200;

pub struct WorkflowLine {
    pub name: String,
    pub when: String,
    pub steps: Vec<String>,
    pub since: String,
    pub remove_href: String,
}

pub struct StepLine {
    pub index: i64,
    pub step: String,
    pub status: String,
    pub result: String,
    pub error: String,
    pub approver: String,
    pub started: String,
    pub finished: String,
}

pub struct RunLine {
    pub id: String,
    pub workflow: String,
    pub person: String,
    pub person_href: String,
    pub manager: String,
    pub occasion: String,
    pub status: String,
    pub updated: String,
    /// The step it waits at, while it waits for an approval.
    pub waiting_for: String,
    /// The signed-in admin may approve or reject it (the engine decides again on the POST).
    pub can_decide: bool,
    pub approve_href: String,
    pub reject_href: String,
    /// The reason as typed, and why it was refused (a rejection of this run only).
    pub reason: String,
    pub reason_error: Option<String>,
    pub steps: Vec<StepLine>,
}

/// The add form as typed, after a refusal (never holds a secret: workflows have none).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub trigger: String,
    #[serde(default)]
    pub offset_days: String,
    /// One step a line, spelled as `tenure workflow add --step` spells it.
    #[serde(default)]
    pub steps: String,
}

pub const TRIGGERS: [&str; 7] =
    ["leave-date", "start-date", "offboarding", "onboarding", "department-change", "org-unit-change", "manager-change"];

#[derive(Template)]
#[template(path = "console/workflows.html")]
struct WorkflowsPage {
    nav: Nav,
    notice: Option<Notice>,
    person: String,
    workflows: Vec<WorkflowLine>,
    runs: Vec<RunLine>,
    timezone: String,
    add: AddForm,
    add_error: Refusal,
    triggers: [&'static str; 7],
}

#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    /// Only this person's runs (an email).
    #[serde(default)]
    person: Option<String>,
}

/// Whether the admin may decide a run's approval: what `decide_run` allows, drawn as buttons.
fn may_decide(signed: &Signed, run: &RunView, waiting: &str) -> bool {
    let manager = run.manager.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&signed.actor.name));
    signed.actor.allows(Need::OrgAdmin) || (manager && waiting.starts_with("approval:manager"))
}

fn run_line(signed: &Signed, run: RunView) -> RunLine {
    let waiting_for = if run.status == "approval" {
        run.steps.iter().find(|s| s.status == "waiting").map(|s| s.step.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    let can_decide = !waiting_for.is_empty() && may_decide(signed, &run, &waiting_for);
    let href = format!("/workflows/runs/{}", segment(&run.id));
    RunLine {
        approve_href: format!("{href}/approve"),
        reject_href: format!("{href}/reject"),
        person_href: format!("/people/{}", segment(&run.person)),
        id: run.id,
        workflow: run.workflow,
        person: run.person,
        manager: run.manager.unwrap_or_default(),
        occasion: run.occasion,
        status: run.status,
        updated: when(Some(run.updated_ms)),
        waiting_for,
        can_decide,
        reason: String::new(),
        reason_error: None,
        steps: run
            .steps
            .into_iter()
            .map(|s| StepLine {
                index: s.index,
                step: s.step,
                status: s.status,
                result: s.result.unwrap_or_default(),
                error: s.error.unwrap_or_default(),
                approver: s.approver.unwrap_or_default(),
                started: s.started_ms.map(|ms| when(Some(ms))).unwrap_or_default(),
                finished: s.finished_ms.map(|ms| when(Some(ms))).unwrap_or_default(),
            })
            .collect(),
    }
}

/// What a form left to show on the page.
#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    person: String,
    add: AddForm,
    add_error: Refusal,
    /// A refused rejection: the run, the reason as typed, and why.
    rejection: Option<(String, String, String)>,
}

async fn workflows_page(signed: &Signed, shown: Shown) -> PageResult {
    let admin = signed.admin();
    let person = shown.person.trim();
    let workflows = admin
        .workflows()
        .await?
        .into_iter()
        .map(|w| WorkflowLine {
            remove_href: format!("/workflows/{}/remove", segment(&w.name)),
            name: w.name,
            when: w.when,
            steps: w.steps,
            since: w.since,
        })
        .collect();
    let mut runs: Vec<RunLine> = admin
        .workflow_runs(Some(person).filter(|p| !p.is_empty()), RUNS)
        .await?
        .into_iter()
        .map(|r| run_line(signed, r))
        .collect();
    if let Some((id, reason, error)) = shown.rejection
        && let Some(run) = runs.iter_mut().find(|r| r.id == id)
    {
        run.reason = reason;
        run.reason_error = Some(error);
    }
    Ok(render(&WorkflowsPage {
        nav: signed.nav("workflows"),
        notice: shown.notice,
        person: person.to_owned(),
        workflows,
        runs,
        timezone: admin.tenant_settings().await?.timezone,
        add: shown.add,
        add_error: shown.add_error,
        triggers: TRIGGERS,
    }))
}

pub async fn page(signed: Signed, Query(q): Query<RunsQuery>) -> PageResult {
    workflows_page(&signed, Shown { person: q.person.unwrap_or_default(), ..Default::default() }).await
}

/// Approves the approval a run waits for.
pub async fn approve(signed: Signed, Path(id): Path<String>) -> PageResult {
    let notice = match signed.admin().approve_run(&id).await {
        Ok(run) => Notice::ok(format!(
            "Approved: {}'s run of {} goes on at the next workflow pass ({}).",
            run.person, run.workflow, run.status
        )),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    workflows_page(&signed, Shown { notice, ..Default::default() }).await
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// Rejects the approval a run waits for, with the reason (shown under its field if refused).
pub async fn reject(signed: Signed, Path(id): Path<String>, Form(form): Form<RejectForm>) -> PageResult {
    let mut shown = Shown::default();
    match signed.admin().reject_run(&id, &form.reason).await {
        Ok(run) => {
            shown.notice =
                Notice::ok(format!("Rejected: {}'s run of {} ends; no later step runs.", run.person, run.workflow))
        }
        Err(e) => {
            let r = refusal(e)?;
            if let Some(message) = r.on("reason").map(str::to_owned) {
                shown.rejection = Some((id.trim().to_owned(), form.reason, message));
            } else {
                shown.notice = Notice::error(r.message);
            }
        }
    }
    workflows_page(&signed, shown).await
}

/// Defines a workflow (org admins); a refused part is said under its field.
pub async fn add(signed: Signed, Form(form): Form<AddForm>) -> PageResult {
    let mut shown = Shown::default();
    let offset = form.offset_days.trim();
    let offset_days = if offset.is_empty() {
        Ok(None)
    } else {
        offset.parse::<i64>().map(Some).map_err(|_| Refusal {
            field: "offset_days".into(),
            message: format!("{offset:?} is not a number of days"),
        })
    };
    let outcome = match offset_days {
        Ok(offset_days) => {
            let spec = WorkflowSpec {
                name: form.name.trim().to_owned(),
                trigger: form.trigger.trim().to_owned(),
                offset_days,
                steps: form.steps.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect(),
            };
            signed.admin().add_workflow(spec).await.map_err(refusal)
        }
        Err(r) => {
            // The role is checked first, as the engine would, so a forged form is 403 either way.
            signed.actor.require(Need::OrgAdmin)?;
            Err(Ok(r))
        }
    };
    match outcome {
        Ok(w) => shown.notice = Notice::ok(format!("Workflow {} added: {}.", w.name, w.when)),
        Err(r) => {
            let mut r = r?;
            r.field = field_root(&r.field).to_owned();
            if r.general(&["name", "trigger", "offset_days", "steps"]).is_some() {
                shown.notice = Notice::error(r.message.clone());
            }
            shown.add = form;
            shown.add_error = r;
        }
    }
    workflows_page(&signed, shown).await
}

/// Removes a workflow (org admins); its unfinished runs are cancelled.
pub async fn remove(signed: Signed, Path(name): Path<String>) -> PageResult {
    let notice = match signed.admin().remove_workflow(&name).await {
        Ok(cancelled) => Notice::ok(format!("Workflow {name} removed; {cancelled} unfinished run(s) cancelled.")),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    workflows_page(&signed, Shown { notice, ..Default::default() }).await
}
