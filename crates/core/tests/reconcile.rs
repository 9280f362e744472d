//! Tests for the pure reconciler: directory + policy + observed accounts → plan.
//!
//! Every test builds a small world (people, groups, one app, its assignments, links and the
//! accounts the app reports), plans it for a fixed "today" and checks the operations and reasons.

use std::collections::{BTreeMap, HashMap};

use tenure_core::attributes::{self, Attributes};
use tenure_core::reconcile::{self, AppState, DirectoryIndex, ineligibility, plan_app};
use tenure_core::*;
use time::Date;
use time::macros::date;
use uuid::Uuid;

const TODAY: Date = date!(2025 - 06 - 15);
const YESTERDAY: Date = date!(2025 - 06 - 14);
const TOMORROW: Date = date!(2025 - 06 - 16);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Person ids carry hex letters, so case-insensitive matching on externalId is really tested.
fn pid(n: u128) -> PersonId {
    PersonId(Uuid::from_u128(0xfeed_face_cafe_beef_0000_0000_0000_0000 | n))
}

fn gid(n: u128) -> GroupId {
    GroupId(Uuid::from_u128(0x6000 + n))
}

fn source() -> SourceId {
    SourceId(Uuid::from_u128(0x5000))
}

fn ou(path: &str) -> OrgUnitPath {
    OrgUnitPath::parse(path).expect("valid org unit path")
}

/// A person builder. `person(1, "alice")` is active, `alice@example.com` (also the userName),
/// named "alice Tester", with no org unit and no dates.
struct PersonBuilder(Person);

fn person(n: u128, local: &str) -> PersonBuilder {
    let email = format!("{local}@example.com");
    PersonBuilder(Person {
        id: pid(n),
        source_id: source(),
        source_key: format!("emp-{n}"),
        user_name: email.clone(),
        email,
        given_name: Some(local.to_owned()),
        family_name: Some("Tester".to_owned()),
        display_name: None,
        department: None,
        title: None,
        employee_id: None,
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: BTreeMap::new(),
    })
}

impl PersonBuilder {
    fn email(mut self, email: &str) -> Self {
        self.0.email = email.to_owned();
        self
    }

    fn user_name(mut self, user_name: &str) -> Self {
        self.0.user_name = user_name.to_owned();
        self
    }

    fn names(mut self, given: &str, family: &str) -> Self {
        self.0.given_name = Some(given.to_owned());
        self.0.family_name = Some(family.to_owned());
        self
    }

    fn title(mut self, title: &str) -> Self {
        self.0.title = Some(title.to_owned());
        self
    }

    fn department(mut self, department: &str) -> Self {
        self.0.department = Some(department.to_owned());
        self
    }

    fn employee_id(mut self, employee_id: &str) -> Self {
        self.0.employee_id = Some(employee_id.to_owned());
        self
    }

    fn org_unit(mut self, path: &str) -> Self {
        self.0.org_unit = Some(ou(path));
        self
    }

    fn status(mut self, status: PersonStatus) -> Self {
        self.0.status = status;
        self
    }

    fn start(mut self, date: Date) -> Self {
        self.0.start_date = Some(date);
        self
    }

    fn leave(mut self, date: Date) -> Self {
        self.0.leave_date = Some(date);
        self
    }

    fn build(self) -> Person {
        self.0
    }
}

fn group(n: u128, name: &str, members: &[PersonId], member_groups: &[GroupId]) -> Group {
    Group {
        id: gid(n),
        source_id: source(),
        name: name.to_owned(),
        members: members.to_vec(),
        member_groups: member_groups.to_vec(),
    }
}

fn settings(deprovision: DeprovisionPolicy, user_name: UserNameFormat) -> AppSettings {
    AppSettings { deprovision, user_name, ..AppSettings::default() }
}

fn app_with(settings: AppSettings) -> App {
    App {
        id: AppId(Uuid::from_u128(0xA11)),
        name: "slack".to_owned(),
        kind: AppKind::Scim,
        base_url: "https://scim.example.test/v2".to_owned(),
        settings,
    }
}

/// An account exactly as Tenure would have written it for `person`: the default mapping.
fn account_for(person: &Person, format: UserNameFormat, remote_id: &str, active: bool) -> RemoteAccount {
    let mut attributes = attributes::default_mapping(person, format);
    // An app reports what it holds; a cleared attribute is simply absent.
    attributes.retain(|_, v| !v.is_empty());
    RemoteAccount { remote_id: remote_id.to_owned(), active, attributes }
}

/// An account that only has the matching keys given, e.g. one made by hand in the app.
fn bare_account(remote_id: &str, user_name: &str, external_id: Option<&str>, email: Option<&str>) -> RemoteAccount {
    let mut attrs = Attributes::new();
    attrs.insert(attributes::USER_NAME.to_owned(), user_name.to_owned());
    if let Some(x) = external_id {
        attrs.insert(attributes::EXTERNAL_ID.to_owned(), x.to_owned());
    }
    if let Some(e) = email {
        attrs.insert(attributes::EMAIL.to_owned(), e.to_owned());
    }
    RemoteAccount { remote_id: remote_id.to_owned(), active: true, attributes: attrs }
}

/// Everything one `plan_app` call needs, owned.
#[derive(Clone)]
struct World {
    people: Vec<Person>,
    groups: Vec<Group>,
    app: App,
    assignments: Vec<Assignment>,
    links: Vec<AccountLink>,
    observed: Vec<RemoteAccount>,
}

impl World {
    fn new() -> Self {
        Self::with_settings(AppSettings::default())
    }

    fn with_settings(settings: AppSettings) -> Self {
        Self {
            people: Vec::new(),
            groups: Vec::new(),
            app: app_with(settings),
            assignments: Vec::new(),
            links: Vec::new(),
            observed: Vec::new(),
        }
    }

    fn add(&mut self, builder: PersonBuilder) -> PersonId {
        let p = builder.build();
        let id = p.id;
        self.people.push(p);
        id
    }

    fn get(&self, id: PersonId) -> &Person {
        self.people.iter().find(|p| p.id == id).expect("person in world")
    }

    fn assign(&mut self, target: AssignmentTarget) -> AssignmentId {
        let id = AssignmentId(Uuid::from_u128(0xA55 + self.assignments.len() as u128));
        self.assignments.push(Assignment { id, ..Assignment::grant(self.app.id, target) });
        id
    }

    fn assign_person(&mut self, id: PersonId) -> AssignmentId {
        self.assign(AssignmentTarget::Person(id))
    }

    fn assign_group(&mut self, id: GroupId) -> AssignmentId {
        self.assign(AssignmentTarget::Group(id))
    }

    fn assign_org_unit(&mut self, path: &str) -> AssignmentId {
        self.assign(AssignmentTarget::OrgUnit(ou(path)))
    }

    /// The account Tenure would have created for the person in this app.
    fn account(&self, id: PersonId, remote_id: &str, active: bool) -> RemoteAccount {
        account_for(self.get(id), self.app.settings.user_name, remote_id, active)
    }

    /// Adds an in-sync account for the person to the app and links it.
    fn linked(&mut self, id: PersonId, remote_id: &str, origin: AccountOrigin, active: bool) {
        let account = self.account(id, remote_id, active);
        self.linked_account(id, account, origin);
    }

    /// Adds the given account to the app and links it to the person.
    fn linked_account(&mut self, id: PersonId, account: RemoteAccount, origin: AccountOrigin) {
        self.links.push(AccountLink {
            app_id: self.app.id,
            remote_id: account.remote_id.clone(),
            person_id: id,
            origin,
            deactivated_on: None,
            granted_by: None,
        });
        self.observed.push(account);
    }

    fn grants(&self) -> HashMap<PersonId, Grant> {
        DirectoryIndex::new(&self.people, &self.groups).grants(&self.assignments)
    }

    fn plan(&self) -> Plan {
        self.plan_on(TODAY)
    }

