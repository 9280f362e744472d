//! `attributes` and `excludedAttributes` (RFC 7644 §3.9), honouring each attribute's `returned`
//! characteristic (RFC 7643 §2.2): `always` survives any exclusion, `never` (such as `password`)
//! never leaves the server, `request` only when asked for by name, `default` unless excluded.

use serde_json::{Map, Value};

use crate::path::{AttrPath, parse_attribute_list};
use crate::schema::{AttributeDef, ResourceView, Returned};
use crate::{ScimError, ScimType, json};

/// A parsed `attributes` / `excludedAttributes` pair. RFC 7644 §3.9 says a request gives one or
/// the other; when both come, `attributes` wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parses the two query parameters; a malformed path is `400 invalidPath`.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>, view: ResourceView<'_>) -> Result<Self, ScimError> {
        let urns = view.schema_urns();
        let parse = |text: Option<&str>, what: &str| -> Result<Vec<AttrPath>, ScimError> {
            match text {
                None => Ok(Vec::new()),
                Some(t) => parse_attribute_list(t, &urns)
                    .map_err(|e| ScimError::bad_request(ScimType::InvalidPath, format!("{what}: {e}"))),
            }
        };
        Ok(Self { attributes: parse(attributes, "attributes")?, excluded: parse(excluded, "excludedAttributes")? })
    }

    /// The resource as the client may see it.
    pub fn apply(&self, resource: &Value, view: ResourceView<'_>) -> Value {
        let Value::Object(fields) = resource else { return resource.clone() };
        let mut out = Map::new();
        for (key, value) in fields {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key.clone(), value.clone());
                continue;
            }
            let ext_urn = view.extension(key).map(|s| s.id.as_str()).or_else(|| {
                let urn_like = key.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("urn:"));
                (urn_like && value.is_object()).then_some(key.as_str())
            });
            if let Some(urn) = ext_urn {
                let Value::Object(inner) = value else { continue };
                let whole = self.names_extension(&self.attributes, urn);
                let mut kept = Map::new();
                for (name, v) in inner {
                    let def = view.attribute(Some(urn), name).map(|r| r.attr);
                    if let Some(v) = self.keep(Some(urn), name, v, def, whole, view) {
                        kept.insert(name.clone(), v);
                    }
                }
                if !kept.is_empty() && !self.names_extension(&self.excluded, urn) {
                    out.insert(key.clone(), Value::Object(kept));
                }
                continue;
            }
            let def = view.attribute(None, key).map(|r| r.attr);
            if let Some(v) = self.keep(None, key, value, def, false, view) {
                out.insert(key.clone(), v);
            }
        }
        Value::Object(out)
    }

    fn names_extension(&self, list: &[AttrPath], urn: &str) -> bool {
        list.iter().any(|p| p.joined_urn().is_some_and(|j| j.eq_ignore_ascii_case(urn)))
    }

    /// Whether `path` (from a list) names attribute `name` in container `urn`.
    fn names(path: &AttrPath, urn: Option<&str>, name: &str, view: ResourceView<'_>) -> bool {
        let urn_ok = match (&path.urn, urn) {
            (None, None) => true,
            (Some(p), None) => view.is_core_urn(p),
            (Some(p), Some(u)) => p.eq_ignore_ascii_case(u),
            (None, Some(_)) => false,
        };
        urn_ok && path.name.eq_ignore_ascii_case(name)
    }

    fn keep(
        &self,
        urn: Option<&str>,
        name: &str,
        value: &Value,
        def: Option<&AttributeDef>,
        whole_extension: bool,
        view: ResourceView<'_>,
    ) -> Option<Value> {
        let returned = def.map_or(Returned::Default, |d| d.returned);
        if returned == Returned::Never {
            return None;
        }
        let named: Vec<&AttrPath> = self.attributes.iter().filter(|p| Self::names(p, urn, name, view)).collect();
        let whole_named = whole_extension || named.iter().any(|p| p.sub.is_none());
        if returned == Returned::Always {
            return Some(filter_subs(value, def, Subs::All));
        }
        if !self.attributes.is_empty() {
            if whole_named {
                return Some(filter_subs(value, def, Subs::All));
            }
            if named.is_empty() {
                return None;
            }
            let subs: Vec<&str> = named.iter().filter_map(|p| p.sub.as_deref()).collect();
            let v = filter_subs(value, def, Subs::Only(&subs));
            return (!json::is_unassigned(&v) && !is_empty_object(&v)).then_some(v);
        }
        if returned == Returned::Request {
            return None;
        }
        let excluded: Vec<&AttrPath> = self.excluded.iter().filter(|p| Self::names(p, urn, name, view)).collect();
        if excluded.iter().any(|p| p.sub.is_none()) {
            return None;
        }
        let gone: Vec<&str> = excluded.iter().filter_map(|p| p.sub.as_deref()).collect();
        Some(filter_subs(value, def, Subs::Except(&gone)))
    }
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// Which sub-attributes of a kept attribute a request selects.
#[derive(Clone, Copy)]
enum Subs<'a> {
    All,
    Only(&'a [&'a str]),
    Except(&'a [&'a str]),
}

