//! One app's assignments, compiled: who they grant the app to, who they exclude, and with which
//! parameters. Works for everyone at once (a full plan) and for one person (an incremental plan,
//! `explain`), and both give the same answer.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::ids::*;
use crate::model::*;
use crate::plan::{Grant, Revocation};
use crate::reconcile::DirectoryIndex;

/// Which assignment covers a person and, for a group, which chain of nested groups leads there.
/// Two integers, so holding one per person per app is cheap; spelled out as a [`Grant`] only
/// for the people an operation is planned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GrantRef {
    pub assignment: u32,
    pub chain: u32,
}

/// A group assignment's subtree: each group under the assigned one, in breadth-first order, with
/// the chain of nested groups that leads to it.
struct Subtree {
    /// Group → (position in breadth-first order, chain).
    position: HashMap<GroupId, (u32, u32)>,
    /// Groups in breadth-first order, each with its chain.
    visits: Vec<(GroupId, u32)>,
}

pub struct AppPolicy<'x> {
    assignments: &'x [Assignment],
    /// Granting assignments, most specific first (person, group, org unit, rule), so the
    /// explanation names the most specific one.
    grants: Vec<u32>,
    exclusions: Vec<u32>,
    subtrees: HashMap<u32, Subtree>,
    chains: Vec<Vec<String>>,
    with_params: Vec<u32>,
}

fn rank(target: &AssignmentTarget) -> u8 {
    match target {
        AssignmentTarget::Person(_) => 0,
        AssignmentTarget::Group(_) => 1,
        AssignmentTarget::OrgUnit(_) => 2,
        AssignmentTarget::Rule(_) => 3,
    }
}

impl<'x> AppPolicy<'x> {
    pub fn new(dir: &DirectoryIndex<'_>, app: &App, assignments: &'x [Assignment]) -> Self {
        Self::compile(dir, assignments, |a| a.app_id == app.id)
    }

    /// All of `assignments`, whatever app they name.
    pub fn of(dir: &DirectoryIndex<'_>, assignments: &'x [Assignment]) -> Self {
        Self::compile(dir, assignments, |_| true)
    }

    fn compile(dir: &DirectoryIndex<'_>, assignments: &'x [Assignment], keep: impl Fn(&Assignment) -> bool) -> Self {
        let mut ordered: Vec<u32> = (0..assignments.len() as u32).filter(|&i| keep(&assignments[i as usize])).collect();
        ordered.sort_by_key(|&i| rank(&assignments[i as usize].target));
        let (exclusions, grants): (Vec<u32>, Vec<u32>) =
            ordered.iter().partition(|&&i| assignments[i as usize].exclude);
        let with_params = grants.iter().copied().filter(|&i| !assignments[i as usize].params.is_empty()).collect();
        let mut policy =
            Self { assignments, grants, exclusions, subtrees: HashMap::new(), chains: vec![Vec::new()], with_params };
        for i in ordered {
            if let AssignmentTarget::Group(root) = &assignments[i as usize].target {
                let subtree = policy.walk(dir, *root);
                policy.subtrees.insert(i, subtree);
            }
        }
        policy
    }

    /// Breadth first, so each person is explained by the shortest chain of nested groups.
    /// Cycles are tolerated: each group is visited once.
    fn walk(&mut self, dir: &DirectoryIndex<'_>, root: GroupId) -> Subtree {
        let mut seen = HashSet::from([root]);
        let mut queue = VecDeque::from([(root, 0u32)]);
        let mut subtree = Subtree { position: HashMap::new(), visits: Vec::new() };
        while let Some((gid, chain)) = queue.pop_front() {
            let Some(group) = dir.groups.get(&gid) else { continue };
            subtree.position.insert(gid, (subtree.visits.len() as u32, chain));
            subtree.visits.push((gid, chain));
            for child in &group.member_groups {
                if seen.insert(*child) {
                    let mut next = self.chains[chain as usize].clone();
                    next.push(dir.group_name(*child));
                    self.chains.push(next);
                    queue.push_back((*child, (self.chains.len() - 1) as u32));
                }
            }
        }
        subtree
    }

