//! What Tenure knows about the SCIM APIs of the vendors it has profiles for, from each vendor's
//! documentation: what `DELETE /Users/{id}` does, how deprovisioning should default, how the
//! userName is formed, how large a page may be, how fast requests may go, and which of the
//! vendor's error answers mean "an admin must change something" (translated into a clear,
//! non-retryable [`ConnectorError::Vendor`]).
//!
//! Sources:
//! - Slack: <https://docs.slack.dev/admins/scim-api>, <https://api.slack.com/scim#errors>,
//!   <https://docs.slack.dev/reference/scim-api/rate-limits>.
//! - Notion: <https://www.notion.com/help/provision-users-and-groups-with-scim>,
//!   <https://developers.notion.com/reference/request-limits>.
//! - Atlassian: <https://developer.atlassian.com/cloud/admin/user-provisioning/rest/>.
//! - GitHub Enterprise Managed Users:
//!   <https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/provisioning-user-accounts-for-enterprise-managed-users/provisioning-users-and-groups-with-scim-using-the-rest-api>,
//!   <https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/provisioning-user-accounts-with-scim/deprovisioning-and-reinstating-users>.
//! - Zoom: <https://developers.zoom.us/docs/api/scim2/>,
//!   <https://developers.zoom.us/docs/internal-apps/s2s-oauth/>.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tenure_core::{AppLimits, DeprovisionPolicy, UserNameFormat};

pub use crate::connector::DeleteMeaning;
use crate::error::ConnectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Slack,
    Notion,
    #[serde(rename = "github")]
    GitHub,
    Atlassian,
    Zoom,
}

/// Slack's handle limit: "long_username" is Slack's answer past it.
pub const SLACK_HANDLE_MAX: usize = 21;

impl Vendor {
    pub const ALL: [Vendor; 5] = [Vendor::Slack, Vendor::Notion, Vendor::GitHub, Vendor::Atlassian, Vendor::Zoom];

