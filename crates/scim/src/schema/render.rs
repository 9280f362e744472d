//! The discovery documents a server serves: `/Schemas` (RFC 7643 §7), `/ResourceTypes` (§6) and
//! `/ServiceProviderConfig` (§5). Locations are built from the caller's base URL because only the
//! server knows where it is mounted.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Registry, ResourceType, Schema};
use crate::list::ListResponse;
use crate::schemas;

fn location(base_url: &str, endpoint: &str, id: &str) -> String {
    format!("{}/{endpoint}/{id}", base_url.trim_end_matches('/'))
}

impl Registry {
    /// One schema as `/Schemas/{id}` returns it.
    pub fn schema_document(&self, schema: &Schema, base_url: &str) -> Value {
        json!({
            "schemas": [schemas::SCHEMA],
            "id": schema.id,
            "name": schema.name,
            "description": schema.description,
            "attributes": schema.attributes,
            "meta": {"resourceType": "Schema", "location": location(base_url, "Schemas", &schema.id)},
        })
    }

    /// `/Schemas` as a ListResponse.
    pub fn schemas_document(&self, base_url: &str) -> ListResponse<Value> {
        let docs: Vec<Value> = self.schemas().iter().map(|s| self.schema_document(s, base_url)).collect();
        ListResponse::new(docs.len() as u64, 1, docs)
    }

    /// One resource type as `/ResourceTypes/{name}` returns it.
    pub fn resource_type_document(&self, rt: &ResourceType, base_url: &str) -> Value {
        let mut doc = json!({
            "schemas": [schemas::RESOURCE_TYPE],
            "id": rt.id,
            "name": rt.name,
            "endpoint": rt.endpoint,
            "description": rt.description,
            "schema": rt.schema,
            "meta": {"resourceType": "ResourceType", "location": location(base_url, "ResourceTypes", &rt.name)},
        });
        if !rt.schema_extensions.is_empty()
            && let Some(obj) = doc.as_object_mut()
        {
            obj.insert("schemaExtensions".to_owned(), json!(rt.schema_extensions));
        }
        doc
    }

    /// `/ResourceTypes` as a ListResponse.
    pub fn resource_types_document(&self, base_url: &str) -> ListResponse<Value> {
        let docs: Vec<Value> =
            self.resource_types().iter().map(|rt| self.resource_type_document(rt, base_url)).collect();
        ListResponse::new(docs.len() as u64, 1, docs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationScheme {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    #[serde(default)]
    pub primary: bool,
}

impl AuthenticationScheme {
    pub fn bearer_token() -> Self {
        Self {
            kind: "oauthbearertoken".to_owned(),
            name: "OAuth Bearer Token".to_owned(),
            description: "Authentication with a bearer token in the Authorization header".to_owned(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".to_owned()),
            documentation_uri: None,
            primary: true,
        }
    }
}

/// What a server supports (RFC 7643 §5). Defaults describe this library: PATCH, filtering, ETags
/// and bearer tokens yes; bulk, sorting and password change no.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceProviderConfig {
    pub documentation_uri: Option<String>,
    pub patch: bool,
    pub bulk: Option<(u32, u64)>,
    pub filter_max_results: Option<u32>,
    pub change_password: bool,
    pub sort: bool,
    pub etag: bool,
    pub authentication_schemes: Vec<AuthenticationScheme>,
    /// Most operations one PATCH request may hold, advertised in the limits extension.
    pub patch_max_operations: Option<u32>,
    /// Most comparisons one filter may hold, advertised in the limits extension.
    pub filter_max_terms: Option<u32>,
}

impl Default for ServiceProviderConfig {
    fn default() -> Self {
        Self {
            documentation_uri: None,
            patch: true,
            bulk: None,
            filter_max_results: Some(200),
            change_password: false,
            sort: false,
            etag: true,
            authentication_schemes: vec![AuthenticationScheme::bearer_token()],
            patch_max_operations: None,
            filter_max_terms: None,
        }
    }
}

impl ServiceProviderConfig {
    /// The `/ServiceProviderConfig` document.
    pub fn document(&self, base_url: &str) -> Value {
        let (bulk_ops, bulk_size) = self.bulk.unwrap_or((0, 0));
        let mut doc = json!({
            "schemas": [schemas::SERVICE_PROVIDER_CONFIG],
            "patch": {"supported": self.patch},
            "bulk": {"supported": self.bulk.is_some(), "maxOperations": bulk_ops, "maxPayloadSize": bulk_size},
            "filter": {"supported": self.filter_max_results.is_some(), "maxResults": self.filter_max_results.unwrap_or(0)},
            "changePassword": {"supported": self.change_password},
            "sort": {"supported": self.sort},
            "etag": {"supported": self.etag},
            "authenticationSchemes": self.authentication_schemes,
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
            },
        });
        if let (Some(uri), Some(obj)) = (&self.documentation_uri, doc.as_object_mut()) {
            obj.insert("documentationUri".to_owned(), json!(uri));
        }
        if (self.patch_max_operations.is_some() || self.filter_max_terms.is_some())
            && let Some(obj) = doc.as_object_mut()
        {
            let mut limits = serde_json::Map::new();
            if let Some(n) = self.patch_max_operations {
                limits.insert("patchMaxOperations".to_owned(), json!(n));
            }
            if let Some(n) = self.filter_max_terms {
                limits.insert("filterMaxTerms".to_owned(), json!(n));
            }
            obj.insert("schemas".to_owned(), json!([schemas::SERVICE_PROVIDER_CONFIG, schemas::LIMITS_EXTENSION]));
            obj.insert(schemas::LIMITS_EXTENSION.to_owned(), Value::Object(limits));
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_discovery_documents() {
        let registry = Registry::core();
        let list = serde_json::to_value(registry.schemas_document("https://x/scim/v2/")).unwrap();
        assert_eq!(list["totalResults"], 3);
        let user = &list["Resources"][0];
        assert_eq!(user["id"], schemas::USER);
        assert_eq!(user["meta"]["location"], format!("https://x/scim/v2/Schemas/{}", schemas::USER));
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["type"], "string");
        assert_eq!(user_name["multiValued"], false);
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["returned"], "default");
        assert_eq!(user_name["uniqueness"], "server");
        let emails = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"][2]["canonicalValues"][0], "work");
        let password = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");

        let types = serde_json::to_value(registry.resource_types_document("https://x")).unwrap();
        assert_eq!(types["Resources"][0]["endpoint"], "/Users");
        assert_eq!(types["Resources"][0]["schemaExtensions"][0]["schema"], schemas::ENTERPRISE_USER);
        assert!(types["Resources"][1].get("schemaExtensions").is_none());

        let spc = ServiceProviderConfig::default().document("https://x");
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(spc["schemas"][0], schemas::SERVICE_PROVIDER_CONFIG);
    }
}
