//! A source's sync interval set through the admin command (`source set NAME --sync-every 5m`,
//! `PUT /api/v1/sources/{name}` with `sync_every`): stored as `sync_every_s` beside the kind's
//! settings, kept by later edits, read by the schedule, and refused when too short or garbled.

use serde_json::json;
use tenure_engine::admin::{Origin, SourceEdit};
use tenure_engine::{Actor, Engine, EngineError, sync_interval};
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb};

#[tokio::test]
async fn the_interval_is_set_kept_and_checked() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let files = tempfile::tempdir()?;
    let people = files.path().join("people.csv");
    std::fs::write(&people, "employee_id,email,given_name,family_name\nE1,ada@x.com,Ada,Lovelace\n")?;
    store.add_source(tenant, "hr", "csv", &json!({"file": people})).await?;
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    let every = |text: &str| SourceEdit { config: None, sync_every: Some(text.to_owned()) };

    let edited = admin.edit_source("hr", every("5m"), None, false, Origin::Local).await?;
    assert!(edited.saved);
    assert_eq!(edited.source.config["sync_every_s"], 300, "{}", edited.source.config);
    assert_eq!(edited.source.config["file"], json!(people), "the kind's settings stay");
    let stored = store.list_sources(tenant).await?.remove(0);
    assert_eq!(sync_interval(&stored.config).as_secs(), 300, "the schedule reads it");

    // The source still syncs: its kind reads its settings without the interval.
    let report = &engine.sync(Some("hr")).await?[0];
    assert_eq!(report.people, 1);

    // A later edit of the settings alone keeps the interval.
    let mut config = stored.config.clone();
    config.as_object_mut().map(|c| c.remove("sync_every_s"));
    config["min_share_percent"] = json!(50);
    let edit = SourceEdit { config: Some(config), sync_every: None };
    let edited = admin.edit_source("hr", edit, None, false, Origin::Remote).await?;
    assert_eq!((edited.source.config["sync_every_s"].as_u64(), edited.saved), (Some(300), true));

    // Too short, too long, or not a duration: refused, naming the field, nothing saved.
    for (text, says) in [
        ("10s", "at least 30s"),
        ("5", "no unit"),
        ("five minutes", "not a duration"),
        ("3w", "unknown unit"),
        ("30d", "at most 7d"),
    ] {
        let err = admin.edit_source("hr", every(text), None, false, Origin::Local).await.unwrap_err();
        assert!(matches!(&err, EngineError::BadField { field, .. } if field == "sync_every"), "{text}: {err:?}");
        assert!(err.to_string().contains(says), "{text}: {err}");
    }
    // So is a stored value given directly in the settings.
    let mut config = store.list_sources(tenant).await?.remove(0).config;
    config["sync_every_s"] = json!(5);
    let err = admin
        .edit_source("hr", SourceEdit { config: Some(config), sync_every: None }, None, false, Origin::Local)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 30s"), "{err}");
    assert_eq!(sync_interval(&store.list_sources(tenant).await?.remove(0).config).as_secs(), 300);

    // Back to the default.
    let edited = admin.edit_source("hr", every("default"), None, false, Origin::Local).await?;
    assert!(edited.source.config.get("sync_every_s").is_none(), "{}", edited.source.config);
    let audit = store.list_audit(tenant, 20).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "source.set").count(), 3, "each change audited");
    Ok(())
}
