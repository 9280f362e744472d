//! Notification channels (org admins) and manual apps' tasks.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_core::{Secret, TaskId};
use tenure_store::AuditRecord;
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::EngineError;
use crate::notify::{ChannelConfig, Notice};

/// A new channel. `kind` is `email` (with `smtp_url`, `from`, `to`), or `webhook`, `slack`,
/// `teams` (with `url`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: String,
    /// `smtp://[USER:PASSWORD@]HOST:PORT` (or `smtps://` for TLS; `?starttls=required`).
    #[serde(default)]
    pub smtp_url: Option<String>,
    #[serde(default)]
    pub starttls: bool,
    #[serde(default)]
    pub from: Option<String>,
    /// Addresses, or `org-admins`, `app-admins`, `license-admins`, `manager`, `person`.
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// The generic webhook's HMAC key (default: generated, shown once).
    #[serde(default)]
    pub signing_key: Option<String>,
    /// The events it sends (names from `GET /api/v1/notify/events`, or a family such as
    /// `task.*`); absent: every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A change to a channel: the events it sends (`events`), or every event (`all_events`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub all_events: bool,
}

/// An event a channel can send.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub event: String,
    pub meaning: String,
}

/// A channel as admins see it: never its credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelView {
    pub name: String,
    pub kind: String,
    /// Where it goes, without secrets.
    pub target: String,
    /// The events it sends; `null`: every event.
    pub events: Option<Vec<String>>,
    /// Messages sent, pending, given up.
    pub sent: usize,
    pub pending: usize,
    pub failed: usize,
    /// The last delivery error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Shown once, when a generic webhook is added: the key its receiver checks signatures with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

/// A manual app's task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    /// When the task is due (created + the app's due period), and whether it is past that.
    pub due_ms: i64,
    pub overdue: bool,
    pub app: String,
    pub person: String,
    pub assignee: String,
    pub op: String,
    pub text: String,
    pub status: String,
    pub created_ms: i64,
    pub closed_ms: Option<i64>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// What a `notify test` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelTest {
    pub channel: String,
    pub delivered: bool,
    pub error: Option<String>,
}

