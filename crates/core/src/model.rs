//! The directory (people, groups, org units) and the policy (apps, assignments) as plain data.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ids::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonStatus {
    Active,
    Suspended,
    /// No longer in the source. Kept as a tombstone so the accounts linked to the person can be
    /// deprovisioned with the reason "left the directory".
    Deleted,
    /// Offboarded by an admin in Tenure: no account in any app, whatever the source says, until
    /// the offboarding is undone (or the source gives a start date after it). Never stored in the
    /// directory: the engine lays it over the person read from the source.
    Offboarded,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
            Self::Offboarded => "offboarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            "offboarded" => Some(Self::Offboarded),
            _ => None,
        }
    }
}

/// An org unit path such as `/Sales/EMEA`. Normalised: a leading `/`, no trailing `/`, no empty
/// segments; `/` is the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgUnitPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid org unit path {0:?}: segments must be non-empty, e.g. /Sales/EMEA")]
pub struct InvalidOrgUnit(pub String);

impl OrgUnitPath {
    pub fn parse(raw: &str) -> Result<Self, InvalidOrgUnit> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed == "/" {
            return Ok(Self("/".to_owned()));
        }
        let body = trimmed.strip_prefix('/').unwrap_or(trimmed);
        let body = body.strip_suffix('/').unwrap_or(body);
        let segments: Vec<&str> = body.split('/').map(str::trim).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(InvalidOrgUnit(raw.to_owned()));
        }
        Ok(Self(format!("/{}", segments.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `ancestor` or lies below it. Segment-aware: `/Sales2` is not under
    /// `/Sales`.
    pub fn is_within(&self, ancestor: &OrgUnitPath) -> bool {
        ancestor.0 == "/"
            || self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0) && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'/'))
    }
}

impl TryFrom<String> for OrgUnitPath {
    type Error = InvalidOrgUnit;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OrgUnitPath> for String {
    fn from(value: OrgUnitPath) -> Self {
        value.0
    }
}

impl fmt::Display for OrgUnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub source_id: SourceId,
    /// The source's stable key for this person (the CSV's employee id, a directory object id).
    pub source_key: String,
    pub user_name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub employee_id: Option<String>,
    /// The manager's source key, as the source names them.
    pub manager_key: Option<String>,
    pub org_unit: Option<OrgUnitPath>,
    pub status: PersonStatus,
    pub start_date: Option<Date>,
    pub leave_date: Option<Date>,
    pub custom: BTreeMap<String, String>,
}

impl Person {
    pub fn display(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => format!("{g} {f}"),
            (Some(n), None) | (None, Some(n)) => n.clone(),
            (None, None) => self.email.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub source_id: SourceId,
    pub name: String,
    /// People who are direct members.
    pub members: Vec<PersonId>,
    /// Groups that are direct members (nested groups); their members count as members of this one.
    pub member_groups: Vec<GroupId>,
}

/// How Tenure talks to an app. Serialized as stored (`scim`, `google_workspace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    Scim,
    /// Google Workspace through the Admin SDK Directory API (no SCIM): the app's settings hold a
    /// [`GoogleWorkspaceTarget`], its secret the service account's JSON key.
    GoogleWorkspace,
    /// A GitHub organization (without Enterprise Managed Users) through GitHub's REST API:
    /// joining is an invitation the person accepts; the settings hold a [`GitHubOrgTarget`], the
    /// secret an access token with `admin:org`.
    GithubOrg,
    /// Box through its users API (no SCIM): the secret is an access token of an app a Box admin
    /// authorised.
    Box,
    /// Dropbox teams through the team members API (no public SCIM): the secret is a team
    /// admin's access token.
    Dropbox,
    /// Microsoft 365 / Entra ID users and their licenses through Microsoft Graph: the settings
    /// hold an [`M365Target`], the auth is OAuth client credentials against the tenant's token
    /// endpoint, the secret the app registration's client secret.
    M365,
}

impl AppKind {
    /// Whether Tenure keeps the account's attributes in step. In a GitHub organization the
    /// account is the person's own GitHub user: an organization admin manages membership, never
    /// the profile, so the planner proposes no attribute updates there.
    pub fn updates_attributes(self) -> bool {
        !matches!(self, Self::GithubOrg)
    }

