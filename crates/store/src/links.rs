//! App accounts Tenure knows about and the person each belongs to.

use tenure_core::attributes::Attributes;
use tenure_core::*;

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// A linked account with the last state Tenure saw or wrote, so updates can be diffs against it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAccount {
    pub link: AccountLink,
    pub user_name: String,
    pub active: bool,
    pub attributes: Attributes,
}

impl Store {
    /// Records (or refreshes) a linked account. The remote id is stored as soon as it is known.
    pub async fn upsert_account(&self, tenant: TenantId, account: &StoredAccount) -> Result<(), StoreError> {
        upsert_account_with(&self.pool, tenant, account).await
    }

    /// Records many linked accounts at once, as new rows (benchmarks and bulk set-ups): many
    /// rows a statement, one transaction.
    pub async fn load_accounts(&self, tenant: TenantId, accounts: &[StoredAccount]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let t = tenant.to_string();
        let now = now_ms();
        crate::bulk::insert(
            &mut tx,
            self.backend(),
            (
                "INSERT INTO accounts (tenant_id, updated_ms, app_id, remote_id, person_id, origin, user_name, active, \
                 attributes, granted_by) VALUES ",
                "",
            ),
            &[],
            10,
            accounts,
            |a: &StoredAccount, row| {
                row.extend([
                    crate::bulk::Param::from(t.as_str()),
                    crate::bulk::Param::from(now),
                    crate::bulk::Param::from(a.link.app_id.to_string()),
                    crate::bulk::Param::from(a.link.remote_id.as_str()),
                    crate::bulk::Param::from(a.link.person_id.to_string()),
                    crate::bulk::Param::from(a.link.origin.as_str()),
                    crate::bulk::Param::from(a.user_name.as_str()),
                    crate::bulk::Param::from(i64::from(a.active)),
                    crate::bulk::Param::from(to_json(&a.attributes)),
                    crate::bulk::Param::from(a.link.granted_by.map(|g| g.to_string())),
                ]);
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an account (de)activated by Tenure; a deactivation is dated `today`, which starts
    /// the clock of a "delete after N days" policy, and a reactivation clears the date.
    pub async fn set_account_active(
        &self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
        active: bool,
        today: time::Date,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE accounts SET active = $1, deactivated_on = $2, updated_ms = $3 \
             WHERE tenant_id = $4 AND app_id = $5 AND remote_id = $6",
        )
        .bind(i64::from(active))
        .bind((!active).then(|| today.to_string()))
        .bind(now_ms())
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(remote_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_account(&self, tenant: TenantId, app: AppId, remote_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM accounts WHERE tenant_id = $1 AND app_id = $2 AND remote_id = $3")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .bind(remote_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many accounts of the app are linked, and how many of those are active: counted by the
    /// database, so an overview of a large tenant does not load every account.
    pub async fn account_counts(&self, tenant: TenantId, app: AppId) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS linked, COUNT(CASE WHEN active <> 0 THEN 1 END) AS active FROM accounts \
             WHERE tenant_id = $1 AND app_id = $2",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((int(&row, "linked")?, int(&row, "active")?))
    }

    pub async fn list_accounts(&self, tenant: TenantId, app: AppId) -> Result<Vec<StoredAccount>, StoreError> {
        let rows = sqlx::query(
            "SELECT remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by FROM accounts \
             WHERE tenant_id = $1 AND app_id = $2 ORDER BY user_name, remote_id",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| account_from_row(app, r)).collect()
    }

    /// People with at least one linked account in any app: what the global guard weighs a run's
    /// losses against.
    pub async fn managed_people(&self, tenant: TenantId) -> Result<usize, StoreError> {
        let row = sqlx::query("SELECT COUNT(DISTINCT person_id) AS n FROM accounts WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(int(&row, "n")?).unwrap_or(0))
    }

    /// The apps each of `people` has a linked account in, by app name.
    pub async fn apps_of_people(
        &self,
        tenant: TenantId,
        people: &[PersonId],
    ) -> Result<std::collections::HashMap<PersonId, Vec<String>>, StoreError> {
        let mut out: std::collections::HashMap<PersonId, Vec<String>> = std::collections::HashMap::new();
        // Bounded statements: a page of the live list names at most a few hundred people.
        for chunk in people.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT a.person_id, p.name FROM accounts a JOIN apps p ON p.id = a.app_id \
                 WHERE a.tenant_id = $1 AND a.person_id IN ({}) ORDER BY p.name",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.entry(parsed(&row, "person_id")?).or_default().push(text(&row, "name")?);
            }
        }
        Ok(out)
    }

    /// The linked accounts among `remote_ids` of the app (a page of its live list): what
    /// classifying a page needs of the links, without reading the app's every link.
    pub async fn accounts_by_remote_ids(
        &self,
        tenant: TenantId,
        app: AppId,
        remote_ids: &[&str],
    ) -> Result<Vec<StoredAccount>, StoreError> {
        let mut out = Vec::new();
        // Bounded statements: a page of the live list holds at most 500 accounts.
        for chunk in remote_ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by \
                 FROM accounts WHERE tenant_id = $1 AND app_id = $2 AND remote_id IN ({}) ORDER BY user_name, remote_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(app.to_string());
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.read_pool()).await? {
                out.push(account_from_row(app, &row)?);
            }
        }
        Ok(out)
    }

    /// One linked account, by its id in the app.
    pub async fn get_account(
        &self,
        tenant: TenantId,
        app: AppId,
        remote_id: &str,
    ) -> Result<Option<StoredAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT remote_id, person_id, origin, user_name, active, attributes, deactivated_on, granted_by FROM accounts \
             WHERE tenant_id = $1 AND app_id = $2 AND remote_id = $3",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| account_from_row(app, &r)).transpose()
    }
}

/// Records (or refreshes) a linked account through `executor` (the pool, or a transaction).
pub(crate) async fn upsert_account_with<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    executor: E,
    tenant: TenantId,
    account: &StoredAccount,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO accounts (tenant_id, app_id, remote_id, person_id, origin, user_name, active, attributes, updated_ms, \
         granted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (app_id, remote_id) DO UPDATE SET person_id = excluded.person_id, origin = excluded.origin, \
         user_name = excluded.user_name, active = excluded.active, attributes = excluded.attributes, \
         updated_ms = excluded.updated_ms, granted_by = COALESCE(excluded.granted_by, accounts.granted_by)",
    )
    .bind(tenant.to_string())
    .bind(account.link.app_id.to_string())
    .bind(&account.link.remote_id)
    .bind(account.link.person_id.to_string())
    .bind(account.link.origin.as_str())
    .bind(&account.user_name)
    .bind(i64::from(account.active))
    .bind(to_json(&account.attributes))
    .bind(now_ms())
    .bind(account.link.granted_by.map(|a| a.to_string()))
    .execute(executor)
    .await?;
    Ok(())
}

pub(crate) fn account_from_row(app: AppId, r: &sqlx::any::AnyRow) -> Result<StoredAccount, StoreError> {
    let origin = text(r, "origin")?;
    Ok(StoredAccount {
        link: AccountLink {
            app_id: app,
            remote_id: text(r, "remote_id")?,
            person_id: parsed(r, "person_id")?,
            origin: AccountOrigin::parse(&origin).ok_or_else(|| StoreError::corrupt(format!("origin {origin}")))?,
            deactivated_on: opt_date(r, "deactivated_on")?,
            granted_by: opt_parsed(r, "granted_by")?,
        },
        user_name: text(r, "user_name")?,
        active: int(r, "active")? != 0,
        attributes: json(r, "attributes")?,
    })
}
