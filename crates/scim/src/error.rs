//! SCIM error responses (RFC 7644 §3.12).

use serde::{Deserialize, Serialize};

/// The `scimType` detail error keywords of RFC 7644 §3.12 table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

/// A SCIM error body. `status` is a string on the wire, as the RFC's examples show; we also accept
/// a number because some servers send one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("SCIM error {status}{}: {}", scim_type.map(|t| format!(" ({t:?})")).unwrap_or_default(), detail.as_deref().unwrap_or(""))]
pub struct ScimError {
    #[serde(default = "error_schemas")]
    pub schemas: Vec<String>,
    #[serde(with = "status_as_string")]
    pub status: u16,
    #[serde(rename = "scimType", default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<ScimType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn error_schemas() -> Vec<String> {
    vec![crate::schemas::ERROR.to_owned()]
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self { schemas: error_schemas(), status, scim_type, detail: Some(detail.into()) }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }
}

mod status_as_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(status: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&status.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u16),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => {
                t.trim().parse().map_err(|_| D::Error::custom(format!("status {t:?} is not an HTTP status code")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_a_string_on_the_wire_and_either_on_input() {
        let e = ScimError::conflict("taken");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["status"], "409");
        assert_eq!(v["scimType"], "uniqueness");
        let back: ScimError = serde_json::from_str(r#"{"status":404,"detail":"x"}"#).unwrap();
        assert_eq!(back.status, 404);
        assert!(serde_json::from_str::<ScimError>(r#"{"status":"nope"}"#).is_err());
    }
}
