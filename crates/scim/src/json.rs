//! Case-insensitive access to JSON objects. SCIM attribute names are case-insensitive (RFC 7643
//! §2.1), so `userName` and `USERNAME` name the same attribute; a server must find it either way
//! and, when it writes, keep whichever spelling the resource already uses.

use serde_json::{Map, Value};

/// The key in `object` that names `name`, ignoring ASCII case.
pub fn key_ci<'m>(object: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    if object.contains_key(name) {
        return object.get_key_value(name).map(|(k, _)| k.as_str());
    }
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).map(String::as_str)
}

/// The value of attribute `name` in a JSON object, ignoring case; `None` for non-objects.
pub fn get_ci<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    get_in(value.as_object()?, name)
}

/// Like [`get_ci`] on a map.
pub fn get_in<'m>(object: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    let key = key_ci(object, name)?;
    object.get(key)
}

/// Mutable access to attribute `name`, ignoring case.
pub fn get_mut_in<'m>(object: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Value> {
    let key = key_ci(object, name)?.to_owned();
    object.get_mut(&key)
}

/// Sets attribute `name`, reusing the existing key's spelling so a resource never holds the same
/// attribute twice under different cases.
pub fn set_in(object: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(object, name).unwrap_or(name).to_owned();
    object.insert(key, value);
}

/// Removes attribute `name` under every spelling; returns the first value removed.
pub fn remove_in(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let keys: Vec<String> = object.keys().filter(|k| k.eq_ignore_ascii_case(name)).cloned().collect();
    let mut first = None;
    for key in keys {
        let removed = object.remove(&key);
        if first.is_none() {
            first = removed;
        }
    }
    first
}

/// SCIM treats null, an empty array and an absent attribute alike (RFC 7643 §2.5).
pub fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Parses `"true"` / `"False"` the way Entra ID sends booleans.
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The JSON type name used in error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_ignore_case_and_writes_keep_the_existing_spelling() {
        let mut v = json!({"userName": "a", "Emails": []});
        assert_eq!(get_ci(&v, "USERNAME"), Some(&json!("a")));
        let obj = v.as_object_mut().unwrap();
        set_in(obj, "username", json!("b"));
        assert_eq!(obj["userName"], "b");
        assert_eq!(obj.len(), 2);
        obj.insert("EMAILS".into(), json!(1));
        assert!(remove_in(obj, "emails").is_some());
        assert!(key_ci(obj, "emails").is_none());
        assert_eq!(get_ci(&json!([1]), "x"), None);
    }
}
