//! The deprovisioning guard: losses of access (deactivations, deletions, license removals) that
//! would take too much from an app, or from the whole organization, wait for an admin instead of
//! being carried out. A broken export, a mistyped rule or an IdP gone wrong must not cost a
//! company its apps.
//!
//! The guard weighs a **window of time** (a day by default), not one run: the losses already
//! carried out or queued in the window count together with the ones at hand, so losses that
//! arrive one at a time (an IdP pushing deletes, an export applied in pieces) are held like a
//! burst. Once a hold is in force for an app (or, for the global guard, the tenant), every new
//! loss there joins it until an admin decides; a held loss stays held whatever else happens to
//! its person, and leaves the hold only when the person no longer loses access.
//!
//! Everything here is a function of data: the engine reads the window's tally and the holds from
//! the store and passes them in ([`decide`]), so every edge case is a table test.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AppId, PersonId, PlanId};
use crate::model::App;
use crate::plan::PlannedOp;

/// The default window: a day.
pub const DEFAULT_WINDOW_S: u64 = 24 * 3600;

fn default_window_s() -> u64 {
    DEFAULT_WINDOW_S
}

/// How much may be lost within one window. More than either limit holds; exactly at the limit
/// passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuardLimits {
    /// Percent of the app's managed (linked) accounts (for the global guard: of the people with a
    /// managed account anywhere).
    pub max_percent: u8,
    /// Accounts (for the global guard: people).
    pub max_count: usize,
    /// The window the limits apply to, in seconds.
    #[serde(default = "default_window_s")]
    pub window_s: u64,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self { max_percent: 10, max_count: 25, window_s: DEFAULT_WINDOW_S }
    }
}

impl GuardLimits {
    /// The most losses the limits allow out of `managed`: both limits at once.
    pub fn allowed(&self, managed: usize) -> usize {
        (usize::from(self.max_percent) * managed / 100).min(self.max_count)
    }

    fn exceeded_by(&self, losses: usize, managed: usize) -> bool {
        // Integer arithmetic: "more than 10%" of 250 is 26 or more, never a rounding question.
        losses > self.max_count || losses * 100 > usize::from(self.max_percent) * managed
    }
}

/// Where a hold applies: one app, or every app of the tenant (the global guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "app_id", rename_all = "snake_case")]
pub enum HoldScope {
    App(AppId),
    Tenant,
}

/// Why losses are held: the window's figures when the hold started (or last grew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardTrip {
    pub app_id: AppId,
    pub app: String,
    /// Losses in the window counting this plan's: people losing access to the app (for the
    /// global guard, people losing access anywhere).
    pub deprovisions: usize,
    /// Of those, the ones already carried out or queued earlier in the window.
    #[serde(default)]
    pub in_window: usize,
    /// From the oldest loss counted to now, in milliseconds.
    #[serde(default)]
    pub span_ms: i64,
    /// Accounts Tenure manages in the app (for the global guard: people with a managed account).
    pub managed: usize,
    pub limits: GuardLimits,
    /// The tenant-wide guard: `deprovisions` and `managed` count people, across every app.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
}

/// "4 minutes", "2 hours", "a day".
fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86_400 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

fn per_window(window_s: u64) -> String {
    match window_s {
        86_400 => "a day".to_owned(),
        3600 => "an hour".to_owned(),
        s => format!("per {}", human_duration(s as i64 * 1000)),
    }
}

impl fmt::Display for GuardTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.deprovisions * 100).checked_div(self.managed).unwrap_or(100);
        let noun = if self.global { "people losing access" } else { "losses" };
        write!(f, "{}: {} {noun} in {}", self.app, self.deprovisions, human_duration(self.span_ms))?;
        if self.in_window > 0 {
            write!(f, " ({} already carried out or queued)", self.in_window)?;
        }
        let of = if self.global { "people with managed accounts" } else { "managed accounts" };
        write!(
            f,
            ", {percent}% of its {} {of}; the guard allows {}% ({}) {}",
            self.managed,
            self.limits.max_percent,
            self.limits.allowed(self.managed),
            per_window(self.limits.window_s)
        )?;
        if self.limits.allowed(self.managed) == self.limits.max_count {
            write!(f, ", at most {}", self.limits.max_count)?;
        }
        Ok(())
    }
}

/// The losses already counted in a window: people who lost access without an approval,
/// carried out or still queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub recent: HashSet<PersonId>,
    /// When the oldest of them was queued (ms since the epoch).
    pub oldest_ms: Option<i64>,
}

/// A loss the plan at hand proposes, with what its person looked like (so a rejection can tell
/// whether the source changed since).
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    pub op: PlannedOp,
    pub fingerprint: String,
}

/// Whose (app, person) pairs a plan answers for: a full plan of the app covers everyone but the
/// pairs it left for later; an incremental plan covers the people it planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Everyone { except: HashSet<PersonId> },
    People(HashSet<PersonId>),
}

