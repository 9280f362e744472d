//! Lifecycle workflows on both backends, with a hand-driven clock: a leave date fires at the
//! tenant's local midnight (Europe/Berlin), not UTC's; an approval blocks the run until the
//! manager approves, and is reminded; a notify step reaches the manager through a real SMTP
//! server (aiosmtpd); a run survives a restart and two executors without repeating a step, and
//! a step interrupted mid-way is recorded, not run again; bad definitions are refused.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{
    AssignmentSpec, ChannelSpec, NewApp, NewAppKind, SettingsChange, SettingsSpec, WorkflowSpec,
};
use tenure_engine::{Actor, Engine, ManualClock};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{StepEnd, Store};
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
    a_leave_date_fires_at_local_midnight_not_utc,
    an_approval_blocks_until_the_manager_approves_and_is_reminded,
    a_rejected_approval_ends_the_run_and_no_later_step_runs,
    a_notify_step_reaches_the_manager_over_smtp,
    a_run_survives_a_restart_without_repeating_a_step,
    bad_definitions_are_refused_with_precise_errors,
    a_node_that_lost_the_duty_advances_no_run,
);

const DAY: Duration = Duration::from_secs(24 * 3600);

struct World {
    db: TestDb,
    store: Store,
    engine: Engine,
    clock: Arc<ManualClock>,
    tenant: TenantId,
    /// Ann's leave date: in the future of the real clock, so the planner leaves her be until
    /// a workflow acts.
    leave: time::Date,
}

fn keyring() -> anyhow::Result<tenure_store::crypto::Keyring> {
    Ok(tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "test")?)
}

fn berlin_midnight_ms(day: time::Date) -> anyhow::Result<i64> {
    let civil = jiff::civil::date(day.year() as i16, u8::from(day.month()) as i8, day.day() as i8);
    Ok(civil.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin")?)?.timestamp().as_millisecond())
}

/// Ann (leaving), her manager Bo, a manual app `payroll`; the tenant in Europe/Berlin; the
/// clock a month before Ann's leave date.
async fn world(backend: TestBackend) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(db.url(), keyring()?).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let leave = tenure_engine::today() + time::Duration::days(60);
    let clock = Arc::new(ManualClock::new(berlin_midnight_ms(leave - time::Duration::days(30))? + 12 * 3600 * 1000));
    let engine =
        Engine::new(store.clone(), tenant).with_clock(clock.clone()).with_drain_wait(Duration::from_millis(300));
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let mut ann = person("E1", "ann@acme.example");
    ann.manager_key = Some("E0".into());
    ann.leave_date = Some(leave);
    let batch = ImportBatch { people: vec![person("E0", "bo@acme.example"), ann], groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    admin.set_tenant_settings(SettingsChange { timezone: Some("Europe/Berlin".into()) }).await?;
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
    Ok(World { db, store, engine, clock, tenant, leave })
}

fn spec(name: &str, trigger: &str, offset: Option<i64>, steps: &[&str]) -> WorkflowSpec {
    WorkflowSpec {
        name: name.into(),
        trigger: trigger.into(),
        offset_days: offset,
        steps: steps.iter().map(|s| s.to_string()).collect(),
    }
}

fn set_clock(clock: &ManualClock, to_ms: i64) {
    let now = tenure_engine::Clock::now_ms(clock);
    assert!(to_ms >= now, "the clock only moves forward");
    clock.advance(Duration::from_millis((to_ms - now) as u64));
}

async fn tasks_of(w: &World) -> anyhow::Result<usize> {
    Ok(w.store.tasks(w.tenant, false).await?.len())
}

async fn a_leave_date_fires_at_local_midnight_not_utc(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin.add_workflow(spec("leavers", "leave-date", None, &["task:payroll:close the payroll record"])).await?;
    admin.add_workflow(spec("heads-up", "leave-date", Some(-3), &["task:payroll:prepare the last payslip"])).await?;
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "a month before");

    // Three days before, at local midnight: only the heads-up.
    let before = berlin_midnight_ms(w.leave - time::Duration::days(3))?;
    set_clock(&w.clock, before - 60_000);
    assert_eq!(w.engine.workflow_pass().await?.started, 0, "a minute before local midnight");
    set_clock(&w.clock, before + 60_000);
    let pass = w.engine.workflow_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 1), "{pass:?}");

    // The day itself: at 00:01 in Berlin, while it is still the day before in UTC.
    let midnight = berlin_midnight_ms(w.leave)?;
    set_clock(&w.clock, midnight - 60_000);
    assert_eq!(w.engine.workflow_pass().await?.started, 0);
    set_clock(&w.clock, midnight + 60_000);
    let utc_day = time::OffsetDateTime::from_unix_timestamp(midnight / 1000 + 60)?.date();
    assert_eq!(utc_day, w.leave - time::Duration::days(1), "UTC has not reached the day yet");
    let pass = w.engine.workflow_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 1), "{pass:?}");
    let runs = admin.workflow_runs(Some("ann@acme.example"), 50).await?;
    let run = runs.iter().find(|r| r.workflow == "leavers").expect("the leavers run");
    assert_eq!(run.occasion, format!("leave-date {}", w.leave));
    assert_eq!(run.status, "done");
    assert_eq!(run.steps[0].status, "done");
    assert!(run.steps[0].result.as_deref().unwrap_or_default().contains("for pay@acme.example"), "{run:?}");
    assert_eq!(tasks_of(&w).await?, 2);

    // Later passes fire nothing again.
    w.clock.advance(DAY);
    assert_eq!(w.engine.workflow_pass().await?, tenure_engine::WorkflowPass::default());
    assert_eq!(tasks_of(&w).await?, 2);
    Ok(())
}

