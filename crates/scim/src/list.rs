//! ListResponse (RFC 7644 §3.4.2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse<T> {
    #[serde(default = "list_schemas")]
    pub schemas: Vec<String>,
    #[serde(rename = "totalResults")]
    pub total_results: u64,
    #[serde(rename = "startIndex", default = "one")]
    pub start_index: u64,
    #[serde(rename = "itemsPerPage", default)]
    pub items_per_page: u64,
    /// Servers omit `Resources` when a page is empty; that must read as an empty page.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

fn list_schemas() -> Vec<String> {
    vec![crate::schemas::LIST_RESPONSE.to_owned()]
}

fn one() -> u64 {
    1
}

impl<T> ListResponse<T> {
    pub fn new(total_results: u64, start_index: u64, resources: Vec<T>) -> Self {
        Self { schemas: list_schemas(), total_results, start_index, items_per_page: resources.len() as u64, resources }
    }
}
