//! SCIM 2.0 protocol model (RFC 7643 / RFC 7644), shared by every part of Tenure that speaks SCIM:
//! the outbound client, the sandbox apps and the inbound service provider. No HTTP server and no
//! SQL live here, so the same types serve all three without pulling either in.

pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod schemas;
pub mod user;

pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, Filter, FilterError, parse_filter};
pub use list::ListResponse;
pub use patch::{PatchOp, PatchOperation, PatchVerb};
pub use user::{Email, EnterpriseUser, GroupMember, Name, ScimGroup, ScimUser};

/// The media type SCIM responses carry (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
