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

/// The page a request asks for (RFC 7644 §3.4.2.4): `startIndex` below 1 means 1, a negative
/// `count` means 0, and `count` is capped at the server's maximum (which is also the default).
/// Returns the 1-based start index and the page size.
pub fn paging(start_index: Option<i64>, count: Option<i64>, max_count: u64) -> (u64, u64) {
    let start = start_index.map_or(1, |s| s.max(1).unsigned_abs());
    let count = count.map_or(max_count, |c| c.max(0).unsigned_abs().min(max_count));
    (start, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paging_follows_rfc_7644() {
        assert_eq!(paging(None, None, 100), (1, 100));
        assert_eq!(paging(Some(0), Some(-5), 100), (1, 0));
        assert_eq!(paging(Some(i64::MIN), Some(i64::MAX), 100), (1, 100));
        assert_eq!(paging(Some(11), Some(10), 100), (11, 10));
    }

    #[test]
    fn list_response_wire_shape() {
        let page = ListResponse::new(5, 3, vec![json!({"id": "a"})]);
        let v = serde_json::to_value(&page).unwrap();
        assert_eq!(v["totalResults"], 5);
        assert_eq!(v["startIndex"], 3);
        assert_eq!(v["itemsPerPage"], 1);
        assert_eq!(v["schemas"][0], crate::schemas::LIST_RESPONSE);
        let empty: ListResponse<serde_json::Value> = serde_json::from_value(json!({"totalResults": 0})).unwrap();
        assert!(empty.resources.is_empty());
    }
}
