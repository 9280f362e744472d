//! Carrying runs forward, one step at a time, each step at most once.
//!
//! A step's row is its claim (`workflow_steps`' primary key). Steps whose effect is a store write
//! insert their row, write their effect and move the run's cursor (compare-and-set) in one
//! transaction: either all of it happened or none, and a second executor's transaction finds
//! the row or the cursor moved and changes nothing. A deprovisioning acts outside the store, so
//! its claim is committed first (`running`); should the process stop before recording its end,
//! the claim is found stale ([`STEP_LEASE_MS`]) and recorded `interrupted` — not run again.

use serde_json::json;
use tenure_core::Role;
use tenure_store::{AuditRecord, RunRecord, StepEnd, Tx};

use super::model::{Action, Approver, Definition, Step};
use crate::admin::{Actor, OffboardSpec};
use crate::notify::{Notice, Recipient};
use crate::{Engine, EngineError};

/// How long a claimed step may run before a later pass takes it for interrupted: longer than an
/// offboarding's wait for its apps.
pub const STEP_LEASE_MS: i64 = 15 * 60 * 1000;
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
struct Next {
    status: &'static str,
    cursor: i64,
    not_before_ms: i64,
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

fn end<'a>(status: &'a str, result: Option<&'a str>, error: Option<&'a str>) -> StepEnd<'a> {
    StepEnd { status, result, error, approver: None }
}

impl Engine {
    /// Carries every due run as far as it goes now; how many steps were carried out.
    pub(super) async fn advance_runs(&self, now: i64) -> Result<usize, EngineError> {
        let mut steps = 0;
        for run in self.store.due_runs(self.tenant, now, RUNS_PER_PASS).await? {
            match self.advance(run.clone(), now).await {
                Ok(n) => steps += n,
                Err(e) => {
                    tracing::warn!(run = %run.id, workflow = %run.workflow, error = %e, "workflow run waits for the next pass")
                }
            }
        }
        Ok(steps)
    }

    async fn advance(&self, mut run: RunRecord, now: i64) -> Result<usize, EngineError> {
        let def: Definition = match serde_json::from_value(run.definition.clone()) {
            Ok(d) => d,
            Err(e) => {
                let mut tx = self.store.begin().await?;
                tx.advance_run(self.tenant, run.id, &run.status, run.cursor, "failed", run.cursor, now, now).await?;
                tx.commit().await?;
                return Err(EngineError::Internal(format!("run {}: its definition is unreadable ({e})", run.id)));
            }
        };
        let mut done = 0;
        while run.status == "running" && run.not_before_ms <= now {
            let Some(step) = def.steps.get(run.cursor as usize) else {
                // Every step ran (a run whose last step was recorded before its end was).
                let mut tx = self.store.begin().await?;
                tx.advance_run(self.tenant, run.id, "running", run.cursor, "done", run.cursor, now, now).await?;
                tx.commit().await?;
                break;
            };
            let Some(next) = self.run_step(&run, &def, step, now).await? else { break };
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
                    let mut tx = self.store.begin().await?;
                    let ended =
                        tx.finish_step(self.tenant, run.id, index, end("interrupted", None, Some(error)), now).await?;
                    if !ended || !self.move_run(&mut tx, run, &next, now).await? {
                        return Ok(None);
                    }
                    self.audit_step(&mut tx, run, index, kind, "interrupted", Some(error)).await?;
                    tx.commit().await?;
                    Ok(Some(next))
                }
                // A step that ended with its cursor not moved: only an approval released by
                // `approve` between the reads; the run's next read has it right.
                _ => Ok(None),
            };
        }

        if let Action::Deprovision = step.action {
            return self.deprovision(run, def, index, now).await;
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
            Action::Deprovision => return Ok(None),
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
        let mut tx = self.store.begin().await?;
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

    async fn move_run(&self, tx: &mut Tx, run: &RunRecord, next: &Next, now: i64) -> Result<bool, EngineError> {
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

    async fn audit_step(
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
    pub(super) async fn remind_approvals(&self, now: i64) -> Result<usize, EngineError> {
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
            let mut tx = self.store.begin().await?;
            if tx.set_reminded(self.tenant, run.id, run.cursor, now).await? {
                tx.enqueue_messages(self.tenant, &messages).await?;
                tx.commit().await?;
                reminded += 1;
            }
        }
        Ok(reminded)
    }

    /// Offboards the run's person: the claim first, then the offboarding (queue, guard, audit,
    /// notices), then its end.
    async fn deprovision(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        now: i64,
    ) -> Result<Option<Next>, EngineError> {
        let mut tx = self.store.begin().await?;
        if !tx.claim_step(self.tenant, run.id, index, "deprovision", end("running", None, None), now).await? {
            return Ok(None);
        }
        tx.commit().await?;
        let actor = Actor { name: format!("workflow:{}", run.workflow), role: Role::OrgAdmin, apps: Vec::new() };
        let (ok, result, error) = match self.admin(&actor).offboard(&run.person, OffboardSpec::default()).await {
            Ok(view) => {
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
                    .filter(|s| matches!(s.outcome.as_deref(), Some("failed" | "held")))
                    .map(|s| {
                        format!(
                            "{}: {}",
                            s.app,
                            s.error.clone().unwrap_or_else(|| s.outcome.clone().unwrap_or_default())
                        )
                    })
                    .collect();
                if failed.is_empty() {
                    (true, Some(summary), None)
                } else {
                    (false, Some(summary), Some(failed.join("; ")))
                }
            }
            Err(e) => (false, None, Some(e.to_string())),
        };
        let status = if ok { "done" } else { "failed" };
        // The offboarding took its time: the run is moved as of its end.
        let at = self.now_ms().max(now);
        let next = next_after(&def.steps, index, ok, at);
        let mut tx = self.store.begin().await?;
        if !tx.finish_step(self.tenant, run.id, index, end(status, result.as_deref(), error.as_deref()), at).await? {
            return Ok(None);
        }
        if !self.move_run(&mut tx, run, &next, at).await? {
            return Ok(None);
        }
        self.audit_step(&mut tx, run, index, "deprovision", status, error.as_deref()).await?;
        tx.commit().await?;
        Ok(Some(next))
    }
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
