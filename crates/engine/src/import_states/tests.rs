//! Imports compared with the state kept in memory against imports compared with the source read
//! from the database: after any sequence of exports (rows changed, added, removed, back again;
//! memberships, groups and nesting changed) both leave the same directory, report the same
//! summaries and mark the same people; and a kept state that another writer made stale is not
//! used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sqlx::Connection;
use tenure_core::{PersonStatus, TenantId};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb};

use crate::{CsvSourceConfig, Engine};

/// A small deterministic generator: the sequence of exports must be reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PEOPLE: usize = 40;
const GROUPS: [&str; 5] = ["staff", "eng", "sales", "ops", "oncall"];

#[derive(Clone)]
struct Row {
    present: bool,
    title: usize,
    suspended: bool,
    groups: Vec<usize>,
}

/// The export: the people file and the groups file (with `nesting` as child -> parent).
fn export(rows: &[Row], nesting: &[(usize, usize)]) -> (String, String) {
    let mut people = String::from("employee_id,email,title,status,groups\n");
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| r.present) {
        let groups: Vec<&str> = row.groups.iter().map(|g| GROUPS[*g]).collect();
        let status = if row.suspended { "suspended" } else { "active" };
        people.push_str(&format!("E{i},user{i}@x.io,Title {},{status},{}\n", row.title, groups.join(";")));
    }
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (child, parent) in nesting {
        parents.entry(GROUPS[*child]).or_default().insert(GROUPS[*parent]);
    }
    let mut groups = String::from("name,parents\n");
    for (child, parents) in parents {
        groups.push_str(&format!("{child},{}\n", parents.into_iter().collect::<Vec<_>>().join(";")));
    }
    (people, groups)
}

/// The tenant's directory without ids: people by key, groups by name with their members' keys
/// and their nested groups' names.
type Directory = (BTreeMap<String, String>, BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>);

async fn directory(store: &Store, tenant: TenantId) -> anyhow::Result<Directory> {
    let people = store.list_people(tenant).await?;
    let key_of: BTreeMap<_, _> = people.iter().map(|p| (p.id, p.source_key.clone())).collect();
    let by_key = people
        .iter()
        .map(|p| {
            let shown = format!("{} {:?} {:?} {:?}", p.email, p.title, p.status, p.custom);
            (p.source_key.clone(), shown)
        })
        .collect();
    let groups = store.list_groups(tenant).await?;
    let name_of: BTreeMap<_, _> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let groups = groups
        .iter()
        .map(|g| {
            let members = g.members.iter().filter_map(|id| key_of.get(id).cloned()).collect();
            let nested = g.member_groups.iter().filter_map(|id| name_of.get(id).cloned()).collect();
            (g.name.clone(), (members, nested))
        })
        .collect();
    Ok((by_key, groups))
}

/// The people marked for planning, by key ("*" for everything).
async fn marked(store: &Store, tenant: TenantId) -> anyhow::Result<BTreeSet<String>> {
    let marks = store.directory_marks(tenant, 10_000).await?;
    let people = store.list_people(tenant).await?;
    let mut keys: BTreeSet<String> =
        people.iter().filter(|p| marks.people.contains(&p.id)).map(|p| p.source_key.clone()).collect();
    if marks.everything {
        keys.insert("*".to_owned());
    }
    Ok(keys)
}

async fn csv_source(store: &Store, tenant: TenantId, dir: &Path) -> anyhow::Result<()> {
    let config = CsvSourceConfig {
        file: dir.join("people.csv"),
        groups_file: Some(dir.join("groups.csv")),
        mapping: Default::default(),
        scope: Default::default(),
        min_share_percent: None,
        format: Default::default(),
        watch_dir: None,
    };
    store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
    Ok(())
}

async fn connect(db: &TestDb) -> anyhow::Result<Store> {
    Ok(Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?)
}