    /// The plan when `pushed` are sources an identity provider pushes into.
    fn plan_pushed(&self, pushed: &[SourceId]) -> Plan {
        let dir = DirectoryIndex::new(&self.people, &self.groups).with_pushed_sources(pushed.iter().copied());
        let state = AppState {
            app: &self.app,
            assignments: &self.assignments,
            links: &self.links,
            observed: &self.observed,
            groups: &[],
        };
        plan_app(&dir, &state, TODAY)
    }

    fn plan_on(&self, today: Date) -> Plan {
        let dir = DirectoryIndex::new(&self.people, &self.groups);
        let state = AppState {
            app: &self.app,
            assignments: &self.assignments,
            links: &self.links,
            observed: &self.observed,
            groups: &[],
        };
        plan_app(&dir, &state, today)
    }
}

fn ops_for(plan: &Plan, id: PersonId) -> Vec<&PlannedOp> {
    plan.ops.iter().filter(|o| o.person_id == id).collect()
}

fn only_op(plan: &Plan, id: PersonId) -> &PlannedOp {
    let ops = ops_for(plan, id);
    assert_eq!(ops.len(), 1, "expected exactly one op for {id}, plan: {plan:#?}");
    ops[0]
}

/// (person email, op name, remote id) for every op, in plan order.
fn summary(plan: &Plan) -> Vec<(String, &'static str, Option<String>)> {
    plan.ops.iter().map(|o| (o.person.clone(), o.kind.name(), o.kind.remote_id().map(str::to_owned))).collect()
}

fn s(email: &str, kind: &'static str, remote_id: Option<&str>) -> (String, &'static str, Option<String>) {
    (email.to_owned(), kind, remote_id.map(str::to_owned))
}

fn granted(grant: Grant) -> Reason {
    Reason::Granted { grant }
}

fn revoked(revocation: Revocation) -> Reason {
    Reason::Revoked { revocation, by: None }
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A deterministic Fisher–Yates shuffle (a small LCG), so the test needs no `rand`.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    let mut state = seed;
    for i in (1..v.len()).rev() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let j = ((state >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Who is granted, and why
// ---------------------------------------------------------------------------------------------

#[test]
fn group_assignment_grants_direct_members_only() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    w.groups.push(group(1, "engineering", &[alice], &[]));
    w.groups.push(group(2, "sales", &[bob], &[]));
    let a = w.assign_group(gid(1));

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert!(matches!(op.kind, OpKind::Create { .. }));
    assert_eq!(op.reason, granted(Grant::Group { assignment: a, group: "engineering".into(), through: vec![] }));
    assert_eq!(op.reason.to_string(), "member of group engineering");
    assert!(ops_for(&plan, bob).is_empty());
    assert_eq!(plan.ops.len(), 1);
}

#[test]
fn nested_group_grant_names_the_assigned_group_and_the_through_chain() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    let carol = w.add(person(3, "carol"));
    // engineering ⊃ platform ⊃ sre
    w.groups.push(group(1, "engineering", &[carol], &[gid(2)]));
    w.groups.push(group(2, "platform", &[bob], &[gid(3)]));
    w.groups.push(group(3, "sre", &[alice], &[]));
    let a = w.assign_group(gid(1));

    let grants = w.grants();
    assert_eq!(grants.len(), 3);
    let via = |names: &[&str]| Grant::Group {
        assignment: a,
        group: "engineering".into(),
        through: names.iter().map(|n| (*n).to_owned()).collect(),
    };
    assert_eq!(grants[&alice], via(&["platform", "sre"]));
    assert_eq!(grants[&bob], via(&["platform"]));
    assert_eq!(grants[&carol], via(&[]));

    let plan = w.plan();
    assert_eq!(plan.count("create"), 3);
    assert_eq!(only_op(&plan, alice).reason, granted(via(&["platform", "sre"])));
    assert_eq!(only_op(&plan, alice).reason.to_string(), "member of group engineering via platform → sre");
    assert_eq!(only_op(&plan, bob).reason.to_string(), "member of group engineering via platform");
}

#[test]
fn a_member_reachable_several_ways_is_explained_by_the_shortest_chain() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    // alice is in sre (engineering ⊃ platform ⊃ sre) and also directly in engineering.
    w.groups.push(group(1, "engineering", &[alice], &[gid(2)]));
    w.groups.push(group(2, "platform", &[], &[gid(3)]));
    w.groups.push(group(3, "sre", &[alice], &[]));
    let a = w.assign_group(gid(1));

    assert_eq!(w.grants()[&alice], Grant::Group { assignment: a, group: "engineering".into(), through: vec![] });
    assert_eq!(w.plan().count("create"), 1, "one account per person however many paths lead to them");
}

#[test]
fn cycles_in_group_nesting_are_tolerated() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    let carol = w.add(person(3, "carol"));
    // a ⊃ b ⊃ c ⊃ a, and b also contains itself.
    w.groups.push(group(1, "a", &[alice], &[gid(2)]));
    w.groups.push(group(2, "b", &[bob], &[gid(3), gid(2)]));
    w.groups.push(group(3, "c", &[carol], &[gid(1)]));
    let a = w.assign_group(gid(1));

    let grants = w.grants();
    assert_eq!(grants.len(), 3);
    assert_eq!(grants[&alice], Grant::Group { assignment: a, group: "a".into(), through: vec![] });
    assert_eq!(grants[&bob], Grant::Group { assignment: a, group: "a".into(), through: vec!["b".into()] });
    assert_eq!(
        grants[&carol],
        Grant::Group { assignment: a, group: "a".into(), through: vec!["b".into(), "c".into()] }
    );

    let plan = w.plan();
    assert_eq!(plan.count("create"), 3);
    assert_eq!(plan.ops.len(), 3);
}

#[test]
fn assignments_to_unknown_people_and_groups_and_missing_nested_groups_are_ignored() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    // "engineering" names a nested group that is not in the directory.
    w.groups.push(group(1, "engineering", &[alice], &[gid(404)]));
    w.assign_person(pid(404));
    w.assign_group(gid(405));
    let a = w.assign_group(gid(1));

    let plan = w.plan();
    assert_eq!(plan.ops.len(), 1, "{plan:#?}");
    assert_eq!(
        only_op(&plan, alice).reason,
        granted(Grant::Group { assignment: a, group: "engineering".into(), through: vec![] })
    );
}

#[test]
fn org_unit_assignment_covers_the_subtree_but_not_a_sibling_prefix() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").org_unit("/Sales"));
    let bob = w.add(person(2, "bob").org_unit("/Sales/EMEA/UK"));
    let carol = w.add(person(3, "carol").org_unit("/Sales2"));
    let dave = w.add(person(4, "dave").org_unit("/SalesOps/EMEA"));
    let erin = w.add(person(5, "erin").org_unit("/Marketing/Sales"));
    let frank = w.add(person(6, "frank"));
    let a = w.assign_org_unit("/Sales");

    let plan = w.plan();
    let grant = granted(Grant::OrgUnit { assignment: a, org_unit: ou("/Sales") });
    assert_eq!(only_op(&plan, alice).reason, grant);
    assert_eq!(only_op(&plan, bob).reason, grant);
    assert_eq!(only_op(&plan, bob).reason.to_string(), "in org unit /Sales");
    for outsider in [carol, dave, erin, frank] {
        assert!(ops_for(&plan, outsider).is_empty(), "{} must not be granted", w.get(outsider).email);
    }
    assert_eq!(plan.ops.len(), 2);
}

#[test]
fn root_org_unit_assignment_covers_everyone_even_without_an_org_unit() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").org_unit("/Sales"));
    let bob = w.add(person(2, "bob").org_unit("/Engineering/Platform"));
    let carol = w.add(person(3, "carol"));
    w.assign_org_unit("/");

    let plan = w.plan();
    assert_eq!(plan.count("create"), 3);
    assert_eq!(ops_for(&plan, carol).len(), 1);
    assert_eq!(only_op(&plan, alice).reason.to_string(), "in org unit /");
    assert_eq!(ops_for(&plan, bob).len(), 1);
}

