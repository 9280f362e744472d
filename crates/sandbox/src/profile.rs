//! The three vendors the sandbox imitates and every way in which they differ.
//!
//! Sources for each quirk:
//! - Slack "SCIM API reference" <https://api.slack.com/admins/scim2> (also
//!   <https://docs.slack.dev/reference/scim-api>) and "SCIM API rate limits"
//!   <https://docs.slack.dev/reference/scim-api/rate-limits>.
//! - Notion "Provision users and groups with SCIM"
//!   <https://www.notion.com/help/provision-users-and-groups-with-scim>.
//! - Atlassian "User provisioning REST API"
//!   <https://developer.atlassian.com/cloud/admin/user-provisioning/rest/>.

use std::fmt;
use std::str::FromStr;

use tenure_scim::{ScimError, ScimType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Slack,
    Notion,
    Jira,
}

/// What `DELETE /Users/{id}` does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// The user stays listed with `active: false`.
    Deactivate,
    /// The user is gone; later reads answer 404.
    Remove,
}

/// Slack's username limit: "long_username" is what Slack answers past it.
pub const SLACK_USERNAME_MAX: usize = 21;

impl Profile {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Notion => "notion",
            Self::Jira => "jira",
        }
    }

    pub fn all() -> [Profile; 3] {
        [Self::Slack, Self::Notion, Self::Jira]
    }

    pub fn display_name(&self) -> &'static str {
        match self {
            Self::Slack => "Slack",
            Self::Notion => "Notion",
            Self::Jira => "Jira",
        }
    }

    pub fn documentation_uri(&self) -> &'static str {
        match self {
            Self::Slack => "https://api.slack.com/admins/scim2",
            Self::Notion => "https://www.notion.com/help/provision-users-and-groups-with-scim",
            Self::Jira => "https://developer.atlassian.com/cloud/admin/user-provisioning/rest/",
        }
    }

    /// Requests per second the sandbox allows when the caller does not choose.
    ///
    /// These are deliberately scaled up from the real limits so a demo of a few hundred people
    /// finishes in seconds while still showing throttling: Slack documents 180 user writes per
    /// minute with bursts of 20 (SCIM API rate limits page), which would make a 300-person demo
    /// take minutes. Notion does not publish a SCIM limit but does throttle; Jira gets none so
    /// one sandbox always shows the unthrottled path.
    pub fn default_rate_limit_per_sec(&self) -> Option<u32> {
        match self {
            Self::Slack => Some(50),
            Self::Notion => Some(100),
            Self::Jira => None,
        }
    }

    /// Largest `count` a list request may ask for; larger requests are silently capped, as
    /// RFC 7644 §3.4.2.4 allows.
    pub fn max_page_size(&self) -> usize {
        match self {
            // Slack's own SDK examples page users with count=1000.
            Self::Slack => 1000,
            // Notion caps SCIM list pages at 100 results.
            Self::Notion => 100,
            // Atlassian's user provisioning API pages at most 100 users.
            Self::Jira => 100,
        }
    }

    pub fn delete_mode(&self) -> DeleteMode {
        match self {
            // Slack: "DELETE /Users/<id> — Sets a Slack user to deactivated".
            Self::Slack => DeleteMode::Deactivate,
            // Notion: DELETE removes the member from the workspace.
            Self::Notion => DeleteMode::Remove,
            // Atlassian deactivates the account on DELETE. Its docs add that the SCIM record
            // itself is dropped; the sandbox keeps it listed as inactive so the demo can show
            // the deactivation, which is what Tenure's reconciliation cares about.
            Self::Jira => DeleteMode::Deactivate,
        }
    }

    /// Shape of the ids the vendor hands out, so logs and demos look like the real thing.
    pub fn new_id(&self) -> String {
        let uuid = uuid::Uuid::new_v4();
        match self {
            // Slack user ids look like "U01ABCDEF23": a 'U' and uppercase alphanumerics.
            Self::Slack => {
                let hex = uuid.simple().to_string().to_ascii_uppercase();
                format!("U{}", &hex[..10])
            }
            Self::Notion | Self::Jira => uuid.to_string(),
        }
    }

    /// Vendor-specific rules on `userName`, beyond "present and unique".
    pub fn validate_user_name(&self, user_name: &str) -> Result<(), ScimError> {
        if user_name.trim().is_empty() {
            return Err(ScimError::bad_request(ScimType::InvalidValue, "userName must not be empty"));
        }
        match self {
            // Slack usernames (the "handle") are at most 21 characters of lowercase letters,
            // digits, periods, hyphens and underscores; Slack answers `long_username` /
            // `invalid_username` otherwise. (Real Slack rewrites an email given as userName into
            // a handle; the sandbox refuses it so that mapping mistakes show up in a demo.)
            Self::Slack => {
                if user_name.chars().count() > SLACK_USERNAME_MAX {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!("long_username: userName {user_name:?} is longer than {SLACK_USERNAME_MAX} characters"),
                    ));
                }
                let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_');
                if !user_name.chars().all(allowed) {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!(
                            "invalid_username: userName {user_name:?} may only contain lowercase letters, numbers, periods, hyphens and underscores"
                        ),
                    ));
                }
                Ok(())
            }
            Self::Notion | Self::Jira => Ok(()),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sandbox app {0:?}; expected slack, notion or jira")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Self::all()
            .into_iter()
            .find(|p| {
                p.name().eq_ignore_ascii_case(wanted) || (wanted.eq_ignore_ascii_case("atlassian") && *p == Self::Jira)
            })
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::all() {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("Atlassian".parse::<Profile>().unwrap(), Profile::Jira);
        assert!("teams".parse::<Profile>().is_err());
    }

    #[test]
    fn slack_user_names_follow_slack_rules() {
        let slack = Profile::Slack;
        assert!(slack.validate_user_name("ann.lee-2_x").is_ok());
        assert!(slack.validate_user_name("a".repeat(21).as_str()).is_ok());
        let long = slack.validate_user_name(&"a".repeat(22)).unwrap_err();
        assert_eq!(long.scim_type, Some(ScimType::InvalidValue));
        assert!(long.detail.unwrap().contains("long_username"));
        for bad in ["Ann", "ann@example.com", "ann lee", "", "änn"] {
            assert!(slack.validate_user_name(bad).is_err(), "{bad}");
        }
        assert!(Profile::Notion.validate_user_name("Ann.Lee@Example.com").is_ok());
        assert!(Profile::Jira.validate_user_name(" ").is_err());
    }

    #[test]
    fn ids_look_like_the_vendor() {
        let id = Profile::Slack.new_id();
        assert!(id.starts_with('U') && id.len() == 11, "{id}");
        assert!(uuid::Uuid::parse_str(&Profile::Notion.new_id()).is_ok());
    }
}
