//! Microsoft 365 / Entra ID as a target, through Microsoft Graph v1.0: users are created,
//! updated, disabled (`accountEnabled: false`), deleted, listed and looked up, and their
//! licenses assigned and removed by SKU. Contracts, from Microsoft's Graph reference:
//!
//! - Create: `POST /users` with `accountEnabled`, `displayName`, `mailNickname`,
//!   `userPrincipalName` and `passwordProfile` required; 201 with the user
//!   (<https://learn.microsoft.com/en-us/graph/api/user-post-users>).
//! - Update: `PATCH /users/{id}`, 204; `null` clears a property
//!   (<https://learn.microsoft.com/en-us/graph/api/user-update>).
//! - Delete: `DELETE /users/{id}`, 204. The user goes to the directory's deleted items, where an
//!   admin can restore it for 30 days; after that it is gone for good
//!   (<https://learn.microsoft.com/en-us/graph/api/user-delete>,
//!   <https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-restore>).
//! - List: `GET /users?$select=…&$top=N` (`$top` 1..999, 100 by default), further pages by
//!   following `@odata.nextLink` until an answer has none
//!   (<https://learn.microsoft.com/en-us/graph/api/user-list>, <https://learn.microsoft.com/en-us/graph/paging>).
//!   `assignedLicenses` is not a default property: it is asked for with `$select`.
//! - Last activity: `signInActivity` (`lastSignInDateTime`, ISO 8601 UTC; absent for a user
//!   who never signed in) is returned only when selected, needs AuditLog.Read.All and an Entra
//!   ID P1 tenant (otherwise 403), and caps a page at 500 users
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/signinactivity>,
//!   <https://learn.microsoft.com/en-us/graph/api/user-list>). The full list asks for it; a 403
//!   to that list is read again without it (and not asked again by this client), so a tenant
//!   without it keeps its user list.
//! - Lookup: `GET /users?$filter=userPrincipalName eq '…'` (string literals quoted with `'`,
//!   a `'` inside doubled) (<https://learn.microsoft.com/en-us/graph/filter-query-parameter>).
//! - Licenses: `POST /users/{id}/assignLicense` with `addLicenses: [{skuId, disabledPlans}]` and
//!   `removeLicenses: [skuId]`, 200 with the user
//!   (<https://learn.microsoft.com/en-us/graph/api/user-assignlicense>). A user without a
//!   `usageLocation` (ISO 3166 two-letter country) cannot be given a license: 400 "License
//!   assignment cannot be done for user with invalid usage location."
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/user>, property `usageLocation`).
//! - SKUs: `GET /subscribedSkus`: `skuId`, `skuPartNumber` (`SPE_E3`, `ENTERPRISEPACK`),
//!   `prepaidUnits.enabled` and `consumedUnits`
//!   (<https://learn.microsoft.com/en-us/graph/api/subscribedsku-list>,
//!   <https://learn.microsoft.com/en-us/graph/api/resources/subscribedsku>).
//!
//! - Group-based licensing: a user's `assignedLicenses` holds the licenses its groups give as
//!   well as the direct ones; `licenseAssignmentStates` tells them apart (`assignedByGroup` null
//!   for a direct license, else the group's id; `state`, `error`), returned only when selected
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/licenseassignmentstate>). A license
//!   a group gives cannot be removed from the user with `assignLicense`: only leaving the group
//!   (or the group losing the license) takes it away
//!   (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-group-advanced>).
//! - Groups and their members: see [`groups`].
//!
//! Tenure's `license` attribute is one SKU, named by its `skuPartNumber` (a `skuId` GUID is
//! accepted too): a pool's tier is that part number, counted whether the user holds it directly
//! or from a group, and the read-only [`LICENSE_SOURCE`] says which. Users hold several SKUs (a
//! tier and add-ons such as `POWER_BI_PRO`): with the SKUs the app manages named (its
//! `license_skus`), the tier is the managed one the user holds, a tier change swaps only managed
//! SKUs, and a tier outside the list is refused; without them, the tier is the first SKU by part
//! number and a tier change removes only the SKU it replaces. Removing the license removes every
//! SKU, add-ons too (a leaver needs none). The read-only [`LICENSES_HELD`] lists them all. A
//! license a group gives is taken away by taking the user out of that group (the queued license
//! change itself does it, with its reason), or refused with the group's name when Graph cannot
//! change that group's members.

mod groups;
mod http;

use std::sync::Arc;

