//! The LDAP / Active Directory source: people from user subtrees, groups (nested) from group
//! subtrees, read with paged searches over LDAPS or StartTLS.
//!
//! A full read delivers a complete [`ImportBatch`] and a cursor; an incremental read, given the
//! source's current snapshot and that cursor, delivers only what changed (see [`delta`]).
//!
//! Contracts implemented:
//! - LDAP operations and result codes: RFC 4511, <https://www.rfc-editor.org/rfc/rfc4511>
//! - Simple Paged Results: RFC 2696, <https://www.rfc-editor.org/rfc/rfc2696>
//! - DN strings: RFC 4514; groupOfNames / groupOfUniqueNames: RFC 4519 §3.5, §3.6
//! - OpenLDAP operational attributes (`entryUUID` RFC 4530, `modifyTimestamp` RFC 4512 §3.4)
//! - Active Directory: `objectGUID`, `userAccountControl`, range retrieval and `uSNChanged`
//!   polling, <https://learn.microsoft.com/en-us/windows/win32/ad/polling-for-changes-using-usnchanged>

mod client;
pub mod config;
pub mod delta;
pub mod dn;
pub mod entry;
pub mod error;
pub mod guid;
pub mod range;
mod read;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tenure_core::import::{ImportBatch, ImportGroup};

pub use config::{AttributeMap, DisabledRule, Flavor, LdapConfig};
pub use error::LdapSourceError;

use client::Connection;
use config::Resolved;
use read::{GroupEntry, UserEntry};

/// Where the next incremental read starts. Stored by the engine as an opaque string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flavor", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cursor {
    /// Where the next search for changes starts (GeneralizedTime, `YYYYMMDDHHMMSSZ`): the
    /// highest `modifyTimestamp` seen, less the time the read took (see [`Stamps::since`]).
    Openldap { modify_timestamp: Option<String> },
    /// The domain controller read (`dsServiceName`) and its `highestCommittedUSN` before the
    /// read: USNs are per DC, so a cursor from another DC means nothing.
    ActiveDirectory { dc: String, usn: u64 },
}

impl Cursor {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Result<Cursor, LdapSourceError> {
        serde_json::from_str(raw).map_err(|e| LdapSourceError::Cursor { cursor: raw.to_owned(), reason: e.to_string() })
    }
}

/// A complete read: every person and group under the configured bases.
#[derive(Debug)]
pub struct FullRead {
    pub batch: ImportBatch,
    pub cursor: Cursor,
}

/// Reads the whole directory. Fails on any error; never returns part of it.
pub async fn read_full(config: &LdapConfig) -> Result<FullRead, LdapSourceError> {
    let resolved = config.resolve()?;
    let mut conn = Connection::open(config).await?;
    let result = full_with(&mut conn, config, &resolved).await;
    conn.close().await;
    result
}

async fn full_with(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
) -> Result<FullRead, LdapSourceError> {
    let started = std::time::Instant::now();
    // AD: the USN is read before the searches, so a change made while they run is read again
    // next time rather than missed.
    let ad_mark = match config.flavor {
        Flavor::ActiveDirectory => Some(ad_position(conn).await?),
        Flavor::Openldap => None,
    };
    let mut stamps = Stamps::default();
    let users = read_users(
        conn,
        config,
        resolved,
        &resolved.user_filter,
        &resolved.person_attributes(config.flavor),
        &mut stamps,
    )
    .await?;
    let groups = read_groups(conn, config, resolved, &resolved.group_filter, &mut stamps).await?;
    let keys = read::keys_by_dn(users.iter().map(|u| (u.entry.dn.as_str(), u.norm_dn.as_str(), u.key.as_str())))?;
    let names = read::names_by_dn(groups.iter().map(|g| (g.dn.as_str(), g.norm_dn.as_str(), g.name.as_str())))?;
    let mut m = read::memberships(&groups, &keys, &names);
    let mut people = Vec::with_capacity(users.len());
    for user in &users {
        let groups = m.person_groups.remove(&user.key).map(|g| g.into_iter().collect()).unwrap_or_default();
        people.push(read::person(user, resolved, config.flavor, &keys, groups)?);
    }
    let mut import_groups: Vec<ImportGroup> = groups
        .iter()
        .map(|g| ImportGroup {
            name: g.name.clone(),
            parents: m.group_parents.remove(&g.name).map(|p| p.into_iter().collect()).unwrap_or_default(),
        })
        .collect();
    import_groups.sort_by(|a, b| a.name.cmp(&b.name));
    let cursor = match ad_mark {
        Some((dc, usn)) => Cursor::ActiveDirectory { dc, usn },
        None => Cursor::Openldap { modify_timestamp: stamps.since(started.elapsed())? },
    };
    tracing::info!(
        people = people.len(),
        groups = import_groups.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "LDAP full read"
    );
    Ok(FullRead { batch: ImportBatch { people, groups: import_groups }, cursor })
}

