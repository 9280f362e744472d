//! Directory sources: where Tenure learns who works here. Each source turns its input into a
//! complete [`tenure_core::import::ImportBatch`]; the store applies it, and whoever is missing from
//! the batch has left. Because a partial batch would read as "these people left", a source either
//! delivers everything or fails with an error precise enough to fix the input.

pub mod cloud_http;
pub mod google;
pub mod graph;
pub mod hr_csv;
pub mod jwt;
pub mod ldap;
pub mod sample;
pub mod scim_push;

pub use cloud_http::CloudError;
pub use hr_csv::{CsvError, CsvFormat, CsvMapping};

/// Why a source could not be read. Each kind of source adds its own variant.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error(transparent)]
    Ldap(#[from] ldap::LdapSourceError),
    /// Google Workspace or Microsoft Graph.
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

impl SourceError {
    /// Whether reading the source again later may succeed (a timeout, a throttled API) rather
    /// than needing someone to fix the input or the configuration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Csv(e) => e.is_retryable(),
            Self::Ldap(e) => e.is_retryable(),
            Self::Cloud(e) => e.is_retryable(),
        }
    }
}
pub use sample::{SampleOrg, sample_org, sample_org_as_of};
