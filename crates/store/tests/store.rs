//! The store's contract, run against both backends: every test exists once per backend.

use std::collections::BTreeMap;

use tenure_core::attributes::Attributes;
use tenure_core::import::*;
use tenure_core::*;
use tenure_store::{OperationStatus, Store, StoreError, StoredAccount, TokenScope};
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
    migrations_are_idempotent,
    import_creates_updates_and_marks_leavers,
    import_is_all_or_nothing,
    groups_nest_and_memberships_follow_imports,
    snapshot_and_cursor_support_incremental_sync,
    tenants_are_isolated,
    apps_assignments_and_links_round_trip,
    plans_and_operations_are_recorded,
    tokens_are_found_by_hash_and_audit_is_append_only,
);

async fn fresh(backend: TestBackend) -> anyhow::Result<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    Ok((db, store))
}

fn person(key: &str, email: &str, groups: &[&str]) -> ImportedPerson {
    ImportedPerson {
        source_key: key.into(),
        user_name: email.into(),
        email: email.into(),
        given_name: Some("Given".into()),
        family_name: Some(key.into()),
        display_name: None,
        department: Some("Sales".into()),
        title: None,
        employee_id: Some(key.into()),
        manager_key: None,
        org_unit: Some(OrgUnitPath::parse("/Sales/EMEA").unwrap()),
        status: PersonStatus::Active,
        start_date: Some(time::macros::date!(2024 - 01 - 15)),
        leave_date: None,
        custom: BTreeMap::from([("cost_center".to_owned(), "42".to_owned())]),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

async fn migrations_are_idempotent(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store) = fresh(backend).await?;
    store.close().await;
    // A second start on the same database finds every migration applied.
    let again = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let t = again.ensure_tenant("acme").await?;
    assert_eq!(again.ensure_tenant("acme").await?, t);
    Ok(())
}

async fn import_creates_updates_and_marks_leavers(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let src = store.add_source(t, "hr", "csv", &serde_json::json!({"file": "x.csv"})).await?;
    let batch =
        ImportBatch { people: vec![person("E1", "ann@x.com", &[]), person("E2", "bob@x.com", &[])], groups: vec![] };
    let s = store.apply_import(t, src, &batch).await?;
    assert_eq!((s.created, s.updated, s.left), (2, 0, 0));
    let people = store.list_people(t).await?;
    assert_eq!(people.len(), 2);
    assert_eq!(people[0].custom["cost_center"], "42");
    assert_eq!(people[0].org_unit.as_ref().map(|o| o.as_str()), Some("/Sales/EMEA"));
    assert_eq!(people[0].start_date, Some(time::macros::date!(2024 - 01 - 15)));

    let mut changed = person("E1", "ann@x.com", &[]);
    changed.title = Some("Director".into());
    let s = store.apply_import(t, src, &ImportBatch { people: vec![changed], groups: vec![] }).await?;
    assert_eq!((s.created, s.updated, s.unchanged, s.left), (0, 1, 0, 1));
    let bob = store.person_by_email(t, "BOB@x.com").await?.expect("bob kept as a tombstone");
    assert_eq!(bob.status, PersonStatus::Deleted);

    let s = store.apply_import(t, src, &batch).await?;
    assert_eq!((s.returned, s.updated), (1, 1));
    assert_eq!(store.person_by_email(t, "bob@x.com").await?.map(|p| p.status), Some(PersonStatus::Active));
    Ok(())
}

async fn import_is_all_or_nothing(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let src = store.add_source(t, "hr", "csv", &serde_json::json!({})).await?;
    // The same key twice breaks the unique constraint half-way through the batch.
    let bad =
        ImportBatch { people: vec![person("E1", "a@x.com", &["g"]), person("E1", "b@x.com", &[])], groups: vec![] };
    assert!(store.apply_import(t, src, &bad).await.is_err());
    assert!(store.list_people(t).await?.is_empty());
    assert!(store.list_groups(t).await?.is_empty());
    Ok(())
}

async fn groups_nest_and_memberships_follow_imports(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let src = store.add_source(t, "hr", "csv", &serde_json::json!({})).await?;
    let batch = ImportBatch {
        people: vec![person("E1", "a@x.com", &["platform"]), person("E2", "b@x.com", &["sales"])],
        groups: vec![ImportGroup { name: "platform".into(), parents: vec!["engineering".into()] }],
    };
    store.apply_import(t, src, &batch).await?;
    let groups = store.list_groups(t).await?;
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["engineering", "platform", "sales"]);
    let eng = store.group_by_name(t, "engineering").await?.expect("engineering");
    let platform = store.group_by_name(t, "platform").await?.expect("platform");
    let eng = groups.iter().find(|g| g.id == eng).expect("listed");
    assert_eq!(eng.member_groups, vec![platform]);

    // Next import: E1 leaves platform, the sales group disappears.
    let batch =
        ImportBatch { people: vec![person("E1", "a@x.com", &[]), person("E2", "b@x.com", &[])], groups: batch.groups };
    store.apply_import(t, src, &batch).await?;
    let groups = store.list_groups(t).await?;
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().all(|g| g.members.is_empty()));
    Ok(())
}

