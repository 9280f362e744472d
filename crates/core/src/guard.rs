//! The deprovisioning guard: a plan that would take access away from too many of an app's
//! accounts at once is held for an admin's approval instead of being carried out. A broken
//! export, a mistyped rule or an unassigned "everyone" group must not cost a company its apps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::AppId;
use crate::model::App;
use crate::plan::Plan;

/// How much an app may lose in one run. More than either limit holds the plan; exactly at the
/// limit passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuardLimits {
    /// Percent of the app's managed (linked) accounts.
    pub max_percent: u8,
    /// Accounts.
    pub max_count: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self { max_percent: 10, max_count: 25 }
    }
}

/// Why a plan is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardTrip {
    pub app_id: AppId,
    pub app: String,
    /// Deactivations, deletions and license removals the plan holds for the app.
    pub deprovisions: usize,
    /// Accounts Tenure manages in the app.
    pub managed: usize,
    pub limits: GuardLimits,
    /// The tenant-wide guard: `deprovisions` and `managed` count people, across every app.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
}

impl fmt::Display for GuardTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.deprovisions * 100).checked_div(self.managed).unwrap_or(100);
        if self.global {
            return write!(
                f,
                "{} of the {} people with managed accounts would lose access in one run ({percent}%); the global guard allows at most {}% and {} people",
                self.deprovisions, self.managed, self.limits.max_percent, self.limits.max_count
            );
        }
        write!(
            f,
            "{} would lose {} of its {} managed accounts ({percent}%); the guard allows at most {}% and {} in one run",
            self.app, self.deprovisions, self.managed, self.limits.max_percent, self.limits.max_count
        )
    }
}

/// Whether the guard holds `plan` for `app`, which manages `managed` accounts.
pub fn check(app: &App, plan: &Plan, managed: usize) -> Option<GuardTrip> {
    let limits = app.settings.guard.unwrap_or_default();
    let deprovisions = plan.ops.iter().filter(|o| o.app_id == app.id && o.kind.is_deprovision()).count();
    let over_count = deprovisions > limits.max_count;
    // Integer arithmetic: "more than 10%" of 250 is 26 or more, never a rounding question.
    let over_percent = deprovisions * 100 > usize::from(limits.max_percent) * managed;
    (deprovisions > 0 && (over_count || over_percent)).then(|| GuardTrip {
        app_id: app.id,
        app: app.name.clone(),
        deprovisions,
        managed,
        limits,
        global: false,
    })
}

/// The fewest people whose losses the global guard's percentage can hold.
pub const GLOBAL_PERCENT_FLOOR: usize = 5;

/// The tenant-wide guard: whether the plans of one run, together, take access from more people
/// than `limits` allow, out of `managed_people` who have a managed account anywhere. It counts
/// people, not accounts: one leaver losing thirty apps is one person leaving, while thirty
/// people each losing one app (every app's own guard passing) is what it is there to catch.
pub fn check_global<'a>(
    plans: impl IntoIterator<Item = &'a Plan>,
    managed_people: usize,
    limits: GuardLimits,
) -> Option<GuardTrip> {
    let losing: std::collections::HashSet<crate::ids::PersonId> =
        plans.into_iter().flat_map(|p| p.ops.iter()).filter(|o| o.kind.is_deprovision()).map(|o| o.person_id).collect();
    let deprovisions = losing.len();
    // In a small organization one leaver is more than 10% of everyone; the per-app guard still
    // weighs each app, so the global percentage speaks only from a handful of people up.
    let over_percent =
        deprovisions >= GLOBAL_PERCENT_FLOOR && deprovisions * 100 > usize::from(limits.max_percent) * managed_people;
    let over = deprovisions > limits.max_count || over_percent;
    (deprovisions > 0 && over).then(|| GuardTrip {
        app_id: AppId(uuid::Uuid::nil()),
        app: "all apps".to_owned(),
        deprovisions,
        managed: managed_people,
        limits,
        global: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;
    use crate::model::*;
    use crate::plan::*;

    fn plan_with(app: &App, deactivations: usize) -> Plan {
        let ops = (0..deactivations)
            .map(|i| PlannedOp {
                app_id: app.id,
                person_id: PersonId::new(),
                person: format!("p{i}@x.com"),
                kind: OpKind::Deactivate { remote_id: format!("r{i}") },
                reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
            })
            .collect();
        Plan { ops, ..Plan::default() }
    }

    fn app(guard: Option<GuardLimits>) -> App {
        App {
            id: AppId::new(),
            name: "slack".into(),
            kind: AppKind::Scim,
            base_url: "https://x".into(),
            settings: AppSettings { guard, ..AppSettings::default() },
        }
    }

    #[test]
    fn the_global_guard_counts_people_across_apps() {
        let (a, b) = (app(None), app(None));
        let mut one_leaver = plan_with(&a, 1);
        let person = one_leaver.ops[0].person_id;
        let mut in_b = plan_with(&b, 1);
        in_b.ops[0].person_id = person;
        one_leaver.ops.extend(in_b.ops);
        assert!(check_global([&one_leaver], 10, GuardLimits::default()).is_none(), "one person of ten is 10%");
        assert!(check_global([&one_leaver], 3, GuardLimits::default()).is_none(), "below the floor");
        assert!(check_global([&plan_with(&a, 5)], 40, GuardLimits::default()).is_some(), "5 of 40 is 12.5%");
        let limits = GuardLimits { max_percent: 100, max_count: 25 };
        let (many_a, many_b) = (plan_with(&a, 20), plan_with(&b, 6));
        let trip = check_global([&many_a, &many_b], 1000, limits).expect("26 people");
        assert!(trip.global && trip.deprovisions == 26, "{trip:?}");
        assert!(trip.to_string().contains("26 of the 1000 people"), "{trip}");
        assert!(check_global([&plan_with(&a, 25)], 1000, limits).is_none(), "exactly at the limit passes");
    }

    #[test]
    fn exactly_at_a_limit_passes_one_more_is_held() {
        let a = app(None);
        // 10% of 250 is 25: both limits reached, neither exceeded.
        assert_eq!(check(&a, &plan_with(&a, 25), 250), None);
        let trip = check(&a, &plan_with(&a, 26), 250).expect("held");
        assert_eq!((trip.deprovisions, trip.managed), (26, 250));
        assert!(trip.to_string().contains("26 of its 250"), "{trip}");
        // The percentage alone: 11 of 100.
        assert!(check(&a, &plan_with(&a, 10), 100).is_none());
        assert!(check(&a, &plan_with(&a, 11), 100).is_some());
        // The count alone, with a generous percentage.
        let b = app(Some(GuardLimits { max_percent: 100, max_count: 25 }));
        assert!(check(&b, &plan_with(&b, 25), 30).is_none());
        assert!(check(&b, &plan_with(&b, 26), 30).is_some());
        assert!(check(&a, &Plan::default(), 0).is_none(), "nothing to lose, nothing held");
    }
}
