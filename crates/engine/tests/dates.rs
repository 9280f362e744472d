//! Dates act on the tenant's day, at its midnight: a leave date in Berlin deprovisions once the
//! day begins in Berlin (while it is still the day before in UTC), marked by the `dates` duty
//! without waiting for the hourly reconciliation. The clock is the test's; the app a sandbox;
//! both backends.

use std::sync::Arc;
use std::time::Duration;

use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::SettingsChange;
use tenure_engine::{Actor, Engine, Executor, ManualClock, WorkerOptions};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb, person};

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

on_both_backends!(a_leave_date_acts_at_the_tenants_midnight_and_a_starter_is_prepared_ahead);

const PEOPLE: usize = 30;

/// 2027-03-09 22:30 UTC: 23:30 in Berlin (UTC+1 until the end of March), the same day in both.
const EVENING_MS: i64 = 1_804_631_400_000;

async fn a_leave_date_acts_at_the_tenants_midnight_and_a_starter_is_prepared_ahead(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let clock = Arc::new(ManualClock::new(EVENING_MS));
    let worker = WorkerOptions { idle_poll: Duration::from_millis(20), ..WorkerOptions::default() };
    let engine = Engine::new(store.clone(), tenant).with_worker_options(worker).with_clock(clock.clone());
    let cli = Actor::cli();
    engine.admin(&cli).set_tenant_settings(SettingsChange { timezone: Some("Europe/Berlin".into()) }).await?;
    assert_eq!(engine.today().await?, time::macros::date!(2027 - 03 - 09));

    let sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "t0ken".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let mut people: Vec<_> = (0..PEOPLE)
        .map(|n| tenure_core::import::ImportedPerson {
            groups: vec!["staff".into()],
            ..person(&format!("E{n}"), &format!("p{n}@x.com"))
        })
        .collect();
    // Leaves on the 10th: the first day without access is the 10th in Berlin.
    people[0].leave_date = Some(time::macros::date!(2027 - 03 - 10));
    // Starts on the 12th, in an app that makes accounts two days ahead.
    people[1].start_date = Some(time::macros::date!(2027 - 03 - 12));
    store.apply_import(tenant, source, &ImportBatch { people, groups: vec![] }).await?;
    let app = store
        .add_app(
            tenant,
            "notion",
            AppKind::Scim,
            &sandbox.base_url(),
            &Secret::new("t0ken".to_owned()),
            &AppSettings { pre_start_days: Some(2), ..AppSettings::default() },
        )
        .await?;
    let staff = store.group_by_name(tenant, "staff").await?.expect("staff");
    store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &AssignmentParams::default()).await?;

    let pass = || async {
        let pass = engine.propagate_once(engine.today().await?).await?;
        let executor = Executor::new(engine.clone(), engine.worker_options().clone());
        anyhow::ensure!(executor.drain(None, Duration::from_secs(30)).await?, "the queue drains");
        anyhow::Ok(pass)
    };
    let active = |email: &str| sandbox.users().iter().find(|u| u.user_name == email).map(|u| u.active);
    let leaver_active = || active("p0@x.com") == Some(true);
    pass().await?;
    assert_eq!(sandbox.users().len(), PEOPLE - 1, "everyone but the starter has an account on the 9th");
    assert!(leaver_active());
    assert_eq!(active("p1@x.com"), None, "three days before the start: not yet");

    // The first look records the day and marks nobody.
    assert_eq!(engine.mark_dates_if_day_turned().await?, 0);
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(engine.mark_dates_if_day_turned().await?, 0, "23:50 in Berlin: still the 9th");
    pass().await?;
    assert!(leaver_active());

    // 23:10 UTC on the 9th is 00:10 on the 10th in Berlin: the leaver's day began.
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(engine.today().await?, time::macros::date!(2027 - 03 - 10));
    assert_eq!(engine.mark_dates_if_day_turned().await?, 2, "exactly the leaver and the starter are marked");
    let done = pass().await?;
    assert_eq!(done.held, 0);
    assert!(!leaver_active(), "deprovisioned within the first minutes of the tenant's day");
    assert_eq!(active("p1@x.com"), Some(false), "the starter's account is made two days ahead, disabled");
    assert_eq!(sandbox.users().iter().filter(|u| u.active).count(), PEOPLE - 2);

    // 00:10 on the 12th in Berlin: the starter's day.
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert_eq!(engine.mark_dates_if_day_turned().await?, 1, "the starter");
    pass().await?;
    assert_eq!(active("p1@x.com"), Some(true), "activated on the start date");
    assert_eq!(sandbox.users().len(), PEOPLE, "made once, never twice");

    // The day is recorded: another look the same day marks nobody again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(engine.mark_dates_if_day_turned().await?, 0);
    Ok(())
}
