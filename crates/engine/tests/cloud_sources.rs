//! Google Workspace and Microsoft Graph sources through `sync`: sync scope, deltas resumed from
//! the stored cursor, and the source guard, against the testkit's fakes.

use std::collections::BTreeMap;

use serde_json::json;
use tenure_core::PersonStatus;
use tenure_engine::{Engine, EngineError, SyncOptions};
use tenure_store::Store;
use tenure_testkit::cloud_fake::{TEST_CERT, TEST_KEY, fixture};
use tenure_testkit::google_fake::{ADMIN, GoogleFake, GoogleGroup};
use tenure_testkit::graph_fake::{CLIENT_ID, GraphFake, TENANT};
use tenure_testkit::{TestBackend, TestDb};

async fn statuses(store: &Store, tenant: tenure_core::TenantId) -> anyhow::Result<BTreeMap<String, PersonStatus>> {
    Ok(store.list_people(tenant).await?.into_iter().map(|p| (p.source_key, p.status)).collect())
}

#[tokio::test]
async fn cloud_sources_sync_within_scope_incrementally_and_behind_the_guard() -> anyhow::Result<()> {
    let db = TestDb::new(TestBackend::Sqlite).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);

    // Graph: only Engineering (Platform is nested in it), and a sync may not lose half.
    let graph = GraphFake::start().await?;
    {
        let mut dir = graph.dir();
        for id in ["u1", "u2", "u3", "u4", "u5"] {
            dir.put_user(id, json!({"userPrincipalName": format!("{id}@contoso.com"), "accountEnabled": id != "u3"}));
        }
        dir.put_group("gE", "Engineering");
        dir.put_group("gP", "Platform");
        dir.put_group("gS", "Sales");
        for (g, m, kind) in [
            ("gE", "u1", "user"),
            ("gE", "u2", "user"),
            ("gE", "gP", "group"),
            ("gP", "u3", "user"),
            ("gP", "u4", "user"),
            ("gS", "u5", "user"),
        ] {
            dir.add_member(g, m, kind);
        }
    }
    let config = json!({
        "tenant_id": TENANT, "client_id": CLIENT_ID,
        "credential": {"certificate": {"certificate": fixture(TEST_CERT), "private_key": fixture(TEST_KEY)}},
        "base_url": graph.base_url(), "token_url": graph.token_url(),
        "scope": {"include_groups": ["Engineering"]},
        "min_share_percent": 50,
    });
    store.add_source(tenant, "entra", "graph", &config).await?;
    let report = &engine.sync(Some("entra")).await?[0];
    assert!(!report.incremental);
    assert_eq!((report.people, report.out_of_scope), (4, 1), "u5 is only in Sales");
    let people = statuses(&store, tenant).await?;
    assert_eq!(people.keys().collect::<Vec<_>>(), ["u1", "u2", "u3", "u4"]);
    assert_eq!(people["u3"], PersonStatus::Suspended);

    // u4 leaves the nested group (and so the scope), u5 joins Engineering: a delta does both.
    {
        let mut dir = graph.dir();
        dir.remove_member("gP", "u4");
        dir.add_member("gE", "u5", "user");
    }
    let report = &engine.sync(Some("entra")).await?[0];
    assert!(report.incremental, "resumed from the stored cursor");
    let people = statuses(&store, tenant).await?;
    assert_eq!(people["u4"], PersonStatus::Deleted, "out of scope is out of the directory");
    assert_eq!(people["u5"], PersonStatus::Active);

    // Most of the directory vanishing is held by the guard, and the cursor is not advanced, so
    // the same changes come back once someone looks.
    let cursor_before =
        store.list_sources(tenant).await?.into_iter().find(|s| s.name == "entra").and_then(|s| s.cursor);
    {
        let mut dir = graph.dir();
        for id in ["u1", "u2", "u3"] {
            dir.hard_delete_user(id);
        }
    }
    let err = engine.sync(Some("entra")).await.unwrap_err();
    assert!(matches!(err, EngineError::SourceGuard { got: 1, previous: 4, .. }), "{err}");
    let cursor_after = store.list_sources(tenant).await?.into_iter().find(|s| s.name == "entra").and_then(|s| s.cursor);
    assert_eq!(cursor_before, cursor_after);
    let report = &engine.sync_with(Some("entra"), SyncOptions { force: true, ..Default::default() }).await?[0];
    assert_eq!(report.people, 1);

    // Google: contractors excluded by org unit; an empty directory after a full one is refused.
    let google = GoogleFake::start().await?;
    let user =
        |id: &str, unit: &str| json!({"id": id, "primaryEmail": format!("{id}@example.com"), "orgUnitPath": unit});
    google.dir().users = vec![user("g1", "/Staff"), user("g2", "/Contractors/EMEA"), user("g3", "/Staff")];
    google.dir().groups = vec![GoogleGroup {
        id: "x".into(),
        email: "all@example.com".into(),
        members: vec![("g1".into(), "USER".into())],
    }];
    let keys = tempfile::tempdir()?;
    let key_file = keys.path().join("sa.json");
    std::fs::write(&key_file, google.key_file_json(&std::fs::read_to_string(fixture(TEST_KEY))?))?;
    let config = json!({"key_file": key_file, "admin": ADMIN, "base_url": google.base_url(),
        "scope": {"exclude_org_units": ["/Contractors"]}});
    store.add_source(tenant, "workspace", "google", &config).await?;
    let report = &engine.sync(Some("workspace")).await?[0];
    assert_eq!((report.people, report.out_of_scope), (2, 1));
    google.dir().users.clear();
    let err = engine.sync(Some("workspace")).await.unwrap_err();
    assert!(matches!(err, EngineError::SourceGuard { got: 0, previous: 2, .. }), "{err}");
    Ok(())
}