#[test]
fn person_assignment_grants_directly() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    let a = w.assign_person(alice);

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert!(matches!(op.kind, OpKind::Create { .. }));
    assert_eq!(op.reason, granted(Grant::Person { assignment: a }));
    assert_eq!(op.reason.to_string(), "assigned directly");
    assert_eq!(op.app_id, w.app.id);
    assert_eq!(op.person, "alice@example.com");
    assert!(ops_for(&plan, bob).is_empty());
}

#[test]
fn the_most_specific_grant_is_reported_person_over_group_over_org_unit() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").org_unit("/Sales"));
    let bob = w.add(person(2, "bob").org_unit("/Sales"));
    let carol = w.add(person(3, "carol").org_unit("/Sales"));
    w.groups.push(group(1, "sales-team", &[alice, bob], &[]));
    // Deliberately least specific first: the order of the assignments must not matter.
    let by_ou = w.assign_org_unit("/Sales");
    let by_group = w.assign_group(gid(1));
    let by_person = w.assign_person(alice);

    let grants = w.grants();
    assert_eq!(grants[&alice], Grant::Person { assignment: by_person });
    assert_eq!(grants[&bob], Grant::Group { assignment: by_group, group: "sales-team".into(), through: vec![] });
    assert_eq!(grants[&carol], Grant::OrgUnit { assignment: by_ou, org_unit: ou("/Sales") });

    let plan = w.plan();
    assert_eq!(plan.count("create"), 3, "one create per person, not per assignment");
    assert_eq!(only_op(&plan, alice).reason, granted(Grant::Person { assignment: by_person }));
    assert_eq!(
        only_op(&plan, bob).reason,
        granted(Grant::Group { assignment: by_group, group: "sales-team".into(), through: vec![] })
    );
    assert_eq!(only_op(&plan, carol).reason, granted(Grant::OrgUnit { assignment: by_ou, org_unit: ou("/Sales") }));
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

#[test]
fn create_carries_the_default_mapped_attributes() {
    let mut w = World::new();
    let alice = w.add(
        person(1, "alice")
            .email("alice.wong@example.com")
            .user_name("awong@corp.example.com")
            .names("Alice", "Wong")
            .title("Staff Engineer")
            .department("Platform")
            .employee_id("E-0001"),
    );
    let a = w.assign_person(alice);

    let plan = w.plan();
    let op = only_op(&plan, alice);
    let expected = attrs(&[
        ("userName", "awong@corp.example.com"),
        ("externalId", &alice.to_string()),
        ("email", "alice.wong@example.com"),
        ("displayName", "Alice Wong"),
        ("givenName", "Alice"),
        ("familyName", "Wong"),
        ("title", "Staff Engineer"),
        ("department", "Platform"),
        ("employeeNumber", "E-0001"),
    ]);
    assert_eq!(op.kind, OpKind::Create { attributes: std::sync::Arc::new(expected), active: true });
    assert_eq!(op.reason, granted(Grant::Person { assignment: a }));
    assert_eq!(op.person, "alice.wong@example.com");
}

#[test]
fn create_omits_unset_and_empty_optional_attributes() {
    let mut w = World::new();
    let mut builder = person(1, "alice").names("Alice", "Wong");
    builder.0.title = Some(String::new());
    let alice = w.add(builder);
    w.assign_person(alice);

    let plan = w.plan();
    let OpKind::Create { attributes, .. } = &only_op(&plan, alice).kind else { panic!("expected a create") };
    let names: Vec<&str> = attributes.keys().collect();
    assert_eq!(names, ["displayName", "email", "externalId", "familyName", "givenName", "userName"]);
}

#[test]
fn create_with_email_local_part_user_name_is_lowercased_cleaned_and_capped_at_max_len() {
    let format = UserNameFormat::EmailLocalPart { max_len: Some(21) };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let alex = w.add(person(1, "alex").email("Alexandra.Montgomery-Smith+slack@Example.com"));
    let bo = w.add(person(2, "bo").email("Bo_Li@example.com"));
    w.assign_person(alex);
    w.assign_person(bo);

    let plan = w.plan();
    let OpKind::Create { attributes, .. } = &only_op(&plan, alex).kind else { panic!("expected a create") };
    assert_eq!(attributes["userName"], "alexandra.montgomery-");
    assert_eq!(attributes["userName"].chars().count(), 21);
    assert_eq!(attributes["externalId"], alex.to_string());
    assert_eq!(attributes["email"], "Alexandra.Montgomery-Smith+slack@Example.com");
    assert!(matches!(only_op(&plan, alex).reason, Reason::Granted { grant: Grant::Person { .. } }));

    let OpKind::Create { attributes, .. } = &only_op(&plan, bo).kind else { panic!("expected a create") };
    assert_eq!(attributes["userName"], "bo_li", "short names are not padded or cut");
}

#[test]
fn create_with_uncapped_email_local_part_keeps_the_whole_cleaned_local_part() {
    let format = UserNameFormat::EmailLocalPart { max_len: None };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let alex = w.add(person(1, "alex").email("Alexandra.Montgomery-Smith+slack@Example.com"));
    w.assign_person(alex);

    let plan = w.plan();
    let OpKind::Create { attributes, .. } = &only_op(&plan, alex).kind else { panic!("expected a create") };
    assert_eq!(attributes["userName"], "alexandra.montgomery-smithslack");
}

// ---------------------------------------------------------------------------------------------
// Eligibility
// ---------------------------------------------------------------------------------------------

/// An assigned but ineligible person gets no account; with an active linked account, that
/// account is deactivated for `expected`; with an inactive one, nothing happens.
fn assert_ineligible(builder: PersonBuilder, expected: Revocation) {
    let p = builder.build();
    assert_eq!(ineligibility(&p, TODAY), Some(expected));

    // Unlinked: no create.
    let mut w = World::new();
    let id = w.add(PersonBuilder(p.clone()));
    w.assign_person(id);
    let plan = w.plan();
    assert!(plan.is_empty(), "an ineligible person must get no account: {plan:#?}");

    // Linked and active: deactivate with the reason.
    let mut linked = w.clone();
    linked.linked(id, "r-1", AccountOrigin::Created, true);
    let plan = linked.plan();
    let op = only_op(&plan, id);
    assert_eq!(op.kind, OpKind::Deactivate { remote_id: "r-1".into() });
    assert_eq!(op.reason, revoked(expected));
    assert_eq!(op.reason.to_string(), expected.to_string());

    // Linked and already inactive: nothing to do.
    let mut inactive = w.clone();
    inactive.linked(id, "r-1", AccountOrigin::Created, false);
    assert!(inactive.plan().is_empty());
}

#[test]
fn suspended_person_gets_no_account_and_loses_a_linked_one() {
    assert_ineligible(person(1, "alice").status(PersonStatus::Suspended), Revocation::Suspended);
}

#[test]
fn deleted_person_gets_no_account_and_loses_a_linked_one_as_left_directory() {
    assert_ineligible(person(1, "alice").status(PersonStatus::Deleted), Revocation::LeftDirectory);
}

#[test]
fn leave_date_today_counts_as_passed() {
    assert_ineligible(person(1, "alice").leave(TODAY), Revocation::LeaveDatePassed);
}

#[test]
fn leave_date_in_the_past_revokes() {
    assert_ineligible(person(1, "alice").leave(YESTERDAY), Revocation::LeaveDatePassed);
}

#[test]
fn start_date_in_the_future_revokes_as_not_started_yet() {
    assert_ineligible(person(1, "alice").start(TOMORROW), Revocation::NotStartedYet);
}

#[test]
fn start_date_today_and_leave_date_tomorrow_are_eligible() {
    let mut w = World::new();
    let starter = w.add(person(1, "starter").start(TODAY));
    let leaver = w.add(person(2, "leaver").start(YESTERDAY).leave(TOMORROW));
    w.assign_person(starter);
    w.assign_person(leaver);

    assert_eq!(ineligibility(w.get(starter), TODAY), None);
    assert_eq!(ineligibility(w.get(leaver), TODAY), None);
    let plan = w.plan();
    assert_eq!(plan.count("create"), 2);

    // The same world a day later: the leaver's leave date is then today.
    let plan = w.plan_on(TOMORROW);
    assert_eq!(plan.count("create"), 1);
    assert!(ops_for(&plan, leaver).is_empty());
}

