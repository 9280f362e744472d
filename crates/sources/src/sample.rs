//! A generated organization for `tenure demo` and for tests: realistic enough that a plan over
//! it looks like one over a real company, and seeded so that a run can be reproduced.
//!
//! The output is a people CSV and a groups CSV in the format of [`crate::hr_csv`] (default
//! mapping, plus the custom columns `cost_center` and `location`), so the demo exercises the same
//! import path as a real export.
//!
//! # Shape
//!
//! Domain `example.com`; emails are `first.last@example.com`, with a number appended when the
//! name is taken (`first.last2`). Org units and departments:
//!
//! | org unit                 | department  | share of staff |
//! |--------------------------|-------------|----------------|
//! | `/` (the CEO)            | Executive   | 1 person       |
//! | `/Engineering/Platform`  | Engineering | 20 %           |
//! | `/Engineering/Apps`      | Engineering | 22 %           |
//! | `/Sales/EMEA`            | Sales       | 12 %           |
//! | `/Sales/Americas`        | Sales       | 13 %           |
//! | `/Marketing`             | Marketing   | 9 %            |
//! | `/Finance`               | Finance     | 6 %            |
//! | `/People`                | People      | 6 %            |
//! | `/Support`               | Support     | 12 %           |
//!
//! The heads of Engineering and Sales sit in `/Engineering` and `/Sales`; each sub-unit has a
//! manager reporting to them, every department head reports to the CEO, and in every unit each
//! eighth person is a team lead the following people report to. Every `manager_id` names someone
//! earlier in the file, so any prefix of the file (a small `people` count) is consistent too.
//!
//! About 2 % of the individual contributors are suspended, about 3 % start one to eight weeks
//! after `today` and about 1 % have a leave date within the next month; leaders are always
//! active.
//!
//! # Groups
//!
//! People are direct members of `everyone`, of their team group and, for leaders, of `managers`.
//! Access is granted through nesting, so the demo can show transitive membership:
//!
//! ```text
//! everyone                    every person, directly
//! managers                    CEO, department heads, unit managers, team leads
//! slack-users  <- engineering, sales, marketing, support
//! jira-users   <- engineering, support
//! notion-users <- marketing, people-team
//! engineering  <- platform-team, apps-team      (head of Engineering directly)
//! sales        <- sales-emea, sales-americas    (head of Sales directly)
//! marketing, finance, people-team, support      (their department, directly)
//! ```
//!
//! Assigning Slack to `slack-users` thus reaches everyone but Finance, People and the CEO (about
//! 85 %), Jira via `jira-users` and Notion via the org units `/Engineering` and `/Marketing`
//! about half each, and the three sets differ. The demo relies on the group names `everyone`,
//! `slack-users`, `jira-users`, `engineering` and `sales` and on the org units `/Engineering`,
//! `/Marketing` and `/Sales`.
//!
//! # Dates
//!
//! Start and leave dates are relative to a `today`, because a future starter only means
//! something relative to the day the demo runs. [`sample_org`] uses the current UTC date;
//! [`sample_org_as_of`] takes it, and is a pure function of its arguments.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::{Date, Duration, OffsetDateTime};

/// The two CSV files of a generated organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOrg {
    pub people_csv: String,
    pub groups_csv: String,
}

/// A sample organization of `people` people, dated relative to today (UTC).
pub fn sample_org(people: usize, seed: u64) -> SampleOrg {
    sample_org_as_of(people, seed, OffsetDateTime::now_utc().date())
}

