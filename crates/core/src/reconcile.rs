//! The reconciler: directory + policy + observed accounts → plan. Pure: no I/O, no clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use time::Date;

use crate::attributes::{self, Attributes};
use crate::ids::*;
use crate::model::*;
use crate::plan::*;

/// Desired attributes by person ordinal; `None` for people who left the directory.
type DesiredByOrdinal = Vec<Option<Arc<Attributes>>>;

/// The directory, indexed once so that planning many apps does not redo the work. People get a
/// dense ordinal in the order plans list them (by email, then id), so per-app grants are a plain
/// vector rather than a hash map of a million entries.
pub struct DirectoryIndex<'a> {
    people: Vec<&'a Person>,
    ordinal: HashMap<PersonId, u32>,
    groups: HashMap<GroupId, &'a Group>,
    /// People per org unit (`None`: the source gave them none), for org-unit assignments.
    by_org_unit: Vec<(Option<&'a OrgUnitPath>, Vec<u32>)>,
    /// Desired attributes per userName format, by ordinal, computed on first use: most apps
    /// share a format, so fifty apps cost one mapping per person, not fifty.
    desired: Mutex<HashMap<UserNameFormat, Arc<DesiredByOrdinal>>>,
}

/// Which assignment grants a person an app and, for a group, which chain of nested groups leads
/// there. Two integers, so holding one per person per app is cheap; spelled out as a [`Grant`]
/// only for the people an operation is planned for.
#[derive(Debug, Clone, Copy)]
struct GrantRef {
    assignment: u32,
    chain: u32,
}

/// One app's grants, by person ordinal.
struct Grants<'x> {
    by_person: Vec<Option<GrantRef>>,
    chains: Vec<Vec<String>>,
    assignments: &'x [Assignment],
}

impl Grants<'_> {
    fn spell_out(&self, dir: &DirectoryIndex<'_>, r: GrantRef) -> Grant {
        let assignment = &self.assignments[r.assignment as usize];
        match &assignment.target {
            AssignmentTarget::Person(_) => Grant::Person { assignment: assignment.id },
            AssignmentTarget::Group(gid) => Grant::Group {
                assignment: assignment.id,
                group: dir.groups.get(gid).map(|g| g.name.clone()).unwrap_or_default(),
                through: self.chains.get(r.chain as usize).cloned().unwrap_or_default(),
            },
            AssignmentTarget::OrgUnit(path) => Grant::OrgUnit { assignment: assignment.id, org_unit: path.clone() },
        }
    }
}

impl<'a> DirectoryIndex<'a> {
    pub fn new(people: &'a [Person], groups: &'a [Group]) -> Self {
        let mut sorted: Vec<&Person> = people.iter().collect();
        sorted.sort_by(|a, b| a.email.cmp(&b.email).then(a.id.cmp(&b.id)));
        let ordinal: HashMap<PersonId, u32> = sorted.iter().enumerate().map(|(i, p)| (p.id, i as u32)).collect();
        let mut units: HashMap<Option<&OrgUnitPath>, Vec<u32>> = HashMap::new();
        for (i, p) in sorted.iter().enumerate() {
            units.entry(p.org_unit.as_ref()).or_default().push(i as u32);
        }
        Self {
            people: sorted,
            ordinal,
            groups: groups.iter().map(|g| (g.id, g)).collect(),
            by_org_unit: units.into_iter().collect(),
            desired: Mutex::new(HashMap::new()),
        }
    }

