//! Notifications: what happened, in plain words, to the people who must know, through the
//! tenant's channels (email over SMTP, Slack, Teams, a signed generic webhook).
//!
//! A notice becomes one outbox row per channel (`notify_outbox`), with its email recipients
//! resolved then (org admins, the apps' admins, license admins, the person's manager from the
//! directory's manager link, the person, fixed addresses). Rows are sent by whoever drains the
//! outbox (`serve`'s background work, `tenure offboard` before it returns), retried with backoff:
//! a channel that is down never blocks or fails the work that caused the notice.

mod channel;
mod dated;
mod send;

pub use channel::{ChannelConfig, Recipient, SmtpTls, WebhookSecret, email, webhook};
pub use dated::NoticePass;
pub use send::DrainReport;

use serde::Serialize;
use serde_json::json;
use tenure_core::{AppId, Role};
use tenure_store::ChannelRecord;

use crate::{Engine, EngineError};

/// Every event a channel can send, with what it means: the one list that channel settings are
/// checked against and that docs and `tenure notify events` show.
pub const EVENTS: &[(&str, &str)] = &[
    ("offboarding.started", "an offboarding began, with each app's outcome"),
    ("offboarding.done", "an offboarding finished, with each app's outcome"),
    ("onboarding.ready", "a new starter's accounts all exist and are active (once per person)"),
    ("plan.held", "the deprovisioning guard held a plan for approval"),
    ("app.quarantined", "an app kept failing and is paused"),
    ("app.recovered", "a paused app answers again"),
    ("source.guard_refused", "a source guard refused a sync (once per refused delivery)"),
    ("task.assigned", "a manual app's tasks were opened"),
    ("task.overdue", "a task is past its due time: its assignee is reminded (once)"),
    ("task.escalated", "a task is still open a period after its due time (once)"),
    ("task.reopened", "a closed task the next read of its app does not show done: open again"),
    ("license.pool_full", "a license pool has no seat left"),
    ("license.seat_freed", "a seat of a full pool freed up"),
    (
        "license.line_skip",
        "someone went ahead in a pool's waiting line (a successor, a workflow's reassignment, freed_to)",
    ),
    ("license.reclaim", "an unused license's holder is asked \"still needed?\" (keep / release links by email only)"),
    ("workflow.notify", "a workflow's notify step"),
    ("workflow.approval", "a workflow's step waits for an approval"),
];

/// Checks a channel's event list: known names, or a family (`task.*`). Lower-cased, without
/// repeats, in the order given.
pub fn parse_events(raw: &[String]) -> Result<Vec<String>, EngineError> {
    let known = || EVENTS.iter().map(|(e, _)| *e).collect::<Vec<_>>().join(", ");
    let mut out: Vec<String> = Vec::new();
    for item in raw.iter().flat_map(|r| r.split(',')) {
        let event = item.trim().to_ascii_lowercase();
        if event.is_empty() {
            continue;
        }
        let ok = match event.strip_suffix(".*") {
            Some(family) => EVENTS.iter().any(|(e, _)| e.strip_prefix(family).is_some_and(|r| r.starts_with('.'))),
            None => EVENTS.iter().any(|(e, _)| *e == event),
        };
        if !ok {
            return Err(EngineError::field(
                "events",
                format!("unknown event {event:?}; known: {} (or a family such as task.*)", known()),
            ));
        }
        if !out.contains(&event) {
            out.push(event);
        }
    }
    if out.is_empty() {
        return Err(EngineError::field("events", "at least one event (or every event: all_events)"));
    }
    Ok(out)
}

