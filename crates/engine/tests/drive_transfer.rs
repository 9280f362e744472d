//! A Google Workspace app's offboarding policy hands a departing person's Drive files on
//! before their account is suspended, through the Data Transfer API (the Google fake following
//! Google's documented contract): shown in the preview, carried out through the queue, audited,
//! resumed rather than repeated after a restart, and refused (no suspension) when the recipient
//! is unknown. On both backends.

use std::time::Duration;

use serde_json::{Value, json};
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::admin::{AppEdit, OffboardSpec, SettingsSpec};
use tenure_engine::{Actor, Engine, Executor, WorkerOptions};
use tenure_store::Store;
use tenure_testkit::cloud_fake::{TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake};
use tenure_testkit::google_transfer_fake::DriveFile;
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

on_both_backends!(
    an_offboarding_hands_drive_files_to_the_manager_then_suspends,
    an_unknown_recipient_fails_the_step_and_nobody_is_suspended,
    a_restart_mid_transfer_resumes_it_without_asking_again,
    a_leaver_by_policy_has_their_files_handed_on_too,
);

struct World {
    db: TestDb,
    store: Store,
    tenant: TenantId,
    engine: Engine,
    fake: GoogleFake,
    source: SourceId,
}

fn fast_worker() -> WorkerOptions {
    WorkerOptions {
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        idle_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    }
}

fn engine_for(store: &Store, tenant: TenantId) -> Engine {
    let wide = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
    // A transfer is polled for at most a request timeout per look: short here.
    let client = tenure_connectors::ClientOptions {
        timeout: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(50),
        ..Default::default()
    };
    Engine::new(store.clone(), tenant)
        .with_global_guard(wide)
        .with_client_options(client)
        .with_worker_options(fast_worker())
        .with_drain_wait(Duration::from_secs(5))
}

fn people() -> Vec<ImportedPerson> {
    vec![
        ImportedPerson { manager_key: Some("M1".into()), ..person("E1", "ann@example.com") },
        person("M1", "mia@example.com"),
        person("E2", "bob@example.com"),
    ]
}

async fn world(backend: TestBackend, transfer_to: &str) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = engine_for(&store, tenant);
    let fake = GoogleFake::start().await?;
    fake.dir().drive.polls_to_complete = 2;
    let key = fake.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?);
    let wide = tenure_core::guard::GuardLimits { max_percent: 100, max_count: 1000, ..Default::default() };
    let settings = AppSettings {
        deprovision: DeprovisionPolicy::Deactivate,
        guard: Some(wide),
        google_workspace: Some(GoogleWorkspaceTarget {
            domain: "example.com".into(),
            customer: "my_customer".into(),
            admin: ADMIN.into(),
            token_url: Some(fake.token_url()),
            org_unit_path: None,
            change_password_at_next_login: false,
            transfer_drive_to: None,
            license_skus: Vec::new(),
        }),
        ..AppSettings::default()
    };
    let app = store
        .add_app(tenant, "google", AppKind::GoogleWorkspace, &fake.base_url(), &Secret::new(key), &settings)
        .await?;
    // The policy, set as an admin sets it (`tenure app edit google --transfer-drive-to …`).
    let edit = AppEdit {
        settings: SettingsSpec { transfer_drive_to: Some(transfer_to.into()), ..Default::default() },
        ..Default::default()
    };
    engine.admin(&Actor::cli()).edit_app("google", edit, None, false).await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
    store.apply_import(tenant, source, &ImportBatch { people: people(), groups: vec![] }).await?;
    let report = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(report.succeeded("create") == 3, "{report:?}");
    let ann = id_of(&fake, "ann@example.com");
    for (name, shared) in [("roadmap.doc", true), ("notes.txt", false)] {
        fake.dir().drive.files.push(DriveFile { name: name.into(), owner: ann.clone(), shared });
    }
    Ok(World { db, store, tenant, engine, fake, source })
}

fn id_of(fake: &GoogleFake, email: &str) -> String {
    fake.dir().user(email).and_then(|u| u["id"].as_str().map(str::to_owned)).unwrap_or_default()
}

fn suspended(fake: &GoogleFake, email: &str) -> Option<bool> {
    fake.dir().user(email).and_then(|u| u["suspended"].as_bool().or(Some(false)))
}

async fn audit_actions(w: &World) -> anyhow::Result<Vec<(String, Value)>> {
    let events = w.store.list_audit(w.tenant, 200).await?;
    Ok(events.into_iter().map(|e| (e.action, e.detail)).collect())
}

