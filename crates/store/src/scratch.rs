//! A fresh PostgreSQL database for a bench run (`tenure bench nodes`): created beside the one a
//! URL names, on the same server, and dropped afterwards. Several processes can then share it by
//! its URL, which a temporary SQLite file cannot offer.

use sqlx::{AssertSqlSafe, Connection};

use crate::backend::redact_url;
use crate::{Backend, StoreError};

/// A database made for one run; [`ScratchDatabase::drop_now`] removes it.
#[derive(Debug)]
pub struct ScratchDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the PostgreSQL server `server_url` points at.
    pub async fn create(server_url: &str) -> Result<Self, StoreError> {
        if Backend::from_url(server_url)? != Backend::Postgres {
            return Err(StoreError::UnsupportedUrl(format!(
                "{}: a scratch database needs PostgreSQL",
                redact_url(server_url)
            )));
        }
        sqlx::any::install_default_drivers();
        let name = format!("tenure_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::AnyConnection::connect(server_url)
            .await
            .map_err(|source| StoreError::Connect { url: redact_url(server_url), source })?;
        // The name is made above from a UUID, never from input.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        let url = with_database(server_url, &name);
        Ok(Self { server_url: server_url.to_owned(), name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, disconnecting whoever is still connected.
    pub async fn drop_now(self) -> Result<(), StoreError> {
        let mut conn = sqlx::AnyConnection::connect(&self.server_url)
            .await
            .map_err(|source| StoreError::Connect { url: redact_url(&self.server_url), source })?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }
}

/// `url` with its database name replaced by `db` (its query kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_database_name_changes() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
