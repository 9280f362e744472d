//! Request-body checks against the schema (RFC 7643 §2): types, required attributes and
//! mutability, with the coercions real IdPs need (`"True"` for a boolean, a number for a string
//! such as `employeeNumber`). Attributes the schema does not know are kept untouched: real
//! servers accept them, and the resource model keeps every attribute.

use serde_json::{Map, Value};

use crate::datetime::Timestamp;
use crate::json::{self, parse_bool, type_name};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceView};
use crate::{ScimError, ScimType};

fn invalid(message: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, message)
}

/// Coerces one value of attribute `name` to its schema type; nulls pass through (the caller
/// treats them as "unassign"). Multi-valued attributes accept a single value as a one-element
/// array.
pub(crate) fn coerce(value: &Value, def: &AttributeDef, name: &str) -> Result<Value, ScimError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let v = coerce_single(item, def, name)?;
            if !v.is_null() {
                out.push(v);
            }
        }
        return Ok(Value::Array(out));
    }
    coerce_single(value, def, name)
}

/// Coerces one element (of a multi-valued attribute, or a single value).
pub(crate) fn coerce_single(value: &Value, def: &AttributeDef, name: &str) -> Result<Value, ScimError> {
    let wrong = || invalid(format!("{name} must be {}, not {}", expected(def.ty), type_name(value)));
    Ok(match (def.ty, value) {
        (_, Value::Null) => Value::Null,
        (AttrType::Boolean, Value::Bool(_)) => value.clone(),
        (AttrType::Boolean, Value::String(s)) => Value::Bool(parse_bool(s).ok_or_else(wrong)?),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        (AttrType::Integer, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => return Err(wrong()),
        },
        (AttrType::Decimal, Value::Number(_)) => value.clone(),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => value.clone(),
        // `"employeeNumber": 12345` is common; a string attribute reads it as text.
        (AttrType::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttrType::DateTime, Value::String(s)) => {
            if Timestamp::parse(s).is_none() {
                return Err(invalid(format!("{name} must be a dateTime such as \"2011-05-13T04:42:34Z\", not {s:?}")));
            }
            value.clone()
        }
        (AttrType::Complex, Value::Object(fields)) => {
            let mut out = Map::new();
            for (key, field) in fields {
                match def.sub_attribute(key) {
                    // `"$ref": null` and friends: unassigned, so left out.
                    Some(_) if field.is_null() => {}
                    Some(sub) => {
                        let v = coerce(field, sub, &format!("{name}.{}", sub.name))?;
                        json::set_in(&mut out, &sub.name, v);
                    }
                    None => {
                        out.insert(key.clone(), field.clone());
                    }
                }
            }
            Value::Object(out)
        }
        // A complex value given as its bare `value`: an element of a multi-valued attribute
        // (`"emails": ["a@x"]` means `[{"value": "a@x"}]`), or the enterprise `manager`, which
        // Entra ID sends as the manager's id alone.
        (AttrType::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_)) => match def.sub_attribute("value") {
            Some(sub) => {
                let mut out = Map::new();
                out.insert(sub.name.clone(), coerce_single(value, sub, &format!("{name}.value"))?);
                Value::Object(out)
            }
            None => return Err(wrong()),
        },
        _ => return Err(wrong()),
    })
}

fn expected(ty: AttrType) -> &'static str {
    match ty {
        AttrType::String | AttrType::Reference => "a string",
        AttrType::Binary => "a base64 string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "a dateTime string",
        AttrType::Complex => "an object",
    }
}

/// Checks a POST or PUT body and returns it normalised: values coerced to their types,
/// `readOnly` attributes the client sent (`id`, `meta`, `groups`) dropped as RFC 7644 §3.5.1
/// says, `schemas` completed with the extensions present. Missing required attributes and
/// ill-typed values are `invalidValue` errors naming the attribute.
pub fn validate_resource(body: &Value, view: ResourceView<'_>) -> Result<Value, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body must be a JSON object, not {}", type_name(body)),
        ));
    };
    let mut out = Map::new();
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = view.extension(key) {
            let Value::Object(inner) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(invalid(format!("{key} must be an object, not {}", type_name(value))));
            };
            let mut ext_out = Map::new();
            for (k, v) in inner {
                match ext.attribute(k) {
                    Some(def) => put(&mut ext_out, def, v, &format!("{}:{}", ext.id, def.name))?,
                    None => {
                        ext_out.insert(k.clone(), v.clone());
                    }
                }
            }
            check_required(&ext_out, ext.attributes.iter(), &ext.id)?;
            if !ext_out.is_empty() {
                out.insert(ext.id.clone(), Value::Object(ext_out));
            }
            continue;
        }
        match view.attribute(None, key) {
            Some(r) => put(&mut out, r.attr, value, &r.attr.name)?,
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(core) = view.core_schema() {
        check_required(&out, core.attributes.iter(), &core.name)?;
    }
    for (ext, required) in view.extensions() {
        if required && json::get_in(&out, &ext.id).is_none() {
            return Err(invalid(format!("the {} extension is required", ext.id)));
        }
    }
    let mut resource = Value::Object(out);
    sync_schemas(&mut resource, view);
    Ok(resource)
}

fn put(out: &mut Map<String, Value>, def: &AttributeDef, value: &Value, name: &str) -> Result<(), ScimError> {
    if def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let v = coerce(value, def, name)?;
    if !json::is_unassigned(&v) {
        json::set_in(out, &def.name, v);
    }
    Ok(())
}

