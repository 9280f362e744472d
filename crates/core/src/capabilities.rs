//! What a SCIM app was found to support when it was probed (`tenure app check`). Stored in the
//! app's settings so every client built for the app adapts to it; the probing itself and what the
//! profile means for provisioning live in `tenure-connectors`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The outcome of one check: seen to work, seen not to, or not established (the probe could not
/// tell without writing, or the app had nothing to test with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probed {
    Yes,
    No,
    #[default]
    Unknown,
}

impl Probed {
    pub fn is_no(self) -> bool {
        self == Self::No
    }
}

/// How the app treats `filter=` on `/Users` (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterSupport {
    /// A filter matching nothing returned nothing, and one matching a known user returned it.
    Works,
    /// The app answered a filter matching nothing with users: it lists instead of filtering.
    Ignored,
    /// The app refused filters (501 not implemented, 400 invalidFilter).
    Refused,
    /// A filter matching nothing returned nothing, but the app had no user to confirm a match with.
    #[default]
    Unverified,
}

impl FilterSupport {
    /// Whether lookups may be sent as filters (an unverified filter is still checked at run time).
    pub fn usable(self) -> bool {
        matches!(self, Self::Works | Self::Unverified)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `GET /ServiceProviderConfig` answered with a configuration.
    pub service_provider_config: bool,
    pub resource_types: bool,
    pub schemas: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchSupport {
    /// What `/ServiceProviderConfig` claims (`patch.supported`), when it said.
    pub advertised: Option<bool>,
    /// Whether the app accepts PATCH on `/Users/{id}` at all (501/405 mean no).
    pub supported: Probed,
    /// `replace` with a value-filter path: `emails[type eq "work"].value`.
    pub value_filter_path: Probed,
    /// `replace` without a path and a value map of attributes.
    pub no_path_value_map: Probed,
}

/// Whether the app's lists can be read whole (RFC 7644 §3.4.2.4 paging), checked over every page
/// of `/Users` without writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagingSupport {
    /// `Yes`: every page echoed its `startIndex`, no id came twice and the pages added up to
    /// `totalResults`. `No`: one of those failed (`fault` says which). `Unknown`: the app held
    /// too few users to page.
    pub checked: Probed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Whether the list could be read by `userName` prefix filters instead, each partition
    /// adding up: what lets Tenure plan an app whose paging is broken.
    #[serde(default)]
    pub partitioned: Probed,
}

impl PagingSupport {
    /// Pages cannot be trusted.
    pub fn is_broken(&self) -> bool {
        self.checked.is_no()
    }

    /// Why the app cannot be planned at all: its paging is broken and no partitioned read works.
    pub fn refusal(&self) -> Option<String> {
        (self.is_broken() && self.partitioned != Probed::Yes).then(|| {
            format!(
                "its user list cannot be read completely ({}); Tenure refuses to plan it until the app pages \
                 correctly (tenure app check APP re-tests)",
                self.fault.as_deref().unwrap_or("paging is broken")
            )
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// RFC 3339 time of the probe.
    pub probed_at: String,
    pub discovery: Discovery,
    pub filter: FilterSupport,
    /// Per filter attribute path (`userName`, `externalId`, `emails.value`): whether a filter on
    /// it found a known user. Lookups on an attribute marked `No` list instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter_by: BTreeMap<String, Probed>,
    pub patch: PatchSupport,
    /// The most users the app returns per page, when it caps below what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u32>,
    /// Resources carry versions (`meta.version` / `ETag`) the app checks with `If-Match`.
    pub etag: Probed,
    /// Group members per PATCH request, when the app documents a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members_per_request: Option<u32>,
    /// The app pages with cursors (RFC 9865: `pagination.cursor` in `/ServiceProviderConfig`),
    /// which stay stable while the listing changes under them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cursor_pagination: bool,
    /// `bulk.maxOperations` from `/ServiceProviderConfig`, when bulk is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_max_operations: Option<u32>,
    /// Whether `/Users` pages add up; older profiles lack it (unknown).
    #[serde(default)]
    pub paging: PagingSupport,
}

impl Capabilities {
    /// Whether a lookup on `path` may be sent as a filter.
    pub fn filters_on(&self, path: &str) -> bool {
        self.filter.usable() && !self.filter_by.get(path).copied().unwrap_or_default().is_no()
    }

    /// Updates must go through GET + PUT.
    pub fn without_patch(&self) -> bool {
        self.patch.supported.is_no()
    }
}
