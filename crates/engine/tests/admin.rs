//! The engine's admin commands on both backends: each change and its audit entry land together
//! (or neither does), versions make concurrent edits fail instead of being lost, the last org
//! admin stays, tokens expire and record their use, a source whose people hold accounts is
//! removed only when forced, removing an app leaves every account in it.

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_core::*;
use tenure_engine::admin::{AdminChange, AppEdit, NewAdmin, NewApp, NewAppKind, NewToken, SettingsSpec};
use tenure_engine::{Actor, Engine, EngineError};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{Store, StoreError};
use tenure_testkit::{TestBackend, TestDb, person};

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
    changes_and_their_audit_entries_land_together,
    a_stale_version_is_refused_and_the_first_edit_stands,
    the_last_org_admin_stays,
    tokens_act_as_their_admin_expire_and_record_their_use,
    a_source_with_account_holders_is_removed_only_when_forced,
    removing_an_app_leaves_every_account_in_it,
    a_disabled_app_is_neither_planned_nor_worked,
);

struct World {
    _db: TestDb,
    store: Store,
    engine: Engine,
    tenant: TenantId,
    app: SandboxApp,
}

async fn world(backend: TestBackend) -> anyhow::Result<World> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    let engine = Engine::new(store.clone(), tenant);
    let app =
        SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, "tok") })
            .await?;
    Ok(World { _db: db, store, engine, tenant, app })
}

fn new_app(name: &str, app: &SandboxApp) -> NewApp {
    NewApp {
        name: name.into(),
        kind: NewAppKind::Scim,
        base_url: Some(app.base_url()),
        token: Some(app.token().into()),
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec { guard_percent: Some(100), ..Default::default() },
        disabled: false,
    }
}

async fn changes_and_their_audit_entries_land_together(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let boss = Actor { name: "boss@acme.example".into(), role: Role::OrgAdmin, apps: vec![] };
    let admin = w.engine.admin(&boss);
    admin.create_app(new_app("notion", &w.app)).await?;
    let audit = w.store.list_audit(w.tenant, 10).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "app.add" && e.actor == "boss@acme.example").count(), 1);
    // A second app of the same name: refused, and nothing audited.
    let err = admin.create_app(new_app("notion", &w.app)).await.unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::Conflict(_))), "{err}");
    let audit = w.store.list_audit(w.tenant, 10).await?;
    assert_eq!(audit.iter().filter(|e| e.action == "app.add").count(), 1, "a refused change leaves no entry");
    // An auditor may read but not change: refused before anything is written.
    let auditor = Actor { name: "eve@acme.example".into(), role: Role::Auditor, apps: vec![] };
    let err = w.engine.admin(&auditor).set_app_disabled("notion", true, None).await.unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err}");
    assert!(!w.store.app_by_name(w.tenant, "notion").await?.disabled);
    assert_eq!(w.engine.admin(&auditor).apps().await?.len(), 1);
    Ok(())
}

async fn a_stale_version_is_refused_and_the_first_edit_stands(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let created = admin.create_app(new_app("notion", &w.app)).await?;
    let edit = |count| AppEdit {
        settings: SettingsSpec { guard_count: Some(count), ..Default::default() },
        ..Default::default()
    };
    let first = admin.edit_app("notion", edit(40), Some(created.version), false).await?;
    assert!(first.saved && first.app.version == created.version + 1);
    let err = admin.edit_app("notion", edit(50), Some(created.version), false).await.unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::Stale { .. })), "{err}");
    // The store checks it too, for an edit that read the row before another one committed.
    let record = w.store.app_by_name(w.tenant, "notion").await?;
    let mut tx = w.store.begin().await?;
    let row = tenure_store::AppRow {
        name: "notion",
        base_url: &record.app.base_url,
        settings: &record.app.settings,
        auth: &record.auth,
        secret: None,
        disabled: true,
    };
    let stale = tx.update_app(w.tenant, record.app.id, created.version, &row).await.unwrap_err();
    assert!(matches!(stale, StoreError::Stale { current, .. } if current == created.version + 1), "{stale}");
    drop(tx);
    let shown = admin.app("notion").await?;
    assert_eq!(shown.settings.guard.map(|g| g.max_count), Some(40));
    assert!(!shown.disabled);
    Ok(())
}

