//! A GitHub organization (without Enterprise Managed Users) as a [`Connector`], through GitHub's
//! REST API. Joining such an organization is an invitation the person accepts with their own
//! GitHub account, so:
//!
//! - "create" sends an invitation by email (`POST /orgs/{org}/invitations`) and the account is a
//!   pending invitation (remote id `invitation:{id}`, attribute `invitedOn`) until accepted;
//! - a pending invitation is never sent twice: a create for an email with a fresh invitation
//!   answers that invitation; one older than the app's `reinvite_after_days` (GitHub's expire
//!   after 7 days) is cancelled and sent again;
//! - revoking a pending invitation cancels it (`DELETE /orgs/{org}/invitations/{id}`); revoking
//!   a member removes them from the organization (`DELETE /orgs/{org}/members/{login}`);
//! - members are listed with their public email (`GET /users/{login}`), which is how the planner
//!   links the member an invitation became.
//!
//! Contracts: https://docs.github.com/en/rest/orgs/members (members, memberships, invitations,
//! failed invitations), https://docs.github.com/en/rest/teams/teams and
//! https://docs.github.com/en/rest/teams/members (teams as the app's groups),
//! https://docs.github.com/en/rest/users/users#get-a-user (a user's public email), and
//! `http.rs` for errors, pagination and rate limits.

mod http;

