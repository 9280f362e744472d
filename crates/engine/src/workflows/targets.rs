//! Reassignment targets chosen by organization: `next-in-line` (the first person waiting in the
//! line of the pool that takes the leaver's tier), `next-in-line:department` /
//! `next-in-line:team` (the earliest of that line from the leaver's department or org unit),
//! `group:NAME` / `title:TEXT` (someone of the leaver's department in that directory group, or
//! with that job title, who holds an account in the app or waits for one: the earliest in line
//! first, then by email). Nobody found is a problem the step reports, never a guess.

use std::collections::{HashMap, HashSet};

use tenure_core::licenses::FreedTo;
use tenure_core::{Group, GroupId, Person, PersonId};
use tenure_store::WaitingRow;

use super::model::{TO_GROUP, TO_NEXT_IN_LINE, TO_TITLE};
use crate::license_skip::org_key;

/// A `to` chosen by organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ByOrg {
    /// The line's first, or its earliest of the leaver's department (`Department`) or org unit
    /// (`Team`).
    NextInLine(FreedTo),
    Group(String),
    Title(String),
}

impl ByOrg {
    /// The `to` of a reassignment step, when it names a choice by organization.
    pub fn parse(to: &str) -> Option<Self> {
        match to {
            TO_NEXT_IN_LINE => Some(Self::NextInLine(FreedTo::Line)),
            "next-in-line:department" => Some(Self::NextInLine(FreedTo::Department)),
            "next-in-line:team" => Some(Self::NextInLine(FreedTo::Team)),
            _ => {
                if let Some(name) = to.strip_prefix(TO_GROUP) {
                    Some(Self::Group(name.to_owned()))
                } else {
                    to.strip_prefix(TO_TITLE).map(|t| Self::Title(t.to_owned()))
                }
            }
        }
    }

    /// Whether the choice is made from the pool's line alone.
    pub fn chooses_from_line(&self) -> bool {
        matches!(self, Self::NextInLine(_))
    }
}

/// Whether a person fits a group or a title.
type Fits = Box<dyn Fn(&Person) -> bool>;

/// Who the choice found, and the rule that found them, in words for the audit's reason.
#[derive(Debug, Clone)]
pub(crate) struct Chosen<'a> {
    pub person: &'a Person,
    pub rule: String,
}

/// What the choice looks at.
pub(crate) struct Field<'a> {
    pub people: &'a [Person],
    pub groups: &'a [Group],
    pub leaver: &'a Person,
    /// The pool's line, in order (empty when the app has no pool or nobody waits).
    pub line: &'a [WaitingRow],
    /// People holding an active account in the app, and whether they hold the tier already.
    pub holders: &'a HashMap<PersonId, bool>,
    /// The pool as people read it, for the words.
    pub pool: &'a str,
}

/// Members of a directory group, nested groups' members included (a cycle ends the walk).
fn members_of(groups: &[Group], name: &str) -> Option<HashSet<PersonId>> {
    let start = groups.iter().find(|g| g.name.eq_ignore_ascii_case(name))?;
    let by_id: HashMap<GroupId, &Group> = groups.iter().map(|g| (g.id, g)).collect();
    let mut out = HashSet::new();
    let mut seen = HashSet::from([start.id]);
    let mut todo = vec![start];
    while let Some(g) = todo.pop() {
        out.extend(g.members.iter().copied());
        for child in &g.member_groups {
            if seen.insert(*child)
                && let Some(c) = by_id.get(child)
            {
                todo.push(c);
            }
        }
    }
    Some(out)
}

