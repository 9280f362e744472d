//! Manual apps' tasks, on both backends and through a real SMTP server (aiosmtpd): a task is
//! due on its app's own clock (`--task-due`), its owner reminded and the admins told on it; in
//! an app read back (`--verify-by-read`), a closed task is accepted only once the next read of
//! the app's users shows it done, and reopened with the reason (its owner told) otherwise.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{AppEdit, AssignmentSpec, ChannelSpec, NewApp, NewAppKind, SettingsSpec};
use tenure_engine::{Actor, Engine, ManualClock};
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

on_both_backends!(a_task_is_due_on_its_apps_own_clock, a_closed_task_is_accepted_only_when_the_next_read_shows_it_done,);

const DAY: Duration = Duration::from_secs(24 * 3600);

struct World {
    _db: TestDb,
    store: Store,
    engine: Engine,
    tenant: TenantId,
    clock: Arc<ManualClock>,
    source: SourceId,
    smtp: SmtpServer,
}

/// A tenant with Ann and Bo, a manual app `payroll` (owner pay@) granted to everyone, and a
/// mail channel to it@ for the task events.
async fn world(backend: TestBackend, settings: SettingsSpec) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let keyring = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?;
    let store = Store::connect_with_keys(db.url(), keyring).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let clock = Arc::new(ManualClock::new(tenure_engine::Clock::now_ms(&tenure_engine::SystemClock)));
    let wide = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
    let engine = Engine::new(store.clone(), tenant)
        .with_clock(clock.clone())
        .with_global_guard(wide)
        .with_drain_wait(Duration::from_millis(300));
    let smtp = SmtpServer::start().await?;
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch =
        ImportBatch { people: vec![person("E1", "ann@acme.example"), person("E2", "bo@acme.example")], groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
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
            settings,
            disabled: false,
        })
        .await?;
    admin.assign("payroll", &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
    admin
        .add_channel(ChannelSpec {
            name: "mail".into(),
            kind: "email".into(),
            smtp_url: Some(smtp.url()),
            from: Some("tenure@acme.example".into()),
            to: vec!["it@acme.example".into()],
            events: Some(vec!["task.overdue".into(), "task.escalated".into(), "task.reopened".into()]),
            ..Default::default()
        })
        .await?;
    engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    Ok(World { _db: db, store, engine, tenant, clock, source, smtp })
}

/// A quoted-printable body as read: soft line breaks joined, escapes decoded.
fn plain(text: &str) -> String {
    text.replace("=\r\n", "").replace("=\n", "").replace("=20", " ").replace("=3D", "=")
}

async fn received(smtp: &SmtpServer, subject: &str) -> anyhow::Result<tenure_testkit::smtp::Received> {
    let wanted = format!("Subject: {subject}");
    let got = eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains(&wanted))
    })
    .await?;
    eprintln!("----- received by aiosmtpd -----\n{}\n-----", got.text);
    Ok(got)
}

async fn a_task_is_due_on_its_apps_own_clock(backend: TestBackend) -> anyhow::Result<()> {
    let two_days = SettingsSpec { task_due_s: Some(2 * DAY.as_secs()), ..Default::default() };
    let w = world(backend, two_days).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let tasks = admin.tasks(true).await?;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.due_ms == t.created_ms + 2 * DAY.as_millis() as i64), "{tasks:?}");

    w.clock.advance(DAY);
    assert_eq!(w.engine.notice_pass().await?, Default::default(), "not due after a day");
    w.clock.advance(DAY + Duration::from_secs(60));
    let pass = w.engine.notice_pass().await?;
    assert_eq!((pass.overdue, pass.escalated), (2, 0), "reminded after two days, not three: {pass:?}");
    w.clock.advance(2 * DAY);
    let pass = w.engine.notice_pass().await?;
    assert_eq!((pass.overdue, pass.escalated), (0, 2), "escalated two days later: {pass:?}");
    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let reminder = received(&w.smtp, "Overdue: a payroll task for pay@acme.example").await?;
    assert_eq!(reminder.rcpt_to, ["pay@acme.example"]);
    let escalation = received(&w.smtp, "Escalated: a payroll task for pay@acme.example is still open").await?;
    assert_eq!(escalation.rcpt_to, ["it@acme.example"], "to the org's admins on the channel");

    // The default comes back with 0; a due time under an hour is refused.
    let edit =
        |s: u64| AppEdit { settings: SettingsSpec { task_due_s: Some(s), ..Default::default() }, ..Default::default() };
    admin.edit_app("payroll", edit(0), None, false).await?;
    let tasks = admin.tasks(true).await?;
    assert!(tasks.iter().all(|t| t.due_ms == t.created_ms + tenure_engine::TASK_DUE.as_millis() as i64));
    let refused = admin.edit_app("payroll", edit(60), None, false).await.err().map(|e| e.to_string());
    assert!(refused.unwrap_or_default().contains("task_due_s"));
    Ok(())
}

