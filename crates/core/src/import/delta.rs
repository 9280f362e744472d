//! Incremental deliveries: what changed in a source since its last sync.
//!
//! The store keeps the last applied snapshot of every source, so a delta is applied to that
//! snapshot and the result goes through the same path as a full sync (scope, source guard, one
//! transactional import). That keeps a single definition of "who left": whoever is not in the
//! resulting snapshot. A delta that cannot be applied cleanly is an error, never a guess, because
//! a wrong snapshot would deprovision people.

use std::collections::{HashMap, HashSet};

use super::{ImportBatch, ImportGroup, ImportedPerson};

/// Changes since the last sync, in the order a source saw them. People changes apply before
/// group changes, so a group change may name a person the same delta adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportDelta {
    pub people: Vec<PersonChange>,
    pub groups: Vec<GroupChange>,
}

impl ImportDelta {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.groups.is_empty()
    }
}

// Most changes are upserts, so boxing the person would only add an allocation per change.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PersonChange {
    /// The person as the source now has them. `groups: None` keeps their current direct groups
    /// (sources whose person records do not carry memberships).
    Upsert { person: ImportedPerson, groups: Option<Vec<String>> },
    /// Gone from the source (deleted, or out of its reach): the person leaves.
    Remove { source_key: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupChange {
    /// A new or changed group: its parents replace the old ones.
    Upsert(ImportGroup),
    /// Direct person members added, by source key.
    AddMembers { group: String, person_keys: Vec<String> },
    /// Direct person members removed, by source key.
    RemoveMembers { group: String, person_keys: Vec<String> },
    /// The complete list of direct person members, replacing the old one.
    SetMembers { group: String, person_keys: Vec<String> },
    /// The group is gone: its members lose it and groups nested in it lose that parent.
    Remove { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("change #{index} names a person with an empty key")]
    EmptyPersonKey { index: usize },
    #[error("group change #{index} names a group with an empty name")]
    EmptyGroupName { index: usize },
}

impl ImportBatch {
    /// Applies `delta` to this snapshot. Membership changes that name a person the snapshot does
    /// not hold are ignored: such a person is outside the source's sync scope (the snapshot only
    /// holds people in scope), and should they enter it, their upsert carries them in.
    pub fn apply_delta(&mut self, delta: &ImportDelta) -> Result<(), DeltaError> {
        validate(delta)?;
        let mut index: HashMap<String, usize> =
            self.people.iter().enumerate().map(|(i, p)| (p.source_key.clone(), i)).collect();
        let mut removed: HashSet<usize> = HashSet::new();
        for change in &delta.people {
            match change {
                PersonChange::Upsert { person, groups } => {
                    let mut person = person.clone();
                    match index.get(&person.source_key) {
                        Some(&i) => {
                            person.groups = groups.clone().unwrap_or_else(|| self.people[i].groups.clone());
                            self.people[i] = person;
                            removed.remove(&i);
                        }
                        None => {
                            if let Some(groups) = groups {
                                person.groups = groups.clone();
                            }
                            index.insert(person.source_key.clone(), self.people.len());
                            self.people.push(person);
                        }
                    }
                }
                PersonChange::Remove { source_key } => {
                    if let Some(&i) = index.get(source_key) {
                        removed.insert(i);
                    }
                }
            }
        }
        for change in &delta.groups {
            self.apply_group_change(change, &index, &removed);
        }
        if !removed.is_empty() {
            let mut i = 0;
            self.people.retain(|_| {
                let keep = !removed.contains(&i);
                i += 1;
                keep
            });
        }
        Ok(())
    }

    fn apply_group_change(&mut self, change: &GroupChange, index: &HashMap<String, usize>, removed: &HashSet<usize>) {
        let live = |key: &String| index.get(key).copied().filter(|i| !removed.contains(i));
        match change {
            GroupChange::Upsert(group) => match self.groups.iter_mut().find(|g| g.name == group.name) {
                Some(existing) => existing.parents = group.parents.clone(),
                None => self.groups.push(group.clone()),
            },
            GroupChange::AddMembers { group, person_keys } => {
                self.ensure_group(group);
                for i in person_keys.iter().filter_map(live) {
                    let groups = &mut self.people[i].groups;
                    if !groups.contains(group) {
                        groups.push(group.clone());
                    }
                }
            }
            GroupChange::RemoveMembers { group, person_keys } => {
                for i in person_keys.iter().filter_map(live) {
                    self.people[i].groups.retain(|g| g != group);
                }
            }
            GroupChange::SetMembers { group, person_keys } => {
                self.ensure_group(group);
                let members: HashSet<usize> = person_keys.iter().filter_map(live).collect();
                for (i, person) in self.people.iter_mut().enumerate() {
                    let is_member = person.groups.contains(group);
                    if members.contains(&i) && !is_member {
                        person.groups.push(group.clone());
                    } else if !members.contains(&i) && is_member {
                        person.groups.retain(|g| g != group);
                    }
                }
            }
            GroupChange::Remove { name } => {
                self.groups.retain(|g| &g.name != name);
                for g in &mut self.groups {
                    g.parents.retain(|p| p != name);
                }
                for person in &mut self.people {
                    person.groups.retain(|g| g != name);
                }
            }
        }
    }

    fn ensure_group(&mut self, name: &str) {
        if !self.groups.iter().any(|g| g.name == name) {
            self.groups.push(ImportGroup { name: name.to_owned(), parents: Vec::new() });
        }
    }
}

fn validate(delta: &ImportDelta) -> Result<(), DeltaError> {
    for (index, change) in delta.people.iter().enumerate() {
        let key = match change {
            PersonChange::Upsert { person, .. } => &person.source_key,
            PersonChange::Remove { source_key } => source_key,
        };
        if key.trim().is_empty() {
            return Err(DeltaError::EmptyPersonKey { index });
        }
    }
    for (index, change) in delta.groups.iter().enumerate() {
        let name = match change {
            GroupChange::Upsert(g) => &g.name,
            GroupChange::AddMembers { group, .. }
            | GroupChange::RemoveMembers { group, .. }
            | GroupChange::SetMembers { group, .. } => group,
            GroupChange::Remove { name } => name,
        };
        if name.trim().is_empty() {
            return Err(DeltaError::EmptyGroupName { index });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::PersonStatus;

    fn person(key: &str, groups: &[&str]) -> ImportedPerson {
        ImportedPerson {
            source_key: key.into(),
            user_name: format!("{key}@x.com"),
            email: format!("{key}@x.com"),
            given_name: None,
            family_name: None,
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
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn snapshot() -> ImportBatch {
        ImportBatch {
            people: vec![person("ann", &["eng"]), person("bob", &["eng", "sales"]), person("cy", &[])],
            groups: vec![
                ImportGroup { name: "eng".into(), parents: vec!["all".into()] },
                ImportGroup { name: "sales".into(), parents: vec!["all".into()] },
                ImportGroup { name: "all".into(), parents: vec![] },
            ],
        }
    }

    fn groups_of(batch: &ImportBatch, key: &str) -> Vec<String> {
        let mut g = batch.people.iter().find(|p| p.source_key == key).expect("person").groups.clone();
        g.sort();
        g
    }

    #[test]
    fn upsert_keeps_or_replaces_groups_and_remove_drops_the_person() {
        let mut batch = snapshot();
        let mut renamed = person("ann", &[]);
        renamed.email = "ann.new@x.com".into();
        let delta = ImportDelta {
            people: vec![
                PersonChange::Upsert { person: renamed, groups: None },
                PersonChange::Upsert { person: person("bob", &[]), groups: Some(vec!["sales".into()]) },
                PersonChange::Remove { source_key: "cy".into() },
                PersonChange::Upsert { person: person("dee", &[]), groups: Some(vec!["eng".into()]) },
                PersonChange::Remove { source_key: "nobody".into() },
            ],
            groups: vec![],
        };
        batch.apply_delta(&delta).unwrap();
        let keys: Vec<&str> = batch.people.iter().map(|p| p.source_key.as_str()).collect();
        assert_eq!(keys, ["ann", "bob", "dee"]);
        assert_eq!(batch.people[0].email, "ann.new@x.com");
        assert_eq!(groups_of(&batch, "ann"), ["eng"], "groups: None keeps memberships");
        assert_eq!(groups_of(&batch, "bob"), ["sales"]);
        assert_eq!(groups_of(&batch, "dee"), ["eng"]);
    }

    #[test]
    fn a_person_removed_then_upserted_in_one_delta_stays() {
        let mut batch = snapshot();
        let delta = ImportDelta {
            people: vec![
                PersonChange::Remove { source_key: "ann".into() },
                PersonChange::Upsert { person: person("ann", &[]), groups: None },
            ],
            groups: vec![],
        };
        batch.apply_delta(&delta).unwrap();
        assert_eq!(groups_of(&batch, "ann"), ["eng"]);
    }

    #[test]
    fn group_changes_add_remove_set_and_delete() {
        let mut batch = snapshot();
        let delta = ImportDelta {
            people: vec![PersonChange::Upsert { person: person("dee", &[]), groups: None }],
            groups: vec![
                GroupChange::AddMembers {
                    group: "ops".into(),
                    person_keys: vec!["cy".into(), "dee".into(), "x".into()],
                },
                GroupChange::RemoveMembers { group: "eng".into(), person_keys: vec!["bob".into()] },
                GroupChange::SetMembers { group: "sales".into(), person_keys: vec!["ann".into()] },
                GroupChange::Upsert(ImportGroup { name: "ops".into(), parents: vec!["all".into()] }),
                GroupChange::Remove { name: "all".into() },
            ],
        };
        batch.apply_delta(&delta).unwrap();
        assert_eq!(groups_of(&batch, "ann"), ["eng", "sales"]);
        assert!(groups_of(&batch, "bob").is_empty());
        assert_eq!(groups_of(&batch, "cy"), ["ops"]);
        assert_eq!(groups_of(&batch, "dee"), ["ops"]);
        let names: Vec<&str> = batch.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["eng", "sales", "ops"]);
        assert!(batch.groups.iter().all(|g| g.parents.is_empty()), "the deleted parent is gone everywhere");
    }

    #[test]
    fn empty_keys_are_refused_before_anything_changes() {
        let mut batch = snapshot();
        let delta = ImportDelta {
            people: vec![
                PersonChange::Remove { source_key: "ann".into() },
                PersonChange::Remove { source_key: " ".into() },
            ],
            groups: vec![],
        };
        assert_eq!(batch.apply_delta(&delta), Err(DeltaError::EmptyPersonKey { index: 1 }));
        assert_eq!(batch.people.len(), 3);
    }
}
