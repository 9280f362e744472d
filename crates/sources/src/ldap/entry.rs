//! A search result entry as plain values. ldap3's own `SearchEntry::construct` panics on a
//! malformed entry and splits values into text and binary by whether they happen to be UTF-8 (an
//! `objectGUID` sometimes is); this reads the BER structure without panicking and keeps bytes.
//! Layout: RFC 4511 §4.5.2, <https://www.rfc-editor.org/rfc/rfc4511#section-4.5.2>.

use ldap3::ResultEntry;

use super::error::LdapSourceError;

#[derive(Debug, Clone)]
pub struct RawEntry {
    pub dn: String,
    /// Attribute descriptions as the server wrote them, with their values.
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

const SEARCH_RESULT_ENTRY: u64 = 4;

impl RawEntry {
    pub fn from_result(entry: ResultEntry, operation: &str) -> Result<RawEntry, LdapSourceError> {
        let bad =
            |reason: &str| LdapSourceError::Protocol { operation: operation.to_owned(), reason: reason.to_owned() };
        let mut parts = entry
            .0
            .match_id(SEARCH_RESULT_ENTRY)
            .and_then(|t| t.expect_constructed())
            .ok_or_else(|| bad("a search result entry is not a SearchResultEntry"))?
            .into_iter();
        let dn = parts.next().and_then(|t| t.expect_primitive()).ok_or_else(|| bad("an entry has no DN"))?;
        let dn = String::from_utf8(dn).map_err(|_| bad("an entry's DN is not UTF-8"))?;
        let list = parts
            .next()
            .and_then(|t| t.expect_constructed())
            .ok_or_else(|| bad(&format!("entry {dn:?} has no attribute list")))?;
        let mut attrs = Vec::with_capacity(list.len());
        for attribute in list {
            let mut pieces = attribute
                .expect_constructed()
                .ok_or_else(|| bad(&format!("entry {dn:?}: an attribute is not a sequence")))?
                .into_iter();
            let name = pieces
                .next()
                .and_then(|t| t.expect_primitive())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| bad(&format!("entry {dn:?}: an attribute has no name")))?;
            let values = pieces
                .next()
                .and_then(|t| t.expect_constructed())
                .ok_or_else(|| bad(&format!("entry {dn:?}: attribute {name} has no value set")))?
                .into_iter()
                .map(|v| v.expect_primitive())
                .collect::<Option<Vec<Vec<u8>>>>()
                .ok_or_else(|| bad(&format!("entry {dn:?}: attribute {name} has a non-octet-string value")))?;
            attrs.push((name, values));
        }
        Ok(RawEntry { dn, attrs })
    }

    /// Values of `attr` (matched case-insensitively, without options).
    pub fn values(&self, attr: &str) -> &[Vec<u8>] {
        self.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attr)).map(|(_, v)| v.as_slice()).unwrap_or(&[])
    }

    pub fn has(&self, attr: &str) -> bool {
        !self.values(attr).is_empty()
    }

    /// The first value of `attr` as trimmed text; empty counts as absent.
    pub fn text(&self, attr: &str) -> Result<Option<String>, LdapSourceError> {
        let Some(first) = self.values(attr).first() else { return Ok(None) };
        let text = std::str::from_utf8(first)
            .map_err(|_| LdapSourceError::Entry { dn: self.dn.clone(), reason: format!("{attr} is not UTF-8 text") })?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    /// Every value of `attr` as text.
    pub fn texts(&self, attr: &str) -> Result<Vec<String>, LdapSourceError> {
        self.values(attr)
            .iter()
            .map(|v| {
                String::from_utf8(v.clone()).map_err(|_| LdapSourceError::Entry {
                    dn: self.dn.clone(),
                    reason: format!("a value of {attr} is not UTF-8 text"),
                })
            })
            .collect()
    }
}
