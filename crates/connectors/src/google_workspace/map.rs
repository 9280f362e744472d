//! Google Workspace users ↔ Tenure's flat attributes.
//!
//! The User resource (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users>):
//! `primaryEmail` is the account's userName; `name.givenName` and `name.familyName` are required
//! on insert; the list fields (`externalIds`, `organizations`, `emails`, `phones`) are replaced
//! whole by `users.patch`, so a change to one entry is written as the full list with that entry
//! changed and every other entry kept. `lastLoginTime` (read only) is the account's last
//! activity.
//!
//! Both directions use the same rules, so what Tenure writes is what it reads back and the
//! reconciler sees no difference after a successful create or update:
//!
//! | Tenure | Google |
//! |---|---|
//! | `userName` | `primaryEmail` |
//! | `externalId` | `externalIds[type=organization]` (the Admin console's "Employee ID") |
//! | `employeeNumber` | `externalIds[type=custom, customType=employeeNumber]` |
//! | `givenName`, `familyName`, `displayName` | `name.givenName`, `name.familyName`, `name.displayName` |
//! | `email` | an `emails[type=work]` address when it differs from `primaryEmail`, else `primaryEmail` |
//! | `title`, `department` | the primary `organizations` entry |
//! | `orgUnitPath` (if mapped) | `orgUnitPath` |
//! | `phone` (if mapped) | the primary `phones[type=work]` entry |

use serde_json::{Map, Value, json};
use tenure_core::RemoteAccount;
use tenure_core::attributes::{self as attr, Attributes};

use crate::error::ConnectorError;

/// The org unit a user is in, for mappings that place people (`orgUnitPath=orgUnit`).
pub const ORG_UNIT_PATH: &str = "orgUnitPath";
/// A work phone number, for mappings that provide one.
pub const PHONE: &str = "phone";

/// The `externalIds` type that holds Tenure's externalId.
const EXTERNAL_ID_TYPE: &str = "organization";
/// The `customType` of the `externalIds` entry that holds the employee number.
const EMPLOYEE_NUMBER_TYPE: &str = "employeeNumber";
const WORK: &str = "work";

/// Every attribute this mapping reads and writes.
pub const MANAGED: &[&str] = &[
    attr::USER_NAME,
    attr::EXTERNAL_ID,
    attr::EMPLOYEE_NUMBER,
    attr::GIVEN_NAME,
    attr::FAMILY_NAME,
    attr::DISPLAY_NAME,
    attr::EMAIL,
    attr::TITLE,
    attr::DEPARTMENT,
    ORG_UNIT_PATH,
    PHONE,
];

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn list<'a>(user: &'a Value, key: &str) -> &'a [Value] {
    user.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn is_type(entry: &Value, kind: &str) -> bool {
    entry.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

fn is_employee_number(entry: &Value) -> bool {
    is_type(entry, "custom") && entry.get("customType").and_then(Value::as_str) == Some(EMPLOYEE_NUMBER_TYPE)
}

fn is_primary(entry: &Value) -> bool {
    entry.get("primary").and_then(Value::as_bool) == Some(true)
}

/// The entry Tenure treats as the user's: the primary one, else the first.
fn main_entry(entries: &[Value]) -> Option<&Value> {
    entries.iter().find(|e| is_primary(e)).or_else(|| entries.first())
}

/// The work address Tenure wrote, if any: not the primary address, which Google also lists here.
fn work_email<'a>(user: &'a Value, primary: &str) -> Option<&'a str> {
    list(user, "emails")
        .iter()
        .filter(|e| is_type(e, WORK) && !is_primary(e))
        .filter_map(|e| text(e, "address"))
        .find(|a| !a.eq_ignore_ascii_case(primary))
}

const DAY: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

