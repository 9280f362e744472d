//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4), rendered by the protocol
//! library from the registry, so what is advertised is what the code does.

use serde_json::Value;
use tenure_scim::ScimError;
use tenure_scim::schema::{Registry, ServiceProviderConfig};

use super::bulk::{MAX_OPERATIONS, MAX_PAYLOAD};
use super::query::PAGE_CAP;

pub fn service_provider_config(base: &str) -> Value {
    ServiceProviderConfig {
        documentation_uri: None,
        patch: true,
        bulk: Some((MAX_OPERATIONS as u32, MAX_PAYLOAD as u64)),
        filter_max_results: Some(PAGE_CAP as u32),
        change_password: false,
        sort: true,
        etag: true,
        authentication_schemes: vec![tenure_scim::schema::AuthenticationScheme::bearer_token()],
        patch_max_operations: Some(tenure_scim::patch::MAX_OPERATIONS as u32),
        filter_max_terms: Some(tenure_scim::filter::MAX_TERMS as u32),
    }
    .document(base)
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn resource_types(base: &str) -> Value {
    to_value(Registry::standard().resource_types_document(base))
}

pub fn resource_type(base: &str, id: &str) -> Result<Value, ScimError> {
    let registry = Registry::standard();
    registry
        .resource_types()
        .iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(id) || rt.name.eq_ignore_ascii_case(id))
        .map(|rt| registry.resource_type_document(rt, base))
        .ok_or_else(|| ScimError::not_found(format!("resource type {id} not found")))
}

pub fn schemas(base: &str) -> Value {
    to_value(Registry::standard().schemas_document(base))
}

pub fn schema(base: &str, id: &str) -> Result<Value, ScimError> {
    let registry = Registry::standard();
    registry
        .schema(id)
        .map(|s| registry.schema_document(s, base))
        .ok_or_else(|| ScimError::not_found(format!("schema {id} not found")))
}