#[test]
fn a_pre_start_lead_makes_the_account_disabled_ahead_and_activates_it_on_the_day() {
    let in_days = |n: i64| TODAY + time::Duration::days(n);
    let mut w = World::with_settings(AppSettings { pre_start_days: Some(3), ..AppSettings::default() });
    let soon = w.add(person(1, "soon").start(in_days(3)));
    let later = w.add(person(2, "later").start(in_days(4)));
    let leaving = w.add(person(3, "leaving").start(in_days(2)).leave(in_days(1)));
    for id in [soon, later, leaving] {
        w.assign_person(id);
    }

    // Three days ahead: made, disabled; four days ahead: nothing yet; a person who leaves
    // before starting: nothing.
    let plan = w.plan();
    let op = only_op(&plan, soon);
    assert!(matches!(&op.kind, OpKind::Create { active: false, .. }), "{op:?}");
    assert!(matches!(op.reason, Reason::PreStart { start, .. } if start == in_days(3)));
    assert!(
        op.reason
            .to_string()
            .ends_with(&format!("made ahead of the start date {}, disabled until that day", in_days(3)))
    );
    assert!(ops_for(&plan, later).is_empty() && ops_for(&plan, leaving).is_empty(), "{plan:#?}");

    // Once made (disabled), nothing more until the day; on the day, activated.
    w.linked(soon, "r-soon", AccountOrigin::Created, false);
    assert!(ops_for(&w.plan(), soon).is_empty());
    assert!(ops_for(&w.plan_on(in_days(2)), soon).is_empty());
    let on_the_day = w.plan_on(in_days(3));
    assert_eq!(only_op(&on_the_day, soon).kind, OpKind::Activate { remote_id: "r-soon".into() });

    // An account that is somehow active before the day is disabled, as without a lead.
    let mut active = World::with_settings(AppSettings { pre_start_days: Some(3), ..AppSettings::default() });
    let early = active.add(person(1, "early").start(in_days(1)));
    active.assign_person(early);
    active.linked(early, "r-early", AccountOrigin::Created, true);
    let op = only_op(&active.plan(), early).clone();
    assert_eq!(op.kind, OpKind::Deactivate { remote_id: "r-early".into() });
    assert_eq!(op.reason, revoked(Revocation::NotStartedYet));

    // Without a lead the same starter gets nothing before the day.
    let mut plain = World::new();
    let starter = plain.add(person(1, "starter").start(in_days(3)));
    plain.assign_person(starter);
    assert!(plain.plan().is_empty());
}

#[test]
fn ineligibility_status_outranks_dates_and_leaving_outranks_not_started() {
    let p = |b: PersonBuilder| ineligibility(&b.build(), TODAY);
    assert_eq!(p(person(1, "a").status(PersonStatus::Deleted).leave(YESTERDAY)), Some(Revocation::LeftDirectory));
    assert_eq!(p(person(1, "a").status(PersonStatus::Suspended).start(TOMORROW)), Some(Revocation::Suspended));
    assert_eq!(p(person(1, "a").leave(YESTERDAY).start(TOMORROW)), Some(Revocation::LeaveDatePassed));
    assert_eq!(p(person(1, "a")), None);
}

// ---------------------------------------------------------------------------------------------
// Revoke side and deprovision policies
// ---------------------------------------------------------------------------------------------

#[test]
fn unassigned_linked_account_is_deactivated() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.linked(alice, "r-alice", AccountOrigin::Created, true);

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert_eq!(op.kind, OpKind::Deactivate { remote_id: "r-alice".into() });
    assert!(op.kind.is_deprovision());
    assert_eq!(op.reason, revoked(Revocation::Unassigned));
    assert_eq!(op.reason.to_string(), "no assignment grants the app any more");
    assert!(plan.unmanaged.is_empty(), "a linked account is never unmanaged");
}

#[test]
fn unassigned_linked_account_that_is_already_inactive_gets_no_op() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.linked(alice, "r-alice", AccountOrigin::Created, false);

    let plan = w.plan();
    assert!(plan.is_empty(), "{plan:#?}");
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn delete_policy_deletes_only_created_and_adopted_links() {
    let mut w = World::with_settings(settings(DeprovisionPolicy::Delete, UserNameFormat::Email));
    let created = w.add(person(1, "created"));
    let adopted = w.add(person(2, "adopted"));
    let matched = w.add(person(3, "matched"));
    let matched_inactive = w.add(person(4, "matched-inactive"));
    let created_inactive = w.add(person(5, "created-inactive").status(PersonStatus::Deleted));
    w.linked(created, "r-created", AccountOrigin::Created, true);
    w.linked(adopted, "r-adopted", AccountOrigin::Adopted, true);
    w.linked(matched, "r-matched", AccountOrigin::Matched, true);
    w.linked(matched_inactive, "r-matched-inactive", AccountOrigin::Matched, false);
    w.linked(created_inactive, "r-created-inactive", AccountOrigin::Created, false);

    let plan = w.plan();
    assert_eq!(only_op(&plan, created).kind, OpKind::Delete { remote_id: "r-created".into() });
    assert_eq!(only_op(&plan, adopted).kind, OpKind::Delete { remote_id: "r-adopted".into() });
    assert_eq!(
        only_op(&plan, matched).kind,
        OpKind::Deactivate { remote_id: "r-matched".into() },
        "a matched account is never deleted, only deactivated"
    );
    assert!(ops_for(&plan, matched_inactive).is_empty(), "an inactive matched account has nothing left to lose");
    let op = only_op(&plan, created_inactive);
    assert_eq!(op.kind, OpKind::Delete { remote_id: "r-created-inactive".into() });
    assert_eq!(op.reason, revoked(Revocation::LeftDirectory));
    assert_eq!(plan.count("delete"), 3);
    assert_eq!(plan.count("deactivate"), 1);
    assert!(plan.ops.iter().all(|o| o.kind.is_deprovision()));
}

#[test]
fn do_nothing_policy_never_deprovisions_but_still_provisions() {
    let mut w = World::with_settings(settings(DeprovisionPolicy::DoNothing, UserNameFormat::Email));
    let unassigned = w.add(person(1, "unassigned"));
    let suspended = w.add(person(2, "suspended").status(PersonStatus::Suspended));
    let gone = w.add(person(3, "gone").status(PersonStatus::Deleted));
    let newcomer = w.add(person(4, "newcomer"));
    w.assign_person(suspended);
    w.assign_person(newcomer);
    w.linked(unassigned, "r-1", AccountOrigin::Created, true);
    w.linked(suspended, "r-2", AccountOrigin::Adopted, true);
    w.linked(gone, "r-3", AccountOrigin::Matched, true);

    let plan = w.plan();
    assert_eq!(summary(&plan), [s("newcomer@example.com", "create", None)]);
    assert!(plan.unmanaged.is_empty(), "linked accounts stay managed even when nothing is done to them");
}

// ---------------------------------------------------------------------------------------------
// Granted and linked: activate, update
// ---------------------------------------------------------------------------------------------

#[test]
fn linked_account_in_sync_gets_no_op() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").title("Engineer"));
    w.assign_person(alice);
    w.linked(alice, "r-alice", AccountOrigin::Created, true);

    let plan = w.plan();
    assert!(plan.is_empty(), "{plan:#?}");
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn linked_inactive_account_of_a_granted_person_is_activated() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let a = w.assign_person(alice);
    w.linked(alice, "r-alice", AccountOrigin::Matched, false);

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert_eq!(op.kind, OpKind::Activate { remote_id: "r-alice".into() });
    assert_eq!(op.reason, granted(Grant::Person { assignment: a }));
}

