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

/// The console's jobs and sign-in failures are shared by every node: what one node records, the
/// other reads; a job whose node stopped beating reads as interrupted.
mod console_state {
    use tenure_store::{ConsoleJob, ConsoleJobStatus, Store};
    use tenure_testkit::{TestBackend, TestDb};

    #[tokio::test]
    async fn sqlite() -> anyhow::Result<()> {
        shared_by_nodes(TestBackend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() -> anyhow::Result<()> {
        shared_by_nodes(TestBackend::Postgres).await
    }

    async fn node(db: &TestDb) -> anyhow::Result<Store> {
        let keys = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?;
        Ok(Store::connect_with_keys(db.url(), keys).await?)
    }

    fn now_ms() -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }

    async fn shared_by_nodes(backend: TestBackend) -> anyhow::Result<()> {
        let db = TestDb::new(backend).await?;
        let (a, b) = (node(&db).await?, node(&db).await?);
        let tenant = a.ensure_tenant("acme").await?;
        let now = now_ms();
        let job = |id: &str, heartbeat_ms| ConsoleJob {
            id: id.into(),
            tenant,
            admin: "org@acme.example".into(),
            kind: "apply".into(),
            subject: "slack".into(),
            planned: 3,
            status: ConsoleJobStatus::Running,
            outcome: String::new(),
            started_ms: heartbeat_ms,
            heartbeat_ms,
            ended_ms: None,
        };
        a.insert_console_job(&job("j1", now), now - 3_600_000).await?;
        let stale_before = now - 30_000;
        let seen = b.console_job("j1", tenant, "org@acme.example", stale_before).await?.expect("node b reads it");
        assert_eq!((seen.status, seen.planned, seen.subject.as_str()), (ConsoleJobStatus::Running, 3, "slack"));
        assert!(b.console_job("j1", tenant, "auditor@acme.example", stale_before).await?.is_none(), "not another's");
        a.beat_console_job("j1").await?;
        a.finish_console_job("j1", ConsoleJobStatus::Done, "3 operation(s) carried out, 0 failed.").await?;
        let seen = b.console_job("j1", tenant, "org@acme.example", stale_before).await?.expect("still there");
        assert_eq!(seen.status, ConsoleJobStatus::Done);
        assert!(seen.outcome.starts_with("3 operation(s)") && seen.ended_ms.is_some());

        // A node that died a minute ago left its job running: it reads as interrupted, for good.
        a.insert_console_job(&job("j2", now - 60_000), now - 3_600_000).await?;
        let seen = b.console_job("j2", tenant, "org@acme.example", stale_before).await?.expect("there");
        assert_eq!(seen.status, ConsoleJobStatus::Interrupted);
        assert!(seen.outcome.contains("stopped before it ended"), "{}", seen.outcome);
        a.beat_console_job("j2").await?;
        let seen = a.console_job("j2", tenant, "org@acme.example", now_ms() - 30_000).await?.expect("there");
        assert_eq!(seen.status, ConsoleJobStatus::Interrupted, "a late heartbeat does not revive it");

        // Ended jobs older than what is kept are forgotten when the next one starts.
        b.insert_console_job(&job("j3", now_ms()), now_ms() + 1).await?;
        assert!(a.console_job("j1", tenant, "org@acme.example", stale_before).await?.is_none());
        assert!(a.console_job("j3", tenant, "org@acme.example", stale_before).await?.is_some());

        // Sign-in failures: counted the same from both nodes, old ones forgotten.
        let key = "email:ada@acme.example".to_owned();
        a.record_sign_in_failure(std::slice::from_ref(&key), now - 900_000).await?;
        b.record_sign_in_failure(std::slice::from_ref(&key), now - 900_000).await?;
        assert_eq!(a.sign_in_failures(&key, now - 900_000).await?, 2);
        assert_eq!(b.sign_in_failures(&key, now_ms() + 1).await?, 0, "only failures in the window count");
        b.record_sign_in_failure(&["address:10.0.0.1".to_owned()], now_ms() + 1).await?;
        assert_eq!(a.sign_in_failures(&key, 0).await?, 0, "failures before the window are deleted");
        a.clear_sign_in_failures("address:10.0.0.1").await?;
        assert_eq!(b.sign_in_failures("address:10.0.0.1", 0).await?, 0);
        Ok(())
    }
}
