//! An offboarding's named successor (`tenure offboard EMAIL --successor EMAIL2`): in each app
//! with license pools where the leaver holds a seat, the seat (its tier) goes to the successor.
//! A successor with an account there gets the tier by a queued license change beside the
//! leaver's losses; one without gets a person-level assignment with the tier as its license
//! parameter, and goes first in the pool's line, so the seat the leaver frees is theirs through
//! the normal path (planned, seated, created through the queue). Every handoff is audited
//! (`license.successor`) with its reason.

use std::collections::HashSet;

use serde_json::json;
use tenure_core::attributes::LICENSE;
use tenure_core::guard::Coverage;
use tenure_core::licenses::LicensePool;
use tenure_core::licenses::waiting::pool_of;
use tenure_core::{OpKind, Person, Plan, PlannedOp, Reason};
use tenure_store::{AppRecord, DirtyMark, NewAuditEntry, WaitingRow};

use super::offboard::OffboardStep;
use super::{Admin, AssignmentSpec};
use crate::license_lines::pool_name;
use crate::license_skip::line_skip_notice;
use crate::{AppPlan, Clock, EngineError};

/// How the successor gets one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum How {
    /// A license change of their account (by its id in the app).
    Change { remote_id: String, user_name: String },
    /// A person-level assignment with the tier as its license parameter.
    Assign,
    /// They hold that tier already.
    Holds { remote_id: String, user_name: String },
}

/// One seat of the leaver's that goes to the successor.
#[derive(Debug, Clone)]
pub(crate) struct Handoff {
    pub app: AppRecord,
    pub pool: LicensePool,
    /// The leaver's tier (`None`: the whole app's pool, no tier).
    pub tier: Option<String>,
    pub how: How,
}

impl Handoff {
    fn tier_words(&self) -> String {
        self.tier.clone().unwrap_or_else(|| format!("of {}", self.app.app.name))
    }

    /// What the offboarding's view says of it.
    pub fn step(&self, successor: &Person) -> OffboardStep {
        let (action, account, user_name, how) = match &self.how {
            How::Change { remote_id, user_name } => (
                "successor",
                Some(remote_id.clone()),
                Some(user_name.clone()),
                "a license change of their account, through the queue".to_owned(),
            ),
            How::Assign => (
                "successor",
                None,
                None,
                format!(
                    "no account of theirs yet: a person-level assignment{} grants it, first in the line of {}",
                    self.tier.as_ref().map(|t| format!(" with license {t}")).unwrap_or_default(),
                    pool_name(&self.pool)
                ),
            ),
            How::Holds { remote_id, user_name } => {
                ("nothing", Some(remote_id.clone()), Some(user_name.clone()), "they hold it already".to_owned())
            }
        };
        OffboardStep {
            app: self.app.app.name.clone(),
            action: action.into(),
            account,
            user_name,
            reason: format!("seat {} goes to {} ({how})", self.tier_words(), successor.email),
            outcome: None,
            error: None,
        }
    }
}