#[test]
fn attribute_drift_updates_only_the_changed_attributes() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").names("Alice", "Wong").title("Staff Engineer").department("Platform"));
    let a = w.assign_person(alice);
    let mut account = w.account(alice, "r-alice", true);
    // In the app: an old title, an old display name, no department, and an attribute Tenure does
    // not manage at all.
    account.attributes.insert("title", "Engineer");
    account.attributes.insert("displayName", "Ally Wong");
    account.attributes.remove("department");
    account.attributes.insert("costCenter", "CC-42");
    w.linked_account(alice, account, AccountOrigin::Created);

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert_eq!(
        op.kind,
        OpKind::Update {
            remote_id: "r-alice".into(),
            changes: attrs(&[("department", "Platform"), ("displayName", "Alice Wong"), ("title", "Staff Engineer")]),
        }
    );
    assert_eq!(
        op.reason,
        Reason::AttributesChanged {
            grant: Grant::Person { assignment: a },
            attributes: vec!["department".into(), "displayName".into(), "title".into()],
        }
    );
    assert_eq!(op.reason.to_string(), "changed in the directory: department, displayName, title");
}

#[test]
fn attributes_the_app_has_but_tenure_does_not_manage_are_left_alone() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    let mut account = w.account(alice, "r-alice", true);
    account.attributes.insert("costCenter", "CC-42");
    account.attributes.insert("nickName", "Al");
    w.linked_account(alice, account, AccountOrigin::Created);

    let plan = w.plan();
    assert!(plan.is_empty(), "{plan:#?}");
}

#[test]
fn inactive_drifted_account_is_activated_then_updated() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice").title("Staff Engineer"));
    w.assign_person(alice);
    let mut account = w.account(alice, "r-alice", false);
    account.attributes.insert("title", "Engineer");
    w.linked_account(alice, account, AccountOrigin::Created);

    let plan = w.plan();
    let kinds: Vec<&OpKind> = ops_for(&plan, alice).into_iter().map(|o| &o.kind).collect();
    assert_eq!(
        kinds,
        [
            &OpKind::Activate { remote_id: "r-alice".into() },
            &OpKind::Update { remote_id: "r-alice".into(), changes: attrs(&[("title", "Staff Engineer")]) },
        ]
    );
}

#[test]
fn user_name_drift_follows_the_apps_user_name_format() {
    let format = UserNameFormat::EmailLocalPart { max_len: Some(21) };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    // Linked account carries the email as userName: the app wants the local part.
    let mut account = account_for(w.get(alice), UserNameFormat::Email, "r-alice", true);
    account.attributes.insert("userName", "alice@example.com");
    w.linked_account(alice, account, AccountOrigin::Created);

    let plan = w.plan();
    assert_eq!(
        only_op(&plan, alice).kind,
        OpKind::Update { remote_id: "r-alice".into(), changes: attrs(&[("userName", "alice")]) }
    );
}

// ---------------------------------------------------------------------------------------------
// Matching unlinked accounts
// ---------------------------------------------------------------------------------------------

#[test]
fn unlinked_account_is_matched_by_external_id_case_insensitively() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let a = w.assign_person(alice);
    let upper = alice.to_string().to_uppercase();
    assert_ne!(upper, alice.to_string());
    w.observed.push(bare_account("r-1", "someone-else", Some(&upper), Some("other@example.com")));

    let plan = w.plan();
    let ops = ops_for(&plan, alice);
    assert_eq!(ops[0].kind, OpKind::Link { remote_id: "r-1".into(), matched_on: "externalId".into() });
    assert_eq!(ops[0].reason, granted(Grant::Person { assignment: a }));
    assert_eq!(plan.count("create"), 0);
    // The hand-made account then gets the person's attributes.
    assert_eq!(ops.len(), 2);
    let OpKind::Update { remote_id, changes } = &ops[1].kind else { panic!("expected an update, got {:?}", ops[1]) };
    assert_eq!(remote_id, "r-1");
    assert_eq!(changes["userName"], "alice@example.com");
    assert_eq!(changes["email"], "alice@example.com");
    assert_eq!(changes["externalId"], alice.to_string());
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn unlinked_account_is_matched_by_user_name_case_insensitively() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(bare_account("r-1", "ALICE@Example.COM", None, None));

    let plan = w.plan();
    assert_eq!(ops_for(&plan, alice)[0].kind, OpKind::Link { remote_id: "r-1".into(), matched_on: "userName".into() });
    assert_eq!(plan.count("create"), 0);
    assert_eq!(plan.count("link"), 1);
}

#[test]
fn unlinked_account_is_matched_on_the_derived_user_name_not_the_directory_one() {
    let format = UserNameFormat::EmailLocalPart { max_len: Some(21) };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(bare_account("r-1", "Alice", None, None));

    let plan = w.plan();
    assert_eq!(ops_for(&plan, alice)[0].kind, OpKind::Link { remote_id: "r-1".into(), matched_on: "userName".into() });
    assert_eq!(plan.count("create"), 0);
}

#[test]
fn unlinked_account_is_matched_by_email_case_insensitively() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(bare_account("r-1", "al", None, Some("Alice@EXAMPLE.com")));

    let plan = w.plan();
    assert_eq!(ops_for(&plan, alice)[0].kind, OpKind::Link { remote_id: "r-1".into(), matched_on: "email".into() });
    assert_eq!(plan.count("create"), 0);
}

#[test]
fn matching_prefers_external_id_then_user_name_then_email() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    let id = alice.to_string();
    w.observed.push(bare_account("r-email", "x1", None, Some("alice@example.com")));
    w.observed.push(bare_account("r-user", "alice@example.com", None, None));
    w.observed.push(bare_account("r-ext", "x2", Some(&id), None));

    let plan = w.plan();
    assert_eq!(
        ops_for(&plan, alice)[0].kind,
        OpKind::Link { remote_id: "r-ext".into(), matched_on: "externalId".into() }
    );
    assert_eq!(plan.count("link"), 1);
    assert_eq!(plan.count("create"), 0);
    assert!(plan.ops.iter().all(|o| o.kind.remote_id() != Some("r-user") && o.kind.remote_id() != Some("r-email")));

    // Without the externalId match, userName wins over email.
    w.observed.retain(|a| a.remote_id != "r-ext");
    let plan = w.plan();
    assert_eq!(
        ops_for(&plan, alice)[0].kind,
        OpKind::Link { remote_id: "r-user".into(), matched_on: "userName".into() }
    );
    assert_eq!(plan.count("link"), 1);
}

#[test]
fn an_account_matching_on_every_key_is_linked_on_external_id_with_nothing_to_update() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let a = w.assign_person(alice);
    w.observed.push(w.account(alice, "r-alice", true));

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert_eq!(op.kind, OpKind::Link { remote_id: "r-alice".into(), matched_on: "externalId".into() });
    assert_eq!(op.reason, granted(Grant::Person { assignment: a }));
}

#[test]
fn matched_inactive_account_is_linked_then_activated() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(w.account(alice, "r-alice", false));

    let plan = w.plan();
    assert_eq!(
        summary(&plan),
        [s("alice@example.com", "link", Some("r-alice")), s("alice@example.com", "activate", Some("r-alice"))]
    );
}

#[test]
fn a_pushed_persons_match_follows_the_apps_correlation_policy() {
    // An IdP pushes alice; the app already has an account with her userName that nobody
    // manages (a break-glass admin, say).
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(bare_account("r-1", "alice@example.com", None, None));
    let link = OpKind::Link { remote_id: "r-1".into(), matched_on: "userName".into() };

    // By default (link-pulled): a case for an admin, nothing linked or created.
    let plan = w.plan_pushed(&[source()]);
    assert!(ops_for(&plan, alice).is_empty(), "{plan:#?}");
    assert_eq!(plan.cases.len(), 1, "{plan:#?}");
    assert_eq!(
        (plan.cases[0].key.as_str(), plan.cases[0].value.as_str(), plan.cases[0].accounts.clone()),
        ("userName", "alice@example.com", vec!["r-1".to_owned()])
    );
    assert_eq!(plan.cases[0].person_ids, [alice]);
    // The same person from a source Tenure reads is linked, as before.
    assert_eq!(ops_for(&w.plan_pushed(&[]), alice)[0].kind, link);

    // `link` links pushed people too; `case` leaves everyone's match to an admin.
    w.app.settings.correlation = Correlation::Link;
    assert_eq!(ops_for(&w.plan_pushed(&[source()]), alice)[0].kind, link);
    w.app.settings.correlation = Correlation::Case;
    for pushed in [vec![], vec![source()]] {
        let plan = w.plan_pushed(&pushed);
        assert!(ops_for(&plan, alice).is_empty() && plan.cases.len() == 1, "{plan:#?}");
    }

    // An account carrying the person's own id as externalId is Tenure's: linked whatever the policy.
    w.observed[0] = bare_account("r-1", "alice@example.com", Some(&alice.to_string()), None);
    assert_eq!(
        ops_for(&w.plan_pushed(&[source()]), alice)[0].kind,
        OpKind::Link { remote_id: "r-1".into(), matched_on: "externalId".into() }
    );
}