    /// The default-mapped attributes of everyone still in the directory, for one userName format.
    fn desired_attributes(&self, format: UserNameFormat) -> Arc<DesiredByOrdinal> {
        // A poisoned lock only means another planner panicked while computing an entry, which
        // is then absent, never half-written: the map is still good.
        let mut cache = self.desired.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cache.entry(format).or_insert_with(|| {
            Arc::new(
                self.people
                    .iter()
                    .map(|p| {
                        (p.status != PersonStatus::Deleted).then(|| Arc::new(attributes::default_mapping(p, format)))
                    })
                    .collect(),
            )
        }))
    }

    pub fn person(&self, id: PersonId) -> Option<&'a Person> {
        self.ordinal.get(&id).map(|&o| self.people[o as usize])
    }

    fn ordinal_of(&self, id: PersonId) -> Option<u32> {
        self.ordinal.get(&id).copied()
    }

    /// Who an app's assignments grant it to, and by which assignment (the first that applies, in
    /// the order person, group, org unit, so the explanation names the most specific one).
    pub fn grants(&self, assignments: &[Assignment]) -> HashMap<PersonId, Grant> {
        let grants = self.grant_refs(assignments);
        grants
            .by_person
            .iter()
            .enumerate()
            .filter_map(|(o, r)| r.map(|r| (self.people[o].id, grants.spell_out(self, r))))
            .collect()
    }

    fn grant_refs<'x>(&self, assignments: &'x [Assignment]) -> Grants<'x> {
        let mut grants = Grants { by_person: vec![None; self.people.len()], chains: vec![Vec::new()], assignments };
        let rank = |t: &AssignmentTarget| match t {
            AssignmentTarget::Person(_) => 0,
            AssignmentTarget::Group(_) => 1,
            AssignmentTarget::OrgUnit(_) => 2,
        };
        let mut ordered: Vec<usize> = (0..assignments.len()).collect();
        ordered.sort_by_key(|&i| rank(&assignments[i].target));
        for index in ordered {
            let mut grant = |ordinal: u32, chain: u32| {
                let slot = &mut grants.by_person[ordinal as usize];
                if slot.is_none() {
                    *slot = Some(GrantRef { assignment: index as u32, chain });
                }
            };
            match &assignments[index].target {
                AssignmentTarget::Person(pid) => {
                    if let Some(o) = self.ordinal_of(*pid) {
                        grant(o, 0);
                    }
                }
                AssignmentTarget::Group(root) => {
                    // Breadth first, so each person is explained by the shortest chain of nested
                    // groups. Cycles are tolerated: each group is visited once.
                    let mut seen = HashSet::from([*root]);
                    let mut queue = VecDeque::from([(*root, 0u32)]);
                    let mut visits = Vec::new();
                    while let Some((gid, chain)) = queue.pop_front() {
                        let Some(group) = self.groups.get(&gid) else { continue };
                        visits.push((group, chain));
                        for child in &group.member_groups {
                            if seen.insert(*child) {
                                let mut next = grants.chains[chain as usize].clone();
                                if let Some(g) = self.groups.get(child) {
                                    next.push(g.name.clone());
                                }
                                grants.chains.push(next);
                                queue.push_back((*child, (grants.chains.len() - 1) as u32));
                            }
                        }
                    }
                    let mut grant = |ordinal: u32, chain: u32| {
                        let slot = &mut grants.by_person[ordinal as usize];
                        if slot.is_none() {
                            *slot = Some(GrantRef { assignment: index as u32, chain });
                        }
                    };
                    for (group, chain) in visits {
                        for member in &group.members {
                            if let Some(o) = self.ordinal_of(*member) {
                                grant(o, chain);
                            }
                        }
                    }
                }
                AssignmentTarget::OrgUnit(path) => {
                    for (unit, members) in &self.by_org_unit {
                        // The root is the whole organization, people the source gave no unit included.
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
            }
        }
        grants
    }
}

/// Why a person may not hold accounts today, if anything stops them.
pub fn ineligibility(person: &Person, today: Date) -> Option<Revocation> {
    match person.status {
        PersonStatus::Deleted => return Some(Revocation::LeftDirectory),
        PersonStatus::Suspended => return Some(Revocation::Suspended),
        PersonStatus::Active => {}
    }
    if person.leave_date.is_some_and(|d| d <= today) {
        return Some(Revocation::LeaveDatePassed);
    }
    if person.start_date.is_some_and(|d| d > today) {
        return Some(Revocation::NotStartedYet);
    }
    None
}

/// One app's side of the reconciliation.
pub struct AppState<'a> {
    pub app: &'a App,
    pub assignments: &'a [Assignment],
    pub links: &'a [AccountLink],
    pub observed: &'a [RemoteAccount],
}

