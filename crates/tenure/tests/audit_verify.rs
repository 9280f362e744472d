//! `tenure audit verify`: the audit log's hash chain holds after ordinary work, and a row
//! altered, removed or added by hand (with the append-only trigger dropped, as someone with
//! the database's owner rights could) is named. Once per backend. Also: nothing in Tenure's
//! code updates or deletes an audit row.

use tenure_testkit::{TestBackend, TestDb};

mod common;
use common::Cli;

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

on_both_backends!(a_row_altered_by_hand_breaks_the_chain_and_is_named);

async fn raw(db: &TestDb) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::AnyPool::connect(db.url()).await?)
}

async fn lift_append_only(db: &TestDb, pool: &sqlx::AnyPool) -> anyhow::Result<()> {
    let sql = match db.backend() {
        TestBackend::Sqlite => "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete",
        TestBackend::Postgres => "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

async fn a_row_altered_by_hand_breaks_the_chain_and_is_named(backend: TestBackend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let home = tempfile::tempdir()?;
    let cli = Cli::new(db.url(), home.path()).with_env("TENURE_APP_TOKEN", "tok");
    for name in ["slack", "notion", "jira"] {
        cli.ok(&["app", "add", "scim", name, "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    }
    cli.ok(&["admin", "add", "ann@example.com", "--role", "auditor"]).await;
    let out = cli.ok(&["audit", "verify"]).await;
    assert!(out.contains("audit log intact: 4 chained entries"), "{out}");
    let report: serde_json::Value = serde_json::from_str(cli.ok(&["audit", "verify", "--json"]).await.trim())?;
    assert_eq!(report["first_bad"], serde_json::Value::Null);

    // The append-only trigger stops an ordinary UPDATE ...
    let pool = raw(&db).await?;
    let refused = sqlx::query("UPDATE audit SET subject = 'x'").execute(&pool).await;
    assert!(refused.is_err(), "the trigger refuses updates");
    // ... someone who lifts it can change a row, and verify names that row.
    lift_append_only(&db, &pool).await?;
    let row: (String,) =
        sqlx::query_as("SELECT id FROM audit WHERE action = 'app.add' AND subject = 'notion'").fetch_one(&pool).await?;
    sqlx::query("UPDATE audit SET detail = $1 WHERE id = $2")
        .bind(r#"{"base_url":"http://evil.example/"}"#)
        .bind(&row.0)
        .execute(&pool)
        .await?;
    let out = cli.run(&["audit", "verify"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&row.0) && stderr.contains("app.add") && stderr.contains("changed"), "{stderr}");

    // Removing the last entry instead is caught at the chain's head.
    let fresh = TestDb::new(backend).await?;
    let cli = Cli::new(fresh.url(), home.path()).with_env("TENURE_APP_TOKEN", "tok");
    cli.ok(&["app", "add", "scim", "slack", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    cli.ok(&["app", "add", "scim", "notion", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    let pool = raw(&fresh).await?;
    lift_append_only(&fresh, &pool).await?;
    sqlx::query("DELETE FROM audit WHERE subject = 'notion'").execute(&pool).await?;
    let out = cli.run(&["audit", "verify"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("removed"), "{stderr}");
    // Removing one in the middle: the next entry is named.
    cli.ok(&["app", "add", "scim", "jira", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    sqlx::query("DELETE FROM audit WHERE subject = 'slack'").execute(&pool).await?;
    let out = cli.run(&["audit", "verify"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
    Ok(())
}

/// Nothing in Tenure's code changes or removes an audit row (the migrations once rewrote
/// columns, before the chain; no code path may).
#[test]
fn no_code_updates_or_deletes_an_audit_row() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if !path.ends_with("tests") && !path.ends_with("target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read").to_uppercase();
                for needle in ["UPDATE AUDIT ", "DELETE FROM AUDIT ", "DELETE FROM AUDIT\"", "TRUNCATE AUDIT"] {
                    if text.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}
