//! Watched drop directories with several nodes on one PostgreSQL database: every node watches
//! the same directory, only the holder of the source schedule's duty imports what is dropped,
//! each file once; a node whose term is over is refused and leaves the file for its successor;
//! when the holder stops, another node takes the directory over.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tenure_core::TenantId;
use tenure_engine::nodes::{DUTY_LEASE, SOURCE_SCHEDULE};
use tenure_engine::{CsvSourceConfig, Engine, EngineError, SyncOptions};
use tenure_store::{Store, StoreError};
use tenure_testkit::{TestBackend, TestDb};

struct Nodes {
    _db: TestDb,
    dir: tempfile::TempDir,
    store: Store,
    tenant: TenantId,
}

impl Nodes {
    async fn new() -> anyhow::Result<Self> {
        let db = TestDb::new(TestBackend::Postgres).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("people.csv"), "employee_id,email\nE0,e0@x.io\n")?;
        std::fs::create_dir(dir.path().join("drop"))?;
        let config = CsvSourceConfig {
            file: dir.path().join("people.csv"),
            groups_file: None,
            mapping: Default::default(),
            scope: Default::default(),
            min_share_percent: None,
            format: Default::default(),
            watch_dir: Some(dir.path().join("drop")),
        };
        store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
        Ok(Self { _db: db, dir, store, tenant })
    }

    /// An engine acting as the node `id`, on its own connections (as another process would be).
    fn node(&self, id: &str) -> Engine {
        Engine::new(self.store.clone(), self.tenant).with_node_id(id)
    }

    /// Starts `engine` watching every 20 ms; the sender stops it.
    fn watch(&self, engine: Engine) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            engine
                .watch_sources(Duration::from_millis(20), async move {
                    let _ = stopped.await;
                })
                .await
        });
        (stop, task)
    }

    fn drop_dir(&self) -> PathBuf {
        self.dir.path().join("drop")
    }

    /// Drops an export with the people E0..=E`n`, settled already (modified a minute ago).
    fn drop_export(&self, name: &str, n: usize) -> anyhow::Result<PathBuf> {
        let mut csv = String::from("employee_id,email\n");
        for i in 0..=n {
            csv.push_str(&format!("E{i},e{i}@x.io\n"));
        }
        // Written under another name and renamed, as the watched directory's convention asks.
        let part = self.drop_dir().join(format!(".{name}.part"));
        std::fs::write(&part, csv)?;
        std::fs::File::options().write(true).open(&part)?.set_modified(SystemTime::now() - Duration::from_secs(60))?;
        let path = self.drop_dir().join(name);
        std::fs::rename(&part, &path)?;
        Ok(path)
    }

    async fn active(&self) -> anyhow::Result<usize> {
        let people = self.store.list_people(self.tenant).await?;
        Ok(people.iter().filter(|p| p.status != tenure_core::PersonStatus::Deleted).count())
    }

    /// How many imports the audit log holds (`source.sync`, one per import).
    async fn imports(&self) -> anyhow::Result<usize> {
        let entries = self.store.list_audit(self.tenant, 10_000).await?;
        Ok(entries.iter().filter(|e| e.action == "source.sync").count())
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_import_each_dropped_file_once_and_the_survivor_takes_over() -> anyhow::Result<()> {
    let nodes = Nodes::new().await?;
    let (stop_a, task_a) = nodes.watch(nodes.node("node-a"));
    let (stop_b, task_b) = nodes.watch(nodes.node("node-b"));

    for day in 1..=5 {
        nodes.drop_export(&format!("day{day}.csv"), day)?;
        tenure_testkit::eventually(Duration::from_secs(15), || async {
            let done = nodes.active().await.ok()? == day + 1 && names_in(&nodes.drop_dir()) == ["processed"];
            done.then_some(())
        })
        .await?;
    }
    // Both nodes looked every 20 ms the whole time; one imported.
    assert_eq!(nodes.imports().await?, 5, "each dropped export imported once");
    assert_eq!(names_in(&nodes.drop_dir().join("processed")).len(), 5);
    let holders = nodes.store.duty_holders(nodes.tenant).await?;
    let holder = holders.iter().find(|h| h.duty == SOURCE_SCHEDULE).map(|h| h.holder.clone());
    let holder = holder.ok_or_else(|| anyhow::anyhow!("nobody holds the duty"))?;

    // The holder stops without giving the duty up (as if killed): the other node takes the
    // directory over once the lease runs out.
    let (stop_holder, task_holder, survivor) =
        if holder == "node-a" { (stop_a, task_a, (stop_b, task_b)) } else { (stop_b, task_b, (stop_a, task_a)) };
    stop_holder.send(()).ok();
    tokio::time::timeout(Duration::from_secs(10), task_holder).await??;
    let stopped = std::time::Instant::now();
    nodes.drop_export("day6.csv", 6)?;
    tenure_testkit::eventually(DUTY_LEASE + Duration::from_secs(15), || async {
        (nodes.active().await.ok()? == 7 && names_in(&nodes.drop_dir()) == ["processed"]).then_some(())
    })
    .await?;
    assert!(stopped.elapsed() >= DUTY_LEASE - Duration::from_secs(1), "not imported before the lease ran out");
    assert_eq!(nodes.imports().await?, 6);
    let holders = nodes.store.duty_holders(nodes.tenant).await?;
    let now = holders.iter().find(|h| h.duty == SOURCE_SCHEDULE).map(|h| h.holder.clone());
    assert!(now.is_some_and(|h| h != holder), "the survivor holds the duty");

    survivor.0.send(()).ok();
    tokio::time::timeout(Duration::from_secs(10), survivor.1).await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_term_is_over_leaves_the_file_for_its_successor() -> anyhow::Result<()> {
    let nodes = Nodes::new().await?;
    let stale = nodes.node("node-a");
    let duty = stale.hold_duty(SOURCE_SCHEDULE).await?.ok_or_else(|| anyhow::anyhow!("the duty is free"))?;
    // Another node takes the duty over (as after node-a stalled past its lease).
    let taken = nodes.store.take_duty(nodes.tenant, SOURCE_SCHEDULE, "node-b", DUTY_LEASE, true).await?;
    assert!(taken.is_some_and(|lease| lease.fence.term > duty.fence().term));

    let file = nodes.drop_export("late.csv", 3)?;
    let source = stale.csv_source("hr").await?.0;
    let dropped = stale
        .import_dropped_under(&source, SyncOptions::default(), "system", Some(duty.fence()))
        .await
        .ok_or_else(|| anyhow::anyhow!("the drop was not seen"))?;
    assert!(matches!(dropped.outcome, Err(EngineError::Store(StoreError::Fenced { .. }))), "{:?}", dropped.outcome);
    assert_eq!(dropped.moved_to, file, "the file stays for the duty's holder");
    assert_eq!(names_in(&nodes.drop_dir()), ["late.csv"]);
    assert_eq!(nodes.active().await?, 0, "nothing imported");
    assert_eq!(nodes.imports().await?, 0);

    // The holder imports it.
    let holder = nodes.node("node-b");
    let (stop, task) = nodes.watch(holder);
    tenure_testkit::eventually(Duration::from_secs(15), || async {
        (nodes.active().await.ok()? == 4 && names_in(&nodes.drop_dir()) == ["processed"]).then_some(())
    })
    .await?;
    assert_eq!(nodes.imports().await?, 1);
    stop.send(()).ok();
    tokio::time::timeout(Duration::from_secs(10), task).await??;
    Ok(())
}
