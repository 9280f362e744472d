//! A Directory API user resource onto a person.
//! <https://developers.google.com/workspace/admin/directory/reference/rest/v1/users>

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tenure_core::PersonStatus;
use tenure_core::import::ImportedPerson;
use tenure_core::model::OrgUnitPath;

/// The user fields asked for with `fields=` (partial response), so pages stay small.
pub const USER_FIELDS: &str = "nextPageToken,users(id,primaryEmail,aliases,name,orgUnitPath,suspended,archived,\
organizations,relations,externalIds)";

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn typed<'a>(list: &'a [Value], kind: &str) -> Option<&'a Value> {
    list.iter().find(|item| item.get("type").and_then(Value::as_str) == Some(kind))
}

/// A user's fields before the manager's email is resolved to the manager's id.
pub struct MappedUser {
    pub person: ImportedPerson,
    pub manager_email: Option<String>,
    /// Primary email and aliases, lower-cased: what a `relations` entry may name.
    pub addresses: Vec<String>,
}

/// Why one user record could not be read; the caller adds where it came from.
pub fn map_user(user: &Value) -> Result<MappedUser, String> {
    let id = text(user.get("id")).ok_or("user without an id")?;
    let email = text(user.get("primaryEmail")).ok_or_else(|| format!("user {id} has no primaryEmail"))?;
    let name = user.get("name");
    let orgs = items(user.get("organizations"));
    // The primary organization holds the current department and title; without one, the first.
    let org = orgs.iter().find(|o| o.get("primary").and_then(Value::as_bool) == Some(true)).or(orgs.first());
    let org_unit = match text(user.get("orgUnitPath")) {
        Some(path) => Some(OrgUnitPath::parse(&path).map_err(|e| format!("user {id} ({email}): orgUnitPath: {e}"))?),
        None => None,
    };
    let flag = |key: &str| user.get(key).and_then(Value::as_bool).unwrap_or(false);
    // Archived users keep their data but cannot sign in: for provisioning, both are suspended.
    let status = if flag("suspended") || flag("archived") { PersonStatus::Suspended } else { PersonStatus::Active };
    let mut custom = BTreeMap::new();
    if let Some(cost_center) = text(org.and_then(|o| o.get("costCenter"))) {
        custom.insert("costCenter".to_owned(), cost_center);
    }
    let mut addresses = vec![email.to_lowercase()];
    addresses.extend(items(user.get("aliases")).iter().filter_map(Value::as_str).map(str::to_lowercase));
    let person = ImportedPerson {
        source_key: id,
        user_name: email.clone(),
        email,
        given_name: text(name.and_then(|n| n.get("givenName"))),
        family_name: text(name.and_then(|n| n.get("familyName"))),
        display_name: text(name.and_then(|n| n.get("fullName"))),
        department: text(org.and_then(|o| o.get("department"))),
        title: text(org.and_then(|o| o.get("title"))),
        employee_id: text(typed(items(user.get("externalIds")), "organization").and_then(|e| e.get("value"))),
        manager_key: None,
        org_unit,
        status,
        start_date: None,
        leave_date: None,
        custom,
        groups: Vec::new(),
    };
    let manager_email = text(typed(items(user.get("relations")), "manager").and_then(|r| r.get("value")));
    Ok(MappedUser { person, manager_email, addresses })
}

/// Turns managers' emails into their ids. A manager outside the delivered users (another
/// customer, a deleted account) is left unset rather than pointing at nobody.
pub fn resolve_managers(users: Vec<MappedUser>) -> Vec<ImportedPerson> {
    let by_address: HashMap<String, String> =
        users.iter().flat_map(|u| u.addresses.iter().map(|a| (a.clone(), u.person.source_key.clone()))).collect();
    users
        .into_iter()
        .map(|u| {
            let mut person = u.person;
            if let Some(manager) = u.manager_email {
                person.manager_key = by_address.get(&manager.to_lowercase()).cloned();
                if person.manager_key.is_none() {
                    tracing::debug!(user = %person.source_key, "manager is not among the directory's users");
                }
            }
            person
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_the_documented_fields() {
        let boss = map_user(&json!({"id": "1", "primaryEmail": "Boss@x.com", "aliases": ["chief@x.com"]})).unwrap();
        let ann = map_user(&json!({
            "id": "2", "primaryEmail": "ann@x.com", "orgUnitPath": "/Eng/Platform", "archived": true,
            "name": {"givenName": "Ann", "familyName": "Lee", "fullName": "Ann Lee"},
            "organizations": [{"department": "Old"}, {"primary": true, "department": "Eng", "title": "SRE", "costCenter": "42"}],
            "relations": [{"type": "assistant", "value": "x@x.com"}, {"type": "manager", "value": "CHIEF@x.com"}],
            "externalIds": [{"type": "custom", "value": "no"}, {"type": "organization", "value": "E-7"}]
        }))
        .unwrap();
        let people = resolve_managers(vec![boss, ann]);
        let ann = &people[1];
        assert_eq!(ann.department.as_deref(), Some("Eng"));
        assert_eq!(ann.title.as_deref(), Some("SRE"));
        assert_eq!(ann.employee_id.as_deref(), Some("E-7"));
        assert_eq!(ann.manager_key.as_deref(), Some("1"), "resolved through an alias, case-insensitively");
        assert_eq!(ann.status, PersonStatus::Suspended);
        assert_eq!(ann.org_unit.as_ref().map(OrgUnitPath::as_str), Some("/Eng/Platform"));
        assert_eq!(ann.custom.get("costCenter").map(String::as_str), Some("42"));
        assert_eq!(people[0].status, PersonStatus::Active);
    }

    #[test]
    fn a_user_without_the_essentials_is_an_error() {
        assert_eq!(map_user(&json!({"id": "9"})).err().as_deref(), Some("user 9 has no primaryEmail"));
        let bad_unit = map_user(&json!({"id": "9", "primaryEmail": "a@x.com", "orgUnitPath": "/a//b"}));
        assert!(bad_unit.err().is_some_and(|e| e.contains("orgUnitPath")));
    }
}
