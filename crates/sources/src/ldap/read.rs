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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::config::LdapConfig;
    use tenure_core::model::Secret;

    fn raw(dn: &str, attrs: &[(&str, &[&[u8]])]) -> RawEntry {
        RawEntry {
            dn: dn.to_owned(),
            attrs: attrs.iter().map(|(n, vs)| ((*n).to_owned(), vs.iter().map(|v| v.to_vec()).collect())).collect(),
        }
    }

    fn ad() -> (Resolved, Flavor) {
        let mut config = LdapConfig::new("ldaps://dc1.corp.example", "CN=svc,DC=corp", Secret::new("pw"), "DC=corp");
        config.flavor = Flavor::ActiveDirectory;
        (config.resolve().expect("valid"), Flavor::ActiveDirectory)
    }

    const GUID: [u8; 16] =
        [0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

    #[test]
    fn active_directory_user_with_guid_key_and_disabled_flag() {
        let (resolved, flavor) = ad();
        let manager_dn = "CN=Boss,OU=Sales,DC=corp,DC=example";
        let entry = raw(
            "CN=Lee\\, Ann,OU=EMEA,OU=Sales,DC=corp,DC=example",
            &[
                ("objectGUID", &[&GUID]),
                ("mail", &[b"ann@corp.example"]),
                ("sAMAccountName", &[b"alee"]),
                ("department", &[b"Sales"]),
                ("employeeID", &[b"E1"]),
                ("manager", &[manager_dn.as_bytes()]),
                // NORMAL_ACCOUNT | ACCOUNTDISABLE
                ("userAccountControl", &[b"514"]),
            ],
        );
        let user = user_entry(entry, &resolved.key).expect("user");
        assert_eq!(user.key, "01234567-89ab-cdef-0123-456789abcdef");
        let keys = HashMap::from([(dn::normalize(manager_dn).unwrap(), "boss-key".to_owned())]);
        let p = person(&user, &resolved, flavor, &keys, vec!["sales".into()]).expect("person");
        assert_eq!(p.status, PersonStatus::Suspended);
        assert_eq!(p.user_name, "alee");
        assert_eq!(p.employee_id.as_deref(), Some("E1"));
        assert_eq!(p.manager_key.as_deref(), Some("boss-key"));
        assert_eq!(p.org_unit.as_ref().map(|u| u.as_str()), Some("/Sales/EMEA"));

        let enabled = raw(
            "CN=Bo,CN=Users,DC=corp",
            &[("objectGUID", &[&GUID]), ("mail", &[b"bo@corp.example"]), ("userAccountControl", &[b"512"])],
        );
        let p = person(&user_entry(enabled, &resolved.key).unwrap(), &resolved, flavor, &keys, vec![]).unwrap();
        assert_eq!((p.status, p.org_unit, p.user_name.as_str()), (PersonStatus::Active, None, "bo@corp.example"));

        let short_guid = raw("CN=X,DC=corp", &[("objectGUID", &[b"short"])]);
        let error = user_entry(short_guid, &resolved.key).expect_err("not 16 bytes");
        assert!(error.to_string().contains("5 bytes, expected 16"), "{error}");
        let bad_flags = raw(
            "CN=Y,DC=corp",
            &[("objectGUID", &[&GUID]), ("mail", &[b"y@x.com"]), ("userAccountControl", &[b"lots"])],
        );
        let error = person(&user_entry(bad_flags, &resolved.key).unwrap(), &resolved, flavor, &keys, vec![])
            .expect_err("bad flags");
        assert!(error.to_string().contains("userAccountControl"), "{error}");
    }

    #[test]
    fn ad_group_members_and_nesting_by_dn() {
        let (resolved, _) = ad();
        let child = raw(
            "CN=EMEA Sales,OU=Groups,DC=corp",
            &[("cn", &[b"EMEA Sales"]), ("member", &[b"CN=Ann,OU=EMEA,DC=corp"])],
        );
        let parent = raw(
            "CN=Sales,OU=Groups,DC=corp",
            &[("cn", &[b"Sales"]), ("member", &[b"cn=emea sales, ou=groups, dc=corp"])],
        );
        let child = group_entry(&child, &resolved.group_name, vec![]).unwrap();
        // The ranged remainder of a big group's members is merged with the first values.
        let parent = group_entry(&parent, &resolved.group_name, vec![b"CN=Bo,OU=EMEA,DC=corp".to_vec()]).unwrap();
        let keys = HashMap::from([
            (dn::normalize("CN=Ann,OU=EMEA,DC=corp").unwrap(), "ann".to_owned()),
            (dn::normalize("CN=Bo,OU=EMEA,DC=corp").unwrap(), "bo".to_owned()),
        ]);
        let groups = [child, parent];
        let names = names_by_dn(groups.iter().map(|g| (g.dn.as_str(), g.norm_dn.as_str(), g.name.as_str()))).unwrap();
        let m = memberships(&groups, &keys, &names);
        assert_eq!(
            m.group_parents["EMEA Sales"].iter().collect::<Vec<_>>(),
            ["Sales"],
            "matched despite case and spacing"
        );
        assert_eq!(m.person_groups["ann"].iter().collect::<Vec<_>>(), ["EMEA Sales"]);
        assert_eq!(m.person_groups["bo"].iter().collect::<Vec<_>>(), ["Sales"]);

        let twins = [("cn=a,dc=x", "cn=a,dc=x", "same"), ("cn=b,dc=x", "cn=b,dc=x", "same")];
        assert!(matches!(names_by_dn(twins), Err(LdapSourceError::DuplicateGroup { .. })));
    }
}
