//! The reconciler: directory + policy + observed accounts → plan. Pure: no I/O, no clock.
//!
//! One decision function ([`person`]) serves the full plan of an app, the incremental plan of
//! one person and `explain`, so the three cannot disagree.

mod directory;
mod explain;
mod observed;
mod person;
mod policy;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use time::Date;

use crate::model::*;
use crate::plan::*;

pub use directory::{DirectoryIndex, create_attributes, desired_for};
pub use explain::{Explanation, Standing, explain};
pub use observed::{AppIndex, matchable_people};
pub use policy::AppPolicy;

use person::{Planner, Running};

/// Why a person may not hold accounts today, if anything stops them.
pub fn ineligibility(person: &Person, today: Date) -> Option<Revocation> {
    match person.status {
        PersonStatus::Deleted => return Some(Revocation::LeftDirectory),
        PersonStatus::Suspended => return Some(Revocation::Suspended),
        PersonStatus::Offboarded => return Some(Revocation::Offboarded),
        PersonStatus::Active => {}
    }
    if person.leave_date.is_some_and(|d| d <= today) {
        return Some(Revocation::LeaveDatePassed);
    }
    if person.start_date.is_some_and(|d| d > today) {
        return Some(Revocation::NotStartedYet);
    }
    None
}

/// The start date a new starter's account in an app is prepared for, ahead of it: when the
/// app makes accounts `pre_start_days` early and `today` is within that lead, the person
/// otherwise eligible (active, not leaving before they start). Such an account is made disabled
/// and activated on the day.
pub fn pre_start(settings: &AppSettings, person: &Person, today: Date) -> Option<Date> {
    let days = settings.pre_start_days.filter(|&d| d > 0)?;
    let start = person.start_date.filter(|&s| s > today)?;
    let eligible = person.status == PersonStatus::Active && person.leave_date.is_none_or(|d| d > start);
    (eligible && start - time::Duration::days(i64::from(days)) <= today).then_some(start)
}

/// One app's side of the reconciliation.
pub struct AppState<'a> {
    pub app: &'a App,
    pub assignments: &'a [Assignment],
    pub links: &'a [AccountLink],
    pub observed: &'a [RemoteAccount],
    /// The app's groups; only needed when assignments name groups (their `groups` parameter).
    pub groups: &'a [RemoteGroup],
}

/// An app prepared for planning: its compiled policy and its indexed accounts. Build it once and
/// plan everyone ([`Prepared::plan`]) or one person at a time ([`Prepared::plan_person`]).
pub struct Prepared<'a> {
    pub policy: AppPolicy<'a>,
    pub index: AppIndex<'a>,
}

impl<'a> Prepared<'a> {
    pub fn new(dir: &DirectoryIndex<'_>, state: &AppState<'a>) -> Self {
        Self { policy: AppPolicy::new(dir, state.app, state.assignments), index: AppIndex::new(dir, state) }
    }

