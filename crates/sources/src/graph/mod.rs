//! Microsoft Graph (Entra ID / Microsoft 365) through delta queries on users and groups.
//!
//! The first sync (no cursor) walks `/users/delta` and `/groups/delta` from the start and
//! delivers a full snapshot; later syncs replay the stored delta links and deliver only the
//! changes. An expired delta token (410 Gone, `syncStateNotFound`, `resyncRequired`), an
//! unreadable cursor, or a change the delta cannot express as named groups (a group renamed, or a
//! new group taking a name already used) makes the sync a full one again, and says why.
//!
//! Contracts: delta query <https://learn.microsoft.com/en-us/graph/delta-query-overview>,
//! users <https://learn.microsoft.com/en-us/graph/api/user-delta>, groups with `members@delta`
//! <https://learn.microsoft.com/en-us/graph/api/group-delta>
//! (<https://learn.microsoft.com/en-us/graph/delta-query-groups>), throttling
//! <https://learn.microsoft.com/en-us/graph/throttling>.

pub mod auth;
pub mod cursor;
pub mod map;
pub mod subscriptions;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenure_core::import::{GroupChange, ImportBatch, ImportDelta, ImportGroup, ImportedPerson, PersonChange};
use url::Url;

use crate::cloud_http::{CloudError, Http, HttpOptions, Service, admin_url, bounded, redact_url};
pub use auth::{AppCredentials, GraphCredential};
use cursor::{Cursor, IndexedGroup};

pub const DEFAULT_BASE_URL: &str = "https://graph.microsoft.com/v1.0";

/// How to reach a tenant's directory. Names where the credential is, never the credential.
// No `deny_unknown_fields`: the engine stores this flattened with its own settings (scope, guard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: GraphCredential,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

/// What one pull delivers.
#[derive(Debug)]
pub enum GraphDelivery {
    /// Everyone: whoever is missing has left.
    Full(ImportBatch),
    /// Only what changed since the cursor.
    Delta(ImportDelta),
}

#[derive(Debug)]
pub struct GraphPull {
    pub delivery: GraphDelivery,
    /// To store, and to pass to the next pull once this delivery is applied.
    pub cursor: String,
    /// Why a cursor was given but a full delivery came back.
    pub resync_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GraphSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Http,
    credentials: AppCredentials,
    /// Without a trailing slash.
    base: Url,
}

const USER_TYPE: &str = "#microsoft.graph.user";
const GROUP_TYPE: &str = "#microsoft.graph.group";

fn config_error(reason: String) -> CloudError {
    CloudError::Config { service: Service::Graph, reason }
}

fn invalid(url: &Url, message: String) -> CloudError {
    CloudError::InvalidResponse { service: Service::Graph, url: redact_url(url), message }
}

/// A full delivery was needed where a delta was asked for.
enum Incremental {
    Delta(ImportDelta, Cursor),
    Resync(String),
}

impl GraphSource {
    pub fn new(config: &GraphConfig, options: HttpOptions) -> Result<Self, CloudError> {
        let credentials = AppCredentials::load(
            &config.tenant_id,
            &config.client_id,
            &config.credential,
            config.token_url.as_deref(),
        )?;
        Self::with_credentials(config, credentials, options)
    }

    /// With credentials loaded elsewhere (`config.credential` is then not read).
    pub fn with_credentials(
        config: &GraphConfig,
        credentials: AppCredentials,
        options: HttpOptions,
    ) -> Result<Self, CloudError> {
        let raw = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let mut base = admin_url(Service::Graph, "base URL", raw)?;
        base.path_segments_mut().map_err(|_| config_error(format!("base URL {raw:?}")))?.pop_if_empty();
        let http = Http::new(Service::Graph, options)?;
        Ok(Self { inner: Arc::new(Inner { http, credentials, base }) })
    }

