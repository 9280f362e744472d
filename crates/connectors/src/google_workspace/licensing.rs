//! Google Workspace licenses through the Enterprise License Manager API: who holds which of the
//! SKUs the app's settings name, read as each account's `license` (its tier), and assigned,
//! changed and removed as the `license` attribute changes.
//!
//! Contract (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments>):
//! - listForProductAndSku: `GET apps/licensing/v1/product/{productId}/sku/{skuId}/users?customerId=
//!   &maxResults=&pageToken=`, answering `items` (LicenseAssignment: `kind`, `etags`, `selfLink`,
//!   `userId`, `productId`, `skuId`, `skuName`, `productName`) and `nextPageToken`
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/listForProductAndSku>);
//!   `maxResults` is at most 1000.
//! - get: `GET …/product/{p}/sku/{s}/user/{userId}`, 404 when the user does not hold that SKU.
//! - insert: `POST …/product/{p}/sku/{s}/user` with `{"userId": email}`
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/insert>).
//! - patch: `PATCH …/product/{p}/sku/{old}/user/{userId}` with `{"skuId": new}` moves the user to
//!   another SKU *of the same product*
//!   (<https://developers.google.com/workspace/admin/licensing/reference/rest/v1/licenseAssignments/patch>).
//! - delete: `DELETE …/product/{p}/sku/{s}/user/{userId}` revokes it.
//! - `userId` is the user's current primary email, never the numeric id. Scope
//!   `https://www.googleapis.com/auth/apps.licensing`, delegated to the service account's client
//!   id beside the Directory scopes.
//!
//! Tenure's `license` attribute is one tier: setting it makes the user hold that SKU (a patch
//! from a SKU of the same product, else an insert) and no other managed SKU; clearing it revokes
//! every managed SKU the user holds. SKUs the settings do not name are never touched. A user
//! holding several managed SKUs reads as the first in the settings' order.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{Value, json};
use tenure_core::GoogleLicenseSku;
use url::Url;

use super::GoogleWorkspace;
use crate::error::ConnectorError;

/// The License Manager's read-write scope.
pub const SCOPE: &str = "https://www.googleapis.com/auth/apps.licensing";

/// The License Manager's endpoint when the app's API URL is Google's own.
pub const DEFAULT_LICENSING_URL: &str = "https://licensing.googleapis.com";

/// Largest page listForProductAndSku serves.
const MAX_ASSIGNMENT_PAGE: u32 = 1000;

/// Reads `PRODUCT:SKU=TIER` entries separated by commas
/// (`Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business Standard`); an
/// empty text is no SKU. `Err` says which entry is wrong and why.
pub fn parse_skus(text: &str) -> Result<Vec<GoogleLicenseSku>, String> {
    let mut skus: Vec<GoogleLicenseSku> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| {
            format!("{entry:?}: {why}; write PRODUCT:SKU=TIER, e.g. Google-Apps:1010020027=Business Starter")
        };
        let (ids, tier) = entry.split_once('=').ok_or_else(|| bad("no `=TIER`"))?;
        let (product, sku) = ids.split_once(':').ok_or_else(|| bad("no `PRODUCT:SKU`"))?;
        let (product, sku, tier) = (product.trim(), sku.trim(), tier.trim());
        if product.is_empty() || sku.is_empty() || tier.is_empty() {
            return Err(bad("the product, the SKU and the tier must not be empty"));
        }
        let id_ok = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !id_ok(product) || !id_ok(sku) {
            return Err(bad("product and SKU ids are letters, digits, - _ ."));
        }
        if skus.iter().any(|s| s.tier.eq_ignore_ascii_case(tier)) {
            return Err(bad("this tier is named twice"));
        }
        if skus.iter().any(|s| s.product_id == product && s.sku_id == sku) {
            return Err(bad("this SKU is named twice"));
        }
        skus.push(GoogleLicenseSku { product_id: product.to_owned(), sku_id: sku.to_owned(), tier: tier.to_owned() });
    }
    Ok(skus)
}

/// The settings' spelling of `skus`, as [`parse_skus`] reads it.
pub fn format_skus(skus: &[GoogleLicenseSku]) -> String {
    skus.iter().map(|s| format!("{}:{}={}", s.product_id, s.sku_id, s.tier)).collect::<Vec<_>>().join(",")
}

/// Where the Directory API's advice starts in the messages of `error.rs`.
const DIRECTORY_ADVICE: &[&str] =
    &["; the impersonated admin needs", "; check the key", "; check the service account's domain-wide delegation"];

/// A License Manager refusal, in words that say what to fix: the scope is delegated per client
/// id, separately from the Directory scopes, and the admin needs license privileges.
fn licensing_error(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Vendor { vendor, code, status, message } if status == 401 || status == 403 => {
            // The Directory API's advice (its scopes, user and group privileges) is not this
            // API's: keep Google's own words and say what License Manager needs instead.
            let google = DIRECTORY_ADVICE
                .iter()
                .filter_map(|marker| message.find(marker))
                .min()
                .map_or(message.as_str(), |cut| &message[..cut]);
            let message = format!(
                "Google License Manager: {google}. The service account's client id needs the scope {SCOPE} under \
                 domain-wide delegation (Admin console > Security > API controls), and the impersonated admin the \
                 License Management privilege"
            );
            ConnectorError::Vendor { vendor, code, status, message }
        }
        other => other,
    }
}

