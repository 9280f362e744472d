//! Steps whose effect is queue work for a few accounts: `remove-groups` (the person's accounts
//! out of every in-app group they are in), `reassign-license` and `reassign-role` (the person's
//! license tier or role to their manager or a named person, taken from them). Each is planned
//! here as operations with a [`Reason::Workflow`], handed to the queue through the
//! deprovisioning guard under the duty's fence (`enqueue_under`, as an admin's act: a license
//! taken away is a loss the guard weighs), and waited for over later passes as a `deprovision`
//! step is (`waiting for N operations`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tenure_core::attributes::{Attributes, LICENSE, ROLE};
use tenure_core::guard::{Authority, Coverage};
use tenure_core::{OpKind, OperationId, Person, Plan, PlanId, PlannedOp, Reason};
use tenure_store::{AppRecord, Fence, OperationStatus, RunRecord, StepRecord};

use super::manager_of;
use super::model::{Action, Definition, Step, TO_DEPARTMENT_HEAD, TO_MANAGER};
use super::runner::{Next, waiting_words};
use crate::{AppPlan, Clock, Engine, EngineError};

/// What a step queued and waits for: its plan, each queued operation with what it does in
/// words, what it found nothing to do for, and what it could not do (the step fails with
/// those once the rest has settled).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct QueuedWork {
    pub plan: Option<PlanId>,
    pub ops: Vec<(String, OperationId)>,
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Operations planned by a step, each with its words, and what the step noted.
#[derive(Default)]
struct Planned {
    plans: Vec<AppPlan>,
    labels: Vec<(PlannedOp, String)>,
    notes: Vec<String>,
    problems: Vec<String>,
    /// People put first in a pool's line once the operations are queued: the seat the leaver
    /// frees is theirs through the normal path.
    skips: Vec<Skip>,
}

/// A person the step puts first in a pool's line, and why.
struct Skip {
    app: (tenure_core::AppId, String),
    pool: tenure_core::licenses::LicensePool,
    person: (tenure_core::PersonId, String),
    why: String,
}

impl Planned {
    fn add(&mut self, record: &AppRecord, managed: usize, op: PlannedOp, label: String) {
        self.labels.push((op.clone(), label));
        match self.plans.iter_mut().find(|p| p.app.id == record.app.id) {
            Some(p) => p.plan.ops.push(op),
            None => self.plans.push(AppPlan {
                app: record.app.clone(),
                plan: Plan { ops: vec![op], ..Plan::default() },
                observed: Vec::new(),
                managed,
                // Covers nobody: a held loss of the person elsewhere in the app is no business
                // of this step, and must not be taken for withdrawn.
                covered: Coverage::People(HashSet::new()),
                read_at_ms: crate::SystemClock.now_ms(),
                notes: Vec::new(),
            }),
        }
    }
}

fn unsupported(e: &tenure_connectors::ConnectorError) -> bool {
    matches!(e, tenure_connectors::ConnectorError::Unsupported { .. })
}

