//! Offboarding a person: at once or from a date, across every app where Tenure knows an account
//! of theirs, through the deprovisioning guard (as an admin's act) and the durable queue, with
//! the people who must know told; and its undoing (a re-hire).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_core::guard::Authority;
use tenure_core::*;
use tenure_store::{AuditRecord, DirtyMark, Offboarding, OperationStatus};
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::notify::Notice;
use crate::{AppPlan, EngineError};

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// An offboarding as asked: when (`now`, the default, or a `YYYY-MM-DD` date), only what it
/// would do (`preview`), or its undoing (`undo`: the person is re-hired).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardSpec {
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub undo: bool,
}

/// An offboarding as the API takes it: [`OffboardSpec`]'s fields and the named successor.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardRequest {
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub undo: bool,
    /// Who gets the person's seats: in each app with license pools, the seat (tier) they hold
    /// goes to this person (by email), a license change of their account or, without one, a
    /// person-level assignment with that license.
    #[serde(default)]
    pub successor: Option<String>,
}

impl OffboardRequest {
    pub fn into_parts(self) -> (OffboardSpec, Option<String>) {
        (OffboardSpec { at: self.at, preview: self.preview, undo: self.undo }, self.successor)
    }
}

/// What an offboarding does (or did) in one app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OffboardStep {
    pub app: String,
    /// `deactivate`, `delete`, `remove_license`, `manual_task`, `activate`, `create` (an
    /// undoing), `successor` (the person's seat goes to the named successor), `withheld` (the person is on legal hold: see `reason`), or `nothing` (see
    /// `reason`).
    pub action: String,
    /// The account, by the app's id for it, and its userName.
    pub account: Option<String>,
    pub user_name: Option<String>,
    pub reason: String,
    /// After the act: `done`, `failed`, `queued` (waiting for a retry, carried on by `serve`),
    /// `held`, `dry_run`, `task` (a manual task was opened), `withheld` (legal hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An offboarding, previewed or carried out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OffboardView {
    pub person: String,
    pub name: String,
    pub manager: Option<String>,
    /// The day it takes effect.
    pub effective: String,
    /// `preview`, `scheduled` (a later date), `done` (every app settled), `incomplete` (some
    /// app failed, holds or waits: see `apps`), `undone`.
    pub status: String,
    pub apps: Vec<OffboardStep>,
    /// Who is told, through which channel.
    pub notified: Vec<String>,
    pub plan_id: Option<String>,
    /// The named successor, who gets the person's seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    /// From the command to the last app's answer.
    pub elapsed_ms: u64,
}

/// Tenure's own offboarding of a person, as it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OffboardingState {
    pub person: String,
    /// The day it took (or takes) effect.
    pub effective: String,
    /// Who offboarded the person.
    pub by: String,
    pub since_ms: i64,
}

/// An offboarding whose operations were queued and not waited for (a workflow's
/// `deprovision` step): the view as queued, its plan, and which queued operation carries out
/// which of `view.apps` (by index).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct QueuedOffboarding {
    pub view: OffboardView,
    pub plan: Option<PlanId>,
    pub ops: Vec<(usize, OperationId)>,
}

