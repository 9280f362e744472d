//! The decision for one person in one app: the operations that bring their account in line, each
//! with its reason. Full plans call it for everyone, incremental plans for one person.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use time::Date;

use crate::attributes::{self, Attributes, LICENSE, USER_NAME};
use crate::model::*;
use crate::plan::*;
use crate::reconcile::directory::{self, DirectoryIndex};
use crate::reconcile::ineligibility;
use crate::reconcile::observed::{AppIndex, MatchIndex, Named, account_key, person_key};
use crate::reconcile::policy::{AppPolicy, GrantRef};

/// Grants and exclusions for everyone, when planning everyone (computed in one sweep).
pub(crate) type Everyone = (Vec<Option<GrantRef>>, Vec<Option<GrantRef>>);

pub(crate) struct Planner<'p, 'a> {
    pub dir: &'p DirectoryIndex<'a>,
    pub policy: &'p AppPolicy<'a>,
    pub index: &'p AppIndex<'a>,
    pub today: Date,
    pub everyone: Option<Everyone>,
    /// userNames held in the app, lowercased, for deduplicating derived ones; built on the first
    /// create that needs it.
    pub held_user_names: OnceLock<HashSet<String>>,
}

/// What one plan carries from person to person.
#[derive(Default)]
pub(crate) struct Running {
    /// userNames given out by creates earlier in the same plan.
    user_names: HashSet<String>,
    /// Per managed app group: the members it should have, among the people planned.
    wanted_members: BTreeMap<String, Vec<MemberRef>>,
    /// Accounts whose group memberships this plan decides: granted people's, and revoked
    /// people's unless the policy leaves their account alone or deletes it anyway.
    decided: HashSet<String>,
}