/// An account as Tenure sees it. `Err` names what is missing.
pub fn account_from_user(user: &Value) -> Result<RemoteAccount, String> {
    let remote_id = text(user, "id").ok_or("a user without an id")?.to_owned();
    let primary = text(user, "primaryEmail").ok_or_else(|| format!("user {remote_id} has no primaryEmail"))?;
    let mut attributes = Attributes::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            attributes.insert(name, v);
        }
    };
    put(attr::USER_NAME, Some(primary));
    let ids = list(user, "externalIds");
    put(attr::EXTERNAL_ID, ids.iter().find(|e| is_type(e, EXTERNAL_ID_TYPE)).and_then(|e| text(e, "value")));
    put(attr::EMPLOYEE_NUMBER, ids.iter().find(|e| is_employee_number(e)).and_then(|e| text(e, "value")));
    let name = user.get("name").unwrap_or(&Value::Null);
    put(attr::GIVEN_NAME, text(name, "givenName"));
    put(attr::FAMILY_NAME, text(name, "familyName"));
    put(attr::DISPLAY_NAME, text(name, "displayName"));
    put(attr::EMAIL, Some(work_email(user, primary).unwrap_or(primary)));
    let organization = main_entry(list(user, "organizations"));
    put(attr::TITLE, organization.and_then(|o| text(o, "title")));
    put(attr::DEPARTMENT, organization.and_then(|o| text(o, "department")));
    put(ORG_UNIT_PATH, text(user, "orgUnitPath"));
    let phones: Vec<Value> = list(user, "phones").iter().filter(|p| is_type(p, WORK)).cloned().collect();
    put(PHONE, main_entry(&phones).and_then(|p| text(p, "value")));
    // `lastLoginTime` comes with every listed user (ISO 8601; the epoch for a user who never
    // signed in, which says nothing): the day feeds the license report's `unused`.
    let login = text(user, "lastLoginTime").and_then(|t| t.get(..10)).filter(|d| *d != "1970-01-01");
    put(attr::LAST_ACTIVE, login.filter(|d| time::Date::parse(d, DAY).is_ok()));
    // Google's own lifecycle: a suspended user cannot sign in but keeps data and license.
    let suspended = user.get("suspended").and_then(Value::as_bool).unwrap_or(false);
    Ok(RemoteAccount { remote_id, active: !suspended, attributes })
}

fn refuse(message: String) -> ConnectorError {
    ConnectorError::InvalidRequest(message)
}

/// Attributes Google Workspace has no place for. A value silently dropped would be planned as a
/// change again on every sync, so it is refused, with what to do instead.
fn check_known(attrs: &Attributes) -> Result<(), ConnectorError> {
    for (name, value) in attrs.iter() {
        if MANAGED.contains(&name) || value.is_empty() {
            continue;
        }
        return Err(match name {
            attr::LICENSE => ConnectorError::Unsupported {
                // The connector takes `license` out first and sets it through License Manager.
                operation:
                    "assign licenses on the user resource (Google Workspace licenses go through License Manager)".into(),
            },
            attr::ROLE => ConnectorError::Unsupported {
                operation: "assign roles (Google Workspace admin roles are not provisioned by Tenure)".into(),
            },
            other => refuse(format!(
                "attribute {other:?} has no Google Workspace field (known: {}); remove its mapping",
                MANAGED.join(", ")
            )),
        });
    }
    Ok(())
}

fn value<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn check_primary_email(user_name: &str) -> Result<(), ConnectorError> {
    let valid = user_name.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(refuse(format!(
            "Google Workspace needs an email address as primaryEmail, and the userName is {user_name:?}; \
             derive userNames as email addresses for this app"
        )))
    }
}

