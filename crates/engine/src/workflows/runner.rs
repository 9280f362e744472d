//! Carrying runs forward, one step at a time, each step at most once.
//!
//! A step's row is its claim (`workflow_steps`' primary key). Steps whose effect is a store write
//! insert their row, write their effect and move the run's cursor (compare-and-set) in one
//! transaction: either all of it happened or none, and a second executor's transaction finds
//! the row or the cursor moved and changes nothing. A deprovisioning acts outside the store, so
//! its claim is committed first (`running`); should the process stop before recording its end,
//! the claim is found stale ([`STEP_LEASE_MS`]) and recorded `interrupted` — not run again.
//! Once it has queued the offboarding's operations (through the guard) it records them and
//! `waiting`, and the pass goes on to other runs: later passes look at how far the queue got
//! ("waiting for 2 operations") and end the step once every operation settled.
//!
//! Every write of a pass carries the [`WORKFLOWS`](crate::nodes::WORKFLOWS) duty's [`Fence`]:
//! a node that lost the duty (it stalled past its lease and another node took over) has its
//! transactions refused and advances no run.

use serde_json::json;
use tenure_core::Role;
use tenure_store::{AuditRecord, Fence, OperationStatus, RunRecord, StepEnd, StepRecord, StoreError, Tx};

use super::model::{Action, Approver, Definition, Step};
use crate::admin::{Actor, QueuedOffboarding};
use crate::notify::{Notice, Recipient};
use crate::{Engine, EngineError};

/// How long a claimed step may run before a later pass takes it for interrupted: far longer than
/// an offboarding's planning and queueing (its apps are not waited for in the step).
pub const STEP_LEASE_MS: i64 = 15 * 60 * 1000;
/// A step waiting for queued operations is looked at again after this (at the next pass).
pub const WAIT_POLL_MS: i64 = 15 * 1000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Runs carried forward per pass; the rest at the next.
const RUNS_PER_PASS: i64 = 200;

/// What a store-only step writes, prepared before its transaction.
#[derive(Default)]
struct Effect {
    result: Option<String>,
    /// Set: the step failed, for this reason.
    error: Option<String>,
    messages: Vec<(tenure_core::ChannelId, String, serde_json::Value)>,
    task: Option<TaskEffect>,
    /// The run's next step waits until then.
    not_before_ms: Option<i64>,
}

struct TaskEffect {
    app_id: tenure_core::AppId,
    assignee: String,
    op: String,
    body: serde_json::Value,
    text: String,
}

/// Where a run goes after a step ended.
pub(super) struct Next {
    pub(super) status: &'static str,
    pub(super) cursor: i64,
    pub(super) not_before_ms: i64,
}

/// After step `index` ended (`ok` or not): the next step, the run's end, or its failure.
fn next_after(steps: &[Step], index: i64, ok: bool, now: i64) -> Next {
    let go_on = ok || steps.get(index as usize).is_some_and(|s| s.continue_on_failure);
    match (go_on, index as usize + 1 >= steps.len()) {
        (false, _) => Next { status: "failed", cursor: index, not_before_ms: now },
        (true, true) => Next { status: "done", cursor: index + 1, not_before_ms: now },
        (true, false) => Next { status: "running", cursor: index + 1, not_before_ms: now },
    }
}

pub(super) fn end<'a>(status: &'a str, result: Option<&'a str>, error: Option<&'a str>) -> StepEnd<'a> {
    StepEnd { status, result, error, approver: None }
}

impl Engine {
    /// Carries every due run as far as it goes now; how many steps were carried out.
    pub(super) async fn advance_runs(&self, now: i64, fence: &Fence) -> Result<usize, EngineError> {
        let mut steps = 0;
        for run in self.store.due_runs(self.tenant, now, RUNS_PER_PASS).await? {
            match self.advance(run.clone(), now, fence).await {
                Ok(n) => steps += n,
                // This node lost the duty: no run of it goes on here.
                Err(e @ EngineError::Store(StoreError::Fenced { .. })) => return Err(e),
                Err(e) => {
                    tracing::warn!(run = %run.id, workflow = %run.workflow, error = %e, "workflow run waits for the next pass")
                }
            }
        }
        Ok(steps)
    }

    /// A write transaction under the duty's fence.
    pub(super) async fn begin_fenced(&self, fence: &Fence) -> Result<Tx, EngineError> {
        let mut tx = self.store.begin().await?;
        tx.check_fence(fence).await?;
        Ok(tx)
    }

