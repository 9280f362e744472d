//! The schema registry: attribute definitions with their characteristics (RFC 7643 §2, §7) and
//! resource types (RFC 7643 §6). The filter evaluator, the PATCH engine, projection and request
//! validation all consult it, so one table decides case sensitivity, mutability and what is
//! returned.

mod core;
mod render;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json;
use crate::path::AttrPath;

pub use render::{AuthenticationScheme, ServiceProviderConfig};

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition, serialised exactly as `/Schemas` shows it (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: AttrType,
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    #[serde(default = "no_uniqueness")]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

fn no_uniqueness() -> Uniqueness {
    Uniqueness::None
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, default-returned attribute: RFC 7643 §2.2's defaults.
    pub fn new(name: impl Into<String>, ty: AttrType) -> Self {
        Self {
            name: name.into(),
            ty,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::String)
    }

    pub fn complex(name: impl Into<String>, sub_attributes: Vec<AttributeDef>) -> Self {
        Self { sub_attributes, ..Self::new(name, AttrType::Complex) }
    }

    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    pub fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    pub fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    pub fn references(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// The sub-attribute called `name`, ignoring case.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

/// A schema (RFC 7643 §7): an id (URN) and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaExtension {
    pub schema: String,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): which core schema and extensions an endpoint serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    #[serde(default)]
    pub description: String,
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_extensions: Vec<SchemaExtension>,
}

/// Every schema and resource type a server speaks, plus the common attributes (`id`,
/// `externalId`, `meta`; RFC 7643 §3.1) that belong to every resource but to no schema.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    schemas: Vec<Schema>,
    resource_types: Vec<ResourceType>,
    common: Vec<AttributeDef>,
}

static STANDARD: LazyLock<Registry> = LazyLock::new(Registry::core);

impl Registry {
    /// An empty registry that still knows the common attributes.
    pub fn new() -> Self {
        Self { schemas: Vec::new(), resource_types: Vec::new(), common: core::common_attributes() }
    }

    /// User (with the Enterprise User extension) and Group, as RFC 7643 §8.7.1 defines them.
    pub fn core() -> Self {
        let mut registry = Self::new();
        registry.add_schema(core::user_schema());
        registry.add_schema(core::enterprise_user_schema());
        registry.add_schema(core::group_schema());
        registry.add_resource_type(core::user_resource_type());
        registry.add_resource_type(core::group_resource_type());
        registry
    }

    /// A shared [`Registry::core`], for callers that have no registry of their own.
    pub fn standard() -> &'static Registry {
        &STANDARD
    }

    /// Adds a schema, replacing one with the same id (so a server can extend User, say).
    pub fn add_schema(&mut self, schema: Schema) {
        self.schemas.retain(|s| !s.id.eq_ignore_ascii_case(&schema.id));
        self.schemas.push(schema);
    }

    pub fn add_resource_type(&mut self, resource_type: ResourceType) {
        self.resource_types.retain(|r| !r.name.eq_ignore_ascii_case(&resource_type.name));
        self.resource_types.push(resource_type);
    }

    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    pub fn common_attributes(&self) -> &[AttributeDef] {
        &self.common
    }

    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// The resource type called `name` (`"User"`) or served at `endpoint` (`"/Users"`).
    pub fn resource_type(&self, name: &str) -> Option<ResourceView<'_>> {
        let rt = self.resource_types.iter().find(|r| {
            r.name.eq_ignore_ascii_case(name)
                || r.id.eq_ignore_ascii_case(name)
                || r.endpoint.trim_start_matches('/').eq_ignore_ascii_case(name.trim_start_matches('/'))
        })?;
        Some(ResourceView { registry: self, rt })
    }

    /// The resource type a resource's JSON belongs to: by `meta.resourceType`, else by the core
    /// schema listed in `schemas`.
    pub fn view_for(&self, resource: &Value) -> Option<ResourceView<'_>> {
        if let Some(name) = json::get_ci(resource, "meta").and_then(|m| json::get_ci(m, "resourceType"))
            && let Some(view) = name.as_str().and_then(|n| self.resource_type(n))
        {
            return Some(view);
        }
        let listed = json::get_ci(resource, "schemas")?.as_array()?;
        let rt = self
            .resource_types
            .iter()
            .find(|rt| listed.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&rt.schema))))?;
        Some(ResourceView { registry: self, rt })
    }
}

