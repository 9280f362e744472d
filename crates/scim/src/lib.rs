//! SCIM 2.0 protocol library (RFC 7643 / RFC 7644), shared by every part of Tenure that speaks
//! SCIM: the outbound client, the sandbox apps and the inbound service provider. No HTTP server,
//! no SQL execution and no I/O live here, so the same code serves all three.
//!
//! A server typically uses: [`schema::Registry`] (attribute characteristics and the discovery
//! documents), [`filter`] (parse, evaluate or [`sql`]-lower `filter=`), [`patch::apply_patch`],
//! [`projection`] for `attributes` / `excludedAttributes`, [`validate`] for request bodies and
//! [`etag`] for versions.

pub mod datetime;
pub mod error;
pub mod etag;
pub mod filter;
pub mod json;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod schema;
pub mod schemas;
pub mod sql;
pub mod user;
pub mod validate;

pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, Filter, FilterError, parse_filter};
pub use list::ListResponse;
pub use patch::{PatchOp, PatchOperation, PatchVerb};
pub use path::{AttrPath, PatchPath};
pub use schema::{Registry, ResourceView};
pub use user::{Email, EnterpriseUser, GroupMember, Name, ScimGroup, ScimUser};

/// The media type SCIM responses carry (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