    /// The attributes an app of this kind can hold, where its API keeps only some: a change to
    /// any other could never be carried out, so it is never planned. `None`: every attribute.
    pub fn held_attributes(self) -> Option<&'static [&'static str]> {
        use crate::attributes::{
            DEPARTMENT, DISPLAY_NAME, EMAIL, EMPLOYEE_NUMBER, EXTERNAL_ID, FAMILY_NAME, GIVEN_NAME, LICENSE, TITLE,
            USER_NAME,
        };
        match self {
            // A managed user's login, name and job title.
            Self::Box => Some(&[USER_NAME, EMAIL, DISPLAY_NAME, TITLE]),
            // A member's email, names and external id (the display name is Dropbox's own).
            Self::Dropbox => Some(&[USER_NAME, EMAIL, GIVEN_NAME, FAMILY_NAME, EXTERNAL_ID]),
            // What a Graph user keeps (no externalId), its usage location and its license (SKU).
            Self::M365 => Some(&[
                USER_NAME,
                EMAIL,
                GIVEN_NAME,
                FAMILY_NAME,
                DISPLAY_NAME,
                TITLE,
                DEPARTMENT,
                EMPLOYEE_NUMBER,
                LICENSE,
                M365_USAGE_LOCATION,
            ]),
            _ => None,
        }
    }
}

/// Which GitHub organization, and how invitations are handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubOrgTarget {
    /// The organization's login (`acme-corp`).
    pub org: String,
    /// A pending invitation older than this is cancelled and sent again on the next plan.
    /// GitHub's own invitations expire after 7 days.
    #[serde(default = "default_reinvite_days")]
    pub reinvite_after_days: u32,
}

fn default_reinvite_days() -> u32 {
    7
}

/// Where and as whom Tenure provisions a Google Workspace account. The service account's key is
/// the app's (encrypted) secret, never part of these settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleWorkspaceTarget {
    /// The primary domain: in-app groups named without a domain get their address in it.
    pub domain: String,
    /// `my_customer` (the impersonated admin's own account) or a customer id such as `C03az79cb`.
    #[serde(default = "default_google_customer")]
    pub customer: String,
    /// The super admin the service account acts for (domain-wide delegation).
    pub admin: String,
    /// Overrides the key file's `token_uri` (tests, proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The org unit new accounts are placed in unless a mapping gives `orgUnitPath`; `None`
    /// for the top-level unit (`/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit_path: Option<String>,
    /// Whether new accounts must choose a password at first sign-in. Their initial password is
    /// random and shown to nobody, so this matters only where people sign in with a password
    /// an admin resets for them (without SSO).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub change_password_at_next_login: bool,
    /// The offboarding policy's first step: before a departing person's account is suspended
    /// or deleted, their Drive files go to `manager` (their manager in the directory) or to
    /// this address, through the Data Transfer API. `None`: the files stay with the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_drive_to: Option<String>,
    /// The License Manager SKUs Tenure manages, each under the tier name pools and assignments'
    /// `license` use. Empty: Tenure reads no licenses and refuses license changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub license_skus: Vec<GoogleLicenseSku>,
}

/// One Google License Manager SKU (<https://developers.google.com/workspace/admin/licensing/v1/how-tos/products>)
/// and the tier it is in Tenure (`Google-Apps` / `1010020027` as `Business Starter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleLicenseSku {
    pub product_id: String,
    pub sku_id: String,
    pub tier: String,
}

/// The attribute a person's country reaches a Microsoft 365 user through (Graph's
/// `usageLocation`, an ISO 3166 two-letter code a license needs): set by a mapping such as
/// `usageLocation = custom.country`, else the app's [`M365Target::usage_location`].
pub const M365_USAGE_LOCATION: &str = "usageLocation";

/// Which Microsoft 365 tenant, and what a user without a country gets. The client id and token
/// endpoint are the app's OAuth auth; the client secret its (encrypted) secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct M365Target {
    /// The Entra ID tenant (a GUID or a verified domain such as `contoso.onmicrosoft.com`).
    pub tenant_id: String,
    /// ISO 3166 two-letter country given to a user who has none when a license is assigned
    /// (Graph refuses a license to a user without `usageLocation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
}