/// What a new account is created with, besides its password and placement (added by the caller).
pub fn user_for_insert(attrs: &Attributes) -> Result<Map<String, Value>, ConnectorError> {
    check_known(attrs)?;
    let user_name = value(attrs, attr::USER_NAME).ok_or_else(|| refuse("a user needs a non-empty userName".into()))?;
    check_primary_email(user_name)?;
    let (Some(given), Some(family)) = (value(attrs, attr::GIVEN_NAME), value(attrs, attr::FAMILY_NAME)) else {
        return Err(refuse(format!(
            "Google Workspace requires a given and a family name to create {user_name}; fill them in the \
             directory or map givenName and familyName for this app"
        )));
    };
    let mut user = Map::new();
    user.insert("primaryEmail".into(), json!(user_name));
    let mut name = json!({"givenName": given, "familyName": family});
    if let Some(display) = value(attrs, attr::DISPLAY_NAME) {
        name["displayName"] = json!(display);
    }
    user.insert("name".into(), name);
    let empty = Value::Object(Map::new());
    let mut changes = Attributes::new();
    for name in [attr::EXTERNAL_ID, attr::EMPLOYEE_NUMBER, attr::TITLE, attr::DEPARTMENT, attr::EMAIL, PHONE] {
        if let Some(v) = value(attrs, name) {
            changes.insert(name, v);
        }
    }
    // The list fields are built exactly as an update of an empty user would build them.
    let lists = list_changes(&empty, user_name, &changes);
    user.extend(lists);
    if let Some(path) = value(attrs, ORG_UNIT_PATH) {
        user.insert("orgUnitPath".into(), json!(path));
    }
    Ok(user)
}

/// The `users.patch` body that applies `changes` (an empty value clears) to `current`, the user
/// as Google holds it now: only the fields that change, lists written whole.
pub fn patch_for_changes(current: &Value, changes: &Attributes) -> Result<Map<String, Value>, ConnectorError> {
    check_known(changes)?;
    let mut patch = Map::new();
    let current_primary = text(current, "primaryEmail").unwrap_or_default();
    let primary = match changes.get(attr::USER_NAME) {
        Some(new) => {
            let new = new.trim();
            if new.is_empty() {
                return Err(refuse("the primaryEmail (userName) of a Google Workspace user cannot be cleared".into()));
            }
            check_primary_email(new)?;
            // Google keeps the old address as an alias, so mail still arrives.
            patch.insert("primaryEmail".into(), json!(new));
            new
        }
        None => current_primary,
    };
    let name_changes = [attr::GIVEN_NAME, attr::FAMILY_NAME, attr::DISPLAY_NAME];
    if name_changes.iter().any(|n| changes.contains_key(n)) {
        let old = current.get("name").unwrap_or(&Value::Null);
        let mut name = Map::new();
        for (tenure, google) in
            [(attr::GIVEN_NAME, "givenName"), (attr::FAMILY_NAME, "familyName"), (attr::DISPLAY_NAME, "displayName")]
        {
            let new = match changes.get(tenure) {
                Some(v) => Some(v.trim()).filter(|v| !v.is_empty()),
                None => text(old, google),
            };
            match new {
                Some(v) => {
                    name.insert(google.into(), json!(v));
                }
                None if tenure == attr::DISPLAY_NAME => {
                    // An empty display name falls back to "given family" in Google's UIs.
                    name.insert(google.into(), json!(""));
                }
                None => {
                    return Err(refuse(format!(
                        "Google Workspace requires name.{google}; it cannot be cleared (user {primary})"
                    )));
                }
            }
        }
        patch.insert("name".into(), Value::Object(name));
    }
    patch.extend(list_changes(current, primary, changes));
    if let Some(path) = changes.get(ORG_UNIT_PATH) {
        let path = path.trim();
        patch.insert("orgUnitPath".into(), json!(if path.is_empty() { "/" } else { path }));
    }
    Ok(patch)
}

