//! Every tenant's background work runs side by side: one tenant with 5,000 operations queued
//! against a slow app, and a change in another tenant still reaches that tenant's app at once,
//! with the first tenant's backlog still there. Both backends. (`tenure bench tenants` prints
//! the latency of the same scenario.)

use std::time::Duration;

use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{AssignmentSpec, NewApp, NewAppKind, SettingsSpec};
use tenure_engine::{Actor, BackgroundOptions, PropagationOptions, TenantContexts};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb, person};

const BACKLOG: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_backlog_in_one_tenant_does_not_delay_another() -> anyhow::Result<()> {
    a_backlog_in_one_tenant_does_not_delay_another(TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_backlog_in_one_tenant_does_not_delay_another() -> anyhow::Result<()> {
    a_backlog_in_one_tenant_does_not_delay_another(TestBackend::Postgres).await
}

async fn app(
    contexts: &TenantContexts,
    tenant: TenantId,
    sandbox: &SandboxApp,
    per_second: Option<f64>,
) -> anyhow::Result<()> {
    let engine = contexts.engine(tenant);
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    let spec = NewApp {
        name: "app".into(),
        kind: NewAppKind::Scim,
        base_url: Some(sandbox.base_url()),
        token: Some(sandbox.token().into()),
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec { rate_limit: per_second, ..Default::default() },
        disabled: false,
    };
    admin.create_app(spec).await?;
    admin.assign("app", &AssignmentSpec { org_unit: Some("/Eng".into()), ..Default::default() }, false).await?;
    Ok(())
}

async fn a_backlog_in_one_tenant_does_not_delay_another(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let busy = store.ensure_tenant("busy").await?;
    let quiet = store.ensure_tenant("quiet").await?;
    let contexts = TenantContexts::new(store.clone());
    // The busy tenant's app takes two requests a second: its 5,000 creates take 40 minutes.
    let slow =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "slow") })
            .await?;
    let fast =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "fast") })
            .await?;
    app(&contexts, busy, &slow, Some(2.0)).await?;
    app(&contexts, quiet, &fast, None).await?;
    let busy_source = store.add_source(busy, "hr", "csv", &serde_json::json!({})).await?;
    let people: Vec<_> = (0..BACKLOG).map(|n| person(&format!("E{n}"), &format!("p{n}@busy.example"))).collect();
    store.apply_import(busy, busy_source, &ImportBatch { people, groups: vec![] }).await?;
    let quiet_source = store.add_source(quiet, "hr", "csv", &serde_json::json!({})).await?;
    let first = vec![person("Q1", "ann@quiet.example")];
    store.apply_import(quiet, quiet_source, &ImportBatch { people: first.clone(), groups: vec![] }).await?;
    // The backlog: every create of the busy tenant queued.
    let queued = contexts.engine(busy).propagate_once(tenure_engine::today()).await?;
    assert_eq!(queued.queued_ops, BACKLOG, "{queued:?}");
    contexts.engine(quiet).propagate_once(tenure_engine::today()).await?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = BackgroundOptions {
        propagation: PropagationOptions { poll: Duration::from_millis(50), ..Default::default() },
        tenant_poll: Duration::from_millis(200),
        ..Default::default()
    };
    let runner = contexts.clone();
    let background = tokio::spawn(async move { runner.run_background(options, stopped).await });
    // Both tenants at work: the quiet one's first account, the busy one's first creates.
    tenure_testkit::eventually(Duration::from_secs(30), || async { (fast.user_count() == 1).then_some(()) }).await?;
    tenure_testkit::eventually(Duration::from_secs(30), || async { (slow.user_count() >= 2).then_some(()) }).await?;

    // A joiner in the quiet tenant.
    let started = tokio::time::Instant::now();
    let joined = vec![first[0].clone(), person("Q2", "bea@quiet.example")];
    store.apply_import(quiet, quiet_source, &ImportBatch { people: joined, groups: vec![] }).await?;
    tenure_testkit::eventually(Duration::from_secs(30), || async { (fast.user_count() == 2).then_some(()) }).await?;
    let took = started.elapsed();
    let pending = store.queue_counts(busy, None).await?;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), background).await;
    // The busy tenant's backlog was still there: the joiner did not wait for it.
    assert!(pending.ready + pending.waiting > (BACKLOG as i64) - 200, "{pending:?}");
    println!(
        "{backend:?}: a change in one tenant reached its app in {} ms beside {} queued operations of another",
        took.as_millis(),
        pending.ready + pending.waiting
    );
    Ok(())
}