#[test]
fn an_ambiguous_key_does_not_link() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.observed.push(bare_account("r-1", "alice-1", None, Some("alice@example.com")));
    w.observed.push(bare_account("r-2", "alice-2", None, Some("ALICE@example.com")));

    let plan = w.plan();
    assert_eq!(plan.count("link"), 0, "{plan:#?}");
    // Creating a third account would duplicate her: a case for an admin, and nothing planned.
    assert!(ops_for(&plan, alice).is_empty(), "{plan:#?}");
    assert_eq!(plan.cases.len(), 1);
    let case = &plan.cases[0];
    assert_eq!((case.key.as_str(), case.value.as_str()), ("email", "alice@example.com"));
    assert_eq!(case.accounts, ["r-1", "r-2"]);
    assert_eq!(case.person_ids, [alice]);
    assert!(plan.unmanaged.is_empty(), "accounts in a case are not unmanaged: {plan:#?}");
}

#[test]
fn an_account_is_never_claimed_by_two_people() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    w.assign_person(alice);
    w.assign_person(bob);
    // Alice's userName, Bob's email: both would match it.
    w.observed.push(bare_account("r-shared", "alice@example.com", None, Some("bob@example.com")));

    let plan = w.plan();
    let links: Vec<&PlannedOp> = plan.ops.iter().filter(|o| o.kind.name() == "link").collect();
    assert_eq!(links.len(), 1, "{plan:#?}");
    assert_eq!(links[0].kind.remote_id(), Some("r-shared"));
    let claimant = links[0].person_id;
    let other = if claimant == alice { bob } else { alice };
    assert!(matches!(only_op(&plan, other).kind, OpKind::Create { .. }));
    assert!(ops_for(&plan, other).iter().all(|o| o.kind.remote_id() != Some("r-shared")));
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn an_account_linked_to_someone_else_is_not_matched() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    w.assign_person(alice);
    w.assign_person(bob);
    // Bob's account carries Alice's email (a typo in the app), but it is linked to Bob.
    let mut account = w.account(bob, "r-bob", true);
    account.attributes.insert(attributes::EMAIL, "alice@example.com");
    w.linked_account(bob, account, AccountOrigin::Created);

    let plan = w.plan();
    assert!(matches!(only_op(&plan, alice).kind, OpKind::Create { .. }));
    // Bob's own account gets his email back; nothing links it to Alice.
    let OpKind::Update { remote_id, changes } = &only_op(&plan, bob).kind else { panic!("expected an update") };
    assert_eq!(remote_id, "r-bob");
    assert_eq!(changes, &Attributes::from([(attributes::EMAIL, "bob@example.com")]));
}

// ---------------------------------------------------------------------------------------------
// Unmanaged accounts
// ---------------------------------------------------------------------------------------------

#[test]
fn accounts_matching_nobody_are_unmanaged_and_never_deprovisioned() {
    let mut w = World::with_settings(settings(DeprovisionPolicy::Delete, UserNameFormat::Email));
    let alice = w.add(person(1, "alice"));
    w.assign_person(alice);
    w.linked(alice, "r-alice", AccountOrigin::Created, true);
    w.observed.push(bare_account("r-bot", "zz-bot", None, None));
    let mut contractor = bare_account("r-ctr", "contractor@elsewhere.test", None, Some("contractor@elsewhere.test"));
    contractor.active = false;
    w.observed.push(contractor);

    let plan = w.plan();
    assert!(plan.is_empty(), "unmanaged accounts are never touched: {plan:#?}");
    assert_eq!(
        plan.unmanaged,
        [
            UnmanagedAccount {
                app_id: w.app.id,
                remote_id: "r-ctr".into(),
                user_name: "contractor@elsewhere.test".into(),
                active: false,
            },
            UnmanagedAccount { app_id: w.app.id, remote_id: "r-bot".into(), user_name: "zz-bot".into(), active: true },
        ]
    );
}

#[test]
fn unlinked_account_of_an_unassigned_person_is_neither_deprovisioned_nor_unmanaged() {
    let mut w = World::new();
    let bob = w.add(person(2, "bob"));
    let sue = w.add(person(3, "sue").status(PersonStatus::Suspended));
    w.observed.push(w.account(bob, "r-bob", true));
    w.observed.push(bare_account("r-sue", "sue-old", None, Some("sue@example.com")));

    let plan = w.plan();
    assert!(plan.is_empty(), "only linked accounts are ever deprovisioned: {plan:#?}");
    assert!(plan.unmanaged.is_empty(), "they match a person, so they are not unmanaged: {:?}", plan.unmanaged);
    assert!(ops_for(&plan, bob).is_empty() && ops_for(&plan, sue).is_empty());
}

#[test]
fn unlinked_account_of_a_person_who_left_is_reported_unmanaged_not_deprovisioned() {
    let mut w = World::with_settings(settings(DeprovisionPolicy::Delete, UserNameFormat::Email));
    let gone = w.add(person(1, "gone").status(PersonStatus::Deleted));
    w.assign_person(gone);
    w.observed.push(w.account(gone, "r-gone", true));

    let plan = w.plan();
    assert!(plan.is_empty(), "{plan:#?}");
    let unmanaged: Vec<&str> = plan.unmanaged.iter().map(|u| u.remote_id.as_str()).collect();
    assert_eq!(unmanaged, ["r-gone"]);
}

// ---------------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------------

#[test]
fn a_link_whose_account_vanished_leads_to_a_new_create_for_a_still_assigned_person() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    let a = w.assign_person(alice);
    for (id, remote_id) in [(alice, "r-gone-alice"), (bob, "r-gone-bob")] {
        w.links.push(AccountLink {
            app_id: w.app.id,
            remote_id: remote_id.into(),
            person_id: id,
            origin: AccountOrigin::Created,
            deactivated_on: None,
            granted_by: None,
        });
    }

    let plan = w.plan();
    let op = only_op(&plan, alice);
    assert!(matches!(&op.kind, OpKind::Create { attributes, .. } if attributes["externalId"] == alice.to_string()));
    assert_eq!(op.reason, granted(Grant::Person { assignment: a }));
    assert!(ops_for(&plan, bob).is_empty(), "nothing to deprovision for an account that is already gone");
}

#[test]
fn links_of_other_apps_are_ignored() {
    let mut w = World::new();
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob"));
    w.assign_person(alice);
    let other_app = AppId(Uuid::from_u128(0xB22));
    for (id, remote_id) in [(alice, "r-alice"), (bob, "r-bob")] {
        w.observed.push(w.account(id, remote_id, true));
        w.links.push(AccountLink {
            app_id: other_app,
            remote_id: remote_id.into(),
            person_id: id,
            origin: AccountOrigin::Created,
            deactivated_on: None,
            granted_by: None,
        });
    }

    let plan = w.plan();
    // Alice's account is not linked in this app, so it is matched; Bob's is neither linked nor
    // deprovisioned.
    assert_eq!(summary(&plan), [s("alice@example.com", "link", Some("r-alice"))]);
    assert!(plan.unmanaged.is_empty());
}