/// The list fields `changes` touch, each written whole from `current`'s entries.
fn list_changes(current: &Value, primary: &str, changes: &Attributes) -> Map<String, Value> {
    let mut out = Map::new();
    let change = |name: &str| changes.get(name).map(|v| v.trim().to_owned());

    let (external_id, employee_number) = (change(attr::EXTERNAL_ID), change(attr::EMPLOYEE_NUMBER));
    if external_id.is_some() || employee_number.is_some() {
        let mut ids: Vec<Value> = list(current, "externalIds").to_vec();
        if let Some(new) = external_id {
            ids.retain(|e| !is_type(e, EXTERNAL_ID_TYPE));
            if !new.is_empty() {
                ids.insert(0, json!({"type": EXTERNAL_ID_TYPE, "value": new}));
            }
        }
        if let Some(new) = employee_number {
            ids.retain(|e| !is_employee_number(e));
            if !new.is_empty() {
                ids.push(json!({"type": "custom", "customType": EMPLOYEE_NUMBER_TYPE, "value": new}));
            }
        }
        out.insert("externalIds".into(), Value::Array(ids));
    }

    let (title, department) = (change(attr::TITLE), change(attr::DEPARTMENT));
    if title.is_some() || department.is_some() {
        let mut orgs: Vec<Value> = list(current, "organizations").to_vec();
        let index = orgs.iter().position(is_primary).or(if orgs.is_empty() { None } else { Some(0) });
        let index = index.unwrap_or_else(|| {
            orgs.push(json!({"primary": true}));
            orgs.len() - 1
        });
        if let Some(Value::Object(org)) = orgs.get_mut(index) {
            for (key, new) in [("title", title), ("department", department)] {
                match new {
                    Some(v) if v.is_empty() => {
                        org.remove(key);
                    }
                    Some(v) => {
                        org.insert(key.into(), json!(v));
                    }
                    None => {}
                }
            }
            // An entry left with nothing but its flags says nothing: drop it.
            let meaningful = org.keys().any(|k| !matches!(k.as_str(), "primary" | "type" | "customType"));
            if !meaningful {
                orgs.remove(index);
            }
        }
        out.insert("organizations".into(), Value::Array(orgs));
    }

    if let Some(new) = change(attr::EMAIL) {
        // The primary address is Google's to list; Tenure manages one extra work address, only
        // when the person's email is not the account's primaryEmail.
        let mut emails: Vec<Value> =
            list(current, "emails").iter().filter(|e| !is_primary(e) && !is_type(e, WORK)).cloned().collect();
        if !new.is_empty() && !new.eq_ignore_ascii_case(primary) {
            emails.push(json!({"address": new, "type": WORK}));
        }
        out.insert("emails".into(), Value::Array(emails));
    }

    if let Some(new) = change(PHONE) {
        let mut phones: Vec<Value> = list(current, "phones").to_vec();
        let index = phones
            .iter()
            .position(|p| is_type(p, WORK) && is_primary(p))
            .or_else(|| phones.iter().position(|p| is_type(p, WORK)));
        match (index, new.is_empty()) {
            (Some(i), true) => {
                phones.remove(i);
            }
            (Some(i), false) => phones[i]["value"] = json!(new),
            (None, false) => phones.push(json!({"value": new, "type": WORK, "primary": true})),
            (None, true) => {}
        }
        out.insert("phones".into(), Value::Array(phones));
    }
    out
}

