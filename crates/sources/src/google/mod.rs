//! Google Workspace through the Admin SDK Directory API: users, groups and their direct members,
//! read with a service account acting for an admin (domain-wide delegation).
//!
//! Every sync is a full snapshot. The Directory API has no delta listing; its only change feed is
//! the `users.watch` push channel (`watch.rs`), which says only "something changed": under
//! `serve` with a public URL a notification makes the engine sync the source at once, and
//! polling stays the safety net.
//! Org units are not listed separately (`orgunits.list`): each user carries its `orgUnitPath`,
//! and nothing else in Tenure needs the empty units.
//!
//! Contracts: users.list <https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list>,
//! groups.list <https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups/list>,
//! members.list <https://developers.google.com/workspace/admin/directory/reference/rest/v1/members/list>.

pub mod auth;
pub mod map;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenure_core::import::{ImportBatch, ImportGroup};
use url::Url;

use crate::cloud_http::{CloudError, Http, HttpOptions, Service, admin_url, bounded, redact_url};
pub use auth::ServiceAccount;

pub const DEFAULT_BASE_URL: &str = "https://admin.googleapis.com";

/// How to reach a Google Workspace directory. Holds a path to the key file, never the key.
// No `deny_unknown_fields`: the engine stores this flattened with its own settings (scope, guard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoogleConfig {
    /// The service account's JSON key file.
    pub key_file: PathBuf,
    /// The admin the service account acts for.
    pub admin: String,
    /// `my_customer` (the admin's own account) or a customer id.
    #[serde(default = "default_customer")]
    pub customer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Overrides the key file's `token_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

fn default_customer() -> String {
    "my_customer".to_owned()
}

/// Largest pages the API serves: 500 users, 200 groups or members.
const MAX_USER_PAGE: u32 = 500;
const MAX_GROUP_PAGE: u32 = 200;

#[derive(Debug)]
struct Inner {
    http: Http,
    account: ServiceAccount,
    /// `…/admin/directory/v1`, without a trailing slash.
    api: Url,
    customer: String,
}

#[derive(Debug, Clone)]
pub struct GoogleSource {
    inner: Arc<Inner>,
}

fn config_error(reason: String) -> CloudError {
    CloudError::Config { service: Service::Google, reason }
}

fn invalid(url: &Url, message: String) -> CloudError {
    CloudError::InvalidResponse { service: Service::Google, url: redact_url(url), message }
}

impl GoogleSource {
    pub fn new(config: &GoogleConfig, options: HttpOptions) -> Result<Self, CloudError> {
        let account = ServiceAccount::from_key_file(&config.key_file, &config.admin, config.token_url.as_deref())?;
        Self::with_account(config, account, options)
    }

    pub fn with_account(
        config: &GoogleConfig,
        account: ServiceAccount,
        options: HttpOptions,
    ) -> Result<Self, CloudError> {
        let raw = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let mut api = admin_url(Service::Google, "base URL", raw)?;
        api.path_segments_mut().map_err(|_| config_error(format!("base URL {raw:?}")))?.pop_if_empty().extend([
            "admin",
            "directory",
            "v1",
        ]);
        if config.customer.trim().is_empty() {
            return Err(config_error("customer must not be empty".into()));
        }
        let http = Http::new(Service::Google, options)?;
        Ok(Self { inner: Arc::new(Inner { http, account, api, customer: config.customer.trim().to_owned() }) })
    }

    /// The whole directory: every user, every group with its parents, every direct membership.
    /// Any failure (after retries) fails the whole fetch.
    pub async fn fetch(&self) -> Result<ImportBatch, CloudError> {
        let started = std::time::Instant::now();
        let (users, groups) = tokio::try_join!(self.inner.list_users(), self.inner.list_groups())?;
        let group_ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let inner = self.inner.clone();
        let limit = inner.http.options.concurrency;
        let members = bounded(Service::Google, group_ids, limit, move |id| {
            let inner = inner.clone();
            async move { inner.list_members(&id).await }
        })
        .await?;
        let batch = assemble(users, groups, members);
        tracing::info!(
            people = batch.people.len(),
            groups = batch.groups.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Google Workspace directory read"
        );
        Ok(batch)
    }
}

/// A group as listed; its name in Tenure is its email address, the one unique, admin-facing
/// handle a Google group has (display names repeat).
#[derive(Debug)]
struct ListedGroup {
    id: String,
    email: String,
}

#[derive(Debug, Default)]
struct Members {
    users: Vec<String>,
    groups: Vec<String>,
    /// A `CUSTOMER` member: everyone in the account belongs.
    everyone: bool,
}

