//! Any text as a SCIM filter: parsing never panics; what parses prints to text that parses back
//! to the same filter, and evaluating it never panics.

use serde_json::json;
use tenure_scim::parse_filter;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(filter) = parse_filter(text) {
        let printed = filter.to_string();
        assert_eq!(parse_filter(&printed).as_ref(), Ok(&filter), "{printed}");
        let _ = filter.matches(&json!({"userName": "a", "emails": [{"value": "x", "type": "work"}]}));
    }
}