async fn snapshot_and_cursor_support_incremental_sync(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let src = store.add_source(t, "ldap", "ldap", &serde_json::json!({})).await?;
    let other = store.add_source(t, "hr", "csv", &serde_json::json!({})).await?;
    store
        .apply_import(t, other, &ImportBatch { people: vec![person("Z9", "z@x.com", &["z"])], groups: vec![] })
        .await?;
    let batch = ImportBatch {
        people: vec![
            person("E1", "a@x.com", &["all", "platform"]),
            person("E2", "b@x.com", &[]),
            person("E3", "c@x.com", &[]),
        ],
        groups: vec![
            ImportGroup { name: "all".into(), parents: vec![] },
            ImportGroup { name: "platform".into(), parents: vec!["all".into()] },
        ],
    };
    store.apply_import(t, src, &batch).await?;
    store
        .apply_import(t, src, &ImportBatch { people: batch.people[..2].to_vec(), groups: batch.groups.clone() })
        .await?;

    let snapshot = store.source_snapshot(t, src).await?;
    assert_eq!(snapshot.people, batch.people[..2].to_vec(), "E3 left, the other source's people are not here");
    assert_eq!(snapshot.groups, batch.groups);

    let listed = |store: Store| async move {
        anyhow::Ok(store.list_sources(t).await?.into_iter().find(|s| s.id == src).expect("source").cursor)
    };
    assert_eq!(listed(store.clone()).await?, None);
    store.set_source_cursor(t, src, Some("delta-token-1")).await?;
    assert_eq!(listed(store.clone()).await?.as_deref(), Some("delta-token-1"));
    store.set_source_cursor(t, src, None).await?;
    assert_eq!(listed(store.clone()).await?, None);
    Ok(())
}

async fn tenants_are_isolated(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let a = store.ensure_tenant("a").await?;
    let b = store.ensure_tenant("b").await?;
    let src = store.add_source(a, "hr", "csv", &serde_json::json!({})).await?;
    store.apply_import(a, src, &ImportBatch { people: vec![person("E1", "x@x.com", &["g"])], groups: vec![] }).await?;
    store.add_app(a, "slack", AppKind::Scim, "http://x", &Secret::new("s"), &AppSettings::default()).await?;
    assert!(store.list_people(b).await?.is_empty());
    assert!(store.list_groups(b).await?.is_empty());
    assert!(store.list_apps(b).await?.is_empty());
    assert!(store.list_sources(b).await?.is_empty());
    assert!(store.person_by_email(b, "x@x.com").await?.is_none());
    // Names are per tenant.
    store.add_source(b, "hr", "csv", &serde_json::json!({})).await?;
    Ok(())
}