async fn a_rejected_approval_ends_the_run_and_no_later_step_runs(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin
        .add_workflow(spec("leavers", "leave-date", None, &["approval:org-admin", "task:payroll:close the record"]))
        .await?;
    set_clock(&w.clock, berlin_midnight_ms(w.leave)? + 60_000);
    w.engine.workflow_pass().await?;
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!(run.status, "approval", "{run:?}");

    // A reason is required, and only those who may approve may reject.
    let e = admin.reject_run(&run.id, "  ").await.unwrap_err().to_string();
    assert!(e.starts_with("reason: say why"), "{e}");
    let auditor = Actor { name: "eve@acme.example".into(), role: Role::Auditor, apps: vec![] };
    let e = w.engine.admin(&auditor).reject_run(&run.id, "no").await.unwrap_err().to_string();
    assert!(e.starts_with("forbidden: eve@acme.example (auditor)"), "{e}");

    let rejected = admin.reject_run(&run.id, "she stays until the audit is over").await?;
    assert_eq!(rejected.status, "rejected");
    assert_eq!(rejected.steps[0].status, "rejected");
    assert_eq!(rejected.steps[0].result.as_deref(), Some("rejected: she stays until the audit is over"));
    assert_eq!(rejected.steps[0].approver.as_deref(), Some(cli.name.as_str()));
    // Decided once: neither a second rejection nor an approval moves it.
    let e = admin.approve_run(&run.id).await.unwrap_err().to_string();
    assert!(e.contains("not waiting for an approval"), "{e}");
    // Later passes run nothing of it, on the day or after.
    w.clock.advance(DAY);
    assert_eq!(w.engine.workflow_pass().await?.steps, 0);
    assert_eq!(tasks_of(&w).await?, 0);
    let audited = w.store.list_audit(w.tenant, 100).await?;
    assert!(audited.iter().any(|e| e.action == "workflow.rejected"), "audited");
    Ok(())
}

