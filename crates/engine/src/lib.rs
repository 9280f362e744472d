//! Orchestration: the only place where the directory, the store and the apps meet. It loads
//! state, asks the pure reconciler in `tenure-core` for a plan, and carries the plan out through
//! the connectors, recording every outcome. The CLI, the server and the demo all drive it.

mod apply;
mod csv_import;
mod error;
mod planning;
mod sync;
mod watch;

pub use apply::{AppOutcome, ApplyReport, OpFailure};
pub use csv_import::CsvUpload;
pub use error::EngineError;
pub use planning::AppPlan;
pub use sync::{CsvSourceConfig, Delivery, SyncOptions, SyncReport};
pub use watch::{DEFAULT_INTERVAL as WATCH_INTERVAL, Dropped, SETTLE as WATCH_SETTLE};

use tenure_connectors::{ClientOptions, ScimClient};
use tenure_core::TenantId;
use tenure_store::{AppRecord, Store};

/// Drives one tenant. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    tenant: TenantId,
    client_options: ClientOptions,
    /// How many operations run at once against one app.
    concurrency: usize,
}

impl Engine {
    pub fn new(store: Store, tenant: TenantId) -> Self {
        Self { store, tenant, client_options: ClientOptions::default(), concurrency: 8 }
    }

    pub fn with_client_options(mut self, options: ClientOptions) -> Self {
        self.client_options = options;
        self
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub(crate) fn client(&self, app: &AppRecord) -> Result<ScimClient, EngineError> {
        ScimClient::new(&app.app.base_url, app.secret.clone(), self.client_options.clone())
            .map_err(|source| EngineError::Connector { app: app.app.name.clone(), source })
    }
}

/// Today's date in UTC: the day leave and start dates are compared with.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
