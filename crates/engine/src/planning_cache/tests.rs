//! The cache against the database: after any sequence of changes (imports, offboardings,
//! account writes and removals, marks answered by this engine or by another writer), plans made
//! from the cache equal plans made from a fresh read, and a cache that missed changes is rebuilt.

use std::collections::BTreeMap;

use tenure_core::import::{ImportBatch, ImportGroup, ImportedPerson};
use tenure_core::reconcile::{AppState, DirectoryIndex, Prepared};
use tenure_core::*;
use tenure_store::{Offboarding, Store, StoredAccount};
use tenure_testkit::{TestBackend, TestDb};

use crate::Engine;

/// A small deterministic generator: the sequence of changes must be reproducible.
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

const PEOPLE: usize = 60;
const GROUPS: [&str; 3] = ["staff", "eng", "sales"];

#[derive(Clone)]
struct Row {
    department: usize,
    title: usize,
    status: PersonStatus,
    groups: Vec<usize>,
    present: bool,
}

fn imported(i: usize, row: &Row) -> ImportedPerson {
    ImportedPerson {
        source_key: format!("E{i}"),
        user_name: format!("user{i}@x.com"),
        email: format!("user{i}@x.com"),
        given_name: Some(format!("Given{i}")),
        family_name: Some("Tester".into()),
        display_name: None,
        department: Some(format!("Dept{}", row.department)),
        title: Some(format!("Title{}", row.title)),
        employee_id: Some(format!("E{i}")),
        manager_key: None,
        org_unit: Some(OrgUnitPath::parse(&format!("/Unit{}", row.department % 2)).expect("a valid unit")),
        status: row.status,
        start_date: None,
        leave_date: None,
        custom: BTreeMap::new(),
        groups: row.groups.iter().map(|g| GROUPS[*g].to_owned()).collect(),
    }
}

fn batch(rows: &[Row]) -> ImportBatch {
    let people: Vec<ImportedPerson> =
        rows.iter().enumerate().filter(|(_, r)| r.present).map(|(i, r)| imported(i, r)).collect();
    let groups = GROUPS
        .iter()
        .map(|name| ImportGroup {
            name: (*name).to_owned(),
            parents: if *name == "eng" { vec!["staff".to_owned()] } else { vec![] },
        })
        .collect();
    ImportBatch { people, groups }
}

/// An app with its assignments, links and the accounts they name.
type AppRead = (App, Vec<Assignment>, Vec<AccountLink>, Vec<RemoteAccount>);

/// Every app planned in full from the given directory and accounts, as JSON (plans compare
/// whole: operations, cases, problems, unmanaged accounts).
fn plans(people: &[Person], groups: &[Group], apps: &[AppRead], today: time::Date) -> serde_json::Value {
    let dir = DirectoryIndex::new(people, groups);
    let planned: Vec<Plan> = apps
        .iter()
        .map(|(app, assignments, links, observed)| {
            let state = AppState { app, assignments, links, observed, groups: &[] };
            let prepared = Prepared::new(&dir, &state);
            let mut plan = prepared.plan(&dir, today);
            // And one person at a time, as propagation plans them.
            for person in people {
                plan.ops.extend(prepared.plan_person(&dir, person, today).ops);
            }
            plan
        })
        .collect();
    serde_json::to_value(planned).expect("plans serialise")
}

async fn fresh(
    engine: &Engine,
    apps: &[(App, Vec<Assignment>)],
    today: time::Date,
) -> anyhow::Result<serde_json::Value> {
    let store = engine.store();
    let people = engine.people(today).await?;
    let groups = store.list_groups(engine.tenant()).await?;
    let mut loaded = Vec::new();
    for (app, assignments) in apps {
        let stored = store.list_accounts(engine.tenant(), app.id).await?;
        let links = stored.iter().map(|a| a.link.clone()).collect();
        let observed = stored
            .into_iter()
            .map(|a| RemoteAccount { remote_id: a.link.remote_id, active: a.active, attributes: a.attributes })
            .collect();
        loaded.push((app.clone(), assignments.clone(), links, observed));
    }
    Ok(plans(&people, &groups, &loaded, today))
}

async fn cached(
    engine: &Engine,
    apps: &[(App, Vec<Assignment>)],
    today: time::Date,
) -> anyhow::Result<serde_json::Value> {
    let mut cache = engine.planning.lock().await;
    let directory = cache.directory(engine, today).await?;
    let mut loaded = Vec::new();
    for (app, assignments) in apps {
        let accounts = cache.accounts(engine, app.id).await?;
        loaded.push((app.clone(), assignments.clone(), accounts.links.clone(), accounts.observed.clone()));
    }
    Ok(plans(&directory.people, &directory.groups, &loaded, today))
}

