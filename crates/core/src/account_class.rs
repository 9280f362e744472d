//! What an account is, from Tenure's side: the classes of the visibility report, which the
//! license report counts seats by.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What an account is, from Tenure's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountClass {
    /// Linked, granted, in step.
    Managed,
    /// Linked and deactivated, as intended.
    Deactivated,
    /// Active, but nothing grants it any more (the plan takes it away).
    UnassignedButActive,
    /// Active, and its person has left the directory.
    LeftButActive,
    /// Inactive, yet still holding a license.
    InactiveButLicensed,
    /// Not linked yet; the plan links it to the person it matches.
    Matched,
    /// Its key names several people or accounts: an admin decides (`tenure adopt`).
    Ambiguous,
    /// No person matches it, and an admin marked it as a known external account.
    KnownExternal,
    /// No person matches it: an external, an orphan or a shadow account.
    Unmanaged,
    /// A pending invitation Tenure sent (GitHub organizations): neither an account yet nor
    /// missing. Whether it takes a seat is the app's rule (GitHub counts pending invitations
    /// against paid seats).
    Invited,
    /// Linked, but the app's list cannot be read whole, so Tenure does not plan the app; shown
    /// as last stored.
    Unread,
    /// Not an account: a person granted the app who has none, whose create the plan does not
    /// send because the app would refuse it (a catalog rule: no profile entitlement in
    /// Salesforce) or it cannot be made (a mapping fails); the row's note says why.
    Refused,
}

impl AccountClass {
    /// The class's name as JSON and CSV spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::Deactivated => "deactivated",
            Self::UnassignedButActive => "unassigned_but_active",
            Self::LeftButActive => "left_but_active",
            Self::InactiveButLicensed => "inactive_but_licensed",
            Self::Matched => "matched",
            Self::Ambiguous => "ambiguous",
            Self::KnownExternal => "known_external",
            Self::Unmanaged => "unmanaged",
            Self::Unread => "unread",
            Self::Invited => "invited",
            Self::Refused => "refused",
        }
    }
}

impl fmt::Display for AccountClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AccountClass {
    pub const ALL: [AccountClass; 12] = [
        Self::Managed,
        Self::Deactivated,
        Self::UnassignedButActive,
        Self::LeftButActive,
        Self::InactiveButLicensed,
        Self::Matched,
        Self::Ambiguous,
        Self::KnownExternal,
        Self::Unmanaged,
        Self::Invited,
        Self::Unread,
        Self::Refused,
    ];

    /// Whether an account of this class, active or not, takes a seat in its app: an active
    /// account does; an inactive one does when it still holds a license; a pending invitation
    /// does where the app counts them (GitHub does, against paid seats).
    pub fn holds_seat(self, active: bool) -> bool {
        match self {
            Self::Deactivated | Self::Refused => false,
            Self::InactiveButLicensed | Self::Invited => true,
            _ => active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown account class {0:?}")]
pub struct UnknownClass(pub String);

impl FromStr for AccountClass {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownClass(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_by_name() {
        for class in AccountClass::ALL {
            assert_eq!(class.as_str().parse::<AccountClass>(), Ok(class));
            assert_eq!(serde_json::to_value(class).unwrap(), serde_json::json!(class.as_str()));
        }
    }
}
