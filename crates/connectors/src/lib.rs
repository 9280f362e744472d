//! Outbound connectors: how Tenure reads and writes accounts in the apps it provisions. For now
//! one generic SCIM 2.0 client; vendor-specific connectors will sit beside it and speak the same
//! [`RemoteAccount`](tenure_core::RemoteAccount) / [`Attributes`](tenure_core::attributes::Attributes)
//! vocabulary.

pub mod capabilities;
pub mod client;
pub mod error;
pub mod groups;
pub mod mapping;
pub mod oauth;
pub mod probe;
mod put;
pub mod ratelimit;
pub mod vendor;
pub mod vendor_limits;

pub use client::{ClientOptions, ScimClient};
pub use error::{ConnectorError, TransportKind};
pub use probe::{ProbeOptions, ProbeReport};
pub use ratelimit::RateLimiter;
pub use vendor::{DeleteMeaning, Vendor};