/// The events a stored channel sends: `None` for every event (the default, and what channels
/// made before the choice existed hold).
pub(crate) fn events_of(config: &serde_json::Value) -> Option<Vec<String>> {
    let list = config.get("events")?.as_array()?;
    Some(list.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
}

/// Whether a channel with these events sends `event`. A test message always goes.
pub(crate) fn sends(events: Option<&[String]>, event: &str) -> bool {
    let Some(events) = events else { return true };
    event == "test"
        || events.iter().any(|e| match e.strip_suffix(".*") {
            Some(family) => event.strip_prefix(family).is_some_and(|r| r.starts_with('.')),
            None => e == event,
        })
}

/// One thing to tell: its event name, a subject line, plain lines, and where to act.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notice {
    /// One of [`EVENTS`], or `test`.
    pub event: String,
    pub subject: String,
    pub lines: Vec<String>,
    /// What channels without their own recipients (Slack, Teams, a webhook: everyone in the
    /// channel reads it) carry instead of `lines`, when `lines` hold what only the people a
    /// message is addressed to may use: a one-click link that acts for whoever follows it.
    #[serde(skip)]
    pub shared_lines: Option<Vec<String>>,
    /// The console page that acts on it (`/people/EMAIL`, `/apps/NAME`, `/plans`), made absolute
    /// with the public URL.
    #[serde(skip)]
    pub path: Option<String>,
    /// The person it is about, by email, and their manager's email.
    #[serde(skip)]
    pub person: Option<String>,
    #[serde(skip)]
    pub manager: Option<String>,
    /// Apps it concerns: their app admins are "app-admins".
    #[serde(skip)]
    pub apps: Vec<AppId>,
    /// Who email channels tell instead of their own recipients (a workflow's notify step names
    /// them); `None`: each channel's.
    #[serde(skip)]
    pub to: Option<Vec<Recipient>>,
    /// Extra structured data for webhooks (never a secret).
    pub data: serde_json::Value,
}

impl Notice {
    pub fn new(event: &str, subject: impl Into<String>) -> Self {
        Self { event: event.to_owned(), subject: subject.into(), data: json!({}), ..Self::default() }
    }
}

impl Engine {
    /// The message body every channel gets: plain text, with the console link when the public
    /// URL is known.
    fn message_of(&self, notice: &Notice, to: &[String], addressed: bool) -> serde_json::Value {
        let link = notice.path.as_ref().map(|p| match &self.public_url {
            Some(base) => format!("{}{p}", base.trim_end_matches('/')),
            None => p.clone(),
        });
        let lines = match &notice.shared_lines {
            Some(shared) if !addressed => shared,
            _ => &notice.lines,
        };
        let mut text = lines.join("\n");
        if let Some(link) = &link {
            text.push_str(&format!("\n\nOpen in Tenure: {link}"));
        }
        text.push_str("\n\n-- \nTenure, for the tenant's admins. This message carries no credentials.");
        json!({
            "event": notice.event,
            "subject": notice.subject,
            "text": text,
            "link": link,
            "to": to,
            "data": notice.data,
        })
    }

    /// Email addresses a channel's recipients stand for, for this notice.
    async fn addresses(&self, to: &[Recipient], notice: &Notice) -> Result<Vec<String>, EngineError> {
        let mut out: Vec<String> = Vec::new();
        let needs_admins =
            to.iter().any(|r| matches!(r, Recipient::OrgAdmins | Recipient::AppAdmins | Recipient::LicenseAdmins));
        let admins = if needs_admins { self.store.list_admins(self.tenant).await? } else { Vec::new() };
        for r in to {
            match r {
                Recipient::Address(a) => out.push(a.clone()),
                Recipient::OrgAdmins => {
                    out.extend(admins.iter().filter(|a| a.role == Role::OrgAdmin).map(|a| a.email.clone()))
                }
                Recipient::LicenseAdmins => {
                    out.extend(admins.iter().filter(|a| a.role == Role::LicenseAdmin).map(|a| a.email.clone()))
                }
                Recipient::AppAdmins => out.extend(
                    admins
                        .iter()
                        .filter(|a| a.role == Role::AppAdmin && a.apps.iter().any(|app| notice.apps.contains(app)))
                        .map(|a| a.email.clone()),
                ),
                Recipient::Manager => out.extend(notice.manager.clone()),
                Recipient::Person => out.extend(notice.person.clone()),
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|a| seen.insert(a.to_ascii_lowercase()));
        Ok(out)
    }

    /// The outbox rows for a notice: one per channel that has someone to tell.
    pub(crate) async fn messages_for(
        &self,
        notice: &Notice,
        channels: &[ChannelRecord],
    ) -> Result<Vec<(tenure_core::ChannelId, String, serde_json::Value)>, EngineError> {
        let mut rows = Vec::new();
        for channel in channels {
            // Where rows are made, so no channel carries what it was told not to send.
            if !sends(events_of(&channel.config).as_deref(), &notice.event) {
                continue;
            }
            let config: ChannelConfig = match serde_json::from_value(channel.config.clone()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(channel = %channel.name, error = %e, "channel settings unreadable; skipped");
                    continue;
                }
            };
            let (to, addressed) = match &config {
                ChannelConfig::Email { to, .. } => {
                    let to = self.addresses(notice.to.as_deref().unwrap_or(to), notice).await?;
                    if to.is_empty() {
                        continue;
                    }
                    (to, true)
                }
                _ => (Vec::new(), false),
            };
            rows.push((channel.id, notice.event.clone(), self.message_of(notice, &to, addressed)));
        }
        Ok(rows)
    }