enum Found<'a> {
    Linked(&'a RemoteAccount),
    Matched(&'a RemoteAccount, MatchKey),
    Case(CorrelationCase),
    Nothing,
}

impl<'p, 'a> Planner<'p, 'a> {
    fn app(&self) -> &'a App {
        self.index.app
    }

    fn grant(&self, person: &Person, ordinal: Option<u32>) -> Option<GrantRef> {
        match (&self.everyone, ordinal) {
            (Some((grants, _)), Some(o)) => grants[o as usize],
            _ => self.policy.grant_for(self.dir, person, ordinal),
        }
    }

    fn exclusion(&self, person: &Person, ordinal: Option<u32>) -> Option<GrantRef> {
        match (&self.everyone, ordinal) {
            (Some((_, exclusions)), Some(o)) => exclusions[o as usize],
            _ => self.policy.exclusion_for(self.dir, person, ordinal),
        }
    }

    /// Why a person must not hold the app's account, if anything stops them, with the
    /// exclusion that does when it is one.
    pub fn revocation(
        &self,
        person: &Person,
        ordinal: Option<u32>,
        link: Option<&AccountLink>,
    ) -> Option<(Revocation, Option<Grant>)> {
        if let Some(r) = ineligibility(person, self.today)
            && !(r == Revocation::NotStartedYet && self.preparing(person).is_some())
        {
            return Some((r, None));
        }
        if self.grant(person, ordinal).is_none() {
            return Some(self.policy.lost_grant(self.dir, link.and_then(|l| l.granted_by)));
        }
        self.exclusion(person, ordinal).map(|x| (Revocation::Excluded, Some(self.policy.spell_out(self.dir, x))))
    }

    /// The start date a new starter's account is being prepared for: when the app makes
    /// accounts `pre_start_days` ahead and today is within that lead (the person otherwise
    /// eligible: active, not leaving).
    pub fn preparing(&self, person: &Person) -> Option<Date> {
        crate::reconcile::pre_start(&self.app().settings, person, self.today)
    }

    fn wanted(&self, ordinal: u32) -> bool {
        let person = self.dir.people[ordinal as usize];
        self.revocation(person, Some(ordinal), None).is_none()
    }

    /// Plans one person. `desired` is what the app should hold for them (see
    /// [`directory::desired_for`]).
    pub fn plan(
        &self,
        person: &Person,
        ordinal: Option<u32>,
        desired: Result<&Arc<Attributes>, &str>,
        running: &mut Running,
        plan: &mut Plan,
    ) {
        let app = self.app();
        let op = |kind: OpKind, reason: Reason| PlannedOp {
            app_id: app.id,
            person_id: person.id,
            person: person.email.clone(),
            kind,
            reason,
        };
        let linked = self.index.link_of(ordinal);
        if let Some((revocation, by)) = self.revocation(person, ordinal, linked.map(|(l, _)| l)) {
            if let Some((link, account)) = linked {
                let mut deleted = false;
                self.revoke(link, account, Reason::Revoked { revocation, by }, &mut |k, r| {
                    deleted |= matches!(k, OpKind::Delete { .. });
                    plan.ops.push(op(k, r));
                });
                if !deleted && self.app().settings.deprovision != DeprovisionPolicy::DoNothing {
                    running.decided.insert(link.remote_id.clone());
                }
            }
            return;
        }
        let Some(grant_ref) = self.grant(person, ordinal) else { return };
        let grant = || self.policy.spell_out(self.dir, grant_ref);
        let preparing = self.preparing(person);
        // Borrowed: cloning an Arc shared by every planner thread for each of millions of
        // (person, app) pairs would have the cores fight over its counter.
        let mut desired: Cow<'_, Arc<Attributes>> = match desired {
            Ok(d) => Cow::Borrowed(d),
            Err(message) => {
                plan.problems.push(PlanProblem {
                    app_id: app.id,
                    person_id: person.id,
                    person: person.email.clone(),
                    message: format!("cannot compute {}'s attributes: {message}", person.email),
                });
                return;
            }
        };
        let mut app_groups = Vec::new();
        if self.policy.has_params() {
            let params = self.policy.params_for(self.dir, person, ordinal);
            app_groups = params.groups;
            if params.role.is_some() || params.license.is_some() {
                let with = Arc::make_mut(desired.to_mut());
                if let Some(role) = params.role {
                    with.insert(attributes::ROLE, role);
                }
                if let Some(license) = params.license {
                    with.insert(LICENSE, license);
                }
            }
        }
        let found = match linked {
            Some((_, account)) => Found::Linked(account),
            None => self.correlate(person, ordinal, &desired),
        };
        let account = match found {
            Found::Linked(account) => account,
            Found::Matched(account, key) => {
                plan.ops.push(op(
                    OpKind::Link { remote_id: account.remote_id.clone(), matched_on: key.as_str().to_owned() },
                    Reason::Granted { grant: grant() },
                ));
                account
            }
            Found::Case(case) => {
                plan.cases.push(case);
                return;
            }
            Found::Nothing => {
                let settings = &app.settings;
                let refused =
                    |attributes: &Attributes| crate::rules::refusal(&settings.rules, attributes, &settings.rule_lists);
                match self.create_attributes(person, &desired, running).and_then(|a| match refused(&a) {
                    // The vendor documents that it refuses such a create: it is never sent.
                    Some(reason) => Err(format!("the app would refuse it: {reason}")),
                    None => Ok(a),
                }) {
                    Ok(attributes) => {
                        let (active, reason) = match preparing {
                            Some(start) => (false, Reason::PreStart { grant: grant(), start }),
                            None => (true, Reason::Granted { grant: grant() }),
                        };
                        plan.ops.push(op(OpKind::Create { attributes, active }, reason));
                        for g in app_groups {
                            let member = MemberRef::NewAccountOf { person_id: person.id, person: person.email.clone() };
                            running.wanted_members.entry(g).or_default().push(member);
                        }
                    }
                    Err(message) => plan.problems.push(PlanProblem {
                        app_id: app.id,
                        person_id: person.id,
                        person: person.email.clone(),
                        message: format!("cannot create {}'s account: {message}", person.email),
                    }),
                }
                return;
            }
        };
        running.decided.insert(account.remote_id.clone());
        // A pending invitation: sent, not yet accepted. Nothing to create (it is never sent
        // twice), nothing to update or activate until the person joins; team memberships wait
        // for the member too.
        if account.invited_on().is_some() {
            return;
        }
        for g in app_groups {
            let member = MemberRef::Account { remote_id: account.remote_id.clone() };
            running.wanted_members.entry(g).or_default().push(member);
        }
        match (account.active, preparing) {
            (false, None) => plan.ops.push(op(
                OpKind::Activate { remote_id: account.remote_id.clone() },
                Reason::Granted { grant: grant() },
            )),
            // Prepared accounts stay disabled until the start date, as without a lead.
            (true, Some(_)) => plan.ops.push(op(
                OpKind::Deactivate { remote_id: account.remote_id.clone() },
                Reason::Revoked { revocation: Revocation::NotStartedYet, by: None },
            )),
            _ => {}
        }
        if !app.kind.updates_attributes() {
            return;
        }
        let mut changes = attributes::diff(&desired, &account.attributes);
        if let Some(held) = app.kind.held_attributes() {
            changes.retain(|name, _| held.contains(&name));
        }
        // A handle is what colleagues @-mention: the one an account has (numbered at creation,
        // or chosen before Tenure linked it) stays; only new accounts get a derived one.
        let keeps_handle =
            matches!(self.app().settings.user_name, UserNameFormat::Handle { .. }) && !account.user_name().is_empty();
        if let Some(wanted) = changes.get(USER_NAME)
            && (keeps_handle || (self.deduplicates_user_names() && is_deduplicated_form(account.user_name(), wanted)))
        {
            changes.remove(USER_NAME);
        }
        if let Some(license) = changes.remove(LICENSE) {
            plan.ops.push(op(
                OpKind::ChangeLicense {
                    remote_id: account.remote_id.clone(),
                    license: (!license.is_empty()).then_some(license),
                },
                Reason::Granted { grant: grant() },
            ));
        }
        if !changes.is_empty() {
            let names = changes.keys().map(str::to_owned).collect();
            plan.ops.push(op(
                OpKind::Update { remote_id: account.remote_id.clone(), changes },
                Reason::AttributesChanged { grant: grant(), attributes: names },
            ));
        }
    }

    /// Membership diffs for the app groups assignments name, one operation per group that
    /// changes. Only accounts whose membership this plan decided are added or removed; anyone
    /// else in a group (an unmanaged account, a person not planned here) is left where they are.
    pub fn group_ops(&self, running: &Running) -> Vec<GroupOp> {
        let mut ops = Vec::new();
        for name in self.policy.managed_groups() {
            let wanted = running.wanted_members.get(name).map(Vec::as_slice).unwrap_or_default();
            let existing = self.index.groups.get(&name.to_lowercase());
            let current: HashSet<&str> =
                existing.map(|g| g.members.iter().map(String::as_str).collect()).unwrap_or_default();
            let add: Vec<MemberRef> = wanted
                .iter()
                .filter(|m| match m {
                    MemberRef::Account { remote_id } => !current.contains(remote_id.as_str()),
                    MemberRef::NewAccountOf { .. } => true,
                })
                .cloned()
                .collect();
            let keep: HashSet<&str> = wanted
                .iter()
                .filter_map(|m| match m {
                    MemberRef::Account { remote_id } => Some(remote_id.as_str()),
                    MemberRef::NewAccountOf { .. } => None,
                })
                .collect();
            let mut remove: Vec<String> = current
                .iter()
                .filter(|id| running.decided.contains(**id) && !keep.contains(**id))
                .map(|id| (*id).to_owned())
                .collect();
            remove.sort();
            if add.is_empty() && remove.is_empty() {
                continue;
            }
            ops.push(GroupOp {
                app_id: self.app().id,
                group: existing.map_or_else(|| name.to_owned(), |g| g.name.clone()),
                remote_id: existing.map(|g| g.remote_id.clone()),
                add,
                remove,
            });
        }
        ops
    }

    /// What taking the app away from a linked account means under the app's policy. Only linked
    /// accounts get here: Tenure never deprovisions an account it has not linked to a person.
    fn revoke(
        &self,
        link: &AccountLink,
        account: &RemoteAccount,
        reason: Reason,
        push: &mut dyn FnMut(OpKind, Reason),
    ) {
        let remote_id = || link.remote_id.clone();
        // A pending invitation is cancelled, whatever the policy says about real accounts: there
        // is nothing of the person's to keep, and an invitation left open could still be accepted.
        if account.invited_on().is_some() && self.app().settings.deprovision != DeprovisionPolicy::DoNothing {
            let kind = if link.origin.may_delete() {
                OpKind::Delete { remote_id: remote_id() }
            } else {
                OpKind::Deactivate { remote_id: remote_id() }
            };
            push(kind, reason);
            return;
        }
        match self.app().settings.deprovision {
            DeprovisionPolicy::DoNothing => {}
            DeprovisionPolicy::Delete if link.origin.may_delete() => {
                push(OpKind::Delete { remote_id: remote_id() }, reason)
            }
            DeprovisionPolicy::Delete | DeprovisionPolicy::Deactivate => {
                if account.active {
                    push(OpKind::Deactivate { remote_id: remote_id() }, reason);
                }
            }
            DeprovisionPolicy::DeactivateThenDelete { after_days } => {
                if account.active {
                    push(OpKind::Deactivate { remote_id: remote_id() }, reason);
                } else if link.origin.may_delete()
                    && let Some(on) = link.deactivated_on
                    && on + time::Duration::days(i64::from(after_days)) <= self.today
                {
                    push(
                        OpKind::Delete { remote_id: remote_id() },
                        Reason::RetentionElapsed { deactivated_on: on, after_days },
                    );
                }
            }
            DeprovisionPolicy::RemoveLicense => {
                if account.attributes.get(LICENSE).is_some_and(|l| !l.is_empty()) {
                    push(OpKind::ChangeLicense { remote_id: remote_id(), license: None }, reason);
                }
            }
        }
    }

    /// Finds the unlinked account that is this person's, strongest key first. A key value must
    /// name this person alone and one account alone; an account that a stronger key gives to
    /// someone else who wants the app is theirs. A value naming this person and several accounts
    /// is a case for an admin, and the person gets nothing until it is settled: a new account
    /// would be one more duplicate.
    fn correlate(&self, person: &Person, ordinal: Option<u32>, desired: &Attributes) -> Found<'a> {
        let Some(matching) = &self.index.matching else { return Found::Nothing };
        let keys = &self.app().settings.match_keys;
        let user_name = desired.get(USER_NAME).map_or("", String::as_str);
        for (k, key) in keys.iter().enumerate() {
            let value = person_key(person, user_name, *key);
            if value.is_empty() {
                continue;
            }
            let Some(accounts) = matching.accounts[k].get(&value) else { continue };
            // A value that names several people (two emails cut to the same userName) identifies
            // none of them; a weaker key may still.
            if matching.people[k].get(&value).is_some_and(|n| n.ordinals().len() > 1) {
                continue;
            }
            if accounts.len() == 1 && self.claimed_by_stronger_key(matching, accounts[0], k, ordinal) {
                // Someone else's by a stronger key; this person may still match by a weaker one.
                continue;
            }
            if accounts.len() > 1 {
                let mut remote: Vec<String> = accounts.iter().map(|a| a.remote_id.clone()).collect();
                remote.sort();
                return Found::Case(CorrelationCase {
                    app_id: self.app().id,
                    key: key.as_str().to_owned(),
                    value,
                    people: vec![person.email.clone()],
                    person_ids: vec![person.id],
                    accounts: remote,
                });
            }
            // The app's correlation policy: an account nobody manages yet is linked, or it is a
            // case for an admin (by default, for people an identity provider pushed). One that
            // carries the person's own id as externalId is Tenure's from an earlier attempt.
            if *key != MatchKey::ExternalId && !self.app().settings.correlation.links(self.dir.pushed(person)) {
                return Found::Case(CorrelationCase {
                    app_id: self.app().id,
                    key: key.as_str().to_owned(),
                    value,
                    people: vec![person.email.clone()],
                    person_ids: vec![person.id],
                    accounts: vec![accounts[0].remote_id.clone()],
                });
            }
            return Found::Matched(accounts[0], *key);
        }
        Found::Nothing
    }

    /// Whether a stronger key than `k` names one other person, who wants the app, for this account.
    fn claimed_by_stronger_key(
        &self,
        matching: &MatchIndex<'_>,
        account: &RemoteAccount,
        k: usize,
        ordinal: Option<u32>,
    ) -> bool {
        let keys = &self.app().settings.match_keys;
        keys[..k].iter().enumerate().any(|(j, key)| {
            account_key(account, *key).and_then(|v| matching.people[j].get(&v)).is_some_and(|named| match named {
                Named::One(q) => Some(*q) != ordinal && self.wanted(*q),
                // A value naming several people gives the account to none of them.
                Named::Several(_) => false,
            })
        })
    }

    /// Apps that derive userNames by cutting the email's local part get collisions (two
    /// `alexandra.montgomery-…` cut at 21 characters); the later person gets a numbered one.
    fn deduplicates_user_names(&self) -> bool {
        self.app().settings.user_name.deduplicates()
    }

    fn create_attributes(
        &self,
        person: &Person,
        desired: &Arc<Attributes>,
        running: &mut Running,
    ) -> Result<Arc<Attributes>, String> {
        let settings = &self.app().settings;
        let unique_mappings =
            settings.mappings.as_ref().is_some_and(|m| m.mappings().iter().any(|m| m.expr.is_unique()));
        let mut attrs = if unique_mappings
            || settings
                .mappings
                .as_ref()
                .is_some_and(|m| m.mappings().iter().any(|m| m.apply == crate::expr::Apply::OnCreate))
        {
            let held = self.held_user_names();
            let mut taken = |target: &str, candidate: &str| {
                let lower = candidate.to_lowercase();
                target == USER_NAME && (held.contains(&lower) || running.user_names.contains(&lower))
            };
            let mut attrs = directory::create_attributes(person, settings, &mut taken)?;
            // Role and license come from the assignment, not the mapping.
            for name in [attributes::ROLE, LICENSE] {
                if let Some(v) = desired.get(name) {
                    attrs.insert(name, v.clone());
                }
            }
            Arc::new(attrs)
        } else if desired.iter().any(|(_, v)| v.is_empty()) {
            // An empty value means "clear"; on a new account there is nothing to clear.
            let mut set = (**desired).clone();
            set.retain(|_, v| !v.is_empty());
            Arc::new(set)
        } else {
            Arc::clone(desired)
        };
        if let (true, Some(base)) = (settings.user_name.deduplicates(), attrs.get(USER_NAME).cloned()) {
            let max_len = settings.user_name.max_len();
            let held = self.held_user_names();
            let free = |c: &str| !held.contains(c) && !running.user_names.contains(c);
            let chosen = (1..=999u32)
                .map(|n| numbered(&base.to_lowercase(), n, max_len))
                .find(|c| free(c))
                .ok_or_else(|| format!("every userName from {base} to {base}999 is taken"))?;
            if chosen != base {
                Arc::make_mut(&mut attrs).insert(USER_NAME, chosen);
            }
        }
        if (unique_mappings || self.deduplicates_user_names())
            && let Some(user_name) = attrs.get(USER_NAME)
        {
            running.user_names.insert(user_name.to_lowercase());
        }
        Ok(attrs)
    }

    fn held_user_names(&self) -> &HashSet<String> {
        self.held_user_names.get_or_init(|| {
            self.index
                .linked
                .iter()
                .map(|(_, a)| a.user_name().to_lowercase())
                .chain(self.index.unlinked.iter().map(|a| a.user_name().to_lowercase()))
                .collect()
        })
    }
}

/// `base` for n = 1, else `base` cut short enough that the number fits in `max_len`, then `n`.
fn numbered(base: &str, n: u32, max_len: Option<usize>) -> String {
    if n == 1 {
        return base.to_owned();
    }
    let suffix = n.to_string();
    let room = max_len.map_or(usize::MAX, |m| m.saturating_sub(suffix.len()));
    let cut: String = base.chars().take(room).collect();
    format!("{cut}{suffix}")
}

/// Whether `held` is a numbered form of `wanted` (see [`numbered`]): the account got a
/// deduplicated userName at creation and keeps it.
fn is_deduplicated_form(held: &str, wanted: &str) -> bool {
    let held = held.to_lowercase();
    let digits = held.len() - held.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == held.len() {
        return false;
    }
    let (stem, number) = held.split_at(held.len() - digits);
    number.parse::<u32>().is_ok_and(|n| n >= 2) && wanted.to_lowercase().starts_with(stem)
}
