//! Notifications chosen per channel, and the notices that go out at most once, on both
//! backends and through a real SMTP server (aiosmtpd): a channel sends only the events it
//! carries and unknown ones are refused; a source guard's refusal is told once per refused
//! delivery, not at every retry of the same file; an overdue task is reminded to its assignee,
//! then escalated, each once even with two nodes; a new starter whose accounts are all ready is
//! told to their manager once; a license reclaim's one-click answer links go only by email to the
//! people asked, never into a shared channel, and nobody is asked when no email would reach them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{
    ActivityEntry, ActivityUpload, AssignmentSpec, ChannelChange, ChannelSpec, LicenseSpec, NewApp, NewAppKind,
    ReclaimSpec, SettingsSpec,
};
use tenure_engine::notify::Notice;
use tenure_engine::{Actor, CsvSourceConfig, Engine, EngineError, ManualClock, SyncOptions};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{SmtpServer, TestBackend, TestDb, eventually, person};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(
    a_channel_sends_only_its_events_and_unknown_ones_are_refused,
    a_refused_sync_is_told_once_per_delivery,
    an_overdue_task_is_reminded_then_escalated_once,
    a_new_starter_whose_accounts_are_ready_is_told_to_the_manager_once,
    reclaim_links_go_only_to_the_people_a_message_is_addressed_to,
);

const DAY: Duration = Duration::from_secs(24 * 3600);

struct World {
    _db: TestDb,
    store: Store,
    engine: Engine,
    tenant: TenantId,
    clock: Arc<ManualClock>,
}

async fn world(backend: TestBackend) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?;
    let store = Store::connect_with_keys(db.url(), keyring).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let clock = Arc::new(ManualClock::new(tenure_engine::Clock::now_ms(&tenure_engine::SystemClock)));
    let engine =
        Engine::new(store.clone(), tenant).with_clock(clock.clone()).with_drain_wait(Duration::from_millis(300));
    Ok(World { _db: db, store, engine, tenant, clock })
}

fn email_channel(name: &str, smtp: &str, to: &[&str], events: Option<&[&str]>) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: "email".into(),
        smtp_url: Some(smtp.into()),
        from: Some("tenure@acme.example".into()),
        to: to.iter().map(|t| t.to_string()).collect(),
        events: events.map(|e| e.iter().map(|e| e.to_string()).collect()),
        ..Default::default()
    }
}

/// The sandbox app added as `notion` and granted to everyone.
async fn notion_for_everyone(admin: &tenure_engine::admin::Admin<'_>, app: &SandboxApp) -> anyhow::Result<()> {
    admin
        .create_app(NewApp {
            name: "notion".into(),
            kind: NewAppKind::Scim,
            base_url: Some(app.base_url()),
            token: Some(app.token().into()),
            oauth: None,
            google: None,
            github: None,
            owner: None,
            settings: SettingsSpec::default(),
            disabled: false,
        })
        .await?;
    admin.assign("notion", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
    Ok(())
}

/// Outbox rows per channel name and event.
async fn outbox(w: &World) -> anyhow::Result<Vec<(String, String)>> {
    let channels = w.store.channels(w.tenant).await?;
    let mut rows: Vec<(String, String)> = w
        .store
        .outbox(w.tenant, 1000)
        .await?
        .into_iter()
        .map(|m| {
            let name = channels.iter().find(|c| c.id == m.channel_id).map(|c| c.name.clone()).unwrap_or_default();
            (name, m.event)
        })
        .collect();
    rows.sort();
    Ok(rows)
}

fn count(rows: &[(String, String)], event: &str) -> usize {
    rows.iter().filter(|(_, e)| e == event).count()
}

/// A quoted-printable body as read: soft line breaks joined, escapes decoded.
fn plain(text: &str) -> String {
    text.replace("=\r\n", "").replace("=\n", "").replace("=20", " ").replace("=3D", "=")
}

/// The message whose subject starts with `subject`, once the SMTP server has it.
async fn received(smtp: &SmtpServer, subject: &str) -> anyhow::Result<tenure_testkit::smtp::Received> {
    let wanted = format!("Subject: {subject}");
    let got = eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains(&wanted))
    })
    .await?;
    // The message as the server received it, for whoever reads the test's output.
    eprintln!("----- received by aiosmtpd -----\n{}\n-----", got.text);
    Ok(got)
}

