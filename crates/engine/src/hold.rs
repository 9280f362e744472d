//! Handing plans to the queue through the deprovisioning guard, and an admin's decision on what
//! it holds.
//!
//! Every path that takes access away comes through [`Engine::enqueue`]: propagation, the
//! periodic full reconciliation, `tenure apply`, date-driven leavers. In one transaction, under
//! the tenant's guard lock, it reads the window's tally and the holds, asks the pure guard
//! (`tenure_core::guard::decide`) what to do with the plan's losses, queues what may go (every
//! operation that gives or keeps access, and the losses the guard lets through), puts the rest in
//! held plans, clears the dirty marks the plan answers and appends the audit entries. A crash
//! anywhere in between leaves everything as it was before: the marks are still there.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;
use sha2::Digest;
use tenure_core::guard::{
    self, AppGuard, Authority, Coverage, GuardDecision, GuardTrip, HoldScope, HoldTarget, Loss, Release, TenantGuard,
};
use tenure_core::*;
use tenure_store::{DirtyMark, NewAuditEntry};

use crate::{AppPlan, Engine, EngineError};

/// What became of plans handed to the queue.
#[derive(Debug, Clone, Default)]
pub struct Enqueued {
    /// The queued plan, when any operation was queued.
    pub plan_id: Option<PlanId>,
    /// Holds that started or took losses in this call.
    pub holds: Vec<HeldNow>,
    /// Losses of these plans that wait for an admin.
    pub held_losses: usize,
    /// Losses an admin rejected earlier, not due again until their person changes.
    pub suppressed: usize,
    /// Operations of dry-run apps: logged and audited, never queued.
    pub dry_run: usize,
    /// Accounts whose losses wait, by app: their in-app group removals wait with them.
    pub waiting: HashSet<(AppId, String)>,
    /// Tasks opened for manual apps' operations.
    pub tasks: usize,
    /// In-app group changes queued.
    pub group_ops: usize,
    /// Operations withheld: losses of people on legal hold (audited), seats waiting in a full
    /// pool's line. Never queued.
    pub withheld: usize,
}

/// A hold that started, or took losses, in one call.
#[derive(Debug, Clone, Serialize)]
pub struct HeldNow {
    pub plan: PlanId,
    /// Whether this call started it.
    pub new: bool,
    /// Losses of this call that wait in it (joined, or still held).
    pub losses: usize,
    /// Why it holds: the window's figures when it started.
    pub trip: Option<GuardTrip>,
}

/// A held plan as admins see it: what it holds, since when, and why.
#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    pub plan_id: PlanId,
    /// `held` (waiting for a decision), `approved` (carried out as its people are planned),
    /// `rejected`, `approved_applied`.
    pub status: String,
    /// The app it holds, or `None` for every app of the tenant (the global guard).
    pub app: Option<String>,
    pub app_id: Option<AppId>,
    /// Losses it names now.
    pub losses: usize,
    pub since_ms: i64,
    /// Why, in words: "slack: 31 losses in 4 minutes, ...; the guard allows 10% (6) a day".
    pub reason: String,
    pub trip: Option<GuardTrip>,
}

/// At most this many people are named in one history event or audit entry; the count is always
/// complete.
const NAMED: usize = 20;
/// A held plan keeps this many events of its history.
const HISTORY: usize = 200;

fn named(people: &[String]) -> Vec<&String> {
    people.iter().take(NAMED).collect()
}