async fn an_approval_blocks_until_the_manager_approves_and_is_reminded(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin
        .add_workflow(spec("leavers", "leave-date", None, &["approval:manager:2", "task:payroll:close the record"]))
        .await?;
    set_clock(&w.clock, berlin_midnight_ms(w.leave)? + 60_000);
    w.engine.workflow_pass().await?;
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!((run.status.as_str(), run.steps[0].status.as_str()), ("approval", "waiting"), "{run:?}");
    assert_eq!(run.manager.as_deref(), Some("bo@acme.example"));
    // Blocked: passes do not go past it.
    w.clock.advance(DAY);
    let pass = w.engine.workflow_pass().await?;
    assert_eq!((pass.steps, pass.reminded), (0, 0), "{pass:?}");
    assert_eq!(tasks_of(&w).await?, 0);

    // Somebody else (an auditor who is not the manager) may not approve.
    let auditor = Actor { name: "eve@acme.example".into(), role: Role::Auditor, apps: vec![] };
    let refused = w.engine.admin(&auditor).approve_run(&run.id).await.unwrap_err().to_string();
    assert!(
        refused.starts_with("forbidden: eve@acme.example (auditor): this approval is for the manager bo@acme.example"),
        "{refused}"
    );

    // Two days after it started waiting: reminded, once.
    w.clock.advance(DAY);
    assert_eq!(w.engine.workflow_pass().await?.reminded, 1);
    assert_eq!(w.engine.workflow_pass().await?.reminded, 0);

    // The manager approves (an admin of Tenure by that email, whatever their role).
    let bo = Actor { name: "bo@acme.example".into(), role: Role::Auditor, apps: vec![] };
    let approved = w.engine.admin(&bo).approve_run(&run.id).await?;
    assert_eq!(approved.status, "running");
    assert_eq!(approved.steps[0].approver.as_deref(), Some("bo@acme.example"));
    let again = w.engine.admin(&bo).approve_run(&run.id).await.unwrap_err().to_string();
    assert!(again.contains("not waiting for an approval"), "{again}");
    let pass = w.engine.workflow_pass().await?;
    assert_eq!(pass.steps, 1, "{pass:?}");
    assert_eq!(tasks_of(&w).await?, 1);
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!(run.status, "done", "{run:?}");
    Ok(())
}

async fn a_notify_step_reaches_the_manager_over_smtp(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let smtp = SmtpServer::start().await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    // The channel's own recipients are a fixed address; the step names the manager instead.
    let channel = ChannelSpec {
        name: "mail".into(),
        kind: "email".into(),
        smtp_url: Some(smtp.url()),
        from: Some("tenure@acme.example".into()),
        to: vec!["it@acme.example".into()],
        ..Default::default()
    };
    admin.add_channel(channel).await?;
    admin.add_workflow(spec("leavers", "leave-date", Some(-1), &["notify:manager"])).await?;
    set_clock(&w.clock, berlin_midnight_ms(w.leave - time::Duration::days(1))? + 60_000);
    assert_eq!(w.engine.workflow_pass().await?.steps, 1);
    w.engine.drain_notifications(Duration::from_secs(10)).await?;
    let got = eventually(Duration::from_secs(10), || async {
        smtp.messages().into_iter().find(|m| m.text.contains("Subject: leavers: ann@acme.example"))
    })
    .await?;
    assert_eq!(got.rcpt_to, ["bo@acme.example"], "{}", got.text);
    assert!(got.text.contains(&format!("leave-date {}", w.leave)), "{}", got.text);
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!(run.steps[0].result.as_deref(), Some("told through mail (bo@acme.example)"), "{run:?}");
    Ok(())
}