/// A sample organization of `people` people, dated relative to `today`. The same arguments
/// always give the same files.
pub fn sample_org_as_of(people: usize, seed: u64, today: Date) -> SampleOrg {
    let mut rng = StdRng::seed_from_u64(seed);
    let slots = plan_slots(people);
    let mut emails: HashMap<String, usize> = HashMap::new();
    let mut rows: Vec<[String; 15]> = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        let given = *GIVEN_NAMES.choose(&mut rng).expect("names are not empty");
        let family = *FAMILY_NAMES.choose(&mut rng).expect("names are not empty");
        let email = unique_email(&mut emails, given, family);
        let title = match slot.role {
            Role::Leader(title) => title.to_owned(),
            Role::TeamLead => slot.unit.lead_title.to_owned(),
            Role::Member => (*slot.unit.titles.choose(&mut rng).expect("titles are not empty")).to_owned(),
        };
        let leads = !matches!(slot.role, Role::Member);

        let mut status = "active";
        let mut leave_date = None;
        let start_date = if leads {
            today.saturating_sub(Duration::days(rng.random_range(900..=3650)))
        } else if rng.random_bool(0.03) {
            today.saturating_add(Duration::days(rng.random_range(7..=56)))
        } else {
            if rng.random_bool(0.02) {
                status = "suspended";
            } else if rng.random_bool(0.01) {
                leave_date = Some(today.saturating_add(Duration::days(rng.random_range(3..=30))));
            }
            today.saturating_sub(Duration::days(rng.random_range(14..=3000)))
        };

        let mut groups = vec!["everyone", slot.unit.group];
        if leads && !groups.contains(&"managers") {
            groups.push("managers");
        }
        rows.push([
            employee_id(index),
            email,
            given.to_owned(),
            family.to_owned(),
            format!("{given} {family}"),
            slot.unit.department.to_owned(),
            title,
            slot.unit.org_unit.to_owned(),
            slot.manager.map(employee_id).unwrap_or_default(),
            status.to_owned(),
            groups.join(";"),
            start_date.to_string(),
            leave_date.map(|d| d.to_string()).unwrap_or_default(),
            slot.unit.cost_center.to_owned(),
            (*slot.unit.locations.choose(&mut rng).expect("locations are not empty")).to_owned(),
        ]);
    }

    let mut people_csv = csv::Writer::from_writer(Vec::new());
    write_row(&mut people_csv, PEOPLE_HEADER);
    for row in &rows {
        write_row(&mut people_csv, row);
    }
    let mut groups_csv = csv::Writer::from_writer(Vec::new());
    write_row(&mut groups_csv, &["name", "parents"]);
    for (name, parents) in GROUPS {
        write_row(&mut groups_csv, &[name, parents]);
    }
    SampleOrg { people_csv: into_string(people_csv), groups_csv: into_string(groups_csv) }
}

const PEOPLE_HEADER: &[&str] = &[
    "employee_id",
    "email",
    "given_name",
    "family_name",
    "display_name",
    "department",
    "title",
    "org_unit",
    "manager_id",
    "status",
    "groups",
    "start_date",
    "leave_date",
    "cost_center",
    "location",
];

/// Every group with its parents (`;`-separated), in the groups file's order.
const GROUPS: &[(&str, &str)] = &[
    ("everyone", ""),
    ("managers", ""),
    ("slack-users", ""),
    ("jira-users", ""),
    ("notion-users", ""),
    ("engineering", "slack-users;jira-users"),
    ("platform-team", "engineering"),
    ("apps-team", "engineering"),
    ("sales", "slack-users"),
    ("sales-emea", "sales"),
    ("sales-americas", "sales"),
    ("marketing", "slack-users;notion-users"),
    ("support", "slack-users;jira-users"),
    ("finance", ""),
    ("people-team", "notion-users"),
];

/// Where someone sits; leaders of a department use its top-level unit.
struct Unit {
    org_unit: &'static str,
    department: &'static str,
    group: &'static str,
    cost_center: &'static str,
    /// Percent of the staff below the leadership.
    share: usize,
    lead_title: &'static str,
    titles: &'static [&'static str],
    locations: &'static [&'static str],
}

const EMEA: &[&str] = &["London", "Berlin", "Amsterdam", "Paris", "Remote (EU)"];
const AMERICAS: &[&str] = &["New York", "Austin", "Toronto", "San Francisco", "Remote (US)"];
const ANYWHERE: &[&str] = &["London", "Berlin", "New York", "Austin", "Remote (EU)", "Remote (US)"];

static CEO_UNIT: Unit = Unit {
    org_unit: "/",
    department: "Executive",
    group: "managers",
    cost_center: "CC-0100",
    share: 0,
    lead_title: "Chief Executive Officer",
    titles: &["Chief Executive Officer"],
    locations: &["New York"],
};

static ENGINEERING: Unit = Unit {
    org_unit: "/Engineering",
    department: "Engineering",
    group: "engineering",
    cost_center: "CC-1000",
    share: 0,
    lead_title: "VP Engineering",
    titles: &["VP Engineering"],
    locations: ANYWHERE,
};

static SALES: Unit = Unit {
    org_unit: "/Sales",
    department: "Sales",
    group: "sales",
    cost_center: "CC-2000",
    share: 0,
    lead_title: "VP Sales",
    titles: &["VP Sales"],
    locations: ANYWHERE,
};

