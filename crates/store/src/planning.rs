//! What a planner that keeps the directory and the apps' stored accounts in memory reads to stay
//! current: the versions that say whether anything changed (moved by triggers in the same
//! transaction as every write, migration 0017), and only what changed since a version.

use std::collections::HashMap;

use tenure_core::*;

use crate::links::{StoredAccount, account_from_row};
use crate::row::*;
use crate::{Store, StoreError};

/// A tenant's directory version and how many times marks of directory changes were cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryVersions {
    pub directory: i64,
    pub marks_answered: i64,
}

/// The people marked for a directory change, not yet answered.
#[derive(Debug, Clone, Default)]
pub struct DirectoryMarks {
    pub people: Vec<PersonId>,
    /// A change that names no one ("everything": a group's membership or nesting changed).
    pub everything: bool,
}

/// An app's stored accounts written or removed after a version.
#[derive(Debug, Clone, Default)]
pub struct AccountsDelta {
    /// The app's version when the delta was read: every change up to it is in the delta.
    pub version: i64,
    /// Written (created or refreshed) accounts, each with the version that wrote it.
    pub written: Vec<(i64, StoredAccount)>,
    /// Removed accounts by remote id, each with the version that removed it.
    pub removed: Vec<(i64, String)>,
}

impl Store {
    pub async fn directory_versions(&self, tenant: TenantId) -> Result<DirectoryVersions, StoreError> {
        let row = sqlx::query("SELECT directory_version, marks_answered FROM tenants WHERE id = $1")
            .bind(tenant.to_string())
            .fetch_optional(self.read_pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
        Ok(DirectoryVersions {
            directory: int(&row, "directory_version")?,
            marks_answered: int(&row, "marks_answered")?,
        })
    }

    /// Up to `limit` people with a directory-change mark (`limit` + 1 tells a caller there are
    /// more than it wants to read one by one).
    pub async fn directory_marks(&self, tenant: TenantId, limit: i64) -> Result<DirectoryMarks, StoreError> {
        let rows = sqlx::query("SELECT person_id FROM dirty WHERE tenant_id = $1 AND app_id = '' LIMIT $2")
            .bind(tenant.to_string())
            .bind(limit + 1)
            .fetch_all(self.read_pool())
            .await?;
        let mut marks = DirectoryMarks::default();
        for row in &rows {
            let person = text(row, "person_id")?;
            if person.is_empty() {
                marks.everything = true;
            } else {
                marks.people.push(person.parse().map_err(|_| StoreError::corrupt(format!("dirty mark id {person}")))?);
            }
        }
        Ok(marks)
    }

    /// The groups `people` are direct members of, by person (people in no group are absent).
    pub async fn memberships_of(
        &self,
        tenant: TenantId,
        people: &[PersonId],
    ) -> Result<HashMap<PersonId, Vec<GroupId>>, StoreError> {
        let mut out: HashMap<PersonId, Vec<GroupId>> = HashMap::new();
        for chunk in people.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT group_id, person_id FROM group_members WHERE tenant_id = $1 AND person_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(self.read_pool()).await? {
                out.entry(parsed(&row, "person_id")?).or_default().push(parsed(&row, "group_id")?);
            }
        }
        Ok(out)
    }

    /// An app's version of its stored accounts, read before its accounts so that an account
    /// written in between is read again from that version, never missed.
    pub async fn accounts_version(&self, tenant: TenantId, app: AppId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT accounts_version FROM apps WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .fetch_optional(self.read_pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("app {app}")))?;
        int(&row, "accounts_version")
    }

    /// The app's stored accounts written or removed after `since`.
    pub async fn accounts_since(&self, tenant: TenantId, app: AppId, since: i64) -> Result<AccountsDelta, StoreError> {
        let version = self.accounts_version(tenant, app).await?;
        let mut delta = AccountsDelta { version, ..Default::default() };
        if version == since {
            return Ok(delta);
        }
        let rows = sqlx::query(
            "SELECT remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by, seq \
             FROM accounts WHERE tenant_id = $1 AND app_id = $2 AND seq > $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(since)
        .fetch_all(self.read_pool())
        .await?;
        for row in &rows {
            delta.written.push((int(row, "seq")?, account_from_row(app, row)?));
        }
        let gone =
            sqlx::query("SELECT remote_id, seq FROM accounts_gone WHERE tenant_id = $1 AND app_id = $2 AND seq > $3")
                .bind(tenant.to_string())
                .bind(app.to_string())
                .bind(since)
                .fetch_all(self.read_pool())
                .await?;
        for row in &gone {
            delta.removed.push((int(row, "seq")?, text(row, "remote_id")?));
        }
        Ok(delta)
    }
}

impl Store {
    /// The tenant's groups with their nesting but without their members (`Store::list_groups`
    /// less its largest read): what a cached directory re-reads when the directory moved.
    pub async fn group_shapes(&self, tenant: TenantId) -> Result<Vec<Group>, StoreError> {
        self.read_groups(self.read_pool(), tenant, false).await
    }
}

impl Store {
    /// The stored accounts of `people` in every app of the tenant: what planning those people
    /// one by one needs of the apps' records, read by person rather than app by app.
    pub async fn accounts_of_people(
        &self,
        tenant: TenantId,
        people: &[PersonId],
    ) -> Result<HashMap<AppId, Vec<StoredAccount>>, StoreError> {
        let mut out: HashMap<AppId, Vec<StoredAccount>> = HashMap::new();
        for chunk in people.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT app_id, remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by \
                 FROM accounts WHERE tenant_id = $1 AND person_id IN ({}) ORDER BY user_name, remote_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(self.read_pool()).await? {
                let app: AppId = parsed(&row, "app_id")?;
                out.entry(app).or_default().push(account_from_row(app, &row)?);
            }
        }
        Ok(out)
    }
}
