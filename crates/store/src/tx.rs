//! A write transaction for configuration changes: the change and its audit entry (and the dirty
//! marks that make propagation plan it) commit together or not at all. The engine's admin
//! commands are its callers; see `crates/engine/src/admin/`.
//!
//! On SQLite the transaction holds the one writer connection until it commits: nothing inside
//! it may wait for another write through the store.

use sqlx::{Any, Transaction};
use tenure_core::*;

use crate::crypto::Keyring;
use crate::queue::DirtyMark;
use crate::row::*;
use crate::tenancy::{ADMIN_COLUMNS, AdminRecord, TenantRecord, TokenScope, admin_from_row};
use crate::{AppAuth, Backend, Store, StoreError, StoredAccount, now_ms};

/// One audit entry, written in the transaction of the change it records.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecord<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// The person the entry is about, by email.
    pub person: Option<&'a str>,
    /// The app the entry is about, by name.
    pub app: Option<&'a str>,
    pub detail: &'a serde_json::Value,
}

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) keyring: std::sync::Arc<Keyring>,
    backend: Backend,
}

/// The new state of an app's row: what an edit writes in full, compared and set on `version`.
#[derive(Debug, Clone)]
pub struct AppRow<'a> {
    pub name: &'a str,
    pub base_url: &'a str,
    pub settings: &'a AppSettings,
    pub auth: &'a AppAuth,
    /// A new credential, or `None` to keep the stored one.
    pub secret: Option<&'a Secret>,
    pub disabled: bool,
}

impl Store {
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(Tx { tx: self.write_tx().await?, keyring: self.keyring.clone(), backend: self.backend })
    }

    /// One operation of the tenant, by id (to check who may act on it).
    pub async fn operation(
        &self,
        tenant: TenantId,
        op: OperationId,
    ) -> Result<Option<crate::OperationRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, plan_id, seq, body, status, attempts, last_error, remote_id, not_before_ms FROM operations \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(op.to_string())
        .fetch_optional(self.read_pool())
        .await?;
        row.as_ref().map(crate::queue::operation_from_row).transpose()
    }
}

impl Tx {
    /// The open transaction, for the `impl Tx` blocks of other modules (`licenses.rs`).
    pub(crate) fn inner(&mut self) -> &mut Transaction<'static, Any> {
        &mut self.tx
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn audit(&mut self, tenant: TenantId, entry: AuditRecord<'_>) -> Result<(), StoreError> {
        crate::audit::insert_audit(
            &mut self.tx,
            tenant,
            entry.actor,
            entry.action,
            entry.subject,
            entry.person,
            entry.app,
            entry.detail,
        )
        .await
    }

    pub async fn mark_dirty(&mut self, tenant: TenantId, marks: &[DirtyMark]) -> Result<(), StoreError> {
        crate::queue::mark_dirty_in(&mut self.tx, tenant, marks).await
    }

    // --- tenants -------------------------------------------------------------------------

    /// A new tenant; a name in use is a conflict, never the existing tenant.
    pub async fn create_tenant(&mut self, name: &str) -> Result<TenantRecord, StoreError> {
        let record = TenantRecord { id: TenantId::new(), name: name.to_owned(), created_ms: now_ms() };
        sqlx::query("INSERT INTO tenants (id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(record.id.to_string())
            .bind(name)
            .bind(record.created_ms)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::error::on_unique(format!("tenant {name}")))?;
        Ok(record)
    }

    // --- admins and tokens ---------------------------------------------------------------

