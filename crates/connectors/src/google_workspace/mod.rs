//! Google Workspace as an app Tenure provisions: a custom-API connector (Google has no SCIM
//! endpoint) over the Admin SDK Directory API, behind the same [`Connector`] contract as SCIM apps.
//!
//! - Users: list (`customer`, `maxResults` ≤ 500, `pageToken`), get (`userKey` = id or primary
//!   email), insert, patch, delete
//!   (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/users>).
//! - Deactivate is `suspended: true`: the user cannot sign in, and keeps their data and license.
//! - Delete is permanent for Tenure: an admin can restore the user (users.undelete) for 20 days,
//!   after which Google erases the account and its data
//!   (<https://support.google.com/a/answer/1397578>).
//! - Groups (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups>)
//!   and their members (<https://developers.google.com/workspace/admin/directory/reference/rest/v1/members>):
//!   groups are named in Tenure by their address, without the domain when it is the app's
//!   primary domain (`engineering` is `engineering@example.com`); membership changes are diffs,
//!   one member per request as the API takes them.
//!
//! - Drive files of a departing user go to a recipient first where the app's offboarding policy
//!   says so, through the Data Transfer API ([`transfer`]), with its own scope.
//! - Licenses, where the app's settings name the SKUs Tenure manages, through the Enterprise
//!   License Manager API ([`licensing`]), with its own scope: each account's `license` is its
//!   tier, and a change of it is an assignment, a move to another SKU, or a revocation.
//!
//! Authentication reuses the directory source's service account (a JWT signed with the account's
//! key, naming the admin it acts for) with the read-write scopes.

mod error;
mod groups;
pub mod licensing;
pub mod map;
pub mod transfer;

use std::collections::HashSet;
use std::sync::Arc;

use rand::Rng;
use reqwest::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{GoogleLicenseSku, GoogleWorkspaceTarget, RemoteAccount, RemoteGroup, Secret};
use tenure_sources::cloud_http::{Http, HttpOptions, Service, admin_url};
use tenure_sources::google::ServiceAccount;
use url::Url;