    /// A full snapshot without a cursor, the changes since it with one.
    pub async fn pull(&self, cursor: Option<&str>) -> Result<GraphPull, CloudError> {
        let reason = match cursor.map(Cursor::decode) {
            None => None,
            Some(Err(why)) => Some(format!("the stored cursor cannot be used ({why})")),
            Some(Ok(cursor)) => match self.inner.delta(cursor).await {
                Ok(Incremental::Delta(delta, cursor)) => {
                    tracing::info!(
                        people = delta.people.len(),
                        groups = delta.groups.len(),
                        "Microsoft Graph delta read"
                    );
                    return Ok(GraphPull {
                        delivery: GraphDelivery::Delta(delta),
                        cursor: cursor.encode(),
                        resync_reason: None,
                    });
                }
                Ok(Incremental::Resync(why)) => Some(why),
                Err(CloudError::CursorExpired { code, .. }) => Some(format!("the delta token expired ({code})")),
                Err(e) => return Err(e),
            },
        };
        if let Some(why) = &reason {
            tracing::warn!(reason = %why, "Microsoft Graph: full resync instead of a delta");
        }
        let (batch, cursor) = self.inner.full().await?;
        tracing::info!(
            people = batch.people.len(),
            groups = batch.groups.len(),
            "Microsoft Graph directory read in full"
        );
        Ok(GraphPull { delivery: GraphDelivery::Full(batch), cursor: cursor.encode(), resync_reason: reason })
    }
}

/// A group as the entries of one delta walk describe it, repeated objects merged.
#[derive(Debug, Default)]
struct GroupAcc {
    removed: bool,
    display: Option<String>,
    /// `(odata type, id, removed)` in the order Graph listed them.
    members: Vec<(String, String, bool)>,
}

/// Merges a walk's group entries by id: Graph splits a large group's members over several
/// objects, on several pages.
fn merge_groups(entries: Vec<Value>, url: &Url) -> Result<BTreeMap<String, GroupAcc>, CloudError> {
    let mut groups: BTreeMap<String, GroupAcc> = BTreeMap::new();
    for entry in entries {
        let id = entry.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let id = id.ok_or_else(|| invalid(url, "a group entry without an id".into()))?.to_owned();
        let acc = groups.entry(id).or_default();
        if entry.get("@removed").is_some() {
            *acc = GroupAcc { removed: true, ..GroupAcc::default() };
            continue;
        }
        acc.removed = false;
        if let Some(display) = entry.get("displayName").and_then(Value::as_str) {
            acc.display = Some(display.to_owned());
        }
        for m in entry.get("members@delta").and_then(Value::as_array).into_iter().flatten() {
            let (Some(kind), Some(mid)) =
                (m.get("@odata.type").and_then(Value::as_str), m.get("id").and_then(Value::as_str))
            else {
                continue;
            };
            acc.members.push((kind.to_owned(), mid.to_owned(), m.get("@removed").is_some()));
        }
    }
    Ok(groups)
}

/// Merges user entries by id, later properties over earlier ones; `None` for a user whose last
/// entry is `@removed` (reason `changed`: soft-deleted, restorable for 30 days; `deleted`: gone).
fn merge_users(entries: Vec<Value>, url: &Url) -> Result<BTreeMap<String, Option<Value>>, CloudError> {
    let mut users: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for entry in entries {
        let id = entry.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let id = id.ok_or_else(|| invalid(url, "a user entry without an id".into()))?.to_owned();
        if entry.get("@removed").is_some() {
            users.insert(id, None);
            continue;
        }
        match users.entry(id).or_insert(None) {
            Some(Value::Object(known)) => {
                if let Value::Object(more) = entry {
                    known.extend(more);
                }
            }
            slot => *slot = Some(entry),
        }
    }
    Ok(users)
}