async fn a_channel_sends_only_its_events_and_unknown_ones_are_refused(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let smtp = "smtp://127.0.0.1:9";
    let ops = admin.add_channel(email_channel("ops", smtp, &["ops@acme.example"], None)).await?;
    assert_eq!(ops.events, None, "a channel sends every event unless told otherwise");
    let err = admin
        .add_channel(email_channel("bad", smtp, &["ops@acme.example"], Some(&["task.overdeu"])))
        .await
        .unwrap_err();
    let EngineError::BadField { field, message } = &err else { panic!("{err}") };
    assert_eq!(field, "events");
    assert!(message.contains("task.overdeu") && message.contains("task.overdue, task.escalated"), "{message}");
    assert!(admin.channels().await?.iter().all(|c| c.name != "bad"), "a refused channel is not added");
    let tasks =
        admin.add_channel(email_channel("tasks", smtp, &["tasks@acme.example"], Some(&["task.*", "TASK.*"]))).await?;
    assert_eq!(tasks.events, Some(vec!["task.*".to_owned()]), "lower-cased, without repeats");
    assert!(admin.add_channel(email_channel("x", smtp, &["a@acme.example"], Some(&["nope.*"]))).await.is_err());

    let changed = admin
        .change_channel("ops", ChannelChange { events: Some(vec!["source.guard_refused".into()]), all_events: false })
        .await?;
    assert_eq!(changed.events, Some(vec!["source.guard_refused".to_owned()]));
    let both = ChannelChange { events: Some(vec!["task.overdue".into()]), all_events: true };
    assert!(matches!(admin.change_channel("ops", both).await, Err(EngineError::BadField { .. })));
    let missing = ChannelChange { events: None, all_events: true };
    assert!(matches!(admin.change_channel("nope", missing).await, Err(EngineError::NotFound(_))));

    w.engine.notify(&Notice::new("task.overdue", "overdue")).await;
    w.engine.notify(&Notice::new("source.guard_refused", "refused")).await;
    w.engine.notify(&Notice::new("offboarding.done", "done")).await;
    let rows = outbox(&w).await?;
    let want = |c: &str, e: &str| (c.to_owned(), e.to_owned());
    assert_eq!(rows, [want("ops", "source.guard_refused"), want("tasks", "task.overdue")], "{rows:?}");

    let all = admin.change_channel("ops", ChannelChange { events: None, all_events: true }).await?;
    assert_eq!(all.events, None);
    w.engine.notify(&Notice::new("offboarding.done", "done")).await;
    assert_eq!(count(&outbox(&w).await?, "offboarding.done"), 1, "ops sends every event again");
    let audit = w.store.list_audit(w.tenant, 100).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "notify.change").count(), 2);
    assert_eq!(admin.notify_events()?.len(), tenure_engine::notify::EVENTS.len());
    Ok(())
}