/// A users.list `query` clause matching `value` exactly (`field='value'`), or `None` when the
/// value cannot be quoted (Google's search syntax documents no escape for `'`), so the caller
/// lists and matches locally.
/// <https://developers.google.com/workspace/admin/directory/v1/guides/search-users>
pub fn exact_query(field: &str, value: &str) -> Option<String> {
    (!value.contains(['\'', '\\']) && !value.is_empty()).then(|| format!("{field}='{value}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Attributes {
        Attributes::from([
            (attr::USER_NAME, "ann.lee@example.com"),
            (attr::EXTERNAL_ID, "p-1"),
            (attr::EMPLOYEE_NUMBER, "42"),
            (attr::GIVEN_NAME, "Ann"),
            (attr::FAMILY_NAME, "Lee"),
            (attr::DISPLAY_NAME, "Ann Lee"),
            (attr::EMAIL, "ann@example.org"),
            (attr::TITLE, "Engineer"),
            (attr::DEPARTMENT, "R&D"),
            (ORG_UNIT_PATH, "/Eng"),
            (PHONE, "+1 555 0100"),
        ])
    }

    /// What Google stores is what we sent plus an id, with the primary address listed among the
    /// emails (as users.get answers).
    fn stored(mut body: Map<String, Value>) -> Value {
        body.insert("id".into(), json!("1001"));
        let primary = body["primaryEmail"].clone();
        let mut emails = body.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
        emails.insert(0, json!({"address": primary, "primary": true}));
        body.insert("emails".into(), Value::Array(emails));
        Value::Object(body)
    }

    fn apply(current: &Value, patch: Map<String, Value>) -> Value {
        let mut next = current.clone();
        for (k, v) in patch {
            next[k] = v;
        }
        next
    }

    #[test]
    fn the_last_login_is_a_day_and_never_is_nothing() {
        let mut user = stored(user_for_insert(&full()).unwrap());
        user["lastLoginTime"] = json!("2026-11-02T08:15:00.000Z");
        let account = account_from_user(&user).unwrap();
        assert_eq!(account.attributes.get(attr::LAST_ACTIVE).map(String::as_str), Some("2026-11-02"));
        user["lastLoginTime"] = json!("1970-01-01T00:00:00.000Z");
        assert_eq!(account_from_user(&user).unwrap().attributes.get(attr::LAST_ACTIVE), None);
    }

    #[test]
    fn attributes_survive_a_round_trip() {
        let attrs = full();
        let account = account_from_user(&stored(user_for_insert(&attrs).unwrap())).unwrap();
        assert_eq!(account.attributes, attrs);
        assert!(account.active);
        let same_email = Attributes::from([
            (attr::USER_NAME, "bo@example.com"),
            (attr::GIVEN_NAME, "Bo"),
            (attr::FAMILY_NAME, "Ng"),
            (attr::EMAIL, "BO@example.com"),
        ]);
        let body = user_for_insert(&same_email).unwrap();
        assert_eq!(body["emails"], json!([]), "the primary address is not written twice");
        let read = account_from_user(&stored(body)).unwrap();
        assert_eq!(read.email(), Some("bo@example.com"));
    }

    #[test]
    fn updates_keep_entries_tenure_does_not_manage_and_converge() {
        let mut current = stored(user_for_insert(&full()).unwrap());
        current["externalIds"].as_array_mut().unwrap().push(json!({"type": "login_id", "value": "ann"}));
        current["organizations"][0]["costCenter"] = json!("CC-7");
        let changes = Attributes::from([
            (attr::EXTERNAL_ID, "p-2"),
            (attr::TITLE, ""),
            (attr::DEPARTMENT, "Ops"),
            (attr::GIVEN_NAME, "Anna"),
            (attr::EMAIL, "ann.lee@example.com"),
            (PHONE, ""),
        ]);
        let patch = patch_for_changes(&current, &changes).unwrap();
        assert!(!patch.contains_key("primaryEmail"));
        assert_eq!(patch["name"], json!({"givenName": "Anna", "familyName": "Lee", "displayName": "Ann Lee"}));
        let next = apply(&current, patch);
        assert!(next["externalIds"].as_array().unwrap().contains(&json!({"type": "login_id", "value": "ann"})));
        assert_eq!(next["organizations"][0]["costCenter"], "CC-7");
        let read = account_from_user(&next).unwrap();
        let mut expected = full();
        expected.extend(changes.iter().map(|(k, v)| (k, v.clone())));
        expected.retain(|_, v| !v.is_empty());
        assert_eq!(read.attributes, expected);
    }

    #[test]
    fn required_names_and_unknown_attributes_are_refused() {
        let mut attrs = full();
        attrs.remove(attr::FAMILY_NAME);
        assert!(user_for_insert(&attrs).unwrap_err().to_string().contains("family name"));
        let current = stored(user_for_insert(&full()).unwrap());
        let clear = Attributes::from([(attr::GIVEN_NAME, "")]);
        assert!(patch_for_changes(&current, &clear).is_err());
        let license = Attributes::from([(attr::LICENSE, "enterprise")]);
        assert!(matches!(patch_for_changes(&current, &license), Err(ConnectorError::Unsupported { .. })));
        let mut local = full();
        local.insert(attr::USER_NAME, "ann");
        assert!(user_for_insert(&local).unwrap_err().to_string().contains("email address"));
    }

    #[test]
    fn queries_quote_or_give_up() {
        assert_eq!(exact_query("externalId", "p-1").as_deref(), Some("externalId='p-1'"));
        assert_eq!(exact_query("email", "o'neil@example.com"), None);
    }
}
