use std::collections::HashSet;

use super::*;
use crate::ids::*;
use crate::model::*;
use crate::plan::*;

const NOW: i64 = 1_000_000_000;

fn app(guard: Option<GuardLimits>) -> App {
    App {
        id: AppId::new(),
        name: "slack".into(),
        kind: AppKind::Scim,
        base_url: "https://x".into(),
        settings: AppSettings { guard, ..AppSettings::default() },
    }
}

fn loss_of(app: &App, person: PersonId) -> Loss {
    Loss {
        op: PlannedOp {
            app_id: app.id,
            person_id: person,
            person: format!("{person}@x.com"),
            kind: OpKind::Deactivate { remote_id: format!("r-{person}") },
            reason: Reason::Revoked { revocation: Revocation::Suspended, by: None },
        },
        fingerprint: format!("fp-{person}"),
    }
}

fn people(n: usize) -> Vec<PersonId> {
    (0..n).map(|_| PersonId::new()).collect()
}

fn guard_of<'a>(app: &'a App, managed: usize, losing: &[PersonId], recent: &[PersonId]) -> AppGuard<'a> {
    AppGuard {
        app,
        managed,
        losses: losing.iter().map(|p| loss_of(app, *p)).collect(),
        covered: Coverage::People(losing.iter().copied().collect()),
        window: Window { recent: recent.iter().copied().collect(), oldest_ms: recent.first().map(|_| NOW - 240_000) },
    }
}

fn generous_tenant() -> TenantGuard {
    TenantGuard {
        limits: GuardLimits { max_percent: 100, max_count: 100_000, ..GuardLimits::default() },
        managed_people: 1000,
        window: Window::default(),
    }
}

fn released(d: &GuardDecision) -> usize {
    d.release.len()
}

