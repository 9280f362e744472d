use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot reach the database at {url}: {source}")]
    Connect {
        /// With any password redacted.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the database is at schema version {found}, newer than this Tenure knows ({known}); upgrade Tenure")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// A compare-and-set on a row's version found another version: someone changed it since the
    /// caller read it (an ETag that no longer matches).
    #[error("{what} was changed meanwhile (version {current}, not {expected}); read it again")]
    Stale { what: String, expected: i64, current: i64 },
    /// A SCIM filter the store cannot run (an attribute it does not index, say).
    #[error("{0}")]
    InvalidFilter(String),
    /// A `sortBy` the store cannot order by.
    #[error("{0}")]
    InvalidSort(String),
    /// Data a caller asked to write does not fit (a required value missing, an unknown reference).
    #[error("{0}")]
    Invalid(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The master key list (`TENURE_MASTER_KEYS` / `TENURE_MASTER_KEY_FILE`) is unusable.
    #[error("master keys: {0}")]
    Keys(#[from] crate::crypto::KeyringError),
    /// A stored credential cannot be sealed or opened with the configured master keys.
    #[error("credential of {what}: {source}")]
    Credential {
        what: String,
        #[source]
        source: crate::crypto::CryptoError,
    },
    /// An operation that needs a master key ran without one.
    #[error("no master key configured: set TENURE_MASTER_KEYS (KEY_ID:BASE64,...) or TENURE_MASTER_KEY_FILE")]
    NoMasterKey,
    /// Someone else changed the row while it was being rewritten; running again settles it.
    #[error("{0} changed concurrently; run again")]
    Concurrent(String),
    /// A write made under a duty whose lease another node has taken over since (a newer
    /// term): this node is no longer the one to do it. Not retryable by this node.
    #[error("refused: the {duty} duty was taken over by another node (this node's term {term} is over)")]
    Fenced { duty: String, term: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether trying again later may succeed (the database was busy or unreachable), as opposed
    /// to a request that will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Concurrent(_) => true,
            Self::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e.as_database_error().is_some_and(|d| {
                    // SQLite "database is locked" / PostgreSQL serialization failure and deadlock.
                    matches!(d.code().as_deref(), Some("5" | "6" | "40001" | "40P01"))
                })
            }
            _ => false,
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}

/// Maps a unique-constraint violation to `Conflict`, anything else to `Database`.
pub(crate) fn on_unique(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Conflict(what.into()),
        _ => StoreError::Database(e),
    }
}
