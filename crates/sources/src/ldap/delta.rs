//! Incremental reads: only what changed since the cursor, as an [`ImportDelta`].
//!
//! Changes are found by a search on the change marker: OpenLDAP `(modifyTimestamp>=CURSOR)`
//! (RFC 4512 §3.4; the cursor lies a little before the last change seen, see `Stamps::since`,
//! and entries read again unchanged are left out of the delta), Active Directory
//! `(uSNChanged>=USN+1)` on the same domain controller
//! (<https://learn.microsoft.com/en-us/windows/win32/ad/polling-for-changes-using-usnchanged>).
//!
//! Deletions cannot be found that way: a deleted entry is simply gone. The ways a server can tell
//! about them all need something of the server: the content synchronization protocol (RFC 4533)
//! needs the syncprov overlay, an access log needs the accesslog overlay, AD's DirSync control
//! needs replication rights and AD tombstones need the show-deleted control. So an incremental
//! read also lists the key of every user and the name of every group (one short attribute per
//! entry, paged, about as costly as reading 1 attribute of 20 of a full read) and compares the
//! listing with the source's current snapshot: whoever is in the snapshot but not in the
//! listing was deleted, or moved out of the bases or the filter, and leaves. The same listing
//! resolves the member and manager DNs of changed entries to keys of people who did not change.
//!
//! Group nesting is stored in the parent (its `member` values), so a nesting change always
//! modifies the parent: a child group's new parents are its old parents that did not change,
//! plus the changed groups that list it now.

use std::collections::{BTreeSet, HashMap, HashSet};

use tenure_core::import::{GroupChange, ImportBatch, ImportDelta, ImportGroup, PersonChange};

use super::client::Connection;
use super::config::{Flavor, LdapConfig, Resolved};
use super::error::LdapSourceError;
use super::read::{self, GroupEntry, UserEntry};
use super::{Cursor, FullRead, Stamps};

/// What an incremental read delivered.
#[derive(Debug)]
pub enum Incremental {
    Delta {
        delta: ImportDelta,
        cursor: Cursor,
    },
    /// The cursor could not be used (another domain controller, another flavor, no changes
    /// recorded yet): a full read was made instead, and says why.
    Full {
        read: FullRead,
        reason: String,
    },
}

/// Reads what changed since `cursor`, relative to `snapshot` (the source's people and groups as
/// Tenure holds them). Fails whole on any error.
pub async fn read_incremental(
    config: &LdapConfig,
    snapshot: &ImportBatch,
    cursor: &str,
) -> Result<Incremental, LdapSourceError> {
    let resolved = config.resolve()?;
    let cursor = Cursor::decode(cursor)?;
    let mut conn = Connection::open(config).await?;
    let result = incremental_with(&mut conn, config, &resolved, snapshot, cursor).await;
    conn.close().await;
    result
}

/// How an incremental read goes on from a cursor.
enum Plan {
    /// Entries changed since: this filter condition; for AD, the position to store next.
    Changes {
        condition: String,
        previous_stamp: Option<String>,
        ad: Option<(String, u64)>,
    },
    Full(String),
}

/// People the snapshot does not hold (new, or entering the sync scope) need their groups in the
/// delta, one search each; past this many a full read is cheaper.
const MAX_OUTSIDERS: usize = 200;

