//! The directory, indexed once so that planning many apps (or one person) does not redo the work.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::attributes::{self, Attributes};
use crate::expr::{Apply, MappedValue, MappingSet, Phase};
use crate::ids::*;
use crate::model::*;

/// A person's desired attributes for an app, or why they cannot be computed (a mapping that fails
/// for this person's data). `None` for people who left the directory.
pub(crate) type Desired = Option<Result<Arc<Attributes>, String>>;

/// What determines an app's desired attributes; apps that share it share the computation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DesiredSpec {
    user_name: UserNameFormat,
    /// The mappings' JSON: a cheap, exact identity for a validated mapping set.
    mappings: Option<String>,
    /// A Microsoft 365 app's usage location for people whose mapping gives none.
    usage_location: Option<String>,
}

/// People get a dense ordinal in the order plans list them (by email, then id), so per-app
/// grants are a plain vector rather than a hash map of a million entries.
pub struct DirectoryIndex<'a> {
    pub(crate) people: Vec<&'a Person>,
    ordinal: HashMap<PersonId, u32>,
    pub(crate) groups: HashMap<GroupId, &'a Group>,
    /// The groups each person is a direct member of, by ordinal, for planning one person.
    pub(crate) groups_of: Vec<Vec<GroupId>>,
    /// People per org unit (`None`: the source gave them none), for org-unit assignments.
    pub(crate) by_org_unit: Vec<(Option<&'a OrgUnitPath>, Vec<u32>)>,
    /// Desired attributes per app spec, by ordinal, computed on first use: most apps share a
    /// spec, so fifty apps cost one mapping per person, not fifty.
    desired: Mutex<HashMap<DesiredSpec, Arc<Vec<Desired>>>>,
    /// Sources an identity provider pushes into (SCIM): their people's matches follow the apps'
    /// correlation policy for pushed people.
    pushed: HashSet<SourceId>,
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
        let mut groups_of = vec![Vec::new(); sorted.len()];
        for group in groups {
            for member in &group.members {
                if let Some(&o) = ordinal.get(member) {
                    groups_of[o as usize].push(group.id);
                }
            }
        }
        Self {
            people: sorted,
            ordinal,
            groups: groups.iter().map(|g| (g.id, g)).collect(),
            groups_of,
            by_org_unit: units.into_iter().collect(),
            desired: Mutex::new(HashMap::new()),
            pushed: HashSet::new(),
        }
    }

    /// Names the sources an identity provider pushes into (SCIM).
    pub fn with_pushed_sources(mut self, sources: impl IntoIterator<Item = SourceId>) -> Self {
        self.pushed = sources.into_iter().collect();
        self
    }

    /// Whether `person` was pushed by an identity provider.
    pub fn pushed(&self, person: &Person) -> bool {
        self.pushed.contains(&person.source_id)
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn person(&self, id: PersonId) -> Option<&'a Person> {
        self.ordinal.get(&id).map(|&o| self.people[o as usize])
    }

    pub fn person_by_email(&self, email: &str) -> Option<&'a Person> {
        let i = self.people.partition_point(|p| p.email.as_str() < email);
        self.people.get(i).copied().filter(|p| p.email == email)
    }

    /// Who `assignments` grant their app to, each with the grant (exclusions applied).
    pub fn grants(&self, assignments: &[Assignment]) -> HashMap<PersonId, crate::plan::Grant> {
        crate::reconcile::AppPolicy::of(self, assignments).granted(self)
    }

    pub(crate) fn ordinal_of(&self, id: PersonId) -> Option<u32> {
        self.ordinal.get(&id).copied()
    }

    pub(crate) fn group_name(&self, id: GroupId) -> String {
        self.groups.get(&id).map(|g| g.name.clone()).unwrap_or_default()
    }

    /// Everyone's desired attributes for `settings`' spec.
    pub(crate) fn desired_all(&self, settings: &AppSettings) -> Arc<Vec<Desired>> {
        let spec = DesiredSpec {
            user_name: settings.user_name,
            mappings: settings.mappings.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()),
            usage_location: settings.m365.as_ref().and_then(|t| t.usage_location.clone()),
        };
        // A poisoned lock only means another planner panicked while computing an entry, which
        // is then absent, never half-written: the map is still good.
        let mut cache = self.desired.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cache.entry(spec).or_insert_with(|| {
            Arc::new(
                self.people
                    .iter()
                    .map(|p| (p.status != PersonStatus::Deleted).then(|| desired_for(p, settings).map(Arc::new)))
                    .collect(),
            )
        }))
    }
}

/// The attributes an app should hold for a person while the account exists: the default
/// mapping with the app's mappings layered over it (`on_create` mappings left out).
pub fn desired_for(person: &Person, settings: &AppSettings) -> Result<Attributes, String> {
    let mut attrs = attributes::default_mapping(person, settings.user_name);
    if let Some(mappings) = &settings.mappings {
        // A target set on create only belongs to the app afterwards, default value included.
        for m in mappings.mappings().iter().filter(|m| m.apply == Apply::OnCreate) {
            attrs.remove(&m.target);
        }
        overlay(&mut attrs, mappings, person, Phase::Update, &mut |_, _| false)?;
    }
    app_fallbacks(&mut attrs, settings);
    Ok(attrs)
}

/// A Microsoft 365 app's usage location where a mapping of it gives nothing for this person (no
/// country): the app's setting, never "clear it" (Graph refuses licenses to a user without one).
fn app_fallbacks(attrs: &mut Attributes, settings: &AppSettings) {
    if let Some(location) = settings.m365.as_ref().and_then(|t| t.usage_location.as_deref())
        && attrs.get(crate::M365_USAGE_LOCATION).is_some_and(|v| v.is_empty())
    {
        attrs.insert(crate::M365_USAGE_LOCATION, location);
    }
}

/// The attributes a new account is created with: every mapping, `on_create` ones included, with
/// `unique` mappings asking `is_taken` for each candidate. Empty values are left out: a new
/// account has nothing to clear.
pub fn create_attributes(
    person: &Person,
    settings: &AppSettings,
    is_taken: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<Attributes, String> {
    let mut attrs = attributes::default_mapping(person, settings.user_name);
    if let Some(mappings) = &settings.mappings {
        overlay(&mut attrs, mappings, person, Phase::Create, is_taken)?;
    }
    app_fallbacks(&mut attrs, settings);
    attrs.retain(|_, v| !v.is_empty());
    Ok(attrs)
}

fn overlay(
    attrs: &mut Attributes,
    mappings: &MappingSet,
    person: &Person,
    phase: Phase,
    is_taken: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<(), String> {
    let mapped = mappings.evaluate_unique(person, phase, is_taken).map_err(|e| e.to_string())?;
    for m in mapped {
        let value = match m.value {
            MappedValue::Set(v) => v.into_owned(),
            MappedValue::Clear => String::new(),
        };
        attrs.insert(m.target, value);
    }
    Ok(())
}
