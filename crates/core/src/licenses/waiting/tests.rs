use std::sync::Arc;

use super::*;
use crate::attributes::Attributes;
use crate::{AppId, Grant, Reason};

fn create(person: PersonId, email: &str, tier: Option<&str>) -> PlannedOp {
    let mut attributes = Attributes::new();
    if let Some(t) = tier {
        attributes.insert(LICENSE, t);
    }
    PlannedOp {
        app_id: AppId::new(),
        person_id: person,
        person: email.into(),
        kind: OpKind::Create { attributes: Arc::new(attributes), active: true },
        reason: Reason::Granted { grant: Grant::Person { assignment: crate::AssignmentId::new() } },
    }
}

fn pool(tier: Option<&str>, seats: u64, used: u64, line: &[PersonId]) -> PoolSeats {
    PoolSeats {
        tier: tier.map(str::to_owned),
        name: format!("jira {}", tier.unwrap_or("")).trim().to_owned(),
        seats,
        used,
        line: line.to_vec(),
    }
}

fn nobody_covered(_: PersonId) -> bool {
    false
}

fn no_tier(_: &str) -> Option<String> {
    None
}

#[test]
fn ordinals_read_as_english() {
    let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].into_iter().map(ordinal).collect();
    assert_eq!(got, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]);
}

#[test]
fn a_full_pool_makes_newcomers_wait_in_plan_order() {
    let (a, b, c) = (PersonId::new(), PersonId::new(), PersonId::new());
    let mut plan = Plan {
        ops: vec![
            create(a, "a@x", Some("standard")),
            create(b, "b@x", Some("standard")),
            create(c, "c@x", Some("standard")),
        ],
        ..Plan::default()
    };
    let pools = [pool(Some("standard"), 10, 9, &[])];
    let change = seat(&mut plan, &pools, &nobody_covered, &no_tier);
    assert_eq!(plan.ops.iter().map(|o| o.person_id).collect::<Vec<_>>(), [a], "one free seat");
    let whys: Vec<&str> = plan.withheld.iter().map(|w| w.why.as_str()).collect();
    assert_eq!(
        whys,
        ["waiting for a seat in jira standard, 1st in line", "waiting for a seat in jira standard, 2nd in line"]
    );
    assert_eq!(change.joined.iter().map(|(_, p, _)| *p).collect::<Vec<_>>(), [b, c]);
    assert!(change.seated.is_empty() && change.left.is_empty());
}

#[test]
fn a_freed_seat_goes_to_the_first_in_line_even_when_only_a_later_one_is_planned() {
    let (first, second, newcomer) = (PersonId::new(), PersonId::new(), PersonId::new());
    // One seat free; the line is first, second. Only second and a newcomer are planned now:
    // the seat is first's, second stays 2nd, the newcomer is 3rd.
    let mut plan = Plan { ops: vec![create(second, "s@x", None), create(newcomer, "n@x", None)], ..Plan::default() };
    let pools = [pool(None, 5, 4, &[first, second])];
    let change = seat(&mut plan, &pools, &nobody_covered, &no_tier);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    let whys: Vec<&str> = plan.withheld.iter().map(|w| w.why.as_str()).collect();
    assert_eq!(whys, ["waiting for a seat in jira, 2nd in line", "waiting for a seat in jira, 3rd in line"]);
    assert_eq!(change.joined.len(), 1);

    // First's own plan: seated, out of the line.
    let mut plan = Plan { ops: vec![create(first, "f@x", None)], ..Plan::default() };
    let change = seat(&mut plan, &pools, &nobody_covered, &no_tier);
    assert_eq!(plan.ops.len(), 1);
    assert_eq!(change.seated, [(0, first)]);
}