async fn a_refused_sync_is_told_once_per_delivery(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let smtp = SmtpServer::start().await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin.add_channel(email_channel("mail", &smtp.url(), &["it@acme.example"], None)).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("people.csv");
    std::fs::write(&file, "employee_id,email\nE1,a@acme.example\nE2,b@acme.example\nE3,c@acme.example\n")?;
    let config = CsvSourceConfig {
        file: file.clone(),
        groups_file: None,
        mapping: Default::default(),
        scope: Default::default(),
        min_share_percent: Some(50),
        format: Default::default(),
        watch_dir: None,
    };
    w.store.add_source(w.tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
    w.engine.sync(Some("hr")).await?;

    // A broken export, read by the schedule again and again.
    std::fs::write(&file, "employee_id,email\nE1,a@acme.example\n")?;
    for _ in 0..3 {
        let err = w.engine.sync(Some("hr")).await.unwrap_err();
        assert!(matches!(err, EngineError::SourceGuard { got: 1, previous: 3, .. }), "{err}");
    }
    assert_eq!(count(&outbox(&w).await?, "source.guard_refused"), 1, "the same delivery is told once");
    // The same people in another order is the same delivery.
    std::fs::write(&file, "email,employee_id\na@acme.example,E1\n")?;
    assert!(w.engine.sync(Some("hr")).await.is_err());
    assert_eq!(count(&outbox(&w).await?, "source.guard_refused"), 1);
    // Another bad export is news.
    std::fs::write(&file, "employee_id,email\nE2,b@acme.example\n")?;
    assert!(w.engine.sync(Some("hr")).await.is_err());
    assert_eq!(count(&outbox(&w).await?, "source.guard_refused"), 2);
    // Forced, nothing is refused and nothing told.
    w.engine.sync_with(Some("hr"), SyncOptions { force: true, ..Default::default() }).await?;
    assert_eq!(count(&outbox(&w).await?, "source.guard_refused"), 2);

    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let got = received(&smtp, "Sync of hr refused: it delivered 1 person, 3 expected").await?;
    assert_eq!(got.rcpt_to, ["it@acme.example"]);
    for words in ["where the last sync had 3", "at least 50%", "tenure sync hr --force", "/sources/hr"] {
        assert!(plain(&got.text).contains(words), "{words}: {}", got.text);
    }
    Ok(())
}

async fn an_overdue_task_is_reminded_then_escalated_once(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let smtp = SmtpServer::start().await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: vec![person("E1", "ann@acme.example")], groups: vec![] };
    w.store.apply_import(w.tenant, source, &batch).await?;
    admin
        .create_app(NewApp {
            name: "payroll".into(),
            kind: NewAppKind::Manual,
            base_url: None,
            token: None,
            oauth: None,
            google: None,
            github: None,
            owner: Some("pay@acme.example".into()),
            settings: SettingsSpec::default(),
            disabled: false,
        })
        .await?;
    admin.assign("payroll", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
    // The assignment is told at once; the reminders are what this test is about.
    admin
        .add_channel(email_channel(
            "mail",
            &smtp.url(),
            &["it@acme.example"],
            Some(&["task.overdue", "task.escalated"]),
        ))
        .await?;
    w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    let tasks = admin.tasks(true).await?;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(!tasks[0].overdue);
    assert_eq!(tasks[0].due_ms, tasks[0].created_ms + tenure_engine::TASK_DUE.as_millis() as i64);
    assert_eq!(w.engine.notice_pass().await?, Default::default(), "not due yet");

    w.clock.advance(tenure_engine::TASK_DUE + Duration::from_secs(60));
    assert!(admin.tasks(true).await?[0].overdue, "shown as overdue");
    // A second node, as `serve` on another machine: whoever runs the pass, it is told once.
    let other = Engine::new(w.store.clone(), w.tenant).with_clock(w.clock.clone());
    let pass = w.engine.notice_pass().await?;
    assert_eq!((pass.overdue, pass.escalated), (1, 0), "{pass:?}");
    assert_eq!(other.notice_pass().await?, Default::default());
    assert_eq!(w.engine.notice_pass().await?, Default::default());

    w.clock.advance(tenure_engine::TASK_ESCALATION);
    let pass = other.notice_pass().await?;
    assert_eq!((pass.overdue, pass.escalated), (0, 1), "{pass:?}");
    assert_eq!(w.engine.notice_pass().await?, Default::default());
    let rows = outbox(&w).await?;
    assert_eq!((count(&rows, "task.overdue"), count(&rows, "task.escalated")), (1, 1), "{rows:?}");

    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let reminder = received(&smtp, "Overdue: a payroll task for pay@acme.example").await?;
    assert_eq!(reminder.rcpt_to, ["pay@acme.example"], "the reminder is the assignee's");
    assert!(plain(&reminder.text).contains("create an account for"), "{}", reminder.text);
    assert!(plain(&reminder.text).contains("tenure task close "), "{}", reminder.text);
    let escalation = received(&smtp, "Escalated: a payroll task for pay@acme.example is still open").await?;
    assert_eq!(escalation.rcpt_to, ["it@acme.example"], "the escalation goes to the channel's admins");

    // A closed task is no longer overdue, and nothing more is told.
    let id = admin.tasks(true).await?.remove(0).id;
    admin.close_task(&id, None).await?;
    assert!(!admin.tasks(false).await?[0].overdue);
    Ok(())
}

async fn a_new_starter_whose_accounts_are_ready_is_told_to_the_manager_once(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let smtp = SmtpServer::start().await?;
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let mut ann = person("E1", "ann@acme.example");
    ann.manager_key = Some("E0".into());
    ann.start_date = Some(tenure_engine::today());
    let batch = ImportBatch { people: vec![person("E0", "bo@acme.example"), ann], groups: vec![] };
    w.store.apply_import(w.tenant, source, &batch).await?;
    notion_for_everyone(&admin, &app).await?;
    admin.add_channel(email_channel("managers", &smtp.url(), &["manager"], Some(&["onboarding.ready"]))).await?;
    assert_eq!(w.engine.notice_pass().await?, Default::default(), "no account yet");

    let applied = w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == 2, "{:?}", applied.apps);
    let pass = w.engine.notice_pass().await?;
    assert_eq!(pass.onboarding_ready, 1, "Ann started today; Bo has no start date: {pass:?}");
    assert_eq!(w.engine.notice_pass().await?, Default::default(), "told once");
    w.clock.advance(DAY);
    assert_eq!(w.engine.notice_pass().await?, Default::default(), "told once, also the next day");

    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let got = received(&smtp, "ann@acme.example is ready: 1 account(s) set up").await?;
    assert_eq!(got.rcpt_to, ["bo@acme.example"]);
    for words in ["- notion: ann@acme.example", "/people/ann@acme.example", "Manager: bo@acme.example."] {
        assert!(plain(&got.text).contains(words), "{words}: {}", got.text);
    }
    Ok(())
}