impl Admin<'_> {
    pub async fn add_channel(&self, spec: ChannelSpec) -> Result<ChannelView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let name = spec.name.trim();
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(EngineError::field("name", "1 to 64 letters, digits, '-', '_' or '.'"));
        }
        let (config, secret, key) = match spec.kind.as_str() {
            "email" => {
                let url =
                    spec.smtp_url.as_deref().ok_or_else(|| EngineError::field("smtp_url", "required for email"))?;
                let from = spec.from.as_deref().ok_or_else(|| EngineError::field("from", "required for email"))?;
                let (config, secret) = crate::notify::email(url, spec.starttls, from, &spec.to)?;
                (config, secret, None)
            }
            kind => {
                let url = spec.url.as_deref().ok_or_else(|| EngineError::field("url", "required for a webhook"))?;
                if !spec.to.is_empty() || spec.smtp_url.is_some() || spec.from.is_some() {
                    return Err(EngineError::field("to", "recipients are for email channels"));
                }
                let (config, secret, key) = crate::notify::webhook(kind, url, spec.signing_key.map(Secret::new))?;
                (config, Some(secret), key)
            }
        };
        let events = spec.events.as_deref().map(crate::notify::parse_events).transpose()?;
        let mut stored = serde_json::to_value(&config).map_err(|e| EngineError::Internal(e.to_string()))?;
        if let (Some(events), Some(object)) = (&events, stored.as_object_mut()) {
            object.insert("events".into(), json!(events));
        }
        let mut tx = self.store().begin().await?;
        tx.insert_channel(self.tenant(), name, config.kind(), &stored, secret.as_ref()).await?;
        let detail = json!({"kind": config.kind(), "target": config.target(), "events": events});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "notify.add",
                subject: name,
                person: None,
                app: None,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        let mut view = self
            .channels()
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| EngineError::NotFound(format!("channel {name}")))?;
        view.signing_key = key.map(|k| k.expose().to_owned());
        Ok(view)
    }

    pub async fn channels(&self) -> Result<Vec<ChannelView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        let outbox = self.store().outbox(self.tenant(), 10_000).await?;
        Ok(self
            .store()
            .channels(self.tenant())
            .await?
            .into_iter()
            .map(|c| {
                let mine: Vec<_> = outbox.iter().filter(|m| m.channel_id == c.id).collect();
                let count = |s: &str| mine.iter().filter(|m| m.status == s).count();
                let target = serde_json::from_value::<ChannelConfig>(c.config.clone())
                    .map(|cfg| cfg.target())
                    .unwrap_or_else(|e| format!("unreadable settings: {e}"));
                ChannelView {
                    events: crate::notify::events_of(&c.config),
                    name: c.name,
                    kind: c.kind,
                    target,
                    sent: count("sent"),
                    pending: count("pending"),
                    failed: count("failed"),
                    last_error: mine.first().filter(|m| m.status != "sent").and_then(|m| m.last_error.clone()),
                    signing_key: None,
                }
            })
            .collect())
    }

    /// Changes which events a channel sends.
    pub async fn change_channel(&self, name: &str, change: ChannelChange) -> Result<ChannelView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let events = match (change.events, change.all_events) {
            (Some(_), true) => return Err(EngineError::field("events", "either events or all_events, not both")),
            (None, false) => return Err(EngineError::field("events", "give events, or all_events for every event")),
            (Some(events), false) => Some(crate::notify::parse_events(&events)?),
            (None, true) => None,
        };
        let channel = self
            .store()
            .channels(self.tenant())
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| EngineError::NotFound(format!("channel {name}")))?;
        let mut config = channel.config.clone();
        if let Some(object) = config.as_object_mut() {
            match &events {
                Some(events) => object.insert("events".into(), json!(events)),
                None => object.remove("events"),
            };
        }
        let mut tx = self.store().begin().await?;
        if !tx.set_channel_config(self.tenant(), name, &config).await? {
            return Err(EngineError::NotFound(format!("channel {name}")));
        }
        let detail = json!({"events": events});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "notify.change",
                subject: name,
                person: None,
                app: None,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        self.channels()
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| EngineError::NotFound(format!("channel {name}")))
    }

    /// The events channels can send, with what each means.
    pub fn notify_events(&self) -> Result<Vec<EventView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(crate::notify::EVENTS
            .iter()
            .map(|(event, meaning)| EventView { event: (*event).into(), meaning: (*meaning).into() })
            .collect())
    }

    pub async fn remove_channel(&self, name: &str) -> Result<(), EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let mut tx = self.store().begin().await?;
        if !tx.delete_channel(self.tenant(), name).await? {
            return Err(EngineError::NotFound(format!("channel {name}")));
        }
        let detail = json!({});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "notify.remove",
                subject: name,
                person: None,
                app: None,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a test message through one channel now, and says whether it arrived.
    pub async fn test_channel(&self, name: &str) -> Result<ChannelTest, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let channels = self.store().channels(self.tenant()).await?;
        let channel =
            channels.iter().find(|c| c.name == name).ok_or_else(|| EngineError::NotFound(format!("channel {name}")))?;
        let mut notice = Notice::new("test", format!("Tenure test message for channel {name}"));
        notice.lines = vec![format!("This is a test of the notification channel {name}, sent by {}.", self.actor.name)];
        let mut rows = self.engine.messages_for(&notice, std::slice::from_ref(channel)).await?;
        if rows.is_empty() {
            // An email channel whose recipients are all roles nobody holds yet.
            return Ok(ChannelTest {
                channel: name.into(),
                delivered: false,
                error: Some("no recipient resolves to an address now".into()),
            });
        }
        rows.truncate(1);
        let ids = self.store().enqueue_messages(self.tenant(), &rows).await?;
        // One attempt: the answer says whether it arrived, not whether a retry might.
        self.engine.drain_notifications(std::time::Duration::ZERO).await?;
        let sent = self.store().message(self.tenant(), ids[0]).await?;
        Ok(ChannelTest {
            channel: name.into(),
            delivered: sent.as_ref().is_some_and(|m| m.status == "sent"),
            error: sent.and_then(|m| m.last_error),
        })
    }

    /// Tasks of manual apps the actor may see (open ones only with `open_only`).
    pub async fn tasks(&self, open_only: bool) -> Result<Vec<TaskView>, EngineError> {
        let apps = self.store().list_apps(self.tenant()).await?;
        let tasks = self.store().tasks(self.tenant(), open_only).await?;
        let now = self.engine.now_ms();
        Ok(tasks
            .into_iter()
            .filter(|t| self.actor.allows(Need::AppRead(t.app_id)))
            .map(|t| TaskView {
                due_ms: crate::tasks::due_ms(&t, apps.iter().find(|a| a.app.id == t.app_id).map(|a| &a.app)),
                overdue: t.status == "open"
                    && now >= crate::tasks::due_ms(&t, apps.iter().find(|a| a.app.id == t.app_id).map(|a| &a.app)),
                id: t.id.to_string(),
                app: apps.iter().find(|a| a.app.id == t.app_id).map(|a| a.app.name.clone()).unwrap_or_default(),
                person: t.person,
                assignee: t.assignee,
                op: t.op,
                text: t.text,
                status: t.status,
                created_ms: t.created_ms,
                closed_ms: t.closed_ms,
                closed_by: t.closed_by,
                note: t.note,
            })
            .collect())
    }

    /// Closes a task (its id, or a unique prefix of at least 6 characters): the work was done
    /// by hand. Its account is recorded as the operation left it, so the next plan starts from
    /// there. In an app read back (`verify_by_read`) the task is `verifying` instead, until the
    /// next read ([`Self::verify_tasks`]) confirms the work or reopens it.
    pub async fn close_task(&self, id: &str, note: Option<&str>) -> Result<TaskView, EngineError> {
        let id = id.trim().to_ascii_lowercase();
        let all = self.store().tasks(self.tenant(), false).await?;
        let matching: Vec<_> = all.iter().filter(|t| t.id.to_string().starts_with(&id) && id.len() >= 6).collect();
        let task = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(EngineError::NotFound(format!("task {id}"))),
            _ => return Err(EngineError::field("id", format!("{id} names several tasks; give more of it"))),
        };
        self.actor.require(Need::AppWrite(task.app_id))?;
        if task.status != "open" {
            return Err(EngineError::Refused(format!("task {} is {}", task.id, task.status)));
        }
        let app = self.store().list_apps(self.tenant()).await?.into_iter().find(|a| a.app.id == task.app_id);
        let op: Option<tenure_core::PlannedOp> = serde_json::from_value(task.body.clone()).ok();
        let existing = match op.as_ref().and_then(|o| o.kind.remote_id()) {
            Some(remote) => self
                .store()
                .list_accounts(self.tenant(), task.app_id)
                .await?
                .into_iter()
                .find(|a| a.link.remote_id == remote),
            None => None,
        };
        let today = self.engine.today().await?;
        let verify = app.as_ref().and_then(|a| a.app.settings.manual.as_ref()).is_some_and(|m| m.verify_by_read);
        let mut tx = self.store().begin().await?;
        if verify {
            // Nothing is recorded of the account until a read of the app shows it.
            tx.close_task_unverified(self.tenant(), task.id, &self.actor.name, note).await?;
        } else {
            tx.close_task(self.tenant(), task.id, &self.actor.name, note).await?;
            // What the owner did is now what the app holds, as far as Tenure knows.
            if let Some(op) = &op {
                crate::tasks::record_done(&mut tx, self.tenant(), op, existing, today).await?;
            }
        }
        let detail = json!({"task": task.id, "text": task.text, "note": note, "awaiting_read": verify});
        tx.audit(
            self.tenant(),
            AuditRecord {
                actor: &self.actor.name,
                action: "task.closed",
                subject: &task.id.to_string(),
                person: Some(&task.person),
                app: app.as_ref().map(|a| a.app.name.as_str()),
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        let closed = self.tasks(false).await?.into_iter().find(|t| t.id == task.id.to_string());
        closed.ok_or_else(|| EngineError::NotFound(format!("task {}", task.id)))
    }

    /// The next read of a manual app: its users as its export lists them (CSV with a header
    /// naming them by `email` or `userName`, and optionally `active`). Each task closed in it
    /// and awaiting a read is confirmed (closed, its account recorded) when the read shows the
    /// work done, and otherwise reopened with the reason, its assignee told. All in one
    /// transaction: a bad export changes nothing.
    pub async fn verify_tasks(&self, app: &str, csv: &[u8]) -> Result<TaskRead, EngineError> {
        let record = self
            .store()
            .list_apps(self.tenant())
            .await?
            .into_iter()
            .find(|a| a.app.name == app)
            .ok_or_else(|| EngineError::NotFound(format!("app {app}")))?;
        self.actor.require(Need::AppWrite(record.app.id))?;
        let Some(manual) = record.app.settings.manual.as_ref() else {
            return Err(EngineError::Refused(format!(
                "{app} is not a manual app: Tenure reads it through its connector"
            )));
        };
        if !manual.verify_by_read {
            return Err(EngineError::Refused(format!(
                "{app}'s tasks are not verified by a read: `tenure app edit {app} --verify-by-read true` first"
            )));
        }
        let read = crate::task_reads::AppRead::parse(csv)?;
        let tasks: Vec<_> = self
            .store()
            .tasks(self.tenant(), false)
            .await?
            .into_iter()
            .filter(|t| t.app_id == record.app.id && t.status == "verifying")
            .collect();
        let accounts = self.store().list_accounts(self.tenant(), record.app.id).await?;
        let today = self.engine.today().await?;
        let mut confirmed = Vec::new();
        let mut reopened = Vec::new();
        let mut tx = self.store().begin().await?;
        for task in &tasks {
            let Ok(op) = serde_json::from_value::<tenure_core::PlannedOp>(task.body.clone()) else {
                continue;
            };
            let existing = op.kind.remote_id().and_then(|r| accounts.iter().find(|a| a.link.remote_id == r)).cloned();
            let user_name = existing.as_ref().map(|a| a.user_name.clone());
            let mut names = vec![task.person.as_str()];
            names.extend(user_name.as_deref());
            let (action, detail) = match read.confirms(&op, &names) {
                Ok(()) => {
                    tx.confirm_task(self.tenant(), task.id).await?;
                    crate::tasks::record_done(&mut tx, self.tenant(), &op, existing, today).await?;
                    confirmed.push(task.id);
                    ("task.confirmed", json!({"task": task.id, "text": task.text, "users_read": read.len()}))
                }
                Err(why) => {
                    tx.reopen_task(self.tenant(), task.id, &why).await?;
                    reopened.push((task.id, why.clone()));
                    ("task.reopened", json!({"task": task.id, "text": task.text, "why": why}))
                }
            };
            tx.audit(
                self.tenant(),
                AuditRecord {
                    actor: &self.actor.name,
                    action,
                    subject: &task.id.to_string(),
                    person: Some(&task.person),
                    app: Some(app),
                    detail: &detail,
                },
            )
            .await?;
        }
        tx.commit().await?;
        for (id, why) in &reopened {
            let Some(task) = tasks.iter().find(|t| t.id == *id) else { continue };
            let short = id.to_string().chars().take(8).collect::<String>();
            let mut notice = Notice::new("task.reopened", format!("Reopened: a {app} task for {}", task.assignee));
            notice.lines = vec![
                format!("This task was closed, but the latest read of {app} does not show it done: {why}."),
                format!("- {}", task.text),
                format!("When it is done, close it again with `tenure task close {short}`."),
            ];
            notice.path = Some(format!("/tasks?app={app}"));
            notice.apps = vec![record.app.id];
            notice.to = Some(vec![crate::notify::Recipient::Address(task.assignee.clone())]);
            self.engine.notify(&notice).await;
        }
        let views = self.tasks(false).await?;
        let pick = |ids: &[TaskId]| -> Vec<TaskView> {
            views.iter().filter(|v| ids.iter().any(|id| id.to_string() == v.id)).cloned().collect()
        };
        let reopened_ids: Vec<TaskId> = reopened.iter().map(|(id, _)| *id).collect();
        Ok(TaskRead {
            app: app.to_owned(),
            users_read: read.len(),
            confirmed: pick(&confirmed),
            reopened: pick(&reopened_ids),
        })
    }
}

/// What a read of a manual app did to its tasks awaiting one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskRead {
    pub app: String,
    /// Users the export lists.
    pub users_read: usize,
    /// Closed tasks the read shows done: closed for good.
    pub confirmed: Vec<TaskView>,
    /// Closed tasks the read does not show done: open again, the reason in their `note`.
    pub reopened: Vec<TaskView>,
}