    /// Whether one assignment covers a person. `ordinal` is the person's place in the index, if
    /// they are in it (their group memberships come from there); `person` may be newer than the
    /// index's copy, as when planning one changed person.
    fn covers(&self, dir: &DirectoryIndex<'_>, index: u32, person: &Person, ordinal: Option<u32>) -> Option<u32> {
        match &self.assignments[index as usize].target {
            AssignmentTarget::Person(id) => (*id == person.id).then_some(0),
            AssignmentTarget::Group(_) => {
                let subtree = self.subtrees.get(&index)?;
                let direct = dir.groups_of.get(ordinal? as usize)?;
                direct.iter().filter_map(|g| subtree.position.get(g)).min().map(|&(_, chain)| chain)
            }
            AssignmentTarget::OrgUnit(path) => match &person.org_unit {
                Some(unit) => unit.is_within(path).then_some(0),
                // The root is the whole organization, people the source gave no unit included.
                None => (path.as_str() == "/").then_some(0),
            },
            AssignmentTarget::Rule(rule) => rule.matches(person).then_some(0),
        }
    }

    fn first_covering(
        &self,
        list: &[u32],
        dir: &DirectoryIndex<'_>,
        person: &Person,
        ordinal: Option<u32>,
    ) -> Option<GrantRef> {
        list.iter().find_map(|&i| self.covers(dir, i, person, ordinal).map(|chain| GrantRef { assignment: i, chain }))
    }

    /// The assignment that grants the app to one person, if any.
    pub(crate) fn grant_for(
        &self,
        dir: &DirectoryIndex<'_>,
        person: &Person,
        ordinal: Option<u32>,
    ) -> Option<GrantRef> {
        self.first_covering(&self.grants, dir, person, ordinal)
    }

    /// The exclusion that keeps the app from one person, if any.
    pub(crate) fn exclusion_for(
        &self,
        dir: &DirectoryIndex<'_>,
        person: &Person,
        ordinal: Option<u32>,
    ) -> Option<GrantRef> {
        self.first_covering(&self.exclusions, dir, person, ordinal)
    }

    /// Every assignment that covers one person, for explanations: (grants, exclusions).
    pub fn covering(&self, dir: &DirectoryIndex<'_>, person: &Person) -> (Vec<Grant>, Vec<Grant>) {
        let ordinal = dir.ordinal_of(person.id);
        let all = |list: &[u32]| -> Vec<Grant> {
            list.iter()
                .filter_map(|&i| {
                    self.covers(dir, i, person, ordinal)
                        .map(|chain| self.spell_out(dir, GrantRef { assignment: i, chain }))
                })
                .collect()
        };
        (all(&self.grants), all(&self.exclusions))
    }

    /// The parameters a person's account carries: for each, the most specific granting
    /// assignment that sets it.
    pub(crate) fn params_for(
        &self,
        dir: &DirectoryIndex<'_>,
        person: &Person,
        ordinal: Option<u32>,
    ) -> AssignmentParams {
        let mut params = AssignmentParams::default();
        for &i in &self.with_params {
            if self.covers(dir, i, person, ordinal).is_none() {
                continue;
            }
            let given = &self.assignments[i as usize].params;
            if params.role.is_none() {
                params.role.clone_from(&given.role);
            }
            if params.license.is_none() {
                params.license.clone_from(&given.license);
            }
            for g in &given.groups {
                if !params.groups.contains(g) {
                    params.groups.push(g.clone());
                }
            }
        }
        params.groups.sort();
        params
    }

