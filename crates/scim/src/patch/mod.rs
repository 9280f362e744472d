//! PatchOp messages (RFC 7644 §3.5.2) and the engine that applies them to a resource's JSON
//! ([`apply_patch`]).

mod apply;
#[cfg(test)]
mod tests;

pub use apply::{PatchOutcome, apply_patch};

/// Most operations one PATCH request may hold: a request beyond it is 400 `tooMany`. IdPs send a
/// handful per request (Entra one per changed attribute, Okta one or two per membership change;
/// a large membership change is one operation with a value list), so this only stops abuse.
/// Advertised in `/ServiceProviderConfig`.
pub const MAX_OPERATIONS: usize = 1_000;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::schemas;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchVerb {
    Add,
    Remove,
    Replace,
}

impl<'de> Deserialize<'de> for PatchVerb {
    /// Entra ID sends `"Replace"`, `"Add"`, `"Remove"`: operation names are case-insensitive here.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.to_ascii_lowercase().as_str() {
            "add" => Ok(Self::Add),
            "remove" => Ok(Self::Remove),
            "replace" => Ok(Self::Replace),
            _ => Err(serde::de::Error::custom(format!("unknown PATCH op {raw:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: PatchVerb,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    #[serde(default = "patch_schemas")]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

fn patch_schemas() -> Vec<String> {
    vec![schemas::PATCH_OP.to_owned()]
}

impl PatchOp {
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self { schemas: patch_schemas(), operations }
    }

    pub fn replace(path: &str, value: Value) -> PatchOperation {
        PatchOperation { op: PatchVerb::Replace, path: Some(path.to_owned()), value: Some(value) }
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn accepts_entra_capitalised_ops() {
        let p: PatchOp = serde_json::from_str(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations":[{"op":"Replace","path":"active","value":"False"}]}"#,
        )
        .unwrap();
        assert_eq!(p.operations[0].op, PatchVerb::Replace);
        assert!(serde_json::from_str::<PatchOp>(r#"{"Operations":[{"op":"merge"}]}"#).is_err());
    }
}
