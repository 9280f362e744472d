//! The durable queue against sandbox apps that misbehave: faults, throttling, leases that run
//! out, several workers on one queue, a failing app's quarantine, propagation from dirty marks,
//! and the deprovisioning guard on propagated plans. Run on both backends.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tenure_connectors::ClientOptions;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{Engine, Executor, WorkerOptions};
use tenure_sandbox::{FaultPlan, Profile, SandboxApp, SandboxOptions};
use tenure_store::{OperationStatus, Settlement, Store};
use tenure_testkit::{TestBackend, TestDb};

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
    faults_and_throttling_converge_without_loss_or_duplicates,
    two_executors_share_one_queue_without_running_an_operation_twice,
    a_lease_that_runs_out_is_claimed_again_and_the_late_worker_is_ignored,
    a_failing_app_is_paused_and_one_success_lifts_it,
    changes_propagate_through_dirty_marks_and_coalesce,
    a_big_unassignment_is_held_by_the_guard_not_queued,
    the_global_guard_holds_many_people_losing_access_even_when_each_app_allows_it,
    a_dry_run_app_is_planned_and_audited_but_never_written,
    in_app_groups_follow_joiners_and_leavers_without_an_apply,
);

fn person(n: usize, department: &str) -> ImportedPerson {
    ImportedPerson {
        source_key: format!("E{n}"),
        user_name: format!("user{n}@x.com"),
        email: format!("user{n}@x.com"),
        given_name: Some(format!("Given{n}")),
        family_name: Some("Tester".into()),
        display_name: None,
        department: Some(department.into()),
        title: Some("Engineer".into()),
        employee_id: Some(format!("E{n}")),
        manager_key: None,
        org_unit: Some(OrgUnitPath::parse("/Eng").expect("unit")),
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: BTreeMap::new(),
        groups: vec!["staff".into()],
    }
}

fn fast_worker() -> WorkerOptions {
    WorkerOptions {
        backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(400),
        max_attempts: 60,
        idle_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    }
}

struct Fixture {
    _db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    sandbox: SandboxApp,
    app: App,
    source: SourceId,
}

impl Fixture {
    async fn new(
        backend: TestBackend,
        people: usize,
        sandbox: SandboxOptions,
        settings: AppSettings,
    ) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let client = ClientOptions {
            timeout: Duration::from_millis(800),
            initial_backoff: Duration::from_millis(20),
            ..ClientOptions::default()
        };
        let engine = Engine::new(store.clone(), tenant)
            .with_client_options(client)
            .with_worker_options(fast_worker())
            .with_drain_wait(Duration::from_secs(60));
        let token = sandbox.token.clone();
        let sandbox = SandboxApp::spawn(sandbox).await?;
        let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
        let batch = ImportBatch { people: (0..people).map(|n| person(n, "Engineering")).collect(), groups: vec![] };
        store.apply_import(tenant, source, &batch).await?;
        let app =
            store.add_app(tenant, "notion", AppKind::Scim, &sandbox.base_url(), &Secret::new(token), &settings).await?;
        let staff = store.group_by_name(tenant, "staff").await?.expect("staff group");
        store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &AssignmentParams::default()).await?;
        Ok(Self { _db: db, store, tenant, engine, sandbox, app, source })
    }

    /// Every account in the app exactly once and linked to its person with the right email.
    async fn assert_converged(&self, people: usize) -> anyhow::Result<()> {
        let users = self.sandbox.users();
        let names: HashSet<String> = users.iter().map(|u| u.user_name.clone()).collect();
        anyhow::ensure!(users.len() == people, "{} accounts in the app for {people} people", users.len());
        anyhow::ensure!(names.len() == people, "duplicate userNames in the app");
        let links = self.store.list_accounts(self.tenant, self.app.id).await?;
        anyhow::ensure!(links.len() == people, "{} links for {people} people", links.len());
        let linked: HashSet<&str> = links.iter().map(|l| l.link.remote_id.as_str()).collect();
        for u in &users {
            anyhow::ensure!(
                u.id.as_deref().is_some_and(|id| linked.contains(id)),
                "account {} is not linked",
                u.user_name
            );
        }
        Ok(())
    }
}