    fn planner<'p>(&'p self, dir: &'p DirectoryIndex<'a>, today: Date, everyone: bool) -> Planner<'p, 'a> {
        Planner {
            dir,
            policy: &self.policy,
            index: &self.index,
            today,
            everyone: everyone.then(|| self.policy.everyone(dir)),
            held_user_names: OnceLock::new(),
        }
    }

    /// The plan for everyone in the directory. Deterministic: the same inputs give the same plan,
    /// operations in the order of people (email, then id).
    pub fn plan(&self, dir: &DirectoryIndex<'a>, today: Date) -> Plan {
        let planner = self.planner(dir, today, true);
        let desired = dir.desired_all(&self.index.app.settings);
        let mut plan = Plan { problems: self.index.problems.clone(), ..Plan::default() };
        let mut running = Running::default();
        // Left the directory: only a revocation can come of it, which needs no attributes.
        let none = Arc::default();
        for (o, person) in dir.people.iter().enumerate() {
            let wanted = match &desired[o] {
                Some(Ok(d)) => Ok(d),
                Some(Err(e)) => Err(e.as_str()),
                None => Ok(&none),
            };
            planner.plan(person, Some(o as u32), wanted, &mut running, &mut plan);
        }
        plan.group_ops = planner.group_ops(&running);
        dedup_cases(&mut plan.cases);
        plan.unmanaged = self.unmanaged(&plan);
        plan
    }

    /// The plan for one person, who may have changed since the index was built (new attributes,
    /// status or org unit; group memberships are the index's). Cheap: no sweep over everyone.
    pub fn plan_person(&self, dir: &DirectoryIndex<'a>, person: &Person, today: Date) -> Plan {
        let planner = self.planner(dir, today, false);
        let ordinal = dir.ordinal_of(person.id);
        let desired = desired_for(person, &self.index.app.settings).map(Arc::new);
        let mut plan = Plan::default();
        let mut running = Running::default();
        planner.plan(person, ordinal, desired.as_ref().map_err(String::as_str), &mut running, &mut plan);
        plan.group_ops = planner.group_ops(&running);
        plan
    }

    /// Unlinked accounts that nobody accounts for: not linked by this plan, not part of a case,
    /// and not recognisably a known person's (whose account it is, assigned or not). Reported,
    /// never touched.
    fn unmanaged(&self, plan: &Plan) -> Vec<UnmanagedAccount> {
        let linked: HashSet<&str> = plan
            .ops
            .iter()
            .filter_map(|o| match &o.kind {
                OpKind::Link { remote_id, .. } => Some(remote_id.as_str()),
                _ => None,
            })
            .collect();
        let in_case: HashSet<&str> = plan.cases.iter().flat_map(|c| c.accounts.iter().map(String::as_str)).collect();
        let keys = &self.index.app.settings.match_keys;
        let known = |account: &RemoteAccount| {
            self.index.matching.as_ref().is_some_and(|m| {
                keys.iter()
                    .enumerate()
                    .any(|(k, key)| observed::account_key(account, *key).is_some_and(|v| m.people[k].contains_key(&v)))
            })
        };
        let mut unmanaged: Vec<UnmanagedAccount> = self
            .index
            .unlinked
            .iter()
            .filter(|a| !linked.contains(a.remote_id.as_str()) && !in_case.contains(a.remote_id.as_str()) && !known(a))
            .map(|a| UnmanagedAccount {
                app_id: self.index.app.id,
                remote_id: a.remote_id.clone(),
                user_name: a.user_name().to_owned(),
                active: a.active,
            })
            .collect();
        unmanaged.sort_by(|a, b| a.user_name.cmp(&b.user_name).then_with(|| a.remote_id.cmp(&b.remote_id)));
        unmanaged
    }
}

/// A case found from each of its people is one case.
fn dedup_cases(cases: &mut Vec<CorrelationCase>) {
    let mut seen = HashSet::new();
    cases.retain(|c| seen.insert((c.key.clone(), c.value.clone())));
}

/// Plans one app.
pub fn plan_app(dir: &DirectoryIndex<'_>, state: &AppState<'_>, today: Date) -> Plan {
    Prepared::new(dir, state).plan(dir, today)
}

/// Plans several apps, spread over the machine's cores (planning is CPU-bound and the apps are
/// independent). Plans come back in the order of `states`.
pub fn plan_apps(dir: &DirectoryIndex<'_>, states: &[AppState<'_>], today: Date) -> Vec<Plan> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(states.len().max(1));
    if workers <= 1 {
        return states.iter().map(|s| plan_app(dir, s, today)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut plans: Vec<Option<Plan>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(state) = states.get(i) else { break };
                        done.push((i, plan_app(dir, state, today)));
                    }
                    done
                })
            })
            .collect();
        let mut out: Vec<Option<Plan>> = (0..states.len()).map(|_| None).collect();
        for handle in handles {
            // A worker only panics if plan_app does; re-raise it on the caller's thread.
            for (i, plan) in handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
                out[i] = Some(plan);
            }
        }
        out
    });
    plans.iter_mut().map(|p| p.take().unwrap_or_default()).collect()
}