impl Inner {
    fn page(&self, max: u32) -> String {
        self.http.options.page_size.unwrap_or(max).min(max).to_string()
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        // The API URL was checked to be a base in `with_account`.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Every item of a paged list, following `nextPageToken` until it is absent.
    async fn list_all(&self, base: Url, query: &[(&str, String)], key: &str) -> Result<Vec<Value>, CloudError> {
        let mut all = Vec::new();
        let mut seen_tokens = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = base.clone();
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in query {
                    pairs.append_pair(k, v);
                }
                if let Some(t) = &token {
                    pairs.append_pair("pageToken", t);
                }
            }
            let access = self.account.token(&self.http).await?;
            let body = self.http.get_json(&url, &access).await?;
            match body.get(key) {
                Some(Value::Array(items)) => all.extend(items.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => return Err(invalid(&url, format!("{key} is not an array"))),
            }
            match body.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                None => return Ok(all),
                Some(next) => {
                    // A server handing back a token it already gave would loop us forever.
                    if !seen_tokens.insert(next.to_owned()) {
                        return Err(invalid(&url, "nextPageToken repeats an earlier page".into()));
                    }
                    token = Some(next.to_owned());
                }
            }
        }
    }

    async fn list_users(&self) -> Result<Vec<map::MappedUser>, CloudError> {
        let url = self.endpoint(&["users"]);
        let query = [
            ("customer", self.customer.clone()),
            ("maxResults", self.page(MAX_USER_PAGE)),
            ("projection", "full".to_owned()),
            ("fields", map::USER_FIELDS.to_owned()),
        ];
        let raw = self.list_all(url.clone(), &query, "users").await?;
        let mut seen = HashSet::new();
        let mut users = Vec::with_capacity(raw.len());
        for (i, user) in raw.iter().enumerate() {
            let mapped = map::map_user(user).map_err(|e| invalid(&url, format!("user #{}: {e}", i + 1)))?;
            // The listing may shift while it is paged; one user twice is kept once.
            if seen.insert(mapped.person.source_key.clone()) {
                users.push(mapped);
            }
        }
        Ok(users)
    }

    async fn list_groups(&self) -> Result<Vec<ListedGroup>, CloudError> {
        let url = self.endpoint(&["groups"]);
        let query = [
            ("customer", self.customer.clone()),
            ("maxResults", self.page(MAX_GROUP_PAGE)),
            ("fields", "nextPageToken,groups(id,email)".to_owned()),
        ];
        let raw = self.list_all(url.clone(), &query, "groups").await?;
        let mut seen = HashSet::new();
        let mut groups = Vec::with_capacity(raw.len());
        for (i, g) in raw.iter().enumerate() {
            let field = |k: &str| g.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
            let (Some(id), Some(email)) = (field("id"), field("email")) else {
                return Err(invalid(&url, format!("group #{} lacks an id or email", i + 1)));
            };
            if seen.insert(id.to_owned()) {
                groups.push(ListedGroup { id: id.to_owned(), email: email.to_owned() });
            }
        }
        Ok(groups)
    }

    async fn list_members(&self, group_id: &str) -> Result<Members, CloudError> {
        let url = self.endpoint(&["groups", group_id, "members"]);
        let query =
            [("maxResults", self.page(MAX_GROUP_PAGE)), ("fields", "nextPageToken,members(id,type)".to_owned())];
        let raw = self.list_all(url.clone(), &query, "members").await?;
        let mut members = Members::default();
        for m in raw {
            let id = m.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            match m.get("type").and_then(Value::as_str) {
                Some("USER") if !id.is_empty() => members.users.push(id),
                Some("GROUP") if !id.is_empty() => members.groups.push(id),
                Some("CUSTOMER") => members.everyone = true,
                // EXTERNAL members are outside the directory; they are nobody Tenure provisions.
                _ => {}
            }
        }
        Ok(members)
    }
}

/// The snapshot: people with their direct groups (by group email), groups with their parents.
/// Members that are not among the listed users (external accounts listed as USER, users of
/// another customer) are ignored: Tenure provisions only the directory's own people.
fn assemble(users: Vec<map::MappedUser>, groups: Vec<ListedGroup>, members: Vec<Members>) -> ImportBatch {
    let mut people = map::resolve_managers(users);
    let name_of: HashMap<&str, &str> = groups.iter().map(|g| (g.id.as_str(), g.email.as_str())).collect();
    let index: HashMap<String, usize> = people.iter().enumerate().map(|(i, p)| (p.source_key.clone(), i)).collect();
    let mut parents: BTreeMap<&str, BTreeSet<&str>> =
        groups.iter().map(|g| (g.email.as_str(), BTreeSet::new())).collect();
    let mut direct: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); people.len()];
    for (group, m) in groups.iter().zip(&members) {
        let name = group.email.as_str();
        if m.everyone {
            direct.iter_mut().for_each(|d| {
                d.insert(name);
            });
        }
        for user in &m.users {
            if let Some(&i) = index.get(user) {
                direct[i].insert(name);
            }
        }
        for child in &m.groups {
            if let Some(child_name) = name_of.get(child.as_str()) {
                parents.entry(child_name).or_default().insert(name);
            }
        }
    }
    for (person, groups) in people.iter_mut().zip(direct) {
        person.groups = groups.into_iter().map(str::to_owned).collect();
    }
    let groups = parents
        .into_iter()
        .map(|(name, ps)| ImportGroup { name: name.to_owned(), parents: ps.into_iter().map(str::to_owned).collect() })
        .collect();
    ImportBatch { people, groups }
}