/// Chooses by `by`, or says precisely why nobody is chosen.
pub(crate) fn choose<'a>(by: &ByOrg, field: &Field<'a>) -> Result<Chosen<'a>, String> {
    let person = |id: PersonId| field.people.iter().find(|p| p.id == id);
    let leaver = field.leaver;
    let waiting: Vec<&'a Person> =
        field.line.iter().filter(|w| w.person_id != leaver.id).filter_map(|w| person(w.person_id)).collect();
    match by {
        ByOrg::NextInLine(FreedTo::Line) => waiting
            .first()
            .map(|p| Chosen {
                person: p,
                rule: format!("next-in-line: the first waiting in the line of {}", field.pool),
            })
            .ok_or_else(|| format!("nobody waits in the line of {}", field.pool)),
        ByOrg::NextInLine(scope) => {
            let what = if *scope == FreedTo::Team { "team (org unit)" } else { "department" };
            let key =
                org_key(leaver, *scope).ok_or_else(|| format!("{} has no {what} in the directory", leaver.email))?;
            waiting
                .iter()
                .find(|p| org_key(p, *scope).as_deref() == Some(key.as_str()))
                .map(|p| Chosen {
                    person: p,
                    rule: format!(
                        "next-in-line:{}: the earliest waiting in the line of {} from {key}",
                        if *scope == FreedTo::Team { "team" } else { "department" },
                        field.pool
                    ),
                })
                .ok_or_else(|| {
                    format!("nobody from {key} ({} of {}) waits in the line of {}", what, leaver.email, field.pool)
                })
        }
        ByOrg::Group(_) | ByOrg::Title(_) => {
            let key = org_key(leaver, FreedTo::Department)
                .ok_or_else(|| format!("{} has no department in the directory", leaver.email))?;
            let (fits, rule): (Fits, String) = match by {
                ByOrg::Group(name) => {
                    let members = members_of(field.groups, name)
                        .ok_or_else(|| format!("no directory group is named {name:?}"))?;
                    (Box::new(move |p: &Person| members.contains(&p.id)), format!("group:{name}"))
                }
                ByOrg::Title(title) => {
                    let title = title.trim().to_lowercase();
                    let rule = format!("title:{title}");
                    (
                        Box::new(move |p: &Person| {
                            p.title.as_deref().is_some_and(|t| t.trim().to_lowercase() == title)
                        }),
                        rule,
                    )
                }
                ByOrg::NextInLine(_) => return Err("next-in-line chooses from the line alone".into()),
            };
            let eligible = |p: &Person| {
                p.id != leaver.id && org_key(p, FreedTo::Department).as_deref() == Some(key.as_str()) && fits(p)
            };
            // The earliest in line first, then account holders who do not hold the tier yet, by email.
            let in_line = waiting.iter().copied().find(|p| eligible(p));
            let holder = || {
                let mut found: Vec<&'a Person> =
                    field.people.iter().filter(|p| field.holders.get(&p.id) == Some(&false) && eligible(p)).collect();
                found.sort_by(|a, b| a.email.cmp(&b.email));
                found.first().copied()
            };
            match in_line.or_else(holder) {
                Some(p) => Ok(Chosen {
                    person: p,
                    rule: format!(
                        "{rule}: {} from {key}, {}",
                        if matches!(by, ByOrg::Group(_)) { "in the group" } else { "with the title" },
                        if in_line.is_some() {
                            "the earliest waiting in line"
                        } else {
                            "the first by email holding an account"
                        }
                    ),
                }),
                None => Err(format!(
                    "nobody from {key} fits {rule} and holds an account in the app without the tier, or waits for one"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_core::{PersonStatus, SourceId};

    fn person(key: &str, department: &str, title: Option<&str>, s: SourceId) -> Person {
        Person {
            id: PersonId::new(),
            source_id: s,
            source_key: key.into(),
            user_name: format!("{key}@x.example"),
            email: format!("{key}@x.example"),
            given_name: None,
            family_name: None,
            display_name: None,
            department: (!department.is_empty()).then(|| department.to_owned()),
            title: title.map(str::to_owned),
            employee_id: None,
            manager_key: None,
            org_unit: None,
            status: PersonStatus::Active,
            start_date: None,
            leave_date: None,
            custom: Default::default(),
        }
    }

    fn waiting(p: &Person, at: i64) -> WaitingRow {
        WaitingRow {
            app_id: tenure_core::AppId::new(),
            tier: None,
            person_id: p.id,
            email: p.email.clone(),
            since_ms: at,
        }
    }

    #[test]
    fn choices_by_organization_are_deterministic_and_say_why_nobody_fits() {
        let s = SourceId::new();
        let people = vec![
            person("ann", "Sales", None, s),
            person("ops1", "Ops", None, s),
            person("sal2", "sales", Some("Account Executive"), s),
            person("sal1", "Sales", Some("account executive"), s),
            person("zed", "Sales", Some("Account Executive"), s),
        ];
        let (ann, ops1, sal2, sal1, zed) = (&people[0], &people[1], &people[2], &people[3], &people[4]);
        let line = vec![waiting(ops1, 1), waiting(sal2, 2)];
        let holders = HashMap::from([(zed.id, false), (sal1.id, true)]);
        let groups = vec![Group {
            id: GroupId::new(),
            source_id: s,
            name: "AEs".into(),
            members: vec![zed.id, sal1.id],
            member_groups: vec![],
        }];
        let field =
            Field { people: &people, groups: &groups, leaver: ann, line: &line, holders: &holders, pool: "crm" };
        let pick = |by: ByOrg| choose(&by, &field).map(|c| c.person.email.clone());
        assert_eq!(pick(ByOrg::NextInLine(FreedTo::Line)).unwrap(), ops1.email);
        assert_eq!(pick(ByOrg::NextInLine(FreedTo::Department)).unwrap(), sal2.email, "skips ops1");
        assert!(pick(ByOrg::NextInLine(FreedTo::Team)).unwrap_err().contains("no team (org unit)"));
        assert_eq!(pick(ByOrg::Title("Account Executive".into())).unwrap(), sal2.email, "in line first");
        // sal1 holds the tier already: zed, by email.
        assert_eq!(pick(ByOrg::Group("aes".into())).unwrap(), zed.email);
        assert!(pick(ByOrg::Group("nobody".into())).unwrap_err().contains("no directory group"));
        let empty = Field { line: &[], ..field };
        assert!(
            choose(&ByOrg::NextInLine(FreedTo::Line), &empty).unwrap_err().contains("nobody waits in the line of crm")
        );
    }
}
