//! `Store::copy_to`, what `tenure db copy` runs: every table of a SQLite database into an empty
//! PostgreSQL one, counted on both sides; the queue's order survives (PostgreSQL's sequence moves
//! past the copied rows); a target with rows is refused before anything is written.

use tenure_core::*;
use tenure_store::Store;
use tenure_testkit::{TestBackend, TestDb};

async fn open(db: &TestDb) -> anyhow::Result<Store> {
    Ok(Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?)
}

fn op(app: AppId, person: PersonId, remote_id: &str) -> PlannedOp {
    PlannedOp {
        app_id: app,
        person_id: person,
        person: "a@x.com".into(),
        kind: OpKind::Deactivate { remote_id: remote_id.into() },
        reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
    }
}

#[tokio::test]
async fn a_copy_to_postgres_keeps_every_row_and_the_queue_order() -> anyhow::Result<()> {
    let (source_db, target_db) = (TestDb::new(TestBackend::Sqlite).await?, TestDb::new(TestBackend::Postgres).await?);
    let source = open(&source_db).await?;
    let t = source.ensure_tenant("acme").await?;
    source.ensure_tenant("globex").await?;
    source.append_audit(t, "cli", "app.add", "slack", &serde_json::json!({})).await?;
    let (app, person) = (AppId::new(), PersonId::new());
    let first = source.save_plan(t, &[op(app, person, "U1"), op(app, person, "U2")], &serde_json::json!({})).await?;

    let target = source.connect_with_same_keys(target_db.url()).await?;
    let copied = source.copy_to(&target).await?;
    assert_eq!(copied.tables["tenants"].source, 2);
    assert_eq!(copied.tables["operations"].target, 2);
    assert!(copied.tables.values().all(|t| t.source == t.target), "{copied:?}");
    assert_eq!(target.row_counts().await?, source.row_counts().await?);
    assert!(target.verify_audit(t).await?.first_bad.is_none(), "the audit chain verifies on the copy");

    // An operation queued after the copy runs after the copied ones of its pair, not beside them.
    let later = target.save_plan(t, &[op(app, person, "U3")], &serde_json::json!({})).await?;
    let claimed = target.claim_operations(t, "w", 10, std::time::Duration::from_secs(60), None).await?;
    assert_eq!(claimed.len(), 1, "one operation of the pair at a time: {claimed:?}");
    assert_eq!((claimed[0].plan_id, claimed[0].seq), (first, 0));
    assert_ne!(claimed[0].plan_id, later);

    // Not into a database that has rows.
    let again = source.copy_to(&target).await;
    assert!(matches!(again, Err(tenure_store::backup::BackupError::NotEmpty { .. })), "{again:?}");
    assert_eq!(target.row_counts().await?["operations"], 3);
    Ok(())
}
