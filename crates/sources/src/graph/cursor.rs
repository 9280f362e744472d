//! What the Graph source keeps between syncs: the two delta links, and the groups it knows
//! (their names and parents). Group deltas name members and parents by object id only, and an
//! unchanged group is not repeated, so turning a delta into named group changes needs this index.
//! It holds groups only (few, compared with users), so it stays small.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Bumped when the layout changes; an older cursor then reads as unusable and the next sync is a
/// full one, which is always safe.
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    v: u32,
    /// `@odata.deltaLink` of `/users/delta`.
    pub users: String,
    /// `@odata.deltaLink` of `/groups/delta`.
    pub groups: String,
    /// By group object id.
    #[serde(default)]
    pub index: BTreeMap<String, IndexedGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedGroup {
    /// The group's name in Tenure: its display name, made unique with the id when shared.
    pub name: String,
    /// The display name as Graph has it, to notice renames.
    pub display: String,
    /// Ids of the groups it is a direct member of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub parents: BTreeSet<String>,
}

impl Cursor {
    pub fn new(users: String, groups: String, index: BTreeMap<String, IndexedGroup>) -> Self {
        Self { v: VERSION, users, groups, index }
    }

    pub fn encode(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Why a stored cursor cannot be used, if it cannot.
    pub fn decode(raw: &str) -> Result<Self, String> {
        let cursor: Cursor = serde_json::from_str(raw).map_err(|e| format!("not a Graph cursor: {e}"))?;
        if cursor.v != VERSION {
            return Err(format!("cursor version {} is not {VERSION}", cursor.v));
        }
        Ok(cursor)
    }
}

/// Tenure names for groups: the display name, or `display name (id)` for display names several
/// groups share, so that names are unique and stable while the display names stay as they are.
pub fn names(groups: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for display in groups.values() {
        *count.entry(display.as_str()).or_default() += 1;
    }
    groups
        .iter()
        .map(|(id, display)| {
            let name = if count[display.as_str()] > 1 { format!("{display} ({id})") } else { display.clone() };
            (id.clone(), name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_strangers() {
        let mut index = BTreeMap::new();
        index.insert(
            "g1".into(),
            IndexedGroup { name: "Eng".into(), display: "Eng".into(), parents: ["g0".into()].into() },
        );
        let c = Cursor::new("https://g/u?$deltatoken=1".into(), "https://g/g?$deltatoken=2".into(), index);
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("https://old-style-link").is_err());
        assert!(Cursor::decode(r#"{"v":99,"users":"a","groups":"b"}"#).unwrap_err().contains("version"));
    }

    #[test]
    fn shared_display_names_get_the_id() {
        let groups: BTreeMap<String, String> =
            [("a", "Sales"), ("b", "Sales"), ("c", "Eng")].iter().map(|(i, d)| ((*i).into(), (*d).into())).collect();
        let n = names(&groups);
        assert_eq!(n["a"], "Sales (a)");
        assert_eq!(n["b"], "Sales (b)");
        assert_eq!(n["c"], "Eng");
    }
}