/// The highest `modifyTimestamp` among the entries read. GeneralizedTime in the form OpenLDAP
/// writes (`YYYYMMDDHHMMSSZ`, UTC, fixed width) orders as text.
#[derive(Debug, Default)]
struct Stamps {
    highest: Option<String>,
}

impl Stamps {
    /// Where the next search for changes starts. Not simply the highest stamp seen: an entry
    /// changed during the read, after its page was read, may carry an earlier stamp than an
    /// entry read later, and a search from the highest stamp would miss it for good. Every change
    /// the read may have missed happened after the read started, and the read started no more
    /// than its duration before the highest stamp (which was written before the read ended); so
    /// the next search starts the read's duration (rounded up, plus the second stamps drop)
    /// before the highest stamp. What it reads again unchanged is left out of the delta.
    fn since(&self, read_took: std::time::Duration) -> Result<Option<String>, LdapSourceError> {
        let Some(highest) = &self.highest else { return Ok(None) };
        let format = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
        let at = time::PrimitiveDateTime::parse(highest, format).map_err(|e| LdapSourceError::Protocol {
            operation: "reading modifyTimestamp".into(),
            reason: format!("{highest:?}: {e}"),
        })?;
        let back = time::Duration::seconds(i64::try_from(read_took.as_secs()).unwrap_or(i64::MAX / 2) + 2);
        let since = at.checked_sub(back).unwrap_or(at);
        Ok(Some(since.format(format).map_err(|e| LdapSourceError::Protocol {
            operation: "reading modifyTimestamp".into(),
            reason: e.to_string(),
        })?))
    }

    fn see(&mut self, entry: &entry::RawEntry) -> Result<(), LdapSourceError> {
        if let Some(stamp) = entry.text("modifyTimestamp")? {
            if !valid_generalized_time(&stamp) {
                return Err(LdapSourceError::Entry {
                    dn: entry.dn.clone(),
                    reason: format!("modifyTimestamp {stamp:?} is not YYYYMMDDHHMMSSZ"),
                });
            }
            if self.highest.as_ref().is_none_or(|h| stamp > *h) {
                self.highest = Some(stamp);
            }
        }
        Ok(())
    }
}

fn valid_generalized_time(s: &str) -> bool {
    s.len() == 15 && s.ends_with('Z') && s[..14].bytes().all(|b| b.is_ascii_digit())
}

/// The DC's identity and its highest committed USN, from the root DSE.
async fn ad_position(conn: &mut Connection) -> Result<(String, u64), LdapSourceError> {
    let dse = conn.root_dse(&["dsServiceName", "highestCommittedUSN"]).await?;
    let bad = |reason: &str| LdapSourceError::Protocol { operation: "the root DSE read".into(), reason: reason.into() };
    let service = dse.text("dsServiceName")?.ok_or_else(|| bad("no dsServiceName: is this Active Directory?"))?;
    // A DC restored from a backup keeps its name but gets a new invocationId, and its USNs
    // repeat; Microsoft's guidance is to record both and read everything when either changes:
    // <https://learn.microsoft.com/en-us/windows/win32/ad/polling-for-changes-using-usnchanged>
    let invocation = conn
        .read_entry(&service, "(objectClass=*)", &["invocationId".to_owned()])
        .await?
        .and_then(|e| e.values("invocationId").first().and_then(|v| guid::render(v)));
    let dc = match invocation {
        Some(id) => format!("{service}#{id}"),
        None => service,
    };
    let usn = dse
        .text("highestCommittedUSN")?
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| bad("no numeric highestCommittedUSN"))?;
    Ok((dc, usn))
}

/// Users matching `filter` under every user base, each once (bases may overlap).
async fn read_users(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
    filter: &str,
    attrs: &[String],
    stamps: &mut Stamps,
) -> Result<Vec<UserEntry>, LdapSourceError> {
    let mut seen = HashSet::new();
    let mut users = Vec::new();
    for base in &config.user_bases {
        conn.search_paged(base, filter, attrs, |entry| {
            stamps.see(&entry)?;
            let user = read::user_entry(entry, &resolved.key)?;
            if seen.insert(user.norm_dn.clone()) {
                users.push(user);
            }
            Ok(())
        })
        .await?;
    }
    Ok(users)
}