// ---------------------------------------------------------------------------------------------
// A mixed world: the whole plan, determinism, serialisation
// ---------------------------------------------------------------------------------------------

/// A directory that exercises every op kind, every grant kind and every revocation.
fn mixed_world() -> World {
    let mut w = World::with_settings(settings(DeprovisionPolicy::Delete, UserNameFormat::Email));
    let alice = w.add(person(1, "alice"));
    let bob = w.add(person(2, "bob").title("Staff Engineer"));
    w.add(person(3, "carol").org_unit("/Sales/EMEA"));
    let dave = w.add(person(4, "dave"));
    let erin = w.add(person(5, "erin").org_unit("/Sales").status(PersonStatus::Suspended));
    let frank = w.add(person(6, "frank"));
    let gina = w.add(person(7, "gina").status(PersonStatus::Deleted));
    let hank = w.add(person(8, "hank").leave(YESTERDAY));
    let ivan = w.add(person(9, "ivan").start(TOMORROW));
    let judy = w.add(person(10, "judy").org_unit("/Sales2"));
    // engineering ⊃ platform ⊃ engineering (a cycle)
    w.groups.push(group(1, "engineering", &[bob, ivan], &[gid(2)]));
    w.groups.push(group(2, "platform", &[alice], &[gid(1)]));
    w.assign_group(gid(1));
    w.assign_org_unit("/Sales");
    w.assign_person(dave);
    w.assign_person(hank);

    // alice: nothing in the app → create.
    // bob: linked, inactive, old title → activate + update.
    let mut account = w.account(bob, "r-bob", false);
    account.attributes.insert("title", "Engineer");
    w.linked_account(bob, account, AccountOrigin::Created);
    // carol: an unlinked account found by email → link + update.
    w.observed.push(bare_account("r-carol", "cwong", None, Some("carol@example.com")));
    // dave: linked and in sync → nothing.
    w.linked(dave, "r-dave", AccountOrigin::Adopted, true);
    // erin, suspended, created → delete. frank, unassigned, matched → deactivate.
    w.linked(erin, "r-erin", AccountOrigin::Created, true);
    w.linked(frank, "r-frank", AccountOrigin::Matched, true);
    // gina left (adopted → delete); hank's leave date passed and ivan has not started (matched → deactivate).
    w.linked(gina, "r-gina", AccountOrigin::Adopted, true);
    w.linked(hank, "r-hank", AccountOrigin::Matched, true);
    w.linked(ivan, "r-ivan", AccountOrigin::Matched, true);
    // judy is not assigned; her unlinked account is left alone.
    w.observed.push(w.account(judy, "r-judy", true));
    // Two accounts nobody accounts for.
    w.observed.push(bare_account("r-bot", "zz-bot", None, None));
    w.observed.push(bare_account("r-ctr", "contractor@elsewhere.test", None, Some("contractor@elsewhere.test")));
    w
}

#[test]
fn a_mixed_directory_produces_the_expected_plan_in_a_stable_order() {
    let w = mixed_world();
    let plan = w.plan();

    // Grant side first, by person email; then the revoke side, by person email.
    assert_eq!(
        summary(&plan),
        [
            s("alice@example.com", "create", None),
            s("bob@example.com", "activate", Some("r-bob")),
            s("bob@example.com", "update", Some("r-bob")),
            s("carol@example.com", "link", Some("r-carol")),
            s("carol@example.com", "update", Some("r-carol")),
            s("erin@example.com", "delete", Some("r-erin")),
            s("frank@example.com", "deactivate", Some("r-frank")),
            s("gina@example.com", "delete", Some("r-gina")),
            s("hank@example.com", "deactivate", Some("r-hank")),
            s("ivan@example.com", "deactivate", Some("r-ivan")),
        ]
    );
    let reasons: Vec<String> = plan.ops.iter().map(|o| o.reason.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "member of group engineering via platform",
            "member of group engineering",
            "changed in the directory: title",
            "in org unit /Sales",
            "changed in the directory: displayName, externalId, familyName, givenName, userName",
            "suspended in the directory",
            "no assignment grants the app any more",
            "left the directory",
            "leave date has passed",
            "start date not reached",
        ]
    );
    let unmanaged: Vec<&str> = plan.unmanaged.iter().map(|u| u.remote_id.as_str()).collect();
    assert_eq!(unmanaged, ["r-ctr", "r-bot"], "sorted by userName");
}

#[test]
fn same_inputs_give_the_same_plan() {
    let w = mixed_world();
    let first = w.plan();
    for _ in 0..5 {
        assert_eq!(w.plan(), first);
    }
    assert_eq!(mixed_world().plan(), first);
}

#[test]
fn input_order_of_people_groups_links_and_accounts_does_not_change_the_plan() {
    let w = mixed_world();
    let expected = w.plan();
    let mut reordered_any = false;
    for seed in 1..=20u64 {
        let mut v = w.clone();
        v.people = shuffled(&w.people, seed);
        v.groups = shuffled(&w.groups, seed + 100);
        v.links = shuffled(&w.links, seed + 200);
        v.observed = shuffled(&w.observed, seed + 300);
        reordered_any |= v.people != w.people || v.observed != w.observed;
        assert_eq!(v.plan(), expected, "seed {seed}");
    }
    let mut reversed = w.clone();
    reversed.people.reverse();
    reversed.groups.reverse();
    reversed.links.reverse();
    reversed.observed.reverse();
    assert_eq!(reversed.plan(), expected);
    assert!(reordered_any, "the shuffles must actually reorder something");
}

#[test]
fn plan_round_trips_through_json() {
    let plan = mixed_world().plan();
    for kind in ["create", "link", "update", "activate", "deactivate", "delete"] {
        assert!(plan.count(kind) > 0, "the mixed world must exercise {kind}");
    }
    assert!(!plan.unmanaged.is_empty());

    let json = serde_json::to_string(&plan).expect("serialize");
    let back: Plan = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, plan);

    // The shape other components (UI, API) read.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = &value["ops"][0];
    assert_eq!(first["op"], "create");
    assert_eq!(first["person"], "alice@example.com");
    assert_eq!(first["reason"]["kind"], "granted");
    assert_eq!(first["reason"]["grant"]["via"], "group");
    assert_eq!(first["reason"]["grant"]["through"], serde_json::json!(["platform"]));
    assert_eq!(first["attributes"]["userName"], "alice@example.com");
    let link = value["ops"].as_array().unwrap().iter().find(|o| o["op"] == "link").unwrap();
    assert_eq!(link["remote_id"], "r-carol");
    assert_eq!(link["matched_on"], "email");
    assert_eq!(link["reason"]["grant"]["org_unit"], "/Sales");
    let revoke = value["ops"].as_array().unwrap().iter().find(|o| o["op"] == "deactivate").unwrap();
    assert_eq!(revoke["reason"], serde_json::json!({"kind": "revoked", "revocation": "unassigned"}));
}

