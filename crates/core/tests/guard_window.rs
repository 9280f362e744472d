//! The guard's promise as a property: for any interleaving of source changes, planning passes
//! (incremental or full), admin decisions and the passing of time, the losses an app goes through
//! without an approval never exceed the guard's limit within any window, and nobody loses access
//! while a loss of theirs is held.
//!
//! The store is simulated here exactly as the engine reads and writes it: the window's tally is
//! the people whose counted losses were queued in the last `window_s`, the holds are plans
//! waiting for a decision, and each pass writes what [`decide`] returns.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use tenure_core::guard::*;
use tenure_core::*;

const PEOPLE: usize = 40;
const WINDOW_S: u64 = 600;

#[derive(Debug, Clone)]
enum Event {
    /// The source suspends these people (by index).
    Suspend(Vec<usize>),
    /// The source re-activates them.
    Reactivate(Vec<usize>),
    /// A renamed or otherwise edited person: planned again, nothing else changes.
    Edit(usize),
    /// A planning pass over the people changed since the last one.
    Pass,
    /// A full reconciliation of the app.
    FullPass,
    /// Time goes by, in seconds.
    Wait(u64),
    /// An admin decides the oldest hold waiting.
    Approve,
    Reject,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => prop::collection::vec(0..PEOPLE, 1..4).prop_map(Event::Suspend),
        1 => prop::collection::vec(0..PEOPLE, 1..3).prop_map(Event::Reactivate),
        1 => (0..PEOPLE).prop_map(Event::Edit),
        3 => Just(Event::Pass),
        1 => Just(Event::FullPass),
        2 => (1u64..400).prop_map(Event::Wait),
        1 => Just(Event::Approve),
        1 => Just(Event::Reject),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PlanStatus {
    Held,
    Approved,
    Rejected,
}

struct World {
    app: App,
    ids: Vec<PersonId>,
    suspended: Vec<bool>,
    /// Changes to a person's record, for the rejection's fingerprint.
    version: Vec<u32>,
    active: Vec<bool>,
    dirty: HashSet<usize>,
    now_ms: i64,
    /// Losses queued (and carried out at once): when, who, and whether they count.
    log: Vec<(i64, PersonId, Release)>,
    plans: Vec<(PlanId, HoldScope, PlanStatus)>,
    rows: HashMap<PersonId, HeldLoss>,
}

impl World {
    fn new(limits: GuardLimits) -> Self {
        let app = App {
            id: AppId::new(),
            name: "app".into(),
            kind: AppKind::Scim,
            base_url: "https://x".into(),
            settings: AppSettings { guard: Some(limits), ..AppSettings::default() },
        };
        Self {
            app,
            ids: (0..PEOPLE).map(|_| PersonId::new()).collect(),
            suspended: vec![false; PEOPLE],
            version: vec![0; PEOPLE],
            active: vec![true; PEOPLE],
            dirty: HashSet::new(),
            now_ms: 1_700_000_000_000,
            log: Vec::new(),
            plans: Vec::new(),
            rows: HashMap::new(),
        }
    }

    fn index(&self, person: PersonId) -> usize {
        self.ids.iter().position(|p| *p == person).expect("known person")
    }

    fn loss(&self, i: usize) -> Loss {
        Loss {
            op: PlannedOp {
                app_id: self.app.id,
                person_id: self.ids[i],
                person: format!("p{i}@x.com"),
                kind: OpKind::Deactivate { remote_id: format!("r{i}") },
                reason: Reason::Revoked { revocation: Revocation::Suspended, by: None },
            },
            fingerprint: format!("{i}:{}", self.version[i]),
        }
    }

    fn window(&self) -> Window {
        let since = self.now_ms - (WINDOW_S as i64) * 1000;
        let counted: Vec<&(i64, PersonId, Release)> =
            self.log.iter().filter(|(at, _, r)| *at >= since && r.counts()).collect();
        Window {
            recent: counted.iter().map(|(_, p, _)| *p).collect(),
            oldest_ms: counted.iter().map(|(at, ..)| *at).min(),
        }
    }