fn sandbox(rate: Option<u32>, faults: Option<FaultPlan>) -> SandboxOptions {
    SandboxOptions { profile: Profile::Notion, token: "t0ken".into(), rate_limit_per_sec: rate, faults }
}

fn limited(per_second: f64) -> AppSettings {
    AppSettings {
        user_name: UserNameFormat::Email,
        limits: Some(AppLimits {
            per_second: Some(per_second),
            burst: Some(1),
            concurrency: Some(8),
            shared_key: None,
            creates_per_second: None,
            updates_per_second: None,
            deletes_per_second: None,
            windows: Vec::new(),
        }),
        ..AppSettings::default()
    }
}

async fn faults_and_throttling_converge_without_loss_or_duplicates(backend: TestBackend) -> anyhow::Result<()> {
    const PEOPLE: usize = 120;
    // 30% of requests fail: 429 with Retry-After, 500, a connection broken mid-answer (after the
    // write happened), or an answer slower than the client's timeout (also after the write).
    let faults = FaultPlan { percent: 30, stall: Duration::from_millis(1200) };
    let f = Fixture::new(backend, PEOPLE, sandbox(Some(100), Some(faults)), limited(80.0)).await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    assert_eq!(plans[0].plan.count("create"), PEOPLE);
    let report = f.engine.apply(plans).await?;
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(report.queued, 0, "everything ran within the drain wait: {report:?}");
    assert_eq!(report.succeeded("create"), PEOPLE);
    f.assert_converged(PEOPLE).await?;
    assert!(f.sandbox.fault_count() > 10, "faults were injected: {}", f.sandbox.fault_count());
    // Tenure's pace (80/s) stays under the app's limit (100/s): the app never had to throttle.
    assert_eq!(f.sandbox.throttled_count(), 0, "the app's own rate limit was hit");
    assert!(f.sandbox.peak_writes_per_second() <= 82, "peak {} writes/s", f.sandbox.peak_writes_per_second());
    // A second plan finds nothing to do.
    let again = f.engine.plan(None, tenure_engine::today()).await?;
    assert!(again[0].plan.ops.is_empty(), "{:?}", again[0].plan.ops);
    Ok(())
}

async fn two_executors_share_one_queue_without_running_an_operation_twice(backend: TestBackend) -> anyhow::Result<()> {
    const PEOPLE: usize = 150;
    let f = Fixture::new(
        backend,
        PEOPLE,
        sandbox(None, None),
        AppSettings { user_name: UserNameFormat::Email, ..AppSettings::default() },
    )
    .await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    let queued = f.engine.enqueue(&plans, &[]).await?;
    let plan = queued.plan_id.expect("queued");
    let (a, b) = (Executor::new(f.engine.clone(), fast_worker()), Executor::new(f.engine.clone(), fast_worker()));
    let (da, db) =
        tokio::join!(a.drain(Some(plan), Duration::from_secs(60)), b.drain(Some(plan), Duration::from_secs(60)));
    assert!(da? && db?);
    assert_eq!(f.sandbox.write_count(), PEOPLE as u64, "each create was sent exactly once");
    f.assert_converged(PEOPLE).await?;
    let ops = f.store.plan_operations(f.tenant, plan).await?;
    assert!(ops.iter().all(|o| o.status == OperationStatus::Succeeded && o.attempts == 1));
    Ok(())
}

async fn a_lease_that_runs_out_is_claimed_again_and_the_late_worker_is_ignored(
    backend: TestBackend,
) -> anyhow::Result<()> {
    let f = Fixture::new(backend, 2, sandbox(None, None), AppSettings::default()).await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    f.engine.enqueue(&plans, &[]).await?;
    let lease = Duration::from_millis(300);
    let first = f.store.claim_operations(f.tenant, "worker-a", 10, lease, None).await?;
    assert_eq!(first.len(), 2);
    assert!(f.store.claim_operations(f.tenant, "worker-b", 10, lease, None).await?.is_empty(), "leased");
    let again = tenure_testkit::eventually(Duration::from_secs(5), || async {
        let claimed = f.store.claim_operations(f.tenant, "worker-b", 10, lease, None).await.ok()?;
        (!claimed.is_empty()).then_some(claimed)
    })
    .await?;
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].attempts, 2, "the lost attempt counts");
    let late = f.store.settle_operation(f.tenant, first[0].id, "worker-a", Settlement::succeeded(None)).await?;
    assert!(!late, "the worker whose lease ran out has no say");
    assert!(f.store.settle_operation(f.tenant, again[0].id, "worker-b", Settlement::failed("x")).await?);
    Ok(())
}