impl Coverage {
    pub fn covers(&self, person: PersonId) -> bool {
        match self {
            Coverage::Everyone { except } => !except.contains(&person),
            Coverage::People(people) => people.contains(&person),
        }
    }
}

/// One app's part in a decision.
#[derive(Debug, Clone)]
pub struct AppGuard<'a> {
    pub app: &'a App,
    /// Accounts Tenure manages in the app.
    pub managed: usize,
    pub losses: Vec<Loss>,
    pub covered: Coverage,
    pub window: Window,
}

/// The tenant-wide guard's part.
#[derive(Debug, Clone, Default)]
pub struct TenantGuard {
    pub limits: GuardLimits,
    pub managed_people: usize,
    pub window: Window,
}

/// A hold in force: a held plan waiting for an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub plan: PlanId,
    pub scope: HoldScope,
}

/// What an admin decided about a held plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// Waiting for a decision: the loss stays held.
    Held,
    /// Approved: the loss is carried out when it is planned again and still due.
    Approved,
    /// Rejected: the loss is not due until its person changes in the source.
    Rejected,
}

/// A loss a held plan holds (or held, for a decided plan).
#[derive(Debug, Clone, PartialEq)]
pub struct HeldLoss {
    pub plan: PlanId,
    pub state: HeldState,
    pub op: PlannedOp,
    pub fingerprint: String,
}

/// Who asks for the losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The directory and the policy: the guard weighs every loss.
    Guarded,
    /// An admin who named the person (an explicit offboarding): the admin is the approval. The
    /// losses count in the window, and are never held.
    Admin,
}

/// Why a loss that goes ahead may go: what the window counts it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "release", content = "plan", rename_all = "snake_case")]
pub enum Release {
    /// Within the window's limits: counted.
    Budget,
    /// An admin approved exactly this loss in a held plan: not counted.
    Approved(PlanId),
    /// An admin asked for it by name: counted, never held.
    Admin,
}

impl Release {
    /// Whether the loss counts in the window.
    pub fn counts(&self) -> bool {
        !matches!(self, Release::Approved(_))
    }
}

/// Where a held loss goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldTarget {
    /// A hold already in force (the loss joins it, or stays in it).
    Existing(PlanId),
    /// A hold this decision starts.
    New(HoldScope),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeldEntry {
    pub target: HoldTarget,
    pub loss: Loss,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldPair {
    pub plan: PlanId,
    pub app_id: AppId,
    pub person_id: PersonId,
    pub person: String,
}

/// What to do with a plan's losses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardDecision {
    /// Losses that go to the queue now.
    pub release: Vec<(PlannedOp, Release)>,
    /// Losses that wait for an admin.
    pub hold: Vec<HeldEntry>,
    /// Held losses whose person no longer loses access (re-activated, re-assigned), or whose
    /// loss changed, or that an admin's explicit act superseded: they leave their plan.
    pub withdrawn: Vec<HeldPair>,
    /// Approved losses carried out now (their rows leave the plan).
    pub carried_out: Vec<HeldPair>,
    /// Losses an admin rejected, not due again until the person changes in the source.
    pub suppressed: Vec<PlannedOp>,
    /// Why each new hold starts, and the figures of holds that grew.
    pub trips: Vec<(HoldTarget, GuardTrip)>,
}

impl GuardDecision {
    pub fn held_count(&self) -> usize {
        self.hold.len()
    }
}

/// Whose losses are weighed, against what: a trip with no losses counted yet.
fn scale(app_id: AppId, app: &str, managed: usize, limits: GuardLimits, global: bool) -> GuardTrip {
    GuardTrip { app_id, app: app.to_owned(), deprovisions: 0, in_window: 0, span_ms: 0, managed, limits, global }
}

/// The people who would lose access in the window, and the trip when that is over the limits.
fn weigh(
    mut trip: GuardTrip,
    window: &Window,
    people: impl IntoIterator<Item = PersonId>,
    now_ms: i64,
) -> Option<GuardTrip> {
    let new: HashSet<PersonId> = people.into_iter().filter(|p| !window.recent.contains(p)).collect();
    if new.is_empty() {
        return None;
    }
    let total = window.recent.len() + new.len();
    let limits = trip.limits;
    let over = if trip.global {
        // In a small organization one leaver is more than 10% of everyone; the per-app guard
        // still weighs each app, so the global percentage speaks only from a handful of people up.
        total > limits.max_count
            || (total >= GLOBAL_PERCENT_FLOOR && total * 100 > usize::from(limits.max_percent) * trip.managed)
    } else {
        limits.exceeded_by(total, trip.managed)
    };
    trip.deprovisions = total;
    trip.in_window = window.recent.len();
    trip.span_ms = window.oldest_ms.map_or(0, |oldest| now_ms - oldest);
    over.then_some(trip)
}

/// The fewest people whose losses the global guard's percentage can hold.
pub const GLOBAL_PERCENT_FLOOR: usize = 5;

