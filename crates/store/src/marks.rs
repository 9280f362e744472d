//! Admins' marks on app accounts that Tenure does not manage: "known external" accounts are
//! accepted as they are, so the visibility report stops listing them among the orphans.

use tenure_core::{AppId, TenantId};

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// What an admin declared an account to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMarkKind {
    /// Someone outside the directory on purpose: a contractor, a partner, a service account.
    External,
}

impl AccountMarkKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::External => "external",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        (s == "external").then_some(Self::External)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountMark {
    pub remote_id: String,
    pub kind: AccountMarkKind,
    pub note: String,
    pub actor: String,
    pub at_ms: i64,
}

impl Store {
    /// Sets (or replaces) the mark on an account.
    pub async fn set_account_mark(
        &self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
        kind: AccountMarkKind,
        note: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        set_account_mark_with(&self.pool, tenant, app, remote_id, kind, note, actor).await
    }

    /// Removes the mark; true when there was one.
    pub async fn clear_account_mark(&self, tenant: TenantId, app: AppId, remote_id: &str) -> Result<bool, StoreError> {
        clear_account_mark_with(&self.pool, tenant, app, remote_id).await
    }

    /// The mark on one account, if any.
    pub async fn account_mark(
        &self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
    ) -> Result<Option<AccountMark>, StoreError> {
        let row = sqlx::query(
            "SELECT remote_id, mark, note, actor, at_ms FROM account_marks WHERE tenant_id = $1 AND app_id = $2 \
             AND remote_id = $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(mark_from_row).transpose()
    }

    pub async fn account_marks(&self, tenant: TenantId, app: AppId) -> Result<Vec<AccountMark>, StoreError> {
        let rows = sqlx::query(
            "SELECT remote_id, mark, note, actor, at_ms FROM account_marks WHERE tenant_id = $1 AND app_id = $2 \
             ORDER BY remote_id",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mark_from_row).collect()
    }
}

pub(crate) async fn set_account_mark_with<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    executor: E,
    tenant: TenantId,
    app: AppId,
    remote_id: &str,
    kind: AccountMarkKind,
    note: &str,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_marks (tenant_id, app_id, remote_id, mark, note, actor, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, remote_id) DO UPDATE SET \
         mark = excluded.mark, note = excluded.note, actor = excluded.actor, at_ms = excluded.at_ms",
    )
    .bind(tenant.to_string())
    .bind(app.to_string())
    .bind(remote_id)
    .bind(kind.as_str())
    .bind(note)
    .bind(actor)
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) async fn clear_account_mark_with<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    executor: E,
    tenant: TenantId,
    app: AppId,
    remote_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM account_marks WHERE tenant_id = $1 AND app_id = $2 AND remote_id = $3")
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(remote_id)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

fn mark_from_row(r: &sqlx::any::AnyRow) -> Result<AccountMark, StoreError> {
    let mark = text(r, "mark")?;
    Ok(AccountMark {
        remote_id: text(r, "remote_id")?,
        kind: AccountMarkKind::parse(&mark)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown account mark {mark:?}")))?,
        note: text(r, "note")?,
        actor: text(r, "actor")?,
        at_ms: int(r, "at_ms")?,
    })
}
