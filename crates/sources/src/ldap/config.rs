//! What an LDAP source is told: where the directory is, how to bind, where people and groups
//! live, and which attribute carries which field. Stored as the source's JSON config.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tenure_core::model::Secret;

use super::error::LdapSourceError;

/// Which server family the directory is. It decides the defaults (stable key, filters, attribute
/// names), how a disabled account is recognised and how the incremental cursor works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    #[default]
    Openldap,
    ActiveDirectory,
}

/// The LDAP attribute behind each person field. `None` takes the flavor's default; `Some("")`
/// turns an optional field off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeMap {
    /// The immutable key (`entryUUID` / `objectGUID`): a rename or a move keeps the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// Holds the manager's DN, which becomes the manager's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// The group attribute that names a group in Tenure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

/// OpenLDAP has no standard "disabled" flag: an account counts as disabled when `attribute` is
/// present (with `value: None`) or has `value` (compared case-insensitively). The default is the
/// ppolicy overlay's `pwdAccountLockedTime`, present while the account is locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisabledRule {
    pub attribute: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Default for DisabledRule {
    fn default() -> Self {
        Self { attribute: "pwdAccountLockedTime".to_owned(), value: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:636` or `ldap://host:389` (then `starttls`, or `insecure_plaintext`).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// PEM file with the CA certificate(s) the server's certificate must chain to; without it
    /// the system's trust store is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Plain `ldap://` without StartTLS sends the password in clear; only on explicit request.
    #[serde(default)]
    pub insecure_plaintext: bool,
    pub bind_dn: String,
    pub password: Secret,
    /// Subtrees searched for people (each with `user_filter`).
    pub user_bases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_filter: Option<String>,
    /// Subtrees searched for groups; none means no groups are read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_bases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
    #[serde(default)]
    pub attributes: AttributeMap,
    #[serde(default)]
    pub flavor: Flavor,
    /// OpenLDAP only (Active Directory uses `userAccountControl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<DisabledRule>,
    /// Entries per page of the Simple Paged Results control (Active Directory caps it at 1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds for the connection and for each request.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Upper bound on entries read by one search: a runaway directory (or a filter that matches
    /// every object) fails loudly instead of exhausting memory.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

fn default_page_size() -> u32 {
    500
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_max_entries() -> usize {
    1_000_000
}

/// A config with every default filled in, checked once before anything is sent.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub user_filter: String,
    pub group_filter: String,
    pub key: String,
    pub email: String,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub employee_number: Option<String>,
    pub manager: Option<String>,
    pub group_name: String,
    pub disabled: Option<DisabledRule>,
}

impl LdapConfig {
    /// A config for `url` with the flavor's defaults.
    pub fn new(
        url: impl Into<String>,
        bind_dn: impl Into<String>,
        password: Secret,
        user_base: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            starttls: false,
            ca_file: None,
            insecure_plaintext: false,
            bind_dn: bind_dn.into(),
            password,
            user_bases: vec![user_base.into()],
            user_filter: None,
            group_bases: Vec::new(),
            group_filter: None,
            attributes: AttributeMap::default(),
            flavor: Flavor::Openldap,
            disabled: None,
            page_size: default_page_size(),
            timeout_secs: default_timeout_secs(),
            max_entries: default_max_entries(),
        }
    }

    /// Checks the settings without contacting the server (URL and TLS choice, filters, page
    /// size, attribute map), so a bad source is refused when it is added.
    pub fn validate(&self) -> Result<(), LdapSourceError> {
        self.resolve().map(|_| ())
    }

    pub(crate) fn resolve(&self) -> Result<Resolved, LdapSourceError> {
        let bad = |reason: String| Err(LdapSourceError::Config { reason });
        let ad = self.flavor == Flavor::ActiveDirectory;
        let scheme = self.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("ldaps") if self.starttls => {
                return bad("StartTLS is for ldap:// URLs; ldaps:// is TLS already".into());
            }
            Some("ldaps") => {}
            Some("ldap") if self.starttls || self.insecure_plaintext => {}
            Some("ldap") => {
                return bad(format!(
                    "{} would send the bind password in clear: use ldaps://, StartTLS, or allow plaintext explicitly \
                     (only for a test server on loopback)",
                    self.url
                ));
            }
            _ => return bad(format!("url {:?}: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]", self.url)),
        }
        if self.bind_dn.trim().is_empty() {
            return bad("bind DN is empty".into());
        }
        // RFC 4513 §5.1.2: a simple bind with a DN and an empty password is an unauthenticated
        // bind, which servers accept and then answer searches anonymously (often with nothing).
        if self.password.expose().is_empty() {
            return bad("bind password is empty (that would be an unauthenticated bind)".into());
        }
        if self.user_bases.is_empty() || self.user_bases.iter().any(|b| b.trim().is_empty()) {
            return bad("at least one user base DN is needed, and none may be empty".into());
        }
        if !(1..=10_000).contains(&self.page_size) {
            return bad(format!("page size {} is out of range 1..=10000", self.page_size));
        }
        if self.timeout_secs == 0 {
            return bad("timeout must be at least one second".into());
        }
        if ad && self.disabled.is_some() {
            return bad("a disabled rule applies to OpenLDAP; Active Directory uses userAccountControl".into());
        }
        let user_filter = self.user_filter.clone().unwrap_or_else(|| {
            if ad { "(&(objectCategory=person)(objectClass=user))" } else { "(objectClass=inetOrgPerson)" }.to_owned()
        });
        let group_filter = self.group_filter.clone().unwrap_or_else(|| {
            if ad { "(objectClass=group)" } else { "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))" }
                .to_owned()
        });
        for (what, filter) in [("user filter", &user_filter), ("group filter", &group_filter)] {
            if !filter_is_valid(filter) {
                return Err(LdapSourceError::BadFilter {
                    filter: filter.clone(),
                    reason: format!("the {what} is not a valid RFC 4515 filter"),
                });
            }
        }
        let a = &self.attributes;
        let required = |set: &Option<String>, field: &str, default: &str| -> Result<String, LdapSourceError> {
            match set.as_deref().map(str::trim) {
                None => Ok(default.to_owned()),
                Some("") => {
                    Err(LdapSourceError::Config { reason: format!("attribute for {field} cannot be turned off") })
                }
                Some(name) => Ok(name.to_owned()),
            }
        };
        let optional = |set: &Option<String>, default: &str| match set.as_deref().map(str::trim) {
            None => Some(default.to_owned()),
            Some("") => None,
            Some(name) => Some(name.to_owned()),
        };
        Ok(Resolved {
            user_filter,
            group_filter,
            key: required(&a.key, "key", if ad { "objectGUID" } else { "entryUUID" })?,
            email: required(&a.email, "email", "mail")?,
            user_name: required(&a.user_name, "user_name", if ad { "sAMAccountName" } else { "uid" })?,
            given_name: optional(&a.given_name, "givenName"),
            family_name: optional(&a.family_name, "sn"),
            display_name: optional(&a.display_name, "displayName"),
            department: optional(&a.department, if ad { "department" } else { "departmentNumber" }),
            title: optional(&a.title, "title"),
            employee_number: optional(&a.employee_number, if ad { "employeeID" } else { "employeeNumber" }),
            manager: optional(&a.manager, "manager"),
            group_name: required(&a.group_name, "group_name", "cn")?,
            disabled: if ad { None } else { Some(self.disabled.clone().unwrap_or_default()) },
        })
    }
}

impl Resolved {
    /// Every attribute a full read of a person needs.
    pub fn person_attributes(&self, flavor: Flavor) -> Vec<String> {
        let mut attrs = vec![self.key.clone(), self.email.clone(), self.user_name.clone()];
        let optional = [
            &self.given_name,
            &self.family_name,
            &self.display_name,
            &self.department,
            &self.title,
            &self.employee_number,
            &self.manager,
        ];
        attrs.extend(optional.into_iter().flatten().cloned());
        match flavor {
            Flavor::Openldap => attrs.push("modifyTimestamp".to_owned()),
            Flavor::ActiveDirectory => attrs.push("userAccountControl".to_owned()),
        }
        if let Some(rule) = &self.disabled {
            attrs.push(rule.attribute.clone());
        }
        attrs.sort_by_key(|a| a.to_ascii_lowercase());
        attrs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        attrs
    }

    pub fn group_attributes(&self, flavor: Flavor) -> Vec<String> {
        let mut attrs = vec![self.group_name.clone(), "member".to_owned()];
        match flavor {
            Flavor::Openldap => attrs.extend(["uniqueMember".to_owned(), "modifyTimestamp".to_owned()]),
            Flavor::ActiveDirectory => {}
        }
        attrs
    }
}

/// Whether `filter` is a valid RFC 4515 search filter (checked before any server sees it).
pub fn filter_is_valid(filter: &str) -> bool {
    ldap3::parse_filter(filter).is_ok()
}
