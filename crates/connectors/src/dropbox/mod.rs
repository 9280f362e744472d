//! Dropbox teams as a target, through the team members API (Dropbox publishes no SCIM contract
//! outside Entra's gallery app): members are added, suspended and unsuspended (data kept),
//! removed with the admin's keep-or-wipe choice, and listed with a cursor. Contracts, from
//! Dropbox's API reference (<https://www.dropbox.com/developers/documentation/http/teams>):
//!
//! - `team/members/list_v2` (`limit` 1..1000, `include_removed`) and `list/continue_v2`
//!   (`cursor`): `{"members": [{"profile": ...}], "cursor", "has_more"}`.
//! - `team/members/get_info_v2`: `members` by `team_member_id`, `email` or `external_id`;
//!   each answer `member_info` with its `profile`, or `id_not_found`.
//! - `team/members/add_v2` (`new_members`, `force_async`): `complete` with one result per
//!   member, `success` with the profile or a failure tag such as `user_already_on_team`.
//! - `team/members/set_profile_v2`, `team/members/suspend` (`wipe_data`),
//!   `team/members/unsuspend`.
//! - `team/members/remove` (`wipe_data` default true, `keep_account` which needs
//!   `wipe_data=false`): `complete`, or `async_job_id` polled with
//!   `team/members/remove/job_status/get` until `complete` or `failed`.

mod http;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tenure_core::attributes::{self as attr, Attributes};
use tenure_core::{RemoteAccount, Secret};

use crate::client::ClientOptions;
use crate::connector::{Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, Operation};
use crate::error::ConnectorError;
use http::Rpc;

/// The most members one list call returns.
pub const MAX_PAGE: u32 = 1000;

/// What removing a member does with their files: Dropbox's own default wipes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemoveChoice {
    /// `wipe_data: false, keep_account: true`: the person keeps a Basic account with their files.
    #[default]
    KeepData,
    /// `wipe_data: true`: the files are wiped from the person's linked devices.
    Wipe,
}

#[derive(Debug, Clone)]
pub struct Dropbox {
    rpc: Rpc,
    remove: RemoveChoice,
}

impl Dropbox {
    /// `base`: the API root, `https://api.dropboxapi.com/2`; `token`: a team admin's access
    /// token (members.read, members.write, members.delete).
    pub fn new(base: &str, token: Secret, options: ClientOptions) -> Result<Self, ConnectorError> {
        Ok(Self { rpc: Rpc::new(base, token, options)?, remove: RemoveChoice::default() })
    }

    pub fn with_remove_choice(mut self, remove: RemoveChoice) -> Self {
        self.remove = remove;
        self
    }

    /// Access tokens from an OAuth token source (Box's client credentials grant, a refreshed
    /// authorization-code grant) instead of one static token, which these vendors let expire.
    pub fn with_access_tokens(mut self, source: Arc<dyn crate::bearer::AccessTokens>) -> Self {
        self.rpc = self.rpc.with_access_tokens(source);
        self
    }

    pub fn with_rate_limiter(mut self, limiter: Arc<crate::RateLimiter>) -> Self {
        self.rpc = self.rpc.with_rate_limiter(limiter);
        self
    }

    async fn list_all(&self) -> Result<Vec<RemoteAccount>, ConnectorError> {
        let limit = self.rpc.options.page_size.clamp(1, MAX_PAGE);
        let mut page =
            self.rpc.call("team/members/list_v2", &json!({"limit": limit, "include_removed": false})).await?;
        let mut accounts = Vec::new();
        let mut cursors = std::collections::BTreeSet::new();
        loop {
            let members = page["members"].as_array().ok_or_else(|| invalid("a member list without members"))?;
            for member in members {
                accounts.push(account_of(&member["profile"]).ok_or_else(|| invalid("a member without an id"))?);
            }
            if page["has_more"] != true {
                return Ok(accounts);
            }
            let cursor = page["cursor"].as_str().ok_or_else(|| invalid("has_more without a cursor"))?.to_owned();
            // A cursor handed out twice would read the same members forever.
            if !cursors.insert(cursor.clone()) {
                return Err(invalid("Dropbox handed out the same cursor twice"));
            }
            page = self.rpc.call("team/members/list/continue_v2", &json!({"cursor": cursor})).await?;
        }
    }