impl Admin<'_> {
    /// The person's offboarding in Tenure, if they are offboarded (org admins and auditors).
    pub async fn offboarding_of(&self, email: &str) -> Result<Option<OffboardingState>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        let found = self.store().offboardings(self.tenant()).await?;
        Ok(found.into_iter().find(|o| o.email.eq_ignore_ascii_case(email.trim())).map(|o| OffboardingState {
            person: o.email,
            effective: o.effective.format(DATE).unwrap_or_default(),
            by: o.actor,
            since_ms: o.created_ms,
        }))
    }

    /// Offboards a person (or previews it, or undoes it): see [`OffboardSpec`].
    pub async fn offboard(&self, email: &str, spec: OffboardSpec) -> Result<OffboardView, EngineError> {
        Ok(self.offboard_with(email, spec, None, None).await?.view)
    }

    /// [`Self::offboard`] with a named successor, who gets the person's seats (see
    /// [`OffboardRequest::successor`]).
    pub async fn offboard_to(
        &self,
        email: &str,
        spec: OffboardSpec,
        successor: Option<&str>,
    ) -> Result<OffboardView, EngineError> {
        Ok(self.offboard_with(email, spec, successor, None).await?.view)
    }

    /// Offboards a person now without waiting for the apps: the mark, its audit entry and the
    /// operations queued through the guard (as `offboard`); the queue carries them out, and
    /// whoever asked looks at `ops` later ([`crate::workflows`]' `deprovision` step).
    /// Its writes carry the duty's `fence`: a node that lost the duty offboards nobody.
    pub(crate) async fn offboard_queued(
        &self,
        email: &str,
        fence: &tenure_store::Fence,
    ) -> Result<QueuedOffboarding, EngineError> {
        self.offboard_with(email, OffboardSpec::default(), None, Some(fence)).await
    }

    /// `fence`: queued under a duty, not waited for; `None`: an admin's act, waited for.
    async fn offboard_with(
        &self,
        email: &str,
        spec: OffboardSpec,
        successor: Option<&str>,
        fence: Option<&tenure_store::Fence>,
    ) -> Result<QueuedOffboarding, EngineError> {
        let wait = fence.is_none();
        self.actor.require(Need::OrgAdmin)?;
        let started = Instant::now();
        let today = self.engine.today().await?;
        let effective = match spec.at.as_deref().map(str::trim) {
            None | Some("now" | "") => today,
            Some(raw) => time::Date::parse(raw, DATE)
                .map_err(|_| EngineError::field("at", format!("{raw:?}: `now` or a date as YYYY-MM-DD")))?,
        };
        if spec.undo && (spec.at.is_some() || spec.preview) {
            return Err(EngineError::field("undo", "an undoing takes no date and has no preview"));
        }
        let people = self.store().list_people(self.tenant()).await?;
        let person = people
            .iter()
            .find(|p| p.email.eq_ignore_ascii_case(email.trim()))
            .ok_or_else(|| EngineError::NotFound(format!("person {email}")))?
            .clone();
        let successor = match successor.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(_) if spec.undo => return Err(EngineError::field("successor", "an undoing has no successor")),
            Some(_) if effective > today => {
                return Err(EngineError::field(
                    "successor",
                    "a successor is named for an offboarding that acts now: offboard on the day, or hand the \
                     seats on by a workflow's reassign-license step",
                ));
            }
            Some(email) => Some(self.successor_of(&people, &person, email)?.clone()),
        };
        let manager = crate::workflows::manager_of(&people, &person).map(|m| m.email.clone());
        let mut view = OffboardView {
            person: person.email.clone(),
            name: person.display(),
            manager: manager.clone(),
            effective: effective.format(DATE).unwrap_or_default(),
            status: "preview".into(),
            apps: Vec::new(),
            notified: Vec::new(),
            plan_id: None,
            successor: successor.as_ref().map(|s| s.email.clone()),
            elapsed_ms: 0,
        };
        if spec.undo {
            let view = self.undo_offboarding(&person, view, started).await?;
            return Ok(QueuedOffboarding { view, plan: None, ops: Vec::new() });
        }

        let acts_now = effective <= today;
        let (mut plans, disabled) = self.engine.plan_person_everywhere(person.id, true, effective.max(today)).await?;
        view.apps = steps(&plans, person.id);
        let handoffs = match &successor {
            Some(s) => self.handoffs(&person, s).await?,
            None => Vec::new(),
        };
        transfers_first(&mut view.apps, &plans, &people, person.id);
        for record in &disabled {
            let known = self.store().list_accounts(self.tenant(), record.app.id).await?;
            if let Some(a) = known.iter().find(|a| a.link.person_id == person.id) {
                view.apps.push(OffboardStep {
                    app: record.app.name.clone(),
                    action: "nothing".into(),
                    account: Some(a.link.remote_id.clone()),
                    user_name: Some(a.user_name.clone()),
                    reason: "the app is disabled: nothing is carried out for it until it is enabled".into(),
                    outcome: None,
                    error: None,
                });
            }
        }
        let first_handoff = view.apps.len();
        if let Some(s) = &successor {
            view.apps.extend(handoffs.iter().map(|h| h.step(s)));
        }
        let mut notice = offboarding_notice(&view, "offboarding.started", &person);
        notice.apps = plans.iter().map(|p| p.app.id).collect();
        view.notified = self.engine.audience(&notice).await?;
        if spec.preview {
            view.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(QueuedOffboarding { view, plan: None, ops: Vec::new() });
        }

        // The mark, its audit entry, the person's dirty mark (should this process die before
        // the queue has the work, propagation carries it out) and the "started" notice: one
        // transaction.
        let channels = self.store().channels(self.tenant()).await?;
        let messages = self.engine.messages_for(&notice, &channels).await?;
        let mut tx = self.store().begin().await?;
        if let Some(fence) = fence {
            tx.check_fence(fence).await?;
        }
        let record = Offboarding {
            person_id: person.id,
            email: person.email.clone(),
            effective,
            actor: self.actor.name.clone(),
            created_ms: crate::Clock::now_ms(&crate::SystemClock),
        };
        tx.set_offboarding(self.tenant(), &record).await?;
        tx.mark_dirty(self.tenant(), &[DirtyMark::person(person.id)]).await?;
        let detail = json!({"effective": view.effective, "apps": view.apps});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "person.offboard",
                subject: &person.email,
                person: Some(&person.email),
                app: None,
                detail: &detail,
            },
        )
        .await?;
        if acts_now {
            tx.enqueue_messages(self.tenant(), &messages).await?;
        }
        tx.commit().await?;
        if !acts_now {
            view.status = "scheduled".into();
            view.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(QueuedOffboarding { view, plan: None, ops: Vec::new() });
        }

        if let Some(s) = &successor {
            self.write_handoffs(&handoffs, &person, s).await?;
            Self::add_handoff_ops(&mut plans, &handoffs, &person, s);
        }
        let answered = [DirtyMark::person(person.id)];
        let enqueued = self.engine.enqueue_under(&plans, &answered, Authority::Admin, &self.actor.name, fence).await?;
        let mut ops = Vec::new();
        if let Some(plan) = enqueued.plan_id {
            view.plan_id = Some(plan.to_string());
            if wait {
                let executor = crate::Executor::new(self.engine.clone(), self.engine.worker_options.clone());
                executor.drain(Some(plan), self.engine.drain_wait).await?;
            }
            let records = self.store().plan_operations(self.tenant(), plan).await?;
            let of = |index: usize| match &successor {
                Some(s) if index >= first_handoff => s.id,
                _ => person.id,
            };
            for (index, step) in view.apps.iter_mut().enumerate() {
                let Some(rec) = records.iter().find(|r| {
                    r.op.person_id == of(index)
                        && plans.iter().any(|p| p.app.id == r.op.app_id && p.app.name == step.app)
                        && r.op.kind.remote_id() == step.account.as_deref()
                }) else {
                    continue;
                };
                ops.push((index, rec.id));
                let (outcome, error) = match rec.status {
                    OperationStatus::Succeeded => ("done", None),
                    OperationStatus::Failed => ("failed", rec.last_error.clone()),
                    _ => ("queued", rec.last_error.clone()),
                };
                step.outcome = Some(outcome.into());
                step.error = error;
            }
            if wait {
                self.store().set_plan_status(self.tenant(), plan, plan_status(&view)).await?;
            }
        }
        for step in view.apps.iter_mut().filter(|s| s.outcome.is_none()) {
            step.outcome = Some(match step.action.as_str() {
                "nothing" => "nothing".to_owned(),
                "manual_task" => "task".to_owned(),
                "withheld" => "withheld".to_owned(),
                _ if enqueued.held_losses > 0 => "held".to_owned(),
                _ if enqueued.dry_run > 0 => "dry_run".to_owned(),
                _ => "queued".to_owned(),
            });
        }
        if let Some(s) = &successor
            && wait
        {
            self.seat_successor(&mut view.apps[first_handoff..], &handoffs, s).await?;
        }
        view.status = if view.apps.iter().all(|s| matches!(s.outcome.as_deref(), Some("done" | "nothing" | "task"))) {
            "done".into()
        } else {
            "incomplete".into()
        };
        view.elapsed_ms = started.elapsed().as_millis() as u64;
        if !wait {
            return Ok(QueuedOffboarding { view, plan: enqueued.plan_id, ops });
        }
        let mut done = offboarding_notice(&view, "offboarding.done", &person);
        done.apps = notice.apps.clone();
        self.engine.notify(&done).await;
        // The messages go out before the command returns, within a bounded wait: a channel that
        // is down leaves its messages in the outbox for `serve`, and the offboarding stands.
        if let Err(e) = self.engine.drain_notifications(std::time::Duration::from_secs(10)).await {
            tracing::warn!(error = %e, "notifications stay in the outbox");
        }
        Ok(QueuedOffboarding { view, plan: enqueued.plan_id, ops })
    }

    async fn undo_offboarding(
        &self,
        person: &Person,
        mut view: OffboardView,
        started: Instant,
    ) -> Result<OffboardView, EngineError> {
        let mut tx = self.store().begin().await?;
        if !tx.clear_offboarding(self.tenant(), person.id).await? {
            return Err(EngineError::Refused(format!("{} is not offboarded in Tenure", person.email)));
        }
        tx.mark_dirty(self.tenant(), &[DirtyMark::person(person.id)]).await?;
        let detail = json!({});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "person.offboard_undone",
                subject: &person.email,
                person: Some(&person.email),
                app: None,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        // What the policy grants comes back: linked accounts are re-activated, never created
        // again; apps where the account is gone get a new one.
        let (plans, _) = self.engine.plan_person_everywhere(person.id, false, self.engine.today().await?).await?;
        view.apps = steps(&plans, person.id);
        let enqueued = self.engine.enqueue(&plans, &[DirtyMark::person(person.id)]).await?;
        if let Some(plan) = enqueued.plan_id {
            view.plan_id = Some(plan.to_string());
            let executor = crate::Executor::new(self.engine.clone(), self.engine.worker_options.clone());
            executor.drain(Some(plan), self.engine.drain_wait).await?;
            let records = self.store().plan_operations(self.tenant(), plan).await?;
            for (step, rec) in view.apps.iter_mut().zip(records.iter()) {
                step.outcome = Some(
                    match rec.status {
                        OperationStatus::Succeeded => "done",
                        OperationStatus::Failed => "failed",
                        _ => "queued",
                    }
                    .into(),
                );
                step.error = rec.last_error.clone();
            }
        }
        view.status = "undone".into();
        view.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(view)
    }
}

