//! Applies a SCIM PatchOp (RFC 7644 §3.5.2) to a user's JSON.
//!
//! The caller patches a copy and validates the result as a whole, so an operation that fails
//! halfway leaves the stored user untouched (PATCH is atomic per RFC 7644 §3.5.2).

use serde_json::{Map, Value};
use tenure_scim::{CompareOp, Filter, PatchOperation, PatchVerb, ScimError, ScimType, parse_filter};

use crate::schema::{self, Attr, Container, Kind};

/// What a PATCH `path` points at.
#[derive(Debug)]
enum Target {
    /// The whole extension object, e.g. `urn:…:enterprise:2.0:User`.
    Extension(Container),
    Attr {
        container: Container,
        attr: &'static Attr,
        filter: Option<Filter>,
        sub: Option<&'static str>,
    },
}

pub(crate) fn apply(user: &mut Map<String, Value>, operations: &[PatchOperation]) -> Result<(), ScimError> {
    for op in operations {
        apply_one(user, op)?;
    }
    Ok(())
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn apply_one(user: &mut Map<String, Value>, op: &PatchOperation) -> Result<(), ScimError> {
    let value = match op.op {
        PatchVerb::Remove => None,
        PatchVerb::Add | PatchVerb::Replace => match &op.value {
            Some(v) => Some(v),
            None => return Err(invalid_value("add and replace operations need a value")),
        },
    };
    let Some(path) = op.path.as_deref() else {
        let Some(value) = value else {
            return Err(ScimError::bad_request(ScimType::NoTarget, "remove needs a path"));
        };
        let Value::Object(fields) = value else {
            return Err(invalid_value("an operation without a path needs an object value"));
        };
        for (key, field) in fields {
            // IdPs echo these back in path-less replaces; they are not the client's to change
            // and RFC 7644 §3.5.2 lets the provider ignore them.
            if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            apply_target(user, op.op, parse_path(key)?, Some(field))?;
        }
        return Ok(());
    };
    apply_target(user, op.op, parse_path(path)?, value)
}

fn parse_path(path: &str) -> Result<Target, ScimError> {
    let path = path.trim();
    for container in [Container::Enterprise, Container::Core] {
        let urn = container.urn();
        let Some(head) = path.get(..urn.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(urn) {
            continue;
        }
        let rest = &path[urn.len()..];
        if rest.is_empty() {
            return match container {
                Container::Enterprise => Ok(Target::Extension(container)),
                Container::Core => Err(invalid_path(format!("path {path:?} names no attribute"))),
            };
        }
        if let Some(local) = rest.strip_prefix(':') {
            return parse_local(container, local, path);
        }
    }
    if path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Err(invalid_path(format!("path {path:?} uses a schema this app does not support")));
    }
    parse_local(Container::Core, path, path)
}

fn parse_local(container: Container, local: &str, full: &str) -> Result<Target, ScimError> {
    let name_end = local.find(['[', '.']).unwrap_or(local.len());
    let (name, mut rest) = local.split_at(name_end);
    let Some(attr) = schema::find(container, name) else {
        return Err(invalid_path(format!("path {full:?}: unknown attribute {name:?}")));
    };
    if attr.kind == Kind::ReadOnly {
        return Err(ScimError::bad_request(ScimType::Mutability, format!("{} is read-only", attr.name)));
    }
    let mut filter = None;
    if let Some(after_bracket) = rest.strip_prefix('[') {
        let Some(close) = closing_bracket(after_bracket) else {
            return Err(invalid_path(format!("path {full:?}: missing ']'")));
        };
        if attr.kind != Kind::MultiValued {
            return Err(invalid_path(format!("path {full:?}: {} is not multi-valued", attr.name)));
        }
        let parsed = parse_filter(&after_bracket[..close]).map_err(|e| invalid_path(format!("path {full:?}: {e}")))?;
        filter = Some(parsed);
        rest = &after_bracket[close + 1..];
    }
    let sub = match rest {
        "" => None,
        _ => {
            let Some(sub_name) = rest.strip_prefix('.') else {
                return Err(invalid_path(format!("path {full:?}: unexpected {rest:?}")));
            };
            match schema::find_sub(attr, sub_name) {
                Some(sub) => Some(sub),
                None => {
                    return Err(invalid_path(format!("path {full:?}: unknown sub-attribute {sub_name:?}")));
                }
            }
        }
    };
    Ok(Target::Attr { container, attr, filter, sub })
}

/// Index of the `]` closing a value filter, skipping any inside string literals.
fn closing_bracket(text: &str) -> Option<usize> {
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn apply_target(
    user: &mut Map<String, Value>,
    verb: PatchVerb,
    target: Target,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    // A null value clears the attribute, which is how IdPs blank a field with replace.
    let value = value.filter(|v| !v.is_null());
    match target {
        Target::Extension(container) => match value {
            None => {
                take_ci(user, container.urn());
                Ok(())
            }
            Some(Value::Object(fields)) => {
                for (key, field) in fields {
                    let target = parse_local(container, key, key)?;
                    apply_target(user, verb, target, Some(field))?;
                }
                Ok(())
            }
            Some(_) => Err(invalid_value(format!("{} needs an object value", container.urn()))),
        },
        Target::Attr { container: Container::Core, attr, filter, sub } => {
            apply_attr(user, verb, attr, filter.as_ref(), sub, value)
        }
        Target::Attr { container: Container::Enterprise, attr, filter, sub } => {
            with_object(user, Container::Enterprise.urn(), |ext| {
                apply_attr(ext, verb, attr, filter.as_ref(), sub, value)
            })
        }
    }
}

fn apply_attr(
    obj: &mut Map<String, Value>,
    verb: PatchVerb,
    attr: &Attr,
    filter: Option<&Filter>,
    sub: Option<&'static str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match attr.kind {
        Kind::ReadOnly => Err(ScimError::bad_request(ScimType::Mutability, format!("{} is read-only", attr.name))),
        Kind::Simple => {
            match value {
                None => drop(take_ci(obj, attr.name)),
                Some(v) => set_ci(obj, attr.name, v.clone()),
            }
            Ok(())
        }
        Kind::Complex => with_object(obj, attr.name, |inner| match (sub, value) {
            (Some(sub), None) => {
                take_ci(inner, sub);
                Ok(())
            }
            (Some(sub), Some(v)) => {
                set_ci(inner, sub, v.clone());
                Ok(())
            }
            (None, None) => {
                inner.clear();
                Ok(())
            }
            // RFC 7644 §3.5.2.3: sub-attributes not in the value are left unchanged.
            (None, Some(Value::Object(fields))) => merge_subs(attr, inner, fields),
            (None, Some(_)) => Err(invalid_value(format!("{} needs an object value", attr.name))),
        }),
        Kind::MultiValued => with_array(obj, attr.name, |items| multi(items, verb, attr, filter, sub, value)),
    }
}

fn multi(
    items: &mut Vec<Value>,
    verb: PatchVerb,
    attr: &Attr,
    filter: Option<&Filter>,
    sub: Option<&'static str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(filter) = filter else {
        return match (sub, value) {
            (None, None) => {
                items.clear();
                Ok(())
            }
            (None, Some(v)) => {
                let new = elements(attr, v)?;
                if verb == PatchVerb::Replace {
                    items.clear();
                }
                items.extend(new);
                Ok(())
            }
            // `emails.value` addresses that sub-attribute of every element.
            (Some(sub), v) => {
                if items.is_empty()
                    && let Some(v) = v
                {
                    items.push(Value::Object(Map::from_iter([(sub.to_owned(), v.clone())])));
                    return Ok(());
                }
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    match v {
                        Some(v) => set_ci(item, sub, v.clone()),
                        None => drop(take_ci(item, sub)),
                    }
                }
                Ok(())
            }
        };
    };
    let mut matching: Vec<usize> =
        items.iter().enumerate().filter(|(_, item)| filter.matches(item)).map(|(i, _)| i).collect();
    let Some(value) = value else {
        match sub {
            None => {
                let mut index = 0;
                items.retain(|_| {
                    index += 1;
                    !matching.contains(&(index - 1))
                });
            }
            Some(sub) => {
                for i in matching {
                    if let Some(item) = items.get_mut(i).and_then(Value::as_object_mut) {
                        take_ci(item, sub);
                    }
                }
            }
        }
        return Ok(());
    };
    if matching.is_empty() {
        // RFC 7644 says noTarget here, but Entra ID and Okta send
        // `emails[type eq "work"].value` to set a work email the user does not have yet, and
        // the vendors accept it; so when the filter pins down the new element, create it.
        let mut seed = Map::new();
        if !seed_from_filter(attr, filter, &mut seed) {
            return Err(ScimError::bad_request(ScimType::NoTarget, format!("no {} value matches {filter}", attr.name)));
        }
        items.push(Value::Object(seed));
        matching.push(items.len() - 1);
    }
    for i in matching {
        let Some(item) = items.get_mut(i).and_then(Value::as_object_mut) else {
            continue;
        };
        match (sub, value) {
            (Some(sub), v) => set_ci(item, sub, v.clone()),
            (None, Value::Object(fields)) => merge_subs(attr, item, fields)?,
            (None, _) => return Err(invalid_value(format!("{} values are objects", attr.name))),
        }
    }
    Ok(())
}

