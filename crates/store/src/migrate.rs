//! Forward-only schema migrations, embedded in the binary, one list per backend with the same
//! versions. Each migration runs in its own transaction with its bookkeeping row.

use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::{Backend, StoreError, now_ms};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "policy",
        sqlite: include_str!("../migrations/sqlite/0002_policy.sql"),
        postgres: include_str!("../migrations/postgres/0002_policy.sql"),
    },
    Migration {
        version: 3,
        name: "scim",
        sqlite: include_str!("../migrations/sqlite/0003_scim.sql"),
        postgres: include_str!("../migrations/postgres/0003_scim.sql"),
    },
    Migration {
        version: 4,
        name: "source_cursor",
        sqlite: include_str!("../migrations/sqlite/0004_source_cursor.sql"),
        postgres: include_str!("../migrations/postgres/0004_source_cursor.sql"),
    },
    Migration {
        version: 5,
        name: "queue",
        sqlite: include_str!("../migrations/sqlite/0005_queue.sql"),
        postgres: include_str!("../migrations/postgres/0005_queue.sql"),
    },
    Migration {
        version: 6,
        name: "audit_query",
        sqlite: include_str!("../migrations/sqlite/0006_audit_query.sql"),
        postgres: include_str!("../migrations/postgres/0006_audit_query.sql"),
    },
    Migration {
        version: 7,
        name: "app_credentials",
        sqlite: include_str!("../migrations/sqlite/0007_app_credentials.sql"),
        postgres: include_str!("../migrations/postgres/0007_app_credentials.sql"),
    },
    Migration {
        version: 8,
        name: "oauth_grants",
        sqlite: include_str!("../migrations/sqlite/0008_oauth_grants.sql"),
        postgres: include_str!("../migrations/postgres/0008_oauth_grants.sql"),
    },
    Migration {
        version: 9,
        name: "account_marks",
        sqlite: include_str!("../migrations/sqlite/0009_account_marks.sql"),
        postgres: include_str!("../migrations/postgres/0009_account_marks.sql"),
    },
    Migration {
        version: 10,
        name: "guard_window",
        sqlite: include_str!("../migrations/sqlite/0010_guard_window.sql"),
        postgres: include_str!("../migrations/postgres/0010_guard_window.sql"),
    },
    Migration {
        version: 11,
        name: "admins",
        sqlite: include_str!("../migrations/sqlite/0011_admins.sql"),
        postgres: include_str!("../migrations/postgres/0011_admins.sql"),
    },
    Migration {
        version: 12,
        name: "console_sessions",
        sqlite: include_str!("../migrations/sqlite/0012_console_sessions.sql"),
        postgres: include_str!("../migrations/postgres/0012_console_sessions.sql"),
    },
    Migration {
        version: 13,
        name: "lifecycle",
        sqlite: include_str!("../migrations/sqlite/0013_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0013_lifecycle.sql"),
    },
    Migration {
        version: 14,
        name: "licenses",
        sqlite: include_str!("../migrations/sqlite/0014_licenses.sql"),
        postgres: include_str!("../migrations/postgres/0014_licenses.sql"),
    },
    Migration {
        version: 15,
        name: "audit_chain",
        sqlite: include_str!("../migrations/sqlite/0015_audit_chain.sql"),
        postgres: include_str!("../migrations/postgres/0015_audit_chain.sql"),
    },
    Migration {
        version: 16,
        name: "nodes",
        sqlite: include_str!("../migrations/sqlite/0016_nodes.sql"),
        postgres: include_str!("../migrations/postgres/0016_nodes.sql"),
    },
    Migration {
        version: 17,
        name: "planning_versions",
        sqlite: include_str!("../migrations/sqlite/0017_planning_versions.sql"),
        postgres: include_str!("../migrations/postgres/0017_planning_versions.sql"),
    },
    Migration {
        version: 18,
        name: "group_ops_and_source_channels",
        sqlite: include_str!("../migrations/sqlite/0018_group_ops.sql"),
        postgres: include_str!("../migrations/postgres/0018_group_ops.sql"),
    },
    Migration {
        version: 21,
        name: "workflows",
        sqlite: include_str!("../migrations/sqlite/0021_workflows.sql"),
        postgres: include_str!("../migrations/postgres/0021_workflows.sql"),
    },
    Migration {
        version: 22,
        name: "license_flow",
        sqlite: include_str!("../migrations/sqlite/0022_license_flow.sql"),
        postgres: include_str!("../migrations/postgres/0022_license_flow.sql"),
    },
    Migration {
        version: 23,
        name: "app_list_reads",
        sqlite: include_str!("../migrations/sqlite/0023_app_list_reads.sql"),
        postgres: include_str!("../migrations/postgres/0023_app_list_reads.sql"),
    },
    Migration {
        version: 24,
        name: "console_state",
        sqlite: include_str!("../migrations/sqlite/0024_console_state.sql"),
        postgres: include_str!("../migrations/postgres/0024_console_state.sql"),
    },
    Migration {
        version: 25,
        name: "rate_windows",
        sqlite: include_str!("../migrations/sqlite/0025_rate_windows.sql"),
        postgres: include_str!("../migrations/postgres/0025_rate_windows.sql"),
    },
    Migration {
        version: 26,
        name: "notify_once",
        sqlite: include_str!("../migrations/sqlite/0026_notify_once.sql"),
        postgres: include_str!("../migrations/postgres/0026_notify_once.sql"),
    },
    Migration {
        version: 28,
        name: "workflow_waits",
        sqlite: include_str!("../migrations/sqlite/0028_workflow_waits.sql"),
        postgres: include_str!("../migrations/postgres/0028_workflow_waits.sql"),
    },
    Migration {
        version: 29,
        name: "app_quiet",
        sqlite: include_str!("../migrations/sqlite/0029_app_quiet.sql"),
        postgres: include_str!("../migrations/postgres/0029_app_quiet.sql"),
    },
    Migration {
        version: 31,
        name: "plan_reads",
        sqlite: include_str!("../migrations/sqlite/0031_plan_reads.sql"),
        postgres: include_str!("../migrations/postgres/0031_plan_reads.sql"),
    },
    Migration {
        version: 33,
        name: "license_reclaims",
        sqlite: include_str!("../migrations/sqlite/0033_license_reclaims.sql"),
        postgres: include_str!("../migrations/postgres/0033_license_reclaims.sql"),
    },
    Migration {
        version: 34,
        name: "license_freed_to",
        sqlite: include_str!("../migrations/sqlite/0034_license_freed_to.sql"),
        postgres: include_str!("../migrations/postgres/0034_license_freed_to.sql"),
    },
];

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tenure_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(|source| StoreError::Migration { version: 0, name: "bookkeeping", source })?;

    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    for migration in MIGRATIONS {
        // IMMEDIATE on SQLite for the reason `Store::write_tx` gives: this reads, then writes.
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        if backend == Backend::Postgres {
            // Nodes starting together must not run the same migration twice.
            sqlx::query("SELECT pg_advisory_xact_lock(7460751)").execute(&mut *tx).await?;
        }
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM tenure_migrations")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        if current > known {
            return Err(StoreError::SchemaTooNew { found: current, known });
        }
        // Applied or not by its own row, not by the highest version: migration numbers are
        // handed out to branches in advance, so a database may have 11 before 7 lands.
        let applied = sqlx::query("SELECT 1 AS one FROM tenure_migrations WHERE version = $1")
            .bind(migration.version)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if applied {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        let fail = |source| StoreError::Migration { version: migration.version, name: migration.name, source };
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query("INSERT INTO tenure_migrations (version, name, applied_ms) VALUES ($1, $2, $3)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            backend = backend.name(),
            "applied migration"
        );
    }
    Ok(())
}