type AccountIndex<'a> = HashMap<String, Vec<&'a RemoteAccount>>;

/// Finds unlinked app accounts by the keys a person would be known by, in order of trust.
struct Matcher<'a> {
    by_external_id: AccountIndex<'a>,
    by_user_name: AccountIndex<'a>,
    by_email: AccountIndex<'a>,
}

impl<'a> Matcher<'a> {
    fn new(unlinked: &[&'a RemoteAccount]) -> Self {
        let mut m = Self { by_external_id: HashMap::new(), by_user_name: HashMap::new(), by_email: HashMap::new() };
        for account in unlinked {
            if let Some(x) = account.external_id() {
                m.by_external_id.entry(x.to_lowercase()).or_default().push(account);
            }
            m.by_user_name.entry(account.user_name().to_lowercase()).or_default().push(account);
            if let Some(e) = account.email() {
                m.by_email.entry(e.to_lowercase()).or_default().push(account);
            }
        }
        m
    }

    /// Pairs people with unlinked accounts, strongest key first (externalId, then userName, then
    /// email; case-insensitive). A pairing needs the key value to name exactly one account *and*
    /// exactly one person of `directory`: a value two people share (two truncated userNames) or
    /// two accounts share identifies neither, and a person whose key is ambiguous on the app's
    /// side is not matched at all. Linking the wrong account is worse than linking none. Only
    /// people in `wanted` are paired; everyone in `directory` counts for ambiguity.
    fn correlate(
        &self,
        directory: &[(&'a Person, [String; 3])],
        wanted: &HashSet<PersonId>,
    ) -> HashMap<PersonId, (&'a RemoteAccount, &'static str)> {
        let indexes: [(&AccountIndex<'a>, &'static str); 3] =
            [(&self.by_external_id, "externalId"), (&self.by_user_name, "userName"), (&self.by_email, "email")];
        let mut paired: HashMap<PersonId, (&'a RemoteAccount, &'static str)> = HashMap::new();
        let mut claimed: HashSet<&str> = HashSet::new();
        let mut unresolved: HashSet<PersonId> = HashSet::new();
        for (k, (index, key_name)) in indexes.into_iter().enumerate() {
            let mut people_per_value: HashMap<&str, usize> = HashMap::new();
            for (_, keys) in directory {
                *people_per_value.entry(keys[k].as_str()).or_default() += 1;
            }
            for (person, keys) in directory {
                if !wanted.contains(&person.id) || paired.contains_key(&person.id) || unresolved.contains(&person.id) {
                    continue;
                }
                let value = keys[k].as_str();
                if value.is_empty() || people_per_value.get(value) != Some(&1) {
                    continue;
                }
                match index.get(value).map(Vec::as_slice) {
                    Some([only]) if claimed.insert(only.remote_id.as_str()) => {
                        paired.insert(person.id, (*only, key_name));
                    }
                    Some([_, _, ..]) => {
                        unresolved.insert(person.id);
                    }
                    _ => {}
                }
            }
        }
        paired
    }
}

/// The values a person is matched on, in the matcher's key order, lowercased.
fn match_keys(person: &Person, user_name: UserNameFormat) -> [String; 3] {
    [
        person.id.to_string().to_lowercase(),
        attributes::derive_user_name(person, user_name).to_lowercase(),
        person.email.to_lowercase(),
    ]
}

/// Plans one app. Deterministic: the same inputs give the same plan, ops in a stable order.
pub fn plan_app(dir: &DirectoryIndex<'_>, state: &AppState<'_>, today: Date) -> Plan {
    let app = state.app;
    let grants = dir.grant_refs(state.assignments);
    // Observed accounts by remote id, as positions into `state.observed`.
    let observed: HashMap<&str, usize> =
        state.observed.iter().enumerate().map(|(i, a)| (a.remote_id.as_str(), i)).collect();
    // Links whose account still exists in the app, each with that account. A link to a vanished
    // account is ignored, so a person still assigned gets a new account.
    let mut is_linked = vec![false; state.observed.len()];
    let live_links: Vec<(&AccountLink, &RemoteAccount)> = state
        .links
        .iter()
        .filter(|l| l.app_id == app.id)
        .filter_map(|l| {
            let i = *observed.get(l.remote_id.as_str())?;
            is_linked[i] = true;
            Some((l, &state.observed[i]))
        })
        .collect();
    // By person ordinal; a person with two live links keeps the last (see the notes on #4).
    let link_ordinals: Vec<Option<u32>> = live_links.iter().map(|(l, _)| dir.ordinal_of(l.person_id)).collect();
    let mut link_by_ordinal: Vec<Option<&RemoteAccount>> = vec![None; dir.people.len()];
    for ((_, account), ordinal) in live_links.iter().zip(&link_ordinals) {
        if let Some(o) = ordinal {
            link_by_ordinal[*o as usize] = Some(*account);
        }
    }
    let unlinked: Vec<&RemoteAccount> =
        state.observed.iter().zip(&is_linked).filter(|(_, linked)| !**linked).map(|(a, _)| a).collect();
    let matcher = Matcher::new(&unlinked);
    // Everyone still in the directory counts when deciding whether a key is ambiguous. With no
    // unlinked account there is nothing to correlate (the common, converged case), so skip it.
    let directory: Vec<(&Person, [String; 3])> = if unlinked.is_empty() {
        Vec::new()
    } else {
        dir.people
            .iter()
            .filter(|p| p.status != PersonStatus::Deleted)
            .map(|p| (*p, match_keys(p, app.settings.user_name)))
            .collect()
    };
    let desired_by_person = dir.desired_attributes(app.settings.user_name);

    let mut plan = Plan::default();
    let mut claimed: HashSet<&str> = HashSet::new();
    let op = |person: &Person, kind: OpKind, reason: Reason| PlannedOp {
        app_id: app.id,
        person_id: person.id,
        person: person.email.clone(),
        kind,
        reason,
    };

    // Grant side: everyone eligible and assigned must hold an active, up-to-date account.
    // People come in the index's order (email, then id): the plan's order, with no sort.
    let granted: Vec<(usize, &Person, GrantRef, Option<&Arc<Attributes>>)> = dir
        .people
        .iter()
        .zip(&grants.by_person)
        .zip(desired_by_person.iter())
        .enumerate()
        .filter_map(|(o, ((p, r), d))| r.map(|r| (o, *p, r, d.as_ref())))
        .filter(|(_, p, _, _)| ineligibility(p, today).is_none())
        .collect();
    let seeking: HashSet<PersonId> = if directory.is_empty() {
        HashSet::new()
    } else {
        granted.iter().filter(|(o, ..)| link_by_ordinal[*o].is_none()).map(|(_, p, ..)| p.id).collect()
    };
    let matches = matcher.correlate(&directory, &seeking);
    for (ordinal, person, grant_ref, cached) in granted {
        // Granted people are eligible, hence not deleted, hence cached.
        let desired: Arc<Attributes> = match cached {
            Some(d) => Arc::clone(d),
            None => Arc::new(attributes::default_mapping(person, app.settings.user_name)),
        };
        let account = match link_by_ordinal[ordinal] {
            Some(account) => Some(account),
            None => match matches.get(&person.id).copied() {
                Some((account, key)) if claimed.insert(account.remote_id.as_str()) => {
                    plan.ops.push(op(
                        person,
                        OpKind::Link { remote_id: account.remote_id.clone(), matched_on: key.to_owned() },
                        Reason::Granted { grant: grants.spell_out(dir, grant_ref) },
                    ));
                    Some(account)
                }
                _ => None,
            },
        };
        let Some(account) = account else {
            // An empty value means "clear"; on a new account there is nothing to clear.
            let attributes = if desired.iter().any(|(_, v)| v.is_empty()) {
                let mut set = (*desired).clone();
                set.retain(|_, v| !v.is_empty());
                Arc::new(set)
            } else {
                Arc::clone(&desired)
            };
            plan.ops.push(op(
                person,
                OpKind::Create { attributes },
                Reason::Granted { grant: grants.spell_out(dir, grant_ref) },
            ));
            continue;
        };
        if !account.active {
            plan.ops.push(op(
                person,
                OpKind::Activate { remote_id: account.remote_id.clone() },
                Reason::Granted { grant: grants.spell_out(dir, grant_ref) },
            ));
        }
        let changes: Attributes = attributes::diff(&desired, &account.attributes);
        if !changes.is_empty() {
            let names = changes.keys().map(str::to_owned).collect();
            plan.ops.push(op(
                person,
                OpKind::Update { remote_id: account.remote_id.clone(), changes },
                Reason::AttributesChanged { grant: grants.spell_out(dir, grant_ref), attributes: names },
            ));
        }
    }

    // Revoke side: only accounts Tenure holds a link for are ever deprovisioned.
    let mut revoked: Vec<(&Person, &AccountLink, &RemoteAccount, Revocation)> = Vec::new();
    for ((link, account), ordinal) in live_links.iter().zip(&link_ordinals) {
        let Some(ordinal) = ordinal else { continue };
        let person = dir.people[*ordinal as usize];
        let revocation = match ineligibility(person, today) {
            Some(r) => r,
            None if grants.by_person[*ordinal as usize].is_some() => continue,
            None => Revocation::Unassigned,
        };
        revoked.push((person, link, account, revocation));
    }
    revoked.sort_by(|a, b| a.0.email.cmp(&b.0.email).then_with(|| a.1.remote_id.cmp(&b.1.remote_id)));
    for (person, link, account, revocation) in revoked {
        let remote_id = link.remote_id.clone();
        let kind = match app.settings.deprovision {
            DeprovisionPolicy::DoNothing => continue,
            DeprovisionPolicy::Delete if link.origin.may_delete() => OpKind::Delete { remote_id },
            DeprovisionPolicy::Delete | DeprovisionPolicy::Deactivate if account.active => {
                OpKind::Deactivate { remote_id }
            }
            DeprovisionPolicy::Delete | DeprovisionPolicy::Deactivate => continue,
        };
        plan.ops.push(op(person, kind, Reason::Revoked { revocation }));
    }

    // Accounts no person accounts for: reported, never touched.
    let everyone: HashSet<PersonId> = directory.iter().map(|(p, _)| p.id).collect();
    let all_people_matcher_hits: HashSet<&str> =
        matcher.correlate(&directory, &everyone).values().map(|(a, _)| a.remote_id.as_str()).collect();
    plan.unmanaged = unlinked
        .iter()
        .filter(|a| !claimed.contains(a.remote_id.as_str()) && !all_people_matcher_hits.contains(a.remote_id.as_str()))
        .map(|a| UnmanagedAccount {
            app_id: app.id,
            remote_id: a.remote_id.clone(),
            user_name: a.user_name().to_owned(),
            active: a.active,
        })
        .collect();
    plan.unmanaged.sort_by(|a, b| a.user_name.cmp(&b.user_name).then_with(|| a.remote_id.cmp(&b.remote_id)));
    plan
}

/// Plans several apps, spread over the machine's cores (planning is CPU-bound and the apps are
/// independent). Plans come back in the order of `states`.
pub fn plan_apps(dir: &DirectoryIndex<'_>, states: &[AppState<'_>], today: Date) -> Vec<Plan> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(states.len().max(1));
    if workers <= 1 {
        return states.iter().map(|s| plan_app(dir, s, today)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut plans: Vec<Option<Plan>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(state) = states.get(i) else { break };
                        done.push((i, plan_app(dir, state, today)));
                    }
                    done
                })
            })
            .collect();
        let mut out: Vec<Option<Plan>> = (0..states.len()).map(|_| None).collect();
        for handle in handles {
            // A worker only panics if plan_app does; re-raise it on the caller's thread.
            for (i, plan) in handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
                out[i] = Some(plan);
            }
        }
        out
    });
    plans.iter_mut().map(|p| p.take().unwrap_or_default()).collect()
}