/// Groups matching `filter` under every group base, with their complete member lists.
async fn read_groups(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
    filter: &str,
    stamps: &mut Stamps,
) -> Result<Vec<GroupEntry>, LdapSourceError> {
    let attrs = resolved.group_attributes(config.flavor);
    let mut seen = HashSet::new();
    let mut raw = Vec::new();
    for base in &config.group_bases {
        conn.search_paged(base, filter, &attrs, |entry| {
            stamps.see(&entry)?;
            let norm =
                dn::normalize(&entry.dn).map_err(|reason| LdapSourceError::Entry { dn: entry.dn.clone(), reason })?;
            if seen.insert(norm) {
                raw.push(entry);
            }
            Ok(())
        })
        .await?;
    }
    let mut groups = Vec::with_capacity(raw.len());
    for entry in raw {
        // AD sends a big group's members in ranges; the rest is fetched entry by entry.
        let mut extra = Vec::new();
        let ranged: Vec<(String, Vec<Vec<u8>>)> =
            entry.attrs.iter().filter(|(name, _)| range::parse(name).is_some()).cloned().collect();
        for (name, values) in ranged {
            if let Some(first) = range::parse(&name) {
                extra.extend(conn.complete_range(&entry.dn, &first, values).await?);
            }
        }
        groups.push(read::group_entry(&entry, &resolved.group_name, extra)?);
    }
    Ok(groups)
}

/// People's keys and DNs: the cheap listing an incremental read uses to see deletions and to
/// resolve member and manager DNs of entries that did not change.
async fn list_user_keys(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
) -> Result<HashMap<String, String>, LdapSourceError> {
    let mut stamps = Stamps::default();
    let attrs = vec![resolved.key.clone()];
    let users = read_users(conn, config, resolved, &resolved.user_filter, &attrs, &mut stamps).await?;
    read::keys_by_dn(users.iter().map(|u| (u.entry.dn.as_str(), u.norm_dn.as_str(), u.key.as_str())))
}

/// Group names by DN, for the same reasons.
async fn list_group_names(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
) -> Result<HashMap<String, String>, LdapSourceError> {
    let attrs = vec![resolved.group_name.clone()];
    let mut listed = Vec::new();
    let mut seen = HashSet::new();
    for base in &config.group_bases {
        conn.search_paged(base, &resolved.group_filter, &attrs, |entry| {
            let group = read::group_entry(&entry, &resolved.group_name, Vec::new())?;
            if seen.insert(group.norm_dn.clone()) {
                listed.push(group);
            }
            Ok(())
        })
        .await?;
    }
    read::names_by_dn(listed.iter().map(|g| (g.dn.as_str(), g.norm_dn.as_str(), g.name.as_str())))
}

/// One user by DN, if it still exists and matches the user filter.
async fn read_user(
    conn: &mut Connection,
    resolved: &Resolved,
    dn: &str,
    attrs: &[String],
) -> Result<Option<UserEntry>, LdapSourceError> {
    match conn.read_entry(dn, &resolved.user_filter, attrs).await? {
        Some(entry) => Ok(Some(read::user_entry(entry, &resolved.key)?)),
        None => Ok(None),
    }
}

/// The names of the groups `dn` is a direct member of, by an equality search on the member
/// attributes (indexed on any directory of size).
async fn groups_of(
    conn: &mut Connection,
    config: &LdapConfig,
    resolved: &Resolved,
    dn: &str,
) -> Result<Vec<String>, LdapSourceError> {
    let value = ldap3::ldap_escape(dn);
    let membership = match config.flavor {
        Flavor::Openldap => format!("(|(member={value})(uniqueMember={value}))"),
        Flavor::ActiveDirectory => format!("(member={value})"),
    };
    let filter = format!("(&{}{membership})", resolved.group_filter);
    let attrs = vec![resolved.group_name.clone()];
    let mut names = std::collections::BTreeSet::new();
    for base in &config.group_bases {
        conn.search_paged(base, &filter, &attrs, |entry| {
            names.insert(read::group_entry(&entry, &resolved.group_name, Vec::new())?.name);
            Ok(())
        })
        .await?;
    }
    Ok(names.into_iter().collect())
}
