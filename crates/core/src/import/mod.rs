//! What a directory source delivers: a complete snapshot of its people and groups, before Tenure
//! gives them ids. Sources produce it; the store applies it.

mod delta;

use std::collections::BTreeMap;

use time::Date;

use crate::model::{OrgUnitPath, PersonStatus};

pub use delta::{DeltaError, GroupChange, ImportDelta, PersonChange};

/// One person as a source delivers them, before Tenure gives them an id.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPerson {
    pub source_key: String,
    pub user_name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub employee_id: Option<String>,
    pub manager_key: Option<String>,
    pub org_unit: Option<OrgUnitPath>,
    pub status: PersonStatus,
    pub start_date: Option<Date>,
    pub leave_date: Option<Date>,
    pub custom: BTreeMap<String, String>,
    /// Names of the groups the person is a direct member of.
    pub groups: Vec<String>,
}

impl ImportedPerson {
    /// The person as the directory stores them, with the id and source Tenure gives them.
    pub fn to_person(&self, id: crate::PersonId, source_id: crate::SourceId) -> crate::model::Person {
        crate::model::Person {
            id,
            source_id,
            source_key: self.source_key.clone(),
            user_name: self.user_name.clone(),
            email: self.email.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            display_name: self.display_name.clone(),
            department: self.department.clone(),
            title: self.title.clone(),
            employee_id: self.employee_id.clone(),
            manager_key: self.manager_key.clone(),
            org_unit: self.org_unit.clone(),
            status: self.status,
            start_date: self.start_date,
            leave_date: self.leave_date,
            custom: self.custom.clone(),
        }
    }
}

/// A group and the groups it is nested in.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportGroup {
    pub name: String,
    pub parents: Vec<String>,
}

/// A complete snapshot of a source: whoever is not in it has left.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub people: Vec<ImportedPerson>,
    pub groups: Vec<ImportGroup>,
}

/// Which of a source's people enter Tenure. Everyone else is treated as not in the source: a
/// person who leaves the scope leaves, and their accounts go with the reason "left the directory".
/// Empty lists do not restrict; an exclusion wins over an inclusion.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncScope {
    /// Org units, each with its subtree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_org_units: Vec<OrgUnitPath>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_org_units: Vec<OrgUnitPath>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_departments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_departments: Vec<String>,
    /// Group names; members of groups nested in them count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_groups: Vec<String>,
    /// A condition over the person's attributes, in the rule language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<crate::expr::Rule>,
}

impl SyncScope {
    pub fn is_unrestricted(&self) -> bool {
        *self == SyncScope::default()
    }

    /// Keeps the people in scope; returns how many were left out.
    pub fn apply(&self, batch: &mut ImportBatch) -> usize {
        if self.is_unrestricted() {
            return 0;
        }
        let ancestors = group_ancestors(&batch.groups);
        let before = batch.people.len();
        batch.people.retain(|p| self.admits(p, &ancestors));
        before - batch.people.len()
    }

    fn admits(&self, person: &ImportedPerson, ancestors: &BTreeMap<&str, Vec<&str>>) -> bool {
        let in_unit =
            |units: &[OrgUnitPath]| person.org_unit.as_ref().is_some_and(|u| units.iter().any(|o| u.is_within(o)));
        let in_department = |names: &[String]| {
            person.department.as_deref().is_some_and(|d| names.iter().any(|n| n.eq_ignore_ascii_case(d)))
        };
        let in_group = |names: &[String]| {
            person.groups.iter().any(|g| {
                let within =
                    |n: &String| n == g || ancestors.get(g.as_str()).is_some_and(|up| up.contains(&n.as_str()));
                names.iter().any(within)
            })
        };
        let included = (self.include_org_units.is_empty() || in_unit(&self.include_org_units))
            && (self.include_departments.is_empty() || in_department(&self.include_departments))
            && (self.include_groups.is_empty() || in_group(&self.include_groups));
        let excluded = in_unit(&self.exclude_org_units)
            || in_department(&self.exclude_departments)
            || in_group(&self.exclude_groups);
        included && !excluded && self.condition.as_ref().is_none_or(|rule| rule.matches(person))
    }
}

/// Every group's ancestors (the groups it is nested in, transitively). Cycles are tolerated.
fn group_ancestors(groups: &[ImportGroup]) -> BTreeMap<&str, Vec<&str>> {
    let parents: BTreeMap<&str, Vec<&str>> =
        groups.iter().map(|g| (g.name.as_str(), g.parents.iter().map(String::as_str).collect())).collect();
    let mut all = BTreeMap::new();
    for g in groups {
        let mut seen: Vec<&str> = Vec::new();
        let mut stack: Vec<&str> = parents.get(g.name.as_str()).cloned().unwrap_or_default();
        while let Some(p) = stack.pop() {
            if seen.contains(&p) {
                continue;
            }
            seen.push(p);
            stack.extend(parents.get(p).into_iter().flatten().copied());
        }
        all.insert(g.name.as_str(), seen);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(key: &str, unit: &str, department: &str, groups: &[&str]) -> ImportedPerson {
        ImportedPerson {
            source_key: key.into(),
            user_name: format!("{key}@x.com"),
            email: format!("{key}@x.com"),
            given_name: None,
            family_name: None,
            display_name: None,
            department: Some(department.into()),
            title: None,
            employee_id: None,
            manager_key: None,
            org_unit: Some(OrgUnitPath::parse(unit).expect("unit")),
            status: crate::model::PersonStatus::Active,
            start_date: None,
            leave_date: None,
            custom: BTreeMap::new(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn kept(scope: &SyncScope) -> Vec<String> {
        let mut batch = ImportBatch {
            people: vec![
                person("ann", "/Eng/Platform", "Engineering", &["platform"]),
                person("bob", "/Eng/Contractors", "Engineering", &[]),
                person("cy", "/Sales", "Sales", &["sales"]),
                person("dee", "/Sales", "Sales", &["interns"]),
            ],
            groups: vec![
                ImportGroup { name: "platform".into(), parents: vec!["engineering".into()] },
                ImportGroup { name: "engineering".into(), parents: vec!["everyone".into()] },
                ImportGroup { name: "everyone".into(), parents: vec!["platform".into()] }, // a cycle
                ImportGroup { name: "sales".into(), parents: vec![] },
                ImportGroup { name: "interns".into(), parents: vec![] },
            ],
        };
        scope.apply(&mut batch);
        batch.people.into_iter().map(|p| p.source_key).collect()
    }

    #[test]
    fn scope_rules_include_exclude_and_nest() {
        assert_eq!(kept(&SyncScope::default()), ["ann", "bob", "cy", "dee"]);
        let eng = OrgUnitPath::parse("/Eng").unwrap();
        let contractors = OrgUnitPath::parse("/Eng/Contractors").unwrap();
        let by_unit =
            SyncScope { include_org_units: vec![eng], exclude_org_units: vec![contractors], ..Default::default() };
        assert_eq!(kept(&by_unit), ["ann"]);
        let by_group = SyncScope { include_groups: vec!["everyone".into()], ..Default::default() };
        assert_eq!(kept(&by_group), ["ann"], "platform is nested in engineering, nested in everyone");
        let by_department = SyncScope {
            include_departments: vec!["sales".into()],
            exclude_groups: vec!["interns".into()],
            ..Default::default()
        };
        assert_eq!(kept(&by_department), ["cy"]);
        let by_rule = SyncScope {
            condition: Some(crate::expr::Rule::parse(r#"orgUnit starts_with "/Eng""#).unwrap()),
            ..Default::default()
        };
        assert_eq!(kept(&by_rule), ["ann", "bob"]);
    }
}
