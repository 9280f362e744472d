//! The vendors the sandbox imitates and every way in which they differ.
//!
//! Sources for each quirk:
//! - Slack "SCIM API reference" <https://api.slack.com/admins/scim2> (also
//!   <https://docs.slack.dev/reference/scim-api>) and "SCIM API rate limits"
//!   <https://docs.slack.dev/reference/scim-api/rate-limits>.
//! - Notion "Provision users and groups with SCIM"
//!   <https://www.notion.com/help/provision-users-and-groups-with-scim>.
//! - Atlassian "User provisioning REST API"
//!   <https://developer.atlassian.com/cloud/admin/user-provisioning/rest/>.
//! - GitHub "Provisioning users and groups with SCIM using the REST API" (Enterprise Managed
//!   Users) <https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/provisioning-user-accounts-for-enterprise-managed-users/provisioning-users-and-groups-with-scim-using-the-rest-api>
//!   and "Deprovisioning and reinstating users"
//!   <https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/provisioning-user-accounts-with-scim/deprovisioning-and-reinstating-users>.
//! - Zoom "SCIM2 API" <https://developers.zoom.us/docs/api/scim2/> and "Server-to-Server OAuth"
//!   <https://developers.zoom.us/docs/internal-apps/s2s-oauth/>.

use std::fmt;
use std::str::FromStr;

use tenure_scim::{ScimError, ScimType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Slack,
    Notion,
    /// Atlassian (Jira, Confluence, ...) through Atlassian's user provisioning API. Named `jira`
    /// for compatibility with existing demos and settings; `atlassian` parses to it too.
    Jira,
    /// GitHub Enterprise Managed Users.
    GitHub,
    Zoom,
}

/// What `DELETE /Users/{id}` does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// The user stays listed with `active: false`.
    Deactivate,
    /// The user is removed from the workspace; later reads answer 404 (Notion: the person's
    /// Notion account lives on outside the workspace).
    Remove,
    /// The user is deleted for good; later reads answer 404 and nothing brings the account back
    /// (GitHub's "hard deprovisioning", Zoom's delete).
    Permanent,
}

/// Slack's username limit: "long_username" is what Slack answers past it.
pub const SLACK_USERNAME_MAX: usize = 21;

