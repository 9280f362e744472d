//! What admin commands answer: one set of response types that the CLI prints (`--json` prints
//! them as they are), the API serialises and the console renders.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use tenure_core::{PlannedOp, Role};
use utoipa::ToSchema;

use crate::AppPlan;

/// An app as admins see it; never its credential.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::AppId,
    pub name: String,
    /// `scim` or `google_workspace`.
    #[schema(value_type = String)]
    pub kind: tenure_core::AppKind,
    pub base_url: String,
    /// How Tenure authenticates (`bearer`, OAuth client credentials or authorization code),
    /// without the secret.
    #[schema(value_type = Object)]
    pub auth: tenure_store::AppAuth,
    /// Deprovisioning, userName, match keys, mappings, guard, limits, vendor, capabilities.
    #[schema(value_type = Object)]
    pub settings: tenure_core::AppSettings,
    /// Provisioning paused by an admin.
    pub disabled: bool,
    /// The app's version; its ETag is `"<version>"`.
    pub version: i64,
    pub assignments: usize,
    pub linked_accounts: i64,
    pub active_accounts: i64,
    /// Set while the app is paused for failing (quarantined).
    pub paused_until_ms: Option<i64>,
    pub failures: i64,
    pub last_error: Option<String>,
    /// Each budget over a long window (`settings.limits.windows`): its requests counted now and,
    /// while it is spent, when it lets the next go (`spent_until_ms`); operations wait till then.
    #[schema(value_type = Vec<Object>)]
    pub request_windows: Vec<tenure_store::WindowUsage>,
    /// An app on the OAuth authorization-code flow: whether it was authorized, by whom, until
    /// when its access token lasts, and why the grant is over (`revoked`: the authorization
    /// server refused the refresh token; provisioning waits for an admin to authorize again).
    /// `null` for other auth kinds and before the first authorization.
    #[schema(value_type = Option<Object>)]
    pub oauth_grant: Option<crate::oauth_flow::GrantView>,
}

/// An app edit's, assignment's or removal's effect on the plan, computed against one reading of
/// the app before anything is saved.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct PlanChange {
    /// Operations the change adds to the app's plan.
    #[schema(value_type = Vec<Object>)]
    pub added: Vec<PlannedOp>,
    /// Operations it takes out of the plan.
    #[schema(value_type = Vec<Object>)]
    pub removed: Vec<PlannedOp>,
    /// In-app group operations before and after, when they differ.
    pub group_ops_before: usize,
    pub group_ops_after: usize,
}

impl PlanChange {
    pub fn between(now: &tenure_core::Plan, then: &tenure_core::Plan) -> Self {
        let diff = now.diff(then);
        Self {
            added: diff.added,
            removed: diff.removed,
            group_ops_before: now.group_ops.len(),
            group_ops_after: then.group_ops.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.group_ops_before == self.group_ops_after
    }
}

/// What an edit did, or with `?preview=true` would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppEdited {
    /// False for a preview: nothing was written.
    pub saved: bool,
    /// The app as it is (saved) or would be (preview).
    pub app: AppView,
    /// What changes that affect access would do to the plan (always with a preview; after a
    /// save, propagation carries them out).
    pub plan: Option<PlanChange>,
    /// Fields that changed.
    pub changed: Vec<String>,
}

/// One account that stays in the app when the app is removed from Tenure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StayingAccount {
    pub remote_id: String,
    pub user_name: String,
    pub person: Option<String>,
    pub active: bool,
}

/// Removing an app: what stays in it (everything: removing an app never deprovisions anyone).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppRemoval {
    pub app: String,
    pub removed: bool,
    /// Accounts Tenure had linked, left in the app as they are.
    pub staying: Vec<StayingAccount>,
    pub assignments: usize,
    /// Queued operations that were (or would be) dismissed.
    pub pending_operations: i64,
}

/// One assignment of an app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::AssignmentId,
    pub app: String,
    /// `person`, `group`, `org_unit` or `rule`.
    pub target_kind: String,
    /// The person's email, the group's name, the org unit's path or the rule's text.
    pub target: String,
    pub exclude: bool,
    pub role: Option<String>,
    pub license: Option<String>,
    pub app_groups: Vec<String>,
}

/// What assigning (or removing an assignment) did, or with a preview would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentChange {
    pub saved: bool,
    /// True when the assignment is new (not a replacement of one for the same target).
    pub created: bool,
    pub assignment: Option<AssignmentView>,
    pub plan: Option<PlanChange>,
}

/// A directory source; credentials in its settings are shown as `***`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::SourceId,
    pub name: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub last_sync_ms: Option<i64>,
    pub last_count: Option<i64>,
    pub version: i64,
}

/// Someone a source change would make leave, with the accounts they would lose.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Leaving {
    pub person: String,
    /// `app: remote id` of each linked account.
    pub accounts: Vec<String>,
}