/// What happens to the losses of the plans at hand. Losses not named here (every operation that
/// gives or keeps access) are none of the guard's business and always go ahead.
///
/// In order, for each loss: an admin's rejection of the same loss, with the person unchanged in
/// the source, keeps it from being due; an approval of the same loss carries it out; a hold in
/// force on the app, or else on the tenant, takes it in; otherwise it is weighed against the app's
/// window and then, with every app's remaining losses, against the tenant's. A held (or
/// approved, or rejected) pair that the plans cover and that no longer loses access leaves its
/// plan.
pub fn decide(
    now_ms: i64,
    apps: &[AppGuard<'_>],
    tenant: &TenantGuard,
    holds: &[Hold],
    held: &[HeldLoss],
    authority: Authority,
) -> GuardDecision {
    let mut decision = GuardDecision::default();
    let by_pair: HashMap<(AppId, PersonId), &HeldLoss> =
        held.iter().map(|h| ((h.op.app_id, h.op.person_id), h)).collect();
    let app_hold: HashMap<AppId, PlanId> = holds
        .iter()
        .filter_map(|h| match h.scope {
            HoldScope::App(app) => Some((app, h.plan)),
            HoldScope::Tenant => None,
        })
        .collect();
    let tenant_hold = holds.iter().find(|h| h.scope == HoldScope::Tenant).map(|h| h.plan);
    let pair = |h: &HeldLoss| HeldPair {
        plan: h.plan,
        app_id: h.op.app_id,
        person_id: h.op.person_id,
        person: h.op.person.clone(),
    };

    // Losses still to weigh, per app (index into `apps`).
    let mut weighed: Vec<Vec<Loss>> = vec![Vec::new(); apps.len()];
    for (index, app) in apps.iter().enumerate() {
        let losing: HashSet<PersonId> = app.losses.iter().map(|l| l.op.person_id).collect();
        // Held pairs the plan answers for, whose person no longer loses access.
        for h in held.iter().filter(|h| h.op.app_id == app.app.id) {
            if app.covered.covers(h.op.person_id) && !losing.contains(&h.op.person_id) {
                decision.withdrawn.push(pair(h));
            }
        }
        for loss in &app.losses {
            let previous = by_pair.get(&(loss.op.app_id, loss.op.person_id)).copied();
            if authority == Authority::Admin {
                if let Some(h) = previous {
                    decision.withdrawn.push(pair(h));
                }
                decision.release.push((loss.op.clone(), Release::Admin));
                continue;
            }
            match previous {
                Some(h) if h.state == HeldState::Rejected && h.fingerprint == loss.fingerprint => {
                    decision.suppressed.push(loss.op.clone());
                    continue;
                }
                Some(h) if h.state == HeldState::Approved && h.op.kind == loss.op.kind => {
                    decision.carried_out.push(pair(h));
                    decision.release.push((loss.op.clone(), Release::Approved(h.plan)));
                    continue;
                }
                Some(h) if h.state == HeldState::Held => {
                    // Held stays held, whatever changed: its plan keeps the newest form of it.
                    decision.hold.push(HeldEntry { target: HoldTarget::Existing(h.plan), loss: loss.clone() });
                    continue;
                }
                // A rejection whose person changed since, or an approval of another loss: the
                // decision no longer applies, and the loss is weighed like a new one.
                Some(h) => decision.withdrawn.push(pair(h)),
                None => {}
            }
            if let Some(plan) = app_hold.get(&app.app.id).copied().or(tenant_hold) {
                decision.hold.push(HeldEntry { target: HoldTarget::Existing(plan), loss: loss.clone() });
                continue;
            }
            weighed[index].push(loss.clone());
        }
    }

    // Each app against its own window.
    let mut remaining: Vec<Loss> = Vec::new();
    for (app, losses) in apps.iter().zip(weighed) {
        if losses.is_empty() {
            continue;
        }
        let limits = app.app.settings.guard.unwrap_or_default();
        let people = losses.iter().map(|l| l.op.person_id);
        match weigh(scale(app.app.id, &app.app.name, app.managed, limits, false), &app.window, people, now_ms) {
            Some(trip) => {
                let target = HoldTarget::New(HoldScope::App(app.app.id));
                decision.trips.push((target, trip));
                decision.hold.extend(losses.into_iter().map(|loss| HeldEntry { target, loss }));
            }
            None => remaining.extend(losses),
        }
    }

    // The tenant's window: people losing access anywhere.
    if !remaining.is_empty() {
        let people = remaining.iter().map(|l| l.op.person_id);
        let scope = scale(AppId(uuid::Uuid::nil()), "all apps", tenant.managed_people, tenant.limits, true);
        let global = weigh(scope, &tenant.window, people, now_ms);
        match global {
            Some(trip) => {
                let target = HoldTarget::New(HoldScope::Tenant);
                decision.trips.push((target, trip));
                decision.hold.extend(remaining.into_iter().map(|loss| HeldEntry { target, loss }));
            }
            None => decision.release.extend(remaining.into_iter().map(|l| (l.op, Release::Budget))),
        }
    }
    decision
}

#[cfg(test)]
mod tests;