    pub async fn insert_admin(
        &mut self,
        tenant: TenantId,
        email: &str,
        role: Role,
        apps: &[AppId],
        password_hash: Option<&str>,
    ) -> Result<AdminRecord, StoreError> {
        let now = now_ms();
        let email = email.trim().to_lowercase();
        let admin = AdminRecord {
            id: AdminId::new(),
            email: email.clone(),
            role,
            apps: apps.to_vec(),
            has_password: password_hash.is_some(),
            created_ms: now,
            updated_ms: now,
        };
        sqlx::query(
            "INSERT INTO admins (id, tenant_id, email, role, apps, password_hash, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(admin.id.to_string())
        .bind(tenant.to_string())
        .bind(&email)
        .bind(role.as_str())
        .bind(to_json(&admin.apps))
        .bind(password_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(crate::error::on_unique(format!("admin {email}")))?;
        Ok(admin)
    }

    /// Changes an admin's role, apps, and (with `Some`) password hash (`Some(None)` removes it).
    pub async fn update_admin(
        &mut self,
        tenant: TenantId,
        admin: AdminId,
        role: Role,
        apps: &[AppId],
        password_hash: Option<Option<&str>>,
    ) -> Result<AdminRecord, StoreError> {
        let done = match password_hash {
            Some(hash) => {
                // A new (or removed) password ends the sessions the old one opened.
                self.end_admin_sessions(tenant, admin).await?;
                sqlx::query(
                    "UPDATE admins SET role = $1, apps = $2, password_hash = $3, updated_ms = $4 \
                     WHERE tenant_id = $5 AND id = $6",
                )
                .bind(role.as_str())
                .bind(to_json(&apps))
                .bind(hash)
                .bind(now_ms())
                .bind(tenant.to_string())
                .bind(admin.to_string())
                .execute(&mut *self.tx)
                .await?
            }
            None => {
                sqlx::query("UPDATE admins SET role = $1, apps = $2, updated_ms = $3 WHERE tenant_id = $4 AND id = $5")
                    .bind(role.as_str())
                    .bind(to_json(&apps))
                    .bind(now_ms())
                    .bind(tenant.to_string())
                    .bind(admin.to_string())
                    .execute(&mut *self.tx)
                    .await?
            }
        };
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("admin {admin}")));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.to_string())
        .bind(admin.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        admin_from_row(&row)
    }

