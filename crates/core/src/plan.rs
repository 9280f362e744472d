//! A plan: the operations that would bring an app in line with the directory, each with its reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::ids::*;
use crate::model::OrgUnitPath;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    /// Create the account with these attributes. Shared with the planner's cache: an initial
    /// plan for a million accounts must not hold a million copies of the same maps.
    Create {
        attributes: std::sync::Arc<Attributes>,
        /// False for an account prepared ahead of its person's start date: made, then disabled
        /// until the day. Absent from stored operations made before it existed: active.
        #[serde(default = "active_by_default", skip_serializing_if = "is_active")]
        active: bool,
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
    /// Give the account this license tier, or take its license away (`None`).
    ChangeLicense {
        remote_id: String,
        license: Option<String>,
    },
    /// Change an in-app group's members (creating the group first when `group_id` is `None`):
    /// a plan's `GroupOp` as queue work. It is queued on a pair of its own (the group's key in
    /// `PlannedOp::person_id`, `PlannedOp::person` naming the group) and runs after the queued
    /// operations of the people it adds as `MemberRef::NewAccountOf`.
    GroupMembers {
        group: String,
        group_id: Option<String>,
        add: Vec<MemberRef>,
        remove: Vec<String>,
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
            Self::ChangeLicense { .. } => "change_license",
            Self::GroupMembers { .. } => "group_members",
        }
    }

    pub fn remote_id(&self) -> Option<&str> {
        match self {
            Self::Create { .. } | Self::GroupMembers { .. } => None,
            Self::Link { remote_id, .. }
            | Self::Update { remote_id, .. }
            | Self::Activate { remote_id }
            | Self::Deactivate { remote_id }
            | Self::Delete { remote_id }
            | Self::ChangeLicense { remote_id, .. } => Some(remote_id),
        }
    }

    /// Operations that take access away; the ones deletion guards count.
    pub fn is_deprovision(&self) -> bool {
        matches!(self, Self::Deactivate { .. } | Self::Delete { .. } | Self::ChangeLicense { license: None, .. })
    }
}

/// Why a person should have an account: the assignment that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Grant {
    Person { assignment: AssignmentId },
    Group { assignment: AssignmentId, group: String, through: Vec<String> },
    OrgUnit { assignment: AssignmentId, org_unit: OrgUnitPath },
    Rule { assignment: AssignmentId, rule: String },
}

impl Grant {
    pub fn assignment(&self) -> AssignmentId {
        match self {
            Grant::Person { assignment }
            | Grant::Group { assignment, .. }
            | Grant::OrgUnit { assignment, .. }
            | Grant::Rule { assignment, .. } => *assignment,
        }
    }
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
            Grant::Rule { rule, .. } => write!(f, "matches rule {rule}"),
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
    /// An exclusion covers the person.
    Excluded,
    /// The assignment that granted the account still exists but no longer covers the person
    /// (moved to another org unit, left a group, no longer matches a rule).
    MovedOutOfScope,
    /// The group the granting assignment names is no longer in the directory.
    GroupDeleted,
    /// An admin offboarded the person in Tenure.
    Offboarded,
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unassigned => "no assignment grants the app any more",
            Self::LeftDirectory => "left the directory",
            Self::Suspended => "suspended in the directory",
            Self::LeaveDatePassed => "leave date has passed",
            Self::NotStartedYet => "start date not reached",
            Self::Excluded => "excluded from the app",
            Self::MovedOutOfScope => "no longer covered by the assignment that granted it",
            Self::GroupDeleted => "the assigned group was deleted from the directory",
            Self::Offboarded => "offboarded by an admin",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    Granted {
        grant: Grant,
    },
    /// Granted, and made ahead of the start date (the app's `pre_start_days`), disabled until
    /// that day.
    PreStart {
        grant: Grant,
        start: time::Date,
    },
    AttributesChanged {
        grant: Grant,
        attributes: Vec<String>,
    },
    Revoked {
        revocation: Revocation,
        /// For an exclusion: what the exclusion covers the person by; for a move out of scope:
        /// the grant the person no longer has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Grant>,
    },
    /// The account was deactivated long enough ago for the app's delete-after policy.
    RetentionElapsed {
        deactivated_on: time::Date,
        after_days: u32,
    },
    /// Assignments' `groups` parameter names the in-app group.
    GroupMembership,
    /// A lifecycle workflow's step asked for it (`remove-groups`, `reassign-license`,
    /// `reassign-role`).
    Workflow {
        workflow: String,
        /// The step as defined: `reassign-license:jira:manager`.
        step: String,
        /// What the step did for whom, in words: "Ann's license jira-standard to her manager".
        #[serde(default, skip_serializing_if = "String::is_empty")]
        why: String,
    },
    /// A license reclaim released the seat: the account was unused for `unused_days` days and
    /// nobody answered "keep" (or someone answered "release").
    LicenseReclaimed {
        unused_days: u32,
    },
    /// An offboarding named this person the successor of `of`: the seat `of` frees goes to them.
    Successor {
        of: String,
    },
}

