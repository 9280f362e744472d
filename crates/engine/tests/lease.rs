//! A worker that loses its claim on an operation while the app is still answering: the process
//! stalled past its lease (a VM pause, a long GC) and the operation was claimed again, by another
//! node or by this worker's own next claim. The stale attempt must stop before its next write and
//! must not record an outcome. Run on both backends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tenure_connectors::ClientOptions;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{Engine, Executor, WorkerOptions};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{OperationStatus, Settlement, Store};
use tenure_testkit::{TestBackend, TestDb};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
    a_worker_whose_claim_another_node_took_writes_nothing,
    a_worker_that_claimed_its_own_operation_again_lets_only_the_new_attempt_settle,
);

/// A TCP relay in front of the app that can hold what clients send: while held, bytes that
/// arrive are counted and kept until it is released (on new and pooled connections alike), so a
/// test knows the worker's request is in flight and decides when the app sees it.
struct Gate {
    addr: SocketAddr,
    arrived: Arc<AtomicUsize>,
    held: watch::Sender<bool>,
}

impl Gate {
    async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let arrived = Arc::new(AtomicUsize::new(0));
        let (held, holding) = watch::channel(false);
        let counter = Arc::clone(&arrived);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else { continue };
                let (mut from_client, mut to_client) = inbound.into_split();
                let (mut from_app, mut to_app) = outbound.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_app, &mut to_client).await;
                });
                let (counter, mut holding) = (Arc::clone(&counter), holding.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if *holding.borrow() {
                            counter.fetch_add(1, Ordering::SeqCst);
                            if holding.wait_for(|h| !*h).await.is_err() {
                                break;
                            }
                        }
                        if to_app.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Self { addr, arrived, held })
    }
}

struct Fixture {
    db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    _sandbox: SandboxApp,
    gate: Gate,
    app: App,
}

fn worker(owner: &str) -> WorkerOptions {
    WorkerOptions {
        owner: owner.into(),
        // Renewed every second: long enough that the test, not a renewal, usually finds the loss
        // first (the write-time check); either way the attempt must stop.
        lease: Duration::from_secs(3),
        // One operation at a time: while the stale attempt runs, this executor claims nothing, so
        // the only new claim is the test's.
        workers: 1,
        backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(400),
        idle_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    }
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
        let engine = Engine::new(store.clone(), tenant)
            .with_client_options(ClientOptions { timeout: Duration::from_secs(30), ..ClientOptions::default() });
        let sandbox = SandboxApp::spawn(SandboxOptions {
            profile: Profile::Notion,
            token: "t0ken".into(),
            rate_limit_per_sec: None,
            faults: None,
        })
        .await?;
        let gate = Gate::start(sandbox.addr()).await?;
        let url = sandbox.base_url().replace(&sandbox.addr().to_string(), &gate.addr.to_string());
        let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
        let person = ImportedPerson {
            source_key: "E1".into(),
            user_name: "ada@x.com".into(),
            email: "ada@x.com".into(),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: None,
            department: None,
            title: None,
            employee_id: Some("E1".into()),
            manager_key: None,
            org_unit: None,
            status: PersonStatus::Active,
            start_date: None,
            leave_date: None,
            custom: BTreeMap::new(),
            groups: vec!["staff".into()],
        };
        store.apply_import(tenant, source, &ImportBatch { people: vec![person], groups: vec![] }).await?;
        let settings = AppSettings { user_name: UserNameFormat::Email, ..AppSettings::default() };
        let app = store.add_app(tenant, "notion", AppKind::Scim, &url, &Secret::new("t0ken"), &settings).await?;
        let staff = store.group_by_name(tenant, "staff").await?.expect("staff group");
        store.assign(tenant, app.id, &AssignmentTarget::Group(staff), false, &AssignmentParams::default()).await?;
        Ok(Self { db, store, tenant, engine, _sandbox: sandbox, gate, app })
    }

    /// Makes the operation's lease run out now, as if this process had stalled past it.
    async fn expire_lease(&self, op: OperationId) -> anyhow::Result<()> {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(self.db.url()).await?;
        if self.db.url().starts_with("sqlite") {
            sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut conn).await?;
        }
        sqlx::query("UPDATE operations SET lease_until_ms = 0 WHERE id = $1")
            .bind(op.to_string())
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// Runs the scenario: the executor named `owner` sends the create; while the app has not
/// answered, the lease runs out and `thief` claims the operation; then the app answers.
async fn lose_the_claim(f: &Fixture, owner: &str, thief: &str) -> anyhow::Result<OperationId> {
    let plans = f.engine.plan(None, tenure_engine::today()).await?;
    let queued = f.engine.enqueue(&plans, &[]).await?;
    let plan = queued.plan_id.expect("a create was queued");
    // From here on, what the worker sends waits at the gate.
    f.gate.held.send_replace(true);
    let executor = Executor::new(f.engine.clone(), worker(owner));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn({
        let executor = executor.clone();
        async move { executor.run(stopped).await }
    });
    tenure_testkit::eventually(Duration::from_secs(20), || async {
        (f.gate.arrived.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await?;
    let op = f.store.plan_operations(f.tenant, plan).await?[0].id;
    // The claim is taken again with a long lease, so the executor cannot win it back.
    tenure_testkit::eventually(Duration::from_secs(20), || async {
        f.expire_lease(op).await.ok()?;
        let claimed = f.store.claim_operations(f.tenant, thief, 10, Duration::from_secs(120), None).await.ok()?;
        (!claimed.is_empty()).then_some(())
    })
    .await?;
    f.gate.held.send_replace(false);
    // Stopping waits for the stale attempt to end, one way or the other: its request cut by a
    // renewal that finds the claim gone, or the app's answer followed by a write that finds it gone.
    stop.send_replace(true);
    running.await?;
    Ok(op)
}

async fn assert_stale_attempt_wrote_nothing(f: &Fixture, op: OperationId, thief: &str) -> anyhow::Result<()> {
    let links = f.store.list_accounts(f.tenant, f.app.id).await?;
    anyhow::ensure!(links.is_empty(), "the stale attempt linked an account: {links:?}");
    let audit = f.store.list_audit(f.tenant, 100).await?;
    anyhow::ensure!(
        !audit.iter().any(|e| e.action.starts_with("account.")),
        "the stale attempt recorded an outcome: {:?}",
        audit.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
    let record = f
        .store
        .list_operations(f.tenant, &Default::default())
        .await?
        .into_iter()
        .find(|r| r.id == op)
        .expect("the operation");
    assert_eq!(record.status, OperationStatus::Pending, "the new claim has it");
    assert_eq!(record.attempts, 2, "the stale attempt and the new claim");
    // The new holder's word still counts.
    assert!(f.store.settle_operation(f.tenant, op, thief, Settlement::failed("settled by the new claim")).await?);
    Ok(())
}

async fn a_worker_whose_claim_another_node_took_writes_nothing(backend: TestBackend) -> anyhow::Result<()> {
    let f = Fixture::new(backend).await?;
    let op = lose_the_claim(&f, "node-a", "node-b").await?;
    assert_stale_attempt_wrote_nothing(&f, op, "node-b").await
}

async fn a_worker_that_claimed_its_own_operation_again_lets_only_the_new_attempt_settle(
    backend: TestBackend,
) -> anyhow::Result<()> {
    // The same worker name claims again (its own loop, after the stall): the name alone cannot
    // tell the two attempts apart, the attempt number does.
    let f = Fixture::new(backend).await?;
    let op = lose_the_claim(&f, "node-a", "node-a").await?;
    assert_stale_attempt_wrote_nothing(&f, op, "node-a").await
}