async fn a_run_survives_a_restart_without_repeating_a_step(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
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
    let applied = w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == 2, "{:?}", applied.apps);
    let active = |email: &str| app.users().into_iter().find(|u| u.user_name == email).map(|u| u.active);

    admin
        .add_workflow(spec(
            "leavers",
            "leave-date",
            None,
            &["task:payroll:close the record", "wait:1", "deprovision", "notify:org-admins+continue"],
        ))
        .await?;
    set_clock(&w.clock, berlin_midnight_ms(w.leave)? + 60_000);
    let pass = w.engine.workflow_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 2), "task and wait: {pass:?}");

    // A restart: a new store handle and engine on the same database, a day later; and a second
    // executor beside it. Each step still runs once.
    w.clock.advance(DAY);
    let store = Store::connect_with_keys(w.db.url(), keyring()?).await?;
    let restarted = Engine::new(store, w.tenant).with_clock(w.clock.clone()).with_drain_wait(Duration::from_secs(5));
    let (a, b) = tokio::join!(restarted.workflow_pass(), w.engine.workflow_pass());
    let (a, b) = (a?, b?);
    // The deprovisioning queued its work and waits for it: the pass is not held up by the app.
    assert_eq!(a.steps + b.steps, 0, "the deprovisioning waits: {a:?} {b:?}");
    let run = admin.workflow_runs(Some("ann@acme.example"), 10).await?.remove(0);
    assert_eq!(
        (run.status.as_str(), run.steps[2].status.as_str(), run.steps[2].result.as_deref()),
        ("running", "waiting", Some("waiting for 1 operation")),
        "{run:?}"
    );
    assert_eq!(active("ann@acme.example"), Some(true), "nothing reached the app in the pass itself");
    // Looked at again before the queue ran: still waiting, nothing repeated.
    w.clock.advance(Duration::from_secs(60));
    assert_eq!(restarted.workflow_pass().await?.steps, 0);
    // The queue carries it out, as `serve`'s workers do.
    let executor = tenure_engine::Executor::new(restarted.clone(), restarted.worker_options().clone());
    executor.drain(None, Duration::from_secs(20)).await?;
    eventually(Duration::from_secs(20), || async { (active("ann@acme.example") == Some(false)).then_some(()) }).await?;
    assert_eq!(active("bo@acme.example"), Some(true), "nobody else");
    w.clock.advance(Duration::from_secs(60));
    let (a, b) = tokio::join!(restarted.workflow_pass(), w.engine.workflow_pass());
    let (a, b) = (a?, b?);
    assert_eq!(a.steps + b.steps, 2, "deprovision and notify, once: {a:?} {b:?}");
    assert_eq!(tasks_of(&w).await?, 1, "the task was not opened again");
    let run = admin.workflow_runs(Some("ann@acme.example"), 10).await?.remove(0);
    let statuses: Vec<&str> = run.steps.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(statuses, ["done", "done", "done", "failed"], "{run:?}");
    assert_eq!(run.status, "done", "the failed notify said go on: {run:?}");
    assert!(run.steps[3].error.as_deref().unwrap_or_default().contains("no channel has anyone to tell"), "{run:?}");
    assert!(run.steps[2].result.as_deref().unwrap_or_default().contains("notion deactivate: done"), "{run:?}");

    // A process that claimed a deprovisioning and died: the claim is found stale and recorded,
    // and the step is not run again.
    let mut bo = person("E0", "bo@acme.example");
    bo.leave_date = Some(w.leave + time::Duration::days(5));
    let source = w.store.list_sources(w.tenant).await?.remove(0).id;
    let mut ann = person("E1", "ann@acme.example");
    ann.manager_key = Some("E0".into());
    ann.leave_date = Some(w.leave);
    w.store.apply_import(w.tenant, source, &ImportBatch { people: vec![bo, ann], groups: vec![] }).await?;
    admin.remove_workflow("leavers").await?;
    // Fires for Bo's date only: Ann's was before the workflow was made.
    admin.add_workflow(spec("cut", "leave-date", None, &["deprovision"])).await?;
    set_clock(&w.clock, berlin_midnight_ms(w.leave + time::Duration::days(5))? + 60_000);
    // The run as a pass started it, and its step as a process that died mid-way claimed it.
    let wf = w.store.workflows(w.tenant).await?.into_iter().find(|x| x.name == "cut").expect("cut");
    let people = w.store.list_people(w.tenant).await?;
    let bo = people.iter().find(|p| p.email == "bo@acme.example").expect("bo");
    let now = tenure_engine::Clock::now_ms(&*w.clock);
    let mut tx = w.store.begin().await?;
    let occasion = format!("leave-date {}", w.leave + time::Duration::days(5));
    let run = tx
        .start_run(
            w.tenant,
            &tenure_store::NewRun {
                workflow: &wf,
                person_id: bo.id,
                person: &bo.email,
                manager: None,
                occasion: &occasion,
            },
            now,
        )
        .await?
        .expect("new");
    let claim = StepEnd { status: "running", result: None, error: None, approver: None };
    assert!(tx.claim_step(w.tenant, run, 0, "deprovision", claim, now).await?);
    tx.commit().await?;
    // Within the claim's lease nothing happens; after it, the step is recorded interrupted.
    assert_eq!(restarted.workflow_pass().await?.steps, 0);
    w.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(restarted.workflow_pass().await?.steps, 1);
    let run = admin.workflow_runs(Some("bo@acme.example"), 10).await?.remove(0);
    assert_eq!((run.status.as_str(), run.steps[0].status.as_str()), ("failed", "interrupted"), "{run:?}");
    assert_eq!(active("bo@acme.example"), Some(true), "the interrupted step was not run again");
    Ok(())
}

