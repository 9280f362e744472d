//! Tenure's store: the only crate that writes SQL.
//!
//! One implementation serves SQLite and PostgreSQL through sqlx's `Any` driver. Every statement
//! is written in the dialect both share (`$n` parameters, `ON CONFLICT`, `RETURNING`, TEXT and
//! BIGINT columns), so no data method branches on the backend but the queue's claim (`queue.rs`); the backends differ only in their
//! migration files and connection set-up (`backend.rs`). Every query is scoped by tenant.

mod activity;
mod audit;
mod audit_chain;
mod backend;
pub mod backup;
mod bulk;
mod console_state;
pub mod crypto;
mod directory;
mod error;
mod guard;
mod import_state;
mod legal_holds;
mod license_lines;
mod licenses;
mod lifecycle;
mod links;
mod list_reads;
mod marks;
mod migrate;
mod nodes;
mod oauth;
mod ops;
mod plan_reads;
mod planning;
mod policy;
mod queue;
mod quiet;
mod rate_windows;
mod row;
mod scim;
pub mod scratch;
mod sealed_config;
mod sessions;
mod source_channels;
mod tenancy;
mod tx;
mod workflows;

pub use activity::AppActivity;
pub use audit::{AuditCursor, AuditEntry, AuditFilter, AuditPage, BadCursor, MAX_AUDIT_PAGE, NewAuditEntry};
pub use audit_chain::{AuditVerification, BadEntry};
pub use backend::{Backend, redact_url};
pub use console_state::{ConsoleJob, ConsoleJobStatus};
pub use directory::SourceRecord;
pub use directory::{ImportAudit, ImportSummary};
pub use error::StoreError;
pub use guard::{GuardTx, HeldLossRecord, HoldRecord};
pub use import_state::{ImportDone, ImportTimings, SourceState};
pub use legal_holds::LegalHold;
pub use license_lines::WaitingRow;
pub use licenses::SeatRow;
pub use lifecycle::{ChannelRecord, Delivery as MessageDelivery, NewTask, Offboarding, OutboxRecord, TaskRecord};
pub use links::StoredAccount;
pub use marks::{AccountMark, AccountMarkKind};
pub use nodes::{BudgetSlots, DutyHolder, DutyLease, Fence};
pub use oauth::{GrantTokens, OauthGrant, PendingAuthorization, StateRefusal};
pub use ops::{OperationRecord, OperationStatus, PlanRecord};
pub use plan_reads::PlanRead;
pub use planning::{AccountsDelta, DirectoryMarks, DirectoryVersions};
pub use policy::{AppAuth, AppRecord, KeyRotation, KeyStatus, OauthClientAuth};
pub use queue::{AppHealth, Claim, DirtyMark, OperationFilter, QueueCounts, Settlement};
pub use rate_windows::WindowUsage;
pub use scim::{GroupLayout, ScimKind, ScimPage, ScimQuery, ScimRecord, ScimWrite, UserLayout};
pub use sessions::{ConsoleSession, SignInCandidate};
pub use source_channels::SourceChannel;
pub use tenancy::{AdminRecord, TenantRecord, TokenInfo, TokenRecord, TokenScope};
pub use tenure_core::import::{ImportBatch, ImportGroup, ImportedPerson};
pub use tx::{AppRow, AuditRecord, Tx};
pub use workflows::{NewRun, RunRecord, StepEnd, StepRecord, WorkflowRecord};

use sqlx::AnyPool;

/// The master key file an embedded SQLite database gets beside it when no key is configured.
pub const MASTER_KEY_FILE_NAME: &str = "master.key";

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Reads that may run beside the writer: on SQLite (whose `pool` has the one writer
    /// connection) a pool of read-only WAL readers; on PostgreSQL the same pool.
    read: AnyPool,
    backend: Backend,
    /// Master keys for the credentials the store keeps; never stored in the database.
    keyring: std::sync::Arc<crypto::Keyring>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`) and applies pending migrations.
    /// Master keys come from `TENURE_MASTER_KEYS` / `TENURE_MASTER_KEY_FILE` (see [`crypto`]);
    /// when neither is set, an embedded SQLite database uses the key file beside it
    /// ([`MASTER_KEY_FILE_NAME`]), generated on first start, so a default install encrypts.
    /// PostgreSQL without a key refuses to store credentials.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut keyring = crypto::Keyring::from_env()?;
        if keyring.current_id().is_none()
            && let Some(path) = Backend::sqlite_file(url)
            && let Some(dir) = path.parent()
        {
            keyring = crypto::Keyring::load_or_create_file(&dir.join(MASTER_KEY_FILE_NAME))?;
        }
        Self::connect_with_keys(url, keyring).await
    }

    /// Connects with the given master keys instead of the environment's.
    pub async fn connect_with_keys(url: &str, keyring: crypto::Keyring) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url)?;
        let pool = backend.connect(url).await?;
        let read = backend.read_pool(url, &pool)?;
        let store = Self { pool, read, backend, keyring: std::sync::Arc::new(keyring) };
        migrate::run(&store.pool, backend).await?;
        store.seal_plaintext_at_start().await?;
        Ok(store)
    }

    pub(crate) fn read_pool(&self) -> &AnyPool {
        &self.read
    }

    /// Opens a write transaction. On SQLite it takes the write lock at `BEGIN` (`IMMEDIATE`),
    /// waiting up to the busy timeout for another process's writer: a deferred transaction that
    /// read first and then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT)
    /// when another process (the CLI beside `serve`) committed in between, and no busy timeout
    /// helps it. Every write transaction of the store opens here.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn keyring(&self) -> &crypto::Keyring {
        &self.keyring
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for in-flight queries.
    pub async fn close(&self) {
        self.read.close().await;
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch: the store's timestamp format on both backends.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// A round trip to the database, for health checks. Through a reader: on SQLite the one
    /// writer connection may be busy with a long write, which says nothing about health.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}