use rand::Rng;
use reqwest::Method;
use serde_json::{Map, Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{RemoteAccount, Secret};

use crate::client::ClientOptions;
use crate::connector::{Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
use crate::error::ConnectorError;
use crate::oauth::TokenSource;
pub use groups::GraphGroup;
use http::{Graph, invalid};

/// Graph v1.0's root.
pub const DEFAULT_API_URL: &str = "https://graph.microsoft.com/v1.0";
/// The scope an app-only token for Graph asks for.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The attribute a person's country reaches Entra ID through (a mapping such as
/// `usageLocation = custom.country`); the app's `usage_location` setting is the fallback.
pub const USAGE_LOCATION: &str = "usageLocation";
/// Read-only: where the account's license (its tier) comes from, `direct` or `group:<group id>`
/// (group-based licensing; several groups comma-separated). Never written: no planner holds it.
pub const LICENSE_SOURCE: &str = "licenseSource";
/// Read-only: every SKU the user holds, by part number, sorted and comma-separated (add-ons
/// included), so admins see what a tier change leaves alone. Never written: no planner holds it.
pub const LICENSES_HELD: &str = attr::LICENSES_HELD;
/// The most users one page may ask for.
pub const MAX_PAGE: u32 = 999;

/// The Microsoft identity platform's token endpoint of a tenant.
pub fn token_url(tenant_id: &str) -> String {
    format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", tenant_id.trim())
}

const SELECT: &str = "id,userPrincipalName,mail,givenName,surname,displayName,jobTitle,department,employeeId,\
                      usageLocation,accountEnabled,assignedLicenses,licenseAssignmentStates";

/// Tenure's attributes and the Graph user properties they are kept in.
const PROPERTIES: [(&str, &str); 8] = [
    (attr::USER_NAME, "userPrincipalName"),
    (attr::EMAIL, "mail"),
    (attr::GIVEN_NAME, "givenName"),
    (attr::FAMILY_NAME, "surname"),
    (attr::DISPLAY_NAME, "displayName"),
    (attr::TITLE, "jobTitle"),
    (attr::DEPARTMENT, "department"),
    (attr::EMPLOYEE_NUMBER, "employeeId"),
];

/// The attributes an M365 user holds (for the planner: nothing else is ever updated).
pub const HELD_ATTRIBUTES: [&str; 10] = [
    attr::USER_NAME,
    attr::EMAIL,
    attr::GIVEN_NAME,
    attr::FAMILY_NAME,
    attr::DISPLAY_NAME,
    attr::TITLE,
    attr::DEPARTMENT,
    attr::EMPLOYEE_NUMBER,
    attr::LICENSE,
    USAGE_LOCATION,
];

/// Length of the random initial password (Entra ID's default policy: 8 to 256 characters, three
/// of four character classes).
const PASSWORD_LEN: usize = 24;

/// A subscribed SKU: what a tier name means and how many seats the tenant holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sku {
    pub sku_id: String,
    pub part_number: String,
    /// `prepaidUnits.enabled`.
    pub enabled: u64,
    /// `consumedUnits`.
    pub consumed: u64,
}

#[derive(Debug)]
pub struct M365 {
    graph: Graph,
    usage_location: Option<String>,
    /// The SKUs Tenure manages, by part number, in the settings' order; empty: all of them.
    managed: Vec<String>,
    skus: tokio::sync::Mutex<Option<Vec<Sku>>>,
    /// The tenant refused `signInActivity` once (no P1 licence, no AuditLog.Read.All).
    activity_refused: std::sync::atomic::AtomicBool,
}

/// The largest page Graph gives when `signInActivity` is selected.
pub const MAX_ACTIVITY_PAGE: u32 = 500;

impl M365 {
    /// `base`: Graph's root (`https://graph.microsoft.com/v1.0`); `tokens`: the app
    /// registration's client credentials against its tenant's token endpoint, scope
    /// [`GRAPH_SCOPE`] (application permissions User.ReadWrite.All, LicenseAssignment.ReadWrite.All
    /// or Directory.ReadWrite.All, Organization.Read.All for the SKUs, GroupMember.ReadWrite.All
    /// and Group.Create for Entra groups).
    pub fn new(base: &str, tokens: Arc<TokenSource>, options: ClientOptions) -> Result<Self, ConnectorError> {
        Ok(Self {
            graph: Graph::new(base, tokens, options)?,
            usage_location: None,
            managed: Vec::new(),
            skus: Default::default(),
            activity_refused: Default::default(),
        })
    }

    /// The two-letter country given to a user who has none when a license is assigned (Graph
    /// refuses a license without one).
    pub fn with_usage_location(mut self, location: Option<String>) -> Self {
        self.usage_location = location.map(|l| l.trim().to_ascii_uppercase()).filter(|l| !l.is_empty());
        self
    }

    /// The SKUs Tenure manages, by part number (the app's `license_skus`): an account's tier is
    /// the one of them it holds, and a tier change never touches the SKUs outside them.
    pub fn with_license_skus(mut self, skus: Vec<String>) -> Self {
        self.managed = skus.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        self
    }

    pub fn with_rate_limiter(mut self, limiter: Arc<crate::RateLimiter>) -> Self {
        self.graph = self.graph.with_rate_limiter(limiter);
        self
    }

    /// The tenant's subscribed SKUs (`GET /subscribedSkus`), read again every call.
    pub async fn subscribed_skus(&self) -> Result<Vec<Sku>, ConnectorError> {
        let url = self.graph.url(&["subscribedSkus"]);
        let answer = self.graph.send(Method::GET, &url, None).await?;
        let list = answer["value"].as_array().ok_or_else(|| invalid("GET", url.as_str(), "no value array"))?;
        let skus: Vec<Sku> = list
            .iter()
            .filter_map(|s| {
                Some(Sku {
                    sku_id: s["skuId"].as_str()?.to_ascii_lowercase(),
                    part_number: s["skuPartNumber"].as_str()?.to_owned(),
                    enabled: s["prepaidUnits"]["enabled"].as_u64().unwrap_or(0),
                    consumed: s["consumedUnits"].as_u64().unwrap_or(0),
                })
            })
            .collect();
        *self.skus.lock().await = Some(skus.clone());
        Ok(skus)
    }

    /// The SKUs as last read, reading them once when never read.
    async fn known_skus(&self) -> Result<Vec<Sku>, ConnectorError> {
        if let Some(skus) = self.skus.lock().await.clone() {
            return Ok(skus);
        }
        self.subscribed_skus().await
    }

    /// A tier (a `skuPartNumber`, or a `skuId`) as the tenant's `skuId`; read afresh when
    /// unknown, since a subscription may have been bought since.
    async fn sku_id(&self, tier: &str) -> Result<String, ConnectorError> {
        let tier = tier.trim();
        let find = |skus: &[Sku]| {
            skus.iter()
                .find(|s| s.part_number.eq_ignore_ascii_case(tier) || s.sku_id.eq_ignore_ascii_case(tier))
                .map(|s| s.sku_id.clone())
        };
        if let Some(id) = find(&self.known_skus().await?) {
            return Ok(id);
        }
        let skus = self.subscribed_skus().await?;
        find(&skus).ok_or_else(|| {
            let names: Vec<&str> = skus.iter().map(|s| s.part_number.as_str()).collect();
            ConnectorError::InvalidRequest(format!(
                "license {tier:?} is no SKU the tenant subscribes to (it has: {})",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            ))
        })
    }

    /// `skuId` -> `skuPartNumber`, for naming what users hold.
    async fn part_numbers(&self) -> std::collections::HashMap<String, String> {
        // An unreadable SKU list (no Organization.Read.All) leaves licenses named by skuId.
        match self.known_skus().await {
            Ok(skus) => skus.into_iter().map(|s| (s.sku_id, s.part_number)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "Graph subscribedSkus unreadable; licenses named by skuId");
                Default::default()
            }
        }
    }

    async fn list_all(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.activity_refused.load(Relaxed) {
            return self.list_pages(false).await;
        }
        match self.list_pages(true).await {
            Err(e) if e.status() == Some(403) => {
                tracing::warn!(error = %e, "Graph refused signInActivity (needs Entra ID P1 and AuditLog.Read.All); users listed without last activity");
                self.activity_refused.store(true, Relaxed);
                self.list_pages(false).await
            }
            other => other,
        }
    }

    async fn list_pages(&self, activity: bool) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let max = if activity { MAX_ACTIVITY_PAGE } else { MAX_PAGE };
        let top = self.graph.options.page_size.clamp(1, max).to_string();
        let select = if activity { format!("{SELECT},signInActivity") } else { SELECT.to_owned() };
        let mut url = self.graph.url(&["users"]);
        url.query_pairs_mut().append_pair("$select", &select).append_pair("$top", &top);
        // Read afresh on every full list: a SKU bought since is named, not shown by its GUID.
        let names = match self.subscribed_skus().await {
            Ok(skus) => skus.into_iter().map(|s| (s.sku_id, s.part_number)).collect(),
            Err(_) => self.part_numbers().await,
        };
        let mut accounts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self.graph.send(Method::GET, &url, None).await?;
            let users = page["value"].as_array().ok_or_else(|| invalid("GET", url.as_str(), "no value array"))?;
            for user in users {
                accounts.push(
                    account_of(user, &names, &self.managed)
                        .ok_or_else(|| invalid("GET", url.as_str(), "a user without id"))?,
                );
            }
            let Some(next) = page["@odata.nextLink"].as_str() else { return Ok(accounts) };
            // A link handed out twice would read the same page forever.
            if !seen.insert(next.to_owned()) {
                return Err(ConnectorError::Paging {
                    url: url.to_string(),
                    fault: "Graph handed out the same @odata.nextLink twice".into(),
                });
            }
            url = self.graph.link(next)?;
        }
    }

    async fn user(&self, remote_id: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let mut url = self.graph.url(&["users", remote_id]);
        url.query_pairs_mut().append_pair("$select", SELECT);
        match self.graph.send(Method::GET, &url, None).await {
            Ok(user) => {
                let names = self.part_numbers().await;
                Ok(Some(
                    account_of(&user, &names, &self.managed)
                        .ok_or_else(|| invalid("GET", url.as_str(), "a user without id"))?,
                ))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find(&self, attribute: &str, value: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let Some(property) = PROPERTIES.iter().find(|(a, _)| *a == attribute).map(|(_, p)| *p) else {
            // No Graph property holds it (externalId): no account carries it.
            return Ok(None);
        };
        let literal = value.replace('\'', "''");
        let mut url = self.graph.url(&["users"]);
        url.query_pairs_mut()
            .append_pair("$filter", &format!("{property} eq '{literal}'"))
            .append_pair("$select", SELECT);
        let answer = self.graph.send(Method::GET, &url, None).await?;
        let users = answer["value"].as_array().ok_or_else(|| invalid("GET", url.as_str(), "no value array"))?;
        match users.as_slice() {
            [] => Ok(None),
            [user] => {
                let names = self.part_numbers().await;
                Ok(Some(
                    account_of(user, &names, &self.managed)
                        .ok_or_else(|| invalid("GET", url.as_str(), "a user without id"))?,
                ))
            }
            many => Err(ConnectorError::Ambiguous { filter: format!("{property} eq '{literal}'"), count: many.len() }),
        }
    }

    async fn create(&self, attributes: &Attributes) -> Result<RemoteAccount, ConnectorError> {
        let upn = attributes.get(attr::USER_NAME).map(|u| u.trim()).filter(|u| !u.is_empty()).ok_or_else(|| {
            ConnectorError::InvalidRequest("an M365 user needs a userName (userPrincipalName)".into())
        })?;
        let mut user = Map::new();
        for (name, property) in PROPERTIES {
            if let Some(v) = attributes.get(name).filter(|v| !v.is_empty()) {
                user.insert(property.into(), json!(v));
            }
        }
        let display = user.get("displayName").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| {
            let names: Vec<&str> = [attr::GIVEN_NAME, attr::FAMILY_NAME]
                .iter()
                .filter_map(|n| attributes.get(n))
                .map(String::as_str)
                .collect();
            if names.is_empty() { upn.split('@').next().unwrap_or(upn).to_owned() } else { names.join(" ") }
        });
        user.insert("displayName".into(), json!(display));
        user.insert("accountEnabled".into(), json!(true));
        user.insert("mailNickname".into(), json!(mail_nickname(upn)));
        // Nobody sees it: people sign in through SSO or have it reset by an admin.
        user.insert(
            "passwordProfile".into(),
            json!({"password": random_password().expose(), "forceChangePasswordNextSignIn": true}),
        );
        if let Some(location) = self.location_of(attributes) {
            user.insert(USAGE_LOCATION.into(), json!(location));
        }
        let url = self.graph.url(&["users"]);
        let created = self.graph.send(Method::POST, &url, Some(&Value::Object(user))).await?;
        let names = self.part_numbers().await;
        let mut account = account_of(&created, &names, &self.managed)
            .ok_or_else(|| invalid("POST", url.as_str(), "the created user has no id"))?;
        if let Some(tier) = attributes.get(attr::LICENSE).filter(|l| !l.is_empty()) {
            // The account exists whatever happens to its license: a refused license is the next
            // plan's license change, and fails there with Graph's reason.
            match self.set_license(&account.remote_id, Some(tier)).await {
                Ok(()) => {
                    account.attributes.insert(attr::LICENSE, tier.as_str());
                }
                Err(e) => {
                    tracing::warn!(user = %upn, license = %tier, error = %e, "M365 user created without its license")
                }
            }
        }
        Ok(account)
    }

    fn location_of(&self, attributes: &Attributes) -> Option<String> {
        attributes
            .get(USAGE_LOCATION)
            .map(|l| l.trim().to_ascii_uppercase())
            .filter(|l| !l.is_empty())
            .or_else(|| self.usage_location.clone())
    }

    async fn update(&self, remote_id: &str, changes: &Attributes) -> Result<(), ConnectorError> {
        // A tier the app does not manage fails the whole change before anything is written.
        if let Some(tier) = changes.get(attr::LICENSE).filter(|l| !l.trim().is_empty()) {
            self.check_tier(tier)?;
        }
        let mut patch = Map::new();
        for (name, property) in PROPERTIES {
            if let Some(v) = changes.get(name) {
                patch.insert(property.into(), if v.is_empty() { Value::Null } else { json!(v) });
            }
        }
        if let Some(location) = changes.get(USAGE_LOCATION) {
            let location = location.trim().to_ascii_uppercase();
            patch.insert(USAGE_LOCATION.into(), if location.is_empty() { Value::Null } else { json!(location) });
        }
        if !patch.is_empty() {
            self.patch(remote_id, Value::Object(patch)).await?;
        }
        if let Some(license) = changes.get(attr::LICENSE) {
            let wanted = Some(license.as_str()).filter(|l| !l.trim().is_empty());
            self.set_license(remote_id, wanted).await?;
        }
        Ok(())
    }

    async fn patch(&self, remote_id: &str, body: Value) -> Result<(), ConnectorError> {
        let url = self.graph.url(&["users", remote_id]);
        self.graph.send(Method::PATCH, &url, Some(&body)).await.map(drop)
    }

    /// Makes `wanted` the user's one license, or (`None`) takes every license away. A license
    /// Tenure assigned directly is removed with `assignLicense`; one a group gives cannot be
    /// (Graph refuses: it is the group's), so the user leaves that group instead: every such
    /// group for `None`, those giving the replaced tier for a new one. A group whose
    /// members Graph cannot change is a permanent error naming it, checked before anything is
    /// changed.
    pub async fn set_license(&self, remote_id: &str, wanted: Option<&str>) -> Result<(), ConnectorError> {
        if let Some(tier) = wanted {
            self.check_tier(tier)?;
        }
        let mut url = self.graph.url(&["users", remote_id]);
        url.query_pairs_mut()
            .append_pair("$select", "id,userPrincipalName,usageLocation,assignedLicenses,licenseAssignmentStates");
        let user = self.graph.send(Method::GET, &url, None).await?;
        let held = Holdings::of(&user);
        let target = match wanted {
            None => None,
            Some(tier) => Some(self.sku_id(tier).await?),
        };
        let names = self.part_numbers().await;
        // Removing every license leaves every group that gives one. A new tier leaves only the
        // groups giving the tier it replaces (the account's `license` as read): a group giving
        // an add-on is the admin's, and a tier the user holds already changes no group.
        let replaced = match &target {
            None => None,
            Some(t) if held.direct.contains(t) || held.inherited.iter().any(|(s, _)| s == t) => Some(None),
            Some(_) => Some(held.tier(&names, &self.managed)),
        };
        // What a tier change takes away directly: with a list, every managed SKU but the target
        // (add-ons are the admin's); without one, only the tier it replaces, since nothing says
        // which of the others are add-ons. Removing the license takes every SKU: a leaver needs none.
        let remove: Vec<String> = match (&target, &replaced) {
            (None, _) => held.direct.clone(),
            (Some(t), _) if !self.managed.is_empty() => {
                held.direct.iter().filter(|s| *s != t && is_managed(s, &names, &self.managed)).cloned().collect()
            }
            (Some(t), Some(Some(old))) => held.direct.iter().filter(|s| *s == old && *s != t).cloned().collect(),
            (Some(_), _) => Vec::new(),
        };
        if let (Some(tier), Some(None)) = (wanted, &replaced)
            && self.managed.is_empty()
            && held.tier(&names, &self.managed).as_ref() != target.as_ref()
        {
            // Read as another tier (an add-on that sorts first), this change comes back on every
            // pass; only the list of managed SKUs tells the tier from the add-on.
            tracing::warn!(user = %remote_id, license = %tier,
                "M365 user already holds the license beside others read first; name the SKUs Tenure manages \
                 (tenure app edit APP --license-skus) so its add-ons are not read as its tier");
        }
        let leave: std::collections::BTreeSet<&str> = held
            .inherited
            .iter()
            .filter(|(sku, _)| match &replaced {
                None => true,
                Some(tier) => tier.as_ref() == Some(sku),
            })
            .map(|(_, g)| g.as_str())
            .collect();
        // Leaving a group takes every license it gives: the wanted one too, unless a group kept,
        // or a direct assignment, still gives it.
        let kept = |sku: &String| held.inherited.iter().any(|(s, g)| s == sku && !leave.contains(g.as_str()));
        let add = target.clone().filter(|t| !held.direct.contains(t) && !kept(t));
        let mut groups = Vec::new();
        for id in &leave {
            // Gone meanwhile: so is the license it gave.
            let Some(group) = self.graph_group(id).await? else { continue };
            if let Some(why) = group.unchangeable() {
                let upn = user["userPrincipalName"].as_str().unwrap_or(remote_id);
                let skus: Vec<String> = held
                    .inherited
                    .iter()
                    .filter(|(_, g)| g == id)
                    .map(|(s, _)| names.get(s).cloned().unwrap_or_else(|| s.clone()))
                    .collect();
                // Refused here, not sent: Graph's answer would be the same 400 every time, and it is
                // this user's problem, not the app's (a vendor error would pause the whole app).
                return Err(ConnectorError::InvalidRequest(format!(
                    "{upn}'s license {} comes from group {:?} ({}), and Graph refuses to remove a license a group \
                     gives; Tenure cannot take {upn} out of that group: {why}. Change the group in Entra ID (its \
                     members or its licenses)",
                    skus.join(", "),
                    group.name,
                    group.id,
                )));
            }
            groups.push(group);
        }
        self.assign(remote_id, &user, add, remove).await?;
        for group in groups {
            self.remove_member(&group.id, remote_id).await?;
            tracing::info!(user = %remote_id, group = %group.name, group_id = %group.id,
                "M365 user taken out of a licensing group: its license cannot be removed otherwise");
        }
        Ok(())
    }

    /// Refuses, before any request, a tier outside the SKUs the app manages: assigning it would
    /// make a SKU Tenure leaves alone the user's tier.
    fn check_tier(&self, tier: &str) -> Result<(), ConnectorError> {
        if self.managed.is_empty() || self.managed.iter().any(|m| m.eq_ignore_ascii_case(tier.trim())) {
            return Ok(());
        }
        Err(ConnectorError::InvalidRequest(format!(
            "license {tier:?} is no SKU this Microsoft 365 app manages (its license_skus: {}); name it there \
             (tenure app edit APP --license-skus ...) or grant one of those",
            self.managed.join(", ")
        )))
    }

    /// `assignLicense`: `add` given and `remove` taken away, setting the user's usage location
    /// first when it has none (Graph refuses a license without one).
    async fn assign(
        &self,
        remote_id: &str,
        user: &Value,
        add: Option<String>,
        remove: Vec<String>,
    ) -> Result<(), ConnectorError> {
        if add.is_none() && remove.is_empty() {
            return Ok(());
        }
        let has_location = user["usageLocation"].as_str().is_some_and(|l| !l.is_empty());
        if add.is_some()
            && !has_location
            && let Some(location) = &self.usage_location
        {
            self.patch(remote_id, json!({ USAGE_LOCATION: location })).await?;
        }
        let body = json!({
            "addLicenses": add.iter().map(|s| json!({"skuId": s, "disabledPlans": []})).collect::<Vec<_>>(),
            "removeLicenses": remove,
        });
        let url = self.graph.url(&["users", remote_id, "assignLicense"]);
        match self.graph.send(Method::POST, &url, Some(&body)).await {
            Ok(_) => Ok(()),
            Err(ConnectorError::Status { method, url, status: 400, scim_type, detail, retry_after })
                if detail.as_deref().is_some_and(|d| d.contains("usage location")) =>
            {
                Err(ConnectorError::Status {
                    method,
                    url,
                    status: 400,
                    scim_type,
                    detail: detail.map(|d| {
                        format!(
                            "{d} (give the user a usageLocation: map it from the person's country, e.g. \
                             usageLocation = custom.country, or set the app's usage_location)"
                        )
                    }),
                    retry_after,
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// Where a user's licenses come from (`licenseAssignmentStates`): SKUs assigned directly, and
/// (SKU, group id) for those a group gives. Without the states (an older answer), every
/// assigned SKU counts as direct.
#[derive(Debug, Default)]
struct Holdings {
    direct: Vec<String>,
    inherited: Vec<(String, String)>,
}

impl Holdings {
    fn of(user: &Value) -> Self {
        let Some(states) = user["licenseAssignmentStates"].as_array() else {
            return Self { direct: sku_ids(user), inherited: Vec::new() };
        };
        let mut held = Self::default();
        for state in states {
            let Some(sku) = state["skuId"].as_str().map(str::to_ascii_lowercase) else { continue };
            match state["assignedByGroup"].as_str().filter(|g| !g.is_empty()) {
                Some(group) => held.inherited.push((sku, group.to_owned())),
                None if !held.direct.contains(&sku) => held.direct.push(sku),
                None => {}
            }
        }
        held
    }

    /// The SKU shown as the account's tier, as [`account_of`] reads it.
    fn tier(&self, names: &std::collections::HashMap<String, String>, managed: &[String]) -> Option<String> {
        tier_of(self.direct.iter().chain(self.inherited.iter().map(|(s, _)| s)), names, managed)
    }

    /// `direct`, or `group:<id>` (several comma-separated) when only groups give the SKU.
    fn source(&self, sku: &str) -> Option<String> {
        if self.direct.iter().any(|s| s == sku) {
            return Some("direct".to_owned());
        }
        let groups: Vec<String> =
            self.inherited.iter().filter(|(s, _)| s == sku).map(|(_, g)| format!("group:{g}")).collect();
        (!groups.is_empty()).then(|| groups.join(","))
    }
}

/// The SKU (its id) that is a user's tier among `skus`: the first of `managed` it holds when the
/// app names the SKUs it manages, else the first by part number.
fn tier_of<'a>(
    skus: impl Iterator<Item = &'a String>,
    names: &std::collections::HashMap<String, String>,
    managed: &[String],
) -> Option<String> {
    let named = skus.map(|s| (names.get(s).cloned().unwrap_or_else(|| s.clone()), s));
    if managed.is_empty() {
        return named.min().map(|(_, s)| s.clone());
    }
    let named: Vec<(String, &String)> = named.collect();
    managed.iter().find_map(|m| {
        named
            .iter()
            .find(|(part, id)| part.eq_ignore_ascii_case(m) || id.eq_ignore_ascii_case(m))
            .map(|(_, s)| (*s).clone())
    })
}

/// Whether the SKU `sku` (an id) is one of `managed` (part numbers, or ids).
fn is_managed(sku: &str, names: &std::collections::HashMap<String, String>, managed: &[String]) -> bool {
    let part = names.get(sku).map(String::as_str).unwrap_or(sku);
    managed.iter().any(|m| m.eq_ignore_ascii_case(part) || m.eq_ignore_ascii_case(sku))
}

/// The part numbers Tenure manages, from the settings' text (`ENTERPRISEPACK,SPE_E5`): trimmed,
/// each once, in order; empty text is none.
pub fn parse_skus(text: &str) -> Result<Vec<String>, String> {
    let mut skus: Vec<String> = Vec::new();
    for sku in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !sku.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(format!(
                "{sku:?}: a SKU is its skuPartNumber (letters, digits, _ - .), e.g. ENTERPRISEPACK,SPE_E5"
            ));
        }
        if skus.iter().any(|s| s.eq_ignore_ascii_case(sku)) {
            return Err(format!("{sku:?} is named twice"));
        }
        skus.push(sku.to_owned());
    }
    Ok(skus)
}

/// The user's assigned SKUs, lower case.
fn sku_ids(user: &Value) -> Vec<String> {
    user["assignedLicenses"]
        .as_array()
        .map(|list| list.iter().filter_map(|l| l["skuId"].as_str()).map(str::to_ascii_lowercase).collect())
        .unwrap_or_default()
}

/// `mailNickname` from the UPN's local part: only the characters Graph accepts in it.
fn mail_nickname(upn: &str) -> String {
    let local = upn.split('@').next().unwrap_or(upn);
    let nick: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '!' | '#' | '^' | '~' | '\''))
        .take(64)
        .collect();
    if nick.is_empty() { "user".to_owned() } else { nick }
}

const DAY: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

/// A Graph user as Tenure's attributes. Its license is its tier by part number ([`tier_of`]),
/// every SKU it holds in [`LICENSES_HELD`].
fn account_of(
    user: &Value,
    names: &std::collections::HashMap<String, String>,
    managed: &[String],
) -> Option<RemoteAccount> {
    let id = user["id"].as_str()?;
    let mut attributes = Attributes::new();
    for (name, property) in PROPERTIES {
        if let Some(v) = user[property].as_str().filter(|v| !v.is_empty()) {
            attributes.insert(name, v);
        }
    }
    if let Some(location) = user[USAGE_LOCATION].as_str().filter(|v| !v.is_empty()) {
        attributes.insert(USAGE_LOCATION, location);
    }
    let held = sku_ids(user);
    let mut parts: Vec<String> = held.iter().map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone())).collect();
    parts.sort();
    parts.dedup();
    if !parts.is_empty() {
        attributes.insert(LICENSES_HELD, parts.join(","));
    }
    if let Some(sku) = tier_of(held.iter(), names, managed) {
        attributes.insert(attr::LICENSE, names.get(&sku).cloned().unwrap_or_else(|| sku.clone()));
        if user.get("licenseAssignmentStates").is_some()
            && let Some(source) = Holdings::of(user).source(&sku)
        {
            attributes.insert(LICENSE_SOURCE, source);
        }
    }
    // `2026-11-02T08:15:00Z`: the day is what the license report counts in.
    let last = user["signInActivity"]["lastSignInDateTime"].as_str().and_then(|t| t.get(..10));
    if let Some(day) = last.filter(|d| time::Date::parse(d, DAY).is_ok()) {
        attributes.insert(attr::LAST_ACTIVE, day);
    }
    let active = user["accountEnabled"].as_bool().unwrap_or(true);
    Some(RemoteAccount { remote_id: id.to_owned(), active, attributes })
}