async fn incremental_with(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
    snapshot: &ImportBatch,
    cursor: Cursor,
) -> Result<Incremental, LdapSourceError> {
    let position = match (config.flavor, &cursor) {
        (Flavor::ActiveDirectory, Cursor::ActiveDirectory { .. }) => Some(super::ad_position(conn).await?),
        _ => None,
    };
    let plan = plan(config.flavor, cursor, position)?;
    let (condition, previous_stamp, next_ad) = match plan {
        Plan::Changes { condition, previous_stamp, ad } => (condition, previous_stamp, ad),
        Plan::Full(reason) => return full(conn, config, resolved, reason).await,
    };
    let started = std::time::Instant::now();
    let mut stamps = Stamps::default();
    let user_filter = format!("(&{}{condition})", resolved.user_filter);
    let person_attrs = resolved.person_attributes(config.flavor);
    let mut changed_users = super::read_users(conn, config, resolved, &user_filter, &person_attrs, &mut stamps).await?;
    let keys = super::list_user_keys(conn, config, resolved).await?;
    let group_filter = format!("(&{}{condition})", resolved.group_filter);
    let changed_groups = super::read_groups(conn, config, resolved, &group_filter, &mut stamps).await?;
    let names = super::list_group_names(conn, config, resolved).await?;

    // Members of changed groups whom the snapshot does not hold may be entering the sync scope
    // (a group-based scope) without their own entry changing: they are read like changed ones.
    let held: HashSet<&str> = snapshot.people.iter().map(|p| p.source_key.as_str()).collect();
    let changed_dns: HashSet<String> = changed_users.iter().map(|u| u.norm_dn.clone()).collect();
    let mut outsider_dns: Vec<String> = Vec::new();
    let mut seen_outsiders: HashSet<&str> = HashSet::new();
    for group in &changed_groups {
        for member in &group.members {
            let unheld = keys.get(member).is_some_and(|k| !held.contains(k.as_str()));
            if unheld && !changed_dns.contains(member) && seen_outsiders.insert(member.as_str()) {
                outsider_dns.push(member.clone());
            }
        }
    }
    let new_users = changed_users.iter().filter(|u| !held.contains(u.key.as_str())).count();
    if outsider_dns.len() + new_users > MAX_OUTSIDERS {
        let reason =
            format!("{} people are new to the snapshot; a full read is cheaper", outsider_dns.len() + new_users);
        return full(conn, config, resolved, reason).await;
    }
    for dn in &outsider_dns {
        if let Some(user) = super::read_user(conn, resolved, dn, &person_attrs).await? {
            changed_users.push(user);
        }
    }
    let mut outsider_groups = HashMap::new();
    for user in changed_users.iter().filter(|u| !held.contains(u.key.as_str())) {
        let groups = super::groups_of(conn, config, resolved, &user.entry.dn).await?;
        outsider_groups.insert(user.key.clone(), groups);
    }

    let delta =
        compute(snapshot, &changed_users, &changed_groups, &keys, &names, &outsider_groups, resolved, config.flavor)?;
    let cursor = match next_ad {
        Some((dc, usn)) => Cursor::ActiveDirectory { dc, usn },
        None => {
            // Never back: a quiet directory keeps its cursor.
            let previous = previous_stamp.unwrap_or_default();
            let since = stamps.since(started.elapsed())?.filter(|s| *s > previous).unwrap_or(previous);
            Cursor::Openldap { modify_timestamp: Some(since) }
        }
    };
    tracing::info!(
        people = delta.people.len(),
        groups = delta.groups.len(),
        changed_users = changed_users.len(),
        changed_groups = changed_groups.len(),
        "LDAP incremental read"
    );
    Ok(Incremental::Delta { delta, cursor })
}

/// What the cursor allows, given (for AD) the domain controller's current position.
fn plan(flavor: Flavor, cursor: Cursor, position: Option<(String, u64)>) -> Result<Plan, LdapSourceError> {
    Ok(match (flavor, cursor, position) {
        (Flavor::Openldap, Cursor::Openldap { modify_timestamp: Some(stamp) }, _) => {
            if !super::valid_generalized_time(&stamp) {
                return Err(LdapSourceError::Cursor {
                    cursor: stamp,
                    reason: "not a YYYYMMDDHHMMSSZ timestamp".into(),
                });
            }
            Plan::Changes { condition: format!("(modifyTimestamp>={stamp})"), previous_stamp: Some(stamp), ad: None }
        }
        (Flavor::Openldap, Cursor::Openldap { modify_timestamp: None }, _) => {
            Plan::Full("the last read saw no entries, so there is no timestamp to start from".into())
        }
        (Flavor::ActiveDirectory, Cursor::ActiveDirectory { dc, usn }, Some((now_dc, now_usn))) => {
            if now_dc != dc {
                Plan::Full(format!("the cursor is from domain controller {dc:?}, this is {now_dc:?}; USNs are per DC"))
            } else if now_usn < usn {
                Plan::Full(format!("the DC's highestCommittedUSN went back from {usn} to {now_usn} (restored?)"))
            } else {
                Plan::Changes {
                    condition: format!("(uSNChanged>={})", usn + 1),
                    previous_stamp: None,
                    ad: Some((now_dc, now_usn)),
                }
            }
        }
        (flavor, _, _) => Plan::Full(format!("the cursor was written for another flavor than {flavor:?}")),
    })
}