impl Admin<'_> {
    /// The successor named for `leaver`, from the directory: a precise error (and nothing
    /// done) for nobody with that email, or the leaver themselves.
    pub(crate) fn successor_of<'p>(
        &self,
        people: &'p [Person],
        leaver: &Person,
        email: &str,
    ) -> Result<&'p Person, EngineError> {
        let email = email.trim();
        let found = people.iter().find(|p| p.email.eq_ignore_ascii_case(email)).ok_or_else(|| {
            EngineError::field("successor", format!("nobody with the email {email:?} in the directory"))
        })?;
        if found.id == leaver.id {
            return Err(EngineError::field(
                "successor",
                format!("{} is the person offboarded: name someone else, or no successor", leaver.email),
            ));
        }
        Ok(found)
    }

    /// The seats of the leaver's that go to the successor: one per app with license pools where
    /// the leaver holds an active account a pool takes.
    pub(crate) async fn handoffs(&self, leaver: &Person, successor: &Person) -> Result<Vec<Handoff>, EngineError> {
        let pools = self.store().license_pools(self.tenant()).await?;
        let mut out = Vec::new();
        for record in self.store().list_apps(self.tenant()).await? {
            if record.disabled {
                continue;
            }
            let app_pools: Vec<&LicensePool> =
                pools.iter().filter(|(a, _)| *a == record.app.id).map(|(_, p)| p).collect();
            if app_pools.is_empty() {
                continue;
            }
            let seats: Vec<tenure_core::licenses::waiting::PoolSeats> = app_pools
                .iter()
                .map(|p| tenure_core::licenses::waiting::PoolSeats {
                    tier: p.tier.clone(),
                    name: pool_name(p),
                    seats: p.seats,
                    used: 0,
                    line: Vec::new(),
                })
                .collect();
            let accounts = self.store().list_accounts(self.tenant(), record.app.id).await?;
            let tier_of =
                |a: &tenure_store::StoredAccount| a.attributes.get(LICENSE).filter(|t| !t.is_empty()).cloned();
            let Some((tier, pool)) = accounts
                .iter()
                .filter(|a| a.link.person_id == leaver.id && a.active)
                .find_map(|a| pool_of(&seats, tier_of(a).as_deref()).map(|i| (tier_of(a), app_pools[i].clone())))
            else {
                continue;
            };
            let theirs = accounts.iter().find(|a| a.link.person_id == successor.id && a.active);
            let how = match theirs {
                Some(a) if tier_of(a) == tier || (tier.is_none() && pool.tier.is_none()) => {
                    How::Holds { remote_id: a.link.remote_id.clone(), user_name: a.user_name.clone() }
                }
                Some(a) => How::Change { remote_id: a.link.remote_id.clone(), user_name: a.user_name.clone() },
                None => How::Assign,
            };
            out.push(Handoff { app: record, pool, tier, how });
        }
        Ok(out)
    }

    /// Adds the handoffs' license changes to the leaver's plans (queued with their losses).
    pub(crate) fn add_handoff_ops(plans: &mut Vec<AppPlan>, handoffs: &[Handoff], leaver: &Person, successor: &Person) {
        for h in handoffs {
            let How::Change { remote_id, .. } = &h.how else { continue };
            let op = PlannedOp {
                app_id: h.app.app.id,
                person_id: successor.id,
                person: successor.email.clone(),
                kind: OpKind::ChangeLicense { remote_id: remote_id.clone(), license: h.tier.clone() },
                reason: Reason::Successor { of: leaver.email.clone() },
            };
            match plans.iter_mut().find(|p| p.app.id == h.app.app.id) {
                Some(p) => p.plan.ops.push(op),
                None => plans.push(AppPlan {
                    app: h.app.app.clone(),
                    plan: Plan { ops: vec![op], ..Plan::default() },
                    observed: Vec::new(),
                    managed: 0,
                    covered: Coverage::People(HashSet::new()),
                    read_at_ms: crate::SystemClock.now_ms(),
                    notes: Vec::new(),
                }),
            }
        }
    }

    /// Writes the handoffs that need no queued change of an account: the assignments, the
    /// successor first in each pool's line (a skip, audited and told), and the audit entry of
    /// every handoff. The successor's pairs are marked, for propagation to plan them.
    pub(crate) async fn write_handoffs(
        &self,
        handoffs: &[Handoff],
        leaver: &Person,
        successor: &Person,
    ) -> Result<(), EngineError> {
        for h in handoffs.iter().filter(|h| h.how == How::Assign) {
            let spec = AssignmentSpec {
                person: Some(successor.email.clone()),
                license: h.tier.clone(),
                ..AssignmentSpec::default()
            };
            self.assign(&h.app.app.name, &spec, false).await?;
        }
        let now = crate::SystemClock.now_ms();
        let why =
            format!("the successor of {}, offboarded by {}: their seat goes to them", leaver.email, self.actor.name);
        let mut tx = self.store().begin_guarded(self.tenant()).await?;
        let mut notices = Vec::new();
        for h in handoffs {
            let app = (h.app.app.id, h.app.app.name.as_str());
            if h.how == How::Assign {
                let skip = self
                    .engine
                    .put_ahead_in_line(
                        &mut tx,
                        app,
                        &h.pool,
                        (successor.id, &successor.email),
                        0,
                        &why,
                        &self.actor.name,
                        now,
                    )
                    .await?;
                if let Some(skip) = skip {
                    notices.push(line_skip_notice(&h.pool, &skip, &format!("offboarding {}", leaver.email)));
                }
                tx.mark(&[DirtyMark::pair(h.app.app.id, successor.id)]).await?;
            }
            let how = match &h.how {
                How::Change { .. } => "license_change",
                How::Assign => "assignment",
                How::Holds { .. } => "holds_already",
            };
            let detail = json!({
                "app": h.app.app.name,
                "pool": pool_name(&h.pool),
                "tier": h.tier,
                "from": leaver.email,
                "to": successor.email,
                "how": how,
                "why": why,
            });
            let mut entry = NewAuditEntry::new(&self.actor.name, "license.successor", &successor.email, &detail);
            entry.person = Some(&successor.email);
            entry.app = Some(&h.app.app.name);
            tx.audit(&entry).await?;
        }
        tx.commit().await?;
        for notice in &notices {
            self.engine.notify(notice).await;
        }
        Ok(())
    }
}

