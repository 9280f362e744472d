//! `tenure offboard`, `tenure notify`, `tenure task` and `tenure app add manual`: adapters of
//! the engine's lifecycle commands.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tenure_engine::admin::{
    ChannelChange, ChannelSpec, ChannelView, NewApp, NewAppKind, OffboardSpec, OffboardView, SettingsSpec,
};
use tenure_engine::{Actor, Engine};

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// The person, by email.
    pub email: String,
    /// When: `now` (the default) or a date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE|now")]
    pub at: Option<String>,
    /// Say what would happen, per app, and who would be told; change nothing.
    #[arg(long, conflicts_with_all = ["yes", "undo"])]
    pub preview: bool,
    /// Do it (without it, the preview is shown and nothing changes).
    #[arg(long)]
    pub yes: bool,
    /// Undo an offboarding (a re-hire): what the policy grants comes back, accounts re-activated.
    #[arg(long, conflicts_with = "at")]
    pub undo: bool,
    /// Who gets the person's seats: in each app with license pools, the seat (tier) they hold
    /// goes to this person (a license change of their account, or a person-level assignment
    /// with that license when they have none).
    #[arg(long, value_name = "EMAIL", conflicts_with = "undo")]
    pub successor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Add a channel.
    #[command(subcommand)]
    Add(NotifyAdd),
    /// The channels, with what they sent, hold and gave up.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change which events a channel sends.
    Set(NotifySetArgs),
    /// The events a channel can send.
    Events {
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel (and its undelivered messages).
    Remove { name: String },
    /// Send a test message through a channel now.
    Test {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct NotifySetArgs {
    pub name: String,
    /// Send only these events (comma-separated or repeated; a family such as `task.*`);
    /// `tenure notify events` lists them.
    #[arg(long, value_name = "EVENT[,EVENT...]", value_delimiter = ',', required_unless_present = "all_events")]
    pub events: Vec<String>,
    /// Send every event (the default of a new channel).
    #[arg(long, conflicts_with = "events")]
    pub all_events: bool,
}

#[derive(Debug, Subcommand)]
pub enum NotifyAdd {
    /// Email over SMTP.
    Email(EmailArgs),
    /// A generic webhook: a JSON body signed with HMAC-SHA256 (`X-Tenure-Signature`).
    Webhook(WebhookArgs),
    /// A Slack incoming webhook.
    Slack(WebhookArgs),
    /// A Microsoft Teams incoming webhook.
    Teams(WebhookArgs),
}

#[derive(Debug, Args)]
pub struct EmailArgs {
    pub name: String,
    /// smtp://[USER:PASSWORD@]HOST:PORT, smtps://... (TLS), or smtp://...?starttls=required.
    /// Credentials are stored encrypted.
    #[arg(long)]
    pub smtp_url: String,
    /// Require STARTTLS on an smtp:// URL.
    #[arg(long)]
    pub starttls: bool,
    #[arg(long)]
    pub from: String,
    /// An address, or org-admins, app-admins, license-admins, manager, person (repeatable).
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// Send only these events (default: every event); `tenure notify events` lists them.
    #[arg(long, value_name = "EVENT[,EVENT...]", value_delimiter = ',')]
    pub events: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    pub name: String,
    #[arg(long)]
    pub url: String,
    /// Environment variable holding the generic webhook's signing key (default: generated and
    /// shown once).
    #[arg(long, value_name = "VAR")]
    pub signing_key_env: Option<String>,
    /// Send only these events (default: every event); `tenure notify events` lists them.
    #[arg(long, value_name = "EVENT[,EVENT...]", value_delimiter = ',')]
    pub events: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Open tasks (every task with --all); an open task past its due time (its app's
    /// --task-due, 3 days by default) shows as overdue.
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Close a task: the work was done by hand. In an app verified by a read, the task
    /// awaits the next read (`verifying`) before it is accepted.
    Close {
        /// The task's id (or its first 6+ characters).
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// The next read of a manual app: its users' CSV export (a header naming them by `email`
    /// or `userName`, optionally an `active` column). Tasks awaiting it are confirmed when it
    /// shows their work done, and reopened with the reason otherwise.
    Verify {
        /// The manual app.
        app: String,
        /// The export.
        #[arg(long, value_name = "FILE")]
        csv: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ManualAppArgs {
    pub name: String,
    /// Who works the app by hand: tasks are theirs.
    #[arg(long)]
    pub owner: String,
    /// How long a task has before its owner is reminded, e.g. 2d (the admins are told as long
    /// again later; default 3d).
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration)]
    pub task_due: Option<std::time::Duration>,
    /// A closed task is accepted only once the next read of the app's users (`tenure task
    /// verify APP --csv FILE`) shows it done.
    #[arg(long)]
    pub verify_by_read: bool,
}

pub async fn offboard(engine: &Engine, args: OffboardArgs) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    let preview = args.preview || (!args.yes && !args.undo);
    let spec = OffboardSpec { at: args.at.clone(), preview, undo: args.undo };
    let view = admin.offboard_to(&args.email, spec, args.successor.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_offboarding(&view);
    }
    if !args.preview && preview {
        eprintln!("nothing changed: add --yes to offboard {} (or --preview to only look)", view.person);
        return Ok(ExitCode::FAILURE);
    }
    Ok(if matches!(view.status.as_str(), "incomplete") { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_offboarding(view: &OffboardView) {
    let head = match view.status.as_str() {
        "preview" => format!("Offboarding {} ({}), effective {}: would do", view.name, view.person, view.effective),
        "scheduled" => format!("Offboarding {} ({}) scheduled for {}: will do", view.name, view.person, view.effective),
        "undone" => format!("Offboarding of {} ({}) undone: restored", view.name, view.person),
        s => format!("Offboarded {} ({}) on {}: {s}", view.name, view.person, view.effective),
    };
    println!("{head}");
    if view.apps.is_empty() {
        println!("  no app account of theirs is known to Tenure");
    }
    for s in &view.apps {
        let account = match (&s.user_name, &s.account) {
            (Some(u), Some(a)) if u != a => format!("{u} (id {a})"),
            (Some(u), _) => u.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        };
        let outcome = s.outcome.as_deref().map(|o| format!(" → {o}")).unwrap_or_default();
        let error = s.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        println!("  {:<14} {:<15} {account}{outcome}{error}  — {}", s.app, s.action.replace('_', " "), s.reason);
    }
    if let Some(m) = &view.manager {
        println!("manager: {m}");
    }
    if let Some(s) = &view.successor {
        println!("successor: {s}");
    }
    if view.notified.is_empty() {
        println!("told: nobody (no notification channel; `tenure notify add`)");
    } else {
        println!("told: {}", view.notified.join(", "));
    }
    if view.status != "preview" {
        println!("took {} ms", view.elapsed_ms);
    }
}

pub async fn notify(engine: &Engine, command: NotifyCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        NotifyCommand::Add(add) => {
            let spec = match add {
                NotifyAdd::Email(a) => ChannelSpec {
                    name: a.name,
                    kind: "email".into(),
                    smtp_url: Some(a.smtp_url),
                    starttls: a.starttls,
                    from: Some(a.from),
                    to: a.to,
                    events: (!a.events.is_empty()).then_some(a.events),
                    ..ChannelSpec::default()
                },
                NotifyAdd::Webhook(a) => webhook_spec("webhook", a)?,
                NotifyAdd::Slack(a) => webhook_spec("slack", a)?,
                NotifyAdd::Teams(a) => webhook_spec("teams", a)?,
            };
            let view = admin.add_channel(spec).await?;
            println!("added {} channel {}: {} ({})", view.kind, view.name, view.target, events_shown(&view));
            if let Some(key) = &view.signing_key {
                println!("signing key (shown once; the receiver checks X-Tenure-Signature with it): {key}");
            }
            // A message names the console page that acts on it; without a public URL that is a
            // bare path, which no mail reader can open.
            if std::env::var("TENURE_PUBLIC_URL").map_or(true, |u| u.trim().is_empty()) {
                eprintln!(
                    "note: messages link to console pages by full URL only where Tenure knows its public URL: \
                     `tenure serve --public-url URL`, and TENURE_PUBLIC_URL for commands such as `tenure offboard`"
                );
            }
        }
        NotifyCommand::List { json } => {
            let channels = admin.channels().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&channels)?);
            } else if channels.is_empty() {
                println!("no notification channel; add one with `tenure notify add email|webhook|slack|teams`");
            } else {
                for c in channels {
                    let error = c.last_error.as_deref().map(|e| format!(", last error: {e}")).unwrap_or_default();
                    println!(
                        "{:<16} {:<8} {}  (sent {}, pending {}, failed {}{error})",
                        c.name, c.kind, c.target, c.sent, c.pending, c.failed
                    );
                    println!("{:<16} {}", "", events_shown(&c));
                }
            }
        }
        NotifyCommand::Set(a) => {
            let change = ChannelChange { events: (!a.all_events).then_some(a.events), all_events: a.all_events };
            let view = admin.change_channel(&a.name, change).await?;
            println!("channel {}: {}", view.name, events_shown(&view));
        }
        NotifyCommand::Events { json } => {
            let events = admin.notify_events()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                for e in events {
                    println!("{:<22} {}", e.event, e.meaning);
                }
            }
        }
        NotifyCommand::Remove { name } => {
            admin.remove_channel(&name).await?;
            println!("removed channel {name}");
        }
        NotifyCommand::Test { name, json } => {
            let test = admin.test_channel(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&test)?);
            } else if test.delivered {
                println!("test message delivered through {name}");
            } else {
                println!("test message NOT delivered through {name}: {}", test.error.unwrap_or_default());
            }
            return Ok(if test.delivered { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events_shown(view: &ChannelView) -> String {
    match &view.events {
        None => "sends every event".to_owned(),
        Some(events) => format!("sends {}", events.join(", ")),
    }
}

fn webhook_spec(kind: &str, a: WebhookArgs) -> anyhow::Result<ChannelSpec> {
    let signing_key = match &a.signing_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| anyhow::anyhow!("--signing-key-env {var}: not set"))?),
        None => None,
    };
    Ok(ChannelSpec {
        name: a.name,
        kind: kind.into(),
        url: Some(a.url),
        signing_key,
        events: (!a.events.is_empty()).then_some(a.events),
        ..ChannelSpec::default()
    })
}

pub async fn task(engine: &Engine, command: TaskCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        TaskCommand::List { all, json } => {
            let tasks = admin.tasks(!all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
            } else if tasks.is_empty() {
                println!("no {}task", if all { "" } else { "open " });
            } else {
                for t in tasks {
                    let status = if t.overdue { "overdue" } else { t.status.as_str() };
                    println!("{}  {:<7} for {}: {}", t.id, status, t.assignee, t.text);
                }
            }
        }
        TaskCommand::Close { id, note } => {
            let t = admin.close_task(&id, note.as_deref()).await?;
            if t.status == "verifying" {
                println!("closed task {}: {} (accepted once the next read of {} shows it done)", t.id, t.text, t.app);
            } else {
                println!("closed task {}: {}", t.id, t.text);
            }
        }
        TaskCommand::Verify { app, csv, json } => {
            let bytes = std::fs::read(&csv).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", csv.display()))?;
            let read = admin.verify_tasks(&app, &bytes).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&read)?);
            } else {
                println!(
                    "read {} users of {}: {} task(s) confirmed, {} reopened",
                    read.users_read,
                    read.app,
                    read.confirmed.len(),
                    read.reopened.len()
                );
                for t in &read.confirmed {
                    println!("  confirmed {}: {}", t.id, t.text);
                }
                for t in &read.reopened {
                    println!("  reopened  {}: {} ({})", t.id, t.text, t.note.as_deref().unwrap_or_default());
                }
            }
            if !read.reopened.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn add_manual(engine: &Engine, args: ManualAppArgs) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let spec = NewApp {
        name: args.name,
        kind: NewAppKind::Manual,
        base_url: None,
        token: None,
        oauth: None,
        google: None,
        github: None,
        owner: Some(args.owner),
        settings: SettingsSpec {
            task_due_s: args.task_due.map(|d| d.as_secs()),
            verify_by_read: args.verify_by_read.then_some(true),
            ..SettingsSpec::default()
        },
        disabled: false,
    };
    let app = engine.admin(&actor).create_app(spec).await?;
    println!(
        "added manual app {}: its plan's operations become tasks for {} (`tenure task list`)",
        app.name,
        app.settings.manual.as_ref().map(|m| m.owner.as_str()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
