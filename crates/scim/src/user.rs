//! User and Group resources (RFC 7643 §4). Typed where Tenure reads or writes a field, with every
//! other attribute (vendor extensions included) kept in `extra` so nothing is dropped on a
//! read-modify-write.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::schemas;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Name {
    #[serde(rename = "givenName", default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(rename = "familyName", default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Email {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub primary: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnterpriseUser {
    #[serde(rename = "employeeNumber", default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimUser {
    #[serde(default = "user_schemas")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "externalId", default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(rename = "displayName", default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Absent means active (RFC 7643 leaves the default to the provider; every app we know treats
    /// a user without `active` as active).
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub active: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ScimUser {
    pub fn new(user_name: impl Into<String>) -> Self {
        Self {
            schemas: user_schemas(),
            id: None,
            external_id: None,
            user_name: user_name.into(),
            name: None,
            display_name: None,
            title: None,
            active: true,
            emails: Vec::new(),
            enterprise: None,
            meta: None,
            extra: Map::new(),
        }
    }

    /// The primary email, else the first work email, else the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| self.emails.iter().find(|e| e.kind.as_deref() == Some("work")))
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }

    /// Keeps `schemas` in step with the extensions actually present.
    pub fn normalize_schemas(&mut self) {
        let want_enterprise = self.enterprise.is_some();
        let has = self.schemas.iter().any(|s| s.eq_ignore_ascii_case(schemas::ENTERPRISE_USER));
        if want_enterprise && !has {
            self.schemas.push(schemas::ENTERPRISE_USER.to_owned());
        }
        if !self.schemas.iter().any(|s| s.eq_ignore_ascii_case(schemas::USER)) {
            self.schemas.insert(0, schemas::USER.to_owned());
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimGroup {
    #[serde(default = "group_schemas")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "externalId", default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GroupMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn user_schemas() -> Vec<String> {
    vec![schemas::USER.to_owned()]
}

fn group_schemas() -> Vec<String> {
    vec![schemas::GROUP.to_owned()]
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Booleans as real IdPs send them: `true`, or the strings `"True"` / `"false"` (Entra ID).
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::Null => Ok(false),
        other => Err(D::Error::custom(format!("expected a boolean, found {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_attributes_and_extensions() {
        let raw = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:x:vendor"],
            "userName":"ann","active":"False","nickName":"A",
            "urn:x:vendor":{"seat":"pro"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","costCenter":"42"}}"#;
        let user: ScimUser = serde_json::from_str(raw).unwrap();
        assert!(!user.active);
        assert_eq!(user.extra["nickName"], "A");
        assert_eq!(user.extra["urn:x:vendor"]["seat"], "pro");
        let ent = user.enterprise.as_ref().unwrap();
        assert_eq!(ent.department.as_deref(), Some("Sales"));
        assert_eq!(ent.extra["costCenter"], "42");
        let back = serde_json::to_value(&user).unwrap();
        assert_eq!(back["urn:x:vendor"]["seat"], "pro");
        assert_eq!(back["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["costCenter"], "42");
    }

    #[test]
    fn missing_user_name_is_an_error() {
        assert!(serde_json::from_str::<ScimUser>(r#"{"displayName":"x"}"#).is_err());
    }

    #[test]
    fn primary_email_prefers_primary_then_work() {
        let mut u = ScimUser::new("a");
        u.emails = vec![
            Email { value: "home@x".into(), kind: Some("home".into()), primary: false },
            Email { value: "work@x".into(), kind: Some("work".into()), primary: false },
        ];
        assert_eq!(u.primary_email(), Some("work@x"));
        u.emails[0].primary = true;
        assert_eq!(u.primary_email(), Some("home@x"));
    }
}
