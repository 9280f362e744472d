//! Who may administer what: the roles an admin of a tenant holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An admin's role in one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything in the tenant.
    OrgAdmin,
    /// Only the apps named: their settings, credentials, assignments, users, plans and the
    /// approvals of their held plans.
    AppAdmin,
    /// License data and reports, and read access to apps.
    LicenseAdmin,
    /// Reads everything, the audit log included; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::OrgAdmin, Role::AppAdmin, Role::LicenseAdmin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgAdmin => "org-admin",
            Self::AppAdmin => "app-admin",
            Self::LicenseAdmin => "license-admin",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use org-admin, app-admin, license-admin or auditor")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), serde_json::json!(role.as_str()));
        }
        assert!("admin".parse::<Role>().unwrap_err().to_string().contains("org-admin"));
    }
}
