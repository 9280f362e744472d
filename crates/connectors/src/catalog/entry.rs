//! The typed form of one catalog file (`crates/connectors/catalog/NAME.toml`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::fact::{Fact, Known};
pub use tenure_core::rules::{AttributeRule, RuleKind};

/// One app as its vendor documents it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// The key admins type (`--vendor salesforce`): lowercase letters, digits and hyphens.
    pub name: String,
    pub display_name: String,
    /// Other names accepted for the entry (`jira` for Atlassian).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Position in the reference's list of the apps admins provision most; reserves after.
    pub rank: u32,
    /// Just outside the top 25.
    #[serde(default)]
    pub reserve: bool,
    /// For an app without SCIM: the `tenure app add` kind of its custom connector, if Tenure has one.
    #[serde(default)]
    pub connector: Option<String>,
    /// Every address a fact of this entry comes from, by key.
    pub sources: BTreeMap<String, Source>,
    pub api: Fact<ApiKind>,
    /// With `{parameters}` the admin fills in (`{my_domain}`, `{site}`).
    pub base_url: Fact<String>,
    pub auth: Fact<AuthKind>,
    pub plan: Fact<String>,
    pub resources: Fact<Vec<String>>,
    /// How a user is updated.
    pub verbs: Fact<Verbs>,
    /// The user attributes a filter may name.
    pub filters: Fact<Vec<String>>,
    /// The most users one list page returns.
    pub page_size_max: Fact<u32>,
    /// What `DELETE /Users/{id}` (or the API's delete) does.
    pub delete: Fact<DeleteEffect>,
    /// Whether a deactivated (deprovisioned) account can be made active again.
    pub reactivate: Fact<Reactivation>,
    /// How an account is deactivated, in words.
    pub deactivate: Fact<String>,
    pub user_name: UserNameFact,
    /// Required or unusual attributes, length limits, uniqueness scopes.
    pub attributes: Fact<Vec<String>>,
    /// Where license tiers and roles go (entitlements, roles, an extension, a separate call).
    pub licenses: Fact<String>,
    pub rate_limit: RateLimitFact,
    /// What the app answers when requests come too fast.
    pub throttling: Fact<String>,
    /// Whether the user list shows every account.
    pub list: Fact<ListCompleteness>,
    /// What a joiner goes through where the vendor documents an invitation flow.
    #[serde(default)]
    pub joiners: Option<Fact<String>>,
    /// Answers the vendor documents as "an admin must act", turned into clear, final errors.
    #[serde(default)]
    pub errors: Vec<DocumentedError>,
    #[serde(default)]
    pub quirks: Vec<Quirk>,
    /// What the vendor refuses on a create, as rules the plan checks (see
    /// [`tenure_core::rules`]); each cites its sources.
    #[serde(default)]
    pub rules: Vec<AttributeRule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub url: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The vendor's own documentation (or its official SDK / API description).
    Vendor,
    /// Microsoft Entra's gallery tutorial.
    Entra,
    /// Okta's documentation.
    Okta,
    /// A community forum or a question-and-answer thread.
    Community,
    /// A third party: a lead, not an authority.
    Third,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ApiKind {
    #[serde(rename = "scim2")]
    Scim2,
    #[serde(rename = "scim1.1")]
    Scim11,
    /// A vendor REST API without a public SCIM contract: needs a custom connector.
    #[serde(rename = "rest")]
    Rest,
}

impl ApiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scim2 => "scim2",
            Self::Scim11 => "scim1.1",
            Self::Rest => "rest",
        }
    }
}

impl fmt::Display for ApiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scim2 => "SCIM 2.0",
            Self::Scim11 => "SCIM 1.1",
            Self::Rest => "custom REST",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// A static bearer token an admin generates.
    Bearer,
    /// An OAuth 2.0 access token; the vendor's page names no grant.
    Oauth,
    OauthClientCredentials,
    /// OAuth authorization code: an admin consents in a browser; refreshed.
    OauthAuthorizationCode,
    /// An API key header beside an OAuth bearer token.
    ApiKeyAndOauth,
    Basic,
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bearer => "bearer token",
            Self::Oauth => "OAuth access token",
            Self::OauthClientCredentials => "OAuth client credentials",
            Self::OauthAuthorizationCode => "OAuth authorization code",
            Self::ApiKeyAndOauth => "API key and OAuth token",
            Self::Basic => "basic auth",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verbs {
    PatchAndPut,
    Patch,
    Put,
    /// RPC-style POST calls (one endpoint per action).
    Rpc,
}

