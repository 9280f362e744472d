//! An account prepared ahead of its person's start date is created disabled in the create
//! itself against the independent scim2-server (`active: false` in the POST, RFC 7643 §4.1.1),
//! with no second request to disable it; on the start date it is activated. Both backends.

use std::time::Duration;

use tenure_connectors::ClientOptions;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::Engine;
use tenure_store::Store;
use tenure_testkit::{Scim2Server, TestBackend, TestDb, person};

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

on_both_backends!(a_pre_start_account_is_created_disabled_in_one_request);

async fn a_pre_start_account_is_created_disabled_in_one_request(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let keys = tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?;
    let store = Store::connect_with_keys(db.url(), keys).await?;
    let tenant = store.ensure_tenant("acme").await?;
    let client = ClientOptions { max_retries: 0, timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let engine =
        Engine::new(store.clone(), tenant).with_client_options(client).with_drain_wait(Duration::from_secs(20));
    let peer = Scim2Server::start().await?;
    let source = store.add_source(tenant, "hr", "csv", &serde_json::json!({})).await?;
    let today = tenure_engine::today();
    let mut starter = person("E1", "new@acme.example");
    starter.start_date = Some(today + time::Duration::days(3));
    let batch = ImportBatch { people: vec![person("E0", "old@acme.example"), starter], groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let settings = AppSettings { pre_start_days: Some(5), ..AppSettings::default() };
    let app =
        store.add_app(tenant, "peer", AppKind::Scim, peer.base_url(), &Secret::new(peer.token()), &settings).await?;
    let root = OrgUnitPath::parse("/")?;
    store.assign(tenant, app.id, &AssignmentTarget::OrgUnit(root), false, &AssignmentParams::default()).await?;

    let applied = engine.apply(engine.plan(None, today).await?).await?;
    anyhow::ensure!(applied.succeeded("create") == 2, "{:?}", applied.apps);
    let read =
        tenure_connectors::ScimClient::new(peer.base_url(), Secret::new(peer.token()), ClientOptions::default())?;
    let active = |users: &[RemoteAccount], email: &str| users.iter().find(|u| u.user_name() == email).map(|u| u.active);
    let users = read.list_users().await?;
    assert_eq!(active(&users, "new@acme.example"), Some(false), "made ahead of the start date, disabled");
    assert_eq!(active(&users, "old@acme.example"), Some(true));
    // Two creates, and nothing after them: the disabled one said so in its POST.
    assert_eq!(peer.requests_logged("POST /v2/Users", 2).await?, 2, "{}", peer.stderr());
    let log = peer.stderr();
    assert_eq!(log.matches("PATCH /v2/Users").count() + log.matches("PUT /v2/Users").count(), 0, "{log}");
    let stored = store.list_accounts(tenant, app.id).await?;
    let starter = stored.iter().find(|a| a.user_name == "new@acme.example").expect("linked");
    assert!(!starter.active, "stored as the app made it");

    // On the start date the account is activated, not made again.
    let on_the_day = engine.plan(None, today + time::Duration::days(3)).await?;
    let applied = engine.apply(on_the_day).await?;
    anyhow::ensure!(applied.succeeded("activate") == 1, "{:?}", applied.apps);
    let users = read.list_users().await?;
    assert_eq!(users.len(), 2);
    assert_eq!(active(&users, "new@acme.example"), Some(true));
    Ok(())
}
