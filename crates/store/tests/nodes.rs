//! Several nodes on one database, on both backends: a duty's lease is held by one node at a time,
//! taken over only once it expired, and a write under an old term is refused whole; request
//! budgets hand out disjoint slots and keep a stored pause.

use std::time::{Duration, Instant};

use tenure_core::import::*;
use tenure_core::*;
use tenure_store::{DirtyMark, Store, StoreError};
use tenure_testkit::{TestBackend, TestDb};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() -> anyhow::Result<()> { super::$name(tenure_testkit::TestBackend::Postgres).await })*
        }
    };
}

on_both_backends!(
    one_holder_at_a_time_and_a_takeover_bumps_the_term,
    a_write_under_an_old_term_is_refused_whole,
    released_duties_and_stealing,
    budget_slots_are_disjoint_and_wait_out_a_pause,
);

async fn fresh(backend: TestBackend) -> anyhow::Result<(TestDb, Store, TenantId)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("default").await?;
    Ok((db, store, tenant))
}

const LEASE: Duration = Duration::from_secs(30);

/// Takes the duty for `holder` as soon as the current lease runs out.
async fn take_when_free(store: &Store, tenant: TenantId, holder: &str) -> anyhow::Result<tenure_store::DutyLease> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lease) = store.take_duty(tenant, "schedule", holder, LEASE, false).await? {
            return Ok(lease);
        }
        anyhow::ensure!(Instant::now() < until, "{holder} never got the duty");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn one_holder_at_a_time_and_a_takeover_bumps_the_term(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant) = fresh(backend).await?;
    let a = store.take_duty(tenant, "schedule", "node-a", LEASE, false).await?.expect("a free duty is taken");
    assert_eq!(a.fence.term, 1);
    assert!(store.take_duty(tenant, "schedule", "node-b", LEASE, false).await?.is_none(), "held by a");
    let renewed = store.take_duty(tenant, "schedule", "node-a", LEASE, false).await?.expect("a renews");
    assert_eq!(renewed.fence.term, 1, "a renewal keeps the term");
    // Another duty is another row.
    assert!(store.take_duty(tenant, "reconciliation", "node-b", LEASE, false).await?.is_some());

    // a stops renewing: its lease runs out (a 1 ms lease here) and b takes over, term 2.
    store.take_duty(tenant, "schedule", "node-a", Duration::from_millis(1), false).await?.expect("a renews");
    let b = take_when_free(&store, tenant, "node-b").await?;
    assert_eq!(b.fence.term, 2);
    assert!(store.take_duty(tenant, "schedule", "node-a", LEASE, false).await?.is_none(), "a cannot renew any more");
    let holders = store.duty_holders(tenant).await?;
    let schedule = holders.iter().find(|h| h.duty == "schedule").expect("the row");
    assert_eq!((schedule.holder.as_str(), schedule.term), ("node-b", 2));
    Ok(())
}

async fn a_write_under_an_old_term_is_refused_whole(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant) = fresh(backend).await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let old = store.take_duty(tenant, "schedule", "node-a", Duration::from_millis(1), false).await?.expect("free");
    let new = take_when_free(&store, tenant, "node-b").await?;
    let batch = ImportBatch { people: vec![person(1)], groups: vec![] };

    let refused = store.apply_import_under(tenant, source, &batch, &[], Some(&old.fence)).await;
    assert!(matches!(refused, Err(StoreError::Fenced { term: 1, .. })), "{refused:?}");
    assert!(store.list_people(tenant).await?.is_empty(), "nothing of the refused import was written");
    let source_row = store.list_sources(tenant).await?.remove(0);
    assert_eq!(source_row.last_sync_ms, None, "the refused sync is not recorded");
    let marks = [DirtyMark::everything()];
    assert!(matches!(store.mark_dirty_fenced(&old.fence, &marks).await, Err(StoreError::Fenced { .. })));
    assert!(matches!(store.record_duty_run(&old.fence, 5).await, Err(StoreError::Fenced { .. })));
    assert!(store.dirty_marks(tenant, 10).await?.is_empty());

    store.apply_import_under(tenant, source, &batch, &[], Some(&new.fence)).await?;
    assert_eq!(store.list_people(tenant).await?.len(), 1);
    store.mark_dirty_fenced(&new.fence, &marks).await?;
    store.record_duty_run(&new.fence, 5).await?;
    let again = store.take_duty(tenant, "schedule", "node-b", LEASE, false).await?.expect("b renews");
    assert_eq!(again.last_run_ms, 5, "the last run is kept in the row for the next holder");
    Ok(())
}

async fn released_duties_and_stealing(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant) = fresh(backend).await?;
    let a = store.take_duty(tenant, "schedule", "node-a", LEASE, false).await?.expect("free");
    store.release_duty(&a.fence).await?;
    let b = store.take_duty(tenant, "schedule", "node-b", LEASE, false).await?.expect("released: taken at once");
    assert_eq!(b.fence.term, 2);
    // The one node of an embedded database takes its duties on start, whoever held them.
    let c = store.take_duty(tenant, "schedule", "node-c", LEASE, true).await?.expect("stolen");
    assert_eq!(c.fence.term, 3);
    Ok(())
}

async fn budget_slots_are_disjoint_and_wait_out_a_pause(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant) = fresh(backend).await?;
    // 10 a second: a slot every 100 ms. The first slice starts now; the second follows it.
    let first = store.reserve_budget(tenant, "app", 10.0, 1, 5).await?;
    assert_eq!((first.interval_us, first.count), (100_000, 5));
    let second = store.reserve_budget(tenant, "app", 10.0, 1, 5).await?;
    assert_eq!(second.first_us, first.first_us + 5 * 100_000, "slices never overlap");
    // Another bucket is another budget.
    let other = store.reserve_budget(tenant, "other", 10.0, 1, 1).await?;
    assert!(other.first_us < second.first_us);
    // A 429's pause: no slot before it.
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    store.pause_budget(tenant, "app", now_ms + 60_000).await?;
    let paused = store.reserve_budget(tenant, "app", 10.0, 1, 1).await?;
    assert!(paused.first_us >= (now_ms + 60_000) * 1000, "{paused:?}");
    assert_eq!(paused.held_until_ms, now_ms + 60_000);
    Ok(())
}

fn person(i: usize) -> ImportedPerson {
    ImportedPerson {
        source_key: format!("E{i}"),
        user_name: format!("person{i}@example.com"),
        email: format!("person{i}@example.com"),
        given_name: None,
        family_name: None,
        display_name: None,
        department: None,
        title: None,
        employee_id: None,
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: Default::default(),
        groups: vec![],
    }
}
