//! What an import compares a source's new snapshot with, and the difference it writes.
//!
//! A full import of 100,000 people used to read every person, membership and group of the source
//! back from the database to find the hundred that changed: about as long as the first import.
//! [`SourceState`] is that comparison's input, small enough to keep in memory between imports
//! (each person as their id, status and a content hash; groups by name; memberships; nesting by
//! names). The caller keeps it after an import and hands it to the next one, which uses it only
//! while the tenant's `directory_version` (migration 0017: moved by triggers in the same
//! transaction as every directory write) is still the one the state was made at; otherwise the
//! state is read again from the database. Either way the same [`SourceState::diff`] decides what
//! to write and whom to mark, so the source guard, the deletion guard and propagation see the
//! same changes whichever state was used.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use sqlx::{Any, Transaction};
use tenure_core::import::*;
use tenure_core::*;

use crate::bulk::{self, Param};
use crate::directory::{PERSON_COLUMNS, date_text, nesting_pairs, person_from_import, person_from_row};
use crate::queue::DirtyMark;
use crate::row::*;
use crate::{Backend, ImportSummary, StoreError, now_ms};

/// Past this many changed people, one "plan everything" mark replaces the per-person ones: a
/// full plan is cheaper than thousands of single-person ones, and the marks stay few.
const BULK_CHANGE: usize = 1000;

/// The groups an import names, each with its id: the state's, or a new one.
struct Wanted<'s, 'b> {
    known: &'s HashMap<String, GroupId>,
    ids: HashMap<&'b str, GroupId>,
    new: Vec<(&'b str, GroupId)>,
}

impl<'b> Wanted<'_, 'b> {
    fn id(&mut self, name: &'b str) -> GroupId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = match self.known.get(name) {
            Some(id) => *id,
            None => {
                let id = GroupId::new();
                self.new.push((name, id));
                id
            }
        };
        self.ids.insert(name, id);
        id
    }
}

/// What the directory holds of one source, as the next import compares with it.
#[derive(Debug, Clone)]
pub struct SourceState {
    /// The tenant's `directory_version` the state reflects.
    version: i64,
    /// Keyed per state at random, so a crafted export cannot make a change look unchanged.
    hasher: RandomState,
    people: HashMap<String, Known>,
    groups: HashMap<String, GroupId>,
    members: HashSet<(GroupId, PersonId), Ids>,
    nesting: NestingByName,
}

/// Hashes ids, which Tenure makes at random (UUIDv4), so nothing an export says can steer
/// them into one bucket: a few multiplications instead of SipHash, for the hundreds of thousands
/// of memberships each import compares. Names and keys from the export keep `RandomState`.
type Ids = BuildHasherDefault<IdHasher>;