async fn an_offboarding_hands_drive_files_to_the_manager_then_suspends(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, "manager").await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let preview = admin.offboard("ann@example.com", OffboardSpec { preview: true, ..Default::default() }).await?;
    let step = preview.apps.iter().find(|s| s.app == "google").expect("google in the preview");
    assert_eq!(step.action, "deactivate", "{preview:?}");
    assert!(
        step.reason.starts_with("transfer Drive files to mia@example.com, then suspend"),
        "the preview says where the files go: {step:?}"
    );
    assert_eq!(w.fake.dir().counts.transfers, 0, "a preview transfers nothing");

    let view = admin.offboard("ann@example.com", OffboardSpec::default()).await?;
    assert_eq!(view.status, "done", "{view:?}");
    let (ann, mia) = (id_of(&w.fake, "ann@example.com"), id_of(&w.fake, "mia@example.com"));
    {
        let dir = w.fake.dir();
        assert_eq!(dir.drive.files_of(&mia), ["notes.txt", "roadmap.doc"], "private and shared files both moved");
        assert!(dir.drive.files_of(&ann).is_empty());
        assert_eq!(dir.counts.transfers, 1, "one transfer requested");
        let t = &dir.drive.transfers[0];
        assert_eq!(
            (t["oldOwnerUserId"].as_str(), t["newOwnerUserId"].as_str()),
            (Some(ann.as_str()), Some(mia.as_str()))
        );
        assert_eq!(t["applicationDataTransfers"][0]["applicationId"], "55656082996");
        assert_eq!(t["overallTransferStatusCode"], "completed");
    }
    assert_eq!(suspended(&w.fake, "ann@example.com"), Some(true), "suspended after the transfer");
    assert_eq!(suspended(&w.fake, "mia@example.com"), Some(false));
    let audit = audit_actions(&w).await?;
    let (_, detail) = audit.iter().find(|(a, _)| a == "account.drive_transferred").expect("the transfer is audited");
    assert_eq!(detail["to"], "mia@example.com");
    assert_eq!(detail["person"], "ann@example.com");
    assert!(!detail["reason"].is_null(), "with its reason: {detail}");
    let transferred = audit.iter().position(|(a, _)| a == "account.drive_transferred");
    let deactivated = audit.iter().position(|(a, d)| a == "account.deactivate" && d["person"] == "ann@example.com");
    assert!(transferred < deactivated, "transferred, then suspended: {audit:?}");
    Ok(())
}

async fn an_unknown_recipient_fails_the_step_and_nobody_is_suspended(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, "gone@example.com").await?;
    let cli = Actor::cli();
    let view = w.engine.admin(&cli).offboard("ann@example.com", OffboardSpec::default()).await?;
    let step = view.apps.iter().find(|s| s.app == "google").expect("google");
    assert_eq!(step.outcome.as_deref(), Some("failed"), "{view:?}");
    let error = step.error.as_deref().unwrap_or_default();
    assert!(error.contains("gone@example.com is not a user"), "the reason: {error}");
    assert!(error.contains("not suspended"), "{error}");
    assert_eq!(suspended(&w.fake, "ann@example.com"), Some(false), "no suspension without the transfer");
    assert_eq!(w.fake.dir().counts.transfers, 0);
    let ann = id_of(&w.fake, "ann@example.com");
    assert_eq!(w.fake.dir().drive.files_of(&ann).len(), 2);

    // A recipient that is not an address at all is refused when the policy is set.
    let edit = AppEdit {
        settings: SettingsSpec { transfer_drive_to: Some("the boss".into()), ..Default::default() },
        ..Default::default()
    };
    let refused = w.engine.admin(&cli).edit_app("google", edit, None, false).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("transfer_drive_to"), "{message}");
    Ok(())
}

async fn a_restart_mid_transfer_resumes_it_without_asking_again(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, "manager").await?;
    w.fake.dir().drive.hold = true;
    let cli = Actor::cli();
    let view = w.engine.admin(&cli).offboard("ann@example.com", OffboardSpec::default()).await?;
    let step = view.apps.iter().find(|s| s.app == "google").expect("google");
    assert_eq!(step.outcome.as_deref(), Some("queued"), "waits for the transfer: {view:?}");
    assert_eq!(suspended(&w.fake, "ann@example.com"), Some(false), "not suspended while the files move");
    assert_eq!(w.fake.dir().counts.transfers, 1);

    // A restart: a new process and store handle; Google finishes the transfer meanwhile.
    drop(view);
    let store = Store::connect_with_keys(
        w.db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let engine = engine_for(&store, w.tenant);
    w.fake.dir().drive.hold = false;
    let executor = Executor::new(engine.clone(), engine.worker_options().clone());
    assert!(executor.drain(None, Duration::from_secs(60)).await?, "the queue empties");
    assert_eq!(suspended(&w.fake, "ann@example.com"), Some(true));
    assert_eq!(w.fake.dir().counts.transfers, 1, "the running transfer was found again, not asked for twice");
    let mia = id_of(&w.fake, "mia@example.com");
    assert_eq!(w.fake.dir().drive.files_of(&mia).len(), 2);
    let audit = audit_actions(&w).await?;
    let (_, detail) = audit.iter().find(|(a, _)| a == "account.drive_transferred").expect("audited");
    assert_eq!(detail["resumed"], true, "{detail}");
    Ok(())
}

async fn a_leaver_by_policy_has_their_files_handed_on_too(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend, "bob@example.com").await?;
    // Ann leaves the directory: the app's deprovisioning policy suspends her, files first.
    let rest: Vec<ImportedPerson> = people().into_iter().filter(|p| p.email != "ann@example.com").collect();
    w.store.apply_import(w.tenant, w.source, &ImportBatch { people: rest, groups: vec![] }).await?;
    let report = w.engine.apply(w.engine.plan(None, tenure_engine::today()).await?).await?;
    anyhow::ensure!(report.succeeded("deactivate") == 1, "{report:?}");
    let bob = id_of(&w.fake, "bob@example.com");
    assert_eq!(w.fake.dir().drive.files_of(&bob).len(), 2);
    assert_eq!(suspended(&w.fake, "ann@example.com"), Some(true));
    Ok(())
}
