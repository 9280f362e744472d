//! Evaluates a filter against a resource's JSON (RFC 7644 §3.4.2.2). The schema decides how values
//! compare: `caseExact` strings, `dateTime` chronologically, booleans and numbers by value.
//! Attributes the schema does not know compare by the JSON they hold, case-insensitively.

use std::cmp::Ordering;

use serde_json::Value;

use super::{CompareOp, Filter, FilterError};
use crate::datetime::Timestamp;
use crate::json::{self, parse_bool};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Registry, ResourceView};

impl Filter {
    /// Evaluates against a resource, finding its resource type in the standard registry (by
    /// `meta.resourceType` or `schemas`). Use [`Filter::matches_in`] when the server has its own.
    pub fn matches(&self, resource: &Value) -> bool {
        let view = Registry::standard().view_for(resource);
        Eval { view }.filter(self, resource, None)
    }

    /// Evaluates against a resource of the given resource type.
    pub fn matches_in(&self, resource: &Value, view: ResourceView<'_>) -> bool {
        Eval { view: Some(view) }.filter(self, resource, None)
    }

    /// Checks the filter against the schema before running it: ordering a boolean or binary, or
    /// a substring match on a non-string, is an `invalidFilter` error (RFC 7644 §3.4.2.2).
    /// Attributes the schema does not know are allowed: they simply match nothing.
    pub fn validate(&self, view: ResourceView<'_>) -> Result<(), FilterError> {
        check(self, view, None)
    }
}

/// Evaluates a value filter (`emails[...]`'s inside) against one element of `parent`.
pub(crate) fn matches_element(
    filter: &Filter,
    element: &Value,
    view: Option<ResourceView<'_>>,
    parent: &AttrPath,
) -> bool {
    Eval { view }.filter(filter, element, Some(parent))
}

fn check(filter: &Filter, view: ResourceView<'_>, parent: Option<&AttrPath>) -> Result<(), FilterError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, view, parent)?;
            check(b, view, parent)
        }
        Filter::Not(a) => check(a, view, parent),
        Filter::Present(_) => Ok(()),
        Filter::ValuePath { path, filter } => check(filter, view, Some(path)),
        Filter::Compare { path, op, value } => {
            let Some(def) = resolve(Some(view), path, parent) else { return Ok(()) };
            let def = comparable(def);
            let bad = |why: &str| FilterError { position: 0, message: format!("{path} {}: {why}", op.as_str()) };
            match def.ty {
                AttrType::Boolean | AttrType::Binary if op.is_ordering() => Err(bad("cannot order this attribute")),
                AttrType::Boolean | AttrType::Integer | AttrType::Decimal if op.is_substring() => {
                    Err(bad("substring operators apply to strings"))
                }
                AttrType::Complex => Err(bad("compare a sub-attribute of this complex attribute")),
                AttrType::DateTime
                    if !value.is_null()
                        && value.as_str().and_then(Timestamp::parse).is_none()
                        && !op.is_substring() =>
                {
                    Err(bad("expected a dateTime value such as \"2011-05-13T04:42:34Z\""))
                }
                _ => Ok(()),
            }
        }
    }
}

/// A complex attribute without a sub-attribute compares through its `value` (RFC 7644
/// §3.4.2.2: `emails co "example.com"`).
fn comparable(def: &AttributeDef) -> &AttributeDef {
    if def.is_complex() { def.sub_attribute("value").unwrap_or(def) } else { def }
}

/// The definition `path` names, relative to the value path `parent` when inside `[...]`.
fn resolve<'r>(view: Option<ResourceView<'r>>, path: &AttrPath, parent: Option<&AttrPath>) -> Option<&'r AttributeDef> {
    let view = view?;
    match parent {
        None => view.resolve(path).map(|r| r.target()),
        Some(parent) => {
            let outer = view.resolve(parent)?;
            let sub = outer.target().sub_attribute(&path.name)?;
            match &path.sub {
                None => Some(sub),
                Some(s) => sub.sub_attribute(s),
            }
        }
    }
}

struct Eval<'r> {
    view: Option<ResourceView<'r>>,
}