fn default_google_customer() -> String {
    "my_customer".to_owned()
}

/// What "deprovision" means for an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeprovisionPolicy {
    #[default]
    Deactivate,
    Delete,
    /// Deactivate at once; delete once the account has been inactive for `after_days` (only
    /// accounts Tenure created or an admin adopted; matched ones stay deactivated).
    DeactivateThenDelete {
        after_days: u32,
    },
    /// Take the license away and leave the account as it is (apps that bill per license).
    RemoveLicense,
    DoNothing,
}

impl fmt::Display for DeprovisionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deactivate => f.write_str("deactivate"),
            Self::Delete => f.write_str("delete"),
            Self::DeactivateThenDelete { after_days } => write!(f, "deactivate, then delete after {after_days} days"),
            Self::RemoveLicense => f.write_str("remove the license"),
            Self::DoNothing => f.write_str("do nothing"),
        }
    }
}

/// How an app's userName is derived from a person. Slack, for one, caps userNames at 21
/// characters, so an email address will not do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum UserNameFormat {
    #[default]
    Email,
    EmailLocalPart {
        max_len: Option<usize>,
    },
    /// A handle such as Slack's (at most 21 lowercase letters, digits, periods, hyphens and
    /// underscores, <https://slack.com/help/articles/216360827>): the email's local part with
    /// accents folded, lowercased, other characters replaced by `_`, cut to `max_len`.
    /// Collisions get a number that still fits (`alexandra.montgome2`).
    Handle {
        max_len: usize,
    },
}

impl UserNameFormat {
    /// Whether derived userNames can collide and new accounts get numbered ones.
    pub fn deduplicates(&self) -> bool {
        matches!(self, Self::EmailLocalPart { .. } | Self::Handle { .. })
    }

    /// The longest userName this format makes, if it is limited.
    pub fn max_len(&self) -> Option<usize> {
        match self {
            Self::Email => None,
            Self::EmailLocalPart { max_len } => *max_len,
            Self::Handle { max_len } => Some(*max_len),
        }
    }
}

/// A key an app account is matched to a person by, before Tenure has linked them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    /// The account's externalId is the person's Tenure id.
    ExternalId,
    /// The account's userName is the one Tenure would derive for the person.
    UserName,
    Email,
}

impl MatchKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExternalId => "externalId",
            Self::UserName => "userName",
            Self::Email => "email",
        }
    }
}

/// The app's correlation policy: when a person's match key names one account of the app that
/// Tenure does not manage yet (made by hand, or by another tool), whether Tenure links it and
/// manages it from then on (updates, deactivation), or leaves it for an admin to adopt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correlation {
    /// Linked whichever source the person comes from.
    Link,
    /// Linked for people from sources an admin set up and Tenure reads (CSV, LDAP, Google,
    /// Graph); a case for an admin for people an identity provider pushed over SCIM, since a SCIM
    /// token must not be able to claim an existing account (a break-glass admin, say) by naming
    /// its userName or email.
    #[default]
    LinkPulled,
    /// Always a case for an admin.
    Case,
}

impl Correlation {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::LinkPulled => "link_pulled",
            Self::Case => "case",
        }
    }

    /// Whether a match of a person (pushed by an identity provider or not) is linked.
    pub fn links(self, pushed: bool) -> bool {
        match self {
            Self::Link => true,
            Self::LinkPulled => !pushed,
            Self::Case => false,
        }
    }
}

impl std::str::FromStr for Correlation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "link" => Ok(Self::Link),
            "link_pulled" => Ok(Self::LinkPulled),
            "case" => Ok(Self::Case),
            other => Err(format!("correlation {other:?}: use link, link-pulled or case")),
        }
    }
}

fn default_match_keys() -> Vec<MatchKey> {
    vec![MatchKey::ExternalId, MatchKey::UserName, MatchKey::Email]
}