impl Engine {
    /// Claims the step, plans and queues its operations, and waits for them (or ends now when
    /// nothing was queued).
    pub(super) async fn queued_step(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        step: &Step,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let kind = step.action.kind();
        let mut tx = self.begin_fenced(fence).await?;
        if !tx.claim_step(self.tenant, run.id, index, kind, super::runner::end("running", None, None), now).await? {
            return Ok(None);
        }
        tx.commit().await?;
        let why = step.to_string();
        let planned = match &step.action {
            Action::RemoveGroups { app } => self.group_removals(run, &why, app.as_deref()).await,
            Action::ReassignLicense { app, to } => self.reassignment(run, &why, app, to, LICENSE).await,
            Action::ReassignRole { app, to } => self.reassignment(run, &why, app, to, ROLE).await,
            _ => Err(EngineError::Internal(format!("{kind} is not queued work"))),
        };
        let planned = match planned {
            Ok(p) => p,
            Err(e) => {
                return self.end_step(run, def, index, kind, (false, None, Some(e.to_string())), now, fence).await;
            }
        };
        let mut work = QueuedWork { notes: planned.notes, problems: planned.problems, ..QueuedWork::default() };
        // Nothing is half done: a reassignment missing its other half queues nothing.
        let half_done = kind != "remove-groups" && !work.problems.is_empty();
        let queue = !planned.labels.is_empty() && !half_done;
        if queue {
            let actor = format!("workflow:{}", run.workflow);
            let enqueued = self.enqueue_under(&planned.plans, &[], Authority::Admin, &actor, Some(fence)).await?;
            if enqueued.held_losses > 0 {
                work.problems.push(format!(
                    "{} license removal(s) held by the deprovisioning guard: approve the held plan (`tenure plan list`)",
                    enqueued.held_losses
                ));
            }
            if enqueued.withheld > 0 {
                work.problems
                    .push(format!("{} operation(s) withheld (the person is on legal hold)", enqueued.withheld));
            }
            work.plan = enqueued.plan_id;
            if enqueued.held_losses == 0 && enqueued.withheld == 0 {
                work.notes.extend(self.skip_lines(&planned.skips, &actor, fence).await?);
            }
            if let Some(plan) = enqueued.plan_id {
                let records = self.store.plan_operations(self.tenant, plan).await?;
                for (op, label) in &planned.labels {
                    if let Some(rec) = records.iter().find(|r| r.op.app_id == op.app_id && r.op.kind == op.kind) {
                        work.ops.push((label.clone(), rec.id));
                    }
                }
            }
            let left_out =
                planned.labels.len().saturating_sub(work.ops.len() + enqueued.held_losses + enqueued.withheld);
            if left_out > 0 {
                work.problems.push(format!(
                    "{left_out} operation(s) not queued: an earlier operation of the same account or group is \
                     still queued; run the workflow's step again later by hand"
                ));
            }
        }
        let pending = self.pending_ops(&work).await?;
        if pending == 0 {
            return self.finish_work(run, def, index, kind, work, now, fence).await;
        }
        let detail = serde_json::to_value(&work).map_err(|e| EngineError::Internal(e.to_string()))?;
        let words = waiting_words(pending);
        let mut tx = self.begin_fenced(fence).await?;
        if !tx.wait_step(self.tenant, run.id, index, &words, &detail).await? {
            return Ok(None);
        }
        let next = Next { status: "running", cursor: index, not_before_ms: now + super::runner::WAIT_POLL_MS };
        if !self.move_run(&mut tx, run, &next, now).await? {
            return Ok(None);
        }
        self.audit_step(&mut tx, run, index, kind, "waiting", None).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn pending_ops(&self, work: &QueuedWork) -> Result<usize, EngineError> {
        let Some(plan) = work.plan else { return Ok(0) };
        let records = self.store.plan_operations(self.tenant, plan).await?;
        Ok(work
            .ops
            .iter()
            .filter(|(_, id)| {
                records
                    .iter()
                    .any(|r| r.id == *id && matches!(r.status, OperationStatus::Pending | OperationStatus::Preview))
            })
            .count())
    }

    /// A queued-work step that waits: still waiting, or ended now that its operations settled.
    pub(super) async fn work_progress(
        &self,
        run: &RunRecord,
        def: &Definition,
        claim: &StepRecord,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let kind = claim.kind.as_str();
        let work: QueuedWork = match claim.detail.clone().map(serde_json::from_value) {
            Some(Ok(w)) => w,
            _ => {
                let error = "what the step queued is unreadable; check the queue".to_owned();
                return self.end_step(run, def, claim.index, kind, (false, None, Some(error)), now, fence).await;
            }
        };
        let pending = self.pending_ops(&work).await?;
        if pending == 0 {
            return self.finish_work(run, def, claim.index, kind, work, now, fence).await;
        }
        let words = waiting_words(pending);
        let mut tx = self.begin_fenced(fence).await?;
        if claim.result.as_deref() != Some(words.as_str()) {
            tx.step_progress(self.tenant, run.id, claim.index, &words).await?;
        }
        let next = Next { status: "running", cursor: claim.index, not_before_ms: now + super::runner::WAIT_POLL_MS };
        self.move_run(&mut tx, run, &next, now).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Every queued operation settled: what was done, and the step's end.
    #[allow(clippy::too_many_arguments)]
    async fn finish_work(
        &self,
        run: &RunRecord,
        def: &Definition,
        index: i64,
        kind: &str,
        mut work: QueuedWork,
        now: i64,
        fence: &Fence,
    ) -> Result<Option<Next>, EngineError> {
        let mut done = Vec::new();
        if let Some(plan) = work.plan {
            let records = self.store.plan_operations(self.tenant, plan).await?;
            for (label, id) in &work.ops {
                match records.iter().find(|r| r.id == *id) {
                    Some(r) if r.status == OperationStatus::Succeeded => done.push(label.clone()),
                    Some(r) => work.problems.push(format!(
                        "{label}: {} ({})",
                        r.status.as_str(),
                        r.last_error.clone().unwrap_or_default()
                    )),
                    None => work.problems.push(format!("{label}: no longer in the queue")),
                }
            }
        }
        let mut said: Vec<String> = done;
        said.extend(work.notes.iter().cloned());
        let result = if said.is_empty() { "nothing to do".to_owned() } else { said.join("; ") };
        let ok = work.problems.is_empty();
        let error = (!ok).then(|| work.problems.join("; "));
        self.end_step(run, def, index, kind, (ok, Some(result), error), now, fence).await
    }

    /// The person's accounts out of every in-app group they are in, in `app` or every app.
    async fn group_removals(&self, run: &RunRecord, step: &str, app: Option<&str>) -> Result<Planned, EngineError> {
        let mut planned = Planned::default();
        let apps = self.store.list_apps(self.tenant).await?;
        if let Some(name) = app
            && !apps.iter().any(|r| r.app.name == name)
        {
            return Err(EngineError::NotFound(format!("app {name}")));
        }
        for record in apps.iter().filter(|r| app.is_none_or(|name| r.app.name == name)) {
            let name = &record.app.name;
            if record.disabled || record.app.settings.manual() {
                if app.is_some() {
                    planned.problems.push(format!(
                        "{name}: {} (a task step asks its owner instead)",
                        if record.disabled { "the app is disabled" } else { "a manual app has no API" }
                    ));
                }
                continue;
            }
            let accounts = self.store.list_accounts(self.tenant, record.app.id).await?;
            let mine: Vec<String> = accounts
                .iter()
                .filter(|a| a.link.person_id == run.person_id)
                .map(|a| a.link.remote_id.clone())
                .collect();
            if mine.is_empty() {
                if app.is_some() {
                    planned.notes.push(format!("{name}: no account of theirs"));
                }
                continue;
            }
            let groups = match self.client(record)?.list_groups().await {
                Ok(groups) => groups,
                Err(e) if unsupported(&e) && app.is_none() => continue,
                Err(e) if unsupported(&e) => {
                    planned.problems.push(format!("{name}: its connector cannot change in-app groups"));
                    continue;
                }
                Err(e) => {
                    planned.problems.push(format!("{name}: its groups cannot be read ({e})"));
                    continue;
                }
            };
            let mut any = false;
            for group in groups {
                let remove: Vec<String> = group.members.iter().filter(|m| mine.contains(m)).cloned().collect();
                if remove.is_empty() {
                    continue;
                }
                any = true;
                let op = PlannedOp {
                    app_id: record.app.id,
                    person_id: crate::group_ops::group_key(record.app.id, &group.name),
                    person: format!("group {}", group.name),
                    kind: OpKind::GroupMembers {
                        group: group.name.clone(),
                        group_id: Some(group.remote_id.clone()),
                        add: Vec::new(),
                        remove,
                    },
                    reason: Reason::Workflow {
                        workflow: run.workflow.clone(),
                        step: step.to_owned(),
                        why: format!("{} leaves the group", run.person),
                    },
                };
                planned.add(record, accounts.len(), op, format!("{name}: out of group {}", group.name));
            }
            if !any {
                planned.notes.push(format!("{name}: in no group"));
            }
        }
        Ok(planned)
    }

    /// The person's license tier (`attribute` [`LICENSE`]) or role ([`ROLE`]) in `app` to `to`
    /// (the manager or an email), taken from them. A license is a `ChangeLicense` (its removal
    /// a loss the guard weighs), a role an attribute change.
    async fn reassignment(
        &self,
        run: &RunRecord,
        step: &str,
        app: &str,
        to: &str,
        attribute: &str,
    ) -> Result<Planned, EngineError> {
        let what = if attribute == ROLE { "role" } else { "license" };
        let change = |remote_id: &str, value: Option<String>| {
            if attribute == LICENSE {
                OpKind::ChangeLicense { remote_id: remote_id.to_owned(), license: value }
            } else {
                OpKind::Update {
                    remote_id: remote_id.to_owned(),
                    changes: Attributes::from([(attribute, value.unwrap_or_default())]),
                }
            }
        };
        let mut planned = Planned::default();
        let record = self.store.app_by_name(self.tenant, app).await?;
        if record.app.settings.manual() || record.disabled {
            planned.problems.push(format!("{app}: a manual or disabled app's {what}s are changed by a task step"));
            return Ok(planned);
        }
        let people = self.store.list_people(self.tenant).await?;
        let Some(person) = people.iter().find(|p| p.id == run.person_id) else {
            return Err(EngineError::NotFound(format!("person {}", run.person)));
        };
        if let Some(by) = super::targets::ByOrg::parse(to) {
            return self.reassignment_by_org(run, step, &record, &people, person, &by, attribute).await;
        }
        let target = match to {
            TO_MANAGER => manager_of(&people, person),
            TO_DEPARTMENT_HEAD => department_head(&people, person),
            _ => people.iter().find(|p| p.email.eq_ignore_ascii_case(to)),
        };
        let Some(target) = target else {
            planned.problems.push(match to {
                TO_MANAGER => format!("{} has no manager in the directory", person.email),
                TO_DEPARTMENT_HEAD => match person.department.as_deref().filter(|d| !d.trim().is_empty()) {
                    None => format!("{} has no department in the directory", person.email),
                    Some(d) => format!("{} heads {d} (nobody above them in it) or has no manager", person.email),
                },
                _ => format!("nobody with the email {to} in the directory"),
            });
            return Ok(planned);
        };
        let accounts = self.store.list_accounts(self.tenant, record.app.id).await?;
        let tier_of = |a: &tenure_store::StoredAccount| a.attributes.get(attribute).filter(|t| !t.is_empty()).cloned();
        let Some((mine, tier)) =
            accounts.iter().filter(|a| a.link.person_id == person.id).find_map(|a| tier_of(a).map(|t| (a, t)))
        else {
            planned.problems.push(format!("{} holds no {what} in {app}", person.email));
            return Ok(planned);
        };
        let Some(theirs) = accounts.iter().find(|a| a.link.person_id == target.id) else {
            planned.problems.push(format!("{} has no account in {app} to give the {what} {tier} to", target.email));
            return Ok(planned);
        };
        let reason = |why: String| Reason::Workflow { workflow: run.workflow.clone(), step: step.to_owned(), why };
        if tier_of(theirs).as_deref() == Some(tier.as_str()) {
            planned.notes.push(format!("{app}: {} holds {tier} already", target.email));
        } else {
            let give = PlannedOp {
                app_id: record.app.id,
                person_id: target.id,
                person: target.email.clone(),
                kind: change(&theirs.link.remote_id, Some(tier.clone())),
                reason: reason(format!("the {what} {tier} of {}", person.email)),
            };
            planned.add(&record, accounts.len(), give, format!("{app}: {tier} to {}", target.email));
        }
        let take = PlannedOp {
            app_id: record.app.id,
            person_id: person.id,
            person: person.email.clone(),
            kind: change(&mine.link.remote_id, None),
            reason: reason(format!("its {what} {tier} goes to {}", target.email)),
        };
        planned.add(&record, accounts.len(), take, format!("{app}: {tier} taken from {}", person.email));
        Ok(planned)
    }
}

impl Engine {
    /// A reassignment to someone chosen by organization (see [`super::targets`]). The person's
    /// license (or role) is taken from them; the chosen one with an account in the app gets it
    /// by a queued change, one without (a license only) is put first in the pool's line once the
    /// taking is queued, and gets the seat it frees through the normal path.
    #[allow(clippy::too_many_arguments)]
    async fn reassignment_by_org(
        &self,
        run: &RunRecord,
        step: &str,
        record: &AppRecord,
        people: &[Person],
        person: &Person,
        by: &super::targets::ByOrg,
        attribute: &str,
    ) -> Result<Planned, EngineError> {
        let what = if attribute == ROLE { "role" } else { "license" };
        let app = &record.app.name;
        let mut planned = Planned::default();
        let accounts = self.store.list_accounts(self.tenant, record.app.id).await?;
        let value_of =
            |a: &tenure_store::StoredAccount, name: &str| a.attributes.get(name).filter(|t| !t.is_empty()).cloned();
        let Some((mine, value)) = accounts
            .iter()
            .filter(|a| a.link.person_id == person.id)
            .find_map(|a| value_of(a, attribute).map(|t| (a, t)))
        else {
            planned.problems.push(format!("{} holds no {what} in {app}", person.email));
            return Ok(planned);
        };
        // The line is the one of the pool that takes the person's seat (their license tier).
        let pools: Vec<tenure_core::licenses::LicensePool> = self
            .store
            .license_pools(self.tenant)
            .await?
            .into_iter()
            .filter(|(a, _)| *a == record.app.id)
            .map(|(_, p)| p)
            .collect();
        let seats: Vec<tenure_core::licenses::waiting::PoolSeats> = pools
            .iter()
            .map(|p| tenure_core::licenses::waiting::PoolSeats {
                tier: p.tier.clone(),
                name: crate::license_lines::pool_name(p),
                seats: p.seats,
                used: 0,
                line: Vec::new(),
            })
            .collect();
        let pool =
            tenure_core::licenses::waiting::pool_of(&seats, value_of(mine, LICENSE).as_deref()).map(|i| &pools[i]);
        if by.chooses_from_line() && pool.is_none() {
            planned.problems.push(format!(
                "{app} has no license pool that takes the seat of {}: nobody waits in line",
                person.email
            ));
            return Ok(planned);
        }
        let line: Vec<tenure_store::WaitingRow> = match pool {
            Some(pool) => self
                .store
                .license_waiting(self.tenant, Some(record.app.id))
                .await?
                .into_iter()
                .filter(|w| w.tier == pool.tier)
                .collect(),
            None => Vec::new(),
        };
        let holders: std::collections::HashMap<tenure_core::PersonId, bool> = accounts
            .iter()
            .filter(|a| a.active && a.link.person_id != person.id)
            .map(|a| (a.link.person_id, value_of(a, attribute).as_deref() == Some(value.as_str())))
            .collect();
        let groups = match by {
            super::targets::ByOrg::Group(_) => self.store.list_groups(self.tenant).await?,
            _ => Vec::new(),
        };
        let pool_words = pool.map(crate::license_lines::pool_name).unwrap_or_else(|| app.clone());
        let field = super::targets::Field {
            people,
            groups: &groups,
            leaver: person,
            line: &line,
            holders: &holders,
            pool: &pool_words,
        };
        let chosen = match super::targets::choose(by, &field) {
            Ok(c) => c,
            Err(why) => {
                planned.problems.push(format!("{app}: {why}"));
                return Ok(planned);
            }
        };
        let target = chosen.person;
        let reason = |why: String| Reason::Workflow { workflow: run.workflow.clone(), step: step.to_owned(), why };
        let theirs = accounts.iter().find(|a| a.link.person_id == target.id && a.active);
        match theirs {
            Some(theirs) if value_of(theirs, attribute).as_deref() == Some(value.as_str()) => {
                planned.notes.push(format!("{app}: {} holds {value} already ({})", target.email, chosen.rule));
            }
            Some(theirs) => {
                let kind = if attribute == LICENSE {
                    OpKind::ChangeLicense { remote_id: theirs.link.remote_id.clone(), license: Some(value.clone()) }
                } else {
                    OpKind::Update {
                        remote_id: theirs.link.remote_id.clone(),
                        changes: Attributes::from([(attribute, value.clone())]),
                    }
                };
                let give = PlannedOp {
                    app_id: record.app.id,
                    person_id: target.id,
                    person: target.email.clone(),
                    kind,
                    reason: reason(format!("the {what} {value} of {} ({})", person.email, chosen.rule)),
                };
                planned.add(record, accounts.len(), give, format!("{app}: {value} to {}", target.email));
                if let Some(pool) = pool
                    && line.iter().any(|w| w.person_id == target.id)
                {
                    // They waited for a seat they now hold: the line lets them go.
                    let why = format!("workflow {}, step {step}: {} ({})", run.workflow, person.email, chosen.rule);
                    planned.skips.push(Skip {
                        app: (record.app.id, app.clone()),
                        pool: pool.clone(),
                        person: (target.id, target.email.clone()),
                        why,
                    });
                }
            }
            None if attribute == LICENSE => {
                let Some(pool) = pool else {
                    planned
                        .problems
                        .push(format!("{} has no account in {app} to give the license {value} to", target.email));
                    return Ok(planned);
                };
                let why = format!(
                    "workflow {}, step {step}: the license {value} of {} goes to {} ({})",
                    run.workflow, person.email, target.email, chosen.rule
                );
                planned.notes.push(format!(
                    "{app}: {value} goes to {} ({}), who has no account yet: first in the line of {}, their account \
                     is made through the queue once the seat is free",
                    target.email,
                    chosen.rule,
                    crate::license_lines::pool_name(pool)
                ));
                planned.skips.push(Skip {
                    app: (record.app.id, app.clone()),
                    pool: pool.clone(),
                    person: (target.id, target.email.clone()),
                    why,
                });
            }
            None => {
                planned.problems.push(format!(
                    "{} ({}) has no account in {app} to give the role {value} to",
                    target.email, chosen.rule
                ));
                return Ok(planned);
            }
        }
        let take_kind = if attribute == LICENSE {
            OpKind::ChangeLicense { remote_id: mine.link.remote_id.clone(), license: None }
        } else {
            OpKind::Update {
                remote_id: mine.link.remote_id.clone(),
                changes: Attributes::from([(attribute, String::new())]),
            }
        };
        let take = PlannedOp {
            app_id: record.app.id,
            person_id: person.id,
            person: person.email.clone(),
            kind: take_kind,
            reason: reason(format!("its {what} {value} goes to {} ({})", target.email, chosen.rule)),
        };
        planned.add(record, accounts.len(), take, format!("{app}: {value} taken from {}", person.email));
        Ok(planned)
    }

    /// The step's line skips, once its operations are queued, in one guarded transaction under
    /// the duty's fence; the chosen are marked for propagation to plan them. Returns the words.
    async fn skip_lines(&self, skips: &[Skip], actor: &str, fence: &Fence) -> Result<Vec<String>, EngineError> {
        if skips.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now_ms();
        let mut tx = self.store.begin_guarded_fenced(self.tenant, fence).await?;
        let mut words = Vec::new();
        let mut notices = Vec::new();
        for s in skips {
            let app = (s.app.0, s.app.1.as_str());
            let person = (s.person.0, s.person.1.as_str());
            if let Some(skip) = self.put_ahead_in_line(&mut tx, app, &s.pool, person, 0, &s.why, actor, now).await? {
                words.push(skip.words());
                notices.push(crate::license_skip::line_skip_notice(&s.pool, &skip, actor));
            }
            tx.mark(&[tenure_store::DirtyMark::pair(s.app.0, s.person.0)]).await?;
        }
        tx.commit().await?;
        for n in &notices {
            self.notify(n).await;
        }
        Ok(words)
    }
}

/// The head of the person's department: up the manager chain from the person, the last manager
/// still in that department (the chain leaves it, or ends). `None` when the person has no
/// department, or nobody above them is in it (they head it themselves). A cycle in the
/// directory's manager links ends the walk.
pub(crate) fn department_head<'a>(people: &'a [Person], person: &Person) -> Option<&'a Person> {
    let department = person.department.as_deref().map(str::trim).filter(|d| !d.is_empty())?;
    let same = |p: &Person| p.department.as_deref().is_some_and(|d| d.trim().eq_ignore_ascii_case(department));
    let mut head: Option<&Person> = None;
    let mut at = person;
    let mut seen = HashSet::from([person.id]);
    while let Some(manager) = manager_of(people, at) {
        if !same(manager) || !seen.insert(manager.id) {
            break;
        }
        head = Some(manager);
        at = manager;
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::{PersonId, PersonStatus, SourceId};

    fn person(key: &str, department: &str, manager: Option<&str>, source: SourceId) -> Person {
        Person {
            id: PersonId::new(),
            source_id: source,
            source_key: key.into(),
            user_name: format!("{key}@example.com"),
            email: format!("{key}@example.com"),
            given_name: None,
            family_name: None,
            display_name: None,
            department: (!department.is_empty()).then(|| department.to_owned()),
            title: None,
            employee_id: None,
            manager_key: manager.map(str::to_owned),
            org_unit: None,
            status: PersonStatus::Active,
            start_date: None,
            leave_date: None,
            custom: Default::default(),
        }
    }

    #[test]
    fn the_department_head_is_the_last_manager_up_the_chain_in_the_department() {
        let s = SourceId::new();
        // ceo (Board) <- vp (Sales) <- lead (Sales) <- ann (sales, another spelling); eve in Ops.
        let people = vec![
            person("ceo", "Board", None, s),
            person("vp", "Sales", Some("ceo"), s),
            person("lead", "Sales", Some("vp"), s),
            person("ann", "sales", Some("lead"), s),
            person("eve", "Ops", Some("vp"), s),
            person("nod", "", Some("vp"), s),
            person("a", "Loop", Some("b"), s),
            person("b", "Loop", Some("a"), s),
        ];
        let head = |key: &str| {
            let p = people.iter().find(|p| p.source_key == key).unwrap();
            department_head(&people, p).map(|h| h.source_key.clone())
        };
        assert_eq!(head("ann").as_deref(), Some("vp"));
        assert_eq!(head("lead").as_deref(), Some("vp"));
        assert_eq!(head("vp"), None, "heads it");
        assert_eq!(head("eve"), None, "the manager is in another department");
        assert_eq!(head("nod"), None, "no department");
        assert_eq!(head("a").as_deref(), Some("b"), "a cycle ends the walk");
    }
}