impl Subs<'_> {
    fn keeps(self, sub: &str, returned: Returned) -> bool {
        let listed = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(sub));
        match (returned, self) {
            (Returned::Never, _) => false,
            (Returned::Always, _) => true,
            (Returned::Request, Subs::Only(names)) => listed(names),
            (Returned::Request, _) => false,
            (Returned::Default, Subs::All) => true,
            (Returned::Default, Subs::Only(names)) => listed(names),
            (Returned::Default, Subs::Except(names)) => !listed(names),
        }
    }
}

/// Keeps the selected sub-attributes, per element of a multi-valued attribute.
fn filter_subs(value: &Value, def: Option<&AttributeDef>, want: Subs<'_>) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| filter_subs(i, def, want)).filter(|v| !is_empty_object(v)).collect())
        }
        Value::Object(fields) => {
            let mut out = Map::new();
            for (k, v) in fields {
                let sub_returned = def.and_then(|d| d.sub_attribute(k)).map_or(Returned::Default, |s| s.returned);
                if want.keeps(k, sub_returned) {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Registry;
    use crate::schemas;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
            "id": "u1", "userName": "ann", "password": "secret", "title": "CTO",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "a@x", "type": "work"}],
            "meta": {"resourceType": "User"},
            schemas::ENTERPRISE_USER: {"department": "Sales", "employeeNumber": "7"},
            "urn:x:vendor": {"seat": "pro"},
            "abcé": 1
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let registry = Registry::standard();
        let view = registry.resource_type("User").unwrap();
        Projection::parse(attributes, excluded, view).unwrap().apply(&user(), view)
    }

    #[test]
    fn default_drops_never_returned_attributes() {
        let out = project(None, None);
        assert!(out.get("password").is_none());
        assert_eq!(out["title"], "CTO");
        assert_eq!(out["urn:x:vendor"]["seat"], "pro");
        assert_eq!(out["abcé"], 1);
    }

    #[test]
    fn attributes_keeps_what_is_named_plus_always() {
        let out = project(Some("userName,name.givenName,password"), None);
        assert_eq!(
            out,
            json!({"schemas": [schemas::USER, schemas::ENTERPRISE_USER], "id": "u1", "userName": "ann", "name": {"givenName": "Ann"}})
        );
        let out = project(Some(&format!("{}:department,emails.value", schemas::ENTERPRISE_USER)), None);
        assert_eq!(out[schemas::ENTERPRISE_USER], json!({"department": "Sales"}));
        assert_eq!(out["emails"], json!([{"value": "a@x"}]));
        let out = project(Some(schemas::ENTERPRISE_USER), None);
        assert_eq!(out[schemas::ENTERPRISE_USER]["employeeNumber"], "7");
        let out = project(Some(&format!("{}:userName", schemas::USER)), None);
        assert_eq!(out["userName"], "ann");
    }

    #[test]
    fn excluded_attributes_cannot_remove_always() {
        let out = project(None, Some("id,emails,name.familyName,title"));
        assert_eq!(out["id"], "u1");
        assert!(out.get("emails").is_none() && out.get("title").is_none());
        assert_eq!(out["name"], json!({"givenName": "Ann"}));
        let out = project(None, Some(schemas::ENTERPRISE_USER));
        assert!(out.get(schemas::ENTERPRISE_USER).is_none());
        let registry = Registry::standard();
        let groups = registry.resource_type("Group").unwrap();
        let group = json!({"schemas": [schemas::GROUP], "id": "g", "displayName": "Eng", "members": [{"value": "u1"}]});
        let out = Projection::parse(None, Some("members"), groups).unwrap().apply(&group, groups);
        assert_eq!(out, json!({"schemas": [schemas::GROUP], "id": "g", "displayName": "Eng"}));
        assert!(Projection::parse(Some("a b"), None, groups).is_err());
    }
}