async fn apps_assignments_and_links_round_trip(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let settings = AppSettings {
        deprovision: DeprovisionPolicy::Delete,
        user_name: UserNameFormat::EmailLocalPart { max_len: Some(21) },
        match_keys: vec![MatchKey::Email],
        correlation: Correlation::Case,
        mappings: Some(tenure_core::expr::MappingSet::new(vec![tenure_core::expr::Mapping::new(
            "displayName",
            "upper(familyName)",
            tenure_core::expr::Apply::Always,
        )?])?),
        guard: Some(tenure_core::guard::GuardLimits { max_percent: 5, max_count: 3, ..Default::default() }),
        limits: Some(tenure_core::AppLimits {
            per_second: Some(3.0),
            burst: Some(5),
            concurrency: Some(2),
            shared_key: Some("slack:T1".into()),
            creates_per_second: None,
            updates_per_second: None,
            deletes_per_second: None,
            windows: Vec::new(),
        }),
        dry_run: true,
        capabilities: None,
        vendor: Some("slack".into()),
        google_workspace: None,
        m365: Some(tenure_core::M365Target {
            tenant_id: "contoso.onmicrosoft.com".into(),
            usage_location: Some("DE".into()),
            license_skus: vec!["ENTERPRISEPACK".into(), "SPE_E5".into()],
        }),
        github: Some(tenure_core::GitHubOrgTarget { org: "acme-corp".into(), reinvite_after_days: 3 }),
        manual: Some(tenure_core::ManualTarget {
            owner: "owner@acme.example".into(),
            task_due_s: None,
            verify_by_read: false,
        }),
        rules: vec![tenure_core::rules::AttributeRule {
            attribute: "userName".into(),
            rule: tenure_core::rules::RuleKind::EmailDomainIn,
            values: Vec::new(),
            list: Some("verified_domains".into()),
            max: None,
            pattern: None,
            reason: "the enterprise's domains only".into(),
            sources: Vec::new(),
        }],
        rule_lists: [("verified_domains".to_owned(), vec!["acme.example".to_owned()])].into(),
        min_list_interval_s: Some(7200),
        pre_start_days: Some(5),
    };
    let app =
        store.add_app(t, "slack", AppKind::Scim, "http://127.0.0.1:1/scim/v2", &Secret::new("tok"), &settings).await?;
    let dup = store.add_app(t, "slack", AppKind::Scim, "http://x", &Secret::new("t"), &settings).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let rec = store.app_by_name(t, "slack").await?;
    assert_eq!(rec.app, app);
    assert_eq!(rec.secret.expose(), "tok");
    assert!(!format!("{rec:?}").contains("tok\""), "the secret must not appear in Debug output");

    let ou = AssignmentTarget::OrgUnit(OrgUnitPath::parse("/Sales")?);
    let none = AssignmentParams::default();
    let (first, new) = store.assign(t, app.id, &ou, false, &none).await?;
    assert!(new);
    let pro = AssignmentParams { role: Some("admin".into()), license: Some("pro".into()), groups: vec!["eng".into()] };
    let (again, new) = store.assign(t, app.id, &ou, false, &pro).await?;
    assert!(!new);
    assert_eq!(first.id, again.id);
    assert_eq!(again.params, pro, "assigning again replaces the parameters");
    let rule = AssignmentTarget::Rule(tenure_core::expr::Rule::parse(r#"department == "Sales""#)?);
    let (excluded, _) = store.assign(t, app.id, &rule, true, &none).await?;
    assert!(excluded.exclude);
    let listed = store.list_assignments(t, app.id).await?;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|a| a.target == rule && a.exclude));
    assert!(store.unassign(t, app.id, &rule).await?);
    assert!(store.unassign(t, app.id, &ou).await?);
    assert!(!store.unassign(t, app.id, &ou).await?);

    let src = store.add_source(t, "hr", "csv", &serde_json::json!({})).await?;
    store.apply_import(t, src, &ImportBatch { people: vec![person("E1", "a@x.com", &[])], groups: vec![] }).await?;
    let pid = store.list_people(t).await?[0].id;
    let mut account = StoredAccount {
        link: AccountLink {
            app_id: app.id,
            remote_id: "U1".into(),
            person_id: pid,
            origin: AccountOrigin::Created,
            deactivated_on: None,
            granted_by: Some(first.id),
        },
        user_name: "a".into(),
        active: true,
        attributes: Attributes::from([("title", "x")]),
    };
    store.upsert_account(t, &account).await?;
    account.attributes.insert("title", "y");
    store.upsert_account(t, &account).await?;
    let day = time::macros::date!(2026 - 11 - 23);
    store.set_account_active(t, app.id, "U1", false, day).await?;
    let stored = store.list_accounts(t, app.id).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].attributes["title"], "y");
    assert!(!stored[0].active);
    assert_eq!(stored[0].link.deactivated_on, Some(day), "the deactivation date starts the delete-after clock");
    assert_eq!(stored[0].link.granted_by, Some(first.id));
    assert_eq!(store.account_counts(t, app.id).await?, (1, 0));
    store.remove_account(t, app.id, "U1").await?;
    assert!(store.list_accounts(t, app.id).await?.is_empty());
    Ok(())
}

