//! The directory and each app's stored accounts, kept in memory between propagation passes,
//! with the database as the truth.
//!
//! Reloading 100,000 people and every app's accounts for each pass cost about a second a pass;
//! this keeps them and reads only what changed:
//!
//! - The directory is current while the tenant's `directory_version` has not moved (triggers
//!   move it in the same transaction as every directory write). When it moved, the changes are
//!   exactly the people still marked for a directory change: every directory write marks its
//!   people in the same transaction (or marks "everything", which rebuilds), and marks are
//!   cleared only after they were planned from a refreshed cache. That holds while this cache
//!   saw every clearing: `marks_answered` counts clearings, and a count this cache did not
//!   expect (another node or process answered marks it never saw) rebuilds it. So does a new
//!   day (offboardings take effect by date), a restart (nothing is cached) and any error.
//! - Propagation reads the stored accounts of the people it plans, by person, each pass: a
//!   person's plan needs only their own accounts (no account Tenure stores is unlinked, so none
//!   is matchable), except where new userNames must avoid every name the app holds (numbered or
//!   unique userNames), where the app's whole list is kept: current while the app's
//!   `accounts_version` has not moved; when it moved, only the accounts written or removed after
//!   the cached version are read (each row carries the version that wrote it, removals leave one
//!   in `accounts_gone`).
//! - The live user list and the report read the directory from here too. A page of the live
//!   list plans only its own people (those linked to its accounts, and whoever a matching key
//!   could match an unlinked one to) and reads only their stored accounts, so it keeps no app's
//!   whole list: 100,000 people x 50 apps of them would not fit `serve`'s memory.
//!
//! The hourly reconciliation still reads every app live; only what the planner knows of the
//! directory and of Tenure's own records is kept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tenure_core::*;
use tenure_store::{DirectoryVersions, Offboarding, Store};
use tokio::sync::{Mutex, MutexGuard};

use crate::{Engine, EngineError};

/// More marked people than this and the directory is read whole: one read of everyone costs
/// less than thousands of reads by id.
const REFRESH_AT_MOST: i64 = 2_000;

/// The directory as every plan reads it (offboardings laid over the people for `today`).
#[derive(Clone)]
pub(crate) struct DirectorySnapshot {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    /// The versions the snapshot reflects; `marks_answered` is the count this cache expects.
    versions: DirectoryVersions,
    today: time::Date,
    position: HashMap<PersonId, usize>,
    group_position: HashMap<GroupId, usize>,
    /// Each person's direct groups, to move them between groups' member lists.
    memberships: HashMap<PersonId, Vec<GroupId>>,
}

/// An app's stored accounts as the planner reads them: links and the accounts they name,
/// side by side (`links[i]` names `observed[i]`), in the order the store lists them.
#[derive(Clone, Default)]
pub(crate) struct CachedAccounts {
    version: i64,
    pub links: Vec<AccountLink>,
    pub observed: Vec<RemoteAccount>,
    /// The `user_name` column of each account (`observed[i]`'s attributes may lack it).
    pub user_names: Vec<String>,
}

#[derive(Default)]
pub(crate) struct CacheState {
    directory: Option<Arc<DirectorySnapshot>>,
    apps: HashMap<AppId, Arc<CachedAccounts>>,
    /// Linked accounts per app, by the app's accounts version they were counted at.
    counts: HashMap<AppId, (i64, usize)>,
    /// Times the directory was read whole (tests and logs tell a rebuild from a refresh).
    pub(crate) rebuilds: u64,
}

/// Shared by every clone of an engine: one cache per tenant per process.
#[derive(Default)]
pub(crate) struct PlanningCache(Mutex<CacheState>);

impl PlanningCache {
    pub(crate) async fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.0.lock().await
    }
}

impl CacheState {
    /// The directory, brought up to date with the database.
    pub(crate) async fn directory(
        &mut self,
        engine: &Engine,
        today: time::Date,
    ) -> Result<Arc<DirectorySnapshot>, EngineError> {
        let result = self.refresh_directory(engine, today).await;
        if result.is_err() {
            // Half-applied changes are worse than none: the next reader starts over.
            self.directory = None;
        }
        result
    }