/// Says, on each loss in an app whose policy hands the person's Drive files on first, to whom
/// they go before the account is suspended (or deleted), or why they cannot.
fn transfers_first(steps: &mut [OffboardStep], plans: &[AppPlan], people: &[Person], person: PersonId) {
    for p in plans {
        let Some(policy) = crate::drive_transfer::policy(&p.app) else {
            continue;
        };
        for step in steps.iter_mut().filter(|s| s.app == p.app.name) {
            let then = match step.action.as_str() {
                "deactivate" => "suspend",
                // A suspended account had its files handed on when it was suspended.
                "delete" if p.observed.iter().any(|a| Some(&a.remote_id) == step.account.as_ref() && a.active) => {
                    "delete"
                }
                _ => continue,
            };
            step.reason = match crate::drive_transfer::recipient_for(policy, people, person) {
                Ok(to) => format!("transfer Drive files to {to}, then {then}; {}", step.reason),
                Err(why) => format!("cannot transfer Drive files ({why}): the {then} will fail; {}", step.reason),
            };
        }
    }
}

pub(crate) fn plan_status(view: &OffboardView) -> &'static str {
    if view.apps.iter().any(|s| s.outcome.as_deref() == Some("queued")) {
        "applying"
    } else if view.apps.iter().any(|s| s.outcome.as_deref() == Some("failed")) {
        "applied_with_failures"
    } else {
        "applied"
    }
}

