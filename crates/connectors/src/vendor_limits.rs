//! Request pacing the vendors document for their SCIM APIs, used as an app's defaults when an
//! admin names the vendor (`tenure app add scim --vendor slack`) and sets no limit of their own.

use tenure_core::AppLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Slack,
    Notion,
    GitHub,
    Atlassian,
    Zoom,
}

/// The documented limit for the vendor's user writes, or `None` where the vendor publishes none.
pub fn documented_limits(vendor: Vendor) -> Option<AppLimits> {
    let limits = |per_second: f64, burst: u32| AppLimits {
        per_second: Some(per_second),
        burst: Some(burst),
        concurrency: None,
        shared_key: None,
    };
    match vendor {
        // https://docs.slack.dev/reference/scim-api/rate-limits: creating, updating and deleting
        // a user are each limited to 180 requests a minute with bursts of 20, for all SCIM apps
        // of the org together (so apps of one org should share a `--rate-group`).
        Vendor::Slack => Some(limits(3.0, 20)),
        // https://developers.notion.com/reference/request-limits: "an average of three requests
        // per second", some bursts allowed.
        Vendor::Notion => Some(limits(3.0, 10)),
        // GitHub Enterprise Managed Users: GitHub asks SCIM clients to stay under 1,000 user
        // provisioning requests an hour
        // (https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/provisioning-user-accounts-with-scim).
        Vendor::GitHub => Some(limits(1000.0 / 3600.0, 5)),
        // Atlassian and Zoom publish no fixed SCIM limit; their 429s and Retry-After pace us.
        Vendor::Atlassian | Vendor::Zoom => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_rates() {
        let slack = documented_limits(Vendor::Slack).expect("slack");
        assert_eq!((slack.per_second, slack.burst), (Some(3.0), Some(20)), "180 a minute");
        let github = documented_limits(Vendor::GitHub).expect("github").per_second.expect("rate");
        assert!((github * 3600.0 - 1000.0).abs() < 1e-6, "1,000 an hour");
        assert!(documented_limits(Vendor::Zoom).is_none());
    }
}