impl Eval<'_> {
    /// `parent` is set inside a value filter, where `resource` is one element.
    fn filter(&self, filter: &Filter, resource: &Value, parent: Option<&AttrPath>) -> bool {
        match filter {
            Filter::And(a, b) => self.filter(a, resource, parent) && self.filter(b, resource, parent),
            Filter::Or(a, b) => self.filter(a, resource, parent) || self.filter(b, resource, parent),
            Filter::Not(a) => !self.filter(a, resource, parent),
            Filter::Present(path) => self.values(resource, path, parent).iter().any(|v| is_present(v)),
            Filter::Compare { path, op, value } => {
                let def = resolve(self.view, path, parent);
                let found: Vec<&Value> = self
                    .values(resource, path, parent)
                    .into_iter()
                    .map(|v| match (v, path.sub.is_none()) {
                        // `emails eq "x"` compares each email's value.
                        (Value::Object(_), true) => json::get_ci(v, "value").unwrap_or(&Value::Null),
                        _ => v,
                    })
                    .filter(|v| !v.is_null())
                    .collect();
                if found.is_empty() {
                    // Absent and null are the same state (RFC 7643 §2.5).
                    return match op {
                        CompareOp::Eq => value.is_null(),
                        CompareOp::Ne => !value.is_null(),
                        _ => false,
                    };
                }
                let def = def.map(comparable);
                found.iter().any(|v| compare(v, *op, value, def))
            }
            Filter::ValuePath { path, filter } => {
                let base = path.parent();
                self.values(resource, &base, parent).iter().any(|element| self.filter(filter, element, Some(path)))
            }
        }
    }

    /// Every value the path names, flattening multi-valued attributes.
    fn values<'v>(&self, resource: &'v Value, path: &AttrPath, parent: Option<&AttrPath>) -> Vec<&'v Value> {
        let container = match (parent, &path.urn) {
            (Some(_), _) | (None, None) => resource,
            (None, Some(urn)) => {
                let core = match self.view {
                    Some(view) => view.is_core_urn(urn),
                    None => urn.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:"),
                };
                if core {
                    resource
                } else {
                    match json::get_ci(resource, urn) {
                        Some(c) => c,
                        None => return Vec::new(),
                    }
                }
            }
        };
        let Some(top) = json::get_ci(container, &path.name) else { return Vec::new() };
        let elements: Vec<&Value> = match top {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        match &path.sub {
            None => elements,
            Some(sub) => elements
                .into_iter()
                .filter_map(|e| json::get_ci(e, sub))
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                })
                .collect(),
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, def: Option<&AttributeDef>) -> bool {
    use CompareOp::*;
    if expected.is_null() {
        // Only presence can be asked of null; `actual` is known to be non-null here.
        return op == Ne;
    }
    let ty = def.map(|d| d.ty);
    match ty {
        Some(AttrType::Boolean) => {
            let (Some(a), Some(b)) = (as_bool(actual), as_bool(expected)) else { return op == Ne };
            return match op {
                Eq => a == b,
                Ne => a != b,
                _ => false,
            };
        }
        Some(AttrType::DateTime) if !op.is_substring() => {
            if let (Some(a), Some(b)) =
                (actual.as_str().and_then(Timestamp::parse), expected.as_str().and_then(Timestamp::parse))
            {
                return ordered(a.cmp(&b), op);
            }
        }
        Some(AttrType::Integer | AttrType::Decimal) => {
            let (Some(a), Some(b)) = (as_number(actual), as_number(expected)) else { return op == Ne };
            return match a.partial_cmp(&b) {
                Some(ord) => ordered(ord, op),
                None => op == Ne,
            };
        }
        _ => {}
    }
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            let case_exact = def.is_some_and(|d| d.case_exact || d.ty == AttrType::Binary);
            if case_exact { strings(a, b, op) } else { strings(&a.to_lowercase(), &b.to_lowercase(), op) }
        }
        (Value::Number(_), Value::Number(_)) => match (as_number(actual), as_number(expected)) {
            (Some(a), Some(b)) if !op.is_substring() => a.partial_cmp(&b).is_some_and(|ord| ordered(ord, op)),
            _ => op == Ne,
        },
        (Value::Bool(_), _) | (_, Value::Bool(_)) => match (as_bool(actual), as_bool(expected)) {
            (Some(a), Some(b)) => match op {
                Eq => a == b,
                Ne => a != b,
                _ => false,
            },
            _ => op == Ne,
        },
        _ => op == Ne,
    }
}

fn strings(a: &str, b: &str, op: CompareOp) -> bool {
    use CompareOp::*;
    match op {
        Co => a.contains(b),
        Sw => a.starts_with(b),
        Ew => a.ends_with(b),
        _ => ordered(a.cmp(b), op),
    }
}