/// The units people work in, with the title of their head (department head or sub-unit
/// manager) and whether that head reports to a department head rather than the CEO.
const LEAF_UNITS: &[(Unit, &str, Option<usize>)] = &[
    (
        Unit {
            org_unit: "/Engineering/Platform",
            department: "Engineering",
            group: "platform-team",
            cost_center: "CC-1100",
            share: 20,
            lead_title: "Engineering Manager",
            titles: &[
                "Software Engineer",
                "Senior Software Engineer",
                "Staff Engineer",
                "Site Reliability Engineer",
                "Platform Engineer",
                "Security Engineer",
            ],
            locations: ANYWHERE,
        },
        "Director of Platform Engineering",
        Some(ENGINEERING_HEAD),
    ),
    (
        Unit {
            org_unit: "/Engineering/Apps",
            department: "Engineering",
            group: "apps-team",
            cost_center: "CC-1200",
            share: 22,
            lead_title: "Engineering Manager",
            titles: &[
                "Software Engineer",
                "Senior Software Engineer",
                "Frontend Engineer",
                "Mobile Engineer",
                "Product Designer",
                "QA Engineer",
            ],
            locations: ANYWHERE,
        },
        "Director of Application Engineering",
        Some(ENGINEERING_HEAD),
    ),
    (
        Unit {
            org_unit: "/Sales/EMEA",
            department: "Sales",
            group: "sales-emea",
            cost_center: "CC-2100",
            share: 12,
            lead_title: "Sales Manager",
            titles: &[
                "Account Executive",
                "Senior Account Executive",
                "Sales Development Representative",
                "Solutions Engineer",
                "Account Manager",
            ],
            locations: EMEA,
        },
        "Head of Sales EMEA",
        Some(SALES_HEAD),
    ),
    (
        Unit {
            org_unit: "/Sales/Americas",
            department: "Sales",
            group: "sales-americas",
            cost_center: "CC-2200",
            share: 13,
            lead_title: "Sales Manager",
            titles: &[
                "Account Executive",
                "Senior Account Executive",
                "Sales Development Representative",
                "Solutions Engineer",
                "Account Manager",
            ],
            locations: AMERICAS,
        },
        "Head of Sales Americas",
        Some(SALES_HEAD),
    ),
    (
        Unit {
            org_unit: "/Marketing",
            department: "Marketing",
            group: "marketing",
            cost_center: "CC-3000",
            share: 9,
            lead_title: "Marketing Lead",
            titles: &[
                "Product Marketing Manager",
                "Content Strategist",
                "Growth Marketer",
                "Brand Designer",
                "Events Manager",
            ],
            locations: ANYWHERE,
        },
        "Chief Marketing Officer",
        None,
    ),
    (
        Unit {
            org_unit: "/Finance",
            department: "Finance",
            group: "finance",
            cost_center: "CC-4000",
            share: 6,
            lead_title: "Finance Lead",
            titles: &["Accountant", "Financial Analyst", "Controller", "Payroll Specialist"],
            locations: ANYWHERE,
        },
        "Chief Financial Officer",
        None,
    ),
    (
        Unit {
            org_unit: "/People",
            department: "People",
            group: "people-team",
            cost_center: "CC-5000",
            share: 6,
            lead_title: "People Lead",
            titles: &["Recruiter", "People Partner", "HR Generalist", "Talent Coordinator"],
            locations: ANYWHERE,
        },
        "Head of People",
        None,
    ),
    (
        Unit {
            org_unit: "/Support",
            department: "Support",
            group: "support",
            cost_center: "CC-6000",
            share: 12,
            lead_title: "Support Team Lead",
            titles: &[
                "Support Engineer",
                "Support Specialist",
                "Customer Success Manager",
                "Technical Account Manager",
            ],
            locations: ANYWHERE,
        },
        "Head of Support",
        None,
    ),
];

/// Slot indices of the two department heads that sit above sub-units.
const ENGINEERING_HEAD: usize = 1;
const SALES_HEAD: usize = 2;
/// People in a team before the next one becomes a team lead.
const TEAM_SIZE: usize = 8;

