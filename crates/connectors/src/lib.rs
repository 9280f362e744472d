//! Outbound connectors: how Tenure reads and writes accounts in the apps it provisions. Every
//! connector implements [`Connector`]: the generic SCIM 2.0 client (adapted per app by its probed
//! capabilities and its vendor's documented quirks) and custom-API connectors for apps without
//! SCIM, all speaking the same [`RemoteAccount`](tenure_core::RemoteAccount) /
//! [`Attributes`](tenure_core::attributes::Attributes) vocabulary.

pub mod bearer;
pub mod box_users;
pub mod capabilities;
pub mod catalog;
pub mod client;
pub mod connector;
pub mod dropbox;
pub mod error;
pub mod github;
pub mod google_workspace;
pub mod groups;
pub mod m365;
pub mod mapping;
pub mod oauth;
pub mod oauth_code;
pub mod paging;
pub mod probe;
mod put;
pub mod ratelimit;
mod rest_base;
mod scim_connector;
pub mod vendor;

pub use box_users::BoxUsers;
pub use catalog::{CatalogEntry, catalog};
pub use client::{ClientOptions, ScimClient};
pub use connector::{
    Connector, ConnectorFuture, DeactivateMeaning, DeleteMeaning, Descriptor, FileTransfer, Operation, TransferStatus,
    UserPage, UserQuery,
};
pub use dropbox::Dropbox;
pub use error::{ConnectorError, TransportKind};
pub use github::GitHubOrg;
pub use google_workspace::GoogleWorkspace;
pub use m365::M365;
pub use probe::{ProbeOptions, ProbeReport};
pub use ratelimit::{BudgetError, RateLimiter, RequestWindows, SharedBudget, SharedSlots, WindowSpent};
pub use vendor::Vendor;