impl Admin<'_> {
    /// Once the leaver's losses are carried out: the successor planned in the apps where an
    /// assignment grants them the seat, through the queue (their seat is given by the pool's
    /// line, where they are first), and each step's outcome: `done`, `failed`, `queued`, or
    /// `waiting` (no seat free yet: first in line).
    pub(crate) async fn seat_successor(
        &self,
        steps: &mut [OffboardStep],
        handoffs: &[Handoff],
        successor: &Person,
    ) -> Result<(), EngineError> {
        let apps: Vec<tenure_core::AppId> =
            handoffs.iter().filter(|h| h.how == How::Assign).map(|h| h.app.app.id).collect();
        if apps.is_empty() {
            return Ok(());
        }
        let today = self.engine.today().await?;
        let (plans, _) = self.engine.plan_person_everywhere(successor.id, false, today).await?;
        let plans: Vec<AppPlan> = plans.into_iter().filter(|p| apps.contains(&p.app.id)).collect();
        let answered: Vec<DirtyMark> = apps.iter().map(|a| DirtyMark::pair(*a, successor.id)).collect();
        let enqueued =
            self.engine.enqueue_with(&plans, &answered, tenure_core::guard::Authority::Admin, &self.actor.name).await?;
        let mut records = Vec::new();
        if let Some(plan) = enqueued.plan_id {
            let executor = crate::Executor::new(self.engine.clone(), self.engine.worker_options.clone());
            executor.drain(Some(plan), self.engine.drain_wait).await?;
            records = self.store().plan_operations(self.tenant(), plan).await?;
        }
        let line = self.store().license_waiting(self.tenant(), None).await?;
        for (h, step) in handoffs.iter().zip(steps.iter_mut()) {
            if h.how != How::Assign {
                continue;
            }
            let rec = records.iter().find(|r| r.op.app_id == h.app.app.id && r.op.person_id == successor.id);
            let (outcome, error) = match rec {
                _ if waits(&line, h, successor) => ("waiting", None),
                Some(r) if r.status == tenure_store::OperationStatus::Succeeded => ("done", None),
                Some(r) if r.status == tenure_store::OperationStatus::Failed => ("failed", r.last_error.clone()),
                Some(r) => ("queued", r.last_error.clone()),
                None => ("queued", None),
            };
            step.outcome = Some(outcome.into());
            step.error = error;
        }
        Ok(())
    }
}

/// Whether the successor waits in a pool's line (the plan withheld their seat for now).
pub(crate) fn waits(line: &[WaitingRow], handoff: &Handoff, successor: &Person) -> bool {
    line.iter().any(|w| w.app_id == handoff.app.app.id && w.tier == handoff.pool.tier && w.person_id == successor.id)
}