impl Profile {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Notion => "notion",
            Self::Jira => "jira",
            Self::GitHub => "github",
            Self::Zoom => "zoom",
        }
    }

    pub fn all() -> [Profile; 5] {
        [Self::Slack, Self::Notion, Self::Jira, Self::GitHub, Self::Zoom]
    }

    /// Where the SCIM API lives on the app's host: Zoom serves it at `/scim2`
    /// (`https://api.zoom.us/scim2/Users`), the others at `/scim/v2`.
    pub fn scim_path(&self) -> &'static str {
        match self {
            Self::Zoom => "/scim2",
            _ => "/scim/v2",
        }
    }

    /// Whether SCIM calls need a bearer token from the sandbox's own OAuth token endpoint (Zoom's
    /// server-to-server OAuth) rather than a static token.
    pub fn uses_oauth(&self) -> bool {
        matches!(self, Self::Zoom)
    }

    pub fn display_name(&self) -> &'static str {
        match self {
            Self::Slack => "Slack",
            Self::Notion => "Notion",
            Self::Jira => "Atlassian (Jira)",
            Self::GitHub => "GitHub Enterprise Managed Users",
            Self::Zoom => "Zoom",
        }
    }

    pub fn documentation_uri(&self) -> &'static str {
        match self {
            Self::Slack => "https://api.slack.com/admins/scim2",
            Self::Notion => "https://www.notion.com/help/provision-users-and-groups-with-scim",
            Self::Jira => "https://developer.atlassian.com/cloud/admin/user-provisioning/rest/",
            Self::GitHub => "https://docs.github.com/en/enterprise-cloud@latest/rest/enterprise-admin/scim",
            Self::Zoom => "https://developers.zoom.us/docs/api/scim2/",
        }
    }

    /// Requests per second the sandbox allows when the caller does not choose.
    ///
    /// These are deliberately scaled up from the real limits so a demo of a few hundred people
    /// finishes in seconds while still showing throttling: Slack documents 180 user writes per
    /// minute with bursts of 20 (SCIM API rate limits page), which would make a 300-person demo
    /// take minutes. Notion does not publish a SCIM limit but does throttle; Jira gets none so
    /// one sandbox always shows the unthrottled path. GitHub asks for at most 1,000 user
    /// provisioning requests an hour, and Zoom labels SCIM calls "Light"/"Medium" per-second
    /// limits; both are scaled up the same way.
    pub fn default_rate_limit_per_sec(&self) -> Option<u32> {
        match self {
            Self::Slack => Some(50),
            Self::Notion => Some(100),
            Self::Jira => None,
            Self::GitHub => Some(20),
            Self::Zoom => Some(30),
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
            // GitHub's SCIM list endpoints take `count` up to 100 per page.
            Self::GitHub => 100,
            // Zoom documents `count` without a maximum; 100 keeps clients' paging exercised.
            Self::Zoom => 100,
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
            // GitHub EMU: a DELETE is "hard deprovisioning": the account is suspended for good,
            // its SCIM identity is gone, and a returning person needs a new account.
            Self::GitHub => DeleteMode::Permanent,
            // Zoom SCIM2 "Delete a user": the user is deleted from the account; deactivation is
            // a PATCH of `active`.
            Self::Zoom => DeleteMode::Permanent,
        }
    }

    /// Whether the vendor's SCIM API has `/Groups` (create, PATCH members). All five do: Slack
    /// user groups, Notion groups, Atlassian groups, GitHub EMU groups (linked to teams), Zoom
    /// groups.
    pub fn supports_groups(&self) -> bool {
        true
    }

    /// Shape of the group ids the vendor hands out.
    pub fn new_group_id(&self) -> String {
        let uuid = uuid::Uuid::new_v4();
        match self {
            // Slack user group ids look like "S0614TZR7".
            Self::Slack => {
                let hex = uuid.simple().to_string().to_ascii_uppercase();
                format!("S{}", &hex[..8])
            }
            Self::Zoom => zoom_id(&uuid),
            Self::Notion | Self::Jira | Self::GitHub => uuid.to_string(),
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
            // GitHub's SCIM ids are GUIDs ("7fce0092-d52e-4f76-b727-3955bd72c939" in its docs).
            Self::Notion | Self::Jira | Self::GitHub => uuid.to_string(),
            Self::Zoom => zoom_id(&uuid),
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
            // Zoom's SCIM userName is the user's email address.
            Self::Zoom => {
                let valid = user_name.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !user_name.contains(' ')
                });
                if valid {
                    Ok(())
                } else {
                    Err(ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!("userName {user_name:?} must be the user's email address"),
                    ))
                }
            }
            Self::Notion | Self::Jira | Self::GitHub => Ok(()),
        }
    }
}

/// Zoom ids are 22 characters of URL-safe base64 ("KDcuGIm1QgePTO8WbOqwIQ"): 16 random bytes
/// without padding.
fn zoom_id(uuid: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid.as_bytes();
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut held = 0u32;
    for &b in bytes {
        bits = (bits << 8) | u32::from(b);
        held += 8;
        while held >= 6 {
            held -= 6;
            out.push(ALPHABET[((bits >> held) & 63) as usize] as char);
        }
    }
    if held > 0 {
        out.push(ALPHABET[((bits << (6 - held)) & 63) as usize] as char);
    }
    out
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sandbox app {0:?}; expected slack, notion, jira (atlassian), github or zoom")]
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
        assert!(uuid::Uuid::parse_str(&Profile::GitHub.new_id()).is_ok());
        let zoom = Profile::Zoom.new_id();
        assert_eq!(zoom.len(), 22, "{zoom}");
        assert!(zoom.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{zoom}");
        assert!(Profile::Slack.new_group_id().starts_with('S'));
    }

    #[test]
    fn zoom_user_names_are_emails() {
        assert!(Profile::Zoom.validate_user_name("ann@example.com").is_ok());
        for bad in ["ann", "ann@localhost", "@example.com", "a b@example.com"] {
            assert!(Profile::Zoom.validate_user_name(bad).is_err(), "{bad}");
        }
    }
}
