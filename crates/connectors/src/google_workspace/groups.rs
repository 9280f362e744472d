//! Google groups as Tenure's in-app groups: listing with their user members, creating one, and
//! membership changes as diffs.
//!
//! groups.list / groups.insert: <https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups>;
//! members.list / insert / delete: <https://developers.google.com/workspace/admin/directory/reference/rest/v1/members>.
//! A member is inserted by its email address (the documented required field); 409 `duplicate`
//! ("Member already exists") on insert and 404 on delete are the state Tenure wanted.

use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde_json::{Value, json};
use tenure_core::RemoteGroup;

use super::{GoogleWorkspace, MAX_GROUP_PAGE};
use crate::error::ConnectorError;

/// Group member listings in flight at once.
const MEMBER_LISTINGS_IN_FLIGHT: usize = 4;

impl GoogleWorkspace {
    /// Tenure's name of a group: its address, without the domain when that is the app's primary
    /// domain, so `engineering` names `engineering@example.com` both ways.
    fn group_name(&self, email: &str) -> String {
        match email.rsplit_once('@') {
            Some((local, domain)) if domain.eq_ignore_ascii_case(&self.domain) => local.to_lowercase(),
            _ => email.to_lowercase(),
        }
    }

    /// The address a group named `name` has. Google allows letters, digits, `-`, `_`, `'` and
    /// `.` in a group address's local part; anything else is refused rather than rewritten, since
    /// a rewritten name would no longer match the assignment that asked for it.
    fn group_email(&self, name: &str) -> Result<String, ConnectorError> {
        let name = name.trim();
        if name.contains('@') {
            return Ok(name.to_lowercase());
        }
        let valid =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '\'' | '.'));
        if !valid {
            return Err(ConnectorError::InvalidRequest(format!(
                "{name:?} cannot be a Google group address; name in-app groups by address (letters, digits, - _ ' .), \
                 e.g. engineering or engineering@{}",
                self.domain
            )));
        }
        Ok(format!("{}@{}", name.to_lowercase(), self.domain))
    }

    /// Every group of the customer with its user members' ids. Members that are groups, the whole
    /// customer or outside addresses are not accounts Tenure manages and are left out.
    pub async fn list_groups(&self) -> Result<Vec<RemoteGroup>, ConnectorError> {
        let url = self.endpoint(&["groups"]);
        let params = [("customer", self.customer.clone()), ("maxResults", self.page_size(MAX_GROUP_PAGE))];
        let raw = self.list_pages(&url, &params, "groups").await?;
        let mut listed = Vec::with_capacity(raw.len());
        let mut seen = std::collections::HashSet::new();
        for g in &raw {
            let field = |k: &str| g.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
            let (Some(id), Some(email)) = (field("id"), field("email")) else {
                return Err(self.invalid(&Method::GET, &url, "a group without an id or email".into()));
            };
            if seen.insert(id.to_owned()) {
                listed.push((id.to_owned(), self.group_name(email)));
            }
        }
        // One members listing per group (the API has no "groups with members" call), a few at
        // a time: faster than one by one for a customer with many groups, without spending the
        // whole request budget at once (the rate limiter paces them as well).
        // Built up front: a stream over a borrowing closure would not be provably `Send`.
        let listings: Vec<_> = listed.iter().map(|(id, _)| self.user_members(id)).collect();
        let members: Vec<Vec<String>> =
            stream::iter(listings).buffered(MEMBER_LISTINGS_IN_FLIGHT).try_collect().await?;
        let groups = listed
            .into_iter()
            .zip(members)
            .map(|((remote_id, name), members)| RemoteGroup { remote_id, name, members })
            .collect();
        Ok(groups)
    }

    async fn user_members(&self, group_id: &str) -> Result<Vec<String>, ConnectorError> {
        let url = self.endpoint(&["groups", group_id, "members"]);
        let params = [("maxResults", self.page_size(MAX_GROUP_PAGE))];
        let raw = self.list_pages(&url, &params, "members").await?;
        Ok(raw
            .iter()
            .filter(|m| m.get("type").and_then(Value::as_str) == Some("USER"))
            .filter_map(|m| m.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_owned))
            .collect())
    }

    pub async fn create_group(&self, name: &str, members: &[String]) -> Result<RemoteGroup, ConnectorError> {
        let email = self.group_email(name)?;
        let url = self.endpoint(&["groups"]);
        let body = json!({"email": email, "name": name.trim(), "description": "Managed by Tenure"});
        let created = self.send_for_body(Method::POST, &url, &[], Some(&body)).await?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.invalid(&Method::POST, &url, "the created group has no id".into()))?
            .to_owned();
        self.change_group_members(&id, members, &[]).await?;
        Ok(RemoteGroup { remote_id: id, name: self.group_name(&email), members: members.to_vec() })
    }

    /// Adds and removes user members (by account id), one request each.
    pub async fn change_group_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ConnectorError> {
        if group_id.trim().is_empty() {
            return Err(ConnectorError::InvalidRequest("empty group id".into()));
        }
        let members_url = self.endpoint(&["groups", group_id, "members"]);
        for user_id in add {
            let user_url = self.user_url(user_id)?;
            let user = self.send_for_body(Method::GET, &user_url, &[("fields", "primaryEmail".into())], None).await?;
            let email = user
                .get("primaryEmail")
                .and_then(Value::as_str)
                .ok_or_else(|| self.invalid(&Method::GET, &user_url, "a user without primaryEmail".into()))?;
            let body = json!({"email": email, "role": "MEMBER"});
            match self.send(Method::POST, &members_url, &[], Some(&body)).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => tracing::debug!(group_id, user_id, "already a member"),
                Err(e) => return Err(e),
            }
        }
        for user_id in remove {
            if user_id.trim().is_empty() {
                continue;
            }
            let url = self.endpoint(&["groups", group_id, "members", user_id]);
            match self.send(Method::DELETE, &url, &[], None).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => tracing::debug!(group_id, user_id, "not a member any more"),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
