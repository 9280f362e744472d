//! The audit log's contract on both backends: queries by person, app, action, actor and time,
//! keyset paging, the indexes behind them, the backfill of rows older than the query columns, and
//! a database that refuses to rewrite history.

use std::collections::BTreeMap;

use serde_json::json;
use tenure_core::import::*;
use tenure_core::*;
use tenure_store::{AuditCursor, AuditEntry, AuditFilter, Store, StoreError};
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
    person_queries_find_rows_under_either_identifier,
    filters_by_app_action_actor_and_time,
    pages_cover_everything_once_newest_first,
    queries_use_the_indexes,
    rows_from_before_the_query_columns_are_backfilled,
    the_database_refuses_to_rewrite_history,
    bad_pages_are_refused,
);

async fn fresh(backend: TestBackend) -> anyhow::Result<(TestDb, Store, TenantId)> {
    let db = TestDb::new(backend).await?;
    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let tenant = store.ensure_tenant("acme").await?;
    Ok((db, store, tenant))
}

async fn raw_pool(db: &TestDb) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::AnyPool::connect(db.url()).await?)
}

/// A row at a chosen instant, written as the store writes them (only appending is allowed).
async fn insert_at(
    pool: &sqlx::AnyPool,
    tenant: TenantId,
    at_ms: i64,
    actor: &str,
    action: &str,
    app: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit (id, tenant_id, at_ms, actor, action, subject, app, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(AuditId::new().to_string())
    .bind(tenant.to_string())
    .bind(at_ms)
    .bind(actor)
    .bind(action)
    .bind("s")
    .bind(app)
    .bind("{}")
    .execute(pool)
    .await?;
    Ok(())
}

fn person(key: &str, email: &str) -> ImportedPerson {
    ImportedPerson {
        source_key: key.into(),
        user_name: email.into(),
        email: email.into(),
        given_name: None,
        family_name: None,
        display_name: None,
        department: None,
        title: None,
        employee_id: Some(key.into()),
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: BTreeMap::new(),
        groups: vec![],
    }
}

fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

async fn all(store: &Store, tenant: TenantId, filter: AuditFilter) -> anyhow::Result<Vec<AuditEntry>> {
    let page = store.query_audit(tenant, &filter, None, 1000).await?;
    assert!(page.next_cursor.is_none());
    Ok(page.entries)
}

async fn person_queries_find_rows_under_either_identifier(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, t) = fresh(backend).await?;
    let src = store.add_source(t, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: vec![person("E1", "Ada@X.com"), person("E2", "bob@x.com")], groups: vec![] };
    store.apply_import(t, src, &batch).await?;
    let ada = store.person_by_email(t, "ada@x.com").await?.expect("ada");

    // What the engine will write: person and app columns.
    store
        .append_audit_for(t, "tenure", "account.create", "ada@x.com", Some("ADA@x.com"), Some("slack"), &json!({}))
        .await?;
    // Only the id, in the detail.
    store.append_audit(t, "cli", "account.unlink", "U123", &json!({"app": "slack", "person_id": ada.id})).await?;
    // Only the subject, as operation rows carry it today.
    store.append_audit(t, "tenure", "account.update", "Ada@X.com", &json!({"app": "notion"})).await?;
    // The email in the detail.
    store.append_audit(t, "tenure", "account.deactivate", "x", &json!({"person": "ada@x.com"})).await?;
    store.append_audit(t, "tenure", "account.create", "bob@x.com", &json!({"app": "slack"})).await?;
    // An app's own rows name it as their subject.
    store.append_audit(t, "tenure", "app.quarantined", "slack", &json!({"error": "401"})).await?;
    // Someone the directory does not (or no longer does) know.
    store.append_audit(t, "cli", "account.adopt", "zed@x.com", &json!({})).await?;
    // Another tenant's row about the same email.
    let other = store.ensure_tenant("other").await?;
    store.append_audit(other, "tenure", "account.create", "ada@x.com", &json!({})).await?;

    let expected = ["account.deactivate", "account.update", "account.unlink", "account.create"];
    for query in ["ada@x.com", "ADA@X.COM", &ada.id.to_string(), &ada.id.to_string().to_uppercase()] {
        let rows = all(&store, t, AuditFilter { person: Some(query.into()), ..Default::default() }).await?;
        assert_eq!(actions(&rows), expected, "query {query:?}");
    }
    let created = &all(&store, t, AuditFilter { person: Some("ada@x.com".into()), ..Default::default() }).await?[3];
    assert_eq!(created.person.as_deref(), Some("ada@x.com"), "the person column is lower-cased");
    assert_eq!(created.app.as_deref(), Some("slack"));
    let unlink = &all(&store, t, AuditFilter { action: Some("account.unlink".into()), ..Default::default() }).await?[0];
    assert_eq!(unlink.person_id.as_deref(), Some(ada.id.to_string().as_str()), "taken from detail.person_id");
    assert_eq!(unlink.app.as_deref(), Some("slack"), "taken from detail.app");

    let bob = all(&store, t, AuditFilter { person: Some("bob@x.com".into()), ..Default::default() }).await?;
    assert_eq!(actions(&bob), ["account.create"]);
    let zed = all(&store, t, AuditFilter { person: Some("zed@x.com".into()), ..Default::default() }).await?;
    assert_eq!(actions(&zed), ["account.adopt"]);
    let nobody =
        all(&store, t, AuditFilter { person: Some(PersonId::new().to_string()), ..Default::default() }).await?;
    assert!(nobody.is_empty());
    let both = AuditFilter { person: Some("ada@x.com".into()), app: Some("slack".into()), ..Default::default() };
    assert_eq!(actions(&all(&store, t, both).await?), ["account.unlink", "account.create"]);
    let slack = AuditFilter { app: Some("slack".into()), ..Default::default() };
    assert_eq!(
        actions(&all(&store, t, slack).await?),
        ["app.quarantined", "account.create", "account.unlink", "account.create"]
    );
    Ok(())
}

