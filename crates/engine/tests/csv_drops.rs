//! CSV exports handed over whole: uploads (`Engine::import_csv`) and files dropped in a watched
//! directory (`Engine::import_dropped`, `Engine::watch_sources`, and a one-shot sync).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tenure_core::TenantId;
use tenure_engine::{CsvSourceConfig, CsvUpload, Engine, EngineError, SyncOptions};
use tenure_sources::SourceError;
use tenure_store::{SourceRecord, Store};
use tenure_testkit::{TestBackend, TestDb};

const GOOD: &str = "employee_id,email,groups\nE1,a@x.io,eng\nE2,b@x.io,eng\nE3,c@x.io,\n";

struct Fixture {
    _db: TestDb,
    dir: tempfile::TempDir,
    store: Store,
    tenant: TenantId,
    engine: Engine,
}

impl Fixture {
    /// A CSV source `hr` reading `dir/people.csv` (holding GOOD, imported once), with
    /// `dir/drop` watched and the given guard share.
    async fn new(min_share_percent: Option<u8>) -> anyhow::Result<Self> {
        let db = TestDb::new(TestBackend::Sqlite).await?;
        let store = Store::connect_with_keys(
            db.url(),
            tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
        )
        .await?;
        let tenant = store.ensure_tenant("acme").await?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("people.csv"), GOOD)?;
        std::fs::create_dir(dir.path().join("drop"))?;
        let config = CsvSourceConfig {
            file: dir.path().join("people.csv"),
            groups_file: None,
            mapping: Default::default(),
            scope: Default::default(),
            min_share_percent,
            format: Default::default(),
            watch_dir: Some(dir.path().join("drop")),
        };
        store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
        let engine = Engine::new(store.clone(), tenant);
        engine.sync(Some("hr")).await?;
        Ok(Self { _db: db, dir, store, tenant, engine })
    }

    async fn source(&self) -> anyhow::Result<SourceRecord> {
        Ok(self.engine.csv_source("hr").await?.0)
    }

    async fn active_emails(&self) -> anyhow::Result<Vec<String>> {
        let mut emails: Vec<String> = self
            .store
            .list_people(self.tenant)
            .await?
            .into_iter()
            .filter(|p| p.status != tenure_core::PersonStatus::Deleted)
            .map(|p| p.email)
            .collect();
        emails.sort();
        Ok(emails)
    }

    fn people_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("people.csv")).unwrap()
    }

    fn drop_dir(&self) -> PathBuf {
        self.dir.path().join("drop")
    }

    /// Drops a file into the watched directory, as modified `age` ago.
    fn drop_file(&self, name: &str, content: &str, age: Duration) -> PathBuf {
        let path = self.drop_dir().join(name);
        std::fs::write(&path, content).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        path
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn upload(people: &str) -> CsvUpload {
    CsvUpload { people: Some(people.as_bytes().to_vec().into()), groups: None }
}

#[tokio::test]
async fn an_upload_is_imported_and_becomes_the_current_file() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let new = "employee_id;email\nE1;a@x.io\nE4;d@x.io\n";
    let report = f.engine.import_csv(&f.source().await?, upload(new), SyncOptions::default()).await?;
    assert_eq!((report.summary.created, report.summary.unchanged, report.summary.left), (1, 1, 2));
    assert_eq!(f.active_emails().await?, ["a@x.io", "d@x.io"]);
    assert_eq!(f.people_file(), new, "a later sync reads what was uploaded");
    assert_eq!(names_in(f.dir.path()), ["drop", "people.csv"], "no staging file is left behind");
    let again = f.engine.sync(Some("hr")).await?;
    assert_eq!((again[0].summary.unchanged, again[0].summary.left), (2, 0));
    Ok(())
}

#[tokio::test]
async fn a_bad_upload_changes_nothing_and_lists_every_problem() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let bad = "employee_id,email\nE1,a@x.io\nE2,nope\nE1,c@x.io\n";
    let e = f.engine.import_csv(&f.source().await?, upload(bad), SyncOptions::default()).await.unwrap_err();
    let EngineError::Source { error: SourceError::Csv(csv), .. } = &e else { panic!("{e}") };
    let lines: Vec<Option<u64>> = csv.problems().iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(3), Some(4)], "{e}");
    assert_eq!(f.active_emails().await?, ["a@x.io", "b@x.io", "c@x.io"]);
    assert_eq!(f.people_file(), GOOD);
    assert_eq!(names_in(f.dir.path()), ["drop", "people.csv"]);
    Ok(())
}

