//! A person marked both for every app and for one app (a change arriving after their pair was
//! deferred) is planned once in that app: twice would queue their create twice.

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::Engine;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{AppAuth, DirtyMark, Store};
use tenure_testkit::{TestBackend, TestDb, person};

const SECRET: &str = "marks-secret";

async fn planned_once(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let sandbox =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, SECRET) })
            .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let app = store
        .add_app_with_auth(
            tenant,
            "notion",
            AppKind::Scim,
            &sandbox.base_url(),
            &AppAuth::Bearer,
            &Secret::new(SECRET),
            &AppSettings::default(),
        )
        .await?;
    let eng = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Eng")?);
    store.assign(tenant, app.id, &eng, false, &AssignmentParams::default()).await?;
    let today = tenure_engine::today();
    // The app's own marks answered first, so the person below is planned person by person.
    engine.propagate_once(today).await?;

    let batch =
        ImportBatch { people: vec![person("E1", "ann@acme.com"), person("E2", "bob@acme.com")], groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let people = store.list_people(tenant).await?;
    let marks: Vec<DirtyMark> = people.iter().map(|p| DirtyMark::pair(app.id, p.id)).collect();
    store.mark_dirty(tenant, &marks).await?;
    let pass = engine.propagate_once(today).await?;
    assert_eq!(pass.queued_ops, 2, "{backend:?}: one create each: {pass:?}");
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_person_marked_twice_is_planned_once() -> anyhow::Result<()> {
    for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
        planned_once(backend).await?;
    }
    Ok(())
}