/// What a person looked like in the source, and why the loss is due: a rejection stands until
/// either changes.
fn fingerprint(person: Option<&Person>, reason: &Reason) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(serde_json::to_vec(&person).unwrap_or_default());
    hash.update(serde_json::to_vec(reason).unwrap_or_default());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Engine {
    /// Hands plans to the durable queue through the deprovisioning guard, clearing `answered`
    /// dirty marks in the same transaction. Losses over the window's limits, or for an app (or
    /// tenant) under a hold, wait in held plans; the rest of the plans goes ahead. Dry-run apps'
    /// operations are logged and audited instead of queued.
    pub async fn enqueue(&self, plans: &[AppPlan], answered: &[DirtyMark]) -> Result<Enqueued, EngineError> {
        self.enqueue_with(plans, answered, Authority::Guarded, "tenure").await
    }

    pub(crate) async fn enqueue_with(
        &self,
        plans: &[AppPlan],
        answered: &[DirtyMark],
        authority: Authority,
        actor: &str,
    ) -> Result<Enqueued, EngineError> {
        self.enqueue_under(plans, answered, authority, actor, None).await
    }

    /// [`Self::enqueue_with`] under a duty's fence (a workflow step): refused
    /// ([`tenure_store::StoreError::Fenced`]) once another node holds the duty.
    pub(crate) async fn enqueue_under(
        &self,
        plans: &[AppPlan],
        answered: &[DirtyMark],
        authority: Authority,
        actor: &str,
        fence: Option<&tenure_store::Fence>,
    ) -> Result<Enqueued, EngineError> {
        let mut outcome = Enqueued::default();
        // A person on legal hold loses nothing, whoever planned it: no task, no dry-run line, no
        // queued loss (the guarded transaction below checks again, for a hold placed meanwhile).
        let mut plans: Vec<AppPlan> = plans.to_vec();
        self.withhold_held(&mut plans).await?;
        // A manual app's operations are tasks for its owner, not queue work (nor losses the
        // guard weighs: a person does them by hand, one by one).
        for p in plans.iter().filter(|p| p.app.settings.manual() && !p.app.settings.dry_run) {
            outcome.tasks += self.open_tasks_for(p, actor).await?;
        }
        let (dry, mut live): (Vec<AppPlan>, Vec<AppPlan>) =
            plans.into_iter().filter(|p| !p.app.settings.manual()).partition(|p| p.app.settings.dry_run);
        for p in &dry {
            outcome.dry_run += p.plan.ops.len();
            for op in &p.plan.ops {
                tracing::info!(app = %p.app.name, person = %op.person, op = op.kind.name(), reason = %op.reason, "dry run: would apply");
            }
            if !p.plan.ops.is_empty() {
                let detail = json!({"app": p.app.name, "ops": p.plan.ops});
                self.store.append_audit(self.tenant, actor, "plan.dry_run", &p.app.name, &detail).await?;
            }
        }
        let now = self.now_ms();

        // What the guard needs from outside the transaction: the people losing access as the
        // source describes them, and how many people have managed accounts.
        let losing: Vec<PersonId> = live
            .iter()
            .flat_map(|p| p.plan.ops.iter())
            .filter(|o| o.kind.is_deprovision())
            .map(|o| o.person_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let people: HashMap<PersonId, Person> = if losing.is_empty() {
            HashMap::new()
        } else {
            self.store.people_by_ids(self.tenant, &losing).await?.into_iter().map(|p| (p.id, p)).collect()
        };
        let managed_people = if losing.is_empty() { 0 } else { self.store.managed_people(self.tenant).await? };

        let mut tx = match fence {
            Some(fence) => self.store.begin_guarded_fenced(self.tenant, fence).await?,
            None => self.store.begin_guarded(self.tenant).await?,
        };
        // A pair with an operation still queued is not planned again: its operations run one at a
        // time in queue order. Nor is one whose operation settled after the plan read the app:
        // the plan was made from a state that no longer holds. Whoever planned such a pair (an
        // `apply` beside `serve`) leaves it marked, to be planned again from what is true now.
        let since = live.iter().map(|p| p.read_at_ms).min().unwrap_or(i64::MAX);
        let busy = tx.busy_pairs(since).await?;
        let legal = crate::legal_hold::Holds::new(tx.legal_holds().await?);
        // Full license pools: who gets a seat now and who waits in line.
        let seat_notices = self.seat_in(&mut tx, &mut live, actor, now).await?;
        let mut withheld: Vec<Withheld> = live.iter().flat_map(|p| p.plan.withheld.iter().cloned()).collect();
        let mut later: Vec<DirtyMark> = Vec::new();
        let mut guards: Vec<AppGuard<'_>> = Vec::new();
        let mut flowing: Vec<PlannedOp> = Vec::new();
        let mut windows_wanted: Vec<(AppId, i64)> = Vec::new();
        for p in &live {
            let mut losses = Vec::new();
            for op in &p.plan.ops {
                if let Some(w) = legal.withholds(op) {
                    withheld.push(w);
                } else if busy.contains(&(op.app_id, op.person_id)) {
                    later.push(DirtyMark::pair(op.app_id, op.person_id));
                } else if op.kind.is_deprovision() {
                    let fp = fingerprint(people.get(&op.person_id), &op.reason);
                    losses.push(Loss { op: op.clone(), fingerprint: fp });
                } else {
                    flowing.push(op.clone());
                }
            }
            let covered = match &p.covered {
                Coverage::Everyone { except } => Coverage::Everyone {
                    except: except
                        .iter()
                        .copied()
                        .chain(busy.iter().filter(|(a, _)| *a == p.app.id).map(|(_, person)| *person))
                        .collect(),
                },
                Coverage::People(people) => Coverage::People(
                    people.iter().copied().filter(|person| !busy.contains(&(p.app.id, *person))).collect(),
                ),
            };
            let limits = p.app.settings.guard.unwrap_or_default();
            windows_wanted.push((p.app.id, now - limits.window_s as i64 * 1000));
            guards.push(AppGuard {
                app: &p.app,
                managed: p.managed,
                losses,
                covered,
                window: guard::Window::default(),
            });
        }
        let held = tx.held_losses().await?;
        let live_apps: HashSet<AppId> = live.iter().map(|p| p.app.id).collect();
        let weighs =
            guards.iter().any(|g| !g.losses.is_empty()) || held.iter().any(|h| live_apps.contains(&h.op.app_id));
        let decision = if weighs {
            let holds = tx.holds().await?;
            let limits = tx.tenant_limits().await?.unwrap_or(self.global_guard);
            let (mut windows, tenant_window) = tx.windows(&windows_wanted, now - limits.window_s as i64 * 1000).await?;
            for g in &mut guards {
                g.window = windows.remove(&g.app.id).unwrap_or_default();
            }
            let tenant = TenantGuard { limits, managed_people, window: tenant_window };
            guard::decide(now, &guards, &tenant, &holds, &held, authority)
        } else {
            GuardDecision::default()
        };
        let names: HashMap<AppId, &str> = live.iter().map(|p| (p.app.id, p.app.name.as_str())).collect();

        // The held plans: rows leave, holds start, losses join.
        for pair in decision.withdrawn.iter().chain(&decision.carried_out) {
            tx.drop_held(pair.app_id, pair.person_id).await?;
        }
        let before: HashMap<(AppId, PersonId), PlanId> =
            held.iter().map(|h| ((h.op.app_id, h.op.person_id), h.plan)).collect();
        let mut started: HashMap<HoldScope, PlanId> = HashMap::new();
        for (target, trip) in &decision.trips {
            let HoldTarget::New(scope) = *target else { continue };
            let (app, app_id) = match scope {
                HoldScope::App(app) => (names.get(&app).copied(), Some(app)),
                HoldScope::Tenant => (None, None),
            };
            let summary = json!({
                "hold": {"scope": if app_id.is_some() { "app" } else { "tenant" }, "app": app, "app_id": app_id},
                "apps": [],
                "held": [trip],
                "losses": 0,
                "history": [],
            });
            let plan = tx.start_hold(scope, &summary, now).await?;
            started.insert(scope, plan);
            outcome.holds.push(HeldNow { plan, new: true, losses: 0, trip: Some(trip.clone()) });
        }
        let mut joined: BTreeMap<PlanId, Vec<String>> = BTreeMap::new();
        for entry in &decision.hold {
            let plan = match entry.target {
                HoldTarget::Existing(plan) => plan,
                HoldTarget::New(scope) => started[&scope],
            };
            match outcome.holds.iter_mut().find(|h| h.plan == plan) {
                Some(h) => h.losses += 1,
                None => outcome.holds.push(HeldNow { plan, new: false, losses: 1, trip: None }),
            }
            tx.hold_loss(plan, &entry.loss.op, &entry.loss.fingerprint, now).await?;
            if let Some(remote) = entry.loss.op.kind.remote_id() {
                outcome.waiting.insert((entry.loss.op.app_id, remote.to_owned()));
            }
            if before.get(&(entry.loss.op.app_id, entry.loss.op.person_id)) != Some(&plan) {
                joined.entry(plan).or_default().push(entry.loss.op.person.clone());
            }
        }
        outcome.held_losses = decision.hold.len();
        outcome.suppressed = decision.suppressed.len();
        // Held rows this call did not touch still wait.
        let left: HashSet<(AppId, PersonId)> =
            decision.withdrawn.iter().chain(&decision.carried_out).map(|w| (w.app_id, w.person_id)).collect();
        for h in held.iter().filter(|h| h.state == guard::HeldState::Held) {
            if !left.contains(&(h.op.app_id, h.op.person_id))
                && let Some(remote) = h.op.kind.remote_id()
            {
                outcome.waiting.insert((h.op.app_id, remote.to_owned()));
            }
        }

        // What goes to the queue: everything that gives or keeps access, and the losses let through.
        let mut releases: Vec<Option<Release>> = vec![None; flowing.len()];
        let mut approved = 0;
        for (op, release) in &decision.release {
            // An approved loss of a person placed on legal hold since waits for the hold's end
            // (lifting it plans the person again).
            if let Some(w) = legal.withholds(op) {
                withheld.push(w);
                continue;
            }
            approved += usize::from(matches!(release, Release::Approved(_)));
            flowing.push(op.clone());
            releases.push(Some(*release));
        }
        // A held person's accounts stay in their in-app groups too.
        for w in withheld.iter().filter(|w| w.by == WithheldBy::LegalHold) {
            if let Some(remote) = w.op.kind.remote_id() {
                outcome.waiting.insert((w.op.app_id, remote.to_owned()));
            }
        }
        outcome.withheld = withheld.len();
        // In-app group changes, after the accounts they add (the queue orders them): a held
        // person's removals wait with their loss, and a group with a change still queued is
        // planned again once it has run.
        for p in &live {
            for group_op in &p.plan.group_ops {
                let Some(group_op) = crate::group_ops::without_waiting(group_op, &outcome.waiting) else { continue };
                let op = crate::group_ops::queued(&group_op);
                if busy.contains(&(op.app_id, op.person_id)) {
                    later.push(DirtyMark::pair(op.app_id, op.person_id));
                    continue;
                }
                outcome.group_ops += 1;
                flowing.push(op);
                releases.push(None);
            }
        }
        let summary = json!({
            "apps": live.iter().filter_map(|p| {
                let n = flowing.iter().filter(|o| o.app_id == p.app.id).count();
                (n > 0).then(|| json!({"app": p.app.name, "ops": n}))
            }).collect::<Vec<_>>(),
            "approved_losses": approved,
            "held_losses": decision.hold.len(),
        });
        outcome.plan_id = tx.queue(&flowing, &releases, &summary, now).await?;
        // Seats these losses free, steered to the leaver's department or team where the pool says.
        let steer_notices = self.steer_freed_seats(&mut tx, &flowing, actor, now).await?;
        tx.clear_marks(answered).await?;
        if !later.is_empty() {
            tx.mark(&later).await?;
        }

        // The record: one audit entry per kind of change, and each touched plan's history.
        if let Some(plan) = outcome.plan_id {
            tx.audit(&NewAuditEntry::new(actor, "plan.apply", &plan.to_string(), &summary)).await?;
        }
        let mut events: BTreeMap<PlanId, Vec<serde_json::Value>> = BTreeMap::new();
        for (plan, who) in &joined {
            let new = outcome.holds.iter().any(|h| h.plan == *plan && h.new);
            let (action, event) = if new { ("plan.held", "held") } else { ("plan.hold_joined", "joined") };
            let trip =
                decision.trips.iter().find(|(t, _)| matches!(t, HoldTarget::New(s) if started.get(s) == Some(plan)));
            let detail = json!({
                "losses": who.len(),
                "people": named(who),
                "reason": trip.map(|(_, t)| t.to_string()),
            });
            tx.audit(&NewAuditEntry::new(actor, action, &plan.to_string(), &detail)).await?;
            events
                .entry(*plan)
                .or_default()
                .push(json!({"at_ms": now, "event": event, "count": who.len(), "people": named(who)}));
        }
        let mut gone: BTreeMap<(PlanId, &str), Vec<String>> = BTreeMap::new();
        for w in &decision.withdrawn {
            gone.entry((w.plan, "withdrawn")).or_default().push(w.person.clone());
        }
        for w in &decision.carried_out {
            gone.entry((w.plan, "carried_out")).or_default().push(w.person.clone());
        }
        for ((plan, event), who) in &gone {
            if *event == "withdrawn" {
                let detail =
                    json!({"losses": who.len(), "people": named(who), "why": "no longer due: the person keeps access"});
                tx.audit(&NewAuditEntry::new(actor, "plan.hold_withdrawn", &plan.to_string(), &detail)).await?;
            }
            events
                .entry(*plan)
                .or_default()
                .push(json!({"at_ms": now, "event": event, "count": who.len(), "people": named(who)}));
        }
        for (plan, new_events) in events {
            let mut record = tx.plan_record(plan).await?;
            let losses = tx.held_ops_of(plan).await?.len();
            record.summary["losses"] = json!(losses);
            let history = record.summary["history"].as_array().cloned().unwrap_or_default();
            let mut history: Vec<serde_json::Value> = history.into_iter().chain(new_events).collect();
            let overflow = history.len().saturating_sub(HISTORY);
            history.drain(..overflow);
            record.summary["history"] = json!(history);
            tx.set_plan_summary(plan, &record.summary).await?;
        }
        crate::legal_hold::audit_withheld(&mut tx, &withheld, &names, actor).await?;
        for plan in tx.finish_approvals().await? {
            tx.audit(&NewAuditEntry::new(actor, "plan.approval_used", &plan.to_string(), &json!({}))).await?;
        }
        for hold in outcome.holds.iter_mut().filter(|h| h.trip.is_none()) {
            // A hold that grew: why it started.
            let record = tx.plan_record(hold.plan).await?;
            hold.trip = serde_json::from_value(record.summary["held"][0].clone()).ok();
        }
        tx.commit().await?;

        for notice in seat_notices.iter().chain(&steer_notices) {
            self.notify(notice).await;
        }
        for hold in &outcome.holds {
            let why = hold.trip.as_ref().map(ToString::to_string).unwrap_or_default();
            tracing::warn!(plan = %hold.plan, losses = hold.losses, new = hold.new, "deprovisioning guard: losses wait for an admin's approval; {why}");
            if hold.new {
                let mut notice = crate::notify::Notice::new(
                    "plan.held",
                    format!("A plan waits for your approval: {} losses held by the deprovisioning guard", hold.losses),
                );
                notice.lines = vec![
                    format!("The deprovisioning guard held plan {}: {why}.", hold.plan),
                    "Nothing was taken away from these people; the rest of the work went ahead.".into(),
                    format!(
                        "Approve with `tenure plan approve {}` or reject with `tenure plan reject {}`.",
                        hold.plan, hold.plan
                    ),
                ];
                notice.path = Some("/plans".to_owned());
                notice.apps = live.iter().map(|p| p.app.id).collect();
                notice.data = json!({"plan": hold.plan, "losses": hold.losses, "reason": why});
                self.notify(&notice).await;
            }
        }
        Ok(outcome)
    }

    /// An admin's decision on a held plan: `approved` carries out the losses it holds that are
    /// still due when their people are next planned (a running `serve` plans them at once);
    /// `rejected` keeps the accounts and stops treating those losses as due until the person
    /// changes in the source. Only a held plan can be decided; the hold is lifted either way.
    pub async fn decide_held(&self, plan: PlanId, approve: bool, actor: &str) -> Result<&'static str, EngineError> {
        let mut tx = self.store.begin_guarded(self.tenant).await?;
        let mut record = tx.plan_record(plan).await?;
        if record.status != "held" {
            return Err(EngineError::NotHeld { plan: plan.to_string(), status: record.status });
        }
        let ops = tx.held_ops_of(plan).await?;
        let status = match (approve, ops.is_empty()) {
            (true, false) => "approved",
            (true, true) => "approved_applied",
            (false, _) => "rejected",
        };
        tx.set_plan_status(plan, status).await?;
        if approve {
            let marks: Vec<DirtyMark> = ops.iter().map(|o| DirtyMark::pair(o.app_id, o.person_id)).collect();
            tx.mark(&marks).await?;
        }
        let people: Vec<String> = ops.iter().map(|o| o.person.clone()).collect();
        let event = if approve { "approved" } else { "rejected" };
        let mut history = record.summary["history"].as_array().cloned().unwrap_or_default();
        history.push(
            json!({"at_ms": self.now_ms(), "event": event, "by": actor, "count": ops.len(), "people": named(&people)}),
        );
        record.summary["history"] = json!(history);
        tx.set_plan_summary(plan, &record.summary).await?;
        let detail = json!({"losses": ops.len(), "people": named(&people), "hold": record.summary["hold"]});
        tx.audit(&NewAuditEntry::new(actor, &format!("plan.{event}"), &plan.to_string(), &detail)).await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Held plans, newest first (those waiting for a decision before the others).
    pub async fn holds(&self, limit: i64) -> Result<Vec<HoldView>, EngineError> {
        let mut views: Vec<HoldView> = self
            .store
            .holds(self.tenant, limit)
            .await?
            .into_iter()
            .map(|h| {
                let trip: Option<GuardTrip> = serde_json::from_value(h.plan.summary["held"][0].clone()).ok();
                let app_id = match h.scope {
                    HoldScope::App(app) => Some(app),
                    HoldScope::Tenant => None,
                };
                HoldView {
                    plan_id: h.plan.id,
                    status: h.plan.status,
                    app: h.plan.summary["hold"]["app"].as_str().map(str::to_owned),
                    app_id,
                    losses: h.losses,
                    since_ms: h.plan.created_ms,
                    reason: trip.as_ref().map(ToString::to_string).unwrap_or_default(),
                    trip,
                }
            })
            .collect();
        views.sort_by_key(|v| v.status != "held");
        Ok(views)
    }

    /// Sets the tenant-wide guard's limits (`None`: the defaults), audited. Admins go through
    /// `Admin::set_guard`, which checks their role.
    pub(crate) async fn set_global_guard(
        &self,
        limits: Option<guard::GuardLimits>,
        actor: &str,
    ) -> Result<guard::GuardLimits, EngineError> {
        let mut tx = self.store.begin_guarded(self.tenant).await?;
        tx.set_tenant_limits(limits.as_ref()).await?;
        let effective = limits.unwrap_or(self.global_guard);
        let detail = json!({"limits": effective, "default": limits.is_none()});
        tx.audit(&NewAuditEntry::new(actor, "guard.set", "global", &detail)).await?;
        tx.commit().await?;
        Ok(effective)
    }

    /// The tenant-wide guard's limits in force.
    pub async fn global_guard(&self) -> Result<guard::GuardLimits, EngineError> {
        Ok(self.store.tenant_guard_limits(self.tenant).await?.unwrap_or(self.global_guard))
    }
}