impl Inner {
    fn endpoint(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        // The base was checked to be a base URL in `new`.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A link Graph handed out, checked to lead back to the configured service: the token goes
    /// with every request, and must not follow a link elsewhere.
    fn own_link(&self, link: &str, from: &Url) -> Result<Url, CloudError> {
        let url = Url::parse(link).map_err(|e| invalid(from, format!("unreadable link: {e}")))?;
        let same = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.path().starts_with(self.base.path());
        if !same {
            return Err(invalid(from, format!("a paging link leaves {}: {}", self.base, redact_url(&url))));
        }
        Ok(url)
    }

    async fn get(&self, url: &Url) -> Result<Value, CloudError> {
        let token = self.credentials.token(&self.http).await?;
        self.http.get_json(url, &token).await
    }

    /// Every entry of a delta round: follows `@odata.nextLink` until a page carries
    /// `@odata.deltaLink`. Returns the entries and the delta link.
    async fn walk(&self, start: Url) -> Result<(Vec<Value>, Url), CloudError> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        let mut url = start;
        loop {
            let mut page = self.get(&url).await?;
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => entries.extend(items),
                _ => return Err(invalid(&url, "a delta page without a value array".into())),
            }
            if let Some(link) = page.get("@odata.deltaLink").and_then(Value::as_str) {
                return Ok((entries, self.own_link(link, &url)?));
            }
            let Some(next) = page.get("@odata.nextLink").and_then(Value::as_str) else {
                return Err(invalid(&url, "a delta page with neither @odata.nextLink nor @odata.deltaLink".into()));
            };
            if !seen.insert(next.to_owned()) {
                return Err(invalid(&url, "@odata.nextLink repeats an earlier page".into()));
            }
            url = self.own_link(next, &url)?;
        }
    }

    fn users_start(&self) -> Url {
        let select = format!("{},manager", map::USER_SELECT);
        self.endpoint(&["users", "delta"], &[("$select", &select)])
    }

    fn groups_start(&self) -> Url {
        self.endpoint(&["groups", "delta"], &[("$select", "displayName,members")])
    }

    async fn full(&self) -> Result<(ImportBatch, Cursor), CloudError> {
        let (users_start, groups_start) = (self.users_start(), self.groups_start());
        let ((user_entries, users_link), (group_entries, groups_link)) =
            tokio::try_join!(self.walk(users_start.clone()), self.walk(groups_start.clone()))?;
        let mut people = Vec::new();
        for (id, user) in merge_users(user_entries, &users_start)? {
            let Some(user) = user else { continue };
            people.push(map::map_user(&user).map_err(|e| invalid(&users_start, format!("user {id}: {e}")))?);
        }
        let groups: BTreeMap<String, GroupAcc> =
            merge_groups(group_entries, &groups_start)?.into_iter().filter(|(_, g)| !g.removed).collect();
        let displays: BTreeMap<String, String> =
            groups.iter().map(|(id, g)| (id.clone(), g.display.clone().unwrap_or_else(|| id.clone()))).collect();
        let names = cursor::names(&displays);
        let index_of: HashMap<String, usize> =
            people.iter().enumerate().map(|(i, p)| (p.source_key.clone(), i)).collect();
        let mut direct: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); people.len()];
        let mut parents: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (gid, group) in &groups {
            // Net effect per member: the initial round should carry no removals, but a group
            // changing while it is walked may show both.
            let mut last: BTreeMap<(&str, &str), bool> = BTreeMap::new();
            for (kind, mid, removed) in &group.members {
                last.insert((kind.as_str(), mid.as_str()), *removed);
            }
            for ((kind, mid), removed) in last {
                match (kind, removed) {
                    (USER_TYPE, false) => {
                        if let Some(&i) = index_of.get(mid) {
                            direct[i].insert(&names[gid]);
                        }
                    }
                    (GROUP_TYPE, false) if groups.contains_key(mid) => {
                        parents.entry(mid).or_default().insert(gid.clone());
                    }
                    // Devices, contacts, service principals: not people.
                    _ => {}
                }
            }
        }
        for (person, groups) in people.iter_mut().zip(direct) {
            person.groups = groups.into_iter().map(str::to_owned).collect();
        }
        let index: BTreeMap<String, IndexedGroup> = groups
            .keys()
            .map(|gid| {
                let ps = parents.remove(gid.as_str()).unwrap_or_default();
                (gid.clone(), IndexedGroup { name: names[gid].clone(), display: displays[gid].clone(), parents: ps })
            })
            .collect();
        let import_groups = index
            .values()
            .map(|g| ImportGroup {
                name: g.name.clone(),
                parents: g.parents.iter().map(|p| index[p].name.clone()).collect(),
            })
            .collect();
        let cursor = Cursor::new(users_link.to_string(), groups_link.to_string(), index);
        Ok((ImportBatch { people, groups: import_groups }, cursor))
    }

    async fn delta(self: &Arc<Self>, cursor: Cursor) -> Result<Incremental, CloudError> {
        // A cursor from before the base URL was changed leads elsewhere: start over here.
        let (Ok(users_from), Ok(groups_from)) =
            (self.own_link(&cursor.users, &self.base), self.own_link(&cursor.groups, &self.base))
        else {
            return Ok(Incremental::Resync(format!("the stored delta links do not lead to {}", self.base)));
        };
        let ((user_entries, users_link), (group_entries, groups_link)) =
            tokio::try_join!(self.walk(users_from.clone()), self.walk(groups_from.clone()))?;
        let users = merge_users(user_entries, &users_from)?;
        let groups = merge_groups(group_entries, &groups_from)?;
        let mut index = cursor.index;
        let mut group_changes = GroupDelta::default();
        if let Some(why) = group_changes.apply(&mut index, groups) {
            return Ok(Incremental::Resync(why));
        }

        // Delta entries may carry only the changed properties, and `manager@delta` only when the
        // manager changed: each changed user is read whole, with their direct groups, so an
        // upsert never blanks what it did not mention. Users added to or removed from a group
        // are read too: the store's snapshot holds only people in scope, and one who enters a
        // group-based scope that way (joining an included group, leaving an excluded one) must
        // arrive whole, with all their groups.
        let mut to_read: BTreeSet<String> =
            users.iter().filter(|(_, u)| u.is_some()).map(|(id, _)| id.clone()).collect();
        let moved = group_changes.added.values().chain(group_changes.removed.values()).flatten();
        to_read.extend(moved.filter(|id| !users.contains_key(*id)).cloned());
        let this = self.clone();
        let fetched =
            bounded(Service::Graph, to_read.into_iter().collect(), self.http.options.concurrency, move |id| {
                let this = this.clone();
                async move { this.read_user(&id).await.map(|p| (id, p)) }
            })
            .await?;
        let mut people = Vec::with_capacity(users.len());
        for (id, read) in fetched {
            people.push(match read {
                Some((person, group_ids)) => {
                    let mut names: Vec<String> =
                        group_ids.iter().filter_map(|g| index.get(g)).map(|g| g.name.clone()).collect();
                    names.sort();
                    PersonChange::Upsert { person, groups: Some(names) }
                }
                // Deleted between the delta and the read.
                None => PersonChange::Remove { source_key: id },
            });
        }
        people.extend(
            users.into_iter().filter(|(_, u)| u.is_none()).map(|(id, _)| PersonChange::Remove { source_key: id }),
        );
        let delta = ImportDelta { people, groups: group_changes.into_changes(&index) };
        Ok(Incremental::Delta(delta, Cursor::new(users_link.to_string(), groups_link.to_string(), index)))
    }

    /// The whole user with their manager and the ids of the groups they are a direct member of,
    /// or `None` when Graph no longer has them.
    /// <https://learn.microsoft.com/en-us/graph/api/user-get>,
    /// <https://learn.microsoft.com/en-us/graph/api/user-list-memberof>
    async fn read_user(&self, id: &str) -> Result<Option<(ImportedPerson, Vec<String>)>, CloudError> {
        let url = self.endpoint(&["users", id], &[("$select", map::USER_SELECT), ("$expand", "manager($select=id)")]);
        let person = match self.get(&url).await {
            Ok(user) => map::map_user(&user).map_err(|e| invalid(&url, e))?,
            Err(CloudError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut url = self.endpoint(&["users", id, "memberOf"], &[("$select", "id")]);
        let mut groups = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let page = match self.get(&url).await {
                Ok(page) => page,
                Err(CloudError::Status { status: 404, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let items =
                page.get("value").and_then(Value::as_array).ok_or_else(|| invalid(&url, "no value array".into()))?;
            // Directory roles and administrative units are listed too; only groups matter.
            groups.extend(
                items
                    .iter()
                    .filter(|m| m.get("@odata.type").and_then(Value::as_str) == Some(GROUP_TYPE))
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .map(str::to_owned),
            );
            match page.get("@odata.nextLink").and_then(Value::as_str) {
                None => return Ok(Some((person, groups))),
                Some(next) if seen.insert(next.to_owned()) => url = self.own_link(next, &url)?,
                Some(_) => return Err(invalid(&url, "@odata.nextLink repeats an earlier page".into())),
            }
        }
    }
}

/// Group changes gathered from one delta round, in Tenure's terms.
#[derive(Debug, Default)]
struct GroupDelta {
    /// Groups whose parents (or existence) changed: upserted with their final parents.
    dirty: BTreeSet<String>,
    added: BTreeMap<String, BTreeSet<String>>,
    removed: BTreeMap<String, BTreeSet<String>>,
    /// Names of groups that are gone.
    gone: Vec<String>,
}

impl GroupDelta {
    /// Applies the round to the index. `Some(reason)` when the round cannot be a delta.
    ///
    /// A change in how existing groups nest (a group gaining or losing a parent, or a parent
    /// deleted) can move everyone below it into or out of a group-based sync scope, and the
    /// store's snapshot does not hold the people outside the scope: such a round is answered
    /// with a full read. Nesting changes are rare; membership changes are not, and stay deltas.
    fn apply(
        &mut self,
        index: &mut BTreeMap<String, IndexedGroup>,
        groups: BTreeMap<String, GroupAcc>,
    ) -> Option<String> {
        let removed_too = |id: &String| groups.get(id).is_some_and(|g| g.removed);
        for gid in groups.iter().filter(|(_, g)| g.removed).map(|(id, _)| id) {
            if let Some((child, _)) = index.iter().find(|(id, c)| c.parents.contains(gid) && !removed_too(id)) {
                return Some(format!("group {gid}, which group {child} is nested in, was deleted"));
            }
            if let Some(old) = index.remove(gid) {
                self.gone.push(old.name);
            }
        }
        let mut new_groups = BTreeSet::new();
        for (gid, g) in groups.iter().filter(|(_, g)| !g.removed) {
            match (index.get(gid), &g.display) {
                (Some(known), Some(display)) if *display != known.display => {
                    return Some(format!("group {gid} was renamed from {:?} to {display:?}", known.display));
                }
                (Some(_), _) => {}
                (None, display) => {
                    let display = display.clone().unwrap_or_else(|| gid.clone());
                    if index.values().any(|other| other.name == display || other.display == display) {
                        return Some(format!("new group {gid} shares the name {display:?} with another group"));
                    }
                    index
                        .insert(gid.clone(), IndexedGroup { name: display.clone(), display, parents: BTreeSet::new() });
                    self.dirty.insert(gid.clone());
                    new_groups.insert(gid.clone());
                }
            }
        }
        for (gid, g) in groups.iter().filter(|(_, g)| !g.removed) {
            let name = index[gid].name.clone();
            let mut last: BTreeMap<(&str, &str), bool> = BTreeMap::new();
            for (kind, mid, removed) in &g.members {
                last.insert((kind.as_str(), mid.as_str()), *removed);
            }
            for ((kind, mid), removed) in last {
                match kind {
                    USER_TYPE => {
                        let side = if removed { &mut self.removed } else { &mut self.added };
                        side.entry(name.clone()).or_default().insert(mid.to_owned());
                    }
                    GROUP_TYPE => match index.get_mut(mid) {
                        Some(child) => {
                            let changed =
                                if removed { child.parents.remove(gid) } else { child.parents.insert(gid.clone()) };
                            if changed && !new_groups.contains(mid) {
                                return Some(format!("the nesting of group {mid} in group {gid} changed"));
                            }
                            if changed {
                                self.dirty.insert(mid.to_owned());
                            }
                        }
                        None => tracing::debug!(group = %gid, member = %mid, "nested group not known; ignored"),
                    },
                    _ => {}
                }
            }
        }
        None
    }

    fn into_changes(self, index: &BTreeMap<String, IndexedGroup>) -> Vec<GroupChange> {
        let name_of = |id: &String| index.get(id).map(|g| g.name.clone());
        let mut changes: Vec<GroupChange> = self
            .dirty
            .iter()
            .filter_map(|id| index.get(id))
            .map(|g| {
                GroupChange::Upsert(ImportGroup {
                    name: g.name.clone(),
                    parents: g.parents.iter().filter_map(name_of).collect(),
                })
            })
            .collect();
        changes.extend(
            self.added
                .into_iter()
                .map(|(group, keys)| GroupChange::AddMembers { group, person_keys: keys.into_iter().collect() }),
        );
        changes.extend(
            self.removed
                .into_iter()
                .map(|(group, keys)| GroupChange::RemoveMembers { group, person_keys: keys.into_iter().collect() }),
        );
        changes.extend(self.gone.into_iter().map(|name| GroupChange::Remove { name }));
        changes
    }
}