/// App-level settings that shape the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSettings {
    #[serde(default)]
    pub deprovision: DeprovisionPolicy,
    #[serde(default)]
    pub user_name: UserNameFormat,
    /// Matching keys, strongest first.
    #[serde(default = "default_match_keys")]
    pub match_keys: Vec<MatchKey>,
    /// What becomes of a person's one matching account that Tenure does not manage yet: linked,
    /// or a case for an admin.
    #[serde(default, skip_serializing_if = "Correlation::is_default")]
    pub correlation: Correlation,
    /// Attribute mappings layered over the default one: a mapping for a target replaces the
    /// default value of that target, or adds the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappings: Option<crate::expr::MappingSet>,
    /// The deprovisioning guard's limits for this app; `None` for the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::guard::GuardLimits>,
    /// How hard Tenure may drive the app; `None` for the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AppLimits>,
    /// Plan and log everything, write nothing to the app.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// What `tenure app check` found the app to support; `None` until it has been probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<crate::capabilities::Capabilities>,
    /// The vendor profile the app was added with (`slack`, `notion`, `github`, `atlassian`,
    /// `zoom`), which says what its DELETE means and how to read its errors; `None` for a plain
    /// SCIM app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Where a Google Workspace app ([`AppKind::GoogleWorkspace`]) lives; `None` for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_workspace: Option<GoogleWorkspaceTarget>,
    /// Which Microsoft 365 tenant an M365 app ([`AppKind::M365`]) is; `None` for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m365: Option<M365Target>,
    /// Which GitHub organization a GitHub app ([`AppKind::GithubOrg`]) is; `None` for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GitHubOrgTarget>,
    /// An app without a connector, worked by hand: Tenure plans it from what it last recorded,
    /// and each operation becomes a task for `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualTarget>,
    /// What the vendor documents it refuses on a create (from its catalog entry when the app is
    /// added with a vendor): the plan reports a create that breaks one instead of sending it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::AttributeRule>,
    /// Per-app value lists the rules name (`verified_domains` for Airtable's email domains).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rule_lists: std::collections::BTreeMap<String, Vec<String>>,
    /// The least time between two full reads of the app's user list, where the vendor penalises
    /// reading it from the start more often (Adobe's lock-out); `None` for no minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_list_interval_s: Option<u64>,
    /// Days before a person's start date their account is made, disabled, and activated on
    /// the day (so a new starter's accounts are ready at 9 on their first morning); `None`: made
    /// on the start date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_start_days: Option<u32>,
}

/// Who works a manual app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualTarget {
    /// The owner's email: tasks are theirs.
    pub owner: String,
    /// Seconds a task has before it is overdue (its owner reminded, and the admins told one
    /// more such period later); `None`: the default (three days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_due_s: Option<u64>,
    /// The app can be read back (its users' CSV export, uploaded): a task its owner closes is
    /// accepted only once the next read shows the work done, and reopened otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify_by_read: bool,
}

impl AppSettings {
    /// Whether the app is worked by hand (no connector).
    pub fn manual(&self) -> bool {
        self.manual.is_some()
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            deprovision: DeprovisionPolicy::default(),
            user_name: UserNameFormat::default(),
            match_keys: default_match_keys(),
            correlation: Correlation::default(),
            mappings: None,
            guard: None,
            limits: None,
            dry_run: false,
            capabilities: None,
            vendor: None,
            google_workspace: None,
            m365: None,
            github: None,
            manual: None,
            rules: Vec::new(),
            rule_lists: std::collections::BTreeMap::new(),
            min_list_interval_s: None,
            pre_start_days: None,
        }
    }
}

/// Request pacing for one app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppLimits {
    /// Requests per second on average (may be fractional: Slack's 180 writes a minute is 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<f64>,
    /// Requests allowed at once after a quiet spell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Operations in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Apps with the same key share one budget (every SCIM app of one Slack org, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_key: Option<String>,
    /// Creates per second on average, beside `per_second`: a vendor may document a pace for
    /// creates alone (Canva: one a second), which must not slow its other requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creates_per_second: Option<f64>,
    /// User updates (PUT/PATCH of a user, deactivation and re-activation included) per second,
    /// beside `per_second`, where the vendor documents a pace for that endpoint alone (Miro: 100
    /// per 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_per_second: Option<f64>,
    /// User deletes per second, beside `per_second` (Miro: 20 per 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes_per_second: Option<f64>,
    /// Budgets over a long window (DocuSign's 3,000 an hour, HubSpot's 250,000 a day): at most
    /// `requests` in any window of `seconds`, counted for the deployment in the store. A spent
    /// window makes operations wait in the queue until it frees, instead of failing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<crate::window::RequestWindow>,
}

