//! Data-driven planner tests: each file in `tests/cases/` is a directory, a policy and what the
//! app holds, with the plan expected from them. Every case is also checked three more ways: the
//! incremental plan of each person equals their part of the full plan, the plan is stable
//! (planning twice gives the same plan), and carrying the plan out then planning again finds
//! nothing left to do.
//!
//! The format, by example (every field but `people[].key` optional):
//!
//! ```toml
//! today = "2025-06-15"
//! [app]            # AppSettings as JSON would spell them
//! deprovision = "delete"
//! [[people]]
//! key = "alice"    # alice@example.com, "alice Tester"
//! status = "deleted"; org_unit = "/Eng"; title = "..."; department = "..."
//! [[groups]]
//! name = "eng"; members = ["alice"]; groups = ["platform"]
//! [[assignments]]
//! group = "eng"    # or person / org_unit / rule; exclude, role, license
//! [[accounts]]     # what the app holds
//! id = "r-alice"; person = "alice"  # linked to alice, as Tenure last wrote it
//! origin = "matched"; active = false; deactivated_on = "2025-05-01"
//! set = { title = "Old" }; unset = ["department"]   # drift from what Tenure wrote
//! user_name = "..."; email = "..."  # an unlinked account made by hand (no `person`)
//! [[expect]]
//! person = "alice"; op = "deactivate"; remote_id = "r-alice"; reason = "left the directory"
//! changes = { title = "New" }
//! ```

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use tenure_core::attributes::{self, Attributes};
use tenure_core::reconcile::{AppState, DirectoryIndex, plan_app};
use tenure_core::*;
use time::Date;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    today: Option<Date>,
    #[serde(default)]
    app: serde_json::Value,
    #[serde(default)]
    people: Vec<PersonSpec>,
    #[serde(default)]
    groups: Vec<GroupSpec>,
    /// Groups assignments may name that are no longer in the directory.
    #[serde(default)]
    deleted_groups: Vec<String>,
    #[serde(default)]
    assignments: Vec<AssignmentSpec>,
    #[serde(default)]
    accounts: Vec<AccountSpec>,
    #[serde(default)]
    expect: Vec<Expected>,
    #[serde(default)]
    expect_unmanaged: Vec<String>,
    /// Each case as "key=value: account, account".
    #[serde(default)]
    expect_cases: Vec<String>,
    /// Substrings, one per expected problem.
    #[serde(default)]
    expect_problems: Vec<String>,
    /// The app's groups.
    #[serde(default)]
    app_groups: Vec<AppGroupSpec>,
    /// Group operations as "name: +member -member", `(new)` after a name to be created, a
    /// member to be created as `new:key`.
    #[serde(default)]
    expect_group_ops: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppGroupSpec {
    id: String,
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonSpec {
    key: String,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    status: Option<PersonStatus>,
    org_unit: Option<String>,
    title: Option<String>,
    department: Option<String>,
    start_date: Option<Date>,
    leave_date: Option<Date>,
    #[serde(default)]
    custom: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    name: String,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentSpec {
    person: Option<String>,
    group: Option<String>,
    org_unit: Option<String>,
    rule: Option<String>,
    #[serde(default)]
    exclude: bool,
    role: Option<String>,
    license: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    id: String,
    person: Option<String>,
    origin: Option<AccountOrigin>,
    #[serde(default = "yes")]
    active: bool,
    deactivated_on: Option<Date>,
    /// The assignment (by position in the case) that granted the account.
    granted_by: Option<usize>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    unset: Vec<String>,
    user_name: Option<String>,
    email: Option<String>,
    external_id: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Expected {
    person: String,
    op: String,
    remote_id: Option<String>,
    reason: Option<String>,
    changes: Option<BTreeMap<String, String>>,
    license: Option<String>,
}

fn person_id(n: usize) -> PersonId {
    PersonId(Uuid::from_u128(0xfeed_0000_0000_0000_0000_0000_0000_0000 | n as u128))
}

struct World {
    today: Date,
    app: App,
    people: Vec<Person>,
    groups: Vec<Group>,
    assignments: Vec<Assignment>,
    observed: Vec<RemoteAccount>,
    links: Vec<AccountLink>,
    groups_in_app: Vec<RemoteGroup>,
    keys: HashMap<PersonId, String>,
}

impl World {
    fn from_case(case: &Case) -> Result<Self, String> {
        let today = case.today.unwrap_or(time::macros::date!(2025 - 06 - 15));
        let settings: AppSettings = if case.app.is_null() {
            AppSettings::default()
        } else {
            serde_json::from_value(case.app.clone()).map_err(|e| format!("[app]: {e}"))?
        };
        let app = App {
            id: AppId(Uuid::from_u128(0xA11)),
            name: "app".into(),
            kind: AppKind::Scim,
            base_url: "https://app.example.test/scim/v2".into(),
            settings,
        };
        let mut by_key = HashMap::new();
        let mut people = Vec::new();
        for (n, p) in case.people.iter().enumerate() {
            let email = p.email.clone().unwrap_or_else(|| format!("{}@example.com", p.key));
            let person = Person {
                id: person_id(n + 1),
                source_id: SourceId(Uuid::from_u128(0x5000)),
                source_key: format!("emp-{}", n + 1),
                user_name: email.clone(),
                email,
                given_name: Some(p.given_name.clone().unwrap_or_else(|| p.key.clone())),
                family_name: Some(p.family_name.clone().unwrap_or_else(|| "Tester".into())),
                display_name: None,
                department: p.department.clone(),
                title: p.title.clone(),
                employee_id: None,
                manager_key: None,
                org_unit: p.org_unit.as_deref().map(OrgUnitPath::parse).transpose().map_err(|e| e.to_string())?,
                status: p.status.unwrap_or(PersonStatus::Active),
                start_date: p.start_date,
                leave_date: p.leave_date,
                custom: p.custom.clone(),
            };
            by_key.insert(p.key.clone(), person.id);
            people.push(person);
        }
        let person = |key: &str| by_key.get(key).copied().ok_or_else(|| format!("no person {key:?}"));
        let group_ids: HashMap<&str, GroupId> = case
            .groups
            .iter()
            .map(|g| g.name.as_str())
            .chain(case.deleted_groups.iter().map(String::as_str))
            .enumerate()
            .map(|(n, name)| (name, GroupId(Uuid::from_u128(0x6000 + n as u128))))
            .collect();
        let group = |name: &str| group_ids.get(name).copied().ok_or_else(|| format!("no group {name:?}"));
        let mut groups = Vec::new();
        for g in &case.groups {
            groups.push(Group {
                id: group(&g.name)?,
                source_id: SourceId(Uuid::from_u128(0x5000)),
                name: g.name.clone(),
                members: g.members.iter().map(|m| person(m)).collect::<Result<_, _>>()?,
                member_groups: g.groups.iter().map(|m| group(m)).collect::<Result<_, _>>()?,
            });
        }
        let mut assignments = Vec::new();
        for a in &case.assignments {
            let target = match (&a.person, &a.group, &a.org_unit, &a.rule) {
                (Some(p), None, None, None) => AssignmentTarget::Person(person(p)?),
                (None, Some(g), None, None) => AssignmentTarget::Group(group(g)?),
                (None, None, Some(o), None) => {
                    AssignmentTarget::OrgUnit(OrgUnitPath::parse(o).map_err(|e| e.to_string())?)
                }
                (None, None, None, Some(r)) => AssignmentTarget::Rule(expr::Rule::parse(r).map_err(|e| e.to_string())?),
                _ => return Err("an assignment names exactly one of person, group, org_unit, rule".into()),
            };
            let mut assignment = Assignment::grant(app.id, target);
            assignment.id = AssignmentId(Uuid::from_u128(0x7000 + assignments.len() as u128));
            assignment.exclude = a.exclude;
            assignment.params =
                AssignmentParams { role: a.role.clone(), license: a.license.clone(), groups: a.groups.clone() };
            assignments.push(assignment);
        }
        let mut observed = Vec::new();
        let mut links = Vec::new();
        for acc in &case.accounts {
            let mut attrs = match &acc.person {
                Some(key) => {
                    let id = person(key)?;
                    let p = people.iter().find(|p| p.id == id).ok_or("person vanished")?;
                    links.push(AccountLink {
                        app_id: app.id,
                        remote_id: acc.id.clone(),
                        person_id: id,
                        origin: acc.origin.unwrap_or(AccountOrigin::Created),
                        deactivated_on: acc.deactivated_on,
                        granted_by: acc
                            .granted_by
                            .map(|i| {
                                assignments.get(i).map(|a: &Assignment| a.id).ok_or("granted_by: no such assignment")
                            })
                            .transpose()?,
                    });
                    // As Tenure last wrote it: the default mapping of the person as they are now.
                    let mut a = attributes::default_mapping(p, app.settings.user_name);
                    a.retain(|_, v| !v.is_empty());
                    a
                }
                None => Attributes::new(),
            };
            for (k, v) in [("userName", &acc.user_name), ("email", &acc.email), ("externalId", &acc.external_id)] {
                if let Some(v) = v {
                    attrs.insert(k, v.clone());
                }
            }
            for (k, v) in &acc.set {
                attrs.insert(k.as_str(), v.clone());
            }
            for k in &acc.unset {
                attrs.remove(k);
            }
            observed.push(RemoteAccount { remote_id: acc.id.clone(), active: acc.active, attributes: attrs });
        }
        let groups_in_app = case
            .app_groups
            .iter()
            .map(|g| RemoteGroup { remote_id: g.id.clone(), name: g.name.clone(), members: g.members.clone() })
            .collect();
        let keys = by_key.into_iter().map(|(k, v)| (v, k)).collect();
        Ok(Self { today, app, people, groups, assignments, observed, links, groups_in_app, keys })
    }

    fn plan(&self) -> Plan {
        let dir = DirectoryIndex::new(&self.people, &self.groups);
        let state = AppState {
            app: &self.app,
            assignments: &self.assignments,
            links: &self.links,
            observed: &self.observed,
            groups: &self.groups_in_app,
        };
        plan_app(&dir, &state, self.today)
    }

    fn summarize(&self, plan: &Plan) -> Vec<Expected> {
        plan.ops
            .iter()
            .map(|op| Expected {
                person: self.keys.get(&op.person_id).cloned().unwrap_or_else(|| op.person.clone()),
                op: op.kind.name().to_owned(),
                remote_id: op.kind.remote_id().map(str::to_owned),
                reason: Some(op.reason.to_string()),
                changes: match &op.kind {
                    OpKind::Update { changes, .. } => {
                        Some(changes.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect())
                    }
                    _ => None,
                },
                license: match &op.kind {
                    OpKind::ChangeLicense { license, .. } => license.clone(),
                    _ => None,
                },
            })
            .collect()
    }
}

/// Compares what the case spells out: a field left out of an expectation is not checked.
fn matches(expected: &Expected, actual: &Expected) -> bool {
    expected.person == actual.person
        && expected.op == actual.op
        && (expected.remote_id.is_none() || expected.remote_id == actual.remote_id)
        && (expected.reason.is_none() || expected.reason == actual.reason)
        && (expected.changes.is_none() || expected.changes == actual.changes)
        && (expected.license.is_none() || expected.license == actual.license)
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| e.to_string())?;
    let world = World::from_case(&case)?;
    let plan = world.plan();
    let actual = world.summarize(&plan);
    let ok = actual.len() == case.expect.len() && case.expect.iter().zip(&actual).all(|(e, a)| matches(e, a));
    if !ok {
        return Err(format!(
            "{}\nexpected:\n{:#?}\nplanned:\n{:#?}\ncases: {:#?}\nproblems: {:#?}",
            case.description, case.expect, actual, plan.cases, plan.problems
        ));
    }
    let unmanaged: Vec<&str> = plan.unmanaged.iter().map(|u| u.remote_id.as_str()).collect();
    if unmanaged != case.expect_unmanaged {
        return Err(format!("unmanaged: expected {:?}, got {unmanaged:?}", case.expect_unmanaged));
    }
    let cases: Vec<String> =
        plan.cases.iter().map(|c| format!("{}={}: {}", c.key, c.value, c.accounts.join(", "))).collect();
    if cases != case.expect_cases {
        return Err(format!("correlation cases: expected {:?}, got {cases:?}", case.expect_cases));
    }
    if plan.problems.len() != case.expect_problems.len()
        || !plan.problems.iter().zip(&case.expect_problems).all(|(p, e)| p.message.contains(e.as_str()))
    {
        return Err(format!("problems: expected {:?}, got {:#?}", case.expect_problems, plan.problems));
    }
    let key_of = |id: &PersonId| world.keys.get(id).cloned().unwrap_or_default();
    let group_ops: Vec<String> = plan
        .group_ops
        .iter()
        .map(|g| {
            let mut parts: Vec<String> = g
                .add
                .iter()
                .map(|m| match m {
                    MemberRef::Account { remote_id } => format!("+{remote_id}"),
                    MemberRef::NewAccountOf { person_id, .. } => format!("+new:{}", key_of(person_id)),
                })
                .collect();
            parts.extend(g.remove.iter().map(|r| format!("-{r}")));
            let new = if g.remote_id.is_none() { " (new)" } else { "" };
            format!("{}{new}: {}", g.group, parts.join(" "))
        })
        .collect();
    if group_ops != case.expect_group_ops {
        return Err(format!("group operations: expected {:?}, got {group_ops:?}", case.expect_group_ops));
    }
    if world.plan() != plan {
        return Err("planning twice gave two plans".into());
    }

    // The incremental plan of each person is their part of the full plan.
    let dir = DirectoryIndex::new(&world.people, &world.groups);
    let state = AppState {
        app: &world.app,
        assignments: &world.assignments,
        links: &world.links,
        observed: &world.observed,
        groups: &world.groups_in_app,
    };
    if let Some(mismatch) = common::incremental_mismatch(&state, &world.people, &world.groups, &plan, world.today) {
        return Err(mismatch);
    }

    // Carry it out, plan again: nothing left.
    let (mut observed, mut links, mut groups) =
        (world.observed.clone(), world.links.clone(), world.groups_in_app.clone());
    common::apply(&plan, world.app.id, &mut observed, &mut links, &mut groups, world.today);
    let again = AppState {
        app: &world.app,
        assignments: &world.assignments,
        links: &links,
        observed: &observed,
        groups: &groups,
    };
    let replanned = plan_app(&dir, &again, world.today);
    if !replanned.is_empty() {
        return Err(format!(
            "after applying the plan, planning again still finds {:#?} {:#?}",
            replanned.ops, replanned.group_ops
        ));
    }
    Ok(())
}

#[test]
fn planner_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "expected the full set of cases, found {}", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run_case(f).err().map(|e| format!("--- {}:\n{e}", f.file_name().unwrap_or_default().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
}
