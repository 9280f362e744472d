//! Tenants, their admins and API tokens.

use sqlx::any::AnyRow;
use tenure_core::{AdminId, AppId, Role, TenantId, TokenId};

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

/// A tenant: one organization of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created_ms: i64,
}

/// An admin of one tenant. The password hash never leaves the store but through
/// [`Store::admin_password_hash`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminRecord {
    pub id: AdminId,
    pub email: String,
    pub role: Role,
    /// The apps an app admin administers (empty for the other roles).
    pub apps: Vec<AppId>,
    pub has_password: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A token as authentication sees it.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub scope: TokenScope,
    pub label: Option<String>,
    /// The admin the token acts as; `None` for a SCIM token or an older admin token (which acts
    /// as an org admin).
    pub admin: Option<AdminRecord>,
    pub expires_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

/// A token as admins list it: never its secret, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub scope: TokenScope,
    pub label: Option<String>,
    /// The admin's email, for a token that belongs to one.
    pub admin: Option<String>,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

/// How often a token's last use is written: once a minute at most, so a busy API client does
/// not cost a write per request.
const LAST_USE_GRANULARITY_MS: i64 = 60_000;

pub(crate) const ADMIN_COLUMNS: &str = "id, email, role, apps, password_hash, created_ms, updated_ms";

pub(crate) fn admin_from_row(r: &AnyRow) -> Result<AdminRecord, StoreError> {
    let role = text(r, "role")?;
    Ok(AdminRecord {
        id: parsed(r, "id")?,
        email: text(r, "email")?,
        role: role.parse().map_err(StoreError::corrupt)?,
        apps: json(r, "apps")?,
        has_password: opt_text(r, "password_hash")?.is_some(),
        created_ms: int(r, "created_ms")?,
        updated_ms: int(r, "updated_ms")?,
    })
}

impl Store {
    /// The tenant with this name, created on first use. Only for the default tenant and for
    /// set-ups that own their database (tests, benchmarks, the demo): a name an admin typed goes
    /// through [`Store::tenant_by_name`] so a typo is an error, never a new tenant.
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

    /// Every tenant of the deployment, by name.
    pub async fn list_tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_ms FROM tenants ORDER BY name").fetch_all(self.read_pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(TenantRecord { id: parsed(r, "id")?, name: text(r, "name")?, created_ms: int(r, "created_ms")? })
            })
            .collect()
    }

    /// Stores a token by its hash; the token itself is never stored.
    pub async fn insert_token(
        &self,
        tenant: TenantId,
        scope: TokenScope,
        hash: &str,
        label: Option<&str>,
    ) -> Result<TokenId, StoreError> {
        let mut tx = self.begin().await?;
        let id = tx.insert_token(tenant, scope, hash, label, None, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The token whose hash this is, with the admin it acts as. An expired token is no token.
    /// Looking up by a hash of a high-entropy secret leaks nothing through timing that would
    /// help guess the secret.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.tenant_id, t.scope, t.label, t.admin_id, t.expires_ms, t.last_used_ms, \
             a.email, a.role, a.apps, a.password_hash, a.created_ms, a.updated_ms \
             FROM tokens t LEFT JOIN admins a ON a.id = t.admin_id WHERE t.hash = $1",
        )
        .bind(hash)
        .fetch_optional(self.read_pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_ms = opt_int(&row, "expires_ms")?;
        if expires_ms.is_some_and(|at| at <= now_ms()) {
            return Ok(None);
        }
        let scope_raw = text(&row, "scope")?;
        let admin = match opt_text(&row, "admin_id")? {
            None => None,
            Some(id) => {
                let role = text(&row, "role")?;
                Some(AdminRecord {
                    id: id.parse().map_err(|e| StoreError::corrupt(format!("admin id {id}: {e}")))?,
                    email: text(&row, "email")?,
                    role: role.parse().map_err(StoreError::corrupt)?,
                    apps: json(&row, "apps")?,
                    has_password: opt_text(&row, "password_hash")?.is_some(),
                    created_ms: int(&row, "created_ms")?,
                    updated_ms: int(&row, "updated_ms")?,
                })
            }
        };
        Ok(Some(TokenRecord {
            id: parsed(&row, "id")?,
            tenant_id: parsed(&row, "tenant_id")?,
            scope: TokenScope::parse(&scope_raw)
                .ok_or_else(|| StoreError::corrupt(format!("token scope {scope_raw}")))?,
            label: opt_text(&row, "label")?,
            admin,
            expires_ms,
            last_used_ms: opt_int(&row, "last_used_ms")?,
        }))
    }

    /// Records that a token was used now, at most once a minute per token.
    pub async fn touch_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let now = now_ms();
        if token.last_used_ms.is_some_and(|last| now - last < LAST_USE_GRANULARITY_MS) {
            return Ok(());
        }
        sqlx::query("UPDATE tokens SET last_used_ms = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(now)
            .bind(token.id.to_string())
            .bind(token.tenant_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's tokens, newest first.
    pub async fn list_tokens(&self, tenant: TenantId) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.scope, t.label, t.created_ms, t.expires_ms, t.last_used_ms, a.email \
             FROM tokens t LEFT JOIN admins a ON a.id = t.admin_id WHERE t.tenant_id = $1 \
             ORDER BY t.created_ms DESC, t.id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                let scope = text(r, "scope")?;
                Ok(TokenInfo {
                    id: parsed(r, "id")?,
                    scope: TokenScope::parse(&scope)
                        .ok_or_else(|| StoreError::corrupt(format!("token scope {scope}")))?,
                    label: opt_text(r, "label")?,
                    admin: opt_text(r, "email")?,
                    created_ms: int(r, "created_ms")?,
                    expires_ms: opt_int(r, "expires_ms")?,
                    last_used_ms: opt_int(r, "last_used_ms")?,
                })
            })
            .collect()
    }

    /// The tenant's admins, by email.
    pub async fn list_admins(&self, tenant: TenantId) -> Result<Vec<AdminRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 ORDER BY email"
        )))
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(admin_from_row).collect()
    }

    /// The admin with this email (compared without case).
    pub async fn admin_by_email(&self, tenant: TenantId, email: &str) -> Result<Option<AdminRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 AND email = $2"
        )))
        .bind(tenant.to_string())
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    /// The stored argon2id hash of an admin's password, if they have one.
    pub async fn admin_password_hash(&self, tenant: TenantId, admin: AdminId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM admins WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(admin.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| opt_text(&r, "password_hash")).transpose()?.flatten())
    }
}
