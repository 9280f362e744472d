//! Tenure's flat attributes ↔ SCIM User resources.
//!
//! Both directions use the same rules, so what Tenure writes is what it reads back and the
//! reconciler sees no difference after a successful create or update. An empty value means "not
//! set" in both directions.

use serde_json::Value;
use tenure_core::RemoteAccount;
use tenure_core::attributes::{self as attr, Attributes};
use tenure_scim::{Email, EnterpriseUser, Name, ScimUser, schemas};

use crate::error::ConnectorError;

/// The `type` of the one email Tenure manages.
pub const EMAIL_TYPE: &str = "work";

/// The PATCH path (RFC 7644 §3.5.2) of each attribute Tenure manages.
pub fn scim_path(attribute: &str) -> Option<String> {
    Some(match attribute {
        attr::USER_NAME => "userName".to_owned(),
        attr::EXTERNAL_ID => "externalId".to_owned(),
        attr::DISPLAY_NAME => "displayName".to_owned(),
        attr::TITLE => "title".to_owned(),
        attr::GIVEN_NAME => "name.givenName".to_owned(),
        attr::FAMILY_NAME => "name.familyName".to_owned(),
        attr::EMAIL => format!("emails[type eq \"{EMAIL_TYPE}\"].value"),
        attr::DEPARTMENT => format!("{}:department", schemas::ENTERPRISE_USER),
        attr::EMPLOYEE_NUMBER => format!("{}:employeeNumber", schemas::ENTERPRISE_USER),
        // RFC 7643 §4.1.2: roles and entitlements are multi-valued; Tenure manages one of each,
        // written as a whole (see `list_value`).
        attr::ROLE => "roles".to_owned(),
        attr::LICENSE => "entitlements".to_owned(),
        _ => return None,
    })
}

/// The filter attribute (RFC 7644 §3.4.2.2) a Tenure attribute is searched by. The email is
/// searched across all emails, since a match is a match whatever its type.
pub fn filter_path(attribute: &str) -> Option<String> {
    match attribute {
        attr::EMAIL => Some("emails.value".to_owned()),
        other => scim_path(other),
    }
}

/// The wire value of a multi-valued attribute Tenure manages as one value (role, license).
pub fn list_value(attribute: &str, value: &str) -> Option<Value> {
    matches!(attribute, attr::ROLE | attr::LICENSE).then(|| serde_json::json!([{ "value": value, "primary": true }]))
}

/// The one value Tenure reads back from a multi-valued attribute: the primary one, else the first.
fn first_value(user: &ScimUser, wire: &str) -> Option<String> {
    let list = user.extra.get(wire)?.as_array()?;
    let primary = list.iter().find(|v| v.get("primary").and_then(Value::as_bool) == Some(true));
    primary.or(list.first())?.get("value")?.as_str().map(str::to_owned)
}

fn get(attrs: &Attributes, name: &str) -> Option<String> {
    attrs.get(name).filter(|v| !v.is_empty()).cloned()
}

pub fn user_from_attributes(attrs: &Attributes) -> ScimUser {
    let mut user = ScimUser::new(get(attrs, attr::USER_NAME).unwrap_or_default());
    user.external_id = get(attrs, attr::EXTERNAL_ID);
    user.display_name = get(attrs, attr::DISPLAY_NAME);
    user.title = get(attrs, attr::TITLE);
    let (given_name, family_name) = (get(attrs, attr::GIVEN_NAME), get(attrs, attr::FAMILY_NAME));
    if given_name.is_some() || family_name.is_some() {
        user.name = Some(Name { given_name, family_name, ..Name::default() });
    }
    if let Some(value) = get(attrs, attr::EMAIL) {
        user.emails = vec![Email { value, kind: Some(EMAIL_TYPE.to_owned()), primary: true }];
    }
    let (department, employee_number) = (get(attrs, attr::DEPARTMENT), get(attrs, attr::EMPLOYEE_NUMBER));
    if department.is_some() || employee_number.is_some() {
        user.enterprise = Some(EnterpriseUser { department, employee_number, ..EnterpriseUser::default() });
    }
    for name in [attr::ROLE, attr::LICENSE] {
        if let (Some(value), Some(wire)) = (get(attrs, name), scim_path(name)) {
            user.extra.insert(wire, list_value(name, &value).unwrap_or_default());
        }
    }
    user.normalize_schemas();
    user
}

/// The email Tenure treats as the account's: the work email it writes (the primary one if the app
/// holds several), else whatever the app calls primary. Reading back the same email PATCH writes
/// keeps an account with an extra home email from looking out of date forever.
pub fn account_email(user: &ScimUser) -> Option<&str> {
    let work = |e: &&Email| e.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(EMAIL_TYPE));
    user.emails
        .iter()
        .filter(work)
        .find(|e| e.primary)
        .or_else(|| user.emails.iter().find(work))
        .map(|e| e.value.as_str())
        .or_else(|| user.primary_email())
        .filter(|v| !v.is_empty())
}