/// The per-app steps of a person's plans: one per operation, and one `nothing` for each
/// account of theirs the plan leaves as it is, saying why.
fn steps(plans: &[AppPlan], person: PersonId) -> Vec<OffboardStep> {
    let mut out = Vec::new();
    for p in plans {
        let user_name = |remote: &str| {
            p.observed
                .iter()
                .find(|a| a.remote_id == remote)
                .and_then(|a| a.attributes.get(tenure_core::attributes::USER_NAME).cloned())
        };
        let manual = p.app.settings.manual();
        for op in p.plan.ops.iter().filter(|o| o.person_id == person) {
            let action = match (&op.kind, manual) {
                (_, true) => "manual_task",
                (OpKind::ChangeLicense { license: None, .. }, _) => "remove_license",
                (kind, _) => kind.name(),
            };
            let remote = op.kind.remote_id().map(str::to_owned);
            let reason = if manual {
                format!("{} by hand (no connector): a task for the app's owner; {}", op.kind.name(), op.reason)
            } else {
                op.reason.to_string()
            };
            out.push(OffboardStep {
                app: p.app.name.clone(),
                action: action.into(),
                user_name: remote.as_deref().and_then(user_name),
                account: remote,
                reason,
                outcome: None,
                error: None,
            });
        }
        for w in p.plan.withheld.iter().filter(|w| w.op.person_id == person) {
            let remote = w.op.kind.remote_id().map(str::to_owned);
            out.push(OffboardStep {
                app: p.app.name.clone(),
                action: "withheld".into(),
                user_name: remote.as_deref().and_then(user_name),
                account: remote,
                reason: w.why.clone(),
                outcome: None,
                error: None,
            });
        }
        for account in &p.observed {
            if out.iter().any(|s| s.app == p.app.name && s.account.as_deref() == Some(&account.remote_id)) {
                continue;
            }
            let reason = if !account.active {
                "already inactive".to_owned()
            } else if p.app.settings.deprovision == DeprovisionPolicy::DoNothing {
                "the app's deprovisioning policy leaves accounts as they are".to_owned()
            } else {
                "nothing to change".to_owned()
            };
            out.push(OffboardStep {
                app: p.app.name.clone(),
                action: "nothing".into(),
                account: Some(account.remote_id.clone()),
                user_name: account.attributes.get(tenure_core::attributes::USER_NAME).cloned(),
                reason,
                outcome: None,
                error: None,
            });
        }
    }
    out
}

