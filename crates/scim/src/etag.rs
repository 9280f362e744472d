//! Resource versions (RFC 7644 §3.14): a weak ETag computed from the resource's content, so the
//! same content always has the same version and any change gives a new one, with no counter to
//! store.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `W/"<hash>"` of the resource's canonical JSON (keys sorted), ignoring `meta` (which carries the
/// version itself and timestamps).
pub fn etag(resource: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(resource, &mut canonical, true);
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

fn write_canonical(value: &Value, out: &mut String, top: bool) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().filter(|k| !(top && k.eq_ignore_ascii_case("meta"))).collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = fields.get(key) {
                    write_canonical(v, out, false);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out, false);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether an `If-Match` / `If-None-Match` header value names `current`: `*`, or one of a
/// comma-separated list, compared weakly (RFC 9110 §8.8.3.2: `W/` is ignored).
pub fn etag_matches(header: &str, current: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    header.split(',').any(|tag| tag.trim() == "*" || opaque(tag) == opaque(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_content_same_tag_whatever_the_key_order_or_meta() {
        let a = json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}, "meta": {"version": "1"}});
        let b = json!({"name": {"familyName": "B", "givenName": "A"}, "userName": "a"});
        assert_eq!(etag(&a), etag(&b));
        let tag = etag(&a);
        assert!(tag.starts_with("W/\"") && tag.ends_with('"') && tag.len() == 32 + 4);
        assert_ne!(etag(&a), etag(&json!({"userName": "b"})));
        assert_ne!(etag(&json!({"x": [1, 2]})), etag(&json!({"x": [2, 1]})));
    }

    #[test]
    fn if_match_headers() {
        let tag = etag(&json!({"a": 1}));
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches("*", &tag));
        assert!(etag_matches(&format!("\"x\", {}", tag.trim_start_matches("W/")), &tag));
        assert!(!etag_matches("W/\"other\"", &tag));
    }
}