    /// Who a notice would reach, in words (for previews): "ops@example.com (email ops)",
    /// "#webhook slack-it".
    pub(crate) async fn audience(&self, notice: &Notice) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        for channel in self.store.channels(self.tenant).await? {
            if !sends(events_of(&channel.config).as_deref(), &notice.event) {
                continue;
            }
            let Ok(config) = serde_json::from_value::<ChannelConfig>(channel.config.clone()) else { continue };
            match &config {
                ChannelConfig::Email { to, .. } => {
                    for address in self.addresses(notice.to.as_deref().unwrap_or(to), notice).await? {
                        out.push(format!("{address} (email {})", channel.name));
                    }
                }
                other => out.push(format!("{} {}", other.kind(), channel.name)),
            }
        }
        Ok(out)
    }

    /// The email addresses a notice reaches through the email channels that send its event:
    /// the people who could use what only addressed messages carry.
    pub(crate) async fn addressed_to(&self, notice: &Notice) -> Result<Vec<String>, EngineError> {
        let mut out: Vec<String> = Vec::new();
        for channel in self.store.channels(self.tenant).await? {
            if !sends(events_of(&channel.config).as_deref(), &notice.event) {
                continue;
            }
            if let Ok(ChannelConfig::Email { to, .. }) = serde_json::from_value::<ChannelConfig>(channel.config.clone())
            {
                for address in self.addresses(notice.to.as_deref().unwrap_or(&to), notice).await? {
                    if !out.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
                        out.push(address);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Puts a notice in the outbox unless the notice `key` was given already, both in one
    /// transaction: a retried delivery, the next pass or a second node stays quiet. True when it
    /// was new (even if no channel sends it: it is not given twice).
    pub(crate) async fn notify_once(&self, key: &str, notice: &Notice) -> Result<bool, EngineError> {
        let channels = self.store.channels(self.tenant).await?;
        let rows = self.messages_for(notice, &channels).await?;
        let mut tx = self.store.begin().await?;
        if !tx.claim_notice(self.tenant, key, self.now_ms()).await? {
            return Ok(false);
        }
        tx.enqueue_messages(self.tenant, &rows).await?;
        tx.commit().await?;
        tracing::debug!(event = %notice.event, key, messages = rows.len(), "once-only notice queued");
        Ok(true)
    }

    /// Puts a notice in the outbox. Never fails its caller: a notice that cannot be queued is
    /// logged, and the work that caused it stands.
    pub async fn notify(&self, notice: &Notice) {
        let queued = async {
            let channels = self.store.channels(self.tenant).await?;
            if channels.is_empty() {
                return Ok::<usize, EngineError>(0);
            }
            let rows = self.messages_for(notice, &channels).await?;
            self.store.enqueue_messages(self.tenant, &rows).await?;
            Ok(rows.len())
        };
        match queued.await {
            Ok(n) => tracing::debug!(event = %notice.event, messages = n, "notice queued"),
            Err(e) => tracing::warn!(event = %notice.event, error = %e, "could not queue a notice"),
        }
    }
}