fn check_required<'a>(
    out: &Map<String, Value>,
    defs: impl Iterator<Item = &'a AttributeDef>,
    owner: &str,
) -> Result<(), ScimError> {
    for def in defs {
        if def.required
            && def.mutability != Mutability::ReadOnly
            && json::get_in(out, &def.name).is_none_or(json::is_unassigned)
        {
            return Err(invalid(format!("{} is required ({owner})", def.name)));
        }
    }
    Ok(())
}

/// For a PUT: `immutable` attributes that already have a value must keep it (RFC 7643 §2.2).
pub fn check_immutable(existing: &Value, replacement: &Value, view: ResourceView<'_>) -> Result<(), ScimError> {
    let containers = std::iter::once((None, view.core_schema().map(|s| s.attributes.as_slice()).unwrap_or(&[])))
        .chain(view.extensions().map(|(s, _)| (Some(s.id.as_str()), s.attributes.as_slice())));
    for (urn, defs) in containers {
        let pick = |v: &Value| -> Option<Value> {
            match urn {
                Some(urn) => json::get_ci(v, urn).cloned(),
                None => Some(v.clone()),
            }
        };
        let (Some(old), Some(new)) = (pick(existing), pick(replacement)) else { continue };
        for def in defs.iter().filter(|d| d.mutability == Mutability::Immutable) {
            let before = json::get_ci(&old, &def.name).filter(|v| !json::is_unassigned(v));
            let after = json::get_ci(&new, &def.name);
            if let Some(before) = before
                && after != Some(before)
            {
                return Err(ScimError::bad_request(ScimType::Mutability, format!("{} is immutable", def.name)));
            }
        }
    }
    Ok(())
}

/// Lists in `schemas` the core schema and exactly the known extensions the resource holds data
/// for; extension URNs the registry does not know are left as they are.
pub fn sync_schemas(resource: &mut Value, view: ResourceView<'_>) {
    let Value::Object(obj) = resource else { return };
    let mut listed: Vec<Value> = match json::get_in(obj, "schemas") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let has =
        |listed: &[Value], urn: &str| listed.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    let core = view.resource_type().schema.as_str();
    if !has(&listed, core) {
        listed.insert(0, Value::String(core.to_owned()));
    }
    for (ext, _) in view.extensions() {
        let present = json::get_in(obj, &ext.id).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        if present && !has(&listed, &ext.id) {
            listed.push(Value::String(ext.id.clone()));
        } else if !present {
            listed.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&ext.id)));
            if json::get_in(obj, &ext.id).is_some() {
                json::remove_in(obj, &ext.id);
            }
        }
    }
    json::set_in(obj, "schemas", Value::Array(listed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Registry;
    use crate::schemas;
    use serde_json::json;

    #[test]
    fn normalises_a_create_body() {
        let registry = Registry::core();
        let view = registry.resource_type("User").unwrap();
        let body = json!({
            "schemas": [schemas::USER],
            "id": "client-made-up", "meta": {"version": "x"},
            "userName": "ann", "active": "False", "nickName": 7,
            "emails": {"value": "a@x", "primary": "true"},
            "customThing": {"kept": true},
            schemas::ENTERPRISE_USER: {"employeeNumber": 42, "manager": {"value": "m", "$ref": null}}
        });
        let out = validate_resource(&body, view).unwrap();
        assert!(out.get("id").is_none() && out.get("meta").is_none());
        assert_eq!(out["active"], false);
        assert_eq!(out["nickName"], "7");
        assert_eq!(out["emails"], json!([{"value": "a@x", "primary": true}]));
        assert_eq!(out["customThing"]["kept"], true);
        assert_eq!(out[schemas::ENTERPRISE_USER]["employeeNumber"], "42");
        assert_eq!(out[schemas::ENTERPRISE_USER]["manager"], json!({"value": "m"}));
        assert_eq!(out["schemas"], json!([schemas::USER, schemas::ENTERPRISE_USER]));
    }

    #[test]
    fn explains_invalid_bodies() {
        let registry = Registry::core();
        let view = registry.resource_type("User").unwrap();
        for (body, needle) in [
            (json!({"displayName": "x"}), "userName is required"),
            (json!({"userName": "a", "active": "yes"}), "active must be a boolean"),
            (json!({"userName": "a", "name": "Ann"}), "name must be an object"),
            (json!({"userName": "a", "emails": [{"value": "a", "primary": 3}]}), "emails.primary must be a boolean"),
            (json!({"userName": "a", "meta": 1, schemas::ENTERPRISE_USER: "x"}), "must be an object"),
        ] {
            let err = validate_resource(&body, view).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
            assert!(err.detail.as_deref().unwrap_or("").contains(needle), "{err}");
        }
        assert_eq!(validate_resource(&json!([]), view).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn immutable_attributes_keep_their_value_on_put() {
        let registry = Registry::core();
        let mut schema = registry.schema(schemas::USER).unwrap().clone();
        schema.attributes.push(AttributeDef::string("badge").mutability(Mutability::Immutable));
        let mut registry = registry.clone();
        registry.add_schema(schema);
        let view = registry.resource_type("User").unwrap();
        assert!(check_immutable(&json!({"badge": "1"}), &json!({"badge": "1"}), view).is_ok());
        assert!(check_immutable(&json!({}), &json!({"badge": "2"}), view).is_ok());
        let err = check_immutable(&json!({"badge": "1"}), &json!({"badge": "2"}), view).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
    }
}
