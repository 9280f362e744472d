//! Vendor profiles: the SCIM apps of the catalog ([`crate::catalog`]), each read from its data
//! file: what `DELETE /Users/{id}` does, how deprovisioning should default, how the userName is
//! formed, how large a page may be, how fast requests may go, and which of the vendor's error
//! answers mean "an admin must change something" (translated into a clear, non-retryable
//! [`ConnectorError::Vendor`]). No vendor has code of its own here: its file says it all.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tenure_core::{AppLimits, DeprovisionPolicy, UserNameFormat};

use crate::catalog::{CatalogEntry, catalog};
pub use crate::connector::DeleteMeaning;
use crate::error::ConnectorError;

/// A SCIM app of the catalog, by its catalog name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vendor(&'static str);

/// Slack's handle limit: "long_username" is Slack's answer past it.
pub const SLACK_HANDLE_MAX: usize = 21;

// The five profiles code and tests name directly; every other one is reached by name.
#[allow(non_upper_case_globals)]
impl Vendor {
    pub const Slack: Vendor = Vendor("slack");
    pub const Notion: Vendor = Vendor("notion");
    pub const GitHub: Vendor = Vendor("github");
    pub const Atlassian: Vendor = Vendor("atlassian");
    pub const Zoom: Vendor = Vendor("zoom");
}

impl Vendor {
    /// Every SCIM app of the catalog.
    pub fn all() -> impl Iterator<Item = Vendor> {
        catalog().entries().iter().filter(|e| e.is_scim()).map(|e| Vendor(e.name.as_str()))
    }

    /// The catalog entry. Only names of the catalog make a `Vendor` (the constants above are
    /// checked by this module's tests), so the lookup cannot miss.
    pub fn entry(self) -> &'static CatalogEntry {
        match catalog().get(self.0) {
            Some(entry) => entry,
            None => panic!("vendor {} is not in the catalog", self.0),
        }
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    pub fn display_name(self) -> &'static str {
        &self.entry().display_name
    }

    pub fn delete_meaning(self) -> DeleteMeaning {
        self.entry().delete_meaning()
    }

    /// Deprovisioning for a new app of this vendor when the admin does not choose: deactivate
    /// everywhere. Where DELETE cannot be undone, deleting loses the account's history for
    /// good, so it is never a default and needs an explicit confirmation (see
    /// [`Vendor::delete_needs_confirmation`]).
    pub fn default_deprovision(self) -> DeprovisionPolicy {
        DeprovisionPolicy::Deactivate
    }

    /// Whether choosing `delete` for this vendor must be confirmed explicitly: its DELETE is
    /// permanent or undocumented, or a deprovisioned account never comes back.
    pub fn delete_needs_confirmation(self) -> bool {
        self.entry().delete_irreversible()
    }

    pub fn user_name_format(self) -> UserNameFormat {
        self.entry().user_name_format()
    }

    /// What happens to a joiner in this vendor's app, where the vendor documents an invitation
    /// flow (`tenure app check` says it to the admin); `None` where a create makes a ready account.
    pub fn joiner_flow(self) -> Option<&'static str> {
        self.entry().joiners.as_ref().and_then(|f| f.get()).map(String::as_str)
    }

    /// Largest page the vendor serves on a list request.
    pub fn max_page_size(self) -> u32 {
        self.entry().max_page_size()
    }

    /// The documented limit for the vendor's requests, or `None` where the vendor publishes none.
    pub fn documented_limits(self) -> Option<AppLimits> {
        self.entry().documented_limits()
    }

    /// Turns one of the vendor's documented "cannot work until an admin acts" answers into a
    /// [`ConnectorError::Vendor`] with a message that says what to do; anything else comes back
    /// unchanged.
    pub fn translate_error(self, error: ConnectorError) -> ConnectorError {
        let ConnectorError::Status { status, detail: Some(detail), .. } = &error else {
            return error;
        };
        match self.entry().errors.iter().find(|e| detail.contains(&e.contains)) {
            Some(documented) => ConnectorError::Vendor {
                vendor: self.name(),
                code: documented.code.clone(),
                status: *status,
                message: documented.message.clone(),
            },
            None => error,
        }
    }

    /// [`translate_error`](Self::translate_error) by whichever vendor documents the answer: for
    /// clients that were not told their app's vendor. The answers recognised are specific
    /// enough (Slack's `plus_teams_only`, Zoom's SSO text) not to be mistaken for another app's.
    pub fn translate_any(error: ConnectorError) -> ConnectorError {
        Self::all().fold(error, |e, vendor| match e {
            ConnectorError::Vendor { .. } => e,
            other => vendor.translate_error(other),
        })
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownVendor {
    #[error("unknown vendor {0:?}: the catalog's SCIM apps are {1}")]
    Unknown(String, String),
    #[error("{0} has no SCIM API to provision ({1}); `tenure app catalog` says whether a connector of its own adds it")]
    NotScim(String, String),
}

impl FromStr for Vendor {
    type Err = UnknownVendor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match catalog().get(s) {
            Some(entry) if entry.is_scim() => Ok(Vendor(entry.name.as_str())),
            Some(entry) => Err(UnknownVendor::NotScim(entry.display_name.clone(), entry.api.describe())),
            None => Err(UnknownVendor::Unknown(s.to_owned(), catalog().scim_names().join(", "))),
        }
    }
}