fn ordered(ord: Ordering, op: CompareOp) -> bool {
    use CompareOp::*;
    match op {
        Eq => ord == Ordering::Equal,
        Ne => ord != Ordering::Equal,
        Gt => ord == Ordering::Greater,
        Ge => ord != Ordering::Less,
        Lt => ord == Ordering::Less,
        Le => ord != Ordering::Greater,
        Co | Sw | Ew => false,
    }
}

/// Entra sends booleans as `"True"`/`"False"`; compare them as booleans.
fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;
    use crate::schemas;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
            "id": "2819c223",
            "userName": "Ann.Lee@example.com",
            "externalId": "E-1",
            "active": true,
            "meta": {"lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z"},
            "emails": [{"type": "home", "value": "ann@home.example"}, {"type": "work", "value": "ann@example.com", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "M-1"}}
        })
    }

    #[test]
    fn evaluates_common_idp_filters() {
        let cases = [
            (r#"userName eq "ann.lee@example.com""#, true),
            (r#"USERNAME Eq "ANN.LEE@EXAMPLE.COM""#, true),
            (r#"externalId eq "E-1""#, true),
            (r#"externalId eq "e-1""#, false),
            (r#"id eq "2819C223""#, false),
            (r#"emails[type eq "work" and value co "@example.com"]"#, true),
            (r#"emails[type eq "work"].value eq "ann@example.com""#, true),
            (r#"emails[type eq "home"].value eq "ann@example.com""#, false),
            (r#"emails[type eq "work"].primary eq true"#, true),
            (r#"emails.value eq "ann@example.com""#, true),
            (r#"emails co "home.example""#, true),
            (r#"emails[not (type eq "work")]"#, true),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#, true),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M-1""#, true),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ann""#, true),
            (r#"active eq "True""#, true),
            (r#"active ne false"#, true),
            (r#"not (active eq false) and (title pr or userName ew ".com")"#, true),
            (r#"title pr"#, false),
            (r#"title eq null"#, true),
            (r#"title ne null"#, false),
            (r#"title ne "x""#, true),
            (r#"userName ne null"#, true),
            (r#"meta.lastModified gt "2011-05-13T06:00:00+02:00""#, true),
            (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
            (r#"meta.lastModified lt "2011-05-13T04:42:34.001Z""#, true),
            (r#"meta.created ge "2011-01-01T00:00:00Z""#, false),
        ];
        for (text, expected) in cases {
            let f = parse_filter(text).unwrap();
            assert_eq!(f.matches(&user()), expected, "{text}");
        }
    }

    #[test]
    fn case_exactness_comes_from_the_schema() {
        let mut registry = Registry::core();
        let mut schema = registry.schema(schemas::USER).unwrap().clone();
        if let Some(a) = schema.attributes.iter_mut().find(|a| a.name == "userName") {
            a.case_exact = true;
        }
        registry.add_schema(schema);
        let view = registry.resource_type("User").unwrap();
        let f = parse_filter(r#"userName eq "ann.lee@example.com""#).unwrap();
        assert!(!f.matches_in(&user(), view));
        assert!(f.matches(&user()));
    }

    #[test]
    fn schema_less_resources_compare_leniently() {
        let r = json!({"Count": 3, "flag": "TRUE", "urn:x:vendor": {"seat": "Pro"}});
        for (text, expected) in [
            ("count ge 3", true),
            ("count gt 3", false),
            ("flag eq true", true),
            (r#"urn:x:vendor:seat eq "pro""#, true),
            (r#"count co "3""#, false),
        ] {
            assert_eq!(parse_filter(text).unwrap().matches(&r), expected, "{text}");
        }
    }

    #[test]
    fn validation_rejects_meaningless_comparisons() {
        let registry = Registry::core();
        let view = registry.resource_type("User").unwrap();
        for bad in [
            "active gt true",
            "active co \"t\"",
            "name eq \"x\"",
            "meta.created gt \"yesterday\"",
            "emails[primary lt true]",
        ] {
            assert!(parse_filter(bad).unwrap().validate(view).is_err(), "{bad}");
        }
        for good in ["userName gt \"a\"", "emails co \"x\"", "nope gt 1", "meta.created gt \"2011-05-13T04:42:34Z\""] {
            assert!(parse_filter(good).unwrap().validate(view).is_ok(), "{good}");
        }
    }
}