    async fn refresh_directory(
        &mut self,
        engine: &Engine,
        today: time::Date,
    ) -> Result<Arc<DirectorySnapshot>, EngineError> {
        let store = engine.store();
        let tenant = engine.tenant();
        let now = store.directory_versions(tenant).await?;
        if let Some(cached) = &mut self.directory
            && cached.today == today
            && cached.versions.marks_answered == now.marks_answered
        {
            if cached.versions.directory == now.directory {
                return Ok(Arc::clone(cached));
            }
            let marks = store.directory_marks(tenant, REFRESH_AT_MOST).await?;
            if !marks.everything && marks.people.len() as i64 <= REFRESH_AT_MOST {
                // Copy-on-write: a plan still reading the old snapshot keeps it.
                let snapshot = Arc::make_mut(cached);
                snapshot.refresh(store, tenant, &marks.people).await?;
                snapshot.versions.directory = now.directory;
                return Ok(Arc::clone(cached));
            }
        }
        let snapshot = Arc::new(DirectorySnapshot::load(engine, today, now).await?);
        self.rebuilds += 1;
        tracing::debug!(tenant = %tenant, people = snapshot.people.len(), "directory read whole for planning");
        self.directory = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Marks of directory changes were cleared by this cache's holder, once, after it planned
    /// them from this cache: that clearing is not someone else's.
    pub(crate) fn answered_own_marks(&mut self) {
        if let Some(cached) = &mut self.directory {
            Arc::make_mut(cached).versions.marks_answered += 1;
        }
    }

    /// Forget the directory (an outcome this cache cannot account for).
    pub(crate) fn forget_directory(&mut self) {
        self.directory = None;
    }

    /// The app's stored accounts, brought up to date with the database.
    pub(crate) async fn accounts(&mut self, engine: &Engine, app: AppId) -> Result<Arc<CachedAccounts>, EngineError> {
        let store = engine.store();
        let tenant = engine.tenant();
        let Some(cached) = self.apps.get_mut(&app) else {
            let loaded = Arc::new(CachedAccounts::load(store, tenant, app).await?);
            self.apps.insert(app, Arc::clone(&loaded));
            return Ok(loaded);
        };
        let delta = match store.accounts_since(tenant, app, cached.version).await {
            Ok(delta) => delta,
            Err(e) => {
                self.apps.remove(&app);
                return Err(e.into());
            }
        };
        if delta.version != cached.version {
            Arc::make_mut(cached).apply(delta);
        }
        Ok(Arc::clone(cached))
    }

    /// How many accounts the app has linked (what the deprovisioning guard weighs a plan's
    /// losses against), counted again only when its accounts changed.
    pub(crate) async fn managed(&mut self, engine: &Engine, app: AppId) -> Result<usize, EngineError> {
        let version = engine.store().accounts_version(engine.tenant(), app).await?;
        if let Some((counted_at, count)) = self.counts.get(&app)
            && *counted_at == version
        {
            return Ok(*count);
        }
        let (linked, _) = engine.store().account_counts(engine.tenant(), app).await?;
        let count = usize::try_from(linked).unwrap_or(0);
        self.counts.insert(app, (version, count));
        Ok(count)
    }

    /// Drops what is kept of apps that no longer exist.
    pub(crate) fn keep_apps(&mut self, apps: &HashSet<AppId>) {
        self.apps.retain(|id, _| apps.contains(id));
        self.counts.retain(|id, _| apps.contains(id));
    }
}

impl DirectorySnapshot {
    /// One person as every plan reads them.
    pub(crate) fn person(&self, id: PersonId) -> Option<&Person> {
        self.position.get(&id).and_then(|&i| self.people.get(i))
    }

    /// The groups as a plan of only `people` needs them: every group's name and nesting, with
    /// only those of `people` as members, found from their memberships rather than by walking
    /// member lists that can hold everyone.
    pub(crate) fn groups_for(&self, people: &[Person]) -> Vec<Group> {
        let mut members: HashMap<GroupId, Vec<PersonId>> = HashMap::new();
        for person in people {
            for group in self.memberships.get(&person.id).into_iter().flatten() {
                members.entry(*group).or_default().push(person.id);
            }
        }
        self.groups
            .iter()
            .map(|g| Group {
                id: g.id,
                source_id: g.source_id,
                name: g.name.clone(),
                members: members.remove(&g.id).unwrap_or_default(),
                member_groups: g.member_groups.clone(),
            })
            .collect()
    }

    async fn load(engine: &Engine, today: time::Date, versions: DirectoryVersions) -> Result<Self, EngineError> {
        let store = engine.store();
        let people = engine.people(today).await?;
        let groups = store.list_groups(engine.tenant()).await?;
        let mut memberships: HashMap<PersonId, Vec<GroupId>> = HashMap::new();
        for group in &groups {
            for member in &group.members {
                memberships.entry(*member).or_default().push(group.id);
            }
        }
        Ok(Self {
            position: people.iter().enumerate().map(|(i, p)| (p.id, i)).collect(),
            group_position: groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect(),
            people,
            groups,
            versions,
            today,
            memberships,
        })
    }

    /// Reads `changed` people again, with their memberships, and the groups' shape.
    async fn refresh(&mut self, store: &Store, tenant: TenantId, changed: &[PersonId]) -> Result<(), EngineError> {
        let fresh = store.people_by_ids(tenant, changed).await?;
        let memberships = store.memberships_of(tenant, changed).await?;
        let offboardings: Vec<Offboarding> = store.offboardings(tenant).await?;
        let shapes = store.group_shapes(tenant).await?;
        let mut fresh: HashMap<PersonId, Person> = fresh.into_iter().map(|p| (p.id, p)).collect();
        for id in changed {
            match fresh.remove(id) {
                Some(mut person) => {
                    crate::offboard::overlay(std::slice::from_mut(&mut person), &offboardings, self.today);
                    match self.position.get(id) {
                        Some(&i) => self.people[i] = person,
                        None => {
                            self.position.insert(person.id, self.people.len());
                            self.people.push(person);
                        }
                    }
                }
                None => self.remove_person(*id),
            }
        }
        self.reshape(shapes);
        for id in changed {
            let now: Vec<GroupId> = memberships.get(id).cloned().unwrap_or_default();
            let before = self.memberships.remove(id).unwrap_or_default();
            for gone in before.iter().filter(|g| !now.contains(g)) {
                if let Some(&i) = self.group_position.get(gone) {
                    self.groups[i].members.retain(|m| m != id);
                }
            }
            for added in now.iter().filter(|g| !before.contains(g)) {
                if let Some(&i) = self.group_position.get(added) {
                    self.groups[i].members.push(*id);
                }
            }
            if !now.is_empty() && self.position.contains_key(id) {
                self.memberships.insert(*id, now);
            }
        }
        Ok(())
    }

