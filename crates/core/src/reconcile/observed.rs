//! What one app holds, indexed for planning: linked accounts by person, and the unlinked ones
//! by the keys matching looks them up by.

use std::collections::{HashMap, HashSet};

use crate::model::*;
use crate::plan::PlanProblem;
use crate::reconcile::{AppState, DirectoryIndex};

/// The people a key value names: matching needs to know "exactly one" from "several".
#[derive(Debug, Clone)]
pub(crate) enum Named {
    One(u32),
    Several(Vec<u32>),
}

impl Named {
    pub fn ordinals(&self) -> &[u32] {
        match self {
            Named::One(o) => std::slice::from_ref(o),
            Named::Several(v) => v,
        }
    }
}

/// Matching keys for the app's unlinked accounts and for the directory's people, lowercased.
/// Built only when the app holds an unlinked account: in a converged app there is nothing to
/// match, and a million lowercased keys would be wasted.
pub(crate) struct MatchIndex<'a> {
    /// Per key of the app's `match_keys`: value → unlinked accounts.
    pub accounts: Vec<HashMap<String, Vec<&'a RemoteAccount>>>,
    /// Per key: value → the people (still in the directory) it names.
    pub people: Vec<HashMap<String, Named>>,
}

pub struct AppIndex<'a> {
    pub(crate) app: &'a App,
    /// Live links, each with its account.
    pub(crate) linked: Vec<(&'a AccountLink, &'a RemoteAccount)>,
    /// Per person ordinal: their live link's place in `linked`, or `NO_LINK`. A vector, not a
    /// map: a full plan asks once per person per app.
    link_by_ordinal: Vec<u32>,
    pub(crate) unlinked: Vec<&'a RemoteAccount>,
    pub(crate) matching: Option<MatchIndex<'a>>,
    /// Links the plan cannot act on, reported rather than dropped.
    pub(crate) problems: Vec<PlanProblem>,
    /// The app's groups by lowercased name.
    pub(crate) groups: HashMap<String, &'a RemoteGroup>,
}

const NO_LINK: u32 = u32::MAX;

/// FNV-1a, for maps keyed by remote ids: the keys come from apps Tenure is configured to trust
/// and are rebuilt for every plan, so SipHash's flooding resistance buys nothing here and costs
/// a tenth of a full plan.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastHash = std::hash::BuildHasherDefault<Fnv>;

/// A person's value for a matching key, lowercased; `user_name` is the one Tenure would give them.
pub(crate) fn person_key(person: &Person, user_name: &str, key: MatchKey) -> String {
    match key {
        MatchKey::ExternalId => person.id.to_string().to_lowercase(),
        MatchKey::UserName => user_name.to_lowercase(),
        MatchKey::Email => person.email.to_lowercase(),
    }
}

pub(crate) fn account_key(account: &RemoteAccount, key: MatchKey) -> Option<String> {
    let value = match key {
        MatchKey::ExternalId => account.external_id(),
        MatchKey::UserName => Some(account.user_name()),
        MatchKey::Email => account.email(),
    }?;
    (!value.is_empty()).then(|| value.to_lowercase())
}

/// The people a plan could match to one of `accounts` (unlinked accounts) by any of the app's
/// matching keys: the only people besides the accounts' linked ones whose plans can touch them.
/// A plan of just these people classifies the accounts as a plan of everyone would, without
/// indexing everyone: every person sharing a key value with an account is among them, so
/// "several people" and "claimed by a stronger key" come out the same. May include people the
/// matcher then skips (leavers, failing mappings); never leaves one out.
pub fn matchable_people<'p>(
    people: &'p [Person],
    settings: &AppSettings,
    accounts: &[&RemoteAccount],
) -> Vec<&'p Person> {
    let keys = &settings.match_keys;
    let values: Vec<HashSet<String>> =
        keys.iter().map(|key| accounts.iter().filter_map(|a| account_key(a, *key)).collect()).collect();
    if values.iter().all(HashSet::is_empty) {
        return Vec::new();
    }
    let user_name_of = |person: &Person| -> String {
        // Only a mapping can make the userName differ from the format's; computing every
        // attribute for 100,000 people is what this function exists to avoid.
        if settings.mappings.is_none() {
            return crate::attributes::derive_user_name(person, settings.user_name);
        }
        crate::reconcile::desired_for(person, settings)
            .ok()
            .and_then(|attrs| attrs.get(crate::attributes::USER_NAME).cloned())
            .unwrap_or_default()
    };
    people
        .iter()
        .filter(|person| person.status != PersonStatus::Deleted)
        .filter(|person| {
            keys.iter().zip(&values).any(|(key, wanted)| {
                if wanted.is_empty() {
                    return false;
                }
                let user_name = if *key == MatchKey::UserName { user_name_of(person) } else { String::new() };
                let value = person_key(person, &user_name, *key);
                !value.is_empty() && wanted.contains(&value)
            })
        })
        .collect()
}