#[derive(Default)]
struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let (words, rest) = bytes.as_chunks::<8>();
        for word in words {
            self.add(u64::from_le_bytes(*word));
        }
        for &byte in rest {
            self.add(u64::from(byte));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The table picks buckets by the low bits and tags by the top ones: mix both (the
        // finalizer of MurmurHash3).
        let mut h = self.0;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A source's nesting as (parent name, child name).
type NestingByName = HashSet<(String, String)>;

/// A person of the source as the directory stores them: their content as a hash, the status
/// apart (a person who left keeps their content and changes only status).
#[derive(Debug, Clone, Copy)]
struct Known {
    id: PersonId,
    status: PersonStatus,
    hash: u64,
}

/// The stored fields that come from the source, less id, source and status; one spelling for a
/// `Person` and an `ImportedPerson`, which must hash alike.
macro_rules! content {
    ($p:expr) => {
        (
            &$p.source_key,
            &$p.user_name,
            &$p.email,
            &$p.given_name,
            &$p.family_name,
            &$p.display_name,
            &$p.department,
            &$p.title,
            &$p.employee_id,
            &$p.manager_key,
            &$p.org_unit,
            (&$p.start_date, &$p.leave_date, &$p.custom),
        )
    };
}

/// What an import did, and the source's state after it.
#[derive(Debug)]
pub struct ImportDone {
    pub summary: ImportSummary,
    pub state: SourceState,
    /// Whether the state handed in was current and used (rather than read again).
    pub reused: bool,
    pub timings: ImportTimings,
}

/// Where an import's time went, in milliseconds (`tenure bench import` prints them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImportTimings {
    /// Reading the source's state back from the database (0 when the kept one was current).
    pub read_ms: f64,
    /// Comparing the batch with the state.
    pub diff_ms: f64,
    /// The transaction less the two above: beginning it, the changed rows, marks, audit, commit.
    pub write_ms: f64,
}

/// What an import writes: the difference between a [`SourceState`] and a batch.
pub(crate) struct Changes<'b> {
    pub summary: ImportSummary,
    /// New and changed people, each with its content hash.
    pub writes: Vec<(Person, u64)>,
    /// People no longer in the source (by key, as the state knows them).
    pub left: Vec<(String, PersonId)>,
    pub gone_groups: Vec<(String, GroupId)>,
    pub new_groups: Vec<(&'b str, GroupId)>,
    pub removed_members: Vec<(GroupId, PersonId)>,
    pub added_members: Vec<(GroupId, PersonId)>,
    /// The whole new nesting, when it differs from the state's: by names, and by ids to write.
    pub nesting: Option<(NestingByName, Vec<(GroupId, GroupId)>)>,
    pub marks: Vec<DirtyMark>,
}

impl SourceState {
    /// The tenant's `directory_version` this state reflects.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// How many people of the source the state knows (those who left included).
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// Reads the source's part of the directory inside `tx`, at `version`.
    pub(crate) async fn read(
        tx: &mut Transaction<'_, Any>,
        tenant: &str,
        source: &str,
        version: i64,
    ) -> Result<Self, StoreError> {
        let hasher = RandomState::new();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND source_id = $2"
        )))
        .bind(tenant)
        .bind(source)
        .fetch_all(&mut **tx)
        .await?;
        let mut people = HashMap::with_capacity(rows.len());
        for row in &rows {
            let p = person_from_row(row)?;
            let known = Known { id: p.id, status: p.status, hash: hasher.hash_one(content!(p)) };
            people.insert(p.source_key, known);
        }
        drop(rows);
        let rows = sqlx::query(
            "SELECT m.group_id, m.person_id FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.tenant_id = $1 AND g.tenant_id = $1 AND g.source_id = $2",
        )
        .bind(tenant)
        .bind(source)
        .fetch_all(&mut **tx)
        .await?;
        let members = rows
            .iter()
            .map(|row| Ok((parsed(row, "group_id")?, parsed(row, "person_id")?)))
            .collect::<Result<_, StoreError>>()?;
        drop(rows);
        let rows = sqlx::query("SELECT id, name FROM groups WHERE tenant_id = $1 AND source_id = $2")
            .bind(tenant)
            .bind(source)
            .fetch_all(&mut **tx)
            .await?;
        let groups =
            rows.iter().map(|row| Ok((text(row, "name")?, parsed(row, "id")?))).collect::<Result<_, StoreError>>()?;
        let nesting = nesting_pairs(tx, tenant, source).await?;
        Ok(Self { version, hasher, people, groups, members, nesting })
    }

    /// What importing `batch` into `source` changes.
    /// Each person's content hash, in order: the bulk of comparing an export of 100,000
    /// people, so computed on every core (the hasher is shared read-only).
    fn content_hashes(&self, people: &[ImportedPerson]) -> Vec<u64> {
        const MIN_PER_THREAD: usize = 8_192;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        let chunk = people.len().div_ceil(threads).max(MIN_PER_THREAD);
        let hash_part =
            |part: &[ImportedPerson]| -> Vec<u64> { part.iter().map(|p| self.hasher.hash_one(content!(p))).collect() };
        let hash_part = &hash_part;
        if people.len() <= chunk {
            return hash_part(people);
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = people.chunks(chunk).map(|part| scope.spawn(move || hash_part(part))).collect();
            parts.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    }

    pub(crate) fn diff<'b>(&self, source: SourceId, batch: &'b ImportBatch) -> Changes<'b> {
        let mut summary = ImportSummary::default();
        let mut changed: Vec<PersonId> = Vec::new();
        let mut ids_by_key: HashMap<&str, PersonId> = HashMap::with_capacity(batch.people.len());
        // Each imported person's id, in the batch's order.
        let mut ids: Vec<PersonId> = Vec::with_capacity(batch.people.len());
        let mut writes = Vec::new();
        let hashes = self.content_hashes(&batch.people);
        for (imported, &hash) in batch.people.iter().zip(&hashes) {
            let id = match self.people.get(&imported.source_key) {
                Some(old) => {
                    if old.hash != hash || old.status != imported.status {
                        if old.status == PersonStatus::Deleted && imported.status != PersonStatus::Deleted {
                            summary.returned += 1;
                        } else {
                            summary.updated += 1;
                        }
                        changed.push(old.id);
                        writes.push((person_from_import(old.id, source, imported), hash));
                    } else {
                        summary.unchanged += 1;
                    }
                    old.id
                }
                None => {
                    let new = person_from_import(PersonId::new(), source, imported);
                    let id = new.id;
                    changed.push(id);
                    writes.push((new, hash));
                    summary.created += 1;
                    id
                }
            };
            ids_by_key.insert(&imported.source_key, id);
            ids.push(id);
        }
        // A key delivered twice is the last one's (no source does, but the directory must stay
        // as it always was if one did).
        if ids_by_key.len() != ids.len() {
            for (id, imported) in ids.iter_mut().zip(&batch.people) {
                if let Some(last) = ids_by_key.get(imported.source_key.as_str()) {
                    *id = *last;
                }
            }
        }
        let left: Vec<(String, PersonId)> = self
            .people
            .iter()
            .filter(|(key, old)| old.status != PersonStatus::Deleted && !ids_by_key.contains_key(key.as_str()))
            .map(|(key, old)| (key.clone(), old.id))
            .collect();
        drop(ids_by_key);
        changed.extend(left.iter().map(|(_, id)| *id));
        summary.left = left.len();

        // Groups: every group named anywhere in the batch exists (as it was, or new); the others
        // are gone. Memberships: only the difference is written, so re-importing an export with a
        // few changed rows touches a few rows here too.
        let mut groups =
            Wanted { known: &self.groups, ids: HashMap::with_capacity(self.groups.len()), new: Vec::new() };
        for group in &batch.groups {
            groups.id(&group.name);
            for parent in &group.parents {
                groups.id(parent);
            }
        }
        let mut wanted_members: HashSet<(GroupId, PersonId), Ids> =
            HashSet::with_capacity_and_hasher(self.members.len().max(batch.people.len()), Ids::default());
        for (person, &pid) in batch.people.iter().zip(&ids) {
            for group in &person.groups {
                wanted_members.insert((groups.id(group), pid));
            }
        }
        let Wanted { ids: group_ids, new: mut new_groups, .. } = groups;
        let mut gone_groups: Vec<(String, GroupId)> = self
            .groups
            .iter()
            .filter(|(name, _)| !group_ids.contains_key(name.as_str()))
            .map(|(name, id)| (name.clone(), *id))
            .collect();
        gone_groups.sort_unstable();
        new_groups.sort_unstable();
        let group_id = |name: &str| group_ids.get(name).copied();
        summary.groups = group_ids.len();

        let mut removed_members = Vec::new();
        for pair in &self.members {
            if !wanted_members.remove(pair) {
                changed.push(pair.1);
                removed_members.push(*pair);
            }
        }
        removed_members.sort_unstable();
        let mut added_members: Vec<(GroupId, PersonId)> = wanted_members.into_iter().collect();
        added_members.sort_unstable();
        changed.extend(added_members.iter().map(|(_, person)| *person));

        let new_nesting: HashSet<(String, String)> =
            batch.groups.iter().flat_map(|g| g.parents.iter().map(|p| (p.clone(), g.name.clone()))).collect();
        let nesting = (new_nesting != self.nesting).then(|| {
            let mut ids: Vec<(GroupId, GroupId)> = new_nesting
                .iter()
                .filter_map(|(parent, child)| Some((group_id(parent)?, group_id(child)?)))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            ids.sort_unstable();
            (new_nesting, ids)
        });
        let marks = if nesting.is_some() || changed.len() > BULK_CHANGE {
            vec![DirtyMark::everything()]
        } else {
            changed.sort_unstable();
            changed.dedup();
            changed.into_iter().map(DirtyMark::person).collect()
        };
        Changes { summary, writes, left, gone_groups, new_groups, removed_members, added_members, nesting, marks }
    }

    /// The state after `changes` were written and committed, at `version`.
    pub(crate) fn apply(&mut self, changes: Changes<'_>, version: i64) {
        for (person, hash) in changes.writes {
            let known = Known { id: person.id, status: person.status, hash };
            self.people.insert(person.source_key, known);
        }
        for (key, _) in changes.left {
            if let Some(known) = self.people.get_mut(&key) {
                known.status = PersonStatus::Deleted;
            }
        }
        // Their memberships are among the removed ones below (the database's cascade took them).
        for (name, _) in changes.gone_groups {
            self.groups.remove(&name);
        }
        self.groups.extend(changes.new_groups.into_iter().map(|(name, id)| (name.to_owned(), id)));
        for pair in changes.removed_members {
            self.members.remove(&pair);
        }
        self.members.extend(changes.added_members);
        if let Some((names, _)) = changes.nesting {
            self.nesting = names;
        }
        self.version = version;
    }
}

