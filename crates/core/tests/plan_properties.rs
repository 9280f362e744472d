//! Property tests of the planner over generated worlds.
//!
//! A world is drawn from a byte string, Hypothesis-style: each choice reads the next byte, and an
//! exhausted string reads zeros, which are the simplest choices. Shrinking the bytes therefore
//! shrinks the world (fewer people, fewer accounts, plainer settings).
//!
//! Properties:
//! - carrying a plan out and planning again finds nothing to do;
//! - nothing is ever deprovisioned that Tenure has not linked to the person, nothing is deleted
//!   that Tenure did not create or adopt, and no account is touched before it is linked;
//! - no account is linked twice, or both linked and left in a correlation case;
//! - each person's incremental plan is their part of the full plan.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use tenure_core::attributes::{self, Attributes};
use tenure_core::reconcile::{AppState, DirectoryIndex, plan_app};
use tenure_core::*;
use time::macros::date;
use uuid::Uuid;

const TODAY: time::Date = date!(2025 - 06 - 15);

struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn chance(&mut self, percent: u8) -> bool {
        // 0 reads as "no", so exhausted bytes give the plain world.
        self.byte() % 100 >= 100 - percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

#[derive(Debug, Clone)]
struct World {
    app: App,
    people: Vec<Person>,
    groups: Vec<Group>,
    assignments: Vec<Assignment>,
    observed: Vec<RemoteAccount>,
    links: Vec<AccountLink>,
    app_groups: Vec<RemoteGroup>,
}

fn world(bytes: &[u8]) -> World {
    let mut c = Choices { bytes, at: 0 };
    let deprovision = c.pick(&[
        DeprovisionPolicy::Deactivate,
        DeprovisionPolicy::Delete,
        DeprovisionPolicy::DeactivateThenDelete { after_days: 30 },
        DeprovisionPolicy::RemoveLicense,
        DeprovisionPolicy::DoNothing,
    ]);
    let user_name = c.pick(&[
        UserNameFormat::Email,
        UserNameFormat::EmailLocalPart { max_len: Some(21) },
        UserNameFormat::Handle { max_len: 21 },
    ]);
    let match_keys = c.pick(&[
        vec![MatchKey::ExternalId, MatchKey::UserName, MatchKey::Email],
        vec![MatchKey::Email],
        vec![MatchKey::UserName, MatchKey::ExternalId],
    ]);
    let app = App {
        id: AppId(Uuid::from_u128(0xA11)),
        name: "app".into(),
        kind: AppKind::Scim,
        base_url: "https://app.example.test/scim/v2".into(),
        settings: AppSettings { deprovision, user_name, match_keys, ..AppSettings::default() },
    };
    let units = [None, Some("/Eng"), Some("/Eng/Platform"), Some("/Sales")];
    let people: Vec<Person> = (0..1 + c.below(8))
        .map(|i| {
            // Long local parts collide once cut to 21 characters.
            let local = if c.chance(30) { format!("alexandra.montgomery-{i}") } else { format!("p{i}") };
            let email = format!("{local}@example.com");
            Person {
                id: PersonId(Uuid::from_u128(0xfeed_0000_0000_0000_0000_0000_0000_0000 | (i as u128 + 1))),
                source_id: SourceId(Uuid::from_u128(0x5000)),
                source_key: format!("emp-{i}"),
                user_name: email.clone(),
                email,
                given_name: Some(format!("Given{i}")),
                family_name: c.chance(80).then(|| "Family".to_owned()),
                display_name: None,
                department: c.pick(&[None, Some("Sales".to_owned()), Some("Eng".to_owned())]),
                title: c.pick(&[None, Some("Engineer".to_owned()), Some("Account Executive".to_owned())]),
                employee_id: None,
                manager_key: None,
                org_unit: c.pick(&units).map(|u| OrgUnitPath::parse(u).expect("valid unit")),
                status: c.pick(&[
                    PersonStatus::Active,
                    PersonStatus::Active,
                    PersonStatus::Suspended,
                    PersonStatus::Deleted,
                ]),
                start_date: c.chance(10).then_some(date!(2025 - 07 - 01)),
                leave_date: c.chance(10).then_some(date!(2025 - 06 - 01)),
                custom: BTreeMap::new(),
            }
        })
        .collect();
    let groups: Vec<Group> = (0..c.below(4))
        .map(|g| Group {
            id: GroupId(Uuid::from_u128(0x6000 + g as u128)),
            source_id: SourceId(Uuid::from_u128(0x5000)),
            name: format!("group{g}"),
            members: people.iter().filter(|_| c.chance(40)).map(|p| p.id).collect(),
            member_groups: Vec::new(),
        })
        .collect();
    let mut groups = groups;
    for g in 0..groups.len() {
        if c.chance(40) {
            // Nesting, cycles included.
            let child = groups[c.below(groups.len())].id;
            groups[g].member_groups.push(child);
        }
    }
    let rule = expr::Rule::parse(r#"department == "Sales" || title starts_with "Eng""#).expect("valid rule");
    let assignments: Vec<Assignment> = (0..c.below(5))
        .map(|n| {
            let target = match c.below(4) {
                0 => AssignmentTarget::OrgUnit(OrgUnitPath::parse(c.pick(&["/", "/Eng", "/Sales"])).expect("unit")),
                1 => AssignmentTarget::Person(people[c.below(people.len())].id),
                2 if !groups.is_empty() => AssignmentTarget::Group(groups[c.below(groups.len())].id),
                _ => AssignmentTarget::Rule(rule.clone()),
            };
            let mut a = Assignment::grant(app.id, target);
            a.id = AssignmentId(Uuid::from_u128(0x7000 + n as u128));
            a.exclude = c.chance(20);
            if !a.exclude {
                a.params.role = c.chance(20).then(|| c.pick(&["member", "admin"]).to_owned());
                a.params.license = c.chance(20).then(|| c.pick(&["basic", "pro"]).to_owned());
                if c.chance(30) {
                    a.params.groups.push(c.pick(&["team-a", "team-b"]).to_owned());
                }
            }
            a
        })
        .collect();
    let mut observed = Vec::new();
    let mut links = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let mut attrs = attributes::default_mapping(person, user_name);
        attrs.retain(|_, v| !v.is_empty());
        if c.chance(20) {
            attrs.insert(attributes::TITLE, "Drifted");
        }
        if c.chance(20) {
            attrs.insert(attributes::LICENSE, "basic");
        }
        match c.below(4) {
            0 | 1 => {}
            2 => {
                let remote_id = format!("r-{i}");
                links.push(AccountLink {
                    app_id: app.id,
                    remote_id: remote_id.clone(),
                    person_id: person.id,
                    origin: c.pick(&[AccountOrigin::Created, AccountOrigin::Matched, AccountOrigin::Adopted]),
                    deactivated_on: c.pick(&[None, Some(date!(2025 - 05 - 01)), Some(date!(2025 - 06 - 10))]),
                    granted_by: (c.chance(50) && !assignments.is_empty())
                        .then(|| assignments[c.below(assignments.len())].id),
                });
                observed.push(RemoteAccount { remote_id, active: c.chance(80), attributes: attrs });
            }
            _ => {
                // Unlinked, carrying some of the person's keys (a hand-made account, or a second one).
                let mut bare = Attributes::new();
                if c.chance(50) {
                    bare.insert(attributes::EMAIL, person.email.to_uppercase());
                }
                if c.chance(50) {
                    bare.insert(attributes::USER_NAME, attrs.get(attributes::USER_NAME).cloned().unwrap_or_default());
                } else {
                    bare.insert(attributes::USER_NAME, format!("hand-made-{i}"));
                }
                if c.chance(30) {
                    bare.insert(attributes::EXTERNAL_ID, person.id.to_string());
                }
                let copies = 1 + usize::from(c.chance(20));
                for k in 0..copies {
                    observed.push(RemoteAccount {
                        remote_id: format!("u-{i}-{k}"),
                        active: c.chance(70),
                        attributes: bare.clone(),
                    });
                }
            }
        }
    }
    // The app's own group, with some of its accounts (managed or not) already in it.
    let app_groups = if c.chance(50) {
        let members = observed.iter().filter(|_| c.chance(40)).map(|a| a.remote_id.clone()).collect();
        vec![RemoteGroup { remote_id: "g-1".into(), name: "Team-A".into(), members }]
    } else {
        Vec::new()
    };
    World { app, people, groups, assignments, observed, links, app_groups }
}

fn plan(w: &World, observed: &[RemoteAccount], links: &[AccountLink], groups: &[RemoteGroup]) -> Plan {
    let dir = DirectoryIndex::new(&w.people, &w.groups);
    plan_app(&dir, &AppState { app: &w.app, assignments: &w.assignments, links, observed, groups }, TODAY)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn applying_a_plan_then_planning_again_finds_nothing(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let w = world(&bytes);
        let first = plan(&w, &w.observed, &w.links, &w.app_groups);
        let (mut observed, mut links, mut groups) = (w.observed.clone(), w.links.clone(), w.app_groups.clone());
        common::apply(&first, w.app.id, &mut observed, &mut links, &mut groups, TODAY);
        let second = plan(&w, &observed, &links, &groups);
        prop_assert!(second.is_empty(), "first plan {:#?} {:#?}\nthen {:#?} {:#?}", first.ops, first.group_ops, second.ops, second.group_ops);
    }

    #[test]
    fn nothing_unlinked_or_foreign_is_ever_taken_away(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let w = world(&bytes);
        let plan = plan(&w, &w.observed, &w.links, &w.app_groups);
        // Group changes touch only accounts Tenure manages (linked before or by this plan).
        let linked_after: HashSet<&str> = w
            .links
            .iter()
            .map(|l| l.remote_id.as_str())
            .chain(plan.ops.iter().filter(|o| matches!(o.kind, OpKind::Link { .. })).filter_map(|o| o.kind.remote_id()))
            .collect();
        for g in &plan.group_ops {
            for r in &g.remove {
                prop_assert!(linked_after.contains(r.as_str()), "removed unmanaged {r} from {}", g.group);
            }
            for m in &g.add {
                if let MemberRef::Account { remote_id } = m {
                    prop_assert!(linked_after.contains(remote_id.as_str()), "added unmanaged {remote_id}");
                }
            }
        }
        let linked: HashMap<&str, &AccountLink> = w.links.iter().map(|l| (l.remote_id.as_str(), l)).collect();
        let mut linked_now: HashSet<&str> = HashSet::new();
        for op in &plan.ops {
            let Some(remote_id) = op.kind.remote_id() else { continue };
            if let OpKind::Link { .. } = op.kind {
                prop_assert!(!linked.contains_key(remote_id), "{remote_id} was linked already");
                prop_assert!(linked_now.insert(remote_id), "{remote_id} linked twice");
                continue;
            }
            let link = linked.get(remote_id);
            if op.kind.is_deprovision() {
                let link = link.ok_or_else(|| TestCaseError::fail(format!("{op:?} deprovisions an unlinked account")))?;
                prop_assert_eq!(link.person_id, op.person_id, "deprovisioned someone else's account");
            } else {
                prop_assert!(link.is_some() || linked_now.contains(remote_id), "{op:?} touches an unlinked account");
            }
            if let OpKind::Delete { .. } = op.kind {
                let origin = link.map(|l| l.origin);
                prop_assert!(origin.is_some_and(AccountOrigin::may_delete), "deleted an account of origin {origin:?}");
            }
        }
        for case in &plan.cases {
            for account in &case.accounts {
                prop_assert!(!linked_now.contains(account.as_str()), "{account} both linked and in a case");
            }
        }
    }

    #[test]
    fn a_persons_incremental_plan_is_their_part_of_the_full_plan(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let w = world(&bytes);
        let full = plan(&w, &w.observed, &w.links, &w.app_groups);
        let state = AppState {
            app: &w.app,
            assignments: &w.assignments,
            links: &w.links,
            observed: &w.observed,
            groups: &w.app_groups,
        };
        let mismatch = common::incremental_mismatch(&state, &w.people, &w.groups, &full, TODAY);
        prop_assert!(mismatch.is_none(), "{}", mismatch.unwrap_or_default());
    }
}