use crate::client::{ClientOptions, error_chain, retry_after, retry_wait};
use crate::connector::{Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
use crate::error::{ConnectorError, TransportKind};
use crate::ratelimit::RateLimiter;
use error::{shown, status_error, token_error};

/// The Admin SDK's endpoint; the app's base URL overrides it (tests, proxies).
pub const DEFAULT_API_URL: &str = "https://admin.googleapis.com";

/// Read-write users and groups (members included).
/// <https://developers.google.com/workspace/admin/directory/v1/guides/authorizing>
pub const SCOPES: &str =
    "https://www.googleapis.com/auth/admin.directory.user https://www.googleapis.com/auth/admin.directory.group";

/// Largest pages the API serves.
const MAX_USER_PAGE: u32 = 500;
const MAX_GROUP_PAGE: u32 = 200;

/// Length of the random initial password (Google accepts 8 to 100 characters).
const PASSWORD_LEN: usize = 32;

#[derive(Debug)]
pub struct GoogleWorkspace {
    http: reqwest::Client,
    /// For the token endpoint only: the source's HTTP client, which knows Google's token errors.
    token_http: Http,
    account: Arc<ServiceAccount>,
    /// The same service account asking only for the Data Transfer scope: an app without a
    /// transfer policy never needs it delegated.
    transfer_account: Arc<ServiceAccount>,
    /// The same service account asking only for the License Manager scope (used only when the
    /// settings name SKUs).
    licensing_account: Arc<ServiceAccount>,
    /// `…/apps/licensing/v1`.
    licensing: Url,
    /// The SKUs Tenure manages, in the settings' order.
    license_skus: Vec<GoogleLicenseSku>,
    /// License Manager's `customerId`: the customer id, or the primary domain for
    /// `my_customer`, which License Manager does not document.
    license_customer: String,
    /// `…/admin/directory/v1`, without a trailing slash.
    api: Url,
    /// `…/admin/datatransfer/v1/transfers`.
    transfers: Url,
    customer: String,
    /// Lowercased primary domain.
    domain: String,
    org_unit_path: Option<String>,
    change_password_at_next_login: bool,
    options: ClientOptions,
    limiter: Option<Arc<RateLimiter>>,
}

impl GoogleWorkspace {
    /// `api_url` is the Admin SDK's root (empty for [`DEFAULT_API_URL`]); `key_json` the service
    /// account's JSON key, which never appears in an error or a log line.
    pub fn new(
        api_url: &str,
        target: &GoogleWorkspaceTarget,
        key_json: &Secret,
        options: ClientOptions,
    ) -> Result<Self, ConnectorError> {
        let account = ServiceAccount::from_key_json(
            key_json.expose().as_bytes(),
            "the app's service account key",
            &target.admin,
            target.token_url.as_deref(),
        )
        .map_err(token_error)?
        .with_scopes(SCOPES);
        let transfer_account = ServiceAccount::from_key_json(
            key_json.expose().as_bytes(),
            "the app's service account key",
            &target.admin,
            target.token_url.as_deref(),
        )
        .map_err(token_error)?
        .with_scopes(transfer::SCOPE);
        let licensing_account = ServiceAccount::from_key_json(
            key_json.expose().as_bytes(),
            "the app's service account key",
            &target.admin,
            target.token_url.as_deref(),
        )
        .map_err(token_error)?
        .with_scopes(licensing::SCOPE);
        let licensing = Self::licensing_root(api_url)?;
        let raw = if api_url.trim().is_empty() { DEFAULT_API_URL } else { api_url.trim() };
        let root = admin_url(Service::Google, "API URL", raw).map_err(token_error)?;
        let under = |segments: &[&str]| -> Result<Url, ConnectorError> {
            let mut url = root.clone();
            url.path_segments_mut()
                .map_err(|_| ConnectorError::Config(format!("API URL {raw:?}")))?
                .pop_if_empty()
                .extend(segments);
            Ok(url)
        };
        let api = under(&["admin", "directory", "v1"])?;
        let transfers = under(&["admin", "datatransfer", "v1", "transfers"])?;
        let customer = target.customer.trim();
        if customer.is_empty() {
            return Err(ConnectorError::Config("the Google Workspace customer must not be empty".into()));
        }
        let domain = target.domain.trim().trim_start_matches('@').to_lowercase();
        if domain.is_empty() || !domain.contains('.') || domain.contains(['@', '/', ' ']) {
            return Err(ConnectorError::Config(format!("{:?} is not a domain name", target.domain)));
        }
        let license_customer = if customer == "my_customer" { domain.clone() } else { customer.to_owned() };
        if options.page_size == 0 {
            return Err(ConnectorError::Config("page_size must be at least 1".into()));
        }
        let token_options = HttpOptions {
            timeout: options.timeout,
            connect_timeout: options.connect_timeout,
            // The connector retries the whole request; the token request gets one quick retry.
            max_attempts: 2,
            initial_backoff: options.initial_backoff,
            max_retry_wait: options.max_retry_wait,
            ..HttpOptions::default()
        };
        let token_http = Http::new(Service::Google, token_options).map_err(token_error)?;
        // The address policy and no redirects (one could carry the bearer token to another host).
        let http = tenure_outbound::client_builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| ConnectorError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            http,
            token_http,
            account: Arc::new(account),
            transfer_account: Arc::new(transfer_account),
            licensing_account: Arc::new(licensing_account),
            licensing,
            license_skus: target.license_skus.clone(),
            license_customer,
            api,
            transfers,
            customer: customer.to_owned(),
            domain,
            org_unit_path: target.org_unit_path.clone().filter(|p| !p.trim().is_empty()),
            change_password_at_next_login: target.change_password_at_next_login,
            options,
            limiter: None,
        })
    }

    /// Sends every request through `limiter` (and tells it when Google says to slow down).
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        // `api` was checked to be a base URL in `new`.
        crate::rest_base::joined(&self.api, segments)
    }

    fn user_url(&self, user_key: &str) -> Result<Url, ConnectorError> {
        if user_key.trim().is_empty() {
            return Err(ConnectorError::InvalidRequest("empty user key".into()));
        }
        Ok(self.endpoint(&["users", user_key]))
    }

    /// Sends with retries (throttling, 5xx, transport failures), pacing through the limiter and
    /// renewing a refused access token once. `Ok(None)` is a success without a body (delete).
    async fn send(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        self.send_as(&self.account, method, url, query, body).await
    }

    /// [`Self::send`] with the token of `account` (one asking for other scopes).
    async fn send_as(
        &self,
        account: &ServiceAccount,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        let payload =
            body.map(serde_json::to_vec).transpose().map_err(|e| ConnectorError::InvalidRequest(e.to_string()))?;
        let mut retries = 0;
        let mut renewed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.acquire().await?;
            }
            let result = match account.token(&self.token_http).await {
                Ok(token) => self.attempt(&method, url, query, payload.as_deref(), &token).await,
                Err(e) => Err(token_error(e)),
            };
            if let Err(e) = &result {
                // A cached token Google no longer accepts (delegation changed, token revoked): one
                // fresh token before the 401 stands.
                if e.status() == Some(401)
                    && !renewed
                    && matches!(e, ConnectorError::Vendor { code, .. } if code == "authError")
                {
                    renewed = true;
                    account.forget_token().await;
                    tracing::debug!(%method, url = %shown(url), "Google refused the access token; fetching a new one");
                    continue;
                }
                if e.status() == Some(429)
                    && let Some(limiter) = &self.limiter
                {
                    limiter.hold_off(retry_wait(&self.options, e, 0));
                }
            }
            match result {
                Err(e) if e.is_retryable() && retries < self.options.max_retries => {
                    let wait = retry_wait(&self.options, &e, retries);
                    retries += 1;
                    if e.status() == Some(429) {
                        tracing::debug!(%method, url = %shown(url), retry = retries, wait_ms = wait.as_millis() as u64, "throttled by Google; backing off");
                    } else {
                        tracing::warn!(%method, url = %shown(url), retry = retries, wait_ms = wait.as_millis() as u64, error = %e, "Google Workspace request failed; retrying");
                    }
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        query: &[(&str, String)],
        payload: Option<&[u8]>,
        token: &Secret,
    ) -> Result<Option<Value>, ConnectorError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("tenure/", env!("CARGO_PKG_VERSION")));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(payload) = payload {
            request = request.header(CONTENT_TYPE, "application/json").body(payload.to_vec());
        }
        tenure_outbound::check_url_host(url).map_err(|r| ConnectorError::Config(r.to_string()))?;
        let transport = |e: reqwest::Error| {
            if let Some(refused) = tenure_outbound::refusal_in(&e) {
                return ConnectorError::Config(refused.to_string());
            }
            let kind = if e.is_timeout() {
                TransportKind::Timeout
            } else if e.is_connect() {
                TransportKind::Connect
            } else {
                TransportKind::Io
            };
            ConnectorError::Transport { kind, method: method.to_string(), url: shown(url), message: error_chain(&e) }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = match tenure_outbound::read_body(response, tenure_outbound::MAX_RESPONSE_BODY).await {
            Ok(bytes) => bytes,
            Err(tenure_outbound::BodyError::Http(e)) => return Err(transport(e)),
            Err(too_large) => {
                return Err(ConnectorError::InvalidResponse {
                    method: method.to_string(),
                    url: shown(url),
                    message: too_large.to_string(),
                });
            }
        };
        if !status.is_success() {
            return Err(status_error(method, url, status.as_u16(), wait, &bytes));
        }
        if status == StatusCode::NO_CONTENT || bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| ConnectorError::InvalidResponse {
            method: method.to_string(),
            url: shown(url),
            message: format!("not JSON: {e}"),
        })
    }

    /// A request whose answer must have a body.
    async fn send_for_body(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        self.send(method.clone(), url, query, body).await?.ok_or_else(|| ConnectorError::InvalidResponse {
            method: method.to_string(),
            url: shown(url),
            message: "empty body".into(),
        })
    }

    /// Every item of a paged list, following `nextPageToken` until it is absent.
    async fn list_pages(&self, url: &Url, query: &[(&str, String)], key: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut all = Vec::new();
        let mut seen_tokens = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = query.to_vec();
            if let Some(t) = &token {
                params.push(("pageToken", t.clone()));
            }
            let page = self.send_for_body(Method::GET, url, &params, None).await?;
            match page.get(key) {
                Some(Value::Array(items)) => all.extend(items.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => return Err(self.invalid(&Method::GET, url, format!("{key} is not an array"))),
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                None => return Ok(all),
                // A server handing back a token it already gave would loop us forever.
                Some(next) if !seen_tokens.insert(next.to_owned()) => {
                    return Err(self.invalid(&Method::GET, url, "nextPageToken repeats an earlier page".into()));
                }
                Some(next) => token = Some(next.to_owned()),
            }
        }
    }

    fn invalid(&self, method: &Method, url: &Url, message: String) -> ConnectorError {
        ConnectorError::InvalidResponse { method: method.to_string(), url: shown(url), message }
    }

    fn page_size(&self, max: u32) -> String {
        self.options.page_size.min(max).to_string()
    }

    fn account(&self, method: &Method, url: &Url, raw: &Value) -> Result<RemoteAccount, ConnectorError> {
        map::account_from_user(raw).map_err(|m| self.invalid(method, url, m))
    }

    /// Users matching a users.list search `query`, or everyone when `None`; one user listed twice
    /// (the listing shifted while paged) is kept once.
    async fn users(&self, query: Option<String>) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let url = self.endpoint(&["users"]);
        let mut params = vec![("customer", self.customer.clone()), ("maxResults", self.page_size(MAX_USER_PAGE))];
        if let Some(q) = query {
            params.push(("query", q));
        }
        let raw = self.list_pages(&url, &params, "users").await?;
        let mut seen = HashSet::new();
        let mut accounts = Vec::with_capacity(raw.len());
        for user in &raw {
            let account = self.account(&Method::GET, &url, user)?;
            if seen.insert(account.remote_id.clone()) {
                accounts.push(account);
            }
        }
        Ok(accounts)
    }

    /// The user, with its tier where the app manages licenses.
    pub async fn get_user(&self, user_key: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        self.with_license(self.get_plain(user_key).await?).await
    }

    async fn get_plain(&self, user_key: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        Ok(match self.get_raw(user_key).await? {
            Some(raw) => Some(self.account(&Method::GET, &self.user_url(user_key)?, &raw)?),
            None => None,
        })
    }

    async fn get_raw(&self, user_key: &str) -> Result<Option<Value>, ConnectorError> {
        let url = self.user_url(user_key)?;
        match self.send_for_body(Method::GET, &url, &[], None).await {
            Ok(raw) => Ok(Some(raw)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The one account whose `attribute` equals `value` (case-insensitively for addresses).
    /// userName is a users.get by primary email; externalId and email are users.list searches,
    /// checked here against what comes back; anything else, or a value the search syntax cannot
    /// quote, is matched in a full listing. Google's `email` search covers primary addresses and
    /// aliases only, so an email search that finds nothing is repeated on a full listing (the
    /// address may be a work address in `emails`). A failed lookup is an error, never "not
    /// found".
    pub async fn find_user(&self, attribute: &str, value: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        self.with_license(self.find_plain(attribute, value).await?).await
    }

    async fn find_plain(&self, attribute: &str, value: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let query = match attribute {
            attr::USER_NAME => {
                // A user found by an alias has another primaryEmail: not this userName.
                let found = self.get_plain(value).await?;
                return Ok(found.filter(|a| a.user_name().eq_ignore_ascii_case(value)));
            }
            attr::EXTERNAL_ID => map::exact_query("externalId", value),
            attr::EMAIL => map::exact_query("email", value),
            _ => None,
        };
        let searched = query.is_some();
        let mut matching = self.users_matching(query, attribute, value).await?;
        if matching.is_empty() && searched && attribute == attr::EMAIL {
            matching = self.users_matching(None, attribute, value).await?;
        }
        match matching.len() {
            0 => Ok(None),
            1 => Ok(matching.pop()),
            count => Err(ConnectorError::Ambiguous { filter: format!("{attribute} = {value:?}"), count }),
        }
    }

    async fn users_matching(
        &self,
        query: Option<String>,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let case_blind = matches!(attribute, attr::EMAIL | attr::USER_NAME);
        let candidates = self.users(query).await?;
        Ok(candidates
            .into_iter()
            .filter(|a| {
                a.attributes
                    .get(attribute)
                    .is_some_and(|v| if case_blind { v.eq_ignore_ascii_case(value) } else { v == value })
            })
            .collect())
    }

    /// Creates an active user with a random password nobody sees (people sign in through SSO, or
    /// an admin resets it). A taken primaryEmail is [`ConnectorError::Conflict`].
    pub async fn create_user(&self, attributes: &Attributes) -> Result<RemoteAccount, ConnectorError> {
        self.create_user_with(attributes, true).await
    }

    /// Inserts the user active or suspended: the User resource's writable `suspended` field in
    /// the `users.insert` body itself, for an account prepared ahead of its person's start date.
    pub async fn create_user_with(
        &self,
        attributes: &Attributes,
        active: bool,
    ) -> Result<RemoteAccount, ConnectorError> {
        let (attributes, license) = split_license(attributes);
        // A license the app cannot give is refused before the user exists, not after.
        if let Some(tier) = &license {
            self.check_tier(tier)?;
        }
        let attributes = &attributes;
        let mut user = map::user_for_insert(attributes)?;
        if !active {
            user.insert("suspended".into(), json!(true));
        }
        if !user.contains_key("orgUnitPath")
            && let Some(path) = &self.org_unit_path
        {
            user.insert("orgUnitPath".into(), json!(path));
        }
        user.insert("password".into(), json!(random_password().expose()));
        user.insert("changePasswordAtNextLogin".into(), json!(self.change_password_at_next_login));
        let url = self.endpoint(&["users"]);
        let created = self.send_for_body(Method::POST, &url, &[], Some(&Value::Object(user))).await?;
        let mut account = self.account(&Method::POST, &url, &created)?;
        tracing::debug!(remote_id = %account.remote_id, "Google Workspace user created");
        if let Some(tier) = license {
            // The account exists whatever happens to its license: a refused license is the next
            // plan's license change, and fails there with Google's reason. Google may have
            // licensed the new user itself (automatic licensing): set_license moves that SKU.
            let email = account.user_name().to_owned();
            match self.set_license(&email, Some(&tier)).await {
                Ok(()) => {
                    account.attributes.insert(attr::LICENSE, tier.as_str());
                }
                Err(e) => {
                    tracing::warn!(user = %email, license = %tier, error = %e, "Google user created without its license")
                }
            }
        }
        Ok(account)
    }

    /// Refuses a tier the app does not manage (or any, without SKUs in the settings).
    fn check_tier(&self, tier: &str) -> Result<(), ConnectorError> {
        if !self.manages_licenses() {
            return Err(ConnectorError::Unsupported {
                operation: format!(
                    "assign the license {tier:?}: this Google Workspace app names no License Manager SKUs (tenure \
                     app edit APP --license-skus PRODUCT:SKU=TIER,...)"
                ),
            });
        }
        let known = self.license_skus.iter().any(|s| s.tier == tier.trim());
        if known {
            Ok(())
        } else {
            let tiers: Vec<&str> = self.license_skus.iter().map(|s| s.tier.as_str()).collect();
            Err(ConnectorError::InvalidRequest(format!(
                "license {tier:?} is no SKU this app manages (its tiers: {})",
                tiers.join(", ")
            )))
        }
    }

    /// `account` with its tier, read per SKU, where the app manages licenses.
    async fn with_license(&self, account: Option<RemoteAccount>) -> Result<Option<RemoteAccount>, ConnectorError> {
        let Some(mut account) = account else { return Ok(None) };
        if self.manages_licenses()
            && let Some(tier) = self.license_of(account.user_name()).await?
        {
            account.attributes.insert(attr::LICENSE, tier.as_str());
        }
        Ok(Some(account))
    }

    /// Every user, each with its tier where the app manages licenses: one listing per SKU,
    /// matched to users by primary email (License Manager's `userId`).
    pub async fn list_licensed_users(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let mut accounts = self.users(None).await?;
        if self.manages_licenses() {
            let tiers = self.license_tiers().await?;
            for account in &mut accounts {
                if let Some(tier) = tiers.get(&account.user_name().to_lowercase()) {
                    account.attributes.insert(attr::LICENSE, tier.as_str());
                }
            }
        }
        Ok(accounts)
    }

    /// Reads the user, then patches only the fields that change (lists written whole, keeping the
    /// entries Tenure does not manage).
    /// A `license` change (an empty value removes it) is made through License Manager after
    /// the user's own fields.
    pub async fn update_user(&self, remote_id: &str, changes: &Attributes) -> Result<(), ConnectorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let (changes, license) = (split_license(changes).0, changes.get(attr::LICENSE).map(|l| l.trim().to_owned()));
        let wanted = license.as_ref().map(|l| Some(l.as_str()).filter(|l| !l.is_empty()));
        if let Some(Some(tier)) = wanted {
            self.check_tier(tier)?;
        }
        if wanted.is_some() && !self.manages_licenses() {
            return Err(ConnectorError::Unsupported {
                operation: "remove a license: this Google Workspace app names no License Manager SKUs".into(),
            });
        }
        let url = self.user_url(remote_id)?;
        let current = self.get_raw(remote_id).await?.ok_or_else(|| ConnectorError::NotFound {
            method: "GET".into(),
            url: shown(&url),
            detail: Some("the user to update is gone".into()),
        })?;
        let patch = map::patch_for_changes(&current, &changes)?;
        if !patch.is_empty() {
            self.send(Method::PATCH, &url, &[], Some(&Value::Object(patch))).await?;
        }
        if let Some(wanted) = wanted {
            // License Manager names users by their current primary email.
            let email = changes
                .get(attr::USER_NAME)
                .map(|u| u.trim().to_owned())
                .or_else(|| current.get("primaryEmail").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            if email.is_empty() {
                return Err(self.invalid(&Method::GET, &url, "the user has no primaryEmail".into()));
            }
            self.set_license(&email, wanted).await?;
        }
        Ok(())
    }

    /// Suspends (`active == false`) or unsuspends the user.
    pub async fn set_active(&self, remote_id: &str, active: bool) -> Result<(), ConnectorError> {
        let url = self.user_url(remote_id)?;
        let mut body = Map::new();
        body.insert("suspended".into(), json!(!active));
        self.send(Method::PATCH, &url, &[], Some(&Value::Object(body))).await.map(drop)
    }

    /// Deletes the user (restorable by an admin for 20 days). Already gone is
    /// [`ConnectorError::NotFound`].
    pub async fn delete_user(&self, remote_id: &str) -> Result<(), ConnectorError> {
        let url = self.user_url(remote_id)?;
        self.send(Method::DELETE, &url, &[], None).await.map(drop)
    }
}

/// `attributes` without `license`, and the license asked for (`None` when absent or empty).
fn split_license(attributes: &Attributes) -> (Attributes, Option<String>) {
    let mut rest = attributes.clone();
    let license = rest.remove(attr::LICENSE).map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    (rest, license)
}

/// A password from the thread-local CSPRNG (ChaCha-based), held as a [`Secret`] so it cannot
/// reach a log line.
fn random_password() -> Secret {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.!@#%+=";
    let mut rng = rand::rng();
    Secret::new((0..PASSWORD_LEN).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect::<String>())
}

impl Connector for GoogleWorkspace {
    fn describe(&self) -> Descriptor {
        use Operation::*;
        Descriptor {
            kind: "google_workspace",
            operations: if self.manages_licenses() {
                [List, Get, Find, Create, Update, Activate, Deactivate, Delete, Groups, GroupMembership, Licenses]
                    .into()
            } else {
                [List, Get, Find, Create, Update, Activate, Deactivate, Delete, Groups, GroupMembership].into()
            },
            deactivate: DeactivateMeaning::Suspend,
            // Restorable by an admin for 20 days, then gone with its data.
            delete: DeleteMeaning::Permanent,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(self.list_licensed_users())
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(GoogleWorkspace::get_user(self, remote_id))
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(GoogleWorkspace::find_user(self, attribute, value))
    }

    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(GoogleWorkspace::create_user(self, attributes))
    }

    fn create_inactive_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(GoogleWorkspace::create_user_with(self, attributes, false))
    }

    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(GoogleWorkspace::update_user(self, remote_id, changes))
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(GoogleWorkspace::set_active(self, remote_id, active))
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(GoogleWorkspace::delete_user(self, remote_id))
    }

    fn list_groups(&self) -> ConnectorFuture<'_, Vec<RemoteGroup>> {
        Box::pin(GoogleWorkspace::list_groups(self))
    }

    fn create_group<'a>(&'a self, name: &'a str, members: &'a [String]) -> ConnectorFuture<'a, RemoteGroup> {
        Box::pin(GoogleWorkspace::create_group(self, name, members))
    }

    fn change_group_members<'a>(
        &'a self,
        group_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> ConnectorFuture<'a, ()> {
        Box::pin(GoogleWorkspace::change_group_members(self, group_id, add, remove))
    }

    fn transfer_files<'a>(
        &'a self,
        remote_id: &'a str,
        recipient: &'a str,
        since_ms: i64,
    ) -> ConnectorFuture<'a, crate::FileTransfer> {
        Box::pin(GoogleWorkspace::transfer_drive(self, remote_id, recipient, since_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_hidden() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.expose().len(), PASSWORD_LEN);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?} {a}"), "Secret(***) ***");
    }
}