/// A password from the thread-local CSPRNG, with every character class Entra ID's policy counts.
fn random_password() -> Secret {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.!@#%+=";
    let mut rng = rand::rng();
    let body: String = (0..PASSWORD_LEN).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect();
    Secret::new(format!("{body}Aa1!"))
}

impl Connector for M365 {
    fn describe(&self) -> Descriptor {
        use Operation::*;
        Descriptor {
            kind: "m365",
            operations: [
                List,
                Get,
                Find,
                Create,
                Update,
                Activate,
                Deactivate,
                Delete,
                Groups,
                GroupMembership,
                Licenses,
            ]
            .into(),
            // accountEnabled: false: sign-in blocked, mailbox, data and licenses kept.
            deactivate: DeactivateMeaning::Suspend,
            // Restorable from deleted items for 30 days, then gone with its data.
            delete: DeleteMeaning::Permanent,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(self.list_all())
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(self.user(remote_id))
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(self.find(attribute, value))
    }

    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(self.create(attributes))
    }

    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(self.update(remote_id, changes))
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(self.patch(remote_id, json!({"accountEnabled": active})))
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let url = self.graph.url(&["users", remote_id]);
            self.graph.send(Method::DELETE, &url, None).await.map(drop)
        })
    }

    fn list_groups(&self) -> ConnectorFuture<'_, Vec<tenure_core::RemoteGroup>> {
        Box::pin(self.groups_with_members())
    }

    fn create_group<'a>(
        &'a self,
        name: &'a str,
        members: &'a [String],
    ) -> ConnectorFuture<'a, tenure_core::RemoteGroup> {
        Box::pin(self.create_security_group(name, members))
    }

    fn change_group_members<'a>(
        &'a self,
        group_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> ConnectorFuture<'a, ()> {
        Box::pin(self.change_members(group_id, add, remove))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_keep_only_what_graph_accepts() {
        assert_eq!(mail_nickname("ada.lovelace+x@example.com"), "ada.lovelacex");
        assert_eq!(mail_nickname("@example.com"), "user");
    }

    #[test]
    fn managed_skus_are_part_numbers_each_once() {
        assert_eq!(parse_skus(" ENTERPRISEPACK, SPE_E5 ,").unwrap(), vec!["ENTERPRISEPACK", "SPE_E5"]);
        assert!(parse_skus("").unwrap().is_empty());
        assert!(parse_skus("SPE_E5,spe_e5").unwrap_err().contains("twice"));
        assert!(parse_skus("E3=Enterprise").unwrap_err().contains("skuPartNumber"));
    }

    #[test]
    fn a_user_names_its_license_by_part_number() {
        let names = [("aaaa".to_owned(), "SPE_E3".to_owned())].into_iter().collect();
        let user = json!({"id": "1", "userPrincipalName": "a@x.com", "accountEnabled": false,
            "assignedLicenses": [{"skuId": "bbbb"}, {"skuId": "AAAA"}]});
        let account = account_of(&user, &names, &[]).unwrap();
        assert_eq!(account.attributes.get(attr::LICENSE).map(String::as_str), Some("SPE_E3"));
        assert_eq!(account.attributes.get(LICENSES_HELD).map(String::as_str), Some("SPE_E3,bbbb"));
        let managed = account_of(&user, &names, &["BBBB".into()]).unwrap();
        assert_eq!(managed.attributes.get(attr::LICENSE).map(String::as_str), Some("bbbb"), "the managed one");
        assert!(!account.active);
        assert_eq!(account.attributes.get(attr::LAST_ACTIVE), None, "never signed in");
        let user = json!({"id": "1", "signInActivity": {"lastSignInDateTime": "2026-11-02T08:15:00Z"}});
        let account = account_of(&user, &names, &[]).unwrap();
        assert_eq!(account.attributes.get(attr::LAST_ACTIVE).map(String::as_str), Some("2026-11-02"));
    }
}