async fn plans_and_operations_are_recorded(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    let op = PlannedOp {
        app_id: AppId::new(),
        person_id: PersonId::new(),
        person: "a@x.com".into(),
        kind: OpKind::Deactivate { remote_id: "U1".into() },
        reason: Reason::Revoked { revocation: Revocation::Unassigned, by: None },
    };
    let plan = store.save_plan(t, std::slice::from_ref(&op), &serde_json::json!({"deactivate": 1})).await?;
    let ops = store.plan_operations(t, plan).await?;
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op, op);
    assert_eq!(ops[0].status, OperationStatus::Pending);
    let lease = std::time::Duration::from_secs(60);
    let claimed = store.claim_operations(t, "w", 10, lease, None).await?;
    assert_eq!(claimed.len(), 1);
    store.settle_operation(t, ops[0].id, "w", tenure_store::Settlement::retry_at("HTTP 500", 0)).await?;
    assert_eq!(store.claim_operations(t, "w", 10, lease, None).await?.len(), 1, "due again at once");
    store.settle_operation(t, ops[0].id, "w", tenure_store::Settlement::succeeded(Some("U1"))).await?;
    let ops = store.plan_operations(t, plan).await?;
    assert_eq!(
        (ops[0].status, ops[0].attempts, ops[0].remote_id.as_deref()),
        (OperationStatus::Succeeded, 2, Some("U1"))
    );
    store.set_plan_status(t, plan, "applied").await?;
    let plans = store.list_plans(t, 10).await?;
    assert_eq!(plans[0].status, "applied");
    let other = store.ensure_tenant("other").await?;
    assert!(store.plan_operations(other, plan).await?.is_empty());
    Ok(())
}

async fn tokens_are_found_by_hash_and_audit_is_append_only(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store) = fresh(backend).await?;
    let t = store.ensure_tenant("acme").await?;
    store.insert_token(t, TokenScope::Scim, "hash-1", Some("entra")).await?;
    let found = store.token_by_hash("hash-1").await?.expect("token");
    assert_eq!((found.tenant_id, found.scope), (t, TokenScope::Scim));
    assert!(store.token_by_hash("hash-2").await?.is_none());

    store.append_audit(t, "admin", "app.add", "slack", &serde_json::json!({"k": 1})).await?;
    let events = store.list_audit(t, 10).await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "app.add");
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(db.url()).await?;
    assert!(
        sqlx::query("DELETE FROM audit").execute(&raw).await.is_err(),
        "the database must refuse to delete audit rows"
    );
    assert!(sqlx::query("UPDATE audit SET actor = 'x'").execute(&raw).await.is_err());
    raw.close().await;
    assert_eq!(store.list_audit(t, 10).await?.len(), 1);
    Ok(())
}
