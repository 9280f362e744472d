//! A plan: the operations that would bring an app in line with the directory, each with its reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::ids::*;
use crate::model::OrgUnitPath;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    /// Create the account with these attributes. Shared with the planner's cache: an initial
    /// plan for a million accounts must not hold a million copies of the same maps.
    Create {
        attributes: std::sync::Arc<Attributes>,
    },
    /// Link an existing account found by matching; no change in the app.
    Link {
        remote_id: String,
        matched_on: String,
    },
    /// Set these attributes (only the ones that differ).
    Update {
        remote_id: String,
        changes: Attributes,
    },
    Activate {
        remote_id: String,
    },
    Deactivate {
        remote_id: String,
    },
    Delete {
        remote_id: String,
    },
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Link { .. } => "link",
            Self::Update { .. } => "update",
            Self::Activate { .. } => "activate",
            Self::Deactivate { .. } => "deactivate",
            Self::Delete { .. } => "delete",
        }
    }

    pub fn remote_id(&self) -> Option<&str> {
        match self {
            Self::Create { .. } => None,
            Self::Link { remote_id, .. }
            | Self::Update { remote_id, .. }
            | Self::Activate { remote_id }
            | Self::Deactivate { remote_id }
            | Self::Delete { remote_id } => Some(remote_id),
        }
    }

    /// Operations that take access away; the ones deletion guards count.
    pub fn is_deprovision(&self) -> bool {
        matches!(self, Self::Deactivate { .. } | Self::Delete { .. })
    }
}

/// Why a person should have an account: the assignment that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Grant {
    Person { assignment: AssignmentId },
    Group { assignment: AssignmentId, group: String, through: Vec<String> },
    OrgUnit { assignment: AssignmentId, org_unit: OrgUnitPath },
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Person { .. } => write!(f, "assigned directly"),
            Grant::Group { group, through, .. } if through.is_empty() => write!(f, "member of group {group}"),
            Grant::Group { group, through, .. } => {
                write!(f, "member of group {group} via {}", through.join(" → "))
            }
            Grant::OrgUnit { org_unit, .. } => write!(f, "in org unit {org_unit}"),
        }
    }
}

/// Why an account must lose access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    Unassigned,
    LeftDirectory,
    Suspended,
    LeaveDatePassed,
    NotStartedYet,
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unassigned => "no assignment grants the app any more",
            Self::LeftDirectory => "left the directory",
            Self::Suspended => "suspended in the directory",
            Self::LeaveDatePassed => "leave date has passed",
            Self::NotStartedYet => "start date not reached",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    Granted { grant: Grant },
    AttributesChanged { grant: Grant, attributes: Vec<String> },
    Revoked { revocation: Revocation },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Granted { grant } => write!(f, "{grant}"),
            Reason::AttributesChanged { attributes, .. } => {
                write!(f, "changed in the directory: {}", attributes.join(", "))
            }
            Reason::Revoked { revocation } => write!(f, "{revocation}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedOp {
    pub app_id: AppId,
    pub person_id: PersonId,
    /// The person's email at planning time, for people reading the plan.
    pub person: String,
    #[serde(flatten)]
    pub kind: OpKind,
    pub reason: Reason,
}

/// An app account that no person in the directory accounts for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmanagedAccount {
    pub app_id: AppId,
    pub remote_id: String,
    pub user_name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub ops: Vec<PlannedOp>,
    pub unmanaged: Vec<UnmanagedAccount>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.ops.iter().filter(|o| o.kind.name() == kind).count()
    }
}
