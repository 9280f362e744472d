//! Tenants and API tokens.

use tenure_core::{TenantId, TokenId};

use crate::row::*;
use crate::{Store, StoreError, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    Admin,
    Scim,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Scim => "scim",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "scim" => Some(Self::Scim),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub scope: TokenScope,
}

impl Store {
    /// The tenant with this name, created on first use.
    pub async fn ensure_tenant(&self, name: &str) -> Result<TenantId, StoreError> {
        if let Some(id) = self.tenant_by_name(name).await? {
            return Ok(id);
        }
        let id = TenantId::new();
        sqlx::query("INSERT INTO tenants (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(id.to_string())
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        // Another process may have won the race; whatever row exists now is the tenant.
        self.tenant_by_name(name).await?.ok_or_else(|| StoreError::NotFound(format!("tenant {name}")))
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<TenantId>, StoreError> {
        let row = sqlx::query("SELECT id FROM tenants WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.map(|r| parsed(&r, "id")).transpose()
    }

    /// Stores a token by its hash; the token itself is never stored.
    pub async fn insert_token(
        &self,
        tenant: TenantId,
        scope: TokenScope,
        hash: &str,
        label: Option<&str>,
    ) -> Result<TokenId, StoreError> {
        let id = TokenId::new();
        sqlx::query(
            "INSERT INTO tokens (id, tenant_id, scope, hash, label, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(scope.as_str())
        .bind(hash)
        .bind(label)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(crate::error::on_unique("token"))?;
        Ok(id)
    }

    /// The token whose hash this is. Looking up by a hash of a high-entropy secret leaks nothing
    /// through timing that would help guess the secret.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query("SELECT id, tenant_id, scope FROM tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let scope_raw = text(&row, "scope")?;
        Ok(Some(TokenRecord {
            id: parsed(&row, "id")?,
            tenant_id: parsed(&row, "tenant_id")?,
            scope: TokenScope::parse(&scope_raw)
                .ok_or_else(|| StoreError::corrupt(format!("token scope {scope_raw}")))?,
        }))
    }
}