    async fn member_by(&self, selector: Value) -> Result<Option<RemoteAccount>, ConnectorError> {
        let answer = self.rpc.call("team/members/get_info_v2", &json!({"members": [selector]})).await?;
        let info = answer["members_info"].get(0).ok_or_else(|| invalid("get_info_v2 answered no member"))?;
        match info[".tag"].as_str() {
            Some("member_info") => {
                let profile =
                    if info["profile"].is_object() { &info["profile"] } else { &info["member_info"]["profile"] };
                Ok(account_of(profile))
            }
            Some("id_not_found") => Ok(None),
            other => Err(invalid(&format!("get_info_v2 answered {other:?}"))),
        }
    }

    /// Waits for an asynchronous removal to finish.
    async fn await_job(&self, job: &str) -> Result<(), ConnectorError> {
        let mut wait = self.rpc.options.initial_backoff.max(Duration::from_millis(10));
        for _ in 0..30 {
            let status = self.rpc.call("team/members/remove/job_status/get", &json!({"async_job_id": job})).await?;
            match status[".tag"].as_str() {
                Some("complete") => return Ok(()),
                Some("in_progress") => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.rpc.options.max_retry_wait.max(Duration::from_millis(10)));
                }
                _ => {
                    return Err(ConnectorError::Status {
                        method: "POST".into(),
                        url: "team/members/remove/job_status/get".into(),
                        status: 409,
                        scim_type: None,
                        detail: Some(format!("removal job {job} failed: {status}")),
                        retry_after: None,
                    });
                }
            }
        }
        Err(ConnectorError::Transport {
            kind: crate::error::TransportKind::Timeout,
            method: "POST".into(),
            url: "team/members/remove/job_status/get".into(),
            message: format!("removal job {job} still in progress"),
        })
    }
}

fn invalid(message: &str) -> ConnectorError {
    ConnectorError::InvalidResponse { method: "POST".into(), url: "api.dropboxapi.com".into(), message: message.into() }
}

fn user(remote_id: &str) -> Value {
    json!({".tag": "team_member_id", "team_member_id": remote_id})
}

/// A member profile as Tenure's attributes: the email is userName and email.
fn account_of(profile: &Value) -> Option<RemoteAccount> {
    let id = profile["team_member_id"].as_str()?;
    let mut attributes = Attributes::new();
    if let Some(email) = profile["email"].as_str() {
        attributes.insert(attr::USER_NAME, email);
        attributes.insert(attr::EMAIL, email);
    }
    for (name, field) in
        [(attr::GIVEN_NAME, "given_name"), (attr::FAMILY_NAME, "surname"), (attr::DISPLAY_NAME, "display_name")]
    {
        if let Some(v) = profile["name"][field].as_str().filter(|v| !v.is_empty()) {
            attributes.insert(name, v);
        }
    }
    if let Some(x) = profile["external_id"].as_str().filter(|v| !v.is_empty()) {
        attributes.insert(attr::EXTERNAL_ID, x);
    }
    // An invited member has not joined yet but is not suspended either: it holds its access.
    let active = matches!(profile["status"][".tag"].as_str(), Some("active" | "invited"));
    Some(RemoteAccount { remote_id: id.to_owned(), active, attributes })
}

impl Connector for Dropbox {
    fn describe(&self) -> Descriptor {
        Descriptor {
            kind: "dropbox",
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
            // Removed from the team: coming back is a new membership.
            delete: DeleteMeaning::Permanent,
        }
    }