/// The tenant's directory version, locked until the transaction ends on PostgreSQL (on SQLite
/// the write transaction holds the database's one write lock already): no other writer can move
/// it between this read and the import's commit, so a state at this version is the database's.
/// `FOR NO KEY UPDATE` blocks every other writer of the row but not the key-share lock that the
/// foreign keys of other tables' new rows (audit entries) take on it: with `FOR UPDATE`, an
/// import waiting for the audit chain and an auditor holding it and checking that key deadlocked.
pub(crate) async fn lock_directory_version(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    tenant: &str,
) -> Result<i64, StoreError> {
    let sql = match backend {
        Backend::Postgres => "SELECT directory_version FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
        Backend::Sqlite => "SELECT directory_version FROM tenants WHERE id = $1",
    };
    let row = sqlx::query(sql)
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
    int(&row, "directory_version")
}

/// Writes `changes` for the source `s` of the tenant `t`, a few statements per kind of change.
pub(crate) async fn write_changes(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    t: &str,
    s: &str,
    changes: &Changes<'_>,
) -> Result<(), StoreError> {
    let now = now_ms();
    // New and changed people in one multi-row upsert per chunk: the id decides which.
    bulk::insert(
        tx,
        backend,
        (
            "INSERT INTO people (id, source_id, source_key, user_name, email, given_name, family_name, display_name, \
             department, title, employee_id, manager_key, org_unit, status, start_date, leave_date, custom, updated_ms, \
             tenant_id) VALUES ",
            " ON CONFLICT (id) DO UPDATE SET source_id = excluded.source_id, source_key = excluded.source_key, \
             user_name = excluded.user_name, email = excluded.email, given_name = excluded.given_name, \
             family_name = excluded.family_name, display_name = excluded.display_name, \
             department = excluded.department, title = excluded.title, employee_id = excluded.employee_id, \
             manager_key = excluded.manager_key, org_unit = excluded.org_unit, status = excluded.status, \
             start_date = excluded.start_date, leave_date = excluded.leave_date, custom = excluded.custom, \
             updated_ms = excluded.updated_ms WHERE people.tenant_id = excluded.tenant_id",
        ),
        &[],
        19,
        &changes.writes,
        |(p, _): &(Person, u64), row| {
            row.extend([
                Param::from(p.id.to_string()),
                Param::from(s),
                Param::from(p.source_key.as_str()),
                Param::from(p.user_name.as_str()),
                Param::from(p.email.as_str()),
                Param::from(p.given_name.as_deref()),
                Param::from(p.family_name.as_deref()),
                Param::from(p.display_name.as_deref()),
                Param::from(p.department.as_deref()),
                Param::from(p.title.as_deref()),
                Param::from(p.employee_id.as_deref()),
                Param::from(p.manager_key.as_deref()),
                Param::from(p.org_unit.as_ref().map(OrgUnitPath::as_str)),
                Param::from(p.status.as_str()),
                Param::from(date_text(p.start_date)),
                Param::from(date_text(p.leave_date)),
                Param::from(to_json(&p.custom)),
                Param::from(now),
                Param::from(t),
            ]);
        },
    )
    .await?;
    let left: Vec<String> = changes.left.iter().map(|(_, id)| id.to_string()).collect();
    let fixed = [Param::from(now), Param::from(t)];
    bulk::with_in_list(
        tx,
        backend,
        "UPDATE people SET status = 'deleted', updated_ms = ? WHERE tenant_id = ? AND id",
        &fixed,
        &left,
    )
    .await?;

    // Gone groups take their memberships and nesting with them, by cascade.
    let gone: Vec<String> = changes.gone_groups.iter().map(|(_, id)| id.to_string()).collect();
    let tenant_only = [Param::from(t)];
    bulk::with_in_list(tx, backend, "DELETE FROM groups WHERE tenant_id = ? AND id", &tenant_only, &gone).await?;
    let tenant_and_source = [Param::from(t), Param::from(s)];
    bulk::insert(
        tx,
        backend,
        (
            "INSERT INTO groups (tenant_id, source_id, id, name) SELECT ?, ?, v.column1, v.column2 FROM (VALUES ",
            ") AS v",
        ),
        &tenant_and_source,
        2,
        &changes.new_groups,
        |g, row| row.extend([Param::from(g.1.to_string()), Param::from(g.0)]),
    )
    .await?;

    // Per group, so each membership binds one value rather than three.
    let mut removed: HashMap<GroupId, Vec<String>> = HashMap::new();
    for (gid, pid) in &changes.removed_members {
        removed.entry(*gid).or_default().push(pid.to_string());
    }
    for (gid, people) in &removed {
        let fixed = [Param::from(t), Param::from(gid.to_string())];
        bulk::with_in_list(
            tx,
            backend,
            "DELETE FROM group_members WHERE tenant_id = ? AND group_id = ? AND person_id",
            &fixed,
            people,
        )
        .await?;
    }
    let mut added: HashMap<GroupId, Vec<PersonId>> = HashMap::new();
    for (gid, pid) in &changes.added_members {
        added.entry(*gid).or_default().push(*pid);
    }
    for (gid, people) in &added {
        let fixed = [Param::from(t), Param::from(gid.to_string())];
        bulk::insert(
            tx,
            backend,
            (
                "INSERT INTO group_members (tenant_id, group_id, person_id) SELECT ?, ?, v.column1 FROM (VALUES ",
                ") AS v",
            ),
            &fixed,
            1,
            people,
            |pid, row| row.push(Param::from(pid.to_string())),
        )
        .await?;
    }

    // Nesting is small: rewritten whole when it changed, which inside the transaction nobody sees.
    if let Some((_, nesting)) = &changes.nesting {
        sqlx::query(
            "DELETE FROM group_nesting WHERE tenant_id = $1 AND child_id IN (SELECT id FROM groups WHERE source_id = $2)",
        )
        .bind(t)
        .bind(s)
        .execute(&mut **tx)
        .await?;
        bulk::insert(
            tx,
            backend,
            ("INSERT INTO group_nesting (tenant_id, parent_id, child_id) SELECT ?, v.column1, v.column2 FROM (VALUES ", ") AS v"),
            &tenant_only,
            2,
            nesting,
            |n, row| row.extend([Param::from(n.0.to_string()), Param::from(n.1.to_string())]),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_made_on_several_threads_are_the_ones_made_on_one() {
        let state = SourceState {
            version: 1,
            hasher: RandomState::new(),
            people: HashMap::new(),
            groups: HashMap::new(),
            members: HashSet::default(),
            nesting: HashSet::new(),
        };
        let people: Vec<ImportedPerson> = (0..20_000)
            .map(|i| ImportedPerson {
                source_key: format!("E{i}"),
                user_name: format!("p{i}@x.io"),
                email: format!("p{i}@x.io"),
                given_name: None,
                family_name: None,
                display_name: None,
                department: None,
                title: Some(format!("title {}", i % 7)),
                employee_id: None,
                manager_key: None,
                org_unit: None,
                status: PersonStatus::Active,
                start_date: None,
                leave_date: None,
                custom: Default::default(),
                groups: Vec::new(),
            })
            .collect();
        let one: Vec<u64> = people.iter().map(|p| state.hasher.hash_one(content!(p))).collect();
        assert_eq!(state.content_hashes(&people), one);
        assert_eq!(state.content_hashes(&people[..10]), one[..10]);
    }
}