pub fn account_from_user(user: &ScimUser) -> Result<RemoteAccount, ConnectorError> {
    let remote_id = user.id.clone().filter(|id| !id.is_empty()).ok_or_else(|| ConnectorError::InvalidResponse {
        method: String::new(),
        url: String::new(),
        message: format!("user {:?} has no id", user.user_name),
    })?;
    let mut attributes = Attributes::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            attributes.insert(name, v);
        }
    };
    let name = user.name.as_ref();
    let enterprise = user.enterprise.as_ref();
    let email = account_email(user);
    put(attr::USER_NAME, Some(&user.user_name));
    put(attr::EXTERNAL_ID, user.external_id.as_deref());
    put(attr::DISPLAY_NAME, user.display_name.as_deref());
    put(attr::TITLE, user.title.as_deref());
    put(attr::GIVEN_NAME, name.and_then(|n| n.given_name.as_deref()));
    put(attr::FAMILY_NAME, name.and_then(|n| n.family_name.as_deref()));
    put(attr::EMAIL, email);
    put(attr::DEPARTMENT, enterprise.and_then(|e| e.department.as_deref()));
    put(attr::EMPLOYEE_NUMBER, enterprise.and_then(|e| e.employee_number.as_deref()));
    put(attr::ROLE, first_value(user, "roles").as_deref());
    put(attr::LICENSE, first_value(user, "entitlements").as_deref());
    Ok(RemoteAccount { remote_id, active: user.active, attributes })
}

/// Parses one resource as a user, naming the offending resource on failure.
pub(crate) fn parse_user(raw: Value) -> Result<ScimUser, String> {
    let id = raw.get("id").and_then(Value::as_str).unwrap_or("?").to_owned();
    serde_json::from_value(raw).map_err(|e| format!("user {id:?} is not a valid SCIM User: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Attributes {
        [
            (attr::USER_NAME, "ann.lee@example.com"),
            (attr::EXTERNAL_ID, "p-1"),
            (attr::GIVEN_NAME, "Ann"),
            (attr::FAMILY_NAME, "Lee"),
            (attr::DISPLAY_NAME, "Ann Lee"),
            (attr::EMAIL, "ann@example.com"),
            (attr::TITLE, "Engineer"),
            (attr::DEPARTMENT, "R&D"),
            (attr::EMPLOYEE_NUMBER, "42"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// What the app stores is the JSON we send plus an id and meta; reading it back must give the
    /// attributes we started from.
    fn round_trip(attrs: &Attributes) -> RemoteAccount {
        let mut wire = serde_json::to_value(user_from_attributes(attrs)).unwrap();
        wire["id"] = "abc".into();
        wire["meta"] = serde_json::json!({"resourceType": "User"});
        account_from_user(&serde_json::from_value(wire).unwrap()).unwrap()
    }

    #[test]
    fn attributes_survive_a_round_trip() {
        let attrs = full();
        let account = round_trip(&attrs);
        assert_eq!(account.attributes, attrs);
        assert_eq!(account.remote_id, "abc");
        assert_eq!(account.user_name(), "ann.lee@example.com");
        assert_eq!(account.external_id(), Some("p-1"));
        assert_eq!(account.email(), Some("ann@example.com"));
        assert!(account.active);

        let minimal: Attributes = [(attr::USER_NAME.to_owned(), "bob".to_owned())].into();
        assert_eq!(round_trip(&minimal).attributes, minimal);
    }

    #[test]
    fn wire_shape_has_one_primary_work_email_and_the_enterprise_schema() {
        let v = serde_json::to_value(user_from_attributes(&full())).unwrap();
        assert_eq!(v["schemas"], serde_json::json!([schemas::USER, schemas::ENTERPRISE_USER]));
        assert_eq!(v["emails"], serde_json::json!([{"value": "ann@example.com", "type": "work", "primary": true}]));
        assert_eq!(v[schemas::ENTERPRISE_USER]["department"], "R&D");
        assert_eq!(v["name"]["givenName"], "Ann");

        let mut attrs = full();
        attrs.remove(attr::DEPARTMENT);
        attrs.remove(attr::EMPLOYEE_NUMBER);
        attrs.insert(attr::TITLE.to_owned(), String::new());
        let v = serde_json::to_value(user_from_attributes(&attrs)).unwrap();
        assert_eq!(v["schemas"], serde_json::json!([schemas::USER]));
        assert!(v.get(schemas::ENTERPRISE_USER).is_none());
        assert!(v.get("title").is_none(), "an empty value is not set");
    }

    #[test]
    fn reads_the_work_email_before_another_primary() {
        let user: ScimUser = serde_json::from_value(serde_json::json!({
            "id": "1", "userName": "a",
            "emails": [{"value": "home@x", "type": "home", "primary": true}, {"value": "work@x", "type": "work"}]
        }))
        .unwrap();
        assert_eq!(account_email(&user), Some("work@x"));
        let user: ScimUser =
            serde_json::from_value(serde_json::json!({"id": "1", "userName": "a", "emails": [{"value": "only@x"}]}))
                .unwrap();
        assert_eq!(account_from_user(&user).unwrap().attributes[attr::EMAIL], "only@x");
    }

    #[test]
    fn a_user_without_id_is_an_invalid_response() {
        let user = ScimUser::new("ann");
        assert!(matches!(account_from_user(&user), Err(ConnectorError::InvalidResponse { .. })));
    }

    #[test]
    fn every_managed_attribute_has_a_path() {
        for name in full().keys() {
            assert!(scim_path(name).is_some(), "{name}");
        }
        assert_eq!(filter_path(attr::EMAIL).as_deref(), Some("emails.value"));
        assert_eq!(scim_path("nickName"), None);
    }
}
