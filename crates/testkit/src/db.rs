//! A fresh, empty database per test: a SQLite file in a temporary directory, or a PostgreSQL
//! database created for the test on the server that `TENURE_TEST_PG_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped afterwards.

use anyhow::Context;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDb {
    url: String,
    backend: TestBackend,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: TestBackend) -> anyhow::Result<Self> {
        match backend {
            TestBackend::Sqlite => Self::sqlite(),
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("tenure.db").display());
        Ok(Self { url, backend: TestBackend::Sqlite, admin_url: None, name: None, _dir: Some(dir) })
    }

    pub async fn postgres() -> anyhow::Result<Self> {
        let admin_url = std::env::var("TENURE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let name = format!("tenure_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("PostgreSQL for tests at {admin_url} (set TENURE_TEST_PG_URL)"))?;
        // The name is generated above from a UUID, never from input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        let url = replace_db_name(&admin_url, &name);
        Ok(Self { url, backend: TestBackend::Postgres, admin_url: Some(admin_url), name: Some(name), _dir: None })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> TestBackend {
        self.backend
    }
}

fn replace_db_name(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(admin), Some(name)) = (self.admin_url.take(), self.name.take()) else { return };
        // Drop runs inside a test's runtime, which cannot be blocked on; a short-lived thread with
        // its own runtime does the clean-up. A failure only leaves a stray test database behind.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name_only() {
        assert_eq!(super::replace_db_name("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::replace_db_name("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::replace_db_name("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