async fn filters_by_app_action_actor_and_time(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, t) = fresh(backend).await?;
    let pool = raw_pool(&db).await?;
    insert_at(&pool, t, 1_000, "cli", "plan.save", None).await?;
    insert_at(&pool, t, 2_000, "tenure", "plan.apply", None).await?;
    insert_at(&pool, t, 3_000, "tenure", "account.create", Some("slack")).await?;
    insert_at(&pool, t, 4_000, "tenure", "account.create", Some("notion")).await?;
    insert_at(&pool, t, 5_000, "api", "plan.approved", None).await?;
    insert_at(&pool, t, 6_000, "cli", "planet.x", None).await?;
    insert_at(&pool, t, 7_000, "cli", "plan", None).await?;
    pool.close().await;

    let by = |filter: AuditFilter| {
        let store = store.clone();
        async move { all(&store, t, filter).await.map(|rows| rows.iter().map(|e| e.at_ms).collect::<Vec<_>>()) }
    };
    let f = AuditFilter::default;
    assert_eq!(by(f()).await?, [7_000, 6_000, 5_000, 4_000, 3_000, 2_000, 1_000]);
    assert_eq!(by(AuditFilter { app: Some("slack".into()), ..f() }).await?, [3_000]);
    // A family: the bare name, a trailing dot or `.*`; never a longer word that starts the same.
    for family in ["plan", "plan.", "plan.*"] {
        assert_eq!(by(AuditFilter { action: Some(family.into()), ..f() }).await?, [7_000, 5_000, 2_000, 1_000]);
    }
    assert_eq!(by(AuditFilter { action: Some("plan.apply".into()), ..f() }).await?, [2_000]);
    assert_eq!(by(AuditFilter { action: Some("Plan".into()), ..f() }).await?, Vec::<i64>::new(), "case matters");
    assert_eq!(by(AuditFilter { actor: Some("cli".into()), ..f() }).await?, [7_000, 6_000, 1_000]);
    // since is inclusive, until exclusive: consecutive windows never share a row.
    assert_eq!(by(AuditFilter { since_ms: Some(3_000), until_ms: Some(5_000), ..f() }).await?, [4_000, 3_000]);
    assert_eq!(by(AuditFilter { since_ms: Some(5_000), ..f() }).await?, [7_000, 6_000, 5_000]);
    assert_eq!(by(AuditFilter { until_ms: Some(2_000), ..f() }).await?, [1_000]);
    let combined =
        AuditFilter { action: Some("account".into()), actor: Some("tenure".into()), since_ms: Some(3_500), ..f() };
    assert_eq!(by(combined).await?, [4_000]);
    Ok(())
}