    fn remove_person(&mut self, id: PersonId) {
        let Some(i) = self.position.remove(&id) else { return };
        self.people.swap_remove(i);
        if let Some(moved) = self.people.get(i) {
            self.position.insert(moved.id, i);
        }
    }

    /// Takes the groups' names and nesting as read now, keeping members of groups that remain.
    fn reshape(&mut self, shapes: Vec<Group>) {
        let unchanged = shapes.len() == self.groups.len()
            && shapes.iter().zip(&self.groups).all(|(s, g)| {
                s.id == g.id && s.name == g.name && s.source_id == g.source_id && s.member_groups == g.member_groups
            });
        if unchanged {
            return;
        }
        let mut members: HashMap<GroupId, Vec<PersonId>> =
            std::mem::take(&mut self.groups).into_iter().map(|g| (g.id, g.members)).collect();
        self.groups = shapes
            .into_iter()
            .map(|mut g| {
                g.members = members.remove(&g.id).unwrap_or_default();
                g
            })
            .collect();
        self.group_position = self.groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        let position = &self.group_position;
        for groups in self.memberships.values_mut() {
            groups.retain(|g| position.contains_key(g));
        }
    }
}

impl CachedAccounts {
    async fn load(store: &Store, tenant: TenantId, app: AppId) -> Result<Self, EngineError> {
        // The version first: an account written after it is read again by the next delta.
        let version = store.accounts_version(tenant, app).await?;
        let mut accounts = Self { version, ..Self::default() };
        for stored in store.list_accounts(tenant, app).await? {
            accounts.push(stored);
        }
        Ok(accounts)
    }

    fn push(&mut self, stored: tenure_store::StoredAccount) {
        self.observed.push(RemoteAccount {
            remote_id: stored.link.remote_id.clone(),
            active: stored.active,
            attributes: stored.attributes,
        });
        self.links.push(stored.link);
        self.user_names.push(stored.user_name);
    }

    fn apply(&mut self, delta: tenure_store::AccountsDelta) {
        // The latest event per account wins: a removal after a write, or a write after a removal.
        let mut latest: HashMap<String, (i64, Option<tenure_store::StoredAccount>)> = HashMap::new();
        for (seq, stored) in delta.written {
            let key = stored.link.remote_id.clone();
            if latest.get(&key).is_none_or(|(s, _)| *s < seq) {
                latest.insert(key, (seq, Some(stored)));
            }
        }
        for (seq, remote_id) in delta.removed {
            if latest.get(&remote_id).is_none_or(|(s, _)| *s < seq) {
                latest.insert(remote_id, (seq, None));
            }
        }
        let keep: Vec<bool> = self.links.iter().map(|l| !latest.contains_key(&l.remote_id)).collect();
        let mut kept = keep.iter();
        self.links.retain(|_| *kept.next().unwrap_or(&true));
        let mut kept = keep.iter();
        self.observed.retain(|_| *kept.next().unwrap_or(&true));
        let mut kept = keep.iter();
        self.user_names.retain(|_| *kept.next().unwrap_or(&true));
        for (_, stored) in latest.into_values() {
            if let Some(stored) = stored {
                self.push(stored);
            }
        }
        self.sort();
        self.version = delta.version;
    }

    /// The store's order (`user_name`, then remote id), so a plan from the cache equals one from
    /// a fresh read even where order decides (which of two links to one person is kept).
    fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.links.len()).collect();
        order.sort_by(|&a, &b| {
            self.user_names[a]
                .cmp(&self.user_names[b])
                .then_with(|| self.links[a].remote_id.cmp(&self.links[b].remote_id))
        });
        if order.iter().enumerate().all(|(i, &o)| i == o) {
            return;
        }
        let mut links: Vec<Option<AccountLink>> = std::mem::take(&mut self.links).into_iter().map(Some).collect();
        let mut observed: Vec<Option<RemoteAccount>> =
            std::mem::take(&mut self.observed).into_iter().map(Some).collect();
        let mut names: Vec<Option<String>> = std::mem::take(&mut self.user_names).into_iter().map(Some).collect();
        for i in order {
            if let (Some(l), Some(o), Some(n)) = (links[i].take(), observed[i].take(), names[i].take()) {
                self.links.push(l);
                self.observed.push(o);
                self.user_names.push(n);
            }
        }
    }
}

#[cfg(test)]
mod tests;