impl fmt::Display for Verbs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PatchAndPut => "PATCH and PUT",
            Self::Patch => "PATCH only",
            Self::Put => "PUT only",
            Self::Rpc => "RPC calls",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteEffect {
    /// The account stays, inactive, and can be re-activated.
    Deactivates,
    /// The SCIM record is gone and the account deactivated; only the vendor's console brings it
    /// back (Atlassian).
    UnlinksAndDeactivates,
    /// The member leaves the workspace or organization; the identity remains.
    RemovesMembership,
    /// Deprovisioned for good (Asana's "zombify").
    Deprovisions,
    /// The user record is deleted.
    DeletesRecord,
    /// Hard, irreversible.
    Permanent,
    /// Deleted but restorable for a while; a permanent delete is a separate call.
    SoftDelete,
    /// The vendor does not implement delete for users.
    NotSupported,
}

impl DeleteEffect {
    /// Whether the account can come back through the API after a delete.
    pub fn reversible(self) -> bool {
        matches!(self, Self::Deactivates | Self::RemovesMembership)
    }
}

impl fmt::Display for DeleteEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deactivates => "deactivates the account",
            Self::UnlinksAndDeactivates => "unlinks and deactivates the account; the SCIM record is gone",
            Self::RemovesMembership => "removes the member; the account remains",
            Self::Deprovisions => "deprovisions the user for good",
            Self::DeletesRecord => "deletes the user record",
            Self::Permanent => "permanent, irreversible delete",
            Self::SoftDelete => "soft delete (a permanent delete is a separate call)",
            Self::NotSupported => "not supported",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reactivation {
    Supported,
    /// Coming back makes a new account; the old one's history stays behind.
    NewAccount,
    Unsupported,
}

impl Reactivation {
    pub fn possible(self) -> bool {
        self == Self::Supported
    }
}

impl fmt::Display for Reactivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Supported => "supported",
            Self::NewAccount => "only as a new account",
            Self::Unsupported => "not supported",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListCompleteness {
    Complete,
    /// The list leaves accounts out (only SCIM-created ones, no guests): absence proves nothing.
    Partial,
}

impl fmt::Display for ListCompleteness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Complete => "lists every account",
            Self::Partial => "leaves accounts out",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserNameKind {
    Email,
    /// A short handle (Slack's).
    Handle,
    /// Whatever the IdP sends; the vendor states no form.
    Free,
}

impl fmt::Display for UserNameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Email => "an email address",
            Self::Handle => "a handle",
            Self::Free => "free form",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserNameFact {
    pub value: Known<UserNameKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// The documented limits: `value` in words, `pace` the part the rate limiter can follow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFact {
    pub value: Known<String>,
    #[serde(default)]
    pub pace: Vec<Pace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

/// `requests` per `per`, for the requests `applies_to` names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pace {
    pub requests: u32,
    pub per: Period,
    #[serde(default)]
    pub burst: Option<u32>,
    pub applies_to: PaceScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Period {
    #[serde(rename = "second")]
    Second,
    #[serde(rename = "10s")]
    TenSeconds,
    #[serde(rename = "30s")]
    ThirtySeconds,
    #[serde(rename = "minute")]
    Minute,
    #[serde(rename = "hour")]
    Hour,
    #[serde(rename = "day")]
    Day,
}

impl Period {
    pub fn seconds(self) -> f64 {
        match self {
            Self::Second => 1.0,
            Self::TenSeconds => 10.0,
            Self::ThirtySeconds => 30.0,
            Self::Minute => 60.0,
            Self::Hour => 3600.0,
            Self::Day => 86_400.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaceScope {
    /// Every request of the token or account.
    All,
    /// User creates, updates and deletes.
    UserWrites,
    /// User creates only (`POST /Users`).
    Creates,
    /// User updates only (`PUT`/`PATCH /Users/{id}`, deactivation and re-activation included).
    Updates,
    /// User deletes only (`DELETE /Users/{id}`).
    Deletes,
    /// Reads of the full user list (Adobe's first page).
    ListStart,
    /// Reads of groups (`GET /Groups`, `GET /Groups/{id}`): Miro's 5 per 30 s.
    GroupReads,
    /// Group writes (`POST`/`PUT`/`PATCH`/`DELETE /Groups...`, membership changes): Miro's 5
    /// PATCHes per 30 s above 500 bytes.
    GroupWrites,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentedError {
    /// Text the app's error detail contains.
    pub contains: String,
    /// The code Tenure reports.
    pub code: String,
    /// What to tell the admin.
    pub message: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quirk {
    pub text: String,
    pub sources: Vec<String>,
}