use reqwest::Method;
use serde_json::{Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{GitHubOrgTarget, RemoteAccount, RemoteGroup, Secret};

pub use http::API_VERSION;

use crate::client::ClientOptions;
use crate::connector::{Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
use crate::error::ConnectorError;

/// The prefix of a pending invitation's remote id.
pub const INVITATION_PREFIX: &str = "invitation:";

#[derive(Debug, Clone)]
pub struct GitHubOrg {
    rest: http::Rest,
    target: GitHubOrgTarget,
}

/// A pending invitation as GitHub lists it.
#[derive(Debug, Clone)]
struct Invitation {
    id: u64,
    email: Option<String>,
    login: Option<String>,
    created_on: Option<time::Date>,
}

impl Invitation {
    fn from_json(raw: &Value) -> Option<Self> {
        let created_on = raw
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| t.date());
        Some(Self {
            id: raw.get("id")?.as_u64()?,
            email: raw.get("email").and_then(Value::as_str).map(str::to_owned),
            login: raw.get("login").and_then(Value::as_str).map(str::to_owned),
            created_on,
        })
    }

    fn account(&self) -> RemoteAccount {
        let mut attributes = Attributes::new();
        let name = self.email.clone().or_else(|| self.login.clone()).unwrap_or_default();
        attributes.insert(attr::USER_NAME, name);
        if let Some(email) = &self.email {
            attributes.insert(attr::EMAIL, email.as_str());
        }
        // An invitation without a date is still one; "today" would restart its clock, so the
        // epoch makes it due for renewal instead.
        let on = self.created_on.map_or_else(|| "1970-01-01".to_owned(), |d| d.to_string());
        attributes.insert(attr::INVITED_ON, on);
        RemoteAccount { remote_id: format!("{INVITATION_PREFIX}{}", self.id), active: true, attributes }
    }
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

impl GitHubOrg {
    pub fn new(
        api_url: &str,
        target: &GitHubOrgTarget,
        token: Secret,
        options: ClientOptions,
    ) -> Result<Self, ConnectorError> {
        let org = target.org.trim();
        if org.is_empty() || !org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConnectorError::Config(format!("{org:?} is not a GitHub organization login")));
        }
        if target.reinvite_after_days == 0 {
            return Err(ConnectorError::Config("reinvite_after_days must be at least 1".into()));
        }
        Ok(Self { rest: http::Rest::new(api_url, token, options)?, target: target.clone() })
    }

    pub fn with_rate_limiter(mut self, limiter: std::sync::Arc<crate::RateLimiter>) -> Self {
        self.rest = self.rest.with_rate_limiter(limiter);
        self
    }

    fn org_url(&self, rest: &[&str]) -> url::Url {
        let mut segments = vec!["orgs", self.target.org.as_str()];
        segments.extend_from_slice(rest);
        self.rest.url(&segments)
    }

    /// Whether an invitation sent on `sent` is due to be sent again.
    fn stale(&self, sent: Option<time::Date>) -> bool {
        sent.is_none_or(|d| d + time::Duration::days(i64::from(self.target.reinvite_after_days)) <= today())
    }

    async fn invitations(&self) -> Result<Vec<Invitation>, ConnectorError> {
        let raw = self.rest.list(&self.org_url(&["invitations"])).await?;
        Ok(raw.iter().filter_map(Invitation::from_json).collect())
    }

    /// The organization's members, each with their public name and email.
    async fn members(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let raw = self.rest.list(&self.org_url(&["members"])).await?;
        let mut out = Vec::with_capacity(raw.len());
        for member in raw {
            let Some(login) = member.get("login").and_then(Value::as_str) else { continue };
            out.push(self.member(login).await?);
        }
        Ok(out)
    }

    async fn member(&self, login: &str) -> Result<RemoteAccount, ConnectorError> {
        let user = self.rest.send(Method::GET, &self.rest.url(&["users", login]), None).await?.body;
        let mut attributes = Attributes::new();
        attributes.insert(attr::USER_NAME, login);
        if let Some(email) = user.get("email").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            attributes.insert(attr::EMAIL, email);
        }
        if let Some(name) = user.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            attributes.insert(attr::DISPLAY_NAME, name);
        }
        Ok(RemoteAccount { remote_id: login.to_owned(), active: true, attributes })
    }

    /// Members and the invitations still pending (fresh ones: a stale one is as good as gone,
    /// and the next plan sends it again).
    pub async fn list_users(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let mut all = self.members().await?;
        all.extend(self.invitations().await?.iter().filter(|i| !self.stale(i.created_on)).map(Invitation::account));
        Ok(all)
    }

    pub async fn get_user(&self, remote_id: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        if let Some(id) = remote_id.strip_prefix(INVITATION_PREFIX) {
            let found = self.invitations().await?.into_iter().find(|i| i.id.to_string() == id);
            return Ok(found.filter(|i| !self.stale(i.created_on)).map(|i| i.account()));
        }
        // The membership says whether the login is (still) in the organization.
        match self.rest.send(Method::GET, &self.org_url(&["memberships", remote_id]), None).await {
            Ok(answer) if answer.body.get("state").and_then(Value::as_str) == Some("active") => {
                self.member(remote_id).await.map(Some)
            }
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn find_user(&self, attribute: &str, value: &str) -> Result<Option<RemoteAccount>, ConnectorError> {
        let wanted = value.trim().to_lowercase();
        let matches = |a: &RemoteAccount| match attribute {
            attr::EMAIL => a.email().is_some_and(|e| e.to_lowercase() == wanted),
            attr::USER_NAME => a.user_name().to_lowercase() == wanted,
            _ => false,
        };
        let found: Vec<RemoteAccount> = self.list_users().await?.into_iter().filter(matches).collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            count => Err(ConnectorError::Ambiguous { filter: format!("{attribute} eq {value:?}"), count }),
        }
    }

    /// Invites the person by email; a fresh pending invitation for that email is answered as is,
    /// a stale one is cancelled and sent again.
    pub async fn invite(&self, attributes: &Attributes) -> Result<RemoteAccount, ConnectorError> {
        let email = attributes
            .get(attr::EMAIL)
            .map(|e| e.trim().to_owned())
            .filter(|e| e.contains('@'))
            .ok_or_else(|| ConnectorError::InvalidRequest("a GitHub invitation needs an email".into()))?;
        for pending in self.invitations().await? {
            if !pending.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&email)) {
                continue;
            }
            if !self.stale(pending.created_on) {
                return Ok(pending.account());
            }
            tracing::info!(org = %self.target.org, invitation = pending.id, "re-sending a stale GitHub invitation");
            self.cancel(pending.id).await?;
        }
        let body = json!({"email": email, "role": "direct_member"});
        let answer = self.rest.send(Method::POST, &self.org_url(&["invitations"]), Some(&body)).await?;
        Invitation::from_json(&answer.body).map(|i| i.account()).ok_or_else(|| ConnectorError::InvalidResponse {
            method: "POST".into(),
            url: self.org_url(&["invitations"]).to_string(),
            message: format!("not an invitation: {}", answer.body),
        })
    }

    async fn cancel(&self, id: u64) -> Result<(), ConnectorError> {
        self.rest.send(Method::DELETE, &self.org_url(&["invitations", &id.to_string()]), None).await.map(|_| ())
    }

    /// Cancels a pending invitation or removes a member.
    pub async fn remove(&self, remote_id: &str) -> Result<(), ConnectorError> {
        match remote_id.strip_prefix(INVITATION_PREFIX) {
            Some(id) => {
                let id: u64 = id
                    .parse()
                    .map_err(|_| ConnectorError::InvalidRequest(format!("{remote_id:?} is not an invitation id")))?;
                self.cancel(id).await
            }
            None => self.rest.send(Method::DELETE, &self.org_url(&["members", remote_id]), None).await.map(|_| ()),
        }
    }

    /// Teams, with their members' logins.
    pub async fn teams(&self) -> Result<Vec<RemoteGroup>, ConnectorError> {
        let raw = self.rest.list(&self.org_url(&["teams"])).await?;
        let mut out = Vec::with_capacity(raw.len());
        for team in raw {
            let (Some(slug), Some(name)) =
                (team.get("slug").and_then(Value::as_str), team.get("name").and_then(Value::as_str))
            else {
                continue;
            };
            let members = self.rest.list(&self.org_url(&["teams", slug, "members"])).await?;
            let members =
                members.iter().filter_map(|m| m.get("login").and_then(Value::as_str).map(str::to_owned)).collect();
            out.push(RemoteGroup { remote_id: slug.to_owned(), name: name.to_owned(), members });
        }
        Ok(out)
    }

    pub async fn create_team(&self, name: &str, members: &[String]) -> Result<RemoteGroup, ConnectorError> {
        let answer = self
            .rest
            .send(Method::POST, &self.org_url(&["teams"]), Some(&json!({"name": name, "privacy": "closed"})))
            .await?;
        let slug = answer.body.get("slug").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
            ConnectorError::InvalidResponse {
                method: "POST".into(),
                url: self.org_url(&["teams"]).to_string(),
                message: format!("not a team: {}", answer.body),
            }
        })?;
        self.change_team(&slug, members, &[]).await?;
        Ok(RemoteGroup { remote_id: slug, name: name.to_owned(), members: members.to_vec() })
    }

    /// Team memberships, one request each (`PUT`/`DELETE /orgs/{org}/teams/{slug}/memberships/{login}`).
    /// Pending invitations are not members yet and are skipped.
    pub async fn change_team(&self, slug: &str, add: &[String], remove: &[String]) -> Result<(), ConnectorError> {
        for login in add.iter().filter(|l| !l.starts_with(INVITATION_PREFIX)) {
            self.rest
                .send(
                    Method::PUT,
                    &self.org_url(&["teams", slug, "memberships", login]),
                    Some(&json!({"role": "member"})),
                )
                .await?;
        }
        for login in remove.iter().filter(|l| !l.starts_with(INVITATION_PREFIX)) {
            match self.rest.send(Method::DELETE, &self.org_url(&["teams", slug, "memberships", login]), None).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Connector for GitHubOrg {
    fn describe(&self) -> Descriptor {
        use Operation::*;
        Descriptor {
            kind: "github_org",
            operations: [List, Get, Find, Invite, Deactivate, Delete, Groups, GroupMembership].into(),
            deactivate: DeactivateMeaning::RemoveFromWorkspace,
            delete: DeleteMeaning::RemovesFromWorkspace,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(GitHubOrg::list_users(self))
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(GitHubOrg::get_user(self, remote_id))
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(GitHubOrg::find_user(self, attribute, value))
    }

    /// Joining is an invitation: see [`GitHubOrg::invite`].
    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(self.invite(attributes))
    }

    /// A member's profile is their own; the planner proposes no updates for this kind of app.
    fn update_user<'a>(&'a self, _remote_id: &'a str, _changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(async { Err(ConnectorError::Unsupported { operation: "change a GitHub user's profile".into() }) })
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            if active {
                return Err(ConnectorError::Unsupported {
                    operation: "re-activate a GitHub member (the next plan invites them again)".into(),
                });
            }
            self.remove(remote_id).await
        })
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(self.remove(remote_id))
    }

    fn list_groups(&self) -> ConnectorFuture<'_, Vec<RemoteGroup>> {
        Box::pin(self.teams())
    }

    fn create_group<'a>(&'a self, name: &'a str, members: &'a [String]) -> ConnectorFuture<'a, RemoteGroup> {
        Box::pin(self.create_team(name, members))
    }

    fn change_group_members<'a>(
        &'a self,
        group_id: &'a str,
        add: &'a [String],
        remove: &'a [String],
    ) -> ConnectorFuture<'a, ()> {
        Box::pin(self.change_team(group_id, add, remove))
    }
}
