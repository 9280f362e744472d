//! Test harness shared by the crates' integration tests. Everything here gives each test its own
//! resources (a database, a peer server on a free port) so tests run in parallel, in any order.

pub mod box_fake;
pub mod browser;
pub mod cloud_fake;
pub mod db;
pub mod dropbox_fake;
pub mod github_fake;
pub mod google_fake;
pub mod google_licensing_fake;
pub mod google_transfer_fake;
pub mod graph_fake;
pub mod m365_fake;
pub mod oauth_fake;
mod people;
pub mod scim2;
pub mod slapd;
pub mod smtp;
pub mod vendor_tokens;

pub use db::{TestBackend, TestDb};
pub use people::person;
pub use scim2::Scim2Server;
pub use slapd::{Slapd, SlapdOptions};
pub use smtp::SmtpServer;

/// Polls `check` until it returns `Some`, or fails after `deadline`. Tests wait on conditions,
/// never on fixed sleeps.
pub async fn eventually<T, F, Fut>(deadline: std::time::Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= until {
            anyhow::bail!("condition not met within {deadline:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A master key list for tests (`TENURE_MASTER_KEYS`): PostgreSQL refuses to store credentials
/// without a key, so tests that store them configure this one.
pub const TEST_MASTER_KEYS: &str = "test1:dGVudXJlLXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmchISE=";