    fn list_users(&self) -> ConnectorFuture<'_, Vec<RemoteAccount>> {
        Box::pin(self.list_all())
    }

    fn get_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(self.member_by(user(remote_id)))
    }

    fn find_user<'a>(&'a self, attribute: &'a str, value: &'a str) -> ConnectorFuture<'a, Option<RemoteAccount>> {
        Box::pin(async move {
            let selector = if attribute == attr::EXTERNAL_ID {
                json!({".tag": "external_id", "external_id": value})
            } else if attribute == attr::USER_NAME || attribute == attr::EMAIL {
                json!({".tag": "email", "email": value})
            } else {
                return Ok(None);
            };
            self.member_by(selector).await
        })
    }

    fn create_user<'a>(&'a self, attributes: &'a Attributes) -> ConnectorFuture<'a, RemoteAccount> {
        Box::pin(async move {
            let email = attributes
                .get(attr::EMAIL)
                .or_else(|| attributes.get(attr::USER_NAME))
                .filter(|e| !e.is_empty())
                .ok_or_else(|| ConnectorError::Config("a Dropbox member needs an email".into()))?;
            let mut member = json!({"member_email": email, "send_welcome_email": true});
            for (name, field) in [
                (attr::GIVEN_NAME, "member_given_name"),
                (attr::FAMILY_NAME, "member_surname"),
                (attr::EXTERNAL_ID, "member_external_id"),
            ] {
                if let Some(v) = attributes.get(name).filter(|v| !v.is_empty()) {
                    member[field] = json!(v);
                }
            }
            let answer =
                self.rpc.call("team/members/add_v2", &json!({"new_members": [member], "force_async": false})).await?;
            let result = answer["complete"].get(0).ok_or_else(|| invalid("add_v2 answered no result"))?;
            match result[".tag"].as_str() {
                Some("success") => {
                    let profile = if result["profile"].is_object() { &result["profile"] } else { result };
                    account_of(profile).ok_or_else(|| invalid("the added member has no id"))
                }
                Some(
                    tag @ ("user_already_on_team" | "duplicate_external_member_id" | "duplicate_member_persistent_id"),
                ) => Err(ConnectorError::Conflict {
                    method: "POST".into(),
                    url: "team/members/add_v2".into(),
                    scim_type: None,
                    detail: Some(tag.to_owned()),
                }),
                other => Err(ConnectorError::Status {
                    method: "POST".into(),
                    url: "team/members/add_v2".into(),
                    status: 409,
                    scim_type: None,
                    detail: Some(format!("Dropbox refused the member: {}", other.unwrap_or("no tag"))),
                    retry_after: None,
                }),
            }
        })
    }

    fn update_user<'a>(&'a self, remote_id: &'a str, changes: &'a Attributes) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let mut arg = Map::new();
            for (name, field) in [
                (attr::EMAIL, "new_email"),
                (attr::GIVEN_NAME, "new_given_name"),
                (attr::FAMILY_NAME, "new_surname"),
                (attr::EXTERNAL_ID, "new_external_id"),
            ] {
                if let Some(v) = changes.get(name) {
                    arg.insert(field.into(), json!(v));
                }
            }
            if arg.is_empty() {
                return Ok(());
            }
            arg.insert("user".into(), user(remote_id));
            self.rpc.call("team/members/set_profile_v2", &Value::Object(arg)).await.map(|_| ())
        })
    }

    fn set_active<'a>(&'a self, remote_id: &'a str, active: bool) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            if active {
                self.rpc.call("team/members/unsuspend", &json!({"user": user(remote_id)})).await.map(|_| ())
            } else {
                // Suspending keeps the member's data: deprovisioning never wipes by itself.
                self.rpc
                    .call("team/members/suspend", &json!({"user": user(remote_id), "wipe_data": false}))
                    .await
                    .map(|_| ())
            }
        })
    }

    fn delete_user<'a>(&'a self, remote_id: &'a str) -> ConnectorFuture<'a, ()> {
        Box::pin(async move {
            let arg = match self.remove {
                RemoveChoice::KeepData => json!({"user": user(remote_id), "wipe_data": false, "keep_account": true}),
                RemoveChoice::Wipe => json!({"user": user(remote_id), "wipe_data": true}),
            };
            let answer = self.rpc.call("team/members/remove", &arg).await?;
            match answer[".tag"].as_str() {
                Some("async_job_id") => {
                    let job = answer["async_job_id"].as_str().ok_or_else(|| invalid("async_job_id without an id"))?;
                    self.await_job(job).await
                }
                _ => Ok(()),
            }
        })
    }
}