async fn the_last_org_admin_stays(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let add = |email: &str, role| NewAdmin { email: email.into(), role, apps: vec![], password: None };
    admin.add_admin(add("boss@acme.example", Role::OrgAdmin)).await?;
    let err = admin.remove_admin("boss@acme.example").await.unwrap_err();
    assert!(err.to_string().contains("last org admin"), "{err}");
    let demote = AdminChange { role: Some(Role::Auditor), ..Default::default() };
    assert!(admin.change_admin("boss@acme.example", demote.clone()).await.is_err());
    admin.add_admin(add("second@acme.example", Role::OrgAdmin)).await?;
    admin.change_admin("boss@acme.example", demote).await?;
    let err = admin.remove_admin("second@acme.example").await.unwrap_err();
    assert!(err.to_string().contains("last org admin"), "{err}");
    let password = Some(Secret::new("short"));
    let err = admin.add_admin(NewAdmin { password, ..add("x@acme.example", Role::Auditor) }).await.unwrap_err();
    assert!(matches!(&err, EngineError::BadField { field, .. } if field == "password"), "{err}");
    Ok(())
}

async fn tokens_act_as_their_admin_expire_and_record_their_use(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    admin
        .add_admin(NewAdmin { email: "eve@acme.example".into(), role: Role::Auditor, apps: vec![], password: None })
        .await?;
    let spec = |expires| NewToken {
        scope: None,
        admin: Some("eve@acme.example".into()),
        label: Some("ci".into()),
        expires_in_s: expires,
    };
    let token = admin.create_token(spec(Some(3600))).await?;
    let hash = tenure_engine::tokens::hash(&token.token);
    let record = w.store.token_by_hash(&hash).await?.expect("the token");
    assert_eq!(record.admin.as_ref().map(|a| (a.email.as_str(), a.role)), Some(("eve@acme.example", Role::Auditor)));
    assert_eq!(Actor::admin(record.admin.as_ref().expect("admin")).role, Role::Auditor);
    w.store.touch_token(&record).await?;
    let listed = admin.tokens().await?;
    assert!(listed[0].last_used_ms.is_some() && listed[0].expires_ms.is_some(), "{listed:?}");
    // An expired token is no token.
    let mut tx = w.store.begin().await?;
    let stale_hash = tenure_engine::tokens::hash("tnr_expired");
    tx.insert_token(w.tenant, tenure_store::TokenScope::Admin, &stale_hash, None, None, Some(1)).await?;
    tx.commit().await?;
    assert!(w.store.token_by_hash(&stale_hash).await?.is_none());
    // Revoked, and removing the admin removes the rest of their tokens.
    admin.revoke_token(token.info.id).await?;
    assert!(w.store.token_by_hash(&hash).await?.is_none());
    let other = admin.create_token(spec(None)).await?;
    admin.remove_admin("eve@acme.example").await?;
    assert!(w.store.token_by_hash(&tenure_engine::tokens::hash(&other.token)).await?.is_none());
    let scim_for_admin = NewToken { scope: Some("scim".into()), ..spec(None) };
    assert!(admin.create_token(scim_for_admin).await.is_err(), "a SCIM token belongs to no admin");
    Ok(())
}

async fn a_source_with_account_holders_is_removed_only_when_forced(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({"file": "/x/people.csv"})).await?;
    let batch = ImportBatch {
        people: vec![person("E1", "ada@acme.example"), person("E2", "bob@acme.example")],
        groups: vec![],
    };
    w.store.apply_import(w.tenant, source, &batch).await?;
    admin.create_app(new_app("notion", &w.app)).await?;
    admin
        .assign(
            "notion",
            &tenure_engine::admin::AssignmentSpec { person: Some("ada@acme.example".into()), ..Default::default() },
            false,
        )
        .await?;
    let report = admin.apply(Some("notion")).await?;
    assert_eq!(report.succeeded("create"), 1, "{report:?}");
    let err = admin.remove_source("hr", false).await.unwrap_err();
    assert!(matches!(&err, EngineError::Refused(m) if m.contains("1 people who hold accounts")), "{err}");
    assert_eq!(w.store.list_sources(w.tenant).await?.len(), 1, "nothing removed");
    let removed = admin.remove_source("hr", true).await?;
    assert_eq!(removed.people_left, 2);
    assert!(w.store.list_sources(w.tenant).await?.is_empty());
    // Ada, who holds an account, stays as a leaver, so her account is deprovisioned with a reason.
    let ada = w.store.person_by_email(w.tenant, "ada@acme.example").await?.expect("kept as a leaver");
    assert_eq!(ada.status, PersonStatus::Deleted);
    assert!(w.store.person_by_email(w.tenant, "bob@acme.example").await?.is_none(), "bob held nothing");
    let plans = w.engine.plan(Some("notion"), tenure_engine::today()).await?;
    assert!(
        plans[0].plan.ops.iter().any(|o| o.kind.is_deprovision() && o.person == "ada@acme.example"),
        "{:?}",
        plans[0].plan.ops
    );
    // The name is free again.
    w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let audit = w.store.list_audit(w.tenant, 50).await?;
    assert!(audit.iter().any(|e| e.action == "source.remove" && e.detail["force"] == true));
    Ok(())
}

