//! Console sessions in the store, on both backends: found by the hash of their id with their
//! admin as the admin is now, gone once idle too long or past their end, ended with their admin
//! or a new password, and forgotten by the purge.

use tenure_core::{Role, TenantId};
use tenure_store::Store;
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
    a_session_carries_its_admin_as_they_are_now,
    idle_and_ended_sessions_are_gone,
    removal_and_new_passwords_end_sessions,
);

const HOUR: i64 = 3_600_000;

async fn setup(backend: TestBackend) -> anyhow::Result<(TestDb, Store, TenantId, tenure_core::AdminId)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let mut tx = store.begin().await?;
    let admin = tx.insert_admin(tenant, "Ann@X.com", Role::OrgAdmin, &[], Some("$argon2id$stand-in")).await?;
    tx.insert_admin(tenant, "bob@x.com", Role::Auditor, &[], None).await?;
    tx.commit().await?;
    Ok((db, store, tenant, admin.id))
}

async fn open(
    store: &Store,
    tenant: TenantId,
    admin: tenure_core::AdminId,
    hash: &str,
    life: i64,
) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    tx.insert_console_session(tenant, admin, hash, "csrf-token", life).await?;
    tx.commit().await?;
    Ok(())
}

async fn a_session_carries_its_admin_as_they_are_now(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant, admin) = setup(backend).await?;
    let candidates = store.sign_in_candidates(" ANN@x.com ").await?;
    assert_eq!(candidates.len(), 1, "only admins with a password can sign in");
    assert_eq!(candidates[0].password_hash, "$argon2id$stand-in");
    assert!(store.sign_in_candidates("bob@x.com").await?.is_empty());
    open(&store, tenant, admin, "hash-1", HOUR).await?;
    let session = store.console_session("hash-1", HOUR).await?.expect("open");
    assert_eq!(
        (session.tenant, session.admin.email.as_str(), session.csrf.as_str()),
        (tenant, "ann@x.com", "csrf-token")
    );
    assert!(store.console_session("hash-2", HOUR).await?.is_none());
    let mut tx = store.begin().await?;
    tx.update_admin(tenant, admin, Role::Auditor, &[], None).await?;
    tx.commit().await?;
    let session = store.console_session("hash-1", HOUR).await?.expect("still open");
    assert_eq!(session.admin.role, Role::Auditor, "a changed role counts at the next request");
    Ok(())
}

async fn idle_and_ended_sessions_are_gone(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant, admin) = setup(backend).await?;
    open(&store, tenant, admin, "idle", HOUR).await?;
    open(&store, tenant, admin, "ended", -1).await?;
    open(&store, tenant, admin, "kept", HOUR).await?;
    // Idle for longer than -1 ms: any session is.
    assert!(store.console_session("idle", -1).await?.is_none());
    assert!(store.console_session("idle", HOUR).await?.is_none(), "an idle session is removed, not only refused");
    assert!(store.console_session("ended", HOUR).await?.is_none(), "past its absolute end");
    open(&store, tenant, admin, "stale", -1).await?;
    assert_eq!(store.purge_console_sessions(HOUR).await?, 1, "the purge forgets what ended");
    assert!(store.console_session("kept", HOUR).await?.is_some());
    let mut tx = store.begin().await?;
    assert!(tx.delete_console_session(tenant, "kept").await?);
    assert!(!tx.delete_console_session(tenant, "kept").await?);
    tx.commit().await?;
    Ok(())
}

async fn removal_and_new_passwords_end_sessions(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, tenant, admin) = setup(backend).await?;
    open(&store, tenant, admin, "a", HOUR).await?;
    let mut tx = store.begin().await?;
    tx.update_admin(tenant, admin, Role::OrgAdmin, &[], Some(Some("$argon2id$new"))).await?;
    tx.commit().await?;
    assert!(store.console_session("a", HOUR).await?.is_none(), "a new password ends the old sessions");
    open(&store, tenant, admin, "b", HOUR).await?;
    let mut tx = store.begin().await?;
    tx.delete_admin(tenant, admin).await?;
    tx.commit().await?;
    assert!(store.console_session("b", HOUR).await?.is_none());
    Ok(())
}
