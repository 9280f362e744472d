//! Resources an identity provider pushes over SCIM, and their mirror in the directory.
//!
//! Layout: one row per user (`scim_users`) and group (`scim_groups`) holding the resource's JSON
//! plus the columns lookups need, a side table of emails and one of group members. A SCIM user's
//! id is the id of the person it feeds, a SCIM group's id that of the directory group; every write
//! updates the SCIM rows, the directory (source of kind `scim`) and the push's audit entry
//! (`scim.push`, naming the IdP's token) in one transaction.
//!
//! Filters arrive parsed and are lowered to SQL by `tenure_scim::sql` through [`UserLayout`] and
//! [`GroupLayout`]; values only ever travel as bound parameters.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Transaction};
use tenure_core::import::ImportedPerson;
use tenure_core::{PersonId, SourceId, TenantId};
use tenure_scim::filter::Filter;
use tenure_scim::path::AttrPath;
use tenure_scim::schema::Registry;
use tenure_scim::sql::{Column, Dialect, Mapped, SideTable, SqlLowering, SqlMapping, SqlParam};
use tenure_scim::{json, schemas};

use crate::directory::{person_from_import, write_person};
use crate::queue::DirtyMark;
use crate::row::*;
use crate::{Backend, NewAuditEntry, Store, StoreError, now_ms};

/// The two resource types Tenure serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    fn table(self) -> &'static str {
        match self {
            Self::User => "scim_users",
            Self::Group => "scim_groups",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }
}

/// A stored resource. `resource` has neither `id` nor `meta`; a group's carries its `members`
/// (as `{value, display?, type}`) when they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRecord {
    pub id: String,
    pub resource: Value,
    pub version: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A query on one resource type: an optional filter, an order and a page (1-based start).