async fn pages_cover_everything_once_newest_first(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, t) = fresh(backend).await?;
    let pool = raw_pool(&db).await?;
    // Many rows share a millisecond: the id breaks the tie, and a page may end inside a tie.
    for i in 0..40 {
        insert_at(&pool, t, 10_000 + (i / 6) * 10, "tenure", &format!("account.n{i}"), None).await?;
    }
    pool.close().await;
    let everything = all(&store, t, AuditFilter::default()).await?;
    assert_eq!(everything.len(), 40);
    assert!(everything.windows(2).all(|w| (w[0].at_ms, w[0].id.to_string()) > (w[1].at_ms, w[1].id.to_string())));

    let mut paged = Vec::new();
    let mut cursor: Option<AuditCursor> = None;
    let mut pages = 0;
    loop {
        let page = store.query_audit(t, &AuditFilter::default(), cursor.as_ref(), 7).await?;
        pages += 1;
        assert!(page.entries.len() <= 7);
        paged.extend(page.entries);
        // The cursor goes out as text and comes back parsed, as over the API.
        match page.next_cursor {
            Some(next) => cursor = Some(next.to_string().parse()?),
            None => break,
        }
    }
    assert_eq!(pages, 6);
    assert_eq!(paged, everything);

    // A page exactly as large as what is left says there is nothing more.
    let page = store.query_audit(t, &AuditFilter::default(), None, 40).await?;
    assert_eq!((page.entries.len(), page.next_cursor), (40, None));
    // Rows appended while someone pages are newer than their cursor: the paging is unaffected.
    let first = store.query_audit(t, &AuditFilter::default(), None, 20).await?;
    store.append_audit(t, "cli", "app.add", "slack", &json!({})).await?;
    let rest = store.query_audit(t, &AuditFilter::default(), first.next_cursor.as_ref(), 1000).await?;
    assert_eq!(first.entries.len() + rest.entries.len(), 40);
    Ok(())
}

async fn queries_use_the_indexes(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, t) = fresh(backend).await?;
    if backend == TestBackend::Postgres {
        // PostgreSQL plans from measured statistics: give it a log of some size to measure.
        let pool = raw_pool(&db).await?;
        sqlx::query(
            "INSERT INTO audit (id, tenant_id, at_ms, actor, action, subject, person, person_id, app, detail) \
             SELECT gen_random_uuid()::text, $1, 1000000 + i, 'tenure', 'account.update', 'p' || (i % 500) || '@x.com', \
                    'p' || (i % 500) || '@x.com', NULL, 'app' || (i % 10), '{}' \
             FROM generate_series(1, 30000) AS i",
        )
        .bind(t.to_string())
        .execute(&pool)
        .await?;
        sqlx::raw_sql("ANALYZE audit").execute(&pool).await?;
        pool.close().await;
    }
    let cursor: AuditCursor = format!("1020000.{}", AuditId::new()).parse()?;
    let cases = [
        (AuditFilter::default(), "audit_at"),
        (AuditFilter { person: Some("p7@x.com".into()), ..Default::default() }, "audit_person"),
        (AuditFilter { person: Some(PersonId::new().to_string()), ..Default::default() }, "audit_person_id"),
        (AuditFilter { app: Some("app3".into()), since_ms: Some(1_010_000), ..Default::default() }, "audit_app"),
        // Actions and actors narrow within a time window (they have no index of their own).
        (AuditFilter { action: Some("plan".into()), since_ms: Some(1_019_000), ..Default::default() }, "audit_at"),
    ];
    for (filter, index) in cases {
        let plan = store.explain_audit_query(t, &filter, Some(&cursor), 100).await?.join("\n");
        assert!(plan.contains(index), "{filter:?} does not use {index}:\n{plan}");
        // SQLite says SCAN for a full table scan, PostgreSQL Seq Scan.
        assert!(!plan.contains("SCAN audit") && !plan.contains("Seq Scan"), "{filter:?} scans the table:\n{plan}");
    }
    Ok(())
}

