//! An app's accounts and the work on them, by role: the live user list, reports, adopting,
//! unlinking, external marks, Verify and OAuth authorization, the queue.

use tenure_connectors::UserQuery;
use tenure_core::OperationId;
use tenure_store::{OperationRecord, OperationStatus};

use super::{Admin, Need};
use crate::{AccountRow, Adopted, AuthorizationStart, EngineError, QueueStatus, UsersPage, Verification};

impl Admin<'_> {
    async fn app_id(&self, name: &str) -> Result<tenure_core::AppId, EngineError> {
        Ok(self.store().app_by_name(self.tenant(), name).await?.app.id)
    }

    pub async fn app_users(&self, app: &str, query: &UserQuery) -> Result<UsersPage, EngineError> {
        self.actor.require(Need::AppRead(self.app_id(app).await?))?;
        self.engine.app_users(app, query, self.engine.today().await?).await
    }

    /// Every account of every app the actor may report on, or of one app, classified.
    pub async fn report(&self, app: Option<&str>) -> Result<Vec<AccountRow>, EngineError> {
        match app {
            Some(name) => self.actor.require(Need::AppRead(self.app_id(name).await?))?,
            None => self.actor.require(Need::Reports)?,
        }
        self.engine.account_report(app, self.engine.today().await?).await
    }

    pub async fn stored_accounts(&self, app: &str) -> Result<Vec<tenure_store::StoredAccount>, EngineError> {
        let id = self.app_id(app).await?;
        self.actor.require(Need::AppRead(id))?;
        Ok(self.store().list_accounts(self.tenant(), id).await?)
    }

    pub async fn adopt(&self, app: &str, account: &str, person: &str) -> Result<Adopted, EngineError> {
        self.actor.require(Need::AppWrite(self.app_id(app).await?))?;
        self.engine.adopt_account(app, account, person, &self.actor.name).await
    }

    pub async fn unlink(&self, app: &str, account: &str) -> Result<(), EngineError> {
        self.actor.require(Need::AppWrite(self.app_id(app).await?))?;
        self.engine.unlink_account(app, account, &self.actor.name).await
    }

    /// Marks an account as a known external one (`Some(note)`), or clears the mark.
    pub async fn mark_external(&self, app: &str, account: &str, note: Option<&str>) -> Result<bool, EngineError> {
        self.actor.require(Need::AppWrite(self.app_id(app).await?))?;
        if note.is_some_and(|n| n.len() > 1000) {
            return Err(EngineError::field("note", "at most 1000 bytes"));
        }
        self.engine.mark_account(app, account, note, &self.actor.name).await
    }

    pub async fn verify_app(&self, app: &str) -> Result<Verification, EngineError> {
        self.actor.require(Need::AppWrite(self.app_id(app).await?))?;
        self.engine.verify_app(app, &self.actor.name).await
    }

    pub async fn authorize_app(&self, app: &str, redirect_uri: &str) -> Result<AuthorizationStart, EngineError> {
        self.actor.require(Need::AppWrite(self.app_id(app).await?))?;
        self.engine.start_authorization(app, &self.actor.name, redirect_uri).await
    }

    pub async fn queue_status(&self) -> Result<QueueStatus, EngineError> {
        self.actor.require(Need::TenantRead)?;
        self.engine.queue_status().await
    }

    /// Operations, newest first: an app admin names one of their apps.
    pub async fn operations(
        &self,
        status: Option<OperationStatus>,
        app: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OperationRecord>, EngineError> {
        match app {
            Some(name) => self.actor.require(Need::AppPlans(self.app_id(name).await?))?,
            None => self.actor.require(Need::TenantRead)?,
        }
        self.engine.list_operations(status, app, limit).await
    }

    /// Puts a failed operation (or, org admins only, every failed one) back in the queue.
    pub async fn retry_operations(&self, op: Option<OperationId>) -> Result<u64, EngineError> {
        match op {
            Some(id) => self.actor.require(Need::AppWrite(self.operation_app(id).await?))?,
            None => self.actor.require(Need::OrgAdmin)?,
        }
        self.engine.retry_operations(op, &self.actor.name).await
    }

    pub async fn dismiss_operation(&self, op: OperationId) -> Result<(), EngineError> {
        self.actor.require(Need::AppWrite(self.operation_app(op).await?))?;
        self.engine.dismiss_operation(op, &self.actor.name).await
    }

    async fn operation_app(&self, op: OperationId) -> Result<tenure_core::AppId, EngineError> {
        self.store()
            .operation(self.tenant(), op)
            .await?
            .map(|r| r.op.app_id)
            .ok_or_else(|| EngineError::NotFound(format!("operation {op}")))
    }

    /// The directory (org admins and auditors).
    pub async fn people(&self) -> Result<Vec<tenure_core::Person>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(self.store().list_people(self.tenant()).await?)
    }

    pub async fn groups(&self) -> Result<Vec<tenure_core::Group>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(self.store().list_groups(self.tenant()).await?)
    }

    /// A page of the audit log (org admins and auditors).
    pub async fn audit(
        &self,
        filter: &tenure_store::AuditFilter,
        cursor: Option<&tenure_store::AuditCursor>,
        limit: i64,
    ) -> Result<tenure_store::AuditPage, EngineError> {
        self.actor.require(Need::Audit)?;
        Ok(self.store().query_audit(self.tenant(), filter, cursor, limit).await?)
    }

    /// Walks the tenant's audit hash chain (org admins and auditors): the first entry that does
    /// not chain, if any.
    pub async fn verify_audit(&self) -> Result<super::views::AuditVerifyView, EngineError> {
        self.actor.require(Need::Audit)?;
        Ok(self.store().verify_audit(self.tenant()).await?.into())
    }

    /// The whole matching audit log, a page at a time (org admins and auditors).
    pub fn audit_export(
        &self,
        filter: tenure_store::AuditFilter,
        format: crate::audit_query::ExportFormat,
        cursor: Option<tenure_store::AuditCursor>,
        limit: Option<i64>,
    ) -> Result<crate::audit_query::Export, EngineError> {
        self.actor.require(Need::Audit)?;
        Ok(crate::audit_query::Export::new(self.store().clone(), self.tenant(), filter, format, cursor, limit))
    }
}