#[derive(Debug, Clone, Default)]
pub struct ScimQuery<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    pub start_index: u64,
    pub count: u64,
    /// Load groups' members (skipped for `excludedAttributes=members`, which large groups need).
    pub with_members: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ScimPage {
    pub total: u64,
    pub records: Vec<ScimRecord>,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum ScimWrite {
    Written(ScimRecord),
    NotFound,
    /// The stored version is not the expected one: someone else wrote first.
    Stale,
}

mod columns;
mod layout;

use columns::*;
use layout::*;
pub use layout::{GroupLayout, UserLayout};

impl Store {
    /// The tenant's source of kind `scim`, created on the first push.
    async fn scim_source(&self, tx: &mut Transaction<'_, Any>, tenant: TenantId) -> Result<SourceId, StoreError> {
        let t = tenant.to_string();
        let find = "SELECT id FROM sources WHERE tenant_id = $1 AND kind = 'scim'";
        if let Some(row) = sqlx::query(find).bind(&t).fetch_optional(&mut **tx).await? {
            return parsed(&row, "id");
        }
        sqlx::query(
            "INSERT INTO sources (id, tenant_id, name, kind, config) VALUES ($1, $2, 'scim', 'scim', '{}') \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(SourceId::new().to_string())
        .bind(&t)
        .execute(&mut **tx)
        .await?;
        match sqlx::query(find).bind(&t).fetch_optional(&mut **tx).await? {
            Some(row) => parsed(&row, "id"),
            None => Err(StoreError::Conflict("a source named scim of another kind".to_owned())),
        }
    }

    /// One resource by id, or `None`.
    pub async fn scim_get(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        id: &str,
        with_members: bool,
    ) -> Result<Option<ScimRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM {} r WHERE r.id = $1 AND r.tenant_id = $2", kind.table());
        let row =
            sqlx::query(AssertSqlSafe(sql)).bind(id).bind(tenant.to_string()).fetch_optional(self.read_pool()).await?;
        let Some(row) = row else { return Ok(None) };
        let mut record = record_from_row(&row)?;
        if kind == ScimKind::Group && with_members {
            self.attach_members(tenant, std::slice::from_mut(&mut record)).await?;
        }
        Ok(Some(record))
    }

    async fn attach_members(&self, tenant: TenantId, records: &mut [ScimRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (0..records.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT group_id, member_id, member_type, display FROM scim_members \
             WHERE tenant_id = $1 AND group_id IN ({}) ORDER BY group_id, member_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(tenant.to_string());
        for r in records.iter() {
            query = query.bind(r.id.clone());
        }
        let rows = query.fetch_all(self.read_pool()).await?;
        let mut by_group: HashMap<String, Vec<Value>> = HashMap::new();
        for row in &rows {
            let mut member = Map::new();
            member.insert("value".to_owned(), Value::String(text(row, "member_id")?));
            if let Some(display) = opt_text(row, "display")? {
                member.insert("display".to_owned(), Value::String(display));
            }
            member.insert("type".to_owned(), Value::String(text(row, "member_type")?));
            by_group.entry(text(row, "group_id")?).or_default().push(Value::Object(member));
        }
        for record in records {
            let members = by_group.remove(&record.id).unwrap_or_default();
            if let Value::Object(fields) = &mut record.resource
                && !members.is_empty()
            {
                fields.insert("members".to_owned(), Value::Array(members));
            }
        }
        Ok(())
    }

    /// A page of resources matching the query, and how many match in all. A filter the layout
    /// cannot run is [`StoreError::InvalidFilter`]: never an empty page.
    pub async fn scim_query(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        query: &ScimQuery<'_>,
    ) -> Result<ScimPage, StoreError> {
        let (condition, binds) = match query.filter {
            Some(f) => {
                let (sql, binds) = lower(kind, f, 2, self.backend)?;
                (format!(" AND ({sql})"), binds)
            }
            None => (String::new(), Vec::new()),
        };
        let order = match query.sort_by {
            Some(path) => {
                let column = sort_column(kind, path, self.backend)?;
                let dir = if query.descending { "DESC" } else { "ASC" };
                // NULLs sort last either way (RFC 7644 §3.4.2.3), and the id keeps pages stable.
                format!(" ORDER BY CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} {dir}, r.id")
            }
            None => " ORDER BY r.id".to_owned(),
        };
        let table = kind.table();
        let t = tenant.to_string();
        let start = query.start_index.max(1);
        let mut records = Vec::new();
        if query.count > 0 {
            let n = binds.len() + 2;
            let sql = format!(
                "SELECT {RECORD_COLUMNS} FROM {table} r WHERE r.tenant_id = $1{condition}{order} LIMIT ${n} OFFSET ${}",
                n + 1
            );
            let rows = bind_all(sqlx::query(AssertSqlSafe(sql)).bind(&t), &binds)
                .bind(i64::try_from(query.count).unwrap_or(i64::MAX))
                .bind(i64::try_from(start - 1).unwrap_or(i64::MAX))
                .fetch_all(self.read_pool())
                .await?;
            records = rows.iter().map(record_from_row).collect::<Result<Vec<_>, _>>()?;
        }
        // A first page that is not full is the whole result: lookups need no second query.
        let total = if start == 1 && (records.len() as u64) < query.count {
            records.len() as u64
        } else {
            let sql = format!("SELECT COUNT(*) AS n FROM {table} r WHERE r.tenant_id = $1{condition}");
            let row = bind_all(sqlx::query(AssertSqlSafe(sql)).bind(&t), &binds).fetch_one(self.read_pool()).await?;
            int(&row, "n")?.max(0) as u64
        };
        if kind == ScimKind::Group && query.with_members {
            self.attach_members(tenant, &mut records).await?;
        }
        Ok(ScimPage { total, records })
    }

    /// Creates a user and the person it feeds, in one transaction. A taken userName
    /// (case-insensitive) is [`StoreError::Conflict`].
    pub async fn scim_create_user(
        &self,
        tenant: TenantId,
        id: PersonId,
        resource: &Value,
        version: &str,
        person: &ImportedPerson,
        audit: &NewAuditEntry<'_>,
    ) -> Result<ScimRecord, StoreError> {
        let cols = user_columns(resource)?;
        let mut tx = self.write_tx().await?;
        let source = self.scim_source(&mut tx, tenant).await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO scim_users (id, tenant_id, user_name, user_name_lc, external_id, display_name, email_lc, \
             active, resource, version, created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(&cols.user_name)
        .bind(cols.user_name.to_lowercase())
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(&cols.email_lc)
        .bind(i64::from(cols.active))
        .bind(to_json(resource))
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(crate::error::on_unique(format!("userName {}", cols.user_name)))?;
        write_emails(&mut tx, tenant, &id.to_string(), &cols.emails).await?;
        let p = person_from_import(id, source, person);
        write_person(&mut tx, tenant, &p, true).await?;
        crate::queue::mark_dirty_in(&mut tx, tenant, &[DirtyMark::person(p.id)]).await?;
        crate::audit::append_audit_in(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(ScimRecord {
            id: id.to_string(),
            resource: resource.clone(),
            version: version.to_owned(),
            created_ms: now,
            modified_ms: now,
        })
    }

    /// Replaces a user whose stored version is `expected`, and updates the person it feeds.
    #[allow(clippy::too_many_arguments)]
    pub async fn scim_update_user(
        &self,
        tenant: TenantId,
        id: &str,
        resource: &Value,
        version: &str,
        expected: &str,
        person: &ImportedPerson,
        audit: &NewAuditEntry<'_>,
    ) -> Result<ScimWrite, StoreError> {
        let Ok(person_id) = id.parse::<PersonId>() else { return Ok(ScimWrite::NotFound) };
        let cols = user_columns(resource)?;
        let mut tx = self.write_tx().await?;
        let source = self.scim_source(&mut tx, tenant).await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE scim_users SET user_name = $3, user_name_lc = $4, external_id = $5, display_name = $6, email_lc = $7, \
             active = $8, resource = $9, version = $10, modified_ms = $11 WHERE id = $1 AND tenant_id = $2 AND version = $12",
        )
        .bind(id)
        .bind(tenant.to_string())
        .bind(&cols.user_name)
        .bind(cols.user_name.to_lowercase())
        .bind(&cols.external_id)
        .bind(&cols.display_name)
        .bind(&cols.email_lc)
        .bind(i64::from(cols.active))
        .bind(to_json(resource))
        .bind(version)
        .bind(now)
        .bind(expected)
        .execute(&mut *tx)
        .await
        .map_err(crate::error::on_unique(format!("userName {}", cols.user_name)))?;
        if done.rows_affected() == 0 {
            return self.missing_or_stale(&mut tx, tenant, ScimKind::User, id).await;
        }
        let created = sqlx::query("SELECT created_ms FROM scim_users WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| sqlx::Row::try_get::<i64, _>(&r, "created_ms"))?;
        sqlx::query("DELETE FROM scim_user_emails WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        write_emails(&mut tx, tenant, id, &cols.emails).await?;
        let p = person_from_import(person_id, source, person);
        if write_person(&mut tx, tenant, &p, false).await? == 0 {
            write_person(&mut tx, tenant, &p, true).await?;
        }
        crate::queue::mark_dirty_in(&mut tx, tenant, &[DirtyMark::person(p.id)]).await?;
        crate::audit::append_audit_in(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(ScimWrite::Written(ScimRecord {
            id: id.to_owned(),
            resource: resource.clone(),
            version: version.to_owned(),
            created_ms: created,
            modified_ms: now,
        }))
    }

    async fn missing_or_stale(
        &self,
        tx: &mut Transaction<'_, Any>,
        tenant: TenantId,
        kind: ScimKind,
        id: &str,
    ) -> Result<ScimWrite, StoreError> {
        let sql = format!("SELECT 1 AS one FROM {} WHERE id = $1 AND tenant_id = $2", kind.table());
        let exists =
            sqlx::query(AssertSqlSafe(sql)).bind(id).bind(tenant.to_string()).fetch_optional(&mut **tx).await?;
        Ok(if exists.is_some() { ScimWrite::Stale } else { ScimWrite::NotFound })
    }

    /// Creates a group (members included) and the directory group it feeds.
    pub async fn scim_create_group(
        &self,
        tenant: TenantId,
        id: tenure_core::GroupId,
        resource: &Value,
        version: &str,
        audit: &NewAuditEntry<'_>,
    ) -> Result<ScimRecord, StoreError> {
        let (rest, members) = split_members(resource)?;
        let display_name = string_at(&rest, "displayName")
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| StoreError::Invalid("displayName is required".to_owned()))?;
        let gid = id.to_string();
        let mut tx = self.write_tx().await?;
        let source = self.scim_source(&mut tx, tenant).await?;
        let now = now_ms();
        sqlx::query("INSERT INTO groups (id, tenant_id, source_id, name) VALUES ($1, $2, $3, $4)")
            .bind(&gid)
            .bind(tenant.to_string())
            .bind(source.to_string())
            .bind(&display_name)
            .execute(&mut *tx)
            .await
            .map_err(crate::error::on_unique(format!("group displayName {display_name}")))?;
        sqlx::query(
            "INSERT INTO scim_groups (id, tenant_id, display_name, display_name_lc, external_id, resource, version, \
             created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&gid)
        .bind(tenant.to_string())
        .bind(&display_name)
        .bind(display_name.to_lowercase())
        .bind(string_at(&rest, "externalId"))
        .bind(to_json(&rest))
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sync_members(&mut tx, tenant, &gid, &members).await?;
        crate::audit::append_audit_in(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(ScimRecord {
            id: gid,
            resource: resource.clone(),
            version: version.to_owned(),
            created_ms: now,
            modified_ms: now,
        })
    }

    /// Replaces a group whose stored version is `expected`: its attributes, its members (only the
    /// difference is written) and the directory group.
    pub async fn scim_update_group(
        &self,
        tenant: TenantId,
        id: &str,
        resource: &Value,
        version: &str,
        expected: &str,
        audit: &NewAuditEntry<'_>,
    ) -> Result<ScimWrite, StoreError> {
        let (rest, members) = split_members(resource)?;
        let display_name = string_at(&rest, "displayName")
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| StoreError::Invalid("displayName is required".to_owned()))?;
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE scim_groups SET display_name = $3, display_name_lc = $4, external_id = $5, resource = $6, \
             version = $7, modified_ms = $8 WHERE id = $1 AND tenant_id = $2 AND version = $9",
        )
        .bind(id)
        .bind(tenant.to_string())
        .bind(&display_name)
        .bind(display_name.to_lowercase())
        .bind(string_at(&rest, "externalId"))
        .bind(to_json(&rest))
        .bind(version)
        .bind(now)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return self.missing_or_stale(&mut tx, tenant, ScimKind::Group, id).await;
        }
        sqlx::query("UPDATE groups SET name = $3 WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant.to_string())
            .bind(&display_name)
            .execute(&mut *tx)
            .await
            .map_err(crate::error::on_unique(format!("group displayName {display_name}")))?;
        sync_members(&mut tx, tenant, id, &members).await?;
        let created = sqlx::query("SELECT created_ms FROM scim_groups WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| sqlx::Row::try_get::<i64, _>(&r, "created_ms"))?;
        crate::audit::append_audit_in(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(ScimWrite::Written(ScimRecord {
            id: id.to_owned(),
            resource: resource.clone(),
            version: version.to_owned(),
            created_ms: created,
            modified_ms: now,
        }))
    }

    /// Deletes a resource (when its version is `expected`, if given). A deleted user's person is
    /// marked as having left, so their accounts are deprovisioned; a deleted group leaves the
    /// directory, and both leave every group they were a member of.
    pub async fn scim_delete(
        &self,
        tenant: TenantId,
        kind: ScimKind,
        id: &str,
        expected: Option<&str>,
        audit: &NewAuditEntry<'_>,
    ) -> Result<ScimWrite, StoreError> {
        let t = tenant.to_string();
        let mut tx = self.write_tx().await?;
        let sql = format!("SELECT version FROM {} WHERE id = $1 AND tenant_id = $2", kind.table());
        let Some(row) = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(&t).fetch_optional(&mut *tx).await? else {
            return Ok(ScimWrite::NotFound);
        };
        if expected.is_some_and(|v| v != text(&row, "version").unwrap_or_default()) {
            return Ok(ScimWrite::Stale);
        }
        // Each statement binds the resource id, then the tenant.
        let statements: &[&'static str] = match kind {
            ScimKind::User => &[
                "DELETE FROM scim_members WHERE member_id = $1 AND tenant_id = $2",
                "DELETE FROM scim_users WHERE id = $1 AND tenant_id = $2",
                "DELETE FROM group_members WHERE person_id = $1 AND tenant_id = $2",
            ],
            ScimKind::Group => &[
                "DELETE FROM scim_members WHERE member_id = $1 AND tenant_id = $2",
                "DELETE FROM scim_groups WHERE id = $1 AND tenant_id = $2",
                "DELETE FROM groups WHERE id = $1 AND tenant_id = $2",
            ],
        };
        for &sql in statements {
            sqlx::query(sql).bind(id).bind(&t).execute(&mut *tx).await?;
        }
        // A deleted group's members may lose access: plan everyone (the marks coalesce).
        let mark = match id.parse::<PersonId>() {
            Ok(person) if kind == ScimKind::User => DirtyMark::person(person),
            _ => DirtyMark::everything(),
        };
        crate::queue::mark_dirty_in(&mut tx, tenant, &[mark]).await?;
        if kind == ScimKind::User {
            // The person stays as a leaver, so their accounts are deprovisioned with that reason.
            sqlx::query("UPDATE people SET status = 'deleted', updated_ms = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(now_ms())
                .bind(id)
                .bind(&t)
                .execute(&mut *tx)
                .await?;
        }
        crate::audit::append_audit_in(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(ScimWrite::Written(ScimRecord {
            id: id.to_owned(),
            resource: Value::Null,
            version: String::new(),
            created_ms: 0,
            modified_ms: 0,
        }))
    }

    /// Loads users in bulk (for benchmarks and migrations): SCIM rows and emails only, many rows
    /// per statement, one transaction per call. The directory is not touched.
    pub async fn scim_load_users(
        &self,
        tenant: TenantId,
        users: &[(PersonId, Value, String)],
    ) -> Result<(), StoreError> {
        const ROWS: usize = 500;
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        let t = tenant.to_string();
        for chunk in users.chunks(ROWS) {
            let mut cols = Vec::with_capacity(chunk.len());
            for (_, resource, _) in chunk {
                cols.push(user_columns(resource)?);
            }
            let mut sql = String::from(
                "INSERT INTO scim_users (id, tenant_id, user_name, user_name_lc, external_id, display_name, email_lc, \
                 active, resource, version, created_ms, modified_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 9;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, $1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, $2, $2)",
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11
                ));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(&t).bind(now);
            for ((id, resource, version), c) in chunk.iter().zip(&cols) {
                q = q
                    .bind(id.to_string())
                    .bind(c.user_name.clone())
                    .bind(c.user_name.to_lowercase())
                    .bind(c.external_id.clone())
                    .bind(c.display_name.clone())
                    .bind(c.email_lc.clone())
                    .bind(i64::from(c.active))
                    .bind(to_json(resource))
                    .bind(version.clone());
            }
            q.execute(&mut *tx).await.map_err(crate::error::on_unique("userName"))?;
            let emails: Vec<(String, &EmailRow)> = chunk
                .iter()
                .zip(&cols)
                .flat_map(|((id, _, _), c)| c.emails.iter().map(move |e| (id.to_string(), e)))
                .collect();
            for part in emails.chunks(ROWS) {
                let mut sql = String::from(
                    "INSERT INTO scim_user_emails (tenant_id, user_id, value_lc, kind, is_primary) VALUES ",
                );
                for i in 0..part.len() {
                    let b = i * 4;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("($1, ${}, ${}, ${}, ${})", b + 2, b + 3, b + 4, b + 5));
                }
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(&t);
                for (id, (value, kind, primary)) in part {
                    q = q.bind(id.clone()).bind(value.clone()).bind(kind.clone()).bind(i64::from(*primary));
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Loads the people pushed users feed, in bulk (benchmarks): each person in the tenant's SCIM
    /// source with the id of its user (`scim_load_users`), one transaction. Nothing is marked:
    /// a loaded directory is taken as already propagated, as after a restore.
    pub async fn scim_load_people(
        &self,
        tenant: TenantId,
        people: &[(PersonId, ImportedPerson)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let source = self.scim_source(&mut tx, tenant).await?;
        for (id, person) in people {
            write_person(&mut tx, tenant, &person_from_import(*id, source, person), true).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics (SQLite's `ANALYZE`; PostgreSQL's autovacuum
    /// does this by itself). Worth running after a bulk load.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(number_placeholders("(a = ? AND b LIKE ? ESCAPE '\\')", 2), "(a = $2 AND b LIKE $3 ESCAPE '\\')");
    }

    #[test]
    fn value_filters_become_index_seeks() {
        let f = tenure_scim::parse_filter(r#"emails[type eq "work"].value eq "A@x.com""#).unwrap();
        let (sql, binds) = lower(ScimKind::User, &f, 2, Backend::Sqlite).unwrap();
        assert!(sql.starts_with("r.id IN (SELECT e.user_id FROM scim_user_emails e WHERE "), "{sql}");
        assert!(sql.contains("e.value_lc = $3"), "{sql}");
        assert!(matches!(&binds[1], Bind::Text(s) if s == "a@x.com"));
        let f = tenure_scim::parse_filter(r#"name.givenName eq "x""#).unwrap();
        assert!(matches!(lower(ScimKind::User, &f, 2, Backend::Sqlite), Err(StoreError::InvalidFilter(_))));
    }
}