    pub fn name(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Notion => "notion",
            Self::GitHub => "github",
            Self::Atlassian => "atlassian",
            Self::Zoom => "zoom",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::Slack => "Slack",
            Self::Notion => "Notion",
            Self::GitHub => "GitHub Enterprise Managed Users",
            Self::Atlassian => "Atlassian",
            Self::Zoom => "Zoom",
        }
    }

    pub fn delete_meaning(self) -> DeleteMeaning {
        match self {
            // Slack: "DELETE /Users/<id> — Sets a Slack user to deactivated".
            Self::Slack => DeleteMeaning::Deactivates,
            // Notion: deleting a SCIM user removes the member from the workspace.
            Self::Notion => DeleteMeaning::RemovesFromWorkspace,
            // Atlassian: deleting "will unlink the user from your identity provider and
            // deactivate the user within Atlassian"; the account can be re-activated by an admin.
            Self::Atlassian => DeleteMeaning::Deactivates,
            // GitHub EMU: DELETE is hard deprovisioning: the user cannot be unsuspended and a
            // new account has to be provisioned.
            Self::GitHub => DeleteMeaning::Permanent,
            // Zoom SCIM2 "Delete a user" deletes the user; deactivation is `active: false`.
            Self::Zoom => DeleteMeaning::Permanent,
        }
    }

    /// Deprovisioning for a new app of this vendor when the admin does not choose: deactivate
    /// everywhere. Where DELETE is permanent (GitHub, Zoom) deleting loses the account's history
    /// for good, so it is never a default and needs an explicit confirmation (see
    /// [`Vendor::delete_needs_confirmation`]).
    pub fn default_deprovision(self) -> DeprovisionPolicy {
        DeprovisionPolicy::Deactivate
    }

    /// Whether choosing `delete` for this vendor must be confirmed explicitly.
    pub fn delete_needs_confirmation(self) -> bool {
        self.delete_meaning() == DeleteMeaning::Permanent
    }

    /// How the userName is formed: Slack's is a handle of at most 21 lowercase letters, digits,
    /// periods, hyphens and underscores; Zoom's must be the email address; the others take the
    /// email address as well.
    pub fn user_name_format(self) -> UserNameFormat {
        match self {
            Self::Slack => UserNameFormat::Handle { max_len: SLACK_HANDLE_MAX },
            Self::Notion | Self::GitHub | Self::Atlassian | Self::Zoom => UserNameFormat::Email,
        }
    }

    /// What happens to a joiner in this vendor's app, where the vendor documents an invitation
    /// flow (`tenure app check` says it to the admin); `None` where a create makes a ready account.
    pub fn joiner_flow(self) -> Option<&'static str> {
        match self {
            // Slack's SCIM API creates members outright only on workspaces where SSO is set up;
            // without SSO a SCIM-created member must still accept an email invitation, and
            // guests cannot be created at all (Slack's "SCIM API" reference, "Limitations").
            Self::Slack => Some(
                "Slack invites, then adds, then activates: with SSO on, a joiner's account is ready at once; \
                 with SSO off, Slack emails the joiner an invitation they must accept before they can sign in",
            ),
            Self::Notion | Self::GitHub | Self::Atlassian | Self::Zoom => None,
        }
    }

    /// Largest page the vendor serves on a list request.
    pub fn max_page_size(self) -> u32 {
        match self {
            // Slack's own examples page with count=1000.
            Self::Slack => 1000,
            // Notion and Atlassian cap pages at 100; GitHub's `count` goes up to 100.
            Self::Notion | Self::Atlassian | Self::GitHub => 100,
            // Zoom documents no maximum; 100 is what its other list APIs default to at most.
            Self::Zoom => 100,
        }
    }

    /// The documented limit for the vendor's user writes, or `None` where the vendor publishes
    /// none.
    pub fn documented_limits(self) -> Option<AppLimits> {
        let limits = |per_second: f64, burst: u32| AppLimits {
            per_second: Some(per_second),
            burst: Some(burst),
            concurrency: None,
            shared_key: None,
        };
        match self {
            // https://docs.slack.dev/reference/scim-api/rate-limits: creating, updating and
            // deleting a user are each limited to 180 requests a minute with bursts of 20, for
            // all SCIM apps of the org together (so apps of one org should share a `--rate-group`).
            Self::Slack => Some(limits(3.0, 20)),
            // https://developers.notion.com/reference/request-limits: "an average of three
            // requests per second", some bursts allowed.
            Self::Notion => Some(limits(3.0, 10)),
            // GitHub asks SCIM clients to stay under 1,000 user provisioning requests an hour.
            Self::GitHub => Some(limits(1000.0 / 3600.0, 5)),
            // Atlassian and Zoom publish no fixed SCIM limit; their 429s and Retry-After pace us.
            Self::Atlassian | Self::Zoom => None,
        }
    }

    /// Turns one of the vendor's documented "cannot work until an admin acts" answers into a
    /// [`ConnectorError::Vendor`] with a message that says what to do; anything else comes back
    /// unchanged.
    pub fn translate_error(self, error: ConnectorError) -> ConnectorError {
        let ConnectorError::Status { status, detail: Some(detail), .. } = &error else {
            return error;
        };
        let status = *status;
        let translated = match self {
            // https://api.slack.com/scim#errors: the SCIM API is only for Business+ and
            // Enterprise Grid; other plans get `plus_teams_only` (HTTP 403).
            Self::Slack if detail.contains("plus_teams_only") => Some((
                "plus_teams_only",
                "Slack answered plus_teams_only: SCIM needs the Business+ or Enterprise Grid plan; \
                 upgrade the workspace or provision Slack another way",
            )),
            // https://developers.zoom.us/docs/api/scim2/: SCIM2 needs single sign-on enabled on
            // the account (and a Business or Education account with an approved vanity URL).
            Self::Zoom if detail.contains("not enabled Single Sign-On") => Some((
                "sso_required",
                "Zoom answered that the account has not enabled Single Sign-On: Zoom's SCIM API \
                 needs SSO (on a Business or Education account with an approved vanity URL); \
                 enable SSO in Zoom's admin settings",
            )),
            _ => None,
        };
        match translated {
            Some((code, message)) => ConnectorError::Vendor {
                vendor: self.name(),
                code: code.to_owned(),
                status,
                message: message.to_owned(),
            },
            None => error,
        }
    }

    /// [`translate_error`](Self::translate_error) by whichever vendor documents the answer: for
    /// clients that were not told their app's vendor. The answers recognised are specific
    /// enough (Slack's `plus_teams_only`, Zoom's SSO text) not to be mistaken for another app's.
    pub fn translate_any(error: ConnectorError) -> ConnectorError {
        Self::ALL.into_iter().fold(error, |e, vendor| match e {
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
#[error("unknown vendor {0:?}; expected slack, notion, github, atlassian or zoom")]
pub struct UnknownVendor(pub String);

impl FromStr for Vendor {
    type Err = UnknownVendor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        // Jira is how the sandbox and older settings name Atlassian.
        if wanted.eq_ignore_ascii_case("jira") {
            return Ok(Self::Atlassian);
        }
        Self::ALL.into_iter().find(|v| v.name().eq_ignore_ascii_case(wanted)).ok_or_else(|| UnknownVendor(s.to_owned()))
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
    fn documented_rates() {
        let slack = Vendor::Slack.documented_limits().expect("slack");
        assert_eq!((slack.per_second, slack.burst), (Some(3.0), Some(20)), "180 a minute");
        let github = Vendor::GitHub.documented_limits().expect("github").per_second.expect("rate");
        assert!((github * 3600.0 - 1000.0).abs() < 1e-6, "1,000 an hour");
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
        for v in Vendor::ALL {
            assert_eq!(v.name().parse::<Vendor>(), Ok(v));
        }
        assert_eq!("Jira".parse::<Vendor>(), Ok(Vendor::Atlassian));
        assert!("teams".parse::<Vendor>().is_err());
        assert_eq!(serde_json::to_string(&Vendor::GitHub).unwrap(), "\"github\"");
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
