//! A full read that races Tenure's own writes (a wave of creates landing between the pages of
//! the app's list) is made again with those writes held back on every worker, instead of
//! refusing the app's plan until the wave ends. The sandbox app answers each list page slowly,
//! so the creates the worker sends meanwhile move `totalResults` between pages. Once per backend.

use std::time::Duration;

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::{Engine, Executor, WorkerOptions};
use tenure_sandbox::{Misbehaviour, Profile, SandboxApp, SandboxOptions};
use tenure_store::{AppAuth, Store};
use tenure_testkit::{TestBackend, TestDb, eventually, person};

const SECRET: &str = "quiet-secret";
const PEOPLE: usize = 240;

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    app: AppId,
}

impl Fixture {
    async fn new(backend: TestBackend) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let engine = Engine::new(store.clone(), tenant);
        let options = SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, SECRET) };
        let sandbox = SandboxApp::spawn(options).await?;
        // Every page of the list takes 150 ms, while creates go at 20 a second (paced alone, so
        // the reads are not): a walk of the list meets several creates between any two pages.
        sandbox.set_misbehaviour(Misbehaviour { slow_list: Some(Duration::from_millis(150)), ..Default::default() });
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        let limits = AppLimits { creates_per_second: Some(20.0), burst: Some(1), ..AppLimits::default() };
        let settings = AppSettings { limits: Some(limits), ..AppSettings::default() };
        let app = store
            .add_app_with_auth(
                tenant,
                "busy",
                AppKind::Scim,
                &sandbox.base_url(),
                &AppAuth::Bearer,
                &Secret::new(SECRET),
                &settings,
            )
            .await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
        let people = (0..PEOPLE).map(|i| person(&format!("E{i}"), &format!("p{i:03}@acme.com"))).collect();
        store.apply_import(tenant, source, &ImportBatch { people, groups: vec![] }).await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, app: app.id })
    }
}

async fn read_again_quietly(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend).await?;
    let today = tenure_engine::today();
    let queued = f.engine.enqueue(&f.engine.plan(None, today).await?, &[]).await?;
    anyhow::ensure!(queued.plan_id.is_some(), "{backend:?}: the creates are queued");

    // Another reader holds the app quiet: the worker sends it nothing until that ends.
    let now = tenure_engine::audit_query::now_ms();
    f.store.hold_quiet(f.tenant, f.app, "another-node/read", now + 60_000).await?;
    let worker = WorkerOptions { idle_poll: Duration::from_millis(20), ..WorkerOptions::default() };
    let executor = Executor::new(f.engine.clone(), worker.clone());
    assert!(!executor.drain(None, Duration::from_millis(800)).await?, "{backend:?}: nothing runs while quiet");
    assert_eq!(f.sandbox.user_count(), 0, "{backend:?}: no write reached the quiet app");
    f.store.end_quiet(f.tenant, f.app, "another-node/read", now).await?;

    // The worker creates in the background; a full read meets its creates between pages.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = {
        let executor = Executor::new(f.engine.clone(), worker);
        tokio::spawn(async move { executor.run(stopped).await })
    };
    eventually(Duration::from_secs(30), || async { (f.sandbox.user_count() >= 20).then_some(()) }).await?;
    let before = f.sandbox.user_count();
    let started = std::time::Instant::now();
    let plans = f.engine.plan(None, today).await?;
    eprintln!(
        "{backend:?}: planned in {:?}, {before} made before, {} after, {} observed",
        started.elapsed(),
        f.sandbox.user_count(),
        plans[0].observed.len()
    );
    let plan = &plans[0];
    assert_eq!(plan.plan.refused, None, "{backend:?}: the busy app is planned");
    let after = f.sandbox.user_count();
    assert!(after < PEOPLE, "{backend:?}: the read happened mid-wave ({after} of {PEOPLE} made)");
    // Read while still: every account the app held, once, and at least those made before.
    let mut ids: Vec<&str> = plan.observed.iter().map(|a| a.remote_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), plan.observed.len(), "{backend:?}: no account read twice");
    assert!(plan.observed.len() >= before, "{backend:?}: {} read, {before} made before", plan.observed.len());
    // The quiet ended with the read: the wave goes on to the end.
    let now = tenure_engine::audit_query::now_ms();
    assert_eq!(f.store.quiet_until(f.tenant, f.app, now).await?, None, "{backend:?}: the quiet ended");
    eventually(Duration::from_secs(60), || async { (f.sandbox.user_count() == PEOPLE).then_some(()) }).await?;
    let _ = stop.send(true);
    running.await?;
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_full_read_racing_our_own_creates_is_made_again_with_them_held_back() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        read_again_quietly(backend).await?;
    }
    Ok(())
}
