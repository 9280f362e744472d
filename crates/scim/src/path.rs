//! Attribute paths: `userName`, `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`
//! (RFC 7644 §3.10), the PATCH `path` form with a value filter (`emails[type eq "work"].value`,
//! §3.5.2) and the comma-separated lists of `attributes` / `excludedAttributes` (§3.9).

use std::fmt;

use crate::filter::Filter;
use crate::filter::parse::Parser;

/// An attribute path: optional schema URN, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A malformed path, with the character offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path at character {position}: {message}")]
pub struct PathError {
    pub position: usize,
    pub message: String,
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        Self { urn: None, name: name.into(), sub: None }
    }

    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Parses a path with no knowledge of schemas: a URN prefix ends at the last `:`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        Self::parse_with(text, &[])
    }

    /// Parses a path, splitting a URN prefix at one of `known_urns` when it starts with one, so
    /// URNs whose last segment holds a dot still split right.
    pub fn parse_with(text: &str, known_urns: &[&str]) -> Result<Self, PathError> {
        let mut parser = Parser::new(text, known_urns);
        let path = parser.attr_path().map_err(PathError::from)?;
        parser.expect_end().map_err(PathError::from)?;
        Ok(path)
    }

    /// The same path without its sub-attribute.
    pub fn parent(&self) -> Self {
        Self { urn: self.urn.clone(), name: self.name.clone(), sub: None }
    }

    /// `urn:name` as one string: for a path that may name a whole extension (the URN's last
    /// segment parsed as the attribute name).
    pub fn joined_urn(&self) -> Option<String> {
        match (&self.urn, &self.sub) {
            (Some(urn), None) => Some(format!("{urn}:{}", self.name)),
            _ => None,
        }
    }
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2): `attrPath`, or `valuePath` optionally followed by
/// a sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// The value selection filter in `[...]`; its paths are relative to one element.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`, as in `emails[type eq "work"].value`.
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<Self, PathError> {
        Self::parse_with(text, &[])
    }

    pub fn parse_with(text: &str, known_urns: &[&str]) -> Result<Self, PathError> {
        Parser::new(text, known_urns).patch_path().map_err(PathError::from)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Parses `attributes=` / `excludedAttributes=` values: comma-separated paths, blanks ignored.
pub fn parse_attribute_list(text: &str, known_urns: &[&str]) -> Result<Vec<AttrPath>, PathError> {
    let mut paths = Vec::new();
    let mut offset = 0;
    for part in text.split(',') {
        let trimmed = part.trim();
        if !trimmed.is_empty() {
            let path = AttrPath::parse_with(trimmed, known_urns)
                .map_err(|e| PathError { position: offset + e.position, message: e.message })?;
            paths.push(path);
        }
        offset += part.len() + 1;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas;

    #[test]
    fn parses_plain_sub_and_urn_paths() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::new("userName"));
        assert_eq!(AttrPath::parse("name.givenName").unwrap(), AttrPath::new("name").with_sub("givenName"));
        let p = AttrPath::parse(&format!("{}:manager.value", schemas::ENTERPRISE_USER)).unwrap();
        assert_eq!(p, AttrPath::new("manager").with_urn(schemas::ENTERPRISE_USER).with_sub("value"));
        let whole = AttrPath::parse(schemas::ENTERPRISE_USER).unwrap();
        assert_eq!(whole.joined_urn().as_deref(), Some(schemas::ENTERPRISE_USER));
        assert_eq!(AttrPath::parse("members.$ref").unwrap().sub.as_deref(), Some("$ref"));
        for bad in ["", "a.b.c", "1abc", "a.", "a b", "emails[type eq \"w\"]", "a..b", ":x"] {
            assert!(AttrPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_urns_split_at_the_right_colon() {
        let p = AttrPath::parse_with("urn:acme:ext:v1.2:seat", &["urn:acme:ext:v1.2"]).unwrap();
        assert_eq!(p, AttrPath::new("seat").with_urn("urn:acme:ext:v1.2"));
        let p = AttrPath::parse_with("URN:ACME:EXT:V1.2:seat", &["urn:acme:ext:v1.2"]).unwrap();
        assert_eq!(p.urn.as_deref(), Some("URN:ACME:EXT:V1.2"));
    }

    #[test]
    fn parses_patch_paths() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, AttrPath::new("emails"));
        assert!(p.filter.is_some());
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p);
        let p = PatchPath::parse(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.sub.is_none());
        let p = PatchPath::parse(&format!("{}:manager", schemas::ENTERPRISE_USER)).unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(schemas::ENTERPRISE_USER));
        for bad in [
            "emails[",
            "emails[type eq \"w\"",
            "emails[type eq \"w\"].",
            "emails[]",
            "name.givenName[x pr]",
            "emails[type eq \"w\"]x",
            "a[b[c pr]]",
        ] {
            assert!(PatchPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_attribute_lists() {
        let list = parse_attribute_list(" userName, name.givenName,,emails ", &[]).unwrap();
        assert_eq!(list.len(), 3);
        let err = parse_attribute_list("userName,a b", &[]).unwrap_err();
        assert!(err.position >= 9, "{err}");
    }
}