/// A reclaim question carries keep / release links that act for whoever follows them. A Slack
/// channel is read by everyone in it: it learns of the question without the links. With no email
/// channel to carry them, nobody is asked at all (else the seat would go at the deadline for want
/// of a message, not of use).
async fn reclaim_links_go_only_to_the_people_a_message_is_addressed_to(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: vec![person("E0", "ann@acme.example")], groups: vec![] };
    w.store.apply_import(w.tenant, source, &batch).await?;
    notion_for_everyone(&admin, &app).await?;
    let today = w.engine.today().await?;
    let applied = w.engine.apply(w.engine.plan(None, today).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == 1, "{:?}", applied.apps);
    let pool = LicenseSpec {
        tier: None,
        seats: 5,
        cost_per_seat: "8".parse()?,
        currency: None,
        period: None,
        renews: None,
        owner: None,
        unused_days: Some(30),
        freed_to: None,
    };
    admin.set_license("notion", pool).await?;
    let entries = vec![ActivityEntry {
        user: "ann@acme.example".into(),
        last_active: (today - time::Duration::days(40)).to_string(),
    }];
    admin.set_license_activity("notion", ActivityUpload { entries }).await?;
    admin
        .add_channel(ChannelSpec {
            name: "it-chat".into(),
            kind: "slack".into(),
            url: Some("https://hooks.slack.com/services/T0/B0/secretpart".into()),
            ..Default::default()
        })
        .await?;

    // Only a shared channel: nobody could answer, so nobody is asked.
    for preview in [true, false] {
        let run = admin.license_reclaim("notion", ReclaimSpec { preview, ..Default::default() }).await?;
        assert!(run.asked.is_empty(), "{run:?}");
        assert_eq!(run.skipped.len(), 1, "{run:?}");
        assert_eq!(run.skipped[0].why, tenure_engine::license_reclaim::NOBODY_TO_ASK);
    }
    assert!(admin.license_reclaims(None).await?.is_empty());
    assert!(outbox(&w).await?.is_empty(), "nothing told");

    admin.add_channel(email_channel("mail", "smtp://127.0.0.1:9", &["person"], Some(&["license.*"]))).await?;
    let run = admin.license_reclaim("notion", ReclaimSpec::default()).await?;
    assert_eq!(run.asked.len(), 1, "{run:?}");
    let channels = w.store.channels(w.tenant).await?;
    let text_of = |name: &str, rows: &[tenure_store::OutboxRecord]| {
        let id = channels.iter().find(|c| c.name == name).map(|c| c.id);
        rows.iter().find(|m| Some(m.channel_id) == id).map(|m| m.message["text"].as_str().unwrap_or("").to_owned())
    };
    let rows = w.store.outbox(w.tenant, 100).await?;
    let mail = text_of("mail", &rows).expect("the person's email");
    let chat = text_of("it-chat", &rows).expect("the shared channel's message");
    assert!(mail.contains("Keep it: ") && mail.contains("/reclaim/"), "{mail}");
    assert!(!chat.contains("/reclaim/"), "no answer link in a shared channel: {chat}");
    assert!(chat.contains("ann@acme.example") && chat.contains("asked by email"), "{chat}");
    Ok(())
}