pub(crate) fn offboarding_notice(view: &OffboardView, event: &str, person: &Person) -> Notice {
    let done = event == "offboarding.done";
    let subject = if done {
        format!("Offboarding of {} ({}): {}", view.name, view.person, view.status)
    } else {
        format!("Offboarding of {} ({}) has started", view.name, view.person)
    };
    let mut lines = vec![if done {
        format!("{} ({}) was offboarded on {}. Per app:", view.name, view.person, view.effective)
    } else {
        format!("{} ({}) is being offboarded, effective {}. Per app:", view.name, view.person, view.effective)
    }];
    if view.apps.is_empty() {
        lines.push("- no app account of theirs is known to Tenure".into());
    }
    for s in &view.apps {
        let account = s.user_name.clone().or_else(|| s.account.clone()).unwrap_or_default();
        let what = s.action.replace('_', " ");
        let outcome = match (s.outcome.as_deref(), &s.error) {
            (Some("task"), _) => ": a task for the app's owner".to_owned(),
            (Some(o), Some(e)) => format!(": {o} ({e})"),
            (Some(o), None) => format!(": {o}"),
            _ => String::new(),
        };
        lines.push(format!("- {}: {what} {account}{outcome}", s.app));
    }
    if let Some(m) = &view.manager {
        lines.push(format!("Manager: {m}."));
    }
    let mut notice = Notice::new(event, subject);
    notice.lines = lines;
    notice.path = Some(format!("/people/{}", view.person));
    notice.person = Some(person.email.clone());
    notice.manager = view.manager.clone();
    notice.data = json!({"person": view.person, "effective": view.effective, "status": view.status, "apps": view.apps});
    notice
}