async fn removing_an_app_leaves_every_account_in_it(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: vec![person("E1", "ada@acme.example")], groups: vec![] };
    w.store.apply_import(w.tenant, source, &batch).await?;
    admin.create_app(new_app("notion", &w.app)).await?;
    admin
        .assign(
            "notion",
            &tenure_engine::admin::AssignmentSpec { org_unit: Some("/Eng".into()), ..Default::default() },
            false,
        )
        .await?;
    admin.apply(Some("notion")).await?;
    assert_eq!(w.app.user_count(), 1);
    let preview = admin.remove_app("notion", None, true).await?;
    assert!(!preview.removed && preview.staying.len() == 1 && preview.assignments == 1, "{preview:?}");
    assert!(w.store.app_by_name(w.tenant, "notion").await.is_ok(), "a preview removes nothing");
    let removed = admin.remove_app("notion", None, false).await?;
    assert!(removed.removed);
    assert!(matches!(w.store.app_by_name(w.tenant, "notion").await, Err(StoreError::NotFound(_))));
    assert_eq!(w.app.user_count(), 1, "the account stays in the app");
    assert!(w.app.users().iter().all(|u| u.active), "and stays active");
    let err = admin.edit_app("notion", AppEdit::default(), None, false).await.unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::NotFound(_))), "{err}");
    Ok(())
}

async fn a_disabled_app_is_neither_planned_nor_worked(backend: TestBackend) -> anyhow::Result<()> {
    let w = world(backend).await?;
    let cli = Actor::cli();
    let admin = w.engine.admin(&cli);
    let source = w.store.add_source(w.tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: vec![person("E1", "ada@acme.example")], groups: vec![] };
    w.store.apply_import(w.tenant, source, &batch).await?;
    admin.create_app(new_app("notion", &w.app)).await?;
    admin
        .assign(
            "notion",
            &tenure_engine::admin::AssignmentSpec { org_unit: Some("/Eng".into()), ..Default::default() },
            false,
        )
        .await?;
    // Queued while enabled, then disabled: the queue leaves the operation alone.
    let queued = w.engine.propagate_once(tenure_engine::today()).await?;
    assert_eq!(queued.queued_ops, 1, "{queued:?}");
    admin.set_app_disabled("notion", true, None).await?;
    let executor = tenure_engine::Executor::new(w.engine.clone(), Default::default());
    assert!(!executor.drain(None, std::time::Duration::from_millis(300)).await?, "nothing runs");
    assert_eq!(w.app.user_count(), 0);
    // Nor is it planned: a new joiner queues nothing, and `plan` names it disabled.
    let batch = ImportBatch {
        people: vec![person("E1", "ada@acme.example"), person("E2", "bob@acme.example")],
        groups: vec![],
    };
    w.store.apply_import(w.tenant, source, &batch).await?;
    assert_eq!(w.engine.propagate_once(tenure_engine::today()).await?.queued_ops, 0);
    let err = w.engine.plan(Some("notion"), tenure_engine::today()).await.unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
    // Enabled again: the queue carries on and the app is planned in full.
    admin.set_app_disabled("notion", false, None).await?;
    assert!(executor.drain(None, std::time::Duration::from_secs(10)).await?);
    assert_eq!(w.app.user_count(), 1);
    assert_eq!(w.engine.propagate_once(tenure_engine::today()).await?.queued_ops, 1, "bob, planned in full");
    Ok(())
}
