//! Tenure's flat, app-neutral account attributes and the default mapping from a person.
//!
//! Connectors translate these names to and from their wire format (SCIM paths, vendor JSON), so
//! the reconciler compares like with like whatever the app.

use std::borrow::{Borrow, Cow};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Person, UserNameFormat};

/// An attribute name. The names Tenure itself manages are static strings, so a million accounts
/// read from apps do not hold a million copies of `"userName"`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrName(Cow<'static, str>);

impl AttrName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Equality that is one pointer comparison for two interned names (the common case when
    /// comparing a desired set with an observed one).
    fn same(&self, other: &AttrName) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        std::ptr::eq(a, b) || a == b
    }
}

impl From<&str> for AttrName {
    fn from(name: &str) -> Self {
        match KNOWN.iter().find(|k| **k == name) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(name.to_owned())),
        }
    }
}

impl From<String> for AttrName {
    fn from(name: String) -> Self {
        match KNOWN.iter().find(|k| **k == name) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(name)),
        }
    }
}

impl From<&String> for AttrName {
    fn from(name: &String) -> Self {
        Self::from(name.as_str())
    }
}

impl From<AttrName> for String {
    fn from(name: AttrName) -> Self {
        name.0.into_owned()
    }
}

impl std::ops::Deref for AttrName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for AttrName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Attribute name → value, sorted by name. Absent means "not managed" (or, read from an app, "not
/// set"); an empty value in a desired set means "clear it in the app".
///
/// A sorted vector rather than a `BTreeMap`: an account has about ten attributes, and a B-tree
/// node sized for eleven pairs plus a heap string per key made observed state for a million
/// accounts cost over a gigabyte.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Attributes {
    entries: Vec<(AttrName, String)>,
}

impl Attributes {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&String> {
        self.position(name).ok().map(|i| &self.entries[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets a value, returning the one it replaced.
    pub fn insert(&mut self, name: impl Into<AttrName>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value.into())),
            Err(i) => {
                self.entries.insert(i, (name, value.into()));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut String) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &String)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<K: Into<AttrName>, V: Into<String>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attrs = Attributes::new();
        attrs.extend(iter);
        attrs
    }
}