impl GoogleWorkspace {
    /// Whether the app's settings name SKUs (and so licenses are read and written).
    pub fn manages_licenses(&self) -> bool {
        !self.license_skus.is_empty()
    }

    /// The SKUs Tenure manages, in the settings' order.
    pub fn license_skus(&self) -> &[GoogleLicenseSku] {
        &self.license_skus
    }

    fn sku_url(&self, sku: &GoogleLicenseSku, tail: &[&str]) -> Url {
        let mut segments = vec!["product", sku.product_id.as_str(), "sku", sku.sku_id.as_str()];
        segments.extend_from_slice(tail);
        crate::rest_base::joined(&self.licensing, &segments)
    }

    async fn send_licensing(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        self.send_as(&self.licensing_account, method, url, query, body).await.map_err(licensing_error)
    }

    /// Every holder of `sku`, by lowercased primary email, following `nextPageToken`.
    async fn holders(&self, sku: &GoogleLicenseSku) -> Result<Vec<String>, ConnectorError> {
        let url = self.sku_url(sku, &["users"]);
        let mut holders = Vec::new();
        let mut seen_tokens = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("customerId", self.license_customer.clone()),
                ("maxResults", self.page_size(MAX_ASSIGNMENT_PAGE)),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.clone()));
            }
            let page = self
                .send_licensing(Method::GET, &url, &query, None)
                .await?
                .ok_or_else(|| self.invalid(&Method::GET, &url, "empty body".into()))?;
            match page.get("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        let user = item.get("userId").and_then(Value::as_str).map(str::trim).unwrap_or_default();
                        if user.is_empty() {
                            return Err(self.invalid(
                                &Method::GET,
                                &url,
                                "a license assignment without a userId".into(),
                            ));
                        }
                        holders.push(user.to_lowercase());
                    }
                }
                None | Some(Value::Null) => {}
                Some(_) => return Err(self.invalid(&Method::GET, &url, "items is not an array".into())),
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                None => return Ok(holders),
                Some(next) if !seen_tokens.insert(next.to_owned()) => {
                    return Err(self.invalid(&Method::GET, &url, "nextPageToken repeats an earlier page".into()));
                }
                Some(next) => token = Some(next.to_owned()),
            }
        }
    }

    /// Each user's tier (lowercased primary email → tier): the first managed SKU, in the
    /// settings' order, they hold.
    pub async fn license_tiers(&self) -> Result<HashMap<String, String>, ConnectorError> {
        let mut tiers = HashMap::new();
        for sku in &self.license_skus {
            for user in self.holders(sku).await? {
                tiers.entry(user).or_insert_with(|| sku.tier.clone());
            }
        }
        Ok(tiers)
    }

    /// How many users hold each managed SKU, in the settings' order (for `app check`).
    pub async fn license_counts(&self) -> Result<Vec<(String, usize)>, ConnectorError> {
        let mut counts = Vec::with_capacity(self.license_skus.len());
        for sku in &self.license_skus {
            counts.push((sku.tier.clone(), self.holders(sku).await?.len()));
        }
        Ok(counts)
    }

    /// Whether `email` holds `sku` (licenseAssignments.get; 404 is no).
    async fn holds(&self, sku: &GoogleLicenseSku, email: &str) -> Result<bool, ConnectorError> {
        let url = self.sku_url(sku, &["user", email]);
        match self.send_licensing(Method::GET, &url, &[], None).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The managed SKUs `email` holds, in the settings' order.
    async fn held(&self, email: &str) -> Result<Vec<GoogleLicenseSku>, ConnectorError> {
        let mut held = Vec::new();
        for sku in &self.license_skus {
            if self.holds(sku, email).await? {
                held.push(sku.clone());
            }
        }
        Ok(held)
    }

    /// The tier `email` holds, read per SKU (one account, where a full listing would be waste).
    pub async fn license_of(&self, email: &str) -> Result<Option<String>, ConnectorError> {
        Ok(self.held(email).await?.first().map(|s| s.tier.clone()))
    }

    fn sku_of(&self, tier: &str) -> Result<&GoogleLicenseSku, ConnectorError> {
        let tier = tier.trim();
        // Exactly as spelled: the tier read back must equal the one asked for, or the plan
        // would ask again on every run.
        self.license_skus.iter().find(|s| s.tier == tier).ok_or_else(|| {
            let known: Vec<&str> = self.license_skus.iter().map(|s| s.tier.as_str()).collect();
            ConnectorError::InvalidRequest(format!(
                "license {tier:?} is no SKU this app manages (its tiers: {}); name it in the app's license SKUs",
                known.join(", ")
            ))
        })
    }

    /// Makes `email` hold `wanted`'s SKU and no other managed one (`None`: none at all).
    /// Idempotent: a SKU already held is not assigned again, one already gone is done.
    pub async fn set_license(&self, email: &str, wanted: Option<&str>) -> Result<(), ConnectorError> {
        if !self.manages_licenses() {
            return Err(ConnectorError::Unsupported {
                operation: "assign Google Workspace licenses without SKUs: name the SKUs Tenure manages in the \
                            app's license SKUs (tenure app edit APP --license-skus PRODUCT:SKU=TIER,...)"
                    .into(),
            });
        }
        let email = email.trim().to_lowercase();
        let target = wanted.map(|t| self.sku_of(t)).transpose()?.cloned();
        let mut held = self.held(&email).await?;
        if let Some(target) = &target
            && !held.contains(target)
        {
            // A SKU of the same product is moved (patch), which Google does in one step and
            // without a moment unlicensed; another product's is added beside, then revoked.
            match held.iter().position(|h| h.product_id == target.product_id) {
                Some(i) => {
                    let from = held.remove(i);
                    let url = self.sku_url(&from, &["user", &email]);
                    let body = json!({"skuId": target.sku_id});
                    self.send_licensing(Method::PATCH, &url, &[], Some(&body)).await?;
                    tracing::info!(user = %email, from = %from.tier, to = %target.tier, "Google license changed");
                }
                None => self.insert(target, &email).await?,
            }
        }
        for other in held.iter().filter(|h| Some(*h) != target.as_ref()) {
            let url = self.sku_url(other, &["user", &email]);
            match self.send_licensing(Method::DELETE, &url, &[], None).await {
                Ok(_) => tracing::info!(user = %email, tier = %other.tier, "Google license removed"),
                // Already revoked: the state we wanted.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn insert(&self, sku: &GoogleLicenseSku, email: &str) -> Result<(), ConnectorError> {
        let url = self.sku_url(sku, &["user"]);
        let body = json!({"userId": email});
        match self.send_licensing(Method::POST, &url, &[], Some(&body)).await {
            Ok(_) => {
                tracing::info!(user = %email, tier = %sku.tier, "Google license assigned");
                Ok(())
            }
            // 409 `duplicate`, or 412 when Google holds the assignment already (an earlier
            // attempt's answer lost on the way): done if it is this SKU, an error otherwise.
            Err(e) if matches!(e.status(), Some(409 | 412)) => {
                if self.holds(sku, email).await? {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The License Manager's root (`…/apps/licensing/v1`) for an app whose Admin SDK root is
    /// `api_url` (empty for Google's): Google's own host, or the same overriding root (tests,
    /// proxies serve both APIs under one).
    pub(super) fn licensing_root(api_url: &str) -> Result<Url, ConnectorError> {
        let raw = if api_url.trim().is_empty() { DEFAULT_LICENSING_URL } else { api_url.trim() };
        let mut url =
            tenure_sources::cloud_http::admin_url(tenure_sources::cloud_http::Service::Google, "licensing URL", raw)
                .map_err(super::error::token_error)?;
        url.path_segments_mut()
            .map_err(|_| ConnectorError::Config(format!("licensing URL {raw:?}")))?
            .pop_if_empty()
            .extend(["apps", "licensing", "v1"]);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_lists_read_and_refuse_precisely() {
        let skus =
            parse_skus(" Google-Apps:1010020027=Business Starter , Google-Apps:1010020028=Business Standard,").unwrap();
        assert_eq!(skus.len(), 2);
        assert_eq!(
            (skus[0].product_id.as_str(), skus[0].sku_id.as_str(), skus[0].tier.as_str()),
            ("Google-Apps", "1010020027", "Business Starter")
        );
        assert_eq!(
            format_skus(&skus),
            "Google-Apps:1010020027=Business Starter,Google-Apps:1010020028=Business Standard"
        );
        assert!(parse_skus("").unwrap().is_empty());
        assert!(parse_skus("Google-Apps=Starter").unwrap_err().contains("PRODUCT:SKU"));
        assert!(parse_skus("Google-Apps:1010020027").unwrap_err().contains("=TIER"));
        assert!(parse_skus("Google-Apps:1010020027= ").unwrap_err().contains("empty"));
        assert!(parse_skus("Google Apps:1=x").unwrap_err().contains("letters, digits"));
        assert!(parse_skus("a:1=x,a:2=X").unwrap_err().contains("tier is named twice"));
        assert!(parse_skus("a:1=x,a:1=y").unwrap_err().contains("SKU is named twice"));
    }

    #[test]
    fn the_licensing_root_follows_the_api_url() {
        let google = GoogleWorkspace::licensing_root("").unwrap();
        assert_eq!(google.as_str(), "https://licensing.googleapis.com/apps/licensing/v1");
        let fake = GoogleWorkspace::licensing_root("http://127.0.0.1:9/").unwrap();
        assert_eq!(fake.as_str(), "http://127.0.0.1:9/apps/licensing/v1");
    }
}
