//! Tenants: created and listed explicitly, from the command line only. A token belongs to
//! exactly one tenant, so creating tenants over the API would need a credential above every
//! tenant; the operator who holds the database (and its keys) creates them instead.

use serde_json::json;
use tenure_core::TenantId;
use tenure_store::{AuditRecord, Store};

use super::Actor;
use super::views::TenantView;
use crate::EngineError;

/// The tenant every deployment has: someone who never says `--tenant` works in it.
pub const DEFAULT_TENANT: &str = "default";

/// Creates a tenant; a name in use is a conflict. Audited in the new tenant's log.
pub async fn create_tenant(store: &Store, name: &str, actor: &Actor) -> Result<TenantView, EngineError> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(EngineError::field(
            "name",
            format!("{name:?}: 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"),
        ));
    }
    let mut tx = store.begin().await?;
    let tenant = tx.create_tenant(name).await?;
    let detail = json!({"name": name});
    let record = AuditRecord {
        actor: &actor.name,
        action: "tenant.create",
        subject: name,
        person: None,
        app: None,
        detail: &detail,
    };
    tx.audit(tenant.id, record).await?;
    tx.commit().await?;
    Ok(TenantView { id: tenant.id, name: tenant.name, created_ms: tenant.created_ms })
}

pub async fn list_tenants(store: &Store) -> Result<Vec<TenantView>, EngineError> {
    Ok(store
        .list_tenants()
        .await?
        .into_iter()
        .map(|t| TenantView { id: t.id, name: t.name, created_ms: t.created_ms })
        .collect())
}

/// The tenant a name given by an admin (`--tenant`) names. The default tenant is created on
/// first use, so a single organization never needs to know tenants exist; any other name must
/// exist: a typo is an error naming the known tenants, never a new tenant.
pub async fn resolve_tenant(store: &Store, name: &str) -> Result<TenantId, EngineError> {
    if name == DEFAULT_TENANT {
        return Ok(store.ensure_tenant(DEFAULT_TENANT).await?);
    }
    if let Some(id) = store.tenant_by_name(name).await? {
        return Ok(id);
    }
    let known: Vec<String> = store.list_tenants().await?.into_iter().map(|t| t.name).collect();
    Err(EngineError::NotFound(format!(
        "tenant {name:?} (known tenants: {}; create one with `tenure tenant create NAME`)",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )))
}
