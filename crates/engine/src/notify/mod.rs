//! Notifications: what happened, in plain words, to the people who must know, through the
//! tenant's channels (email over SMTP, Slack, Teams, a signed generic webhook).
//!
//! A notice becomes one outbox row per channel (`notify_outbox`), with its email recipients
//! resolved then (org admins, the apps' admins, license admins, the person's manager from the
//! directory's manager link, the person, fixed addresses). Rows are sent by whoever drains the
//! outbox (`serve`'s background work, `tenure offboard` before it returns), retried with backoff:
//! a channel that is down never blocks or fails the work that caused the notice.

mod channel;
mod send;

pub use channel::{ChannelConfig, Recipient, SmtpTls, WebhookSecret, email, webhook};
pub use send::DrainReport;

use serde::Serialize;
use serde_json::json;
use tenure_core::{AppId, Role};
use tenure_store::ChannelRecord;

use crate::{Engine, EngineError};

/// One thing to tell: its event name, a subject line, plain lines, and where to act.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notice {
    /// `offboarding.started`, `offboarding.done`, `plan.held`, `app.quarantined`,
    /// `app.recovered`, `task.assigned`, `test`.
    pub event: String,
    pub subject: String,
    pub lines: Vec<String>,
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
    fn message_of(&self, notice: &Notice, to: &[String]) -> serde_json::Value {
        let link = notice.path.as_ref().map(|p| match &self.public_url {
            Some(base) => format!("{}{p}", base.trim_end_matches('/')),
            None => p.clone(),
        });
        let mut text = notice.lines.join("\n");
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
            let config: ChannelConfig = match serde_json::from_value(channel.config.clone()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(channel = %channel.name, error = %e, "channel settings unreadable; skipped");
                    continue;
                }
            };
            let to = match &config {
                ChannelConfig::Email { to, .. } => {
                    let to = self.addresses(notice.to.as_deref().unwrap_or(to), notice).await?;
                    if to.is_empty() {
                        continue;
                    }
                    to
                }
                _ => Vec::new(),
            };
            rows.push((channel.id, notice.event.clone(), self.message_of(notice, &to)));
        }
        Ok(rows)
    }

    /// Who a notice would reach, in words (for previews): "ops@example.com (email ops)",
    /// "#webhook slack-it".
    pub(crate) async fn audience(&self, notice: &Notice) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        for channel in self.store.channels(self.tenant).await? {
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