/// A source edit: saved or previewed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceEdited {
    pub saved: bool,
    pub source: SourceView,
    /// People of the source the new sync scope leaves out: at the next sync they leave, and
    /// their accounts are deprovisioned. (People the old scope kept out are not stored, so who
    /// would enter is known only at the next sync.)
    pub leaving: Vec<Leaving>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceRemoval {
    pub source: String,
    /// People who left the directory with the source (their accounts are deprovisioned).
    pub people_left: usize,
}

/// An admin of the tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::AdminId,
    pub email: String,
    #[schema(value_type = String, example = "org-admin")]
    pub role: Role,
    /// An app admin's apps, by name.
    pub apps: Vec<String>,
    pub has_password: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::TokenId,
    /// `admin` or `scim`.
    pub scope: String,
    pub label: Option<String>,
    /// The admin it acts as (`None`: an older admin token acting as org admin, or a SCIM token).
    pub admin: Option<String>,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

impl From<tenure_store::TokenInfo> for TokenView {
    fn from(t: tenure_store::TokenInfo) -> Self {
        Self {
            id: t.id,
            scope: t.scope.as_str().to_owned(),
            label: t.label,
            admin: t.admin,
            created_ms: t.created_ms,
            expires_ms: t.expires_ms,
            last_used_ms: t.last_used_ms,
        }
    }
}

/// A new token: shown this once, only its hash is stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub info: TokenView,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    #[schema(value_type = String, format = Uuid)]
    pub id: tenure_core::TenantId,
    pub name: String,
    pub created_ms: i64,
}

/// A stored plan: its record and operations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredPlanView {
    #[schema(value_type = Object)]
    pub plan: tenure_store::PlanRecord,
    /// A held plan's operations are the losses it holds now.
    #[schema(value_type = Vec<Object>)]
    pub ops: Vec<PlannedOp>,
    /// For a held plan: what it holds, since when, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub hold: Option<crate::HoldView>,
}

/// The decision on a held plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanDecision {
    #[schema(value_type = String, format = Uuid)]
    pub plan: tenure_core::PlanId,
    /// `approved` or `rejected`.
    pub status: String,
}

/// A plan saved for review.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SavedPlan {
    #[schema(value_type = String, format = Uuid)]
    pub plan: tenure_core::PlanId,
    #[schema(value_type = Object)]
    pub summary: Value,
}

/// Operation kinds in the order a reader wants them.
pub const KINDS: [&str; 7] = ["create", "link", "activate", "update", "change_license", "deactivate", "delete"];

fn totals<'a>(ops: impl Iterator<Item = &'a PlannedOp>) -> BTreeMap<&'static str, usize> {
    let mut totals: BTreeMap<&'static str, usize> = KINDS.iter().map(|k| (*k, 0)).collect();
    for op in ops {
        *totals.entry(op.kind.name()).or_default() += 1;
    }
    totals
}

/// The plan of every app (or some), as `tenure plan --json` prints it and `GET /api/v1/plan`
/// answers it: per app its operations (each with its reason in words), totals, group
/// operations, correlation cases and problems.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanDocument {
    #[schema(value_type = Vec<Object>)]
    pub apps: Vec<Value>,
    #[schema(value_type = Object)]
    pub totals: BTreeMap<&'static str, usize>,
    /// The deprovisioning guard's decisions that stand whatever the plan says: losses waiting
    /// for an admin, approved ones being carried out, rejected ones not due.
    #[schema(value_type = Vec<Object>)]
    pub holds: Vec<crate::HoldView>,
}

impl PlanDocument {
    pub fn new(plans: &[AppPlan]) -> Self {
        let apps = plans
            .iter()
            .map(|p| {
                let ops: Vec<Value> = p
                    .plan
                    .ops
                    .iter()
                    .map(|op| {
                        let mut v = serde_json::to_value(op).unwrap_or(Value::Null);
                        if let Some(obj) = v.as_object_mut() {
                            obj.insert("reason_text".into(), json!(op.reason.to_string()));
                        }
                        v
                    })
                    .collect();
                json!({
                    "app": p.app.name,
                    "app_id": p.app.id,
                    "observed_accounts": p.observed_count(),
                    "totals": totals(p.plan.ops.iter()),
                    "ops": ops,
                    "unmanaged": p.plan.unmanaged,
                    "group_ops": p.plan.group_ops,
                    "correlation_cases": p.plan.cases,
                    "problems": p.plan.problems,
                    "refused": p.plan.refused,
                })
            })
            .collect();
        Self { apps, totals: totals(plans.iter().flat_map(|p| p.plan.ops.iter())), holds: Vec::new() }
    }
}