#[test]
fn tiers_go_to_their_own_pool_else_the_whole_apps_and_unpooled_tiers_wait_for_nothing() {
    let (a, b) = (PersonId::new(), PersonId::new());
    let mut plan =
        Plan { ops: vec![create(a, "a@x", Some("premium")), create(b, "b@x", Some("basic"))], ..Plan::default() };
    // premium is full; basic has no pool of its own and the whole app's pool has room.
    let pools = [pool(Some("premium"), 2, 2, &[]), pool(None, 3, 0, &[])];
    seat(&mut plan, &pools, &nobody_covered, &no_tier);
    assert_eq!(plan.ops.iter().map(|o| o.person_id).collect::<Vec<_>>(), [b]);
    assert_eq!(plan.withheld[0].op.person_id, a);
    // No whole-app pool: a tier without a pool is not limited.
    let mut plan = Plan { ops: vec![create(b, "b@x", Some("basic"))], ..Plan::default() };
    seat(&mut plan, &[pool(Some("premium"), 2, 2, &[])], &nobody_covered, &no_tier);
    assert_eq!(plan.ops.len(), 1);
}

#[test]
fn a_person_no_longer_granted_leaves_the_line_and_over_allocation_frees_nothing() {
    let (gone, other) = (PersonId::new(), PersonId::new());
    let mut plan = Plan::default();
    // Seats below the used count: nothing is free, and nobody is seated.
    let pools = [pool(None, 3, 5, &[gone, other])];
    let change = seat(&mut plan, &pools, &|p| p == gone, &no_tier);
    assert_eq!(change.left, [(0, gone)]);
    assert!(change.seated.is_empty());
    // A re-activation takes a seat of the account's tier.
    let mut plan = Plan {
        ops: vec![PlannedOp { kind: OpKind::Activate { remote_id: "r1".into() }, ..create(other, "o@x", None) }],
        ..Plan::default()
    };
    let change = seat(&mut plan, &[pool(Some("gold"), 1, 1, &[])], &nobody_covered, &|_: &str| Some("gold".into()));
    assert!(plan.ops.is_empty() && change.joined.len() == 1);
}

fn change(person: PersonId, email: &str, remote: &str, tier: &str, reason: Reason) -> PlannedOp {
    PlannedOp {
        app_id: AppId::new(),
        person_id: person,
        person: email.into(),
        kind: OpKind::ChangeLicense { remote_id: remote.into(), license: Some(tier.into()) },
        reason,
    }
}

#[test]
fn a_move_to_a_full_pools_tier_waits_and_a_handoff_does_not() {
    let (sam, bo, ann) = (PersonId::new(), PersonId::new(), PersonId::new());
    let granted = Reason::Granted { grant: Grant::Person { assignment: crate::AssignmentId::new() } };
    let handoff = Reason::Successor { of: "ann@x".into() };
    let mut plan = Plan {
        ops: vec![
            // Sam's assignment now names `eng` (a move from `sales`): a seat of `eng` it takes.
            change(sam, "sam@x", "r-sam", "eng", granted.clone()),
            // Bo gets `eng` as Ann's successor: the seat Ann frees, no wait.
            change(bo, "bo@x", "r-bo", "eng", handoff),
            // Ann's `sales` to `sales` again: the same pool, no seat taken.
            change(ann, "ann@x", "r-ann", "sales", granted),
        ],
        ..Plan::default()
    };
    let tier_of = |remote: &str| Some(if remote == "r-bo" { "basic" } else { "sales" }.to_owned());
    let pools = [pool(Some("sales"), 5, 2, &[]), pool(Some("eng"), 1, 1, &[])];
    let change = seat(&mut plan, &pools, &nobody_covered, &tier_of);
    assert_eq!(plan.ops.iter().map(|o| o.person_id).collect::<Vec<_>>(), [bo, ann]);
    assert_eq!(plan.withheld.len(), 1);
    assert_eq!(plan.withheld[0].why, "waiting for a seat in jira eng, 1st in line");
    assert_eq!(change.joined, vec![(1, sam, "sam@x".to_owned())]);
    assert!(may_take_seat(&plan.withheld[0].op) && !may_take_seat(&plan.ops[0]));
}
