//! The User attributes the sandbox knows. PATCH paths are checked against this table and
//! `/Schemas` is generated from it, so what the apps advertise is exactly what they accept.

use serde_json::{Value, json};
use tenure_scim::schemas;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Core,
    Enterprise,
}

impl Container {
    pub(crate) fn urn(self) -> &'static str {
        match self {
            Self::Core => schemas::USER,
            Self::Enterprise => schemas::ENTERPRISE_USER,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Simple,
    Complex,
    MultiValued,
    ReadOnly,
}

#[derive(Debug)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    /// RFC 7643 data type of a simple attribute.
    pub ty: &'static str,
    pub subs: &'static [&'static str],
}

const fn simple(name: &'static str, ty: &'static str) -> Attr {
    Attr { name, kind: Kind::Simple, ty, subs: &[] }
}

const NAME_SUBS: &[&str] =
    &["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"];
const CONTACT_SUBS: &[&str] = &["value", "display", "type", "primary"];
const ADDRESS_SUBS: &[&str] =
    &["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary"];

pub(crate) const CORE: &[Attr] = &[
    Attr { name: "id", kind: Kind::ReadOnly, ty: "string", subs: &[] },
    Attr { name: "meta", kind: Kind::ReadOnly, ty: "complex", subs: &[] },
    simple("externalId", "string"),
    simple("userName", "string"),
    Attr { name: "name", kind: Kind::Complex, ty: "complex", subs: NAME_SUBS },
    simple("displayName", "string"),
    simple("nickName", "string"),
    simple("profileUrl", "reference"),
    simple("title", "string"),
    simple("userType", "string"),
    simple("preferredLanguage", "string"),
    simple("locale", "string"),
    simple("timezone", "string"),
    simple("active", "boolean"),
    Attr { name: "emails", kind: Kind::MultiValued, ty: "complex", subs: CONTACT_SUBS },
    Attr { name: "phoneNumbers", kind: Kind::MultiValued, ty: "complex", subs: CONTACT_SUBS },
    Attr { name: "addresses", kind: Kind::MultiValued, ty: "complex", subs: ADDRESS_SUBS },
];

pub(crate) const ENTERPRISE: &[Attr] = &[
    simple("employeeNumber", "string"),
    simple("costCenter", "string"),
    simple("organization", "string"),
    simple("division", "string"),
    simple("department", "string"),
    Attr { name: "manager", kind: Kind::Complex, ty: "complex", subs: &["value", "$ref", "displayName"] },
];

pub(crate) fn attrs(container: Container) -> &'static [Attr] {
    match container {
        Container::Core => CORE,
        Container::Enterprise => ENTERPRISE,
    }
}

/// Attribute names are case-insensitive (RFC 7643 §2.1).
pub(crate) fn find(container: Container, name: &str) -> Option<&'static Attr> {
    attrs(container).iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

pub(crate) fn find_sub(attr: &Attr, name: &str) -> Option<&'static str> {
    attr.subs.iter().copied().find(|s| s.eq_ignore_ascii_case(name))
}

fn sub_type(sub: &str) -> &'static str {
    match sub {
        "primary" => "boolean",
        "$ref" => "reference",
        _ => "string",
    }
}

fn describe(attr: &Attr) -> Value {
    let mut out = json!({
        "name": attr.name,
        "type": attr.ty,
        "multiValued": attr.kind == Kind::MultiValued,
        "required": attr.name == "userName" || attr.name == "id",
        "caseExact": attr.name == "id",
        "mutability": if attr.kind == Kind::ReadOnly { "readOnly" } else { "readWrite" },
        "returned": if attr.name == "id" { "always" } else { "default" },
        "uniqueness": if attr.name == "userName" || attr.name == "id" { "server" } else { "none" },
    });
    if !attr.subs.is_empty() {
        out["subAttributes"] = attr
            .subs
            .iter()
            .map(|s| {
                json!({
                    "name": s, "type": sub_type(s), "multiValued": false, "required": false,
                    "caseExact": false, "mutability": "readWrite", "returned": "default",
                    "uniqueness": "none",
                })
            })
            .collect();
    }
    out
}

fn schema_doc(container: Container, base_url: &str) -> Value {
    let (name, description) = match container {
        Container::Core => ("User", "User Account"),
        Container::Enterprise => ("EnterpriseUser", "Enterprise User"),
    };
    let urn = container.urn();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attrs(container).iter().filter(|a| a.name != "meta").map(describe).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base_url}/Schemas/{urn}") },
    })
}

pub(crate) fn schemas_docs(base_url: &str) -> Vec<Value> {
    vec![schema_doc(Container::Core, base_url), schema_doc(Container::Enterprise, base_url)]
}

pub(crate) fn resource_type_doc(base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": schemas::USER,
        "schemaExtensions": [{ "schema": schemas::ENTERPRISE_USER, "required": false }],
        "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/User") },
    })
}

pub(crate) fn group_resource_type_doc(base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": schemas::GROUP,
        "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Group") },
    })
}

pub(crate) fn service_provider_config(base_url: &str, documentation_uri: &str, max_results: usize) -> Value {
    json!({
        "schemas": [schemas::SERVICE_PROVIDER_CONFIG],
        "documentationUri": documentation_uri,
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the app's SCIM token in an Authorization: Bearer header",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case() {
        let name = find(Container::Core, "NAME").unwrap();
        assert_eq!(find_sub(name, "givenname"), Some("givenName"));
        assert!(find(Container::Core, "department").is_none());
        assert!(find(Container::Enterprise, "Department").is_some());
    }

    #[test]
    fn schema_documents_describe_every_attribute() {
        let docs = schemas_docs("http://x/scim/v2");
        assert_eq!(docs[0]["id"], schemas::USER);
        let attrs = docs[0]["attributes"].as_array().unwrap();
        assert!(attrs.iter().any(|a| a["name"] == "emails" && a["multiValued"] == true));
        assert_eq!(docs[1]["id"], schemas::ENTERPRISE_USER);
    }
}