    fn pass(&mut self, full: bool) {
        let planned: Vec<usize> = if full { (0..PEOPLE).collect() } else { self.dirty.iter().copied().collect() };
        self.dirty.clear();
        // The planner: a suspended person with an active account loses it.
        let losses: Vec<Loss> =
            planned.iter().filter(|i| self.suspended[**i] && self.active[**i]).map(|i| self.loss(*i)).collect();
        let covered = Coverage::People(planned.iter().map(|i| self.ids[*i]).collect());
        let holds: Vec<Hold> = self
            .plans
            .iter()
            .filter(|(_, _, s)| *s == PlanStatus::Held)
            .map(|(plan, scope, _)| Hold { plan: *plan, scope: *scope })
            .collect();
        let held: Vec<HeldLoss> = self.rows.values().cloned().collect();
        let guard = AppGuard { app: &self.app, managed: PEOPLE, losses, covered, window: self.window() };
        let tenant = TenantGuard {
            limits: GuardLimits { max_percent: 100, max_count: 10_000, window_s: WINDOW_S },
            managed_people: PEOPLE,
            window: Window::default(),
        };
        let decision = decide(self.now_ms, &[guard], &tenant, &holds, &held, Authority::Guarded);
        for w in decision.withdrawn.iter().chain(&decision.carried_out) {
            self.rows.remove(&w.person_id);
        }
        let mut new_plans: HashMap<HoldScope, PlanId> = HashMap::new();
        for entry in decision.hold {
            let plan = match entry.target {
                HoldTarget::Existing(plan) => plan,
                HoldTarget::New(scope) => *new_plans.entry(scope).or_insert_with(|| {
                    let plan = PlanId::new();
                    self.plans.push((plan, scope, PlanStatus::Held));
                    plan
                }),
            };
            let op = entry.loss.op;
            self.rows.insert(
                op.person_id,
                HeldLoss { plan, state: HeldState::Held, op, fingerprint: entry.loss.fingerprint },
            );
        }
        for (op, release) in decision.release {
            let i = self.index(op.person_id);
            assert!(self.suspended[i], "only a due loss is carried out");
            assert!(
                !self.rows.values().any(|r| r.op.person_id == op.person_id && r.state == HeldState::Held),
                "a held person keeps their access"
            );
            self.active[i] = false;
            self.log.push((self.now_ms, op.person_id, release));
        }
    }

    fn decide_oldest(&mut self, approve: bool) {
        let Some(index) = self.plans.iter().position(|(_, _, s)| *s == PlanStatus::Held) else { return };
        let plan = self.plans[index].0;
        self.plans[index].2 = if approve { PlanStatus::Approved } else { PlanStatus::Rejected };
        let state = if approve { HeldState::Approved } else { HeldState::Rejected };
        for row in self.rows.values_mut().filter(|r| r.plan == plan) {
            row.state = state;
            // Approving marks the held people, so the next pass carries out what is still due.
            if approve {
                let i = self.ids.iter().position(|p| *p == row.op.person_id).expect("known");
                self.dirty.insert(i);
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Suspend(who) => {
                for &i in who {
                    if !self.suspended[i] {
                        self.suspended[i] = true;
                        self.version[i] += 1;
                        self.dirty.insert(i);
                    }
                }
            }
            Event::Reactivate(who) => {
                for &i in who {
                    if self.suspended[i] {
                        self.suspended[i] = false;
                        self.version[i] += 1;
                        self.dirty.insert(i);
                    }
                }
            }
            Event::Edit(i) => {
                self.version[*i] += 1;
                self.dirty.insert(*i);
            }
            Event::Pass => self.pass(false),
            Event::FullPass => self.pass(true),
            Event::Wait(s) => self.now_ms += (*s as i64) * 1000,
            Event::Approve => self.decide_oldest(true),
            Event::Reject => self.decide_oldest(false),
        }
    }

    /// The most people who lost access without an approval within any one window.
    fn worst_window(&self) -> usize {
        let window_ms = (WINDOW_S as i64) * 1000;
        self.log
            .iter()
            .map(|(end, ..)| {
                self.log
                    .iter()
                    .filter(|(at, _, r)| r.counts() && *at <= *end && *at > end - window_ms)
                    .map(|(_, p, _)| *p)
                    .collect::<HashSet<_>>()
                    .len()
            })
            .max()
            .unwrap_or(0)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_more_than_the_limit_is_lost_without_approval_in_any_window(
        events in prop::collection::vec(event(), 1..120),
        max_percent in 5u8..30,
        max_count in 1usize..8,
    ) {
        let limits = GuardLimits { max_percent, max_count, window_s: WINDOW_S };
        let mut world = World::new(limits);
        for event in &events {
            world.apply(event);
        }
        world.pass(true);
        prop_assert!(
            world.worst_window() <= limits.allowed(PEOPLE),
            "{} lost in one window, the limit is {}",
            world.worst_window(),
            limits.allowed(PEOPLE)
        );
    }
}

/// Without any decision, a trickle of one loss a pass stops at the limit, and the rest wait.
#[test]
fn a_trickle_stops_at_the_limit() {
    let limits = GuardLimits { max_percent: 10, max_count: 25, window_s: WINDOW_S };
    let mut world = World::new(limits);
    for i in 0..20 {
        world.apply(&Event::Suspend(vec![i]));
        world.apply(&Event::Pass);
        world.apply(&Event::Wait(1));
    }
    assert_eq!(world.log.len(), 4, "10% of 40");
    assert_eq!(world.rows.len(), 16, "the rest are held in one plan");
    assert_eq!(world.plans.len(), 1);
    // After the window, with the hold still waiting, nothing more goes.
    world.apply(&Event::Wait(WINDOW_S * 2));
    world.apply(&Event::FullPass);
    assert_eq!(world.log.len(), 4, "a hold in force waits for an admin, whatever the window says");
    world.apply(&Event::Approve);
    world.apply(&Event::Pass);
    assert_eq!(world.log.len(), 20);
}
