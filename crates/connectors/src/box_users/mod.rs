//! Box as a target, through its users API (no public SCIM contract): managed users are
//! created, updated, deactivated (`status: inactive`), re-activated and deleted, and listed with
//! markers. What each call does follows Box's reference, cited in `http.rs` and below; the
//! documented facts are in the catalog (`catalog/box.toml`).
//!
//! - `POST /users` (`login`, `name`, `job_title`, `status`): 201 with the user
//!   (<https://developer.box.com/reference/post-users/>, <https://developer.box.com/guides/users/create-managed-user/>).
//! - `PUT /users/{id}`: changed fields; `status` `active` / `inactive`
//!   (<https://developer.box.com/reference/put-users-id/>).
//! - `DELETE /users/{id}`: 204; refused while the user owns content unless `force=true`, which
//!   Tenure never sends (the files would go too) (<https://developer.box.com/reference/delete-users-id/>).
//! - `GET /users?filter_term=`: users whose `name` or `login` starts with the term
//!   (<https://developer.box.com/reference/get-users/>).

mod http;

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Map, Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{RemoteAccount, Secret};

use crate::client::ClientOptions;
use crate::connector::{Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
use crate::error::ConnectorError;
use http::Rest;

/// The most users one list page may return.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone)]
pub struct BoxUsers {
    rest: Rest,
}

impl BoxUsers {
    /// `base`: the API root, `https://api.box.com/2.0`; `token`: an access token of an app a Box
    /// admin authorised.
    pub fn new(base: &str, token: Secret, options: ClientOptions) -> Result<Self, ConnectorError> {
        Ok(Self { rest: Rest::new(base, token, options)? })
    }

    /// Access tokens from an OAuth token source (Box's client credentials grant, a refreshed
    /// authorization-code grant) instead of one static token, which these vendors let expire.
    pub fn with_access_tokens(mut self, source: Arc<dyn crate::bearer::AccessTokens>) -> Self {
        self.rest = self.rest.with_access_tokens(source);
        self
    }

    pub fn with_rate_limiter(mut self, limiter: Arc<crate::RateLimiter>) -> Self {
        self.rest = self.rest.with_rate_limiter(limiter);
        self
    }

    async fn list_all(&self, filter_term: Option<&str>) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let limit = self.rest.options.page_size.clamp(1, MAX_PAGE).to_string();
        let mut marker: Option<String> = None;
        let mut seen_markers = BTreeSet::new();
        let mut accounts = Vec::new();
        loop {
            let mut url = self.rest.url(&["users"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("usemarker", "true").append_pair("limit", &limit).append_pair("user_type", "managed");
                if let Some(term) = filter_term {
                    q.append_pair("filter_term", term);
                }
                if let Some(m) = &marker {
                    q.append_pair("marker", m);
                }
            }
            let page = self.rest.send(Method::GET, &url, None).await?;
            let entries = page["entries"].as_array().ok_or_else(|| ConnectorError::InvalidResponse {
                method: "GET".into(),
                url: url.to_string(),
                message: "a user list without entries".into(),
            })?;
            for entry in entries {
                accounts.push(account_of(entry).ok_or_else(|| invalid(&url, "a user without an id"))?);
            }
            match page["next_marker"].as_str().filter(|m| !m.is_empty()) {
                // A marker handed out twice would page forever and list users twice.
                Some(next) if !seen_markers.insert(next.to_owned()) => {
                    return Err(invalid(&url, "Box handed out the same next_marker twice"));
                }
                Some(next) => marker = Some(next.to_owned()),
                None => return Ok(accounts),
            }
        }
    }

    async fn put(&self, remote_id: &str, body: &Value) -> Result<(), ConnectorError> {
        let url = self.rest.url(&["users", remote_id]);
        self.rest.send(Method::PUT, &url, Some(body)).await.map(|_| ())
    }
}

fn invalid(url: &url::Url, message: &str) -> ConnectorError {
    ConnectorError::InvalidResponse { method: "GET".into(), url: url.to_string(), message: message.into() }
}

/// A Box user as Tenure's attributes: `login` is both userName and email.
fn account_of(user: &Value) -> Option<RemoteAccount> {
    let id = user["id"].as_str()?;
    let mut attributes = Attributes::new();
    if let Some(login) = user["login"].as_str() {
        attributes.insert(attr::USER_NAME, login);
        attributes.insert(attr::EMAIL, login);
    }
    if let Some(name) = user["name"].as_str() {
        attributes.insert(attr::DISPLAY_NAME, name);
    }
    if let Some(title) = user["job_title"].as_str().filter(|t| !t.is_empty()) {
        attributes.insert(attr::TITLE, title);
    }
    Some(RemoteAccount { remote_id: id.to_owned(), active: user["status"] == "active", attributes })
}

/// The display name Box requires: the person's, else given and family name, else the login.
fn name_of(attributes: &Attributes) -> Option<String> {
    if let Some(name) = attributes.get(attr::DISPLAY_NAME).filter(|n| !n.is_empty()) {
        return Some(name.clone());
    }
    let parts: Vec<&str> = [attr::GIVEN_NAME, attr::FAMILY_NAME]
        .iter()
        .filter_map(|a| attributes.get(a).map(String::as_str))
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn login_of(attributes: &Attributes) -> Option<&str> {
    attributes
        .get(attr::EMAIL)
        .or_else(|| attributes.get(attr::USER_NAME))
        .map(String::as_str)
        .filter(|l| !l.is_empty())
}

impl Connector for BoxUsers {
    fn describe(&self) -> Descriptor {
        Descriptor {
            kind: "box",
            operations: [
                Operation::List,
                Operation::Get,
                Operation::Find,
                Operation::Create,
                Operation::Update,
                Operation::Activate,
                Operation::Deactivate,
                Operation::Delete,
            ]
            .into_iter()
            .collect(),
            deactivate: DeactivateMeaning::Suspend,
            delete: DeleteMeaning::Permanent,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(self.list_all(None))
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(async move {
            let mut url = self.rest.url(&["users", remote_id]);
            url.query_pairs_mut().append_pair("fields", "id,name,login,status,job_title");
            match self.rest.send(Method::GET, &url, None).await {
                Ok(user) => Ok(account_of(&user)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(async move {
            // Managed users carry no external id: nothing can be found by one.
            if attribute != attr::USER_NAME && attribute != attr::EMAIL {
                return Ok(None);
            }
            // filter_term matches the start of a name or login: keep the exact logins.
            let found: Vec<RemoteAccount> = self
                .list_all(Some(value))
                .await?
                .into_iter()
                .filter(|a| a.user_name().eq_ignore_ascii_case(value))
                .collect();
            match found.len() {
                0 => Ok(None),
                1 => Ok(found.into_iter().next()),
                n => Err(ConnectorError::Ambiguous { filter: format!("login eq {value:?}"), count: n }),
            }
        })
    }

    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(async move {
            let login = login_of(attributes)
                .ok_or_else(|| ConnectorError::Config("a Box user needs an email (its login)".into()))?;
            let name = name_of(attributes).unwrap_or_else(|| login.to_owned());
            let mut body = json!({"login": login, "name": name, "status": "active"});
            if let Some(title) = attributes.get(attr::TITLE).filter(|t| !t.is_empty()) {
                body["job_title"] = json!(title);
            }
            let url = self.rest.url(&["users"]);
            let user = self.rest.send(Method::POST, &url, Some(&body)).await?;
            account_of(&user).ok_or_else(|| ConnectorError::InvalidResponse {
                method: "POST".into(),
                url: url.to_string(),
                message: "the created user has no id".into(),
            })
        })
    }

    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let mut body = Map::new();
            if let Some(login) = changes.get(attr::EMAIL).or_else(|| changes.get(attr::USER_NAME)) {
                body.insert("login".into(), json!(login));
            }
            // Box keeps one full name: a change of given or family name alone (a diff carries
            // only what changed) would cut the other half, so only displayName renames.
            if let Some(name) = changes.get(attr::DISPLAY_NAME).filter(|n| !n.is_empty()) {
                body.insert("name".into(), json!(name));
            }
            if let Some(title) = changes.get(attr::TITLE) {
                body.insert("job_title".into(), json!(title));
            }
            if body.is_empty() {
                return Ok(());
            }
            self.put(remote_id, &Value::Object(body)).await
        })
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let status = if active { "active" } else { "inactive" };
            self.put(remote_id, &json!({"status": status})).await
        })
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let mut url = self.rest.url(&["users", remote_id]);
            url.query_pairs_mut().append_pair("notify", "false").append_pair("force", "false");
            self.rest.send(Method::DELETE, &url, None).await.map(|_| ())
        })
    }
}