#[derive(Clone, Copy)]
enum Role {
    Leader(&'static str),
    TeamLead,
    Member,
}

struct Slot {
    unit: &'static Unit,
    role: Role,
    manager: Option<usize>,
}

/// Who sits where and reports to whom, before names and dates: leadership first, then each
/// unit's staff, so every manager precedes their reports.
fn plan_slots(people: usize) -> Vec<Slot> {
    let mut slots = vec![
        Slot { unit: &CEO_UNIT, role: Role::Leader("Chief Executive Officer"), manager: None },
        Slot { unit: &ENGINEERING, role: Role::Leader("VP Engineering"), manager: Some(0) },
        Slot { unit: &SALES, role: Role::Leader("VP Sales"), manager: Some(0) },
    ];
    let mut heads = Vec::with_capacity(LEAF_UNITS.len());
    for (unit, head_title, reports_to) in LEAF_UNITS {
        heads.push(slots.len());
        slots.push(Slot { unit, role: Role::Leader(head_title), manager: Some(reports_to.unwrap_or(0)) });
    }
    if people <= slots.len() {
        slots.truncate(people);
        return slots;
    }

    let staff = people - slots.len();
    for ((unit, _, _), (head, count)) in LEAF_UNITS.iter().zip(heads.into_iter().zip(shares(staff))) {
        let mut lead = head;
        for i in 0..count {
            let role = if i > 0 && i % TEAM_SIZE == 0 { Role::TeamLead } else { Role::Member };
            let manager = if matches!(role, Role::TeamLead) { head } else { lead };
            if matches!(role, Role::TeamLead) {
                lead = slots.len();
            }
            slots.push(Slot { unit, role, manager: Some(manager) });
        }
    }
    slots
}

/// Splits `staff` over the leaf units by their share, largest remainders first, so the counts
/// add up exactly.
fn shares(staff: usize) -> Vec<usize> {
    let total: usize = LEAF_UNITS.iter().map(|(u, _, _)| u.share).sum();
    let mut counts: Vec<usize> = LEAF_UNITS.iter().map(|(u, _, _)| staff * u.share / total).collect();
    let mut by_remainder: Vec<usize> = (0..LEAF_UNITS.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(staff * LEAF_UNITS[i].0.share % total));
    let assigned: usize = counts.iter().sum();
    for &i in by_remainder.iter().cycle().take(staff - assigned) {
        counts[i] += 1;
    }
    counts
}

fn employee_id(index: usize) -> String {
    format!("E{:04}", index + 1001)
}

fn unique_email(taken: &mut HashMap<String, usize>, given: &str, family: &str) -> String {
    let local: String = format!("{given}.{family}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let seen = taken.entry(local.clone()).or_insert(0);
    *seen += 1;
    if *seen == 1 { format!("{local}@example.com") } else { format!("{local}{seen}@example.com") }
}

fn write_row<S: AsRef<[u8]>>(writer: &mut csv::Writer<Vec<u8>>, row: &[S]) {
    writer.write_record(row).expect("writing to memory cannot fail");
}

fn into_string(writer: csv::Writer<Vec<u8>>) -> String {
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the sample is built from UTF-8 strings")
}

const GIVEN_NAMES: &[&str] = &[
    "Aisha",
    "Alejandro",
    "Amara",
    "Ana",
    "Anders",
    "Aryan",
    "Beatriz",
    "Ben",
    "Camille",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dmitri",
    "Elena",
    "Emeka",
    "Emma",
    "Fatima",
    "Felix",
    "Freya",
    "Gabriel",
    "Hana",
    "Hiroshi",
    "Ibrahim",
    "Ingrid",
    "Isabel",
    "James",
    "Jin",
    "Julia",
    "Kwame",
    "Laura",
    "Leila",
    "Liam",
    "Lucas",
    "Maya",
    "Mateo",
    "Mei",
    "Mohammed",
    "Nadia",
    "Noah",
    "Nora",
    "Olivia",
    "Omar",
    "Pablo",
    "Priya",
    "Rafael",
    "Ravi",
    "Rosa",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Thomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
];

const FAMILY_NAMES: &[&str] = &[
    "Adeyemi",
    "Andersen",
    "Bauer",
    "Becker",
    "Chen",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fernandez",
    "Fischer",
    "Garcia",
    "Gupta",
    "Haddad",
    "Hansen",
    "Ito",
    "Jansen",
    "Johnson",
    "Kim",
    "Kowalski",
    "Kumar",
    "Laurent",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Mueller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Wang",
    "Weber",
    "Williams",
    "Wong",
    "Yilmaz",
    "Zhang",
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use tenure_core::import::ImportBatch;
    use tenure_core::model::{OrgUnitPath, PersonStatus};
    use time::macros::date;

    use super::*;
    use crate::hr_csv::{CsvFormat, CsvMapping, load};

    const TODAY: Date = date!(2026 - 03 - 02);

    fn batch(people: usize, seed: u64) -> ImportBatch {
        let org = sample_org_as_of(people, seed, TODAY);
        load(org.people_csv.as_bytes(), Some(org.groups_csv.as_bytes()), &CsvMapping::default(), &CsvFormat::default())
            .unwrap()
    }

    /// Everyone who is a member of `group`, directly or through nested groups.
    fn members(batch: &ImportBatch, group: &str) -> usize {
        let mut groups: BTreeSet<&str> = BTreeSet::from([group]);
        loop {
            let before = groups.len();
            for g in &batch.groups {
                if g.parents.iter().any(|p| groups.contains(p.as_str())) {
                    groups.insert(&g.name);
                }
            }
            if groups.len() == before {
                break;
            }
        }
        batch.people.iter().filter(|p| p.groups.iter().any(|g| groups.contains(g.as_str()))).count()
    }

    fn within(batch: &ImportBatch, unit: &str) -> usize {
        let unit = OrgUnitPath::parse(unit).unwrap();
        batch.people.iter().filter(|p| p.org_unit.as_ref().is_some_and(|o| o.is_within(&unit))).count()
    }

    #[test]
    fn three_hundred_people_parse_and_are_consistent() {
        let batch = batch(300, 7);
        assert_eq!(batch.people.len(), 300);

        let keys: HashSet<&str> = batch.people.iter().map(|p| p.source_key.as_str()).collect();
        let emails: HashSet<&str> = batch.people.iter().map(|p| p.user_name.as_str()).collect();
        assert_eq!((keys.len(), emails.len()), (300, 300));
        assert!(batch.people.iter().all(|p| p.email.ends_with("@example.com")));
        for p in &batch.people {
            if let Some(manager) = &p.manager_key {
                assert!(keys.contains(manager.as_str()), "{} reports to unknown {manager}", p.source_key);
                assert_ne!(manager, &p.source_key);
            }
        }
        assert_eq!(batch.people.iter().filter(|p| p.manager_key.is_none()).count(), 1, "only the CEO has no manager");

        let active = batch.people.iter().filter(|p| p.status == PersonStatus::Active).count();
        assert!(active >= 250, "{active} active");
        assert!(active < 300, "some people are suspended");
        assert!(batch.people.iter().any(|p| p.start_date.is_some_and(|d| d > TODAY)), "some start later");
        assert!(batch.people.iter().all(|p| p.custom.contains_key("cost_center") && p.custom.contains_key("location")));

        let parents = |name: &str| batch.groups.iter().find(|g| g.name == name).map(|g| g.parents.clone()).unwrap();
        assert_eq!(parents("platform-team"), vec!["engineering"]);
        assert_eq!(parents("sales-emea"), vec!["sales"]);
        assert!(parents("engineering").contains(&"slack-users".to_owned()));
        assert!(parents("support").contains(&"jira-users".to_owned()));

        assert_eq!(members(&batch, "everyone"), 300);
        let slack = members(&batch, "slack-users");
        let jira = members(&batch, "jira-users");
        let engineering = members(&batch, "engineering");
        let sales = members(&batch, "sales");
        let notion = within(&batch, "/Engineering") + within(&batch, "/Marketing");
        assert!((150..280).contains(&slack), "slack {slack}");
        assert!((90..slack).contains(&jira), "jira {jira}");
        assert!((90..200).contains(&notion), "notion {notion}");
        assert!(engineering > 100 && sales > 60, "engineering {engineering}, sales {sales}");
        assert_eq!(within(&batch, "/Engineering"), engineering, "org unit and group agree");
        assert_eq!(within(&batch, "/Sales"), sales);
        assert!(within(&batch, "/Marketing") > 15);
    }

    #[test]
    fn same_arguments_same_files_and_seeds_differ() {
        assert_eq!(sample_org_as_of(120, 1, TODAY), sample_org_as_of(120, 1, TODAY));
        assert_ne!(sample_org_as_of(120, 1, TODAY).people_csv, sample_org_as_of(120, 2, TODAY).people_csv);
        assert_eq!(sample_org(50, 3).groups_csv, sample_org_as_of(50, 3, TODAY).groups_csv);
    }

    #[test]
    fn small_and_large_organizations_parse() {
        for n in [0, 1, 2, 5, 11, 12, 13, 40] {
            let b = batch(n, 42);
            assert_eq!(b.people.len(), n);
            let keys: HashSet<&str> = b.people.iter().map(|p| p.source_key.as_str()).collect();
            assert!(b.people.iter().filter_map(|p| p.manager_key.as_deref()).all(|m| keys.contains(m)), "{n}");
        }
        let b = batch(5000, 9);
        let emails: HashSet<&str> = b.people.iter().map(|p| p.user_name.as_str()).collect();
        assert_eq!(emails.len(), 5000, "emails are deduplicated with numbers");
        assert!(b.people.iter().any(|p| p.email.contains("2@")));
    }

    #[test]
    fn shares_add_up() {
        for staff in [0, 1, 7, 289, 1000] {
            assert_eq!(shares(staff).iter().sum::<usize>(), staff);
        }
        assert!(shares(289).iter().all(|&c| c > 0));
    }
}
