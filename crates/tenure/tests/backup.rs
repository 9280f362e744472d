//! `tenure backup FILE` then `tenure restore FILE` into a fresh database gives the same
//! `tenure app list --json` (secrets still sealed, the audit chain still verifying), on both
//! backends; a restore into a database with rows, or of a damaged file, changes nothing.

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

on_both_backends!(a_backup_restores_into_a_fresh_database_with_the_same_apps);

async fn a_backup_restores_into_a_fresh_database_with_the_same_apps(backend: TestBackend) -> anyhow::Result<()> {
    let home = tempfile::tempdir()?;
    let source = TestDb::new(backend).await?;
    let cli = Cli::new(source.url(), home.path()).with_env("TENURE_APP_TOKEN", "xoxp-backup-token-51");
    cli.ok(&["app", "add", "scim", "slack", "--base-url", "http://127.0.0.1:9/scim/v2", "--vendor", "slack"]).await;
    cli.ok(&["app", "add", "scim", "notion", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    cli.ok(&["admin", "add", "ann@example.com", "--role", "org-admin"]).await;
    cli.ok(&["token", "create", "--admin", "ann@example.com"]).await;
    cli.ok(&["tenant", "create", "acme"]).await;
    cli.ok(&["--tenant", "acme", "app", "add", "scim", "jira", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    let apps_before = cli.ok(&["app", "list", "--json"]).await;
    let acme_before = cli.ok(&["--tenant", "acme", "app", "list", "--json"]).await;

    let file = home.path().join("tenure.backup");
    let out = cli.ok(&["backup", file.to_str().expect("utf-8")]).await;
    assert!(out.contains("backed up to"), "{out}");
    let bytes = std::fs::read(&file)?;
    assert!(!bytes.windows(20).any(|w| w == &b"xoxp-backup-token-51"[..]), "the backup holds the token in clear");

    // The same master key (the tests'): a backup's credentials need the key they were sealed with.
    let target = TestDb::new(backend).await?;
    let restored = Cli::new(target.url(), home.path());
    let out = restored.ok(&["restore", file.to_str().expect("utf-8")]).await;
    assert!(out.contains("restored from"), "{out}");
    assert_eq!(restored.ok(&["app", "list", "--json"]).await, apps_before);
    assert_eq!(restored.ok(&["--tenant", "acme", "app", "list", "--json"]).await, acme_before);
    let verify = restored.ok(&["audit", "verify"]).await;
    assert!(verify.contains("intact"), "{verify}");

    // Not into a database that has rows.
    let err = restored.fails(&["restore", file.to_str().expect("utf-8")]).await;
    assert!(err.contains("not empty"), "{err}");
    // Not from a damaged file: one byte changed, or the end cut off.
    let empty = TestDb::new(backend).await?;
    let fresh = Cli::new(empty.url(), home.path());
    let damaged = home.path().join("damaged.backup");
    let mut changed = bytes.clone();
    let at = changed.iter().position(|b| *b == b'n').expect("some n");
    changed[at] = b'm';
    std::fs::write(&damaged, &changed)?;
    let err = fresh.fails(&["restore", damaged.to_str().expect("utf-8")]).await;
    assert!(err.contains("SHA-256"), "{err}");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2])?;
    let err = fresh.fails(&["restore", damaged.to_str().expect("utf-8")]).await;
    assert!(err.contains("damaged") || err.contains("cut short"), "{err}");
    let listed = fresh.ok(&["app", "list", "--json"]).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed)?, serde_json::json!([]));
    Ok(())
}

/// `tenure db copy --to postgres://...`: every tenant of a SQLite database moves into an empty
/// PostgreSQL database with the same apps, its credentials still sealed, its audit chain still
/// verifying, every table's count printed; a second copy into it is refused.
#[tokio::test]
async fn db_copy_moves_every_tenant_from_sqlite_into_an_empty_postgres() -> anyhow::Result<()> {
    let home = tempfile::tempdir()?;
    let source = TestDb::new(TestBackend::Sqlite).await?;
    let cli = Cli::new(source.url(), home.path()).with_env("TENURE_APP_TOKEN", "xoxp-copy-token-77");
    cli.ok(&["app", "add", "scim", "slack", "--base-url", "http://127.0.0.1:9/scim/v2", "--vendor", "slack"]).await;
    cli.ok(&["admin", "add", "ann@example.com", "--role", "org-admin"]).await;
    cli.ok(&["tenant", "create", "acme"]).await;
    cli.ok(&["--tenant", "acme", "app", "add", "scim", "jira", "--base-url", "http://127.0.0.1:9/scim/v2"]).await;
    let apps_before = cli.ok(&["app", "list", "--json"]).await;
    let acme_before = cli.ok(&["--tenant", "acme", "app", "list", "--json"]).await;

    let err = cli.fails(&["db", "copy", "--to", "sqlite:///tmp/elsewhere.db"]).await;
    assert!(err.contains("PostgreSQL"), "{err}");

    let target = TestDb::new(TestBackend::Postgres).await?;
    let out = cli.ok(&["db", "copy", "--to", target.url()]).await;
    assert!(out.contains("every table's count matches"), "{out}");
    let audit_line = out.lines().find(|l| l.starts_with("audit ")).unwrap_or_default();
    let counts: Vec<&str> = audit_line.split_whitespace().skip(1).collect();
    assert!(counts.len() == 2 && counts[0] == counts[1] && counts[0] != "0", "{out}");

    let copied = Cli::new(target.url(), home.path());
    assert_eq!(copied.ok(&["app", "list", "--json"]).await, apps_before);
    assert_eq!(copied.ok(&["--tenant", "acme", "app", "list", "--json"]).await, acme_before);
    let verify = copied.ok(&["audit", "verify"]).await;
    assert!(verify.contains("intact"), "{verify}");
    let verify = copied.ok(&["--tenant", "acme", "audit", "verify"]).await;
    assert!(verify.contains("intact"), "{verify}");
    // Sealed on the way: a dump of the copy holds no token in clear.
    let dump = home.path().join("copy.backup");
    copied.ok(&["backup", dump.to_str().expect("utf-8")]).await;
    let bytes = std::fs::read(&dump)?;
    assert!(!bytes.windows(18).any(|w| w == &b"xoxp-copy-token-77"[..]), "the copy holds the token in clear");

    let err = cli.fails(&["db", "copy", "--to", target.url()]).await;
    assert!(err.contains("not empty"), "{err}");
    Ok(())
}