/// A node that stalled past its lease of the workflows duty (another node took it over, with a
/// new term) has every write of its pass refused: it starts no run and moves none; the new
/// holder carries them.
async fn a_node_that_lost_the_duty_advances_no_run(backend: TestBackend) -> anyhow::Result<()> {
    use tenure_engine::nodes::{DUTY_LEASE, WORKFLOWS};
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin
        .add_workflow(spec(
            "leavers",
            "leave-date",
            None,
            &["task:payroll:close the record", "wait:1", "task:payroll:archive the file"],
        ))
        .await?;
    let old = w.engine.clone().with_node_id("node-a");
    let duty = old.hold_duty(WORKFLOWS).await?.expect("nobody holds the duty yet");
    let fence = duty.fence().clone();
    // Node a stalls (its renewals stop) and node b takes the duty over.
    drop(duty);
    let taken = w.store.take_duty(w.tenant, WORKFLOWS, "node-b", DUTY_LEASE, true).await?.expect("taken over");
    assert!(taken.fence.term > fence.term, "a takeover is a new term: {taken:?}");

    set_clock(&w.clock, berlin_midnight_ms(w.leave)? + 60_000);
    let refused = old.workflow_pass_under(&fence).await.unwrap_err();
    assert!(matches!(refused, tenure_engine::EngineError::Store(tenure_store::StoreError::Fenced { .. })), "{refused}");
    assert!(admin.workflow_runs(None, 10).await?.is_empty(), "the old holder started nothing");
    assert_eq!(tasks_of(&w).await?, 0);

    // The new holder fires and carries the run to its wait.
    let new = Engine::new(w.store.clone(), w.tenant).with_clock(w.clock.clone()).with_node_id("node-b");
    let pass = new.workflow_pass().await?;
    assert_eq!((pass.started, pass.steps), (1, 2), "{pass:?}");
    // After the wait, the old holder still moves nothing; the new one finishes the run.
    w.clock.advance(DAY + Duration::from_secs(60));
    let refused = old.workflow_pass_under(&fence).await.unwrap_err();
    assert!(refused.to_string().contains("workflows duty was taken over"), "{refused}");
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!((run.status.as_str(), run.steps[2].status.as_str()), ("running", "pending"), "{run:?}");
    assert_eq!(tasks_of(&w).await?, 1);
    assert_eq!(new.workflow_pass().await?.steps, 1);
    let run = admin.workflow_runs(None, 10).await?.remove(0);
    assert_eq!((run.status.as_str(), run.steps[2].status.as_str()), ("done", "done"), "{run:?}");
    Ok(())
}

async fn bad_definitions_are_refused_with_precise_errors(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let err = |r: Result<tenure_engine::admin::WorkflowView, tenure_engine::EngineError>| r.unwrap_err().to_string();
    let e = err(admin.add_workflow(spec("leavers", "leave-date", None, &["deprovision", "task:nope:do it"])).await);
    assert_eq!(e, "steps[1]: app \"nope\" not found");
    let e = err(admin.add_workflow(spec("leavers", "leave-date", None, &["wait:0"])).await);
    assert_eq!(e, "steps[0]: \"wait:0\": wait takes a whole number of days, 1 to 366, not \"0\"");
    let e = err(admin.add_workflow(spec("Leavers!", "leave-date", None, &["deprovision"])).await);
    assert!(e.starts_with("name: \"Leavers!\""), "{e}");
    let e = err(admin.add_workflow(spec("movers", "manager-change", Some(1), &["notify:manager"])).await);
    assert!(e.starts_with("offset_days: only date triggers"), "{e}");
    let auditor = Actor { name: "eve@acme.example".into(), role: Role::Auditor, apps: vec![] };
    let e = err(w.engine.admin(&auditor).add_workflow(spec("leavers", "leave-date", None, &["deprovision"])).await);
    assert!(e.starts_with("forbidden:"), "{e}");
    assert!(admin.workflows().await?.is_empty(), "nothing written by a refused definition");

    admin.add_workflow(spec("leavers", "leave-date", None, &["deprovision"])).await?;
    let e = err(admin.add_workflow(spec("leavers", "start-date", None, &["deprovision"])).await);
    assert!(e.contains("workflow leavers"), "{e}");
    let e = admin.set_tenant_settings(SettingsChange { timezone: Some("Europe/Berlín".into()) }).await.unwrap_err();
    assert!(e.to_string().starts_with("timezone: \"Europe/Berlín\" is not a known IANA timezone"), "{e}");
    assert_eq!(admin.tenant_settings().await?.timezone, "Europe/Berlin", "unchanged");
    let e = admin.approve_run("not-a-run").await.unwrap_err().to_string();
    assert_eq!(e, "run: \"not-a-run\" is not a run id");
    assert_eq!(admin.remove_workflow("leavers").await?, 0);
    assert!(admin.remove_workflow("leavers").await.unwrap_err().to_string().contains("not found"));
    Ok(())
}