impl Serialize for Vendor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Vendor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, detail: &str) -> ConnectorError {
        ConnectorError::Status {
            method: "POST".into(),
            url: "http://app/Users".into(),
            status: code,
            scim_type: None,
            detail: Some(detail.into()),
            retry_after: None,
        }
    }

    #[test]
    fn the_named_profiles_are_in_the_catalog() {
        for v in [Vendor::Slack, Vendor::Notion, Vendor::GitHub, Vendor::Atlassian, Vendor::Zoom] {
            assert!(catalog().get(v.name()).is_some_and(|e| e.is_scim()), "{v}");
        }
    }

    #[test]
    fn documented_rates() {
        let slack = Vendor::Slack.documented_limits().expect("slack");
        assert_eq!((slack.per_second, slack.burst), (Some(3.0), Some(20)), "180 a minute");
        // "Below 1,000 an hour" is a budget over the hour, not a rate of one every 3.6 s.
        let github = Vendor::GitHub.documented_limits().expect("github");
        assert_eq!((github.per_second, github.windows), (None, vec![tenure_core::RequestWindow::hourly(1000)]));
        assert!(Vendor::Zoom.documented_limits().is_none());
    }

    #[test]
    fn profiles_follow_the_docs() {
        assert_eq!(Vendor::Slack.delete_meaning(), DeleteMeaning::Deactivates);
        assert_eq!(Vendor::Notion.delete_meaning(), DeleteMeaning::RemovesFromWorkspace);
        assert_eq!(Vendor::GitHub.delete_meaning().as_str(), "permanent");
        assert!(Vendor::GitHub.delete_needs_confirmation() && Vendor::Zoom.delete_needs_confirmation());
        assert!(!Vendor::Slack.delete_needs_confirmation());
        assert_eq!(Vendor::GitHub.default_deprovision(), DeprovisionPolicy::Deactivate);
        assert_eq!(Vendor::Slack.user_name_format(), UserNameFormat::Handle { max_len: 21 });
        assert_eq!(Vendor::Notion.max_page_size(), 100);
        for v in Vendor::all() {
            assert_eq!(v.name().parse::<Vendor>(), Ok(v));
        }
        assert!(Vendor::all().count() >= 19, "every SCIM app of the catalog");
        assert_eq!("Jira".parse::<Vendor>(), Ok(Vendor::Atlassian));
        assert!(matches!("teams".parse::<Vendor>(), Err(UnknownVendor::Unknown(..))));
        let e = "dropbox".parse::<Vendor>().expect_err("no SCIM");
        assert!(e.to_string().contains("custom REST"), "{e}");
        assert_eq!(serde_json::to_string(&Vendor::GitHub).unwrap(), "\"github\"");
        assert_eq!(serde_json::from_str::<Vendor>("\"asana\"").unwrap().display_name(), "Asana");
    }

    #[test]
    fn documented_errors_become_clear_and_final() {
        let e = Vendor::Slack.translate_error(status(403, r#"plus_teams_only"#));
        assert!(e.to_string().contains("Business+ or Enterprise Grid"), "{e}");
        assert!(!e.is_retryable());
        assert_eq!(e.status(), Some(403));
        let e = Vendor::translate_any(status(400, "Account has not enabled Single Sign-On."));
        assert!(matches!(&e, ConnectorError::Vendor { vendor: "zoom", code, .. } if code == "sso_required"), "{e}");
        // Other answers pass through, retryable ones included.
        let e = Vendor::translate_any(status(503, "try later"));
        assert!(e.is_retryable());
        let e = Vendor::Zoom.translate_error(status(403, "plus_teams_only"));
        assert!(matches!(e, ConnectorError::Status { .. }), "only Slack documents plus_teams_only");
    }
}