impl Reason {
    /// The grant behind a granting operation.
    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Reason::Granted { grant } | Reason::PreStart { grant, .. } | Reason::AttributesChanged { grant, .. } => {
                Some(grant)
            }
            Reason::Revoked { .. }
            | Reason::RetentionElapsed { .. }
            | Reason::GroupMembership
            | Reason::Workflow { .. }
            | Reason::LicenseReclaimed { .. }
            | Reason::Successor { .. } => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Granted { grant } => write!(f, "{grant}"),
            Reason::PreStart { grant, start } => {
                write!(f, "{grant}; made ahead of the start date {start}, disabled until that day")
            }
            Reason::AttributesChanged { attributes, .. } => {
                write!(f, "changed in the directory: {}", attributes.join(", "))
            }
            Reason::Revoked { revocation, by: Some(by) } => write!(f, "{revocation} ({by})"),
            Reason::Revoked { revocation, by: None } => write!(f, "{revocation}"),
            Reason::RetentionElapsed { deactivated_on, after_days } => {
                write!(f, "deactivated on {deactivated_on}, more than {after_days} days ago")
            }
            Reason::GroupMembership => write!(f, "assignment parameters name the group"),
            Reason::Workflow { workflow, step, why } if why.is_empty() => write!(f, "workflow {workflow}, step {step}"),
            Reason::Workflow { workflow, step, why } => write!(f, "workflow {workflow}, step {step}: {why}"),
            Reason::LicenseReclaimed { unused_days } => {
                write!(f, "license reclaimed: unused for {unused_days} days")
            }
            Reason::Successor { of } => write!(f, "the successor of {of}, offboarded: their seat goes to them"),
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

/// Accounts and people that matching cannot pair on its own: one person and several accounts
/// share a key value, or several people and one account do. Linking the wrong account is worse
/// than linking none, and creating one more would duplicate the person, so nothing is planned
/// for the people named until an admin links or adopts an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationCase {
    pub app_id: AppId,
    pub key: String,
    pub value: String,
    /// The people concerned, by email.
    pub people: Vec<String>,
    pub person_ids: Vec<PersonId>,
    pub accounts: Vec<String>,
}

/// Something that stopped one person's plan for one app, such as a mapping that cannot be
/// evaluated for them. The rest of the plan stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanProblem {
    pub app_id: AppId,
    pub person_id: PersonId,
    pub person: String,
    pub message: String,
}

/// A member to add to an app group: an account the app has, or the account a create in the same
/// plan will make for a person (its id is known only once the create is done).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "member", rename_all = "snake_case")]
pub enum MemberRef {
    Account { remote_id: String },
    NewAccountOf { person_id: PersonId, person: String },
}

/// A change to one group in the app. Membership changes are one diff per group: a 10,000-member
/// group with one change is one operation, not 10,000.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOp {
    pub app_id: AppId,
    pub group: String,
    /// The group's id in the app; `None` when the group does not exist yet and is created first.
    pub remote_id: Option<String>,
    pub add: Vec<MemberRef>,
    /// Accounts (of people Tenure manages) to take out of the group.
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub ops: Vec<PlannedOp>,
    /// Changes to the app's groups, given by assignments' `groups` parameter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_ops: Vec<GroupOp>,
    pub unmanaged: Vec<UnmanagedAccount>,
    #[serde(default)]
    pub cases: Vec<CorrelationCase>,
    #[serde(default)]
    pub problems: Vec<PlanProblem>,
    /// Why the app was not planned at all (its user list cannot be read whole, so every account
    /// it did not show would look missing); the plan is then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Operations the policy calls for that Tenure does not carry out now, each with why (a
    /// person on legal hold, a full license pool): never queued, shown so that the plan says
    /// what it leaves undone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<Withheld>,
}

/// An operation a plan withholds, and why ("held: legal hold since 2026-03-01 by ann@acme.example",
/// "waiting for a seat in jira standard, 3rd in line").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withheld {
    #[serde(flatten)]
    pub op: PlannedOp,
    pub by: WithheldBy,
    pub why: String,
}

/// What withholds an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithheldBy {
    /// The person is on legal hold: nothing takes their access away.
    LegalHold,
    /// The app's license pool is full: the person waits in its line.
    WaitingForSeat,
}

/// What changed between two plans of the same scope: operations only in the newer one, and
/// operations only in the older one. Two operations are the same when they do the same thing
/// to the same person in the same app, whatever their reason says.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlanDiff {
    pub added: Vec<PlannedOp>,
    pub removed: Vec<PlannedOp>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.group_ops.is_empty()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.ops.iter().filter(|o| o.kind.name() == kind).count()
    }

    /// What `newer` does that `self` did not, and the reverse.
    pub fn diff(&self, newer: &Plan) -> PlanDiff {
        use std::collections::HashSet;
        fn identity(op: &PlannedOp) -> (AppId, PersonId, &OpKind) {
            (op.app_id, op.person_id, &op.kind)
        }
        let old: HashSet<_> = self.ops.iter().map(identity).collect();
        let new: HashSet<_> = newer.ops.iter().map(identity).collect();
        PlanDiff {
            added: newer.ops.iter().filter(|o| !old.contains(&identity(o))).cloned().collect(),
            removed: self.ops.iter().filter(|o| !new.contains(&identity(o))).cloned().collect(),
        }
    }
}

fn active_by_default() -> bool {
    true
}

fn is_active(active: &bool) -> bool {
    *active
}