/// Each person planned from their own stored accounts only, as propagation plans them, against
/// the same person planned from every stored account of the app.
async fn by_person(engine: &Engine, apps: &[(App, Vec<Assignment>)], today: time::Date) -> anyhow::Result<()> {
    let store = engine.store();
    let people = engine.people(today).await?;
    let groups = store.list_groups(engine.tenant()).await?;
    let dir = DirectoryIndex::new(&people, &groups);
    for (app, assignments) in apps {
        assert!(!crate::propagate::needs_every_name(app));
        let all = store.list_accounts(engine.tenant(), app.id).await?;
        let as_read = |stored: &[StoredAccount]| -> (Vec<AccountLink>, Vec<RemoteAccount>) {
            let links = stored.iter().map(|a| a.link.clone()).collect();
            let observed = stored
                .iter()
                .map(|a| RemoteAccount {
                    remote_id: a.link.remote_id.clone(),
                    active: a.active,
                    attributes: a.attributes.clone(),
                })
                .collect();
            (links, observed)
        };
        let (links, observed) = as_read(&all);
        let everyone = AppState { app, assignments, links: &links, observed: &observed, groups: &[] };
        let everyone = Prepared::new(&dir, &everyone);
        for person in &people {
            let mut theirs = store.accounts_of_people(engine.tenant(), &[person.id]).await?;
            let (links, observed) = as_read(&theirs.remove(&app.id).unwrap_or_default());
            let state = AppState { app, assignments, links: &links, observed: &observed, groups: &[] };
            let alone = Prepared::new(&dir, &state);
            assert_eq!(
                alone.plan_person(&dir, person, today).ops,
                everyone.plan_person(&dir, person, today).ops,
                "{} in {}: planned from their own accounts as from all",
                person.email,
                app.name
            );
        }
    }
    Ok(())
}

async fn rebuilds(engine: &Engine) -> u64 {
    engine.planning.lock().await.rebuilds
}