async fn full(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
    reason: String,
) -> Result<Incremental, LdapSourceError> {
    tracing::info!(%reason, "LDAP incremental read falls back to a full read");
    Ok(Incremental::Full { read: super::full_with(conn, config, resolved).await?, reason })
}

/// The delta from the changed entries and the listings, relative to `snapshot`. Pure.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compute(
    snapshot: &ImportBatch,
    changed_users: &[UserEntry],
    changed_groups: &[GroupEntry],
    keys_by_dn: &HashMap<String, String>,
    names_by_dn: &HashMap<String, String>,
    outsider_groups: &HashMap<String, Vec<String>>,
    resolved: &Resolved,
    flavor: Flavor,
) -> Result<ImportDelta, LdapSourceError> {
    let listed_keys: HashSet<&str> = keys_by_dn.values().map(String::as_str).collect();
    let listed_groups: HashSet<&str> = names_by_dn.values().map(String::as_str).collect();

    // A `>=` search re-reads the entries of the cursor's second; those (and entries whose only
    // change is an attribute Tenure does not read) are left out, so the delta is what changed.
    let held: HashMap<&str, &tenure_core::import::ImportedPerson> =
        snapshot.people.iter().map(|p| (p.source_key.as_str(), p)).collect();
    let mut people = Vec::new();
    let mut upserted = HashSet::new();
    for user in changed_users {
        // Changed and then deleted before the listing: the listing is the later word.
        if !listed_keys.contains(user.key.as_str()) || !upserted.insert(user.key.as_str()) {
            continue;
        }
        // Someone the snapshot holds keeps their groups (group changes come as SetMembers);
        // someone it does not hold arrives with theirs, so a group-based scope sees them.
        let groups = outsider_groups.get(&user.key).cloned();
        let person = read::person(user, resolved, flavor, keys_by_dn, groups.clone().unwrap_or_default())?;
        if groups.is_none() && held.get(user.key.as_str()).is_some_and(|old| same_person(old, &person)) {
            continue;
        }
        people.push(PersonChange::Upsert { person, groups });
    }
    let mut gone = HashSet::new();
    for person in &snapshot.people {
        if !listed_keys.contains(person.source_key.as_str()) {
            gone.insert(person.source_key.as_str());
            people.push(PersonChange::Remove { source_key: person.source_key.clone() });
        }
    }
    // Whose manager left has no manager now, as a full read would say (the DN no longer names
    // anyone), though their own entry did not change.
    for person in &snapshot.people {
        let orphaned = person.manager_key.as_deref().is_some_and(|m| gone.contains(m));
        if orphaned && !gone.contains(person.source_key.as_str()) && !upserted.contains(person.source_key.as_str()) {
            let mut person = person.clone();
            person.manager_key = None;
            people.push(PersonChange::Upsert { person, groups: None });
        }
    }

    let old_parents: HashMap<&str, &[String]> =
        snapshot.groups.iter().map(|g| (g.name.as_str(), g.parents.as_slice())).collect();
    let removed: BTreeSet<&str> =
        snapshot.groups.iter().map(|g| g.name.as_str()).filter(|n| !listed_groups.contains(n)).collect();
    let changed: Vec<&GroupEntry> = changed_groups.iter().filter(|g| listed_groups.contains(g.name.as_str())).collect();
    let changed_names: HashSet<&str> = changed.iter().map(|g| g.name.as_str()).collect();
    let m = read::memberships(changed.iter().copied(), keys_by_dn, names_by_dn);

    let mut groups = Vec::new();
    let mut listed: Vec<&str> = listed_groups.iter().copied().collect();
    listed.sort_unstable();
    for name in listed {
        let old: BTreeSet<&str> =
            old_parents.get(name).map(|p| p.iter().map(String::as_str).collect()).unwrap_or_default();
        let mut new: BTreeSet<&str> =
            old.iter().copied().filter(|p| !changed_names.contains(p) && !removed.contains(p)).collect();
        new.extend(m.group_parents.get(name).into_iter().flatten().map(String::as_str));
        if !old_parents.contains_key(name) || new != old {
            groups.push(GroupChange::Upsert(ImportGroup {
                name: name.to_owned(),
                parents: new.into_iter().map(str::to_owned).collect(),
            }));
        }
    }
    let mut old_members: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for person in &snapshot.people {
        for g in &person.groups {
            old_members.entry(g.as_str()).or_default().insert(person.source_key.as_str());
        }
    }
    for group in &changed {
        let members: BTreeSet<&str> =
            m.group_people.get(&group.name).map(|k| k.iter().map(String::as_str).collect()).unwrap_or_default();
        let old: BTreeSet<&str> = old_members.get(group.name.as_str()).cloned().unwrap_or_default();
        // Members the snapshot does not hold arrive with their groups in their own upsert.
        let held_members: BTreeSet<&str> = members.iter().copied().filter(|k| held.contains_key(k)).collect();
        if held_members != old || !old_parents.contains_key(group.name.as_str()) {
            let person_keys = members.into_iter().map(str::to_owned).collect();
            groups.push(GroupChange::SetMembers { group: group.name.clone(), person_keys });
        }
    }
    for name in removed {
        groups.push(GroupChange::Remove { name: name.to_owned() });
    }
    Ok(ImportDelta { people, groups })
}