async fn a_failing_app_is_paused_and_one_success_lifts_it(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend, 6, sandbox(None, None), AppSettings::default()).await?;
    // The token is rotated in the app but not in Tenure: every request gets 401.
    f.store.set_app_secret(f.tenant, f.app.id, &Secret::new("stale-token")).await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await;
    assert!(plans.is_err(), "reading the app fails too");
    f.store.set_app_secret(f.tenant, f.app.id, &Secret::new("t0ken")).await?;
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    f.store.set_app_secret(f.tenant, f.app.id, &Secret::new("stale-token")).await?;
    let plan = f.engine.enqueue(&plans, &[]).await?.plan_id.expect("queued");
    let options = WorkerOptions { quarantine_after: 3, pause: Duration::from_secs(60), ..fast_worker() };
    let executor = Executor::new(f.engine.clone(), options.clone());
    let done = executor.drain(Some(plan), Duration::from_millis(1500)).await?;
    assert!(!done, "nothing can succeed with the wrong token");
    let status = f.engine.queue_status().await?;
    assert_eq!(status.failing_apps.len(), 1);
    assert!(status.failing_apps[0].paused_until_ms.is_some(), "{status:?}");
    assert!(status.failing_apps[0].last_error.as_deref().is_some_and(|e| e.contains("401")), "{status:?}");
    assert_eq!(status.counts.failed, 0, "credentials refused is the app's problem: the operations wait");
    assert!(f.sandbox.request_count() < 20, "a paused app is left alone: {} requests", f.sandbox.request_count());
    let audit = f.store.list_audit(f.tenant, 50).await?;
    assert!(audit.iter().any(|e| e.action == "app.quarantined"));

    // The admin fixes the token and lifts the pause by retrying; one success clears the record.
    f.store.set_app_secret(f.tenant, f.app.id, &Secret::new("t0ken")).await?;
    f.store.record_app_success(f.tenant, f.app.id).await?;
    let executor = Executor::new(f.engine.clone(), options);
    assert!(executor.drain(Some(plan), Duration::from_secs(30)).await?);
    assert!(f.engine.queue_status().await?.failing_apps.is_empty());
    f.assert_converged(6).await?;
    Ok(())
}