async fn the_cache_plans_as_a_fresh_read_does(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("cache").await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let today = crate::today();
    let mut rng = SplitMix(18);
    let mut rows: Vec<Row> = (0..PEOPLE)
        .map(|i| Row { department: i % 4, title: 0, status: PersonStatus::Active, groups: vec![i % 3], present: true })
        .collect();
    store.apply_import(tenant, source, &batch(&rows)).await?;
    let staff = store.group_by_name(tenant, "staff").await?.ok_or_else(|| anyhow::anyhow!("no staff group"))?;
    let mut apps = Vec::new();
    for (name, target) in [
        ("by-group", AssignmentTarget::Group(staff)),
        ("by-rule", AssignmentTarget::Rule(expr::Rule::parse(r#"department in ["Dept1", "Dept2"]"#)?)),
    ] {
        let app = store
            .add_app(
                tenant,
                name,
                AppKind::Scim,
                "https://app.invalid/scim/v2",
                &Secret::new("t"),
                &AppSettings::default(),
            )
            .await?;
        store.assign(tenant, app.id, &target, false, &AssignmentParams::default()).await?;
        let assignments = store.list_assignments(tenant, app.id).await?;
        apps.push((app, assignments));
    }
    // Set up as converged: the apps are not read (they do not exist), people are planned one by
    // one from the stored accounts.
    let setup = store.dirty_marks(tenant, i64::MAX).await?;
    store.clear_dirty(tenant, &setup).await?;
    // The planner engine keeps the cache; `other` is a second writer (another node, the CLI).
    let engine = Engine::new(store.clone(), tenant);
    let other = Engine::new(store.clone(), tenant);
    let mut accounts_made = 0usize;

    for round in 0..24 {
        // A few changes of every kind.
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(PEOPLE);
            match rng.below(5) {
                0 => rows[i].title += 1,
                1 => rows[i].department = rng.below(4),
                2 => rows[i].groups = vec![rng.below(3)],
                3 => {
                    rows[i].status = if rows[i].status == PersonStatus::Active {
                        PersonStatus::Suspended
                    } else {
                        PersonStatus::Active
                    }
                }
                _ => rows[i].present = !rows[i].present,
            }
        }
        store.apply_import(tenant, source, &batch(&rows)).await?;
        let people = store.list_people(tenant).await?;
        let someone = &people[rng.below(people.len())];
        match rng.below(4) {
            0 => {
                // An account Tenure created, or a change to one it holds.
                let (app, _) = &apps[rng.below(apps.len())];
                accounts_made += 1;
                let attributes = tenure_core::attributes::default_mapping(someone, UserNameFormat::Email);
                store
                    .upsert_account(
                        tenant,
                        &StoredAccount {
                            link: AccountLink {
                                app_id: app.id,
                                remote_id: format!("r{}", rng.below(accounts_made + 5)),
                                person_id: someone.id,
                                origin: AccountOrigin::Created,
                                deactivated_on: None,
                                granted_by: None,
                            },
                            user_name: someone.email.clone(),
                            active: rng.below(3) > 0,
                            attributes,
                        },
                    )
                    .await?;
            }
            1 => {
                let (app, _) = &apps[rng.below(apps.len())];
                store.remove_account(tenant, app.id, &format!("r{}", rng.below(accounts_made + 5))).await?;
            }
            2 => {
                let mut tx = store.begin().await?;
                let offboarding = Offboarding {
                    person_id: someone.id,
                    email: someone.email.clone(),
                    effective: today,
                    actor: "test".into(),
                    created_ms: 0,
                };
                tx.set_offboarding(tenant, &offboarding).await?;
                tx.mark_dirty(tenant, &[tenure_store::DirtyMark::person(someone.id)]).await?;
                tx.commit().await?;
            }
            _ => {}
        }
        // Marks are answered by this engine's passes, now and then by another writer's.
        let by_other = round % 6 == 5;
        let before = rebuilds(&engine).await;
        if by_other {
            other.propagate_once(today).await?;
        } else if round % 2 == 0 {
            engine.propagate_once(today).await?;
        }
        let from_cache = cached(&engine, &apps, today).await?;
        let from_store = fresh(&engine, &apps, today).await?;
        assert_eq!(from_cache, from_store, "round {round}: the cache plans as a fresh read does");
        by_person(&engine, &apps, today).await?;
        if by_other {
            assert_eq!(
                rebuilds(&engine).await,
                before + 1,
                "round {round}: marks answered elsewhere rebuild the cache"
            );
        } else if round > 0 {
            // Changes it answered itself, or that are still marked, are read one by one.
            assert_eq!(rebuilds(&engine).await, before, "round {round}: the cache is refreshed, not rebuilt");
        }
    }
    Ok(())
}

/// A directory change that marks nobody it can read one by one ("everything") is caught by the
/// version and rebuilds; an unchanged directory is served from memory.
async fn a_stale_cache_is_rebuilt(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("stale").await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let today = crate::today();
    let rows: Vec<Row> = (0..10)
        .map(|_| Row { department: 0, title: 0, status: PersonStatus::Active, groups: vec![0], present: true })
        .collect();
    store.apply_import(tenant, source, &batch(&rows)).await?;
    let engine = Engine::new(store.clone(), tenant);
    let first = engine.planning_directory(today).await?;
    assert_eq!(rebuilds(&engine).await, 1);
    let again = engine.planning_directory(today).await?;
    assert!(std::sync::Arc::ptr_eq(&first, &again), "an unchanged directory is not read again");
    assert_eq!(rebuilds(&engine).await, 1);

    // A group's nesting changes: the import marks everything.
    let mut changed = batch(&rows);
    changed.groups[1].parents = vec!["sales".into()];
    store.apply_import(tenant, source, &changed).await?;
    let rebuilt = engine.planning_directory(today).await?;
    assert_eq!(rebuilds(&engine).await, 2, "a change no mark names one by one rebuilds");
    let groups = store.list_groups(tenant).await?;
    let eng = groups.iter().find(|g| g.name == "eng").ok_or_else(|| anyhow::anyhow!("no eng group"))?;
    let cached_eng = rebuilt.groups.iter().find(|g| g.name == "eng").ok_or_else(|| anyhow::anyhow!("no eng"))?;
    assert_eq!(cached_eng.member_groups, eng.member_groups);

    // Its own pass answers the "everything" mark, knowing it did: no rebuild for that.
    engine.propagate_once(today).await?;
    engine.planning_directory(today).await?;
    assert_eq!(rebuilds(&engine).await, 2, "marks this engine answered do not rebuild");

    // One person changes: read by id, not rebuilt.
    let mut rows = rows;
    rows[3].title = 7;
    store.apply_import(tenant, source, &changed_with(&rows)).await?;
    let refreshed = engine.planning_directory(today).await?;
    assert_eq!(rebuilds(&engine).await, 2);
    let person = refreshed.people.iter().find(|p| p.email == "user3@x.com").ok_or_else(|| anyhow::anyhow!("user3"))?;
    assert_eq!(person.title.as_deref(), Some("Title7"));
    Ok(())
}

fn changed_with(rows: &[Row]) -> ImportBatch {
    let mut b = batch(rows);
    b.groups[1].parents = vec!["sales".into()];
    b
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

on_both_backends!(the_cache_plans_as_a_fresh_read_does, a_stale_cache_is_rebuilt);
