//! The SCIM push source: an identity provider (Entra ID, Okta) writes users into Tenure's SCIM
//! endpoint, and each user becomes a person of the tenant's directory. Unlike the other sources
//! this one is incremental (one user per request), so it maps one resource, not a snapshot.

use std::collections::BTreeMap;

use serde_json::Value;
use tenure_core::PersonStatus;
use tenure_core::import::ImportedPerson;
use tenure_scim::json::get_ci;
use tenure_scim::schemas;

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The person a (validated) SCIM User resource describes. `id` is the resource's id: the person's
/// key in the source, which is also what `manager.value` names.
///
/// The email is the primary one, else the work one, else the first, else the userName (Entra's
/// userName is the UPN, an address). `active: false` suspends the person: their accounts are
/// deactivated, and they come back when the IdP re-activates them.
pub fn person_from_user(id: &str, user: &Value) -> ImportedPerson {
    let user_name = text(get_ci(user, "userName")).unwrap_or_default();
    let emails: Vec<&Value> = match get_ci(user, "emails") {
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    let is = |e: &&&Value, kind: &str| text(get_ci(e, "type")).is_some_and(|t| t.eq_ignore_ascii_case(kind));
    let primary = emails.iter().find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true));
    let email = primary
        .or_else(|| emails.iter().find(|e| is(e, "work")))
        .or(emails.first())
        .and_then(|e| text(get_ci(e, "value")))
        .unwrap_or_else(|| user_name.clone());
    let name = get_ci(user, "name");
    let enterprise = get_ci(user, schemas::ENTERPRISE_USER);
    let ext = |attr: &str| enterprise.and_then(|e| text(get_ci(e, attr)));
    let active = get_ci(user, "active").and_then(Value::as_bool).unwrap_or(true);
    let mut custom = BTreeMap::new();
    if let Some(external_id) = text(get_ci(user, "externalId")) {
        custom.insert("scim_external_id".to_owned(), external_id);
    }
    for attr in ["costCenter", "organization", "division"] {
        if let Some(v) = ext(attr) {
            custom.insert(attr.to_owned(), v);
        }
    }
    ImportedPerson {
        source_key: id.to_owned(),
        email,
        given_name: name.and_then(|n| text(get_ci(n, "givenName"))),
        family_name: name.and_then(|n| text(get_ci(n, "familyName"))),
        display_name: text(get_ci(user, "displayName")),
        department: ext("department"),
        title: text(get_ci(user, "title")),
        employee_id: ext("employeeNumber"),
        manager_key: enterprise.and_then(|e| get_ci(e, "manager")).and_then(|m| match m {
            Value::String(s) => Some(s.clone()),
            other => text(get_ci(other, "value")),
        }),
        org_unit: None,
        status: if active { PersonStatus::Active } else { PersonStatus::Suspended },
        start_date: None,
        leave_date: None,
        custom,
        groups: Vec::new(),
        user_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_an_entra_user() {
        let user = json!({
            "userName": "Ann.Lee@contoso.com", "active": false, "externalId": "e-1",
            "displayName": "Ann Lee", "title": "CTO",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "home@x.com", "type": "home"}, {"value": "ann@contoso.com", "type": "work"}],
            schemas::ENTERPRISE_USER: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m-1"}}
        });
        let p = person_from_user("u-1", &user);
        assert_eq!(p.source_key, "u-1");
        assert_eq!(p.email, "ann@contoso.com");
        assert_eq!(p.status, PersonStatus::Suspended);
        assert_eq!(p.department.as_deref(), Some("R&D"));
        assert_eq!(p.employee_id.as_deref(), Some("7"));
        assert_eq!(p.manager_key.as_deref(), Some("m-1"));
        assert_eq!(p.custom["scim_external_id"], "e-1");
        let bare = person_from_user("u-2", &json!({"userName": "bo@x.com"}));
        assert_eq!((bare.email.as_str(), bare.status), ("bo@x.com", PersonStatus::Active));
    }
}
