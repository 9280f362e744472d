//! Request pacing the vendors document for their SCIM APIs. Kept for existing callers; the
//! vendor profiles as a whole live in [`crate::vendor`].

pub use crate::vendor::{Vendor, documented_limits};