impl<K: Into<AttrName>, V: Into<String>> Extend<(K, V)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<AttrName>, V: Into<String>, const N: usize> From<[(K, V); N]> for Attributes {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for Attributes {
    type Item = (String, String);
    type IntoIter = std::iter::Map<std::vec::IntoIter<(AttrName, String)>, fn((AttrName, String)) -> (String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().map(|(k, v)| (k.into(), v))
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a String);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (AttrName, String)>, fn(&'a (AttrName, String)) -> (&'a str, &'a String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Like a map's: panics on a missing name, so only for names the caller knows are there.
impl std::ops::Index<&str> for Attributes {
    type Output = String;
    fn index(&self, name: &str) -> &String {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no attribute {name:?}"),
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

pub const USER_NAME: &str = "userName";
pub const EXTERNAL_ID: &str = "externalId";
pub const GIVEN_NAME: &str = "givenName";
pub const FAMILY_NAME: &str = "familyName";
pub const DISPLAY_NAME: &str = "displayName";
pub const EMAIL: &str = "email";
pub const TITLE: &str = "title";
pub const DEPARTMENT: &str = "department";
pub const EMPLOYEE_NUMBER: &str = "employeeNumber";
/// From an assignment's parameters, not from the person.
pub const ROLE: &str = "role";
pub const LICENSE: &str = "license";
/// Set by connectors of apps where joining is an invitation the person must accept (GitHub
/// organizations): the account is a pending invitation, sent on this date (`YYYY-MM-DD`). Such
/// an account is neither created nor missing: it is never invited again while pending, never
/// updated or activated, and revoking it cancels the invitation.
pub const INVITED_ON: &str = "invitedOn";

/// Set by connectors of apps that tell when an account was last used (Microsoft Graph's
/// `signInActivity.lastSignInDateTime`): that day, `YYYY-MM-DD`. Only read (the license report's
/// `unused` and reclaims); never planned or written.
pub const LAST_ACTIVE: &str = "lastActive";

/// Set by connectors of apps where an account holds several licenses beside its tier (Microsoft
/// 365's SKUs, add-ons included): every one, sorted and comma-separated. Only read (the live
/// user list's `licenses_held`); never planned or written.
pub const LICENSES_HELD: &str = "licensesHeld";

/// The names above, for [`AttrName`]'s interning.
const KNOWN: &[&str] = &[
    USER_NAME,
    EXTERNAL_ID,
    GIVEN_NAME,
    FAMILY_NAME,
    DISPLAY_NAME,
    EMAIL,
    TITLE,
    DEPARTMENT,
    EMPLOYEE_NUMBER,
    ROLE,
    LICENSE,
];

/// The attributes Tenure manages by default: the ones every SCIM app understands. The
/// expression-language mappings replace this per app.
pub fn default_mapping(person: &Person, user_name: UserNameFormat) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert(USER_NAME, derive_user_name(person, user_name));
    attrs.insert(EXTERNAL_ID, person.id.to_string());
    attrs.insert(EMAIL, person.email.clone());
    attrs.insert(DISPLAY_NAME, person.display());
    let optional = [
        (GIVEN_NAME, &person.given_name),
        (FAMILY_NAME, &person.family_name),
        (TITLE, &person.title),
        (DEPARTMENT, &person.department),
        (EMPLOYEE_NUMBER, &person.employee_id),
    ];
    // A value the directory no longer has is cleared in the app (an empty desired value), not
    // left behind: a department someone left must not follow them around.
    for (name, value) in optional {
        attrs.insert(name, value.as_deref().unwrap_or_default());
    }
    attrs
}

/// The attributes whose desired value differs from the observed one, with the desired value (empty
/// for "clear it"). A desired attribute the app does not report is a difference unless it is to be
/// cleared anyway; an attribute the app has and the mapping does not manage is left alone.
pub fn diff(desired: &Attributes, observed: &Attributes) -> Attributes {
    // Both sides are sorted by name: one merge walk, no lookups. Planning a million accounts
    // spends much of its time here.
    let seen = &observed.entries;
    let mut j = 0;
    let mut entries = Vec::new();
    for (name, value) in &desired.entries {
        let mut held = None;
        while let Some((other, other_value)) = seen.get(j) {
            if other.same(name) {
                held = Some(other_value);
                j += 1;
                break;
            }
            if other.as_str() < name.as_str() {
                j += 1;
                continue;
            }
            break;
        }
        let differs = match held {
            Some(held) => held != value,
            None => !value.is_empty(),
        };
        if differs {
            entries.push((name.clone(), value.clone()));
        }
    }
    Attributes { entries }
}

/// The userName an app gets for a person. The local-part form keeps only the characters such
/// apps accept (lowercase letters, digits, `.`, `-`, `_`).
pub fn derive_user_name(person: &Person, format: UserNameFormat) -> String {
    match format {
        UserNameFormat::Email => person.user_name.clone(),
        UserNameFormat::EmailLocalPart { max_len } => {
            let local = person.email.split('@').next().unwrap_or_default();
            let cleaned: String = local
                .to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            match max_len {
                Some(n) => cleaned.chars().take(n).collect(),
                None => cleaned,
            }
        }
        UserNameFormat::Handle { max_len } => handle(&person.email, max_len),
    }
}

/// Slack-style handle from an email address (see [`UserNameFormat::Handle`]).
pub fn handle(email: &str, max_len: usize) -> String {
    let local = email.rsplit_once('@').map_or(email, |(local, _)| local);
    let folded = crate::expr::diacritics::fold_to_ascii(local).to_lowercase();
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_') { c } else { '_' };
        // "ann  +lee" should not become "ann___lee".
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed: String = out.trim_matches(['.', '-', '_']).chars().take(max_len.max(1)).collect();
    // Cutting can leave a separator at the end ("alexandra.montgomery-"), which reads as broken.
    let trimmed = trimmed.trim_end_matches(['.', '-', '_']);
    if trimmed.is_empty() { "user".chars().take(max_len.max(1)).collect() } else { trimmed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_slack_rules() {
        assert_eq!(handle("Ann.Lee@example.com", 21), "ann.lee");
        assert_eq!(handle("josé.garcía-núñez@example.com", 21), "jose.garcia-nunez");
        assert_eq!(handle("ann+test lee@example.com", 21), "ann_test_lee");
        assert_eq!(handle("o'brien@example.com", 21), "o_brien");
        assert_eq!(handle("alexandra.montgomery-smith@example.com", 21), "alexandra.montgomery");
        assert_eq!(handle("Дмитрий@example.com", 21), "user", "nothing usable left");
        assert_eq!(handle("_.ann._@example.com", 21), "ann");
        for h in [handle("x".repeat(40).as_str(), 21), handle("Zoë Ünter@x", 21)] {
            assert!(
                h.len() <= 21 && h.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)),
                "{h}"
            );
        }
    }

    #[test]
    fn names_are_kept_sorted_and_replaced_in_place() {
        let mut a = Attributes::new();
        a.insert("title", "x");
        a.insert(USER_NAME, "u");
        a.insert("costCenter", "c");
        assert_eq!(a.insert("title", "y"), Some("x".to_owned()));
        assert_eq!(a.keys().collect::<Vec<_>>(), ["costCenter", "title", "userName"]);
        assert_eq!(a.get("title").map(String::as_str), Some("y"));
        assert_eq!(a.remove("costCenter").as_deref(), Some("c"));
        assert!(!a.contains_key("costCenter"));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"title":"y","userName":"u"}"#);
        assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), a);
    }

    #[test]
    fn diff_walks_both_sides_whatever_they_hold() {
        let desired = Attributes::from([("a", "1"), ("c", ""), ("d", "4"), ("f", "6"), ("g", "")]);
        let observed = Attributes::from([("b", "x"), ("c", "3"), ("d", "4"), ("e", "x"), ("g", "")]);
        // a: missing → set; c: clear; d: same; f: missing → set; g: already empty.
        assert_eq!(diff(&desired, &observed), Attributes::from([("a", "1"), ("c", ""), ("f", "6")]));
        assert_eq!(diff(&desired, &Attributes::new()), Attributes::from([("a", "1"), ("d", "4"), ("f", "6")]));
        assert!(diff(&Attributes::new(), &observed).is_empty());
        assert!(diff(&observed, &observed).is_empty());
    }
}
