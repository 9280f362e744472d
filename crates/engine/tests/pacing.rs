//! Documented limits driving the engine, against the sandbox app (which counts the requests it
//! receives): a minimum interval between full reads of an app's user list (Adobe's list
//! lock-out) holds across plans, the report and the live list, each refused with the time of
//! the next allowed read and without a request sent; Canva's one create a second paces creates
//! alone. Once per backend.

use std::time::Instant;

use serde_json::json;
use tenure_connectors::UserQuery;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::{Engine, EngineError};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{AppAuth, Store};
use tenure_testkit::{TestBackend, TestDb, person};

const SECRET: &str = "pacing-secret";

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    source: SourceId,
}

impl Fixture {
    async fn new(backend: TestBackend, settings: AppSettings) -> anyhow::Result<Self> {
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
        let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
        let app = store
            .add_app_with_auth(
                tenant,
                "paced",
                AppKind::Scim,
                &sandbox.base_url(),
                &AppAuth::Bearer,
                &Secret::new(SECRET),
                &settings,
            )
            .await?;
        let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
        store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, source })
    }

    async fn import(&self, people: Vec<tenure_core::import::ImportedPerson>) -> anyhow::Result<()> {
        self.store.apply_import(self.tenant, self.source, &ImportBatch { people, groups: vec![] }).await?;
        Ok(())
    }
}

async fn full_reads_keep_their_interval(backend: TestBackend) -> anyhow::Result<()> {
    let settings = AppSettings { min_list_interval_s: Some(7200), ..AppSettings::default() };
    let f = Fixture::new(backend, settings).await?;
    f.import(vec![person("E1", "ann@acme.com")]).await?;
    let today = tenure_engine::today();

    let plans = f.engine.plan(None, today).await?;
    assert_eq!((plans[0].plan.refused.as_deref(), plans[0].plan.count("create")), (None, 1), "{backend:?}");
    let after_first = f.sandbox.request_count();
    assert!(after_first > 0, "the first plan read the list");

    // Within the interval: no read at all, and the refusal says when the next one may be.
    let plans = f.engine.plan(None, today).await?;
    let refused = plans[0].plan.refused.clone().expect("refused");
    assert!(refused.contains("may be read at most once every 7200 s"), "{refused}");
    assert!(refused.contains("the next full read is allowed at 20"), "an RFC 3339 time: {refused}");
    assert!(plans[0].plan.ops.is_empty());
    let report = f.engine.account_report(Some("paced"), today).await;
    assert!(matches!(&report, Err(EngineError::Invalid(m)) if m.contains("next full read")), "{report:?}");
    let first_page = UserQuery { start_index: 1, count: 10, search: None };
    let page = f.engine.app_users("paced", &first_page, today).await;
    assert!(matches!(&page, Err(EngineError::Refused(m)) if m.contains("next full read")), "{page:?}");
    // A later page does not read the list from its start.
    let second_page = UserQuery { start_index: 11, count: 10, search: None };
    f.engine.app_users("paced", &second_page, today).await?;
    assert_eq!(f.sandbox.request_count(), after_first + 1, "only the later page was read");
    // Nothing was queued from the refused plan.
    let applied = f.engine.apply(f.engine.plan(None, today).await?).await?;
    assert_eq!((applied.failed(), f.sandbox.user_count()), (0, 0), "{applied:?}");
    f.sandbox.shutdown().await;

    // Without a minimum, every plan reads.
    let f = Fixture::new(backend, AppSettings::default()).await?;
    f.engine.plan(None, today).await?;
    let once = f.sandbox.request_count();
    f.engine.plan(None, today).await?;
    assert!(f.sandbox.request_count() > once);
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_penalised_full_read_waits_for_its_interval() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        full_reads_keep_their_interval(backend).await?;
    }
    Ok(())
}

async fn creates_are_paced_alone(backend: TestBackend) -> anyhow::Result<()> {
    let canva = tenure_connectors::catalog::catalog().get("canva").expect("canva");
    let limits = canva.documented_limits().expect("canva's pace");
    assert_eq!((limits.per_second, limits.creates_per_second), (None, Some(1.0)));
    let settings = AppSettings { vendor: Some("canva".into()), limits: Some(limits), ..AppSettings::default() };
    let f = Fixture::new(backend, settings).await?;
    f.import(vec![person("E1", "ann@acme.com"), person("E2", "bob@acme.com"), person("E3", "cy@acme.com")]).await?;
    let today = tenure_engine::today();
    let started = Instant::now();
    let applied = f.engine.apply(f.engine.plan(None, today).await?).await?;
    let took = started.elapsed();
    assert_eq!((applied.failed(), f.sandbox.user_count()), (0, 3), "{applied:?}");
    // One create a second with a burst of one: the third waits two seconds after the first.
    assert!(took.as_secs_f64() >= 1.9, "{backend:?}: 3 creates in {took:?}");
    f.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn canva_creates_go_one_a_second() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        creates_are_paced_alone(backend).await?;
    }
    Ok(())
}