async fn changes_propagate_through_dirty_marks_and_coalesce(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend, 5, sandbox(None, None), AppSettings::default()).await?;
    let executor = Executor::new(f.engine.clone(), fast_worker());
    let today = tenure_engine::today();
    // The assignment marked the app: a full plan creates everyone.
    let pass = f.engine.propagate_once(today).await?;
    assert_eq!((pass.full_apps, pass.queued_ops), (1, 5), "{pass:?}");
    let drain_all = || async {
        anyhow::ensure!(executor.drain(None, Duration::from_secs(30)).await?);
        anyhow::Ok(())
    };
    drain_all().await?;
    f.assert_converged(5).await?;
    assert!(f.engine.propagate_once(today).await?.marks == 0, "answered marks are cleared");

    // One person's title changes 50 times in a row: one mark, one update.
    for round in 0..50 {
        let mut people: Vec<ImportedPerson> = (0..5).map(|n| person(n, "Engineering")).collect();
        people[3].title = Some(format!("Staff Engineer {round}"));
        f.store.apply_import(f.tenant, f.source, &ImportBatch { people, groups: vec![] }).await?;
    }
    let marks = f.store.dirty_marks(f.tenant, 100).await?;
    assert_eq!(marks.len(), 1, "{marks:?}");
    let pass = f.engine.propagate_once(today).await?;
    assert_eq!((pass.people, pass.queued_ops, pass.full_apps), (1, 1, 0), "{pass:?}");
    drain_all().await?;
    let user = f.sandbox.users().into_iter().find(|u| u.user_name == "user3@x.com").expect("user3");
    assert_eq!(user.title.as_deref(), Some("Staff Engineer 49"));

    // A pair with an operation still queued waits for it instead of being planned twice.
    let mut people: Vec<ImportedPerson> = (0..5).map(|n| person(n, "Engineering")).collect();
    people[3].title = Some("Staff Engineer 49".into());
    people[1].title = Some("Manager".into());
    f.store.apply_import(f.tenant, f.source, &ImportBatch { people: people.clone(), groups: vec![] }).await?;
    assert_eq!(f.engine.propagate_once(today).await?.queued_ops, 1);
    people[1].title = Some("Director".into());
    f.store.apply_import(f.tenant, f.source, &ImportBatch { people, groups: vec![] }).await?;
    let pass = f.engine.propagate_once(today).await?;
    assert_eq!((pass.queued_ops, pass.deferred), (0, 1), "{pass:?}");
    assert_eq!(f.store.dirty_marks(f.tenant, 100).await?.len(), 0, "the deferred pair waits for its operation");
    drain_all().await?;
    let pass = f.engine.propagate_once(today).await?;
    assert_eq!(pass.queued_ops, 1, "planned once the first update ran: {pass:?}");
    drain_all().await?;
    let user = f.sandbox.users().into_iter().find(|u| u.user_name == "user1@x.com").expect("user1");
    assert_eq!(user.title.as_deref(), Some("Director"));
    Ok(())
}

async fn a_big_unassignment_is_held_by_the_guard_not_queued(backend: TestBackend) -> anyhow::Result<()> {
    const PEOPLE: usize = 30;
    let f = Fixture::new(backend, PEOPLE, sandbox(None, None), AppSettings::default()).await?;
    let today = tenure_engine::today();
    f.engine.propagate_once(today).await?;
    let executor = Executor::new(f.engine.clone(), fast_worker());
    assert!(executor.drain(None, Duration::from_secs(30)).await?);
    f.assert_converged(PEOPLE).await?;

    let staff = f.store.group_by_name(f.tenant, "staff").await?.expect("staff");
    f.store.unassign(f.tenant, f.app.id, &AssignmentTarget::Group(staff)).await?;
    let pass = f.engine.propagate_once(today).await?;
    assert_eq!(pass.held, PEOPLE, "{pass:?}");
    assert_eq!(pass.queued_ops, 0);
    assert_eq!(f.store.queue_counts(f.tenant, None).await?.ready, 0, "nothing of a held plan is queued");
    let held = f.store.list_plans(f.tenant, 5).await?.into_iter().find(|p| p.status == "held").expect("held plan");
    assert!(f.sandbox.users().iter().all(|u| u.active), "nobody lost access");

    // Approved, the next pass queues exactly those losses.
    f.engine.decide_held(held.id, true, "test").await?;
    let pass = f.engine.propagate_once(today).await?;
    assert!(pass.held == 0 && pass.queued_ops == PEOPLE, "{pass:?}");
    Ok(())
}

async fn the_global_guard_holds_many_people_losing_access_even_when_each_app_allows_it(
    backend: TestBackend,
) -> anyhow::Result<()> {
    const PEOPLE: usize = 30;
    let generous = AppSettings {
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() }),
        ..AppSettings::default()
    };
    let f = Fixture::new(backend, PEOPLE, sandbox(None, None), generous).await?;
    let today = tenure_engine::today();
    f.engine.propagate_once(today).await?;
    assert!(Executor::new(f.engine.clone(), fast_worker()).drain(None, Duration::from_secs(30)).await?);
    let staff = f.store.group_by_name(f.tenant, "staff").await?.expect("staff");
    f.store.unassign(f.tenant, f.app.id, &AssignmentTarget::Group(staff)).await?;
    let pass = f.engine.propagate_once(today).await?;
    assert!(pass.held == PEOPLE && pass.queued_ops == 0, "30 people > the global 25: {pass:?}");
    let held = f.store.list_plans(f.tenant, 5).await?.into_iter().find(|p| p.status == "held").expect("held");
    assert_eq!(held.summary["held"][0]["global"], true, "{}", held.summary);
    Ok(())
}