async fn rows_from_before_the_query_columns_are_backfilled(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, t) = fresh(backend).await?;
    store.close().await;
    // Take the database back to before migration 6, write rows as Tenure did then, and let the
    // next start migrate them.
    let pool = raw_pool(&db).await?;
    let undo = match backend {
        TestBackend::Sqlite => {
            "DROP INDEX audit_at; DROP INDEX audit_person; DROP INDEX audit_person_id; DROP INDEX audit_subject; \
             DROP INDEX audit_app; CREATE INDEX audit_tenant ON audit (tenant_id, at_ms); \
             ALTER TABLE audit DROP COLUMN person; ALTER TABLE audit DROP COLUMN person_id; \
             ALTER TABLE audit DROP COLUMN app; DELETE FROM tenure_migrations WHERE version = 6"
        }
        TestBackend::Postgres => {
            "DROP TRIGGER audit_no_truncate ON audit; DROP INDEX audit_at; DROP INDEX audit_person; \
             DROP INDEX audit_person_id; DROP INDEX audit_subject; DROP INDEX audit_app; \
             CREATE INDEX audit_tenant ON audit (tenant_id, at_ms); \
             ALTER TABLE audit DROP COLUMN person, DROP COLUMN person_id, DROP COLUMN app; \
             DELETE FROM tenure_migrations WHERE version = 6"
        }
    };
    sqlx::raw_sql(undo).execute(&pool).await?;
    let old = [
        ("app.add", "slack", json!({"base_url": "https://x"})),
        ("app.recovered", "notion", json!({})),
        ("account.create", "ada@x.com", json!({"app": "slack", "person": "Ada@X.com", "person_id": "p-1"})),
        ("group.members", "eng", json!({"app": "notion", "person": 7})),
        ("plan.apply", "plan-1", json!({"apps": {"app": "nested"}})),
    ];
    for (i, (action, subject, detail)) in old.iter().enumerate() {
        sqlx::query("INSERT INTO audit (id, tenant_id, at_ms, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(AuditId::new().to_string())
            .bind(t.to_string())
            .bind(1_000 + i as i64)
            .bind("tenure")
            .bind(*action)
            .bind(*subject)
            .bind(detail.to_string())
            .execute(&pool)
            .await?;
    }
    pool.close().await;

    let store = Store::connect_with_keys(
        db.url(),
        tenure_store::crypto::Keyring::parse(tenure_testkit::TEST_MASTER_KEYS, "tests")?,
    )
    .await?;
    let rows = all(&store, t, AuditFilter::default()).await?;
    let cols: Vec<_> = rows
        .iter()
        .map(|e| (e.action.as_str(), e.person.as_deref(), e.person_id.as_deref(), e.app.as_deref()))
        .collect();
    assert_eq!(
        cols,
        [
            ("plan.apply", None, None, None),
            ("group.members", None, None, Some("notion")),
            ("account.create", Some("ada@x.com"), Some("p-1"), Some("slack")),
            ("app.recovered", None, None, Some("notion")),
            ("app.add", None, None, Some("slack")),
        ]
    );
    // The log is append-only again once the migration is done.
    let pool = raw_pool(&db).await?;
    assert!(sqlx::query("UPDATE audit SET app = 'x'").execute(&pool).await.is_err());
    pool.close().await;
    Ok(())
}

async fn the_database_refuses_to_rewrite_history(backend: TestBackend) -> anyhow::Result<()> {
    let (db, store, t) = fresh(backend).await?;
    store.append_audit_for(t, "cli", "app.add", "slack", None, Some("slack"), &json!({"k": 1})).await?;
    let before = all(&store, t, AuditFilter::default()).await?;
    let pool = raw_pool(&db).await?;
    let mut attempts = vec![
        "UPDATE audit SET actor = 'someone else'",
        "UPDATE audit SET app = NULL",
        "UPDATE audit SET detail = '{}' WHERE action = 'app.add'",
        "DELETE FROM audit",
        "DELETE FROM audit WHERE action = 'app.add'",
    ];
    if backend == TestBackend::Postgres {
        attempts.push("TRUNCATE audit");
    }
    for statement in attempts {
        let err = sqlx::query(statement).execute(&pool).await.err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("append-only"), "{statement}: {message:?}");
    }
    pool.close().await;
    assert_eq!(all(&store, t, AuditFilter::default()).await?, before);
    Ok(())
}

async fn bad_pages_are_refused(backend: TestBackend) -> anyhow::Result<()> {
    let (_db, store, t) = fresh(backend).await?;
    for limit in [0, -1, tenure_store::MAX_AUDIT_PAGE + 1] {
        let err = store.query_audit(t, &AuditFilter::default(), None, limit).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{limit}: {err}");
        assert!(!err.is_retryable());
    }
    // Text that could be SQL is only ever a bound value.
    let sneaky = AuditFilter {
        person: Some("x') OR 1=1 --".into()),
        app: Some("' OR '1'='1".into()),
        action: Some("plan' OR '1'='1.".into()),
        ..Default::default()
    };
    store.append_audit(t, "cli", "app.add", "slack", &json!({})).await?;
    assert!(all(&store, t, sneaky).await?.is_empty());
    Ok(())
}