    async fn advance(&self, mut run: RunRecord, now: i64, fence: &Fence) -> Result<usize, EngineError> {
        let def: Definition = match serde_json::from_value(run.definition.clone()) {
            Ok(d) => d,
            Err(e) => {
                let mut tx = self.begin_fenced(fence).await?;
                tx.advance_run(self.tenant, run.id, &run.status, run.cursor, "failed", run.cursor, now, now).await?;
                tx.commit().await?;
                return Err(EngineError::Internal(format!("run {}: its definition is unreadable ({e})", run.id)));
            }
        };
        let mut done = 0;
        while run.status == "running" && run.not_before_ms <= now {
            let Some(step) = def.steps.get(run.cursor as usize) else {
                // Every step ran (a run whose last step was recorded before its end was).
                let mut tx = self.begin_fenced(fence).await?;
                tx.advance_run(self.tenant, run.id, "running", run.cursor, "done", run.cursor, now, now).await?;
                tx.commit().await?;
                break;
            };
            let Some(next) = self.run_step(&run, &def, step, now, fence).await? else { break };
            done += 1;
            run.status = next.status.to_owned();
            run.cursor = next.cursor;
            run.not_before_ms = next.not_before_ms;
        }
        Ok(done)
    }

    /// Runs the step at the run's cursor; where the run went, or `None` when it did not move
    /// (another executor has the step, or moved the run first).
    async fn run_step(
        &self,
        run: &RunRecord,
        def: &Definition,
        step: &Step,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let index = run.cursor;
        let kind = step.action.kind();
        let claimed = self.store.run_steps(self.tenant, run.id).await?.into_iter().find(|s| s.index == index);
        if let Some(claim) = claimed {
            return match claim.status.as_str() {
                "running" if now - claim.started_ms < STEP_LEASE_MS => Ok(None),
                "running" => {
                    let error = "interrupted: the process carrying it out stopped before recording its end; \
                                 not run again (check what it did)";
                    let next = next_after(&def.steps, index, false, now);
                    let mut tx = self.begin_fenced(fence).await?;
                    let ended =
                        tx.finish_step(self.tenant, run.id, index, end("interrupted", None, Some(error)), now).await?;
                    if !ended || !self.move_run(&mut tx, run, &next, now).await? {
                        return Ok(None);
                    }
                    self.audit_step(&mut tx, run, index, kind, "interrupted", Some(error)).await?;
                    tx.commit().await?;
                    Ok(Some(next))
                }
                // A deprovisioning waiting for the operations it queued.
                "waiting" if claim.kind == "deprovision" => {
                    self.deprovision_progress(run, def, &claim, now, fence).await
                }
                "waiting" if matches!(claim.kind.as_str(), "remove-groups" | "reassign-license" | "reassign-role") => {
                    self.work_progress(run, def, &claim, now, fence).await
                }
                // A step that ended with its cursor not moved: only an approval released by
                // `approve` between the reads; the run's next read has it right.
                _ => Ok(None),
            };
        }

        match step.action {
            Action::Deprovision => return self.deprovision(run, def, index, now, fence).await,
            Action::RemoveGroups { .. } | Action::ReassignLicense { .. } | Action::ReassignRole { .. } => {
                return self.queued_step(run, def, index, step, now, fence).await;
            }
            _ => {}
        }
        // Everything a store-only step writes is prepared first (on SQLite a read beside an
        // open write transaction would wait for its one connection), then written in one.
        let effect = match &step.action {
            Action::Notify { to } => self.notify_effect(run, def, index, to).await?,
            Action::Task { app, text } => self.task_effect(run, index, app, text).await?,
            Action::Wait { days } => {
                let until = now + i64::from(*days) * DAY_MS;
                let day = crate::workflows::tz::day_at(until, &self.tz().await?)?;
                Effect { result: Some(format!("until {day}")), not_before_ms: Some(until), ..Effect::default() }
            }
            Action::Approval { by, .. } => self.approval_effect(run, *by).await?,
            Action::Deprovision
            | Action::RemoveGroups { .. }
            | Action::ReassignLicense { .. }
            | Action::ReassignRole { .. } => return Ok(None),
        };
        let ok = effect.error.is_none();
        let mut next = match &step.action {
            Action::Approval { .. } => Next { status: "approval", cursor: index, not_before_ms: now },
            _ => next_after(&def.steps, index, ok, now),
        };
        if let Some(until) = effect.not_before_ms {
            next.not_before_ms = until;
        }
        let status = match (&step.action, ok) {
            (Action::Approval { .. }, _) => "waiting",
            (_, true) => "done",
            (_, false) => "failed",
        };
        let mut tx = self.begin_fenced(fence).await?;
        let ended = end(status, effect.result.as_deref(), effect.error.as_deref());
        if !tx.claim_step(self.tenant, run.id, index, kind, ended, now).await? {
            return Ok(None);
        }
        tx.enqueue_messages(self.tenant, &effect.messages).await?;
        if let Some(task) = &effect.task {
            let new = tenure_store::NewTask {
                app_id: task.app_id,
                person_id: run.person_id,
                person: &run.person,
                assignee: &task.assignee,
                op: &task.op,
                body: &task.body,
                text: &task.text,
            };
            tx.insert_task(self.tenant, &new).await?;
        }
        // Another executor moved the run first: nothing of this step is kept.
        if !self.move_run(&mut tx, run, &next, now).await? {
            return Ok(None);
        }
        self.audit_step(&mut tx, run, index, kind, status, effect.error.as_deref()).await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    async fn tz(&self) -> Result<jiff::tz::TimeZone, EngineError> {
        crate::workflows::tz::parse(&self.timezone_name().await?)
    }

    pub(super) async fn move_run(
        &self,
        tx: &mut Tx,
        run: &RunRecord,
        next: &Next,
        now: i64,
    ) -> Result<bool, EngineError> {
        Ok(tx
            .advance_run(
                self.tenant,
                run.id,
                &run.status,
                run.cursor,
                next.status,
                next.cursor,
                next.not_before_ms,
                now,
            )
            .await?)
    }

    pub(super) async fn audit_step(
        &self,
        tx: &mut Tx,
        run: &RunRecord,
        index: i64,
        kind: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), EngineError> {
        let detail = json!({"run": run.id, "workflow": run.workflow, "step": index, "kind": kind, "status": status, "error": error});
        tx.audit(
            self.tenant,
            AuditRecord {
                actor: &format!("workflow:{}", run.workflow),
                action: "workflow.step",
                subject: &run.id.to_string(),
                person: Some(&run.person),
                app: None,
                detail: &detail,
            },
        )
        .await?;
        Ok(())
    }

    /// A notice about the run's person, to `to` (roles or addresses) on every channel.
    fn run_notice(&self, run: &RunRecord, event: &str, subject: String, lines: Vec<String>) -> Notice {
        let mut notice = Notice::new(event, subject);
        notice.lines = lines;
        notice.path = Some(format!("/people/{}", run.person));
        notice.person = Some(run.person.clone());
        notice.manager = run.manager.clone();
        notice.data = json!({"run": run.id, "workflow": run.workflow, "person": run.person, "occasion": run.occasion});
        notice
    }

    async fn notify_effect(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        to: &[String],
    ) -> Result<Effect, EngineError> {
        let recipients: Vec<Recipient> = to.iter().filter_map(|t| Recipient::parse(t).ok()).collect();
        let subject = format!("{}: {} ({})", run.workflow, run.person, run.occasion);
        let lines = vec![
            format!("The workflow {} runs for {} ({}).", run.workflow, run.person, run.occasion),
            format!("Step {} of {}: {}.", index + 1, def.steps.len(), def.steps[index as usize]),
        ];
        let mut notice = self.run_notice(run, "workflow.notify", subject, lines);
        notice.to = Some(recipients);
        let channels = self.store.channels(self.tenant).await?;
        let messages = self.messages_for(&notice, &channels).await?;
        if messages.is_empty() {
            let error = format!("no channel has anyone to tell for {}", to.join(", "));
            return Ok(Effect { error: Some(error), ..Effect::default() });
        }
        let names: Vec<String> = messages
            .iter()
            .filter_map(|(id, _, m)| {
                let channel = channels.iter().find(|c| c.id == *id)?;
                let to: Vec<&str> = m["to"].as_array()?.iter().filter_map(|a| a.as_str()).collect();
                Some(if to.is_empty() { channel.name.clone() } else { format!("{} ({})", channel.name, to.join(", ")) })
            })
            .collect();
        Ok(Effect { result: Some(format!("told through {}", names.join("; "))), messages, ..Effect::default() })
    }

    async fn task_effect(&self, run: &RunRecord, index: i64, app: &str, text: &str) -> Result<Effect, EngineError> {
        let record = match self.store.app_by_name(self.tenant, app).await {
            Ok(r) => r,
            Err(tenure_store::StoreError::NotFound(_)) => {
                return Ok(Effect { error: Some(format!("app {app} not found")), ..Effect::default() });
            }
            Err(e) => return Err(e.into()),
        };
        let assignee = match &record.app.settings.manual {
            Some(manual) => manual.owner.clone(),
            None => {
                let admins = self.store.list_admins(self.tenant).await?;
                let of_app: Vec<String> = admins
                    .iter()
                    .filter(|a| a.role == Role::AppAdmin && a.apps.contains(&record.app.id))
                    .map(|a| a.email.clone())
                    .collect();
                if of_app.is_empty() { "org-admins".to_owned() } else { of_app.join(", ") }
            }
        };
        let words = format!("{app}: {text} — for {} (workflow {}, {})", run.person, run.workflow, run.occasion);
        let mut notice =
            self.run_notice(run, "task.assigned", format!("Task for {assignee}: {words}"), vec![words.clone()]);
        notice.path = Some("/tasks".into());
        notice.apps = vec![record.app.id];
        let messages = self.messages_for(&notice, &self.store.channels(self.tenant).await?).await?;
        Ok(Effect {
            result: Some(format!("task for {assignee}")),
            messages,
            task: Some(TaskEffect {
                app_id: record.app.id,
                assignee,
                op: format!("workflow:{}", run.workflow),
                body: json!({"workflow": run.workflow, "run": run.id, "step": index}),
                text: words,
            }),
            ..Effect::default()
        })
    }

    /// The run waits (status `approval`, cursor on this step) until `approve`; the approvers
    /// are asked.
    async fn approval_effect(&self, run: &RunRecord, by: Approver) -> Result<Effect, EngineError> {
        let (who, recipients) = approvers(run, by);
        let notice = self.approval_notice(run, &who, recipients, false);
        let messages = self.messages_for(&notice, &self.store.channels(self.tenant).await?).await?;
        Ok(Effect { result: Some(format!("waiting for {who}")), messages, ..Effect::default() })
    }

    fn approval_notice(&self, run: &RunRecord, who: &str, to: Vec<Recipient>, reminder: bool) -> Notice {
        let subject = format!(
            "{}Approval needed: workflow {} for {} ({})",
            if reminder { "Reminder: " } else { "" },
            run.workflow,
            run.person,
            run.occasion
        );
        let lines = vec![
            format!(
                "The workflow {} for {} waits for an approval by {who} before its next step.",
                run.workflow, run.person
            ),
            format!("Approve with `tenure workflow approve {}` or in the console.", run.id),
        ];
        let mut notice = self.run_notice(run, "workflow.approval", subject, lines);
        notice.path = Some(format!("/workflows/runs/{}", run.id));
        notice.to = Some(to);
        notice
    }

    /// Reminds approvals waiting past their reminder's days, once each.
    pub(super) async fn remind_approvals(&self, now: i64, fence: &Fence) -> Result<usize, EngineError> {
        let mut reminded = 0;
        for run in self.store.runs_in(self.tenant, "approval").await? {
            let Ok(def) = serde_json::from_value::<Definition>(run.definition.clone()) else { continue };
            let Some(Action::Approval { by, remind_days: Some(days) }) =
                def.steps.get(run.cursor as usize).map(|s| &s.action)
            else {
                continue;
            };
            let steps = self.store.run_steps(self.tenant, run.id).await?;
            let Some(step) = steps.iter().find(|s| s.index == run.cursor) else { continue };
            if step.status != "waiting"
                || step.reminded_ms.is_some()
                || now - step.started_ms < i64::from(*days) * DAY_MS
            {
                continue;
            }
            let (who, recipients) = approvers(&run, *by);
            let notice = self.approval_notice(&run, &who, recipients, true);
            let messages = self.messages_for(&notice, &self.store.channels(self.tenant).await?).await?;
            let mut tx = self.begin_fenced(fence).await?;
            if tx.set_reminded(self.tenant, run.id, run.cursor, now).await? {
                tx.enqueue_messages(self.tenant, &messages).await?;
                tx.commit().await?;
                reminded += 1;
            }
        }
        Ok(reminded)
    }

    /// Offboards the run's person without waiting for the apps: the claim first, then the
    /// offboarding (mark, audit, notices, operations queued through the guard as an admin's
    /// act with their reasons), then `waiting` with what was queued. Later passes end it
    /// ([`Self::deprovision_progress`]).
    async fn deprovision(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let mut tx = self.begin_fenced(fence).await?;
        if !tx.claim_step(self.tenant, run.id, index, "deprovision", end("running", None, None), now).await? {
            return Ok(None);
        }
        tx.commit().await?;
        let actor = Actor { name: format!("workflow:{}", run.workflow), role: Role::OrgAdmin, apps: Vec::new() };
        let queued = match self.admin(&actor).offboard_queued(&run.person, fence).await {
            Ok(queued) => queued,
            Err(e) => {
                let error = e.to_string();
                return self.end_step(run, def, index, "deprovision", (false, None, Some(error)), now, fence).await;
            }
        };
        let detail = serde_json::to_value(&queued).map_err(|e| EngineError::Internal(e.to_string()))?;
        let claim = StepRecord {
            run_id: run.id,
            index,
            kind: "deprovision".into(),
            status: "waiting".into(),
            result: None,
            error: None,
            approver: None,
            started_ms: now,
            finished_ms: None,
            reminded_ms: None,
            detail: Some(detail.clone()),
        };
        let pending = self.pending_of(&queued).await?;
        if pending.is_empty() {
            // Nothing queued (or it all settled already): the step ends now.
            return self.finish_deprovision(run, def, &claim, queued, now, fence).await;
        }
        let words = waiting_words(pending.len());
        let mut tx = self.begin_fenced(fence).await?;
        if !tx.wait_step(self.tenant, run.id, index, &words, &detail).await? {
            return Ok(None);
        }
        // The run stays on this step, looked at again at a later pass.
        let next = Next { status: "running", cursor: index, not_before_ms: now + WAIT_POLL_MS };
        if !self.move_run(&mut tx, run, &next, now).await? {
            return Ok(None);
        }
        self.audit_step(&mut tx, run, index, "deprovision", "waiting", None).await?;
        tx.commit().await?;
        tracing::info!(run = %run.id, workflow = %run.workflow, person = %run.person, "{words}");
        // Not a step carried out: the run did not go past it.
        Ok(None)
    }

    /// The queued operations of an offboarding that have not settled.
    async fn pending_of(&self, queued: &QueuedOffboarding) -> Result<Vec<tenure_core::OperationId>, EngineError> {
        let Some(plan) = queued.plan else { return Ok(Vec::new()) };
        let records = self.store.plan_operations(self.tenant, plan).await?;
        Ok(queued
            .ops
            .iter()
            .filter(|(_, id)| {
                records
                    .iter()
                    .any(|r| r.id == *id && matches!(r.status, OperationStatus::Pending | OperationStatus::Preview))
            })
            .map(|(_, id)| *id)
            .collect())
    }

    /// A deprovisioning that waits: still waiting (its words brought up to date), or ended now
    /// that every operation it queued settled.
    async fn deprovision_progress(
        &self,
        run: &RunRecord,
        def: &Definition,
        claim: &StepRecord,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let queued: QueuedOffboarding = match claim.detail.clone().map(serde_json::from_value) {
            Some(Ok(q)) => q,
            _ => {
                let error = "what the step queued is unreadable; check the offboarding".to_owned();
                return self
                    .end_step(run, def, claim.index, "deprovision", (false, None, Some(error)), now, fence)
                    .await;
            }
        };
        let pending = self.pending_of(&queued).await?;
        if pending.is_empty() {
            return self.finish_deprovision(run, def, claim, queued, now, fence).await;
        }
        let words = waiting_words(pending.len());
        let mut tx = self.begin_fenced(fence).await?;
        if claim.result.as_deref() != Some(words.as_str()) {
            tx.step_progress(self.tenant, run.id, claim.index, &words).await?;
        }
        let next = Next { status: "running", cursor: claim.index, not_before_ms: now + WAIT_POLL_MS };
        self.move_run(&mut tx, run, &next, now).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Every queued operation settled: each app's outcome, the plan's status, the step's end
    /// and the "offboarding done" notice.
    async fn finish_deprovision(
        &self,
        run: &RunRecord,
        def: &Definition,
        claim: &StepRecord,
        queued: QueuedOffboarding,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let QueuedOffboarding { mut view, plan, ops } = queued;
        if let Some(plan) = plan {
            let records = self.store.plan_operations(self.tenant, plan).await?;
            for (index, id) in &ops {
                let (Some(step), Some(rec)) = (view.apps.get_mut(*index), records.iter().find(|r| r.id == *id)) else {
                    continue;
                };
                let outcome = match rec.status {
                    OperationStatus::Succeeded => "done",
                    OperationStatus::Failed => "failed",
                    OperationStatus::Dismissed => "dismissed",
                    _ => "queued",
                };
                step.outcome = Some(outcome.into());
                step.error = if outcome == "done" { None } else { rec.last_error.clone() };
            }
        }
        view.status = if view.apps.iter().all(|s| matches!(s.outcome.as_deref(), Some("done" | "nothing" | "task"))) {
            "done".into()
        } else {
            "incomplete".into()
        };
        let apps: Vec<String> = view
            .apps
            .iter()
            .map(|s| format!("{} {}: {}", s.app, s.action, s.outcome.as_deref().unwrap_or("?")))
            .collect();
        let summary = format!(
            "offboarding {}: {}",
            view.status,
            if apps.is_empty() { "no account known".to_owned() } else { apps.join("; ") }
        );
        let failed: Vec<String> = view
            .apps
            .iter()
            .filter(|s| matches!(s.outcome.as_deref(), Some("failed" | "held" | "dismissed" | "queued")))
            .map(|s| format!("{}: {}", s.app, s.error.clone().unwrap_or_else(|| s.outcome.clone().unwrap_or_default())))
            .collect();
        let outcome = if failed.is_empty() {
            (true, Some(summary), None)
        } else {
            (false, Some(summary), Some(failed.join("; ")))
        };
        let next = self.end_step(run, def, claim.index, "deprovision", outcome, now, fence).await?;
        if next.is_some() {
            if let Some(plan) = plan {
                self.store.set_plan_status(self.tenant, plan, crate::admin::plan_status(&view)).await?;
            }
            let people = self.store.list_people(self.tenant).await?;
            if let Some(person) = people.iter().find(|p| p.id == run.person_id) {
                let mut done = crate::admin::offboarding_notice(&view, "offboarding.done", person);
                let known = self.store.list_apps(self.tenant).await?;
                done.apps =
                    known.iter().filter(|a| view.apps.iter().any(|s| s.app == a.app.name)).map(|a| a.app.id).collect();
                self.notify(&done).await;
            }
        }
        Ok(next)
    }

    /// Records the end of a step that acted outside the store (`ok`, its result, its error)
    /// and moves the run on.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn end_step(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        kind: &str,
        (ok, result, error): (bool, Option<String>, Option<String>),
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let status = if ok { "done" } else { "failed" };
        let at = self.now_ms().max(now);
        let next = next_after(&def.steps, index, ok, at);
        let mut tx = self.begin_fenced(fence).await?;
        if !tx.finish_step(self.tenant, run.id, index, end(status, result.as_deref(), error.as_deref()), at).await? {
            return Ok(None);
        }
        if !self.move_run(&mut tx, run, &next, at).await? {
            return Ok(None);
        }
        self.audit_step(&mut tx, run, index, kind, status, error.as_deref()).await?;
        tx.commit().await?;
        Ok(Some(next))
    }
}

pub(super) fn waiting_words(pending: usize) -> String {
    if pending == 1 { "waiting for 1 operation".to_owned() } else { format!("waiting for {pending} operations") }
}

/// Who approves, in words, and the recipients who are asked.
pub(crate) fn approvers(run: &RunRecord, by: Approver) -> (String, Vec<Recipient>) {
    match (by, &run.manager) {
        (Approver::Manager, Some(m)) => (format!("the manager {m} (or an org admin)"), vec![Recipient::Manager]),
        // No manager in the directory: the org admins stand in.
        (Approver::Manager, None) => ("an org admin (the person has no manager)".into(), vec![Recipient::OrgAdmins]),
        (Approver::OrgAdmin, _) => ("an org admin".into(), vec![Recipient::OrgAdmins]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_stops_the_run_unless_it_says_go_on() {
        let steps: Vec<Step> =
            ["notify:manager", "deprovision+continue", "wait:1"].iter().map(|s| Step::parse(s).unwrap()).collect();
        let n = next_after(&steps, 0, false, 5);
        assert_eq!((n.status, n.cursor), ("failed", 0));
        let n = next_after(&steps, 1, false, 5);
        assert_eq!((n.status, n.cursor), ("running", 2));
        let n = next_after(&steps, 2, true, 5);
        assert_eq!((n.status, n.cursor), ("done", 3));
    }
}
