//! The two backends differ here and in their migration files, nowhere else.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// The database file of a `sqlite:` URL, if it names one (not `:memory:`).
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        let rest = url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    pub(crate) async fn connect(self, url: &str) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        let url = match self {
            // Create the file on first use: the embedded default must need no set-up.
            Self::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let connect_error = |source| StoreError::Connect { url: redact_url(&url), source };
        let options = AnyConnectOptions::from_str(&url).map_err(connect_error)?;
        let pool = match self {
            Self::Sqlite => {
                // One writer at a time is all SQLite allows; a single connection avoids
                // "database is locked" from two pooled connections upgrading to writers at once.
                // Its page cache may grow to 256 MiB (the default is 2 MiB): a 100,000-person
                // import touches about 150 MB of table and index pages, and with a smaller cache
                // spends its time spilling and re-reading them (measured: 64 MiB, 4.3-4.8 s;
                // 256 MiB, 3.6-4.3 s). The cache grows only as far as a transaction needs it.
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                                 PRAGMA cache_size = -262144;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Self::Postgres => {
                // One direct connection first: a pool retries until its timeout and then reports
                // only "timed out", hiding the cause (refused, bad password, no such database).
                let probe = sqlx::AnyConnection::connect_with(&options).await.map_err(connect_error)?;
                let _ = probe.close().await;
                AnyPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        };
        pool.map_err(connect_error)
    }
}

impl Backend {
    /// The pool for reads. SQLite in WAL mode lets readers run beside the single writer, so
    /// reads get connections of their own (opened lazily, after migrations made the file);
    /// PostgreSQL's pool serves both.
    pub(crate) fn read_pool(self, url: &str, writer: &AnyPool) -> Result<AnyPool, StoreError> {
        match self {
            Self::Postgres => Ok(writer.clone()),
            // An in-memory database exists once per connection: readers would see another one.
            Self::Sqlite if url.contains(":memory:") || url.contains("mode=memory") => Ok(writer.clone()),
            Self::Sqlite => {
                let url = if url.contains("mode=") {
                    url.to_owned()
                } else {
                    format!("{url}{}mode=rw", if url.contains('?') { '&' } else { '?' })
                };
                let options = AnyConnectOptions::from_str(&url)
                    .map_err(|source| StoreError::Connect { url: redact_url(&url), source })?;
                // More readers than cores: a reader waiting on I/O should not hold up the others.
                let readers = std::thread::available_parallelism().map_or(4, |n| (n.get() * 2).clamp(4, 16));
                Ok(AnyPoolOptions::new()
                    .max_connections(readers as u32)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Memory-mapped reads and a larger page cache spare a system call per page read.
                            conn.execute(
                                "PRAGMA query_only = ON; PRAGMA busy_timeout = 10000; \
                                 PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_lazy_with(options))
            }
        }
    }
}

/// A database URL with any password replaced, fit for an error message or a log line.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_passwords_never_show() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        let err = Backend::from_url("mysql://u:secret@h/db").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
    }
}
