//! The deprovisioning guard's window measured by a clock the test drives: losses spread over more
//! than the window pass without a hold, losses within it are held; and the tenant-wide window
//! set by an admin. Propagation and the queue against a sandbox app, on both backends.

use std::sync::Arc;
use std::time::Duration;

use tenure_core::guard::GuardLimits;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{Engine, Executor, ManualClock, WorkerOptions};
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

on_both_backends!(losses_spread_over_more_than_the_window_pass_and_within_it_are_held, the_tenant_window_is_a_setting);

const PEOPLE: usize = 60;

struct World {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    clock: Arc<ManualClock>,
    sandbox: SandboxApp,
    source: SourceId,
    people: Vec<ImportedPerson>,
}

impl World {
    async fn new(backend: TestBackend, settings: AppSettings) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc().unix_timestamp() * 1000));
        let worker = WorkerOptions { idle_poll: Duration::from_millis(20), ..WorkerOptions::default() };
        let engine = Engine::new(store.clone(), tenant).with_worker_options(worker).with_clock(clock.clone());
        let sandbox = SandboxApp::spawn(SandboxOptions {
            profile: Profile::Notion,
            token: "t0ken".into(),
            rate_limit_per_sec: None,
            faults: None,
        })
        .await?;
        let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
        let people: Vec<ImportedPerson> = (0..PEOPLE)
            .map(|n| ImportedPerson {
                groups: vec!["staff".into()],
                ..person(&format!("E{n}"), &format!("p{n}@x.com"))
            })
            .collect();
        store.apply_import(tenant, source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
        let app = store
            .add_app(tenant, "notion", AppKind::Scim, &sandbox.base_url(), &Secret::new("t0ken".to_owned()), &settings)
            .await?;
        let staff = store.group_by_name(tenant, "staff").await?.expect("staff");
        store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &AssignmentParams::default()).await?;
        let world = Self { _db: db, store, tenant, engine, clock, sandbox, source, people };
        world.pass().await?;
        anyhow::ensure!(world.sandbox.users().len() == PEOPLE);
        Ok(world)
    }

    /// A propagation pass, and the queue run dry.
    async fn pass(&self) -> anyhow::Result<tenure_engine::PropagationPass> {
        let pass = self.engine.propagate_once(tenure_engine::today()).await?;
        let executor = Executor::new(self.engine.clone(), self.engine.worker_options().clone());
        anyhow::ensure!(executor.drain(None, Duration::from_secs(30)).await?, "the queue drains");
        Ok(pass)
    }

    /// The source suspends one more person, and a pass plans it.
    async fn suspend(&mut self, n: usize) -> anyhow::Result<tenure_engine::PropagationPass> {
        self.people[n].status = PersonStatus::Suspended;
        let batch = ImportBatch { people: self.people.clone(), groups: vec![] };
        self.store.apply_import(self.tenant, self.source, &batch).await?;
        self.pass().await
    }

    fn inactive(&self) -> usize {
        self.sandbox.users().iter().filter(|u| !u.active).count()
    }
}

async fn losses_spread_over_more_than_the_window_pass_and_within_it_are_held(
    backend: TestBackend,
) -> anyhow::Result<()> {
    // Six a day (10% of 60), the default window.
    let mut w = World::new(backend, AppSettings::default()).await?;
    for n in 0..6 {
        assert_eq!(w.suspend(n).await?.held, 0);
        w.clock.advance(Duration::from_secs(3 * 3600));
    }
    assert_eq!(w.inactive(), 6);
    // Eighteen hours after the first of those six, all are in the window: the seventh is held.
    assert_eq!(w.suspend(6).await?.held, 1, "seven in one day");
    assert_eq!(w.inactive(), 6);
    let holds = w.engine.holds(10).await?;
    assert_eq!((holds.len(), holds[0].losses), (1, 1));
    assert!(holds[0].reason.contains("7 losses in 18 hours"), "{}", holds[0].reason);
    // Approved, it goes, without counting against the window.
    w.engine.decide_held(holds[0].plan_id, true, "test").await?;
    w.pass().await?;
    assert_eq!(w.inactive(), 7);

    // A day after the last of the six, they have all left the window: six more pass one by one,
    // spread over more than a day, however many there are in all.
    w.clock.advance(Duration::from_secs(24 * 3600));
    for n in 7..13 {
        assert_eq!(w.suspend(n).await?.held, 0, "loss {n}");
        w.clock.advance(Duration::from_secs(5 * 3600));
    }
    assert_eq!(w.inactive(), 13);
    // ... and the window still counts: the last four of those six are within a day of this one.
    w.clock.advance(Duration::from_secs(3600));
    assert_eq!(w.suspend(13).await?.held, 0, "four in the window, the fifth passes");
    assert_eq!(w.suspend(14).await?.held, 0, "the sixth passes");
    assert_eq!(w.suspend(15).await?.held, 1, "the seventh in a day is held");
    assert_eq!(w.inactive(), 15);
    Ok(())
}

async fn the_tenant_window_is_a_setting(backend: TestBackend) -> anyhow::Result<()> {
    // The app allows anything; the tenant allows 3 people an hour.
    let generous = GuardLimits { max_percent: 100, max_count: 1000, ..GuardLimits::default() };
    let mut w = World::new(backend, AppSettings { guard: Some(generous), ..AppSettings::default() }).await?;
    let hourly = GuardLimits { max_percent: 100, max_count: 3, window_s: 3600 };
    let actor = tenure_engine::Actor::cli();
    let spec = tenure_engine::admin::GuardSpec {
        max_percent: Some(100),
        max_count: Some(3),
        window_s: Some(3600),
        default: false,
    };
    assert_eq!(w.engine.admin(&actor).set_guard(spec).await?.global, hourly);
    assert_eq!(w.engine.global_guard().await?, hourly);
    for n in 0..3 {
        assert_eq!(w.suspend(n).await?.held, 0);
    }
    let pass = w.suspend(3).await?;
    assert_eq!(pass.held, 1, "the fourth person within the hour, across every app");
    let holds = w.engine.holds(10).await?;
    assert!(holds[0].app.is_none(), "a tenant-wide hold: {:?}", holds[0]);
    assert!(holds[0].reason.starts_with("all apps: 4 people losing access"), "{}", holds[0].reason);
    // An hour later the window is empty, but the hold stands until an admin decides.
    w.clock.advance(Duration::from_secs(3601));
    assert_eq!(w.suspend(4).await?.held, 1, "a hold in force takes every new loss");
    assert_eq!(w.inactive(), 3);
    w.engine.decide_held(holds[0].plan_id, false, "test").await?;
    assert_eq!(w.suspend(5).await?.held, 0, "the hold lifted, the window empty again");
    assert_eq!(w.inactive(), 4, "the rejected two keep their access");
    let audit = w.store.list_audit(w.tenant, 100).await?;
    assert!(audit.iter().any(|e| e.action == "guard.set" && e.actor == "cli"), "the setting is audited");
    assert!(audit.iter().any(|e| e.action == "plan.rejected" && e.actor == "test"));
    Ok(())
}