#[tokio::test]
async fn the_source_guard_holds_uploads_unless_forced() -> anyhow::Result<()> {
    let f = Fixture::new(Some(50)).await?;
    let one = "employee_id,email\nE1,a@x.io\n";
    let e = f.engine.import_csv(&f.source().await?, upload(one), SyncOptions::default()).await.unwrap_err();
    assert!(matches!(e, EngineError::SourceGuard { got: 1, previous: 3, .. }), "{e}");
    assert_eq!(f.active_emails().await?.len(), 3);
    assert_eq!(f.people_file(), GOOD, "a refused upload does not replace the file");

    let forced = SyncOptions { force: true, ..Default::default() };
    let report = f.engine.import_csv(&f.source().await?, upload(one), forced).await?;
    assert_eq!(report.summary.left, 2);
    assert_eq!(f.people_file(), one);
    Ok(())
}

#[tokio::test]
async fn a_groups_upload_needs_a_groups_file() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let groups = CsvUpload { people: None, groups: Some(b"name,parents\neng,everyone\n".to_vec().into()) };
    let e = f.engine.import_csv(&f.source().await?, groups, SyncOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("--groups-file"), "{e}");
    Ok(())
}

#[tokio::test]
async fn the_newest_settled_drop_is_imported_older_ones_superseded_unsettled_ones_left() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    f.drop_file("monday.csv", "employee_id,email\nE1,a@x.io\n", Duration::from_secs(60));
    f.drop_file("tuesday.csv", "employee_id,email\nE1,a@x.io\nE9,z@x.io\n", Duration::from_secs(30));
    f.drop_file("wednesday.csv", "employee_id,email\nE1,a@x.io\n", Duration::ZERO);
    f.drop_file("thursday.csv.part", "employee_id,email\n", Duration::from_secs(60));
    f.drop_file(".hidden.csv", "employee_id,email\n", Duration::from_secs(60));

    let dropped = f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.expect("a drop");
    assert!(dropped.file.ends_with("tuesday.csv"), "{dropped:?}");
    let report = dropped.outcome?;
    assert_eq!((report.summary.created, report.summary.left), (1, 2));
    assert_eq!(f.active_emails().await?, ["a@x.io", "z@x.io"]);
    assert!(f.people_file().contains("z@x.io"));

    assert_eq!(names_in(&f.drop_dir()), [".hidden.csv", "processed", "thursday.csv.part", "wednesday.csv"]);
    let processed = names_in(&f.drop_dir().join("processed"));
    assert_eq!(processed.len(), 2, "{processed:?}");
    assert!(
        processed.iter().any(|n| n.ends_with("-monday.csv")) && processed.iter().any(|n| n.ends_with("-tuesday.csv"))
    );
    assert!(dropped.moved_to.starts_with(f.drop_dir().join("processed")));

    // Nothing settled is left: nothing to do.
    assert!(f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.is_none());
    Ok(())
}

#[tokio::test]
async fn a_bad_drop_goes_to_failed_with_its_problems_and_changes_nothing() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    f.drop_file("bad.csv", "employee_id,email\nE1,a@x.io\nE2,nope\n,c@x.io\n", Duration::from_secs(10));
    let dropped = f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.expect("a drop");
    assert!(dropped.outcome.is_err());
    assert_eq!(f.active_emails().await?, ["a@x.io", "b@x.io", "c@x.io"]);
    assert_eq!(f.people_file(), GOOD);
    let failed = names_in(&f.drop_dir().join("failed"));
    assert_eq!(failed.len(), 2, "{failed:?}");
    let error_file = failed.iter().find(|n| n.ends_with("-bad.csv.error.txt")).expect("an error file");
    let text = std::fs::read_to_string(f.drop_dir().join("failed").join(error_file))?;
    assert!(text.contains("line 3: invalid email \"nope\"") && text.contains("line 4: empty employee_id"), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_one_shot_sync_takes_a_dropped_file_first() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    f.drop_file("new.csv", "employee_id,email\nE1,a@x.io\nE2,b@x.io\nE3,c@x.io\nE4,d@x.io\n", Duration::from_secs(5));
    let reports = f.engine.sync(Some("hr")).await?;
    assert_eq!(reports[0].summary.created, 1);
    assert_eq!(f.active_emails().await?.len(), 4);
    // Without a drop, the (now replaced) current file is read.
    let reports = f.engine.sync(Some("hr")).await?;
    assert_eq!(reports[0].summary.unchanged, 4);
    Ok(())
}