/// One app of the catalog (`tenure app catalog`, `GET /api/v1/catalog`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogApp {
    /// The key `--vendor` takes: `salesforce`, `asana`, ...
    pub name: String,
    pub display_name: String,
    /// `scim2`, `scim1.1`, `rest` (a custom connector's) or `unknown`.
    pub api: String,
    /// What DELETE does, in words ("unknown" where no source says).
    pub delete: String,
    /// Whether a deprovisioned account can be re-activated; null where undocumented.
    pub reactivate: Option<bool>,
    /// The published limits in words; null where the vendor publishes none.
    pub rate_limit: Option<String>,
    /// Every address the entry's facts come from.
    pub docs: Vec<String>,
    /// Just outside the 25 apps admins provision most.
    pub reserve: bool,
    /// Tenure provisions it with its SCIM client (`app add scim --vendor NAME`).
    pub scim: bool,
    /// Apps without SCIM that a connector of their own provisions: `app add KIND`.
    pub connector: Option<String>,
    /// With `{parameters}` to fill in.
    pub base_url: Option<String>,
    pub base_url_parameters: Vec<String>,
    pub auth: String,
    pub plan: String,
    /// The attributes a filter may name; null where undocumented.
    pub filters: Option<Vec<String>>,
    pub page_size_max: Option<u32>,
    /// Whether the user list shows every account.
    pub list: String,
    /// SCIM apps: the deprovisioning an app added with this profile gets.
    pub deprovision_default: Option<String>,
    /// SCIM apps: choosing delete needs --confirm-permanent-delete.
    pub delete_needs_confirmation: Option<bool>,
    /// Deactivating cannot be undone either (Asana).
    pub deactivate_irreversible: bool,
    /// The pace the documented limits set, requests a second.
    pub pace_per_second: Option<f64>,
    /// The pace of creates alone, creates a second (Canva: 1), where documented.
    pub creates_per_second: Option<f64>,
    /// The pace of user updates alone (Miro: 100 per 30 s), where documented.
    pub updates_per_second: Option<f64>,
    /// The pace of user deletes alone (Miro: 20 per 30 s), where documented.
    pub deletes_per_second: Option<f64>,
    /// The pace of group reads alone (Miro: GET Groups 5 per 30 s), where documented.
    pub group_reads_per_second: Option<f64>,
    /// The pace of group writes alone (Miro: a large PATCH group 5 per 30 s), where documented.
    pub group_writes_per_second: Option<f64>,
    /// At most this many requests in any hour (DocuSign: 3,000), where documented.
    pub per_hour: Option<u32>,
    /// At most this many requests in any 24 hours (HubSpot: 250,000), where documented.
    pub per_day: Option<u32>,
    /// The least seconds between two full reads of the user list, where the vendor penalises
    /// more (Adobe: 7200).
    pub min_list_interval_s: Option<u64>,
    /// What the vendor refuses on a create, as the rules the plan checks (`required`, `one-of`,
    /// `email`, `email-domain-in`, `max-len`, `pattern`).
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Value>,
    /// The facts no source establishes.
    pub unknown: Vec<String>,
    /// The whole entry, every fact with its note and source keys.
    #[schema(value_type = Object)]
    pub entry: Value,
}

/// One app's recent work: its last settled operation and the operations settled in each hour
/// of the last day (oldest first), ending at `until_ms`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppActivityView {
    pub app: String,
    pub last_ms: Option<i64>,
    pub until_ms: i64,
    pub succeeded: Vec<u64>,
    pub failed: Vec<u64>,
}

/// Operations settled over a span of time.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SettledView {
    pub succeeded: u64,
    pub failed: u64,
}

/// The tenant's audit hash chain, walked from its start (`tenure audit verify`,
/// `GET /api/v1/audit/verify`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditVerifyView {
    /// Every entry chains: nothing was changed, removed, inserted or cut off.
    pub intact: bool,
    /// Entries checked through the chain.
    pub chained: u64,
    /// Entries from before the chain, covered through its start.
    pub legacy: u64,
    /// The first entry that does not chain.
    pub first_bad: Option<BadAuditEntryView>,
}

/// An audit entry that does not chain, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadAuditEntryView {
    /// The entry's id; absent when what is missing is the entry itself (the log cut off).
    pub id: Option<String>,
    /// Its place in the tenant's chain.
    pub seq: i64,
    pub at_ms: Option<i64>,
    pub action: Option<String>,
    pub reason: String,
}

impl From<tenure_store::AuditVerification> for AuditVerifyView {
    fn from(v: tenure_store::AuditVerification) -> Self {
        Self {
            intact: v.first_bad.is_none(),
            chained: v.chained,
            legacy: v.legacy,
            first_bad: v.first_bad.map(|b| BadAuditEntryView {
                id: b.id,
                seq: b.seq,
                at_ms: b.at_ms,
                action: b.action,
                reason: b.reason,
            }),
        }
    }
}
