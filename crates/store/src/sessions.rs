//! The web console's sessions: who may sign in with an email, and the sessions they hold, by the
//! hash of the id their browser keeps.

use tenure_core::{AdminId, TenantId};

use crate::row::*;
use crate::tenancy::{ADMIN_COLUMNS, admin_from_row};
use crate::{AdminRecord, Store, StoreError, Tx, now_ms};

/// An admin of some tenant with this email and a password.
#[derive(Debug, Clone)]
pub struct SignInCandidate {
    pub tenant: TenantId,
    pub admin: AdminRecord,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// A session still open, with the admin as they are now (role and apps read at each request).
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub tenant: TenantId,
    pub admin: AdminRecord,
    pub csrf: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub expires_ms: i64,
}

/// How often a session's last use is written: a page's few requests cost one write at most.
const LAST_SEEN_GRANULARITY_MS: i64 = 30_000;

impl Store {
    /// Every admin with this email who has a password, in any tenant (an email may administer
    /// several), oldest first.
    pub async fn sign_in_candidates(&self, email: &str) -> Result<Vec<SignInCandidate>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT tenant_id, {ADMIN_COLUMNS} FROM admins WHERE email = $1 AND password_hash IS NOT NULL \
             ORDER BY created_ms, id"
        )))
        .bind(email.trim().to_lowercase())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignInCandidate {
                    tenant: parsed(r, "tenant_id")?,
                    admin: admin_from_row(r)?,
                    password_hash: text(r, "password_hash")?,
                })
            })
            .collect()
    }

    /// The open session whose id hashes to `id_hash`: `None` when there is none, it has been
    /// idle longer than `idle_ms`, or it has reached its end. Records its use.
    pub async fn console_session(&self, id_hash: &str, idle_ms: i64) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.tenant_id, s.csrf, s.created_ms AS s_created_ms, s.last_seen_ms, s.expires_ms, \
             a.id, a.email, a.role, a.apps, a.password_hash, a.created_ms, a.updated_ms \
             FROM console_sessions s JOIN admins a ON a.id = s.admin_id AND a.tenant_id = s.tenant_id \
             WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.read_pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = ConsoleSession {
            tenant: parsed(&row, "tenant_id")?,
            admin: admin_from_row(&row)?,
            csrf: text(&row, "csrf")?,
            created_ms: int(&row, "s_created_ms")?,
            last_seen_ms: int(&row, "last_seen_ms")?,
            expires_ms: int(&row, "expires_ms")?,
        };
        let now = now_ms();
        if now >= session.expires_ms || now - session.last_seen_ms > idle_ms {
            sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
            return Ok(None);
        }
        if now - session.last_seen_ms >= LAST_SEEN_GRANULARITY_MS {
            sqlx::query("UPDATE console_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(session))
    }

    /// Forgets sessions past their end or idle longer than `idle_ms` (any tenant).
    pub async fn purge_console_sessions(&self, idle_ms: i64) -> Result<u64, StoreError> {
        let now = now_ms();
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1 OR last_seen_ms < $2")
            .bind(now)
            .bind(now - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

impl Tx {
    /// Opens a session lasting at most `lifetime_ms`.
    pub async fn insert_console_session(
        &mut self,
        tenant: TenantId,
        admin: AdminId,
        id_hash: &str,
        csrf: &str,
        lifetime_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, tenant_id, admin_id, csrf, created_ms, last_seen_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(id_hash)
        .bind(tenant.to_string())
        .bind(admin.to_string())
        .bind(csrf)
        .bind(now)
        .bind(now.saturating_add(lifetime_ms))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Ends one session of the tenant; true when it was open.
    pub async fn delete_console_session(&mut self, tenant: TenantId, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE tenant_id = $1 AND id_hash = $2")
            .bind(tenant.to_string())
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of an admin (removed, or their password changed).
    pub async fn end_admin_sessions(&mut self, tenant: TenantId, admin: AdminId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE tenant_id = $1 AND admin_id = $2")
            .bind(tenant.to_string())
            .bind(admin.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}