/// Whether two readings of a person agree on everything but their groups.
fn same_person(old: &tenure_core::import::ImportedPerson, new: &tenure_core::import::ImportedPerson) -> bool {
    let mut old = old.clone();
    old.groups.clone_from(&new.groups);
    old == *new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(plan: Plan) -> String {
        match plan {
            Plan::Changes { condition, .. } => condition,
            Plan::Full(reason) => format!("full: {reason}"),
        }
    }

    #[test]
    fn cursors_plan_the_change_search_or_a_full_read() {
        let dc = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=corp";
        let ad = Cursor::ActiveDirectory { dc: dc.into(), usn: 41_000 };
        let same = condition(plan(Flavor::ActiveDirectory, ad.clone(), Some((dc.into(), 41_500))).unwrap());
        assert_eq!(same, "(uSNChanged>=41001)");
        let other = condition(plan(Flavor::ActiveDirectory, ad.clone(), Some(("CN=DC2".into(), 90_000))).unwrap());
        assert!(other.starts_with("full: ") && other.contains("USNs are per DC"), "{other}");
        let restored = condition(plan(Flavor::ActiveDirectory, ad.clone(), Some((dc.into(), 10))).unwrap());
        assert!(restored.contains("went back"), "{restored}");
        assert!(condition(plan(Flavor::Openldap, ad, None).unwrap()).starts_with("full: "));

        let ol = Cursor::Openldap { modify_timestamp: Some("20260102030405Z".into()) };
        assert_eq!(condition(plan(Flavor::Openldap, ol.clone(), None).unwrap()), "(modifyTimestamp>=20260102030405Z)");
        assert!(condition(plan(Flavor::ActiveDirectory, ol, None).unwrap()).starts_with("full: "));
        let forged = Cursor::Openldap { modify_timestamp: Some("2026)(uid=*".into()) };
        assert!(matches!(plan(Flavor::Openldap, forged, None), Err(LdapSourceError::Cursor { .. })));

        let encoded = Cursor::ActiveDirectory { dc: dc.into(), usn: 7 }.encode();
        assert_eq!(Cursor::decode(&encoded).unwrap(), Cursor::ActiveDirectory { dc: dc.into(), usn: 7 });
        assert!(matches!(Cursor::decode("{\"flavor\":\"nope\"}"), Err(LdapSourceError::Cursor { .. })));
    }
}