/// The multi-valued attribute's new elements: an array of objects, or one object.
fn elements(attr: &Attr, value: &Value) -> Result<Vec<Value>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        _ => {
            return Err(invalid_value(format!("{} needs an array of objects", attr.name)));
        }
    };
    if items.iter().any(|item| !item.is_object()) {
        return Err(invalid_value(format!("{} needs an array of objects", attr.name)));
    }
    Ok(items)
}

fn merge_subs(attr: &Attr, target: &mut Map<String, Value>, fields: &Map<String, Value>) -> Result<(), ScimError> {
    for (key, v) in fields {
        let Some(sub) = schema::find_sub(attr, key) else {
            return Err(invalid_value(format!("{} has no sub-attribute {key:?}", attr.name)));
        };
        if v.is_null() {
            take_ci(target, sub);
        } else {
            set_ci(target, sub, v.clone());
        }
    }
    Ok(())
}

/// Builds the element a filter like `type eq "work"` describes; false when it is anything but
/// `eq` comparisons joined by `and`.
fn seed_from_filter(attr: &Attr, filter: &Filter, seed: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::And(a, b) => seed_from_filter(attr, a, seed) && seed_from_filter(attr, b, seed),
        Filter::Compare { path, op: CompareOp::Eq, value } if path.urn.is_none() && path.sub.is_none() => {
            match schema::find_sub(attr, &path.name) {
                Some(sub) => {
                    seed.insert(sub.to_owned(), value.clone());
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

fn take_ci(obj: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = obj.keys().find(|k| k.eq_ignore_ascii_case(name))?.clone();
    let taken = obj.remove(&key);
    // A client may have sent the same attribute twice in different cases; drop the others too.
    obj.retain(|k, _| !k.eq_ignore_ascii_case(name));
    taken
}

fn set_ci(obj: &mut Map<String, Value>, name: &str, value: Value) {
    take_ci(obj, name);
    obj.insert(name.to_owned(), value);
}

/// Runs `f` on the complex attribute `name` (created when absent) and drops it if left empty.
fn with_object<R>(obj: &mut Map<String, Value>, name: &str, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
    let mut inner = match take_ci(obj, name) {
        Some(Value::Object(inner)) => inner,
        _ => Map::new(),
    };
    let result = f(&mut inner);
    if !inner.is_empty() {
        obj.insert(name.to_owned(), Value::Object(inner));
    }
    result
}

/// Runs `f` on the multi-valued attribute `name` (created when absent) and drops it if left empty.
fn with_array<R>(obj: &mut Map<String, Value>, name: &str, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
    let mut items = match take_ci(obj, name) {
        Some(Value::Array(items)) => items,
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    let result = f(&mut items);
    if !items.is_empty() {
        obj.insert(name.to_owned(), Value::Array(items));
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tenure_scim::PatchOp;

    use super::*;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Map<String, Value> {
        let v = json!({
            "userName": "ann",
            "active": true,
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"type": "work", "value": "ann@example.com", "primary": true}],
            ENT: {"department": "Sales"},
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn patch(user: &mut Map<String, Value>, ops: Value) -> Result<(), ScimError> {
        let op: PatchOp = serde_json::from_value(json!({ "Operations": ops })).unwrap();
        apply(user, &op.operations)
    }

    #[test]
    fn replaces_simple_complex_filtered_and_extension_paths() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "Replace", "path": "NAME.givenName", "value": "Anna"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "anna@example.com"},
                {"op": "replace", "path": format!("{ENT}:department"), "value": "Support"},
                {"op": "replace", "path": "title", "value": "Engineer"},
            ]),
        )
        .unwrap();
        assert_eq!(u["active"], false);
        assert_eq!(u["name"], json!({"givenName": "Anna", "familyName": "Lee"}));
        assert_eq!(u["emails"][0]["value"], "anna@example.com");
        assert_eq!(u["emails"][0]["primary"], true);
        assert_eq!(u[ENT]["department"], "Support");
        assert_eq!(u["title"], "Engineer");
    }

    #[test]
    fn pathless_replace_merges_objects() {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "value": {
                "displayName": "Ann L", "name": {"familyName": "Li"}, "name.givenName": "A",
                ENT: {"division": "EMEA"}, "id": "ignored", "schemas": []
            }}]),
        )
        .unwrap();
        assert_eq!(u["displayName"], "Ann L");
        assert_eq!(u["name"], json!({"givenName": "A", "familyName": "Li"}));
        assert_eq!(u[ENT], json!({"department": "Sales", "division": "EMEA"}));
        assert!(!u.contains_key("id"));
    }

    #[test]
    fn add_appends_and_creates_missing_filtered_elements() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                {"op": "add", "path": "emails", "value": [{"type": "home", "value": "a@home"}]},
                {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
                {"op": "add", "path": "nickName", "value": "annie"},
            ]),
        )
        .unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 2);
        assert_eq!(u["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
        assert_eq!(u["nickName"], "annie");
    }

    #[test]
    fn remove_clears_attributes_and_tidies_empty_containers() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                {"op": "remove", "path": "name.givenName"},
                {"op": "remove", "path": "name.familyName"},
                {"op": "remove", "path": "emails[type eq \"work\"]"},
                {"op": "remove", "path": format!("{ENT}:department")},
                {"op": "remove", "path": "title"},
            ]),
        )
        .unwrap();
        assert!(!u.contains_key("name"));
        assert!(!u.contains_key("emails"));
        assert!(!u.contains_key(ENT));
    }

    #[test]
    fn rejects_bad_paths_and_values() {
        let cases = [
            (json!({"op": "replace", "path": "shoeSize", "value": 9}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "name.nickname", "value": "x"}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "title[type eq \"x\"]", "value": "x"}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "emails[type eq", "value": "x"}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "emails[type zz \"w\"]", "value": "x"}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "emails[type eq \"w\"]x", "value": "x"}), ScimType::InvalidPath),
            (json!({"op": "replace", "path": "urn:x:vendor:seat", "value": "x"}), ScimType::InvalidPath),
            (
                json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User", "value": {}}),
                ScimType::InvalidPath,
            ),
            (json!({"op": "replace", "path": "id", "value": "x"}), ScimType::Mutability),
            (json!({"op": "remove"}), ScimType::NoTarget),
            (json!({"op": "replace", "path": "title"}), ScimType::InvalidValue),
            (json!({"op": "replace", "value": "x"}), ScimType::InvalidValue),
            (json!({"op": "add", "path": "emails", "value": ["x"]}), ScimType::InvalidValue),
            (json!({"op": "replace", "path": "emails[value co \"zzz\"].value", "value": "y"}), ScimType::NoTarget),
        ];
        for (op, expected) in cases {
            let mut u = user();
            let Err(err) = patch(&mut u, json!([op.clone()])) else { panic!("{op} was accepted") };
            assert_eq!(err.scim_type, Some(expected), "{op}");
            assert_eq!(err.status, 400);
        }
    }

    #[test]
    fn urn_qualified_core_paths_and_brackets_in_strings() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "ann2"},
                {"op": "add", "path": "emails[value eq \"x]y\"].type", "value": "other"},
            ]),
        )
        .unwrap();
        assert_eq!(u["userName"], "ann2");
        assert_eq!(u["emails"][1], json!({"value": "x]y", "type": "other"}));
    }
}