#[test]
fn exactly_at_a_limit_passes_one_more_is_held() {
    let a = app(None);
    // 10% of 250 is 25: both limits reached, neither exceeded.
    let d = decide(NOW, &[guard_of(&a, 250, &people(25), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (25, 0));
    let d = decide(NOW, &[guard_of(&a, 250, &people(26), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (0, 26), "a plan over the limit holds all of its losses");
    let (target, trip) = &d.trips[0];
    assert_eq!(*target, HoldTarget::New(HoldScope::App(a.id)));
    assert_eq!((trip.deprovisions, trip.managed), (26, 250));
    // The percentage alone: 11 of 100.
    let d = decide(NOW, &[guard_of(&a, 100, &people(10), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 0);
    let d = decide(NOW, &[guard_of(&a, 100, &people(11), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 11);
    // The count alone, with a generous percentage.
    let b = app(Some(GuardLimits { max_percent: 100, max_count: 25, ..GuardLimits::default() }));
    let d = decide(NOW, &[guard_of(&b, 30, &people(25), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 0);
    let d = decide(NOW, &[guard_of(&b, 30, &people(26), &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 26);
    let d = decide(NOW, &[guard_of(&a, 0, &[], &[])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!(d, GuardDecision::default(), "nothing to lose, nothing held");
}

#[test]
fn losses_one_at_a_time_count_together_in_the_window() {
    let a = app(None);
    // 60 managed, 10%: six a day. Six already went, one at a time.
    let recent = people(6);
    let one = people(1);
    let d = decide(NOW, &[guard_of(&a, 60, &one, &recent)], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (0, 1), "the seventh in the window is held");
    let trip = &d.trips[0].1;
    assert_eq!((trip.deprovisions, trip.in_window), (7, 6));
    assert_eq!(
        trip.to_string(),
        "slack: 7 losses in 4 minutes (6 already carried out or queued), 11% of its 60 managed accounts; \
         the guard allows 10% (6) a day"
    );
    // Five went: the sixth passes.
    let d = decide(NOW, &[guard_of(&a, 60, &one, &recent[..5])], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (1, 0));
    assert_eq!(d.release[0].1, Release::Budget);
    // Someone already counted in the window (deactivated, now deleted) is not counted twice.
    let d = decide(NOW, &[guard_of(&a, 60, &recent[..1], &recent)], &generous_tenant(), &[], &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (1, 0));
}

#[test]
fn a_hold_in_force_takes_every_new_loss_and_the_rest_of_the_world_flows() {
    let (a, b) = (app(None), app(None));
    let plan = PlanId::new();
    let holds = [Hold { plan, scope: HoldScope::App(a.id) }];
    let d = decide(
        NOW,
        &[guard_of(&a, 1000, &people(1), &[]), guard_of(&b, 1000, &people(1), &[])],
        &generous_tenant(),
        &holds,
        &[],
        Authority::Guarded,
    );
    assert_eq!(d.held_count(), 1, "one loss, well under the limit, joins the hold in force");
    assert_eq!(d.hold[0].target, HoldTarget::Existing(plan));
    assert_eq!(d.hold[0].loss.op.app_id, a.id);
    assert_eq!(released(&d), 1, "the other app is not held");
    assert!(d.trips.is_empty(), "no new hold");

    // A tenant-wide hold takes every app's new losses.
    let holds = [Hold { plan, scope: HoldScope::Tenant }];
    let d = decide(NOW, &[guard_of(&b, 1000, &people(2), &[])], &generous_tenant(), &holds, &[], Authority::Guarded);
    assert_eq!((released(&d), d.held_count()), (0, 2));
}

fn held_row(loss: &Loss, plan: PlanId, state: HeldState) -> HeldLoss {
    HeldLoss { plan, state, op: loss.op.clone(), fingerprint: loss.fingerprint.clone() }
}

#[test]
fn a_held_loss_stays_held_and_leaves_only_when_its_person_comes_back() {
    let a = app(None);
    let plan = PlanId::new();
    let holds = [Hold { plan, scope: HoldScope::App(a.id) }];
    let [kept, back, elsewhere]: [PersonId; 3] = people(3).try_into().expect("three");
    let held: Vec<HeldLoss> =
        [kept, back, elsewhere].iter().map(|p| held_row(&loss_of(&a, *p), plan, HeldState::Held)).collect();
    // `kept` was renamed (planned again, still losing access); `back` was re-activated (planned,
    // no loss); `elsewhere` was not planned at all.
    let mut renamed = loss_of(&a, kept);
    renamed.op.person = "new-name@x.com".into();
    renamed.fingerprint = "changed".into();
    let g = AppGuard {
        app: &a,
        managed: 1000,
        losses: vec![renamed.clone()],
        covered: Coverage::People([kept, back].into_iter().collect()),
        window: Window::default(),
    };
    // Even with no hold in force any more, a held loss is not weighed again.
    for holds in [&holds[..], &[]] {
        let d = decide(NOW, std::slice::from_ref(&g), &generous_tenant(), holds, &held, Authority::Guarded);
        assert_eq!(released(&d), 0, "a held person keeps their access");
        assert_eq!(d.hold, vec![HeldEntry { target: HoldTarget::Existing(plan), loss: renamed.clone() }]);
        assert_eq!(d.withdrawn.iter().map(|w| w.person_id).collect::<Vec<_>>(), vec![back]);
    }
}

#[test]
fn an_approval_carries_out_exactly_the_losses_still_due() {
    let a = app(None);
    let plan = PlanId::new();
    let [due, rehired, changed]: [PersonId; 3] = people(3).try_into().expect("three");
    let held: Vec<HeldLoss> =
        [due, rehired, changed].iter().map(|p| held_row(&loss_of(&a, *p), plan, HeldState::Approved)).collect();
    let mut delete = loss_of(&a, changed);
    delete.op.kind = OpKind::Delete { remote_id: format!("r-{changed}") };
    let g = AppGuard {
        app: &a,
        managed: 1000,
        losses: vec![loss_of(&a, due), delete.clone()],
        covered: Coverage::Everyone { except: HashSet::new() },
        window: Window::default(),
    };
    let d = decide(NOW, &[g], &generous_tenant(), &[], &held, Authority::Guarded);
    assert_eq!(d.release, vec![(loss_of(&a, due).op, Release::Approved(plan)), (delete.op, Release::Budget)]);
    assert_eq!(d.carried_out.iter().map(|w| w.person_id).collect::<Vec<_>>(), vec![due]);
    let mut withdrawn: Vec<PersonId> = d.withdrawn.iter().map(|w| w.person_id).collect();
    withdrawn.sort();
    let mut expected = vec![rehired, changed];
    expected.sort();
    assert_eq!(withdrawn, expected, "the re-hired person and the changed loss leave the approved plan");
    assert!(!Release::Approved(plan).counts() && Release::Budget.counts() && Release::Admin.counts());
}

#[test]
fn a_rejection_holds_until_the_person_changes_in_the_source() {
    let a = app(None);
    let plan = PlanId::new();
    let person = PersonId::new();
    let loss = loss_of(&a, person);
    let held = [held_row(&loss, plan, HeldState::Rejected)];
    let g = guard_of(&a, 1000, &[person], &[]);
    let d = decide(NOW, std::slice::from_ref(&g), &generous_tenant(), &[], &held, Authority::Guarded);
    assert_eq!((d.suppressed.len(), released(&d), d.held_count()), (1, 0, 0));
    let mut changed = g;
    changed.losses[0].fingerprint = "the source changed".into();
    let d = decide(NOW, &[changed], &generous_tenant(), &[], &held, Authority::Guarded);
    assert_eq!((d.suppressed.len(), released(&d), d.withdrawn.len()), (0, 1, 1), "weighed again, as a new loss");
}

#[test]
fn an_admins_explicit_act_is_never_held_and_supersedes_a_hold() {
    let a = app(None);
    let plan = PlanId::new();
    let holds = [Hold { plan, scope: HoldScope::App(a.id) }];
    let losing = people(30);
    let held = [held_row(&loss_of(&a, losing[0]), plan, HeldState::Held)];
    let d = decide(NOW, &[guard_of(&a, 60, &losing, &[])], &generous_tenant(), &holds, &held, Authority::Admin);
    assert_eq!((released(&d), d.held_count(), d.withdrawn.len()), (30, 0, 1));
    assert!(d.release.iter().all(|(_, r)| *r == Release::Admin));
}

#[test]
fn the_global_guard_counts_people_across_apps_and_its_own_window() {
    let generous = Some(GuardLimits { max_percent: 100, max_count: 1000, ..GuardLimits::default() });
    let (a, b) = (app(generous), app(generous));
    let tenant = |managed_people, recent: &[PersonId]| TenantGuard {
        limits: GuardLimits::default(),
        managed_people,
        window: Window { recent: recent.iter().copied().collect(), oldest_ms: Some(NOW - 3_600_000) },
    };
    // One leaver losing two apps is one person of ten: 10%, passes.
    let leaver = people(1);
    let d = decide(
        NOW,
        &[guard_of(&a, 10, &leaver, &[]), guard_of(&b, 10, &leaver, &[])],
        &tenant(10, &[]),
        &[],
        &[],
        Authority::Guarded,
    );
    assert_eq!((released(&d), d.held_count()), (2, 0));
    // Below the floor the percentage does not speak.
    let d = decide(NOW, &[guard_of(&a, 3, &people(2), &[])], &tenant(3, &[]), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 0);
    // 5 of 40 is 12.5%: held tenant-wide.
    let d = decide(NOW, &[guard_of(&a, 40, &people(5), &[])], &tenant(40, &[]), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 5);
    assert_eq!(d.trips[0].0, HoldTarget::New(HoldScope::Tenant));
    assert!(d.trips[0].1.global);
    // 20 went earlier today across apps; 6 more is 26, over the 25 people a day.
    let earlier = people(20);
    let d =
        decide(NOW, &[guard_of(&b, 1000, &people(6), &[])], &tenant(100_000, &earlier), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 6);
    let trip = &d.trips[0].1;
    assert_eq!((trip.deprovisions, trip.in_window), (26, 20));
    assert!(trip.to_string().starts_with("all apps: 26 people losing access in 1 hour"), "{trip}");
    let d =
        decide(NOW, &[guard_of(&b, 1000, &people(5), &[])], &tenant(100_000, &earlier), &[], &[], Authority::Guarded);
    assert_eq!(d.held_count(), 0, "exactly at the limit passes");
}

#[test]
fn an_app_over_its_limit_is_held_by_itself_and_the_others_are_weighed_globally() {
    let a = app(None);
    let generous = Some(GuardLimits { max_percent: 100, max_count: 1000, ..GuardLimits::default() });
    let b = app(generous);
    let d = decide(
        NOW,
        &[guard_of(&a, 50, &people(10), &[]), guard_of(&b, 50, &people(3), &[])],
        &TenantGuard { managed_people: 1000, ..TenantGuard::default() },
        &[],
        &[],
        Authority::Guarded,
    );
    assert_eq!(d.trips.len(), 1);
    assert_eq!(d.trips[0].0, HoldTarget::New(HoldScope::App(a.id)));
    assert_eq!((released(&d), d.held_count()), (3, 10));
}

#[test]
fn windows_and_durations_read_as_people_say_them() {
    assert_eq!(human_duration(0), "0 seconds");
    assert_eq!(human_duration(61_000), "1 minute");
    assert_eq!(human_duration(7_200_000), "2 hours");
    assert_eq!(per_window(86_400), "a day");
    assert_eq!(per_window(3600), "an hour");
    assert_eq!(per_window(7200), "per 2 hours");
    let limits: GuardLimits = serde_json::from_str(r#"{"max_percent": 5, "max_count": 3}"#).expect("old form");
    assert_eq!(limits.window_s, DEFAULT_WINDOW_S, "settings stored before the window existed read as a day");
    assert_eq!(GuardLimits::default().allowed(60), 6);
    assert_eq!(GuardLimits::default().allowed(1000), 25);
}
