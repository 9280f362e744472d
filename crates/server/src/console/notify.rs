//! Notification channels: each with where it goes (never its credentials) and what it sent,
//! holds and gave up; an email, Slack, Teams or generic webhook channel added, a channel's
//! events changed, a channel tested and removed (org admins). A secret typed into the form (an SMTP password in the
//! URL, a webhook's URL with its token, a signing key) is never drawn into a page again, not
//! even after a refusal; a generic webhook's generated signing key is shown once, as a token is.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use serde::Deserialize;
use tenure_engine::admin::{ChannelChange, ChannelSpec, ChannelView, EventView};

use super::auth::Signed;
use super::forms::{Refusal, refusal};
use super::view::{Nav, Notice, PageResult, render, segment};

pub const KINDS: [&str; 4] = ["email", "slack", "teams", "webhook"];

pub struct ChannelLine {
    pub view: ChannelView,
    pub events: String,
    pub remove_href: String,
    pub test_href: String,
    pub events_href: String,
    /// The events as the change form shows them: empty for every event.
    pub events_field: String,
}

/// The add form as typed, without its secrets.
#[derive(Debug, Clone, Default)]
pub struct AddShown {
    pub name: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub events: String,
    pub starttls: bool,
}

#[derive(Template)]
#[template(path = "console/notify.html")]
struct NotifyPage {
    nav: Nav,
    notice: Option<Notice>,
    channels: Vec<ChannelLine>,
    events: Vec<EventView>,
    kinds: &'static [&'static str],
    add: AddShown,
    add_error: Refusal,
    /// A generic webhook's signing key just generated: shown this once.
    signing_key: Option<String>,
}

/// The fields of the add form a refusal may be shown under.
const FIELDS: [&str; 8] = ["name", "kind", "smtp_url", "from", "to", "url", "signing_key", "events"];

#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    add: AddShown,
    add_error: Refusal,
    signing_key: Option<String>,
}

async fn notify_page(signed: &Signed, shown: Shown) -> PageResult {
    let admin = signed.admin();
    let channels = admin
        .channels()
        .await?
        .into_iter()
        .map(|c| ChannelLine {
            events: c.events.as_ref().map_or_else(|| "every event".to_owned(), |e| e.join(", ")),
            events_field: c.events.as_ref().map(|e| e.join(", ")).unwrap_or_default(),
            events_href: format!("/notify/{}/events", segment(&c.name)),
            remove_href: format!("/notify/{}/remove", segment(&c.name)),
            test_href: format!("/notify/{}/test", segment(&c.name)),
            view: c,
        })
        .collect();
    let events = admin.notify_events()?;
    let mut add = shown.add;
    if add.kind.is_empty() {
        add.kind = "email".into();
    }
    Ok(render(&NotifyPage {
        nav: signed.nav("notify"),
        notice: shown.notice,
        channels,
        events,
        kinds: &KINDS,
        add,
        add_error: shown.add_error,
        signing_key: shown.signing_key,
    }))
}

pub async fn page(signed: Signed) -> PageResult {
    notify_page(&signed, Shown::default()).await
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    smtp_url: String,
    #[serde(default)]
    starttls: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    signing_key: String,
    #[serde(default)]
    events: String,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl AddForm {
    /// The command's spec: only the fields of the chosen kind, so a field left filled in from
    /// another kind is not refused.
    fn spec(&self) -> ChannelSpec {
        let email = self.kind == "email";
        let events = list(&self.events);
        ChannelSpec {
            name: self.name.trim().to_owned(),
            kind: self.kind.trim().to_owned(),
            smtp_url: given(&self.smtp_url).filter(|_| email),
            starttls: email && !self.starttls.is_empty(),
            from: given(&self.from).filter(|_| email),
            to: if email { list(&self.to) } else { Vec::new() },
            url: given(&self.url).filter(|_| !email),
            signing_key: given(&self.signing_key).filter(|_| self.kind == "webhook"),
            events: (!events.is_empty()).then_some(events),
        }
    }

    fn shown(&self) -> AddShown {
        AddShown {
            name: self.name.clone(),
            kind: self.kind.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            events: self.events.clone(),
            starttls: !self.starttls.is_empty(),
        }
    }
}

/// Adds a channel (org admins).
pub async fn add(signed: Signed, Form(form): Form<AddForm>) -> PageResult {
    let mut shown = Shown::default();
    match signed.admin().add_channel(form.spec()).await {
        Ok(view) => {
            shown.notice = Notice::ok(match &view.signing_key {
                Some(_) => format!(
                    "Channel {} added. Its signing key is below: give it to the receiver now, it is not shown again.",
                    view.name
                ),
                None => format!("Channel {} added: {}.", view.name, view.target),
            });
            shown.signing_key = view.signing_key;
        }
        Err(e) => {
            let r = refusal(e)?;
            if let Some(general) = r.general(&FIELDS) {
                shown.notice = Notice::error(general.to_owned());
            } else {
                shown.notice = Notice::error("The channel was not added: see the reason under the field.");
            }
            shown.add = form.shown();
            shown.add_error = r;
        }
    }
    notify_page(&signed, shown).await
}

/// Removes a channel and what it had not delivered yet (org admins).
pub async fn remove(signed: Signed, Path(name): Path<String>) -> PageResult {
    let notice = match signed.admin().remove_channel(&name).await {
        Ok(()) => Notice::ok(format!("Channel {name} removed, with its undelivered messages.")),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    notify_page(&signed, Shown { notice, ..Default::default() }).await
}

/// Sends a test message through a channel now (org admins).
pub async fn test(signed: Signed, Path(name): Path<String>) -> PageResult {
    let notice = match signed.admin().test_channel(&name).await {
        Ok(t) if t.delivered => Notice::ok(format!("A test message went out through {}.", t.channel)),
        Ok(t) => Notice::error(format!(
            "The test message through {} was not delivered: {}",
            t.channel,
            t.error.unwrap_or_else(|| "no reason given".into())
        )),
        Err(e) => Notice::error(refusal(e)?.message),
    };
    notify_page(&signed, Shown { notice, ..Default::default() }).await
}

#[derive(Debug, Deserialize)]
pub struct EventsForm {
    #[serde(default)]
    events: String,
}

/// Changes which events a channel sends (org admins): the names or families typed, or every
/// event when emptied.
pub async fn events(signed: Signed, Path(name): Path<String>, Form(form): Form<EventsForm>) -> PageResult {
    let events = list(&form.events);
    let change = if events.is_empty() {
        ChannelChange { events: None, all_events: true }
    } else {
        ChannelChange { events: Some(events), all_events: false }
    };
    let notice = match signed.admin().change_channel(&name, change).await {
        Ok(c) => Notice::ok(match &c.events {
            Some(e) => format!("{} now sends {}.", c.name, e.join(", ")),
            None => format!("{} now sends every event.", c.name),
        }),
        Err(e) => Notice::error(format!("{name}'s events were not changed: {}", refusal(e)?.message)),
    };
    notify_page(&signed, Shown { notice, ..Default::default() }).await
}
