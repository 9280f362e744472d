//! One documented fact of a catalog entry: its value or an explicit "unknown", a note, and the
//! source keys it was read from. A fact without a value must say `"unknown"` in its file: a field
//! left out is a parse error, so nothing is ever silently defaulted.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value the vendor documents, or `Unknown` where no source establishes it (or sources
/// conflict; the fact's note then says how).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<T> {
    Unknown,
    Is(T),
}

impl<T> Known<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Self::Unknown => None,
            Self::Is(v) => Some(v),
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Self::Is(_))
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Known<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read as a neutral value first: "unknown" must be recognised before `T` (often itself a
        // string enum) gets to reject it.
        let raw = serde_json::Value::deserialize(d)?;
        if raw.as_str() == Some("unknown") {
            return Ok(Self::Unknown);
        }
        serde_json::from_value(raw).map(Self::Is).map_err(D::Error::custom)
    }
}

impl<T: Serialize> Serialize for Known<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unknown => s.serialize_str("unknown"),
            Self::Is(v) => v.serialize(s),
        }
    }
}

/// A fact: `value` (or `"unknown"`), an optional `note`, and `sources`, keys of the entry's
/// `[sources]` table. A known value needs at least one source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, bound(deserialize = "T: DeserializeOwned"))]
pub struct Fact<T> {
    pub value: Known<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

impl<T> Fact<T> {
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }
}

impl<T: fmt::Display> Fact<T> {
    /// The value in words, with its note: "deactivates (same as active=false)" or "unknown: ...".
    pub fn describe(&self) -> String {
        let head = match &self.value {
            Known::Is(v) => v.to_string(),
            Known::Unknown => "unknown".to_owned(),
        };
        match &self.note {
            Some(note) if !note.is_empty() => format!("{head}: {note}"),
            _ => head,
        }
    }
}

/// What a fact looks like to the checks every entry must pass.
pub(crate) struct FactRef<'a> {
    pub field: &'static str,
    pub known: bool,
    pub sources: &'a [String],
}

impl<T> Fact<T> {
    pub(crate) fn as_ref(&self, field: &'static str) -> FactRef<'_> {
        FactRef { field, known: self.value.is_known(), sources: &self.sources }
    }
}