async fn a_closed_task_is_accepted_only_when_the_next_read_shows_it_done(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, SettingsSpec { verify_by_read: Some(true), ..Default::default() }).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let task_of = |tasks: &[tenure_engine::admin::TaskView], who: &str| {
        tasks.iter().find(|t| t.person == who).cloned().expect("a task")
    };
    let ann = task_of(&admin.tasks(true).await?, "ann@acme.example");
    assert_eq!(ann.op, "create");

    // Ann's account is said to be made: the task awaits the next read, and no second task opens.
    let closed = admin.close_task(&ann.id, Some("done")).await?;
    assert_eq!(closed.status, "verifying");
    w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    let all = admin.tasks(false).await?;
    assert_eq!(all.iter().filter(|t| t.person == "ann@acme.example").count(), 1, "{all:?}");
    assert!(w.store.list_accounts(w.tenant, app_id(&w).await?).await?.is_empty(), "nothing recorded yet");

    // The export does not list her: the task reopens with the reason, and its owner is told.
    let read = admin.verify_tasks("payroll", b"email,active\nbo@acme.example,true\n").await?;
    assert_eq!((read.users_read, read.confirmed.len(), read.reopened.len()), (1, 0, 1), "{read:?}");
    let reopened = &read.reopened[0];
    assert_eq!(reopened.status, "open");
    assert!(reopened.note.as_deref().unwrap_or_default().contains("does not list ann@acme.example"), "{reopened:?}");
    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let told = received(&w.smtp, "Reopened: a payroll task for pay@acme.example").await?;
    assert_eq!(told.rcpt_to, ["pay@acme.example"]);
    assert!(plain(&told.text).contains("does not list ann@acme.example"), "{}", told.text);

    // Closed again, and this time the export shows her: accepted, and her account recorded.
    admin.close_task(&ann.id, None).await?;
    let read =
        admin.verify_tasks("payroll", b"Email,Status\nANN@acme.example,active\nbo@acme.example,active\n").await?;
    assert_eq!((read.confirmed.len(), read.reopened.len()), (1, 0), "{read:?}");
    assert_eq!(read.confirmed[0].status, "closed");
    let accounts = w.store.list_accounts(w.tenant, app_id(&w).await?).await?;
    assert_eq!(accounts.iter().map(|a| a.user_name.as_str()).collect::<Vec<_>>(), ["ann@acme.example"]);

    // Ann leaves: "deactivate Ann" is accepted only when a read shows her inactive or gone.
    w.store
        .apply_import(
            w.tenant,
            w.source,
            &ImportBatch { people: vec![person("E2", "bo@acme.example")], groups: vec![] },
        )
        .await?;
    w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    let leave = task_of(&admin.tasks(true).await?, "ann@acme.example");
    assert!(matches!(leave.op.as_str(), "deactivate" | "delete"), "{leave:?}");
    admin.close_task(&leave.id, None).await?;
    let read = admin.verify_tasks("payroll", b"email,active\nann@acme.example,true\n").await?;
    assert_eq!(read.reopened.len(), 1, "{read:?}");
    assert!(read.reopened[0].note.as_deref().unwrap_or_default().contains("still lists ann@acme.example"));
    admin.close_task(&leave.id, None).await?;
    // A bad export changes nothing: the task still awaits a read.
    let bad = admin.verify_tasks("payroll", b"email,active\nann@acme.example,perhaps\n").await;
    assert!(bad.err().map(|e| e.to_string()).unwrap_or_default().contains("line 2"));
    let still = admin.tasks(false).await?.into_iter().find(|t| t.id == leave.id).expect("the task");
    assert_eq!(still.status, "verifying");
    let read = admin.verify_tasks("payroll", b"email\nbo@acme.example\n").await?;
    assert_eq!((read.confirmed.len(), read.reopened.len()), (1, 0), "gone from the export: {read:?}");
    let audit: Vec<String> = w.store.list_audit(w.tenant, 500).await?.into_iter().map(|e| e.action).collect();
    assert_eq!(audit.iter().filter(|a| *a == "task.reopened").count(), 2, "{audit:?}");
    assert_eq!(audit.iter().filter(|a| *a == "task.confirmed").count(), 2, "{audit:?}");
    Ok(())
}

async fn app_id(w: &World) -> anyhow::Result<AppId> {
    let apps = w.store.list_apps(w.tenant).await?;
    apps.into_iter().find(|a| a.app.name == "payroll").map(|a| a.app.id).ok_or_else(|| anyhow::anyhow!("no app"))
}