/// Two tenants import the same sequence of exports: `kept` by one engine that keeps its state
/// between imports, `read` by a fresh engine each time (which reads the source from the
/// database, as the import always did).
async fn a_kept_state_imports_as_a_full_read_does(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = connect(&db).await?;
    let dir = tempfile::tempdir()?;
    let kept_tenant = store.ensure_tenant("kept").await?;
    let read_tenant = store.ensure_tenant("read").await?;
    csv_source(&store, kept_tenant, dir.path()).await?;
    csv_source(&store, read_tenant, dir.path()).await?;
    let kept = Engine::new(store.clone(), kept_tenant);

    let mut rng = SplitMix(18);
    let mut rows: Vec<Row> =
        (0..PEOPLE).map(|i| Row { present: i < 30, title: 0, suspended: false, groups: vec![0, 1 + i % 3] }).collect();
    let mut nesting = vec![(1, 0), (4, 1)];
    for round in 0..12 {
        if round > 0 {
            for _ in 0..6 {
                let row = &mut rows[rng.below(PEOPLE)];
                match rng.below(6) {
                    0 => row.present = !row.present,
                    1 => row.title += 1,
                    2 => row.suspended = !row.suspended,
                    3 => row.groups = vec![rng.below(GROUPS.len())],
                    4 => row.groups.push(rng.below(GROUPS.len())),
                    _ => row.groups.clear(),
                }
            }
            if round % 4 == 3 {
                nesting = vec![(rng.below(GROUPS.len()), 0), (3, 2)];
                nesting.retain(|(child, parent)| child != parent);
            }
        }
        // One round in three changes nothing: an export identical to the last.
        if round % 3 != 2 || round == 0 {
            let (people, groups) = export(&rows, &nesting);
            std::fs::write(dir.path().join("people.csv"), people)?;
            std::fs::write(dir.path().join("groups.csv"), groups)?;
        }
        let from_kept = kept.sync(Some("hr")).await?.remove(0);
        let from_read = Engine::new(store.clone(), read_tenant).sync(Some("hr")).await?.remove(0);
        assert_eq!(from_kept.summary, from_read.summary, "round {round}: the same summary");
        assert_eq!(
            directory(&store, kept_tenant).await?,
            directory(&store, read_tenant).await?,
            "round {round}: the same directory"
        );
        assert_eq!(
            marked(&store, kept_tenant).await?,
            marked(&store, read_tenant).await?,
            "round {round}: the same marks"
        );
    }
    assert_eq!(kept.import_states.reads(), 1, "only the first import read the source from the database");
    Ok(())
}

/// A kept state is not used once another writer moved the directory: another engine (another
/// process, node or restart) importing into the same source, or a write straight to a person.
async fn a_stale_state_is_read_again(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = connect(&db).await?;
    let dir = tempfile::tempdir()?;
    let tenant = store.ensure_tenant("stale").await?;
    csv_source(&store, tenant, dir.path()).await?;
    let rows: Vec<Row> =
        (0..10).map(|i| Row { present: true, title: 0, suspended: false, groups: vec![i % 2] }).collect();
    let (people, groups) = export(&rows, &[(1, 0)]);
    let write = |people: &str| std::fs::write(dir.path().join("people.csv"), people);
    write(&people)?;
    std::fs::write(dir.path().join("groups.csv"), groups)?;
    let engine = Engine::new(store.clone(), tenant);
    engine.sync(Some("hr")).await?;
    let title_of = |key: &'static str| {
        let store = store.clone();
        async move {
            let people = store.list_people(tenant).await?;
            let person = people.iter().find(|p| p.source_key == key).ok_or_else(|| anyhow::anyhow!("no {key}"))?;
            anyhow::Ok((person.title.clone(), person.status))
        }
    };

    // Another engine imports an export where E3 has another title and E4 left.
    let mut other_rows = rows.clone();
    other_rows[3].title = 9;
    other_rows[4].present = false;
    write(&export(&other_rows, &[(1, 0)]).0)?;
    Engine::new(store.clone(), tenant).sync(Some("hr")).await?;
    assert_eq!(title_of("E3").await?, (Some("Title 9".into()), PersonStatus::Active));

    // The first engine's kept state still says the first export; importing that again must
    // write E3 and E4 back, which only a state read from the database shows to have changed.
    write(&people)?;
    let reads = engine.import_states.reads();
    let report = engine.sync(Some("hr")).await?.remove(0);
    assert_eq!(engine.import_states.reads(), reads + 1, "the stale state was read again");
    assert_eq!((report.summary.updated, report.summary.returned), (1, 1));
    assert_eq!(title_of("E3").await?, (Some("Title 0".into()), PersonStatus::Active));
    assert_eq!(title_of("E4").await?.1, PersonStatus::Active);

    // A write straight to the database (another process's own statement) moves the version too.
    sqlx::query("UPDATE people SET title = 'Changed' WHERE tenant_id = $1 AND source_key = 'E5'")
        .bind(tenant.to_string())
        .execute(&mut sqlx::AnyConnection::connect(db.url()).await?)
        .await?;
    let report = engine.sync(Some("hr")).await?.remove(0);
    assert_eq!(engine.import_states.reads(), reads + 2, "the stale state was read again");
    assert_eq!(report.summary.updated, 1);
    assert_eq!(title_of("E5").await?.0.as_deref(), Some("Title 0"));

    // Nothing moved since: the kept state is used.
    let report = engine.sync(Some("hr")).await?.remove(0);
    assert_eq!(engine.import_states.reads(), reads + 2, "a current state is used");
    assert_eq!(report.summary.unchanged, 10);
    Ok(())
}

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

on_both_backends!(a_kept_state_imports_as_a_full_read_does, a_stale_state_is_read_again);