async fn a_dry_run_app_is_planned_and_audited_but_never_written(backend: TestBackend) -> anyhow::Result<()> {
    let dry = AppSettings { dry_run: true, ..AppSettings::default() };
    let f = Fixture::new(backend, 3, sandbox(None, None), dry).await?;
    let pass = f.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(pass.queued_ops, 0, "{pass:?}");
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    let report = f.engine.apply(plans).await?;
    assert_eq!((report.dry_run, report.succeeded("create")), (3, 0), "{report:?}");
    assert!(f.sandbox.users().is_empty(), "nothing written to a dry-run app");
    assert_eq!(f.sandbox.write_count(), 0);
    let audit = f.store.list_audit(f.tenant, 50).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "plan.dry_run").count(), 2, "both runs are on record");
    Ok(())
}

/// Under `serve` (propagation and workers, no `apply`), an assignment's in-app group gets every
/// new account once it exists, and loses a leaver's. The app is the independent scim2-server.
async fn in_app_groups_follow_joiners_and_leavers_without_an_apply(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant).with_worker_options(fast_worker());
    let peer = tenure_testkit::Scim2Server::start().await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let import = |range: std::ops::Range<usize>| ImportBatch {
        people: range.map(|n| person(n, "Engineering")).collect(),
        groups: vec![],
    };
    store.apply_import(tenant, source, &import(0..3)).await?;
    let settings = AppSettings {
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 100, max_count: 25, ..Default::default() }),
        ..AppSettings::default()
    };
    let app =
        store.add_app(tenant, "peer", AppKind::Scim, peer.base_url(), &Secret::new(peer.token()), &settings).await?;
    let staff = store.group_by_name(tenant, "staff").await?.expect("staff");
    let params = AssignmentParams { groups: vec!["eng-team".into()], ..AssignmentParams::default() };
    store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &params).await?;
    let executor = Executor::new(engine.clone(), fast_worker());
    let today = tenure_engine::today();
    let app_client =
        tenure_connectors::ScimClient::new(peer.base_url(), Secret::new(peer.token()), ClientOptions::default())?;
    let members = || async {
        let groups = app_client.list_groups().await?;
        let ids: HashSet<String> =
            groups.iter().filter(|g| g.name == "eng-team").flat_map(|g| g.members.iter().cloned()).collect();
        let mut names: Vec<String> = app_client
            .list_users()
            .await?
            .into_iter()
            .filter(|u| ids.contains(&u.remote_id))
            .map(|u| u.user_name().to_owned())
            .collect();
        names.sort();
        anyhow::Ok((groups.iter().filter(|g| g.name == "eng-team").count(), names))
    };
    // Propagate and run the queue until nothing is marked or queued, as `serve` would.
    let settle = || async {
        for _ in 0..10 {
            let pass = engine.propagate_once(today).await?;
            anyhow::ensure!(executor.drain(None, Duration::from_secs(30)).await?);
            if pass.marks == 0 && store.dirty_marks(tenant, 10).await?.is_empty() {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("propagation did not settle")
    };
    settle().await?;
    assert_eq!(members().await?, (1, vec!["user0@x.com".into(), "user1@x.com".into(), "user2@x.com".into()]));

    // A joiner: created, then added to the group once the account exists.
    store.apply_import(tenant, source, &import(0..4)).await?;
    settle().await?;
    let (_, names) = members().await?;
    assert_eq!(names, ["user0@x.com", "user1@x.com", "user2@x.com", "user3@x.com"]);

    // A leaver: deactivated and taken out of the group.
    store.apply_import(tenant, source, &import(1..4)).await?;
    settle().await?;
    assert_eq!(members().await?, (1, vec!["user1@x.com".into(), "user2@x.com".into(), "user3@x.com".into()]));
    let leaver = app_client.find_user("userName", "user0@x.com").await?.expect("kept, inactive");
    assert!(!leaver.active);
    Ok(())
}
