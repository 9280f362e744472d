//! Turning directory entries into people and groups: keys, attributes, status, org units, and
//! group membership by DN. Pure: the entries come in, values go out.

use std::collections::{BTreeSet, HashMap};

use tenure_core::PersonStatus;
use tenure_core::import::ImportedPerson;
use tenure_core::model::OrgUnitPath;

use super::config::{Flavor, Resolved};
use super::dn::{self, Dn};
use super::entry::RawEntry;
use super::error::LdapSourceError;
use super::guid;

/// Active Directory's ACCOUNTDISABLE bit of `userAccountControl`:
/// <https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/useraccountcontrol-manipulate-account-properties>
const UF_ACCOUNTDISABLE: u32 = 0x2;

/// A user entry with what it takes to match it: its normalized DN and stable key.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub norm_dn: String,
    pub key: String,
    pub entry: RawEntry,
}

/// A group entry: its name in Tenure and its members as normalized DNs.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    pub dn: String,
    pub norm_dn: String,
    pub name: String,
    pub members: Vec<String>,
}

fn entry_error(dn: &str, reason: impl Into<String>) -> LdapSourceError {
    LdapSourceError::Entry { dn: dn.to_owned(), reason: reason.into() }
}

/// The stable key of an entry: `objectGUID` rendered as a GUID string, otherwise the text value
/// (entryUUID lower-cased, since its matching rule ignores case).
pub fn entry_key(entry: &RawEntry, attr: &str) -> Result<String, LdapSourceError> {
    if attr.eq_ignore_ascii_case("objectGUID") {
        let bytes = entry.values(attr).first().ok_or_else(|| entry_error(&entry.dn, format!("no {attr}")))?;
        return guid::render(bytes)
            .ok_or_else(|| entry_error(&entry.dn, format!("{attr} is {} bytes, expected 16", bytes.len())));
    }
    let key = entry.text(attr)?.ok_or_else(|| {
        entry_error(
            &entry.dn,
            format!("no {attr} (the key attribute); without a stable key the person cannot be followed"),
        )
    })?;
    Ok(if attr.eq_ignore_ascii_case("entryUUID") { key.to_ascii_lowercase() } else { key })
}

pub fn user_entry(entry: RawEntry, key_attr: &str) -> Result<UserEntry, LdapSourceError> {
    let norm_dn = dn::normalize(&entry.dn).map_err(|reason| entry_error(&entry.dn, reason))?;
    let key = entry_key(&entry, key_attr)?;
    Ok(UserEntry { norm_dn, key, entry })
}

/// The group's members, from `member` and `uniqueMember` (RFC 4519 groupOfNames and
/// groupOfUniqueNames), normalized; `ranged` values (AD range retrieval) are added by the caller.
pub fn group_entry(
    entry: &RawEntry,
    name_attr: &str,
    extra_members: Vec<Vec<u8>>,
) -> Result<GroupEntry, LdapSourceError> {
    let parsed = Dn::parse(&entry.dn).map_err(|reason| entry_error(&entry.dn, reason))?;
    let name = match entry.text(name_attr)? {
        Some(name) => name,
        None => parsed
            .leaf_value(name_attr)
            .map(str::to_owned)
            .ok_or_else(|| entry_error(&entry.dn, format!("the group has no {name_attr} to name it by")))?,
    };
    let mut members = Vec::new();
    let values = entry.values("member").iter().chain(entry.values("uniqueMember")).chain(extra_members.iter());
    for value in values {
        let text = std::str::from_utf8(value).map_err(|_| entry_error(&entry.dn, "a member value is not UTF-8"))?;
        let member = dn::normalize(dn::strip_optional_uid(text.trim()))
            .map_err(|reason| entry_error(&entry.dn, format!("member: {reason}")))?;
        members.push(member);
    }
    Ok(GroupEntry { dn: entry.dn.clone(), norm_dn: parsed.normalized(), name, members })
}