#[test]
fn empty_plan_round_trips_through_json() {
    let plan = World::new().plan();
    assert!(plan.is_empty() && plan.unmanaged.is_empty());
    let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn reason_display_texts_read_well() {
    let assignment = AssignmentId(Uuid::from_u128(1));
    let group = |through: &[&str]| Grant::Group {
        assignment,
        group: "engineering".into(),
        through: through.iter().map(|t| (*t).to_owned()).collect(),
    };
    let cases = [
        (granted(Grant::Person { assignment }), "assigned directly"),
        (granted(group(&[])), "member of group engineering"),
        (granted(group(&["platform"])), "member of group engineering via platform"),
        (granted(group(&["platform", "sre"])), "member of group engineering via platform → sre"),
        (granted(Grant::OrgUnit { assignment, org_unit: ou("/Sales/EMEA") }), "in org unit /Sales/EMEA"),
        (
            Reason::AttributesChanged { grant: group(&[]), attributes: vec!["email".into(), "title".into()] },
            "changed in the directory: email, title",
        ),
        (revoked(Revocation::Unassigned), "no assignment grants the app any more"),
        (revoked(Revocation::LeftDirectory), "left the directory"),
        (revoked(Revocation::Suspended), "suspended in the directory"),
        (revoked(Revocation::LeaveDatePassed), "leave date has passed"),
        (revoked(Revocation::NotStartedYet), "start date not reached"),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: problems found and fixed
// ---------------------------------------------------------------------------------------------

/// Two people whose derived userName collides (EmailLocalPart truncated to 21 characters) both
/// "match" an unlinked account on userName. The reconciler once checked ambiguity only among
/// accounts, not among people, and handed the account to whoever sorted first by email: Alexandra
/// Jones was linked to Alexandra Smith's pre-existing account, and the follow-up Update rewrote
/// its email and externalId to Jones's. A value two people share now identifies neither, so
/// Smith's account is found by her email.
#[test]
fn a_user_name_derived_for_two_people_does_not_link_the_account_to_the_wrong_one() {
    let format = UserNameFormat::EmailLocalPart { max_len: Some(21) };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let jones = w.add(person(1, "jones").email("alexandra.montgomery-jones@example.com"));
    let smith = w.add(person(2, "smith").email("alexandra.montgomery-smith@example.com"));
    w.assign_person(jones);
    w.assign_person(smith);
    // Smith's account, made by hand before Tenure: Slack's 21-character userName and her email.
    w.observed.push(bare_account(
        "r-smith",
        "alexandra.montgomery-",
        None,
        Some("alexandra.montgomery-smith@example.com"),
    ));

    let plan = w.plan();
    assert!(
        ops_for(&plan, jones).iter().all(|o| o.kind.remote_id() != Some("r-smith")),
        "Jones must not be linked to Smith's account: {plan:#?}"
    );
    assert_eq!(ops_for(&plan, smith)[0].kind, OpKind::Link { remote_id: "r-smith".into(), matched_on: "email".into() });
}

/// `plan.unmanaged` was sorted by userName only, so two unmanaged accounts with the same userName
/// came out in the order the app listed them.
#[test]
fn unmanaged_order_does_not_depend_on_the_apps_listing_order() {
    let mut w = World::new();
    w.observed.push(bare_account("r-1", "shared", None, None));
    w.observed.push(bare_account("r-2", "shared", None, None));
    let plan = w.plan();
    w.observed.reverse();
    assert_eq!(w.plan(), plan);
}

#[test]
fn planning_apps_in_parallel_gives_each_app_its_sequential_plan() {
    let mut w = World::new();
    for n in 1..=40 {
        w.add(person(n, &format!("p{n}")).org_unit(if n % 2 == 0 { "/Sales" } else { "/Engineering" }));
    }
    w.assign_org_unit("/Sales");
    let mut slack = w.app.clone();
    slack.id = AppId::new();
    slack.settings.user_name = UserNameFormat::EmailLocalPart { max_len: Some(21) };
    let slack_assignments: Vec<Assignment> =
        w.assignments.iter().map(|a| Assignment { app_id: slack.id, ..a.clone() }).collect();
    let dir = DirectoryIndex::new(&w.people, &w.groups);
    let mut states = Vec::new();
    for i in 0..7 {
        let (app, assignments) = if i % 2 == 0 { (&w.app, &w.assignments) } else { (&slack, &slack_assignments) };
        states.push(AppState { app, assignments, links: &w.links, observed: &w.observed, groups: &[] });
    }
    let parallel = reconcile::plan_apps(&dir, &states, TODAY);
    let sequential: Vec<Plan> = states.iter().map(|s| plan_app(&dir, s, TODAY)).collect();
    assert_eq!(parallel, sequential);
    assert_eq!(parallel[0].count("create"), 20);
    assert_eq!(parallel[1].ops[0].kind.name(), "create");
}

/// A 10,000-member app group with one joiner is one membership operation with one member.
#[test]
fn a_large_app_group_with_one_change_is_one_operation() {
    let mut w = World::new();
    let mut members = Vec::new();
    for n in 1..=10_000u128 {
        let id = w.add(person(n, &format!("p{n:05}")));
        let account = w.account(id, &format!("r-{n}"), true);
        w.linked_account(id, account, AccountOrigin::Created);
        members.push(format!("r-{n}"));
    }
    let joiner = w.add(person(10_001, "zz-joiner"));
    let mut assignment = Assignment::grant(w.app.id, AssignmentTarget::OrgUnit(ou("/")));
    assignment.params.groups = vec!["everyone".into()];
    w.assignments.push(assignment);
    let groups = [RemoteGroup { remote_id: "g-all".into(), name: "everyone".into(), members }];

    let dir = DirectoryIndex::new(&w.people, &w.groups);
    let state =
        AppState { app: &w.app, assignments: &w.assignments, links: &w.links, observed: &w.observed, groups: &groups };
    let plan = plan_app(&dir, &state, TODAY);
    assert_eq!(plan.ops.len(), 1, "only the joiner's create");
    assert_eq!(plan.group_ops.len(), 1);
    let op = &plan.group_ops[0];
    assert_eq!(op.remote_id.as_deref(), Some("g-all"));
    assert_eq!(op.add, [MemberRef::NewAccountOf { person_id: joiner, person: "zz-joiner@example.com".into() }]);
    assert!(op.remove.is_empty());
}

/// Slack handles: two people whose email local parts give the same handle. Whoever already has
/// an account keeps its userName, whatever the plan order; only a new account takes the next
/// free number, which still fits in 21 characters.
#[test]
fn handle_user_names_are_deduplicated_stably() {
    let format = UserNameFormat::Handle { max_len: 21 };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    // Sorted first by email, but not the first to have had an account.
    let first = w.add(person(1, "a").email("ann.lee@example.com"));
    let linked = w.add(person(2, "b").email("Ann.Lee@other.example"));
    w.assign_person(first);
    w.assign_person(linked);
    w.linked(linked, "r-linked", AccountOrigin::Created, true);

    let plan = w.plan();
    assert!(ops_for(&plan, linked).is_empty(), "the linked account keeps ann.lee: {plan:#?}");
    let OpKind::Create { attributes, .. } = &only_op(&plan, first).kind else { panic!("{plan:#?}") };
    assert_eq!(attributes["userName"], "ann.lee2");

    // Once created, the numbered account is left alone, and a third person takes the next number.
    let mut account = w.account(first, "r-first", true);
    account.attributes.insert("userName", "ann.lee2");
    w.linked_account(first, account, AccountOrigin::Created);
    let third = w.add(person(3, "c").email("ann.lee@third.example"));
    w.assign_person(third);
    let plan = w.plan();
    assert!(ops_for(&plan, first).is_empty() && ops_for(&plan, linked).is_empty(), "{plan:#?}");
    let OpKind::Create { attributes, .. } = &only_op(&plan, third).kind else { panic!("{plan:#?}") };
    assert_eq!(attributes["userName"], "ann.lee3");

    // A long handle is cut so that the number fits.
    let long = w.add(person(4, "d").email("christopher.alexanderson@example.com"));
    let taken = w.add(person(5, "e").email("christopher.alexanders@example.com"));
    w.assign_person(long);
    w.assign_person(taken);
    w.linked(taken, "r-taken", AccountOrigin::Created, true);
    let plan = w.plan();
    let OpKind::Create { attributes, .. } = &only_op(&plan, long).kind else { panic!("{plan:#?}") };
    assert_eq!(attributes["userName"], "christopher.alexande2");
    assert!(attributes["userName"].len() <= 21);
}

/// A Slack account linked by email keeps the handle it had, and an email change does not rename
/// anyone's handle: only new accounts get a derived one.
#[test]
fn linked_accounts_keep_their_handle() {
    let format = UserNameFormat::Handle { max_len: 21 };
    let mut w = World::with_settings(settings(DeprovisionPolicy::Deactivate, format));
    let ann = w.add(person(1, "ann.lee"));
    w.assign_person(ann);
    let mut account = w.account(ann, "r-ann", true);
    account.attributes.insert("userName", "annie");
    w.linked_account(ann, account, AccountOrigin::Matched);
    assert!(w.plan().ops.is_empty(), "{:#?}", w.plan());
}