/// One resource type seen through its registry: the attributes a User (or Group, ...) may carry.
#[derive(Debug, Clone, Copy)]
pub struct ResourceView<'r> {
    registry: &'r Registry,
    rt: &'r ResourceType,
}

/// Where an attribute path leads.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'r> {
    /// The extension URN whose object holds the attribute; `None` for core and common attributes.
    pub extension: Option<&'r str>,
    pub attr: &'r AttributeDef,
    pub sub: Option<&'r AttributeDef>,
}

impl<'r> Resolved<'r> {
    /// The attribute the path finally names: the sub-attribute if there is one.
    pub fn target(&self) -> &'r AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

impl<'r> ResourceView<'r> {
    pub fn registry(&self) -> &'r Registry {
        self.registry
    }

    pub fn resource_type(&self) -> &'r ResourceType {
        self.rt
    }

    pub fn core_schema(&self) -> Option<&'r Schema> {
        self.registry.schema(&self.rt.schema)
    }

    /// The extension schemas this resource type allows, with whether each is required.
    pub fn extensions(&self) -> impl Iterator<Item = (&'r Schema, bool)> + 'r {
        let registry = self.registry;
        self.rt.schema_extensions.iter().filter_map(move |e| Some((registry.schema(&e.schema)?, e.required)))
    }

    /// The extension schema with this URN, if the resource type allows it.
    pub fn extension(&self, urn: &str) -> Option<&'r Schema> {
        self.extensions().map(|(s, _)| s).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn is_core_urn(&self, urn: &str) -> bool {
        urn.eq_ignore_ascii_case(&self.rt.schema)
    }

    /// Every schema URN of this resource type, core first; parsers use it to split a URN-qualified
    /// path at the right colon.
    pub fn schema_urns(&self) -> Vec<&'r str> {
        let mut urns = vec![self.rt.schema.as_str()];
        urns.extend(self.rt.schema_extensions.iter().map(|e| e.schema.as_str()));
        urns
    }

    /// A top-level attribute: `urn` may name the core schema, an extension, or be absent.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<Resolved<'r>> {
        match urn {
            Some(urn) if !self.is_core_urn(urn) => {
                let schema = self.extension(urn)?;
                let attr = schema.attribute(name)?;
                Some(Resolved { extension: Some(schema.id.as_str()), attr, sub: None })
            }
            _ => {
                let attr = self
                    .core_schema()
                    .and_then(|s| s.attribute(name))
                    .or_else(|| self.registry.common.iter().find(|a| a.name.eq_ignore_ascii_case(name)))?;
                Some(Resolved { extension: None, attr, sub: None })
            }
        }
    }

    /// Resolves a whole path; `None` when the registry does not know it.
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved<'r>> {
        let mut resolved = self.attribute(path.urn.as_deref(), &path.name)?;
        if let Some(sub) = &path.sub {
            resolved.sub = Some(resolved.attr.sub_attribute(sub)?);
        }
        Some(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas;
    use serde_json::json;

    #[test]
    fn resolves_core_common_and_extension_attributes() {
        let registry = Registry::core();
        let user = registry.resource_type("Users").unwrap();
        let r = user.resolve(&AttrPath::parse("emails.VALUE").unwrap()).unwrap();
        assert_eq!(r.attr.name, "emails");
        assert_eq!(r.target().name, "value");
        assert!(user.resolve(&AttrPath::parse("id").unwrap()).unwrap().attr.case_exact);
        let manager = AttrPath::parse(&format!("{}:manager.value", schemas::ENTERPRISE_USER)).unwrap();
        let r = user.resolve(&manager).unwrap();
        assert_eq!(r.extension, Some(schemas::ENTERPRISE_USER));
        let core_qualified = AttrPath::parse(&format!("{}:userName", schemas::USER)).unwrap();
        assert!(user.resolve(&core_qualified).unwrap().extension.is_none());
        assert!(user.resolve(&AttrPath::parse("nope").unwrap()).is_none());
        assert!(registry.resource_type("Group").unwrap().resolve(&AttrPath::parse("userName").unwrap()).is_none());
    }

    #[test]
    fn finds_the_resource_type_of_a_resource() {
        let registry = Registry::core();
        let group = json!({"schemas": [schemas::GROUP], "displayName": "x"});
        assert_eq!(registry.view_for(&group).unwrap().resource_type().name, "Group");
        let by_meta = json!({"meta": {"resourceType": "User"}});
        assert_eq!(registry.view_for(&by_meta).unwrap().resource_type().name, "User");
        assert!(registry.view_for(&json!({})).is_none());
    }
}