/// The person a user entry describes. `keys_by_dn` resolves the manager's DN; `groups` are the
/// names of the groups the person is a direct member of.
pub fn person(
    user: &UserEntry,
    resolved: &Resolved,
    flavor: Flavor,
    keys_by_dn: &HashMap<String, String>,
    groups: Vec<String>,
) -> Result<ImportedPerson, LdapSourceError> {
    let e = &user.entry;
    let opt = |attr: &Option<String>| -> Result<Option<String>, LdapSourceError> {
        match attr {
            Some(a) => e.text(a),
            None => Ok(None),
        }
    };
    let email = e.text(&resolved.email)?.ok_or_else(|| {
        entry_error(
            &e.dn,
            format!(
                "no {} (the email attribute); narrow the user filter, e.g. with ({}=*)",
                resolved.email, resolved.email
            ),
        )
    })?;
    if email.contains(char::is_whitespace) || !email.contains('@') {
        return Err(entry_error(&e.dn, format!("{} {email:?} is not an email address", resolved.email)));
    }
    // A directory account without a login name (rare) is still someone: its address names it.
    let user_name = e.text(&resolved.user_name)?.unwrap_or_else(|| email.clone());
    let manager_key = match opt(&resolved.manager)? {
        Some(manager_dn) => {
            let norm = dn::normalize(&manager_dn).map_err(|reason| entry_error(&e.dn, format!("manager: {reason}")))?;
            // A manager outside the user bases (or the filter) is not a person Tenure knows.
            keys_by_dn.get(&norm).cloned()
        }
        None => None,
    };
    let parsed = Dn::parse(&e.dn).map_err(|reason| entry_error(&e.dn, reason))?;
    let units = parsed.org_units();
    let org_unit = if units.is_empty() {
        None
    } else {
        if let Some(bad) = units.iter().find(|u| u.contains('/') || u.trim().is_empty()) {
            return Err(entry_error(
                &e.dn,
                format!("org unit {bad:?} cannot be a path segment (it contains '/' or is blank)"),
            ));
        }
        let path = format!("/{}", units.join("/"));
        Some(OrgUnitPath::parse(&path).map_err(|err| entry_error(&e.dn, err.to_string()))?)
    };
    Ok(ImportedPerson {
        source_key: user.key.clone(),
        user_name,
        email,
        given_name: opt(&resolved.given_name)?,
        family_name: opt(&resolved.family_name)?,
        display_name: opt(&resolved.display_name)?,
        department: opt(&resolved.department)?,
        title: opt(&resolved.title)?,
        employee_id: opt(&resolved.employee_number)?,
        manager_key,
        org_unit,
        status: status(e, resolved, flavor)?,
        start_date: None,
        leave_date: None,
        custom: Default::default(),
        groups,
    })
}

fn status(e: &RawEntry, resolved: &Resolved, flavor: Flavor) -> Result<PersonStatus, LdapSourceError> {
    let disabled = match flavor {
        Flavor::ActiveDirectory => match e.text("userAccountControl")? {
            Some(raw) => {
                // The attribute is a 32-bit flag set, sometimes rendered as a signed integer.
                let flags = raw
                    .parse::<u32>()
                    .or_else(|_| raw.parse::<i32>().map(|v| v as u32))
                    .map_err(|_| entry_error(&e.dn, format!("userAccountControl {raw:?} is not a number")))?;
                flags & UF_ACCOUNTDISABLE != 0
            }
            None => false,
        },
        Flavor::Openldap => match &resolved.disabled {
            Some(rule) => match &rule.value {
                None => e.has(&rule.attribute),
                Some(wanted) => e.texts(&rule.attribute)?.iter().any(|v| v.trim().eq_ignore_ascii_case(wanted)),
            },
            None => false,
        },
    };
    Ok(if disabled { PersonStatus::Suspended } else { PersonStatus::Active })
}

/// Who is in which group: for each person key their direct groups, for each group name the
/// groups it is directly nested in. Members that are neither a known person nor a known group
/// (outside the bases, or dangling after a delete) are ignored.
pub struct Memberships {
    pub person_groups: HashMap<String, BTreeSet<String>>,
    pub group_parents: HashMap<String, BTreeSet<String>>,
    /// Each group's direct person members (keys).
    pub group_people: HashMap<String, BTreeSet<String>>,
}

pub fn memberships<'a>(
    groups: impl IntoIterator<Item = &'a GroupEntry>,
    keys_by_dn: &HashMap<String, String>,
    names_by_dn: &HashMap<String, String>,
) -> Memberships {
    let mut m =
        Memberships { person_groups: HashMap::new(), group_parents: HashMap::new(), group_people: HashMap::new() };
    for group in groups {
        let people = m.group_people.entry(group.name.clone()).or_default();
        for member in &group.members {
            if let Some(key) = keys_by_dn.get(member) {
                m.person_groups.entry(key.clone()).or_default().insert(group.name.clone());
                people.insert(key.clone());
            } else if let Some(child) = names_by_dn.get(member)
                && *child != group.name
            {
                m.group_parents.entry(child.clone()).or_default().insert(group.name.clone());
            }
        }
    }
    m
}

/// Group names by normalized DN, refusing two groups with one name.
pub fn names_by_dn<'a>(
    groups: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<HashMap<String, String>, LdapSourceError> {
    let mut by_name: HashMap<&str, &str> = HashMap::new();
    let mut out = HashMap::new();
    for (dn, norm_dn, name) in groups {
        if let Some(first) = by_name.insert(name, dn) {
            return Err(LdapSourceError::DuplicateGroup {
                name: name.to_owned(),
                first: first.to_owned(),
                second: dn.to_owned(),
            });
        }
        out.insert(norm_dn.to_owned(), name.to_owned());
    }
    Ok(out)
}

/// Person keys by normalized DN, refusing two entries with one key.
pub fn keys_by_dn<'a>(
    users: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<HashMap<String, String>, LdapSourceError> {
    let mut by_key: HashMap<&str, &str> = HashMap::new();
    let mut out = HashMap::new();
    for (dn, norm_dn, key) in users {
        if let Some(first) = by_key.insert(key, dn) {
            // The same entry found under two overlapping bases is one person, not a conflict.
            if dn::normalize(first).ok().as_deref() != Some(norm_dn) {
                return Err(LdapSourceError::DuplicateKey {
                    key: key.to_owned(),
                    first: first.to_owned(),
                    second: dn.to_owned(),
                });
            }
        }
        out.insert(norm_dn.to_owned(), key.to_owned());
    }
    Ok(out)
}