// `per_second` is a configuration value, never NaN (refused when parsed), so equality is total.
impl Eq for AppLimits {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub kind: AppKind,
    pub base_url: String,
    pub settings: AppSettings,
}

/// A credential. Its `Debug` and `Display` never show the value, so it cannot leak into a log
/// line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum AssignmentTarget {
    Person(PersonId),
    Group(GroupId),
    OrgUnit(OrgUnitPath),
    /// Everyone whose attributes satisfy the rule, e.g. `department == "Sales"`.
    Rule(crate::expr::Rule),
}

/// What an assignment hands out besides the account itself. The most specific assignment that
/// sets a parameter wins (person, then group, then org unit, then rule).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssignmentParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Groups in the app the account belongs to. Unlike role and license these add up: a
    /// person covered by two assignments is in the groups of both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl AssignmentParams {
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.license.is_none() && self.groups.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: AssignmentId,
    pub app_id: AppId,
    pub target: AssignmentTarget,
    /// An exclusion: the people it covers never get the app, whatever else grants it.
    #[serde(default)]
    pub exclude: bool,
    #[serde(default, skip_serializing_if = "AssignmentParams::is_empty")]
    pub params: AssignmentParams,
}

impl Assignment {
    pub fn grant(app_id: AppId, target: AssignmentTarget) -> Self {
        Self { id: AssignmentId::new(), app_id, target, exclude: false, params: AssignmentParams::default() }
    }
}

/// How an app account came to be linked to a person. Tenure deletes only accounts it created or
/// that an admin adopted; an account linked by matching is never deleted, only deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountOrigin {
    Created,
    Matched,
    Adopted,
}

impl AccountOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Matched => "matched",
            Self::Adopted => "adopted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(Self::Created),
            "matched" => Some(Self::Matched),
            "adopted" => Some(Self::Adopted),
            _ => None,
        }
    }

    pub fn may_delete(self) -> bool {
        matches!(self, Self::Created | Self::Adopted)
    }
}

/// A persisted link between an app-side account and a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountLink {
    pub app_id: AppId,
    pub remote_id: String,
    pub person_id: PersonId,
    pub origin: AccountOrigin,
    /// When Tenure deactivated the account, for "deactivate, then delete after N days".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_on: Option<Date>,
    /// The assignment that last granted the account, so that losing it can be explained as
    /// unassigned, moved out of scope or group deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<AssignmentId>,
}

/// A group as the app reports it, with its members by account id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteGroup {
    pub remote_id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// An account as the app reports it, in Tenure's flat attribute vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteAccount {
    pub remote_id: String,
    pub active: bool,
    /// Everything the app reports, userName, externalId and email included: those are read from
    /// here rather than kept twice, since observed state for a million accounts must stay small.
    pub attributes: crate::attributes::Attributes,
}

impl RemoteAccount {
    pub fn user_name(&self) -> &str {
        self.attributes.get(crate::attributes::USER_NAME).map_or("", String::as_str)
    }

    pub fn external_id(&self) -> Option<&str> {
        self.attributes.get(crate::attributes::EXTERNAL_ID).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn email(&self) -> Option<&str> {
        self.attributes.get(crate::attributes::EMAIL).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The date a pending invitation was sent, when the account is one (see
    /// [`crate::attributes::INVITED_ON`]).
    pub fn invited_on(&self) -> Option<&str> {
        self.attributes.get(crate::attributes::INVITED_ON).map(String::as_str).filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditId,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_unit_paths_normalise_and_nest_by_segment() {
        let sales = OrgUnitPath::parse("Sales/").unwrap();
        assert_eq!(sales.as_str(), "/Sales");
        assert!(OrgUnitPath::parse("/Sales/EMEA").unwrap().is_within(&sales));
        assert!(sales.is_within(&sales));
        assert!(!OrgUnitPath::parse("/Sales2").unwrap().is_within(&sales));
        assert!(sales.is_within(&OrgUnitPath::parse("/").unwrap()));
        assert!(OrgUnitPath::parse("/a//b").is_err());
    }
}
