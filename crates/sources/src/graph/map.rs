//! A Graph user resource onto a person.
//! <https://learn.microsoft.com/en-us/graph/api/resources/user>

use std::collections::BTreeMap;

use serde_json::Value;
use tenure_core::PersonStatus;
use tenure_core::import::ImportedPerson;

/// Properties asked for with `$select`, on `/users/delta` (where `manager` makes Graph report
/// `manager@delta`) and on `/users/{id}`.
/// <https://learn.microsoft.com/en-us/graph/api/user-delta>
pub const USER_SELECT: &str = "id,userPrincipalName,mail,displayName,givenName,surname,department,jobTitle,\
employeeId,accountEnabled,companyName,officeLocation,employeeType";

/// Properties kept as custom attributes, under their Graph names.
const CUSTOM: &[&str] = &["companyName", "officeLocation", "employeeType"];

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The user's manager id as a delta entry (`manager@delta`) or an expanded read (`manager`)
/// gives it. `None`: not stated; `Some(None)`: no manager (or the link was `@removed`).
pub fn manager_of(user: &Value) -> Option<Option<String>> {
    if let Some(list) = user.get("manager@delta").and_then(Value::as_array) {
        let current = list.iter().rev().find(|m| m.get("@removed").is_none());
        return Some(current.and_then(|m| text(m.get("id"))));
    }
    match user.get("manager") {
        Some(Value::Null) => Some(None),
        Some(m) => Some(text(m.get("id"))),
        None => None,
    }
}

/// A person from a complete user object (all of [`USER_SELECT`]). `accountEnabled: false`
/// (blocked sign-in) is a suspension.
pub fn map_user(user: &Value) -> Result<ImportedPerson, String> {
    let id = text(user.get("id")).ok_or("user without an id")?;
    let upn = text(user.get("userPrincipalName")).ok_or_else(|| format!("user {id} has no userPrincipalName"))?;
    // Users without a mailbox have no `mail`; their UPN is their sign-in address.
    let email = text(user.get("mail")).unwrap_or_else(|| upn.clone());
    let enabled = user.get("accountEnabled").and_then(Value::as_bool).unwrap_or(true);
    let custom: BTreeMap<String, String> =
        CUSTOM.iter().filter_map(|k| text(user.get(*k)).map(|v| ((*k).to_owned(), v))).collect();
    Ok(ImportedPerson {
        source_key: id,
        user_name: upn,
        email,
        given_name: text(user.get("givenName")),
        family_name: text(user.get("surname")),
        display_name: text(user.get("displayName")),
        department: text(user.get("department")),
        title: text(user.get("jobTitle")),
        employee_id: text(user.get("employeeId")),
        manager_key: manager_of(user).flatten(),
        org_unit: None,
        status: if enabled { PersonStatus::Active } else { PersonStatus::Suspended },
        start_date: None,
        leave_date: None,
        custom,
        groups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_users_and_managers() {
        let p = map_user(&json!({
            "id": "u1", "userPrincipalName": "ann@x.onmicrosoft.com", "mail": null, "accountEnabled": false,
            "jobTitle": "SRE", "employeeId": "E1", "officeLocation": "Oslo",
            "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u0"}]
        }))
        .unwrap();
        assert_eq!(p.email, "ann@x.onmicrosoft.com");
        assert_eq!(p.status, PersonStatus::Suspended);
        assert_eq!(p.manager_key.as_deref(), Some("u0"));
        assert_eq!(p.custom.get("officeLocation").map(String::as_str), Some("Oslo"));
        assert_eq!(
            manager_of(&json!({"manager@delta": [{"id": "u0", "@removed": {"reason": "deleted"}}]})),
            Some(None)
        );
        assert_eq!(manager_of(&json!({"manager": {"id": "u9"}})), Some(Some("u9".into())));
        assert_eq!(manager_of(&json!({})), None);
        assert!(map_user(&json!({"id": "u2"})).unwrap_err().contains("userPrincipalName"));
    }
}