    /// The app groups Tenure manages: every group an assignment names. Members of these groups
    /// whose accounts Tenure manages are kept in step; other groups are never touched.
    pub(crate) fn managed_groups(&self) -> Vec<&'x str> {
        let mut names: Vec<&str> = self
            .with_params
            .iter()
            .flat_map(|&i| self.assignments[i as usize].params.groups.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Why an account granted by assignment `id` lost it, given that nothing grants it now:
    /// the assignment is gone (unassigned), its group is gone (group deleted), or it no longer
    /// covers the person (moved out of scope, with the grant they had).
    pub(crate) fn lost_grant(&self, dir: &DirectoryIndex<'_>, id: Option<AssignmentId>) -> (Revocation, Option<Grant>) {
        let Some(index) =
            id.and_then(|id| self.grants.iter().copied().find(|&i| self.assignments[i as usize].id == id))
        else {
            return (Revocation::Unassigned, None);
        };
        match &self.assignments[index as usize].target {
            AssignmentTarget::Group(gid) if !dir.groups.contains_key(gid) => (Revocation::GroupDeleted, None),
            _ => (Revocation::MovedOutOfScope, Some(self.spell_out(dir, GrantRef { assignment: index, chain: 0 }))),
        }
    }

    pub(crate) fn has_params(&self) -> bool {
        !self.with_params.is_empty()
    }

    /// Grants and exclusions for everyone in the index, by ordinal. Equal to asking
    /// [`AppPolicy::grant_for`] person by person, but walks each group once.
    pub(crate) fn everyone(&self, dir: &DirectoryIndex<'_>) -> (Vec<Option<GrantRef>>, Vec<Option<GrantRef>>) {
        (self.fill(dir, &self.grants), self.fill(dir, &self.exclusions))
    }

    fn fill(&self, dir: &DirectoryIndex<'_>, list: &[u32]) -> Vec<Option<GrantRef>> {
        let mut by_person: Vec<Option<GrantRef>> = vec![None; dir.people.len()];
        for &index in list {
            let mut grant = |ordinal: u32, chain: u32| {
                let slot = &mut by_person[ordinal as usize];
                if slot.is_none() {
                    *slot = Some(GrantRef { assignment: index, chain });
                }
            };
            match &self.assignments[index as usize].target {
                AssignmentTarget::Person(pid) => {
                    if let Some(o) = dir.ordinal_of(*pid) {
                        grant(o, 0);
                    }
                }
                AssignmentTarget::Group(_) => {
                    let Some(subtree) = self.subtrees.get(&index) else { continue };
                    for &(gid, chain) in &subtree.visits {
                        let Some(group) = dir.groups.get(&gid) else { continue };
                        for member in &group.members {
                            if let Some(o) = dir.ordinal_of(*member) {
                                grant(o, chain);
                            }
                        }
                    }
                }
                AssignmentTarget::OrgUnit(path) => {
                    for (unit, members) in &dir.by_org_unit {
                        let inside = match unit {
                            Some(ou) => ou.is_within(path),
                            None => path.as_str() == "/",
                        };
                        if inside {
                            for &o in members {
                                grant(o, 0);
                            }
                        }
                    }
                }
                AssignmentTarget::Rule(rule) => {
                    for (o, person) in dir.people.iter().enumerate() {
                        if rule.matches(*person) {
                            grant(o as u32, 0);
                        }
                    }
                }
            }
        }
        by_person
    }

    /// Who the assignments grant the app to (exclusions applied), each with the grant.
    pub fn granted(&self, dir: &DirectoryIndex<'_>) -> std::collections::HashMap<PersonId, Grant> {
        let (grants, exclusions) = self.everyone(dir);
        grants
            .iter()
            .zip(&exclusions)
            .enumerate()
            .filter_map(|(o, (g, x))| match (g, x) {
                (Some(g), None) => Some((dir.people[o].id, self.spell_out(dir, *g))),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn spell_out(&self, dir: &DirectoryIndex<'_>, r: GrantRef) -> Grant {
        let assignment = &self.assignments[r.assignment as usize];
        match &assignment.target {
            AssignmentTarget::Person(_) => Grant::Person { assignment: assignment.id },
            AssignmentTarget::Group(gid) => Grant::Group {
                assignment: assignment.id,
                group: dir.group_name(*gid),
                through: self.chains.get(r.chain as usize).cloned().unwrap_or_default(),
            },
            AssignmentTarget::OrgUnit(path) => Grant::OrgUnit { assignment: assignment.id, org_unit: path.clone() },
            AssignmentTarget::Rule(rule) => Grant::Rule { assignment: assignment.id, rule: rule.to_string() },
        }
    }
}