impl<'a> AppIndex<'a> {
    pub fn new(dir: &DirectoryIndex<'_>, state: &AppState<'a>) -> Self {
        let app = state.app;
        let observed: HashMap<&str, usize, FastHash> =
            state.observed.iter().enumerate().map(|(i, a)| (a.remote_id.as_str(), i)).collect();
        let mut linked: Vec<(&AccountLink, &RemoteAccount)> = Vec::new();
        let mut link_by_ordinal = vec![NO_LINK; dir.len()];
        let mut is_linked = vec![false; state.observed.len()];
        let mut problems = Vec::new();
        let problem = |link: &AccountLink, person: String, message: String| PlanProblem {
            app_id: app.id,
            person_id: link.person_id,
            person,
            message,
        };
        for link in state.links.iter().filter(|l| l.app_id == app.id) {
            // A link to an account the app no longer has is ignored, so a person still assigned
            // gets a new account.
            let Some(&index) = observed.get(link.remote_id.as_str()) else { continue };
            is_linked[index] = true;
            let account = &state.observed[index];
            let Some(ordinal) = dir.ordinal_of(link.person_id) else {
                problems.push(problem(
                    link,
                    String::new(),
                    format!(
                        "account {} is linked to a person the directory does not know, not even as a leaver; \
                         nothing is done to it until an admin unlinks or adopts it",
                        link.remote_id
                    ),
                ));
                continue;
            };
            let slot = &mut link_by_ordinal[ordinal as usize];
            if *slot == NO_LINK {
                *slot = linked.len() as u32;
                linked.push((link, account));
            } else {
                let person = dir.people[ordinal as usize];
                let kept = &linked[*slot as usize].0.remote_id;
                problems.push(problem(
                    link,
                    person.email.clone(),
                    format!(
                        "{} has a second linked account {} besides {kept}; only {kept} is managed until an admin \
                         unlinks one",
                        person.email, link.remote_id
                    ),
                ));
            }
        }
        let unlinked: Vec<&RemoteAccount> =
            state.observed.iter().zip(&is_linked).filter(|(_, linked)| !**linked).map(|(a, _)| a).collect();
        let matching = (!unlinked.is_empty()).then(|| MatchIndex::new(dir, app, &unlinked));
        let groups = state.groups.iter().map(|g| (g.name.to_lowercase(), g)).collect();
        Self { app, linked, link_by_ordinal, unlinked, matching, problems, groups }
    }

    pub(crate) fn link_of(&self, ordinal: Option<u32>) -> Option<(&'a AccountLink, &'a RemoteAccount)> {
        let slot = *self.link_by_ordinal.get(ordinal? as usize)?;
        (slot != NO_LINK).then(|| self.linked[slot as usize])
    }
}

impl<'a> MatchIndex<'a> {
    fn new(dir: &DirectoryIndex<'_>, app: &App, unlinked: &[&'a RemoteAccount]) -> Self {
        let keys = &app.settings.match_keys;
        let mut accounts: Vec<HashMap<String, Vec<&RemoteAccount>>> = vec![HashMap::new(); keys.len()];
        for account in unlinked {
            for (k, key) in keys.iter().enumerate() {
                if let Some(value) = account_key(account, *key) {
                    accounts[k].entry(value).or_default().push(account);
                }
            }
        }
        let mut people: Vec<HashMap<String, Named>> = vec![HashMap::new(); keys.len()];
        let desired = dir.desired_all(&app.settings);
        for (o, person) in dir.people.iter().enumerate() {
            let Some(Ok(attrs)) = &desired[o] else { continue };
            let user_name = attrs.get(crate::attributes::USER_NAME).map_or("", String::as_str);
            for (k, key) in keys.iter().enumerate() {
                let value = person_key(person, user_name, *key);
                if value.is_empty() {
                    continue;
                }
                people[k]
                    .entry(value)
                    .and_modify(|named| match named {
                        Named::One(first) => *named = Named::Several(vec![*first, o as u32]),
                        Named::Several(all) => all.push(o as u32),
                    })
                    .or_insert(Named::One(o as u32));
            }
        }
        Self { accounts, people }
    }
}