    /// Removes an admin and their tokens; true when there was one.
    pub async fn delete_admin(&mut self, tenant: TenantId, admin: AdminId) -> Result<bool, StoreError> {
        self.end_admin_sessions(tenant, admin).await?;
        sqlx::query("DELETE FROM tokens WHERE tenant_id = $1 AND admin_id = $2")
            .bind(tenant.to_string())
            .bind(admin.to_string())
            .execute(&mut *self.tx)
            .await?;
        let done = sqlx::query("DELETE FROM admins WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(admin.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many org admins the tenant has, read inside the transaction (so "never the last org
    /// admin" holds when two removals race: on PostgreSQL the rows are locked).
    pub async fn org_admin_count(&mut self, tenant: TenantId) -> Result<i64, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM admins WHERE tenant_id = $1 AND role = $2{lock}")))
                .bind(tenant.to_string())
                .bind(Role::OrgAdmin.as_str())
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(rows.len() as i64)
    }

    pub async fn insert_token(
        &mut self,
        tenant: TenantId,
        scope: TokenScope,
        hash: &str,
        label: Option<&str>,
        admin: Option<AdminId>,
        expires_ms: Option<i64>,
    ) -> Result<TokenId, StoreError> {
        let id = TokenId::new();
        sqlx::query(
            "INSERT INTO tokens (id, tenant_id, scope, hash, label, created_ms, admin_id, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(scope.as_str())
        .bind(hash)
        .bind(label)
        .bind(now_ms())
        .bind(admin.map(|a| a.to_string()))
        .bind(expires_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(crate::error::on_unique("token"))?;
        Ok(id)
    }

    /// Revokes a token; true when the tenant had it.
    pub async fn delete_token(&mut self, tenant: TenantId, token: TokenId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(token.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // --- apps --------------------------------------------------------------------------------

    pub async fn insert_app(&mut self, tenant: TenantId, kind: AppKind, row: &AppRow<'_>) -> Result<App, StoreError> {
        let app = App {
            id: AppId::new(),
            name: row.name.to_owned(),
            kind,
            base_url: row.base_url.to_owned(),
            settings: row.settings.clone(),
        };
        let (tenant_text, app_text) = (tenant.to_string(), app.id.to_string());
        let secret =
            row.secret.ok_or_else(|| StoreError::Invalid(format!("app {}: a credential is required", row.name)))?;
        let sealed = self.seal(&tenant_text, &app_text, row.name, secret)?;
        sqlx::query(
            "INSERT INTO apps (id, tenant_id, name, kind, base_url, secret, config, created_ms, auth, version, disabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10)",
        )
        .bind(&app_text)
        .bind(&tenant_text)
        .bind(row.name)
        .bind(crate::policy::kind_text(kind))
        .bind(row.base_url)
        .bind(sealed)
        .bind(to_json(row.settings))
        .bind(now_ms())
        .bind(crate::policy::auth_json(row.auth))
        .bind(i64::from(row.disabled))
        .execute(&mut *self.tx)
        .await
        .map_err(crate::error::on_unique(format!("app {}", row.name)))?;
        // A new app's accounts are to be read and matched.
        self.mark_dirty(tenant, &[DirtyMark::app(app.id)]).await?;
        Ok(app)
    }

    /// Rewrites an app's row if its version is still `expected`; returns the new version. A
    /// change of settings, URL or credentials marks the app to be planned again.
    pub async fn update_app(
        &mut self,
        tenant: TenantId,
        app: AppId,
        expected: i64,
        row: &AppRow<'_>,
    ) -> Result<i64, StoreError> {
        let (tenant_text, app_text) = (tenant.to_string(), app.to_string());
        let sealed = row.secret.map(|s| self.seal(&tenant_text, &app_text, row.name, s)).transpose()?;
        let done = sqlx::query(
            "UPDATE apps SET base_url = $1, config = $2, auth = $3, secret = COALESCE($4, secret), disabled = $5, \
             version = version + 1 WHERE tenant_id = $6 AND id = $7 AND version = $8",
        )
        .bind(row.base_url)
        .bind(to_json(row.settings))
        .bind(crate::policy::auth_json(row.auth))
        .bind(sealed)
        .bind(i64::from(row.disabled))
        .bind(&tenant_text)
        .bind(&app_text)
        .bind(expected)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            let current = self.app_version(tenant, app).await?;
            return Err(StoreError::Stale { what: format!("app {}", row.name), expected, current });
        }
        self.mark_dirty(tenant, &[DirtyMark::app(app)]).await?;
        Ok(expected + 1)
    }

    async fn app_version(&mut self, tenant: TenantId, app: AppId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM apps WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("app {app}")))?;
        int(&row, "version")
    }

    /// Removes an app and what Tenure keeps about it (assignments, links, marks, grants, licenses, its
    /// health and its marks for propagation); its queued operations are dismissed. Nothing is
    /// done in the app itself.
    pub async fn delete_app(&mut self, tenant: TenantId, app: AppId, expected: i64) -> Result<(), StoreError> {
        let current = self.app_version(tenant, app).await?;
        if current != expected {
            return Err(StoreError::Stale { what: format!("app {app}"), expected, current });
        }
        let (t, a) = (tenant.to_string(), app.to_string());
        for sql in [
            "UPDATE operations SET status = 'dismissed', last_error = 'the app was removed', lease_owner = NULL, \
             lease_until_ms = NULL WHERE tenant_id = $1 AND app_id = $2 AND status = 'pending'",
            "DELETE FROM dirty WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM oauth_authorizations WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM app_oauth_grants WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM account_marks WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM app_list_reads WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM plan_reads WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM license_pools WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM license_activity WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM license_seats WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM license_waiting WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM accounts WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM assignments WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM app_health WHERE tenant_id = $1 AND app_id = $2",
            "DELETE FROM apps WHERE tenant_id = $1 AND id = $2",
        ] {
            sqlx::query(sql).bind(&t).bind(&a).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Lifts an app's quarantine (its failure count and pause); true when it had one.
    pub async fn clear_app_health(&mut self, tenant: TenantId, app: AppId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM app_health WHERE tenant_id = $1 AND app_id = $2")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    fn seal(&self, tenant: &str, app: &str, what: &str, secret: &Secret) -> Result<String, StoreError> {
        self.keyring
            .seal(crate::crypto::Binding { purpose: "apps.secret", tenant, row: app }, secret)
            .map(crate::crypto::Sealed::into_stored)
            .map_err(|source| StoreError::Credential { what: format!("app {what}"), source })
    }

    // --- assignments ---------------------------------------------------------------------

    /// Assigns (or excludes) a target; the same target again replaces its kind and parameters.
    /// Returns whether the assignment is new. Marks the app to be planned again.
    pub async fn assign(
        &mut self,
        tenant: TenantId,
        app: AppId,
        target: &AssignmentTarget,
        exclude: bool,
        params: &AssignmentParams,
    ) -> Result<bool, StoreError> {
        let (kind, raw) = crate::policy::target_parts(target);
        let existed = sqlx::query(
            "SELECT 1 AS one FROM assignments WHERE tenant_id = $1 AND app_id = $2 AND target_kind = $3 AND target = $4",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(kind)
        .bind(&raw)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some();
        sqlx::query(
            "INSERT INTO assignments (id, tenant_id, app_id, target_kind, target, created_ms, exclude, params) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, app_id, target_kind, target) DO UPDATE SET exclude = excluded.exclude, params = excluded.params",
        )
        .bind(AssignmentId::new().to_string())
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(kind)
        .bind(&raw)
        .bind(now_ms())
        .bind(i64::from(exclude))
        .bind(to_json(params))
        .execute(&mut *self.tx)
        .await?;
        self.mark_dirty(tenant, &[DirtyMark::app(app)]).await?;
        Ok(!existed)
    }

    /// Removes an assignment; true when there was one.
    pub async fn unassign(
        &mut self,
        tenant: TenantId,
        app: AppId,
        target: &AssignmentTarget,
    ) -> Result<bool, StoreError> {
        let (kind, raw) = crate::policy::target_parts(target);
        let done = sqlx::query(
            "DELETE FROM assignments WHERE tenant_id = $1 AND app_id = $2 AND target_kind = $3 AND target = $4",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(kind)
        .bind(&raw)
        .execute(&mut *self.tx)
        .await?;
        self.mark_dirty(tenant, &[DirtyMark::app(app)]).await?;
        Ok(done.rows_affected() > 0)
    }

    // --- sources -------------------------------------------------------------------------

    pub async fn insert_source(
        &mut self,
        tenant: TenantId,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> Result<SourceId, StoreError> {
        let id = SourceId::new();
        let stored = crate::sealed_config::seal(&self.keyring, &tenant.to_string(), &id.to_string(), name, config)?;
        sqlx::query("INSERT INTO sources (id, tenant_id, name, kind, config, version) VALUES ($1, $2, $3, $4, $5, 1)")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(name)
            .bind(kind)
            .bind(to_json(&stored))
            .execute(&mut *self.tx)
            .await
            .map_err(crate::error::on_unique(format!("source {name}")))?;
        Ok(id)
    }

    /// Replaces a source's settings if its version is still `expected`; returns the new one.
    pub async fn update_source(
        &mut self,
        tenant: TenantId,
        source: SourceId,
        expected: i64,
        config: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let source_text = source.to_string();
        let stored =
            crate::sealed_config::seal(&self.keyring, &tenant.to_string(), &source_text, &source_text, config)?;
        let done = sqlx::query(
            "UPDATE sources SET config = $1, version = version + 1 \
             WHERE tenant_id = $2 AND id = $3 AND version = $4 AND removed_ms IS NULL",
        )
        .bind(to_json(&stored))
        .bind(tenant.to_string())
        .bind(source.to_string())
        .bind(expected)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            let row =
                sqlx::query("SELECT version FROM sources WHERE tenant_id = $1 AND id = $2 AND removed_ms IS NULL")
                    .bind(tenant.to_string())
                    .bind(source.to_string())
                    .fetch_optional(&mut *self.tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("source {source}")))?;
            return Err(StoreError::Stale {
                what: format!("source {source}"),
                expected,
                current: int(&row, "version")?,
            });
        }
        Ok(expected + 1)
    }

    /// Removes a source. Its people leave the directory (as leavers, so their accounts are
    /// deprovisioned with that reason, and marked for propagation); its groups go. People who
    /// hold no account are deleted; the others stay as leavers, and with them the source's row,
    /// renamed so its name can be used again. Returns how many people left.
    pub async fn remove_source(&mut self, tenant: TenantId, source: SourceId) -> Result<usize, StoreError> {
        let (t, s) = (tenant.to_string(), source.to_string());
        let leaving =
            sqlx::query("SELECT id FROM people WHERE tenant_id = $1 AND source_id = $2 AND status <> 'deleted'")
                .bind(&t)
                .bind(&s)
                .fetch_all(&mut *self.tx)
                .await?;
        let marks: Vec<DirtyMark> =
            leaving.iter().map(|r| parsed(r, "id").map(DirtyMark::person)).collect::<Result<_, StoreError>>()?;
        sqlx::query("UPDATE people SET status = 'deleted', updated_ms = $1 WHERE tenant_id = $2 AND source_id = $3")
            .bind(now_ms())
            .bind(&t)
            .bind(&s)
            .execute(&mut *self.tx)
            .await?;
        for sql in [
            "DELETE FROM group_members WHERE tenant_id = $1 AND group_id IN \
             (SELECT id FROM groups WHERE tenant_id = $1 AND source_id = $2)",
            "DELETE FROM group_nesting WHERE tenant_id = $1 AND (parent_id IN \
             (SELECT id FROM groups WHERE tenant_id = $1 AND source_id = $2) OR child_id IN \
             (SELECT id FROM groups WHERE tenant_id = $1 AND source_id = $2))",
            "DELETE FROM groups WHERE tenant_id = $1 AND source_id = $2",
            "DELETE FROM group_members WHERE tenant_id = $1 AND person_id IN (SELECT p.id FROM people p \
             WHERE p.tenant_id = $1 AND p.source_id = $2)",
            "DELETE FROM people WHERE tenant_id = $1 AND source_id = $2 AND NOT EXISTS \
             (SELECT 1 FROM accounts a WHERE a.person_id = people.id)",
        ] {
            sqlx::query(sql).bind(&t).bind(&s).execute(&mut *self.tx).await?;
        }
        let kept = sqlx::query("SELECT COUNT(*) AS n FROM people WHERE tenant_id = $1 AND source_id = $2")
            .bind(&t)
            .bind(&s)
            .fetch_one(&mut *self.tx)
            .await?;
        if int(&kept, "n")? == 0 {
            sqlx::query("DELETE FROM sources WHERE tenant_id = $1 AND id = $2")
                .bind(&t)
                .bind(&s)
                .execute(&mut *self.tx)
                .await?;
        } else {
            let now = now_ms();
            sqlx::query(
                "UPDATE sources SET removed_ms = $1, name = name || '#removed-' || id WHERE tenant_id = $2 AND id = $3",
            )
            .bind(now)
            .bind(&t)
            .bind(&s)
            .execute(&mut *self.tx)
            .await?;
        }
        self.mark_dirty(tenant, &marks).await?;
        Ok(marks.len())
    }

    // --- accounts ------------------------------------------------------------------------

    pub async fn upsert_account(&mut self, tenant: TenantId, account: &StoredAccount) -> Result<(), StoreError> {
        crate::links::upsert_account_with(&mut *self.tx, tenant, account).await
    }

    /// Forgets a link; true when there was one.
    pub async fn remove_account(&mut self, tenant: TenantId, app: AppId, remote_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM accounts WHERE tenant_id = $1 AND app_id = $2 AND remote_id = $3")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .bind(remote_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_account_mark(
        &mut self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
        kind: crate::AccountMarkKind,
        note: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        crate::marks::set_account_mark_with(&mut *self.tx, tenant, app, remote_id, kind, note, actor).await
    }

    pub async fn clear_account_mark(
        &mut self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
    ) -> Result<bool, StoreError> {
        crate::marks::clear_account_mark_with(&mut *self.tx, tenant, app, remote_id).await
    }

    // --- plans ---------------------------------------------------------------------------

    /// Keeps a plan for review, never executed (`tenure plan --save`).
    pub async fn save_preview(
        &mut self,
        store: &Store,
        tenant: TenantId,
        ops: &[PlannedOp],
        summary: &serde_json::Value,
    ) -> Result<PlanId, StoreError> {
        let plan = crate::ops::NewPlan {
            ops,
            releases: None,
            summary,
            plan_status: "preview",
            op_status: crate::OperationStatus::Preview,
            hold_scope: None,
            now_ms: crate::now_ms(),
        };
        store.insert_plan_in(&mut self.tx, tenant, &plan).await
    }
}