#[tokio::test]
async fn the_sources_own_file_in_the_watched_directory_is_not_a_drop() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let source = f.source().await?;
    let mut config: CsvSourceConfig = serde_json::from_value(source.config.clone())?;
    config.file = f.drop_dir().join("current.csv");
    std::fs::write(&config.file, GOOD)?;
    f.store.set_source_config(f.tenant, source.id, &serde_json::to_value(&config)?).await?;
    f.drop_file("current.csv", GOOD, Duration::from_secs(60));
    assert!(f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.is_none());
    f.drop_file("next.csv", "employee_id,email\nE1,a@x.io\n", Duration::from_secs(60));
    let dropped = f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.expect("a drop");
    dropped.outcome?;
    assert_eq!(names_in(&f.drop_dir()), ["current.csv", "processed"]);
    assert_eq!(std::fs::read_to_string(&config.file)?, "employee_id,email\nE1,a@x.io\n");
    Ok(())
}

#[tokio::test]
async fn the_watch_loop_imports_drops_until_shut_down() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = f.engine.clone();
    let watcher = tokio::spawn(async move {
        engine
            .watch_sources(Duration::from_millis(20), async move {
                let _ = stopped.await;
            })
            .await
    });
    f.drop_file("later.csv", "employee_id,email\nE1,a@x.io\nE7,g@x.io\n", Duration::from_secs(5));
    tenure_testkit::eventually(Duration::from_secs(10), || async {
        let emails = f.active_emails().await.ok()?;
        (emails == ["a@x.io", "g@x.io"]).then_some(())
    })
    .await?;
    stop.send(()).ok();
    tokio::time::timeout(Duration::from_secs(10), watcher).await??;
    assert_eq!(names_in(&f.drop_dir()), ["processed"]);
    Ok(())
}

#[tokio::test]
async fn a_drop_found_again_after_its_import_is_moved_not_imported_twice() -> anyhow::Result<()> {
    let f = Fixture::new(None).await?;
    let imports = || async {
        let audit = f.store.list_audit(f.tenant, 1000).await?;
        anyhow::Ok(audit.iter().filter(|e| e.action == "source.sync").count())
    };
    let monday = "employee_id,email\nE1,a@x.io\nE5,e@x.io\n";
    f.drop_file("monday.csv", monday, Duration::from_secs(60));
    let dropped = f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.expect("a drop");
    dropped.outcome?;
    let after_import = imports().await?;
    let audit = f.store.list_audit(f.tenant, 1000).await?;
    let entry = audit.iter().find(|e| e.action == "source.drop").expect("the drop's entry");
    assert_eq!(entry.detail["file"], "monday.csv");
    assert_eq!(entry.detail["summary"]["created"], 1);

    // As if its importer had stopped after the import, before moving the file and before
    // making it the source's file.
    std::fs::write(f.dir.path().join("people.csv"), GOOD)?;
    f.drop_file("monday.csv", monday, Duration::from_secs(60));
    assert!(f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.is_none());
    assert_eq!(imports().await?, after_import, "not imported again");
    assert_eq!(names_in(&f.drop_dir()), ["processed"]);
    assert_eq!(f.people_file(), monday, "it is the source's file now");
    assert_eq!(f.active_emails().await?, ["a@x.io", "e@x.io"]);

    // The same name with other content is another export.
    f.drop_file("monday.csv", "employee_id,email\nE1,a@x.io\n", Duration::from_secs(60));
    let dropped = f.engine.import_dropped(&f.source().await?, SyncOptions::default()).await.expect("a drop");
    dropped.outcome?;
    assert_eq!(imports().await?, after_import + 1);
    assert_eq!(f.active_emails().await?, ["a@x.io"]);
    Ok(())
}
