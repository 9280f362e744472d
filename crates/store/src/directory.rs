//! Sources and the directory they fill: people, groups, nesting, memberships.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use tenure_core::import::*;
use tenure_core::*;
use time::Date;
use time::macros::format_description;

use crate::import_state::{ImportDone, ImportTimings, SourceState, lock_directory_version, write_changes};
use crate::row::*;
use crate::{Store, StoreError, now_ms};

#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceRecord {
    pub id: SourceId,
    pub name: String,
    pub kind: String,
    pub config: serde_json::Value,
    pub last_sync_ms: Option<i64>,
    pub last_count: Option<i64>,
    /// Where an incremental source resumes; `None` means the next sync is a full one.
    pub cursor: Option<String>,
    /// Grows with every change to the source's settings: its ETag.
    pub version: i64,
}

/// An audit entry an import appends in its own transaction, its detail made from what the
/// import did (`detail(summary, context)`).
#[derive(Debug, Clone, Copy)]
pub struct ImportAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub context: &'a serde_json::Value,
    pub detail: fn(&ImportSummary, &serde_json::Value) -> serde_json::Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// People no longer in the source, now marked as having left.
    pub left: usize,
    /// People who were marked as having left and are back.
    pub returned: usize,
    pub groups: usize,
}

pub(crate) const PERSON_COLUMNS: &str = "id, source_id, source_key, user_name, email, given_name, family_name, display_name, \
     department, title, employee_id, manager_key, org_unit, status, start_date, leave_date, custom";

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

pub(crate) fn date_text(d: Option<Date>) -> Option<String> {
    d.and_then(|d| d.format(DATE_FORMAT).ok())
}

fn parse_date(row: &AnyRow, col: &str) -> Result<Option<Date>, StoreError> {
    opt_text(row, col)?
        .map(|raw| Date::parse(&raw, DATE_FORMAT).map_err(|e| StoreError::corrupt(format!("{col} = {raw:?}: {e}"))))
        .transpose()
}

pub(crate) fn person_from_row(row: &AnyRow) -> Result<Person, StoreError> {
    let status_raw = text(row, "status")?;
    Ok(Person {
        id: parsed(row, "id")?,
        source_id: parsed(row, "source_id")?,
        source_key: text(row, "source_key")?,
        user_name: text(row, "user_name")?,
        email: text(row, "email")?,
        given_name: opt_text(row, "given_name")?,
        family_name: opt_text(row, "family_name")?,
        display_name: opt_text(row, "display_name")?,
        department: opt_text(row, "department")?,
        title: opt_text(row, "title")?,
        employee_id: opt_text(row, "employee_id")?,
        manager_key: opt_text(row, "manager_key")?,
        org_unit: opt_text(row, "org_unit")?
            .map(|raw| OrgUnitPath::parse(&raw).map_err(StoreError::corrupt))
            .transpose()?,
        status: PersonStatus::parse(&status_raw).ok_or_else(|| StoreError::corrupt(format!("status {status_raw}")))?,
        start_date: parse_date(row, "start_date")?,
        leave_date: parse_date(row, "leave_date")?,
        custom: json(row, "custom")?,
    })
}

pub(crate) fn person_from_import(id: PersonId, source_id: SourceId, p: &ImportedPerson) -> Person {
    p.to_person(id, source_id)
}

fn import_from_person(p: Person) -> ImportedPerson {
    ImportedPerson {
        source_key: p.source_key,
        user_name: p.user_name,
        email: p.email,
        given_name: p.given_name,
        family_name: p.family_name,
        display_name: p.display_name,
        department: p.department,
        title: p.title,
        employee_id: p.employee_id,
        manager_key: p.manager_key,
        org_unit: p.org_unit,
        status: p.status,
        start_date: p.start_date,
        leave_date: p.leave_date,
        custom: p.custom,
        groups: Vec::new(),
    }
}

/// A source's group nesting, as (parent name, child name).
pub(crate) async fn nesting_pairs(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    source: &str,
) -> Result<HashSet<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.name AS parent, c.name AS child FROM group_nesting n JOIN groups c ON c.id = n.child_id \
         JOIN groups p ON p.id = n.parent_id WHERE n.tenant_id = $1 AND c.source_id = $2",
    )
    .bind(tenant)
    .bind(source)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(|r| Ok((text(r, "parent")?, text(r, "child")?))).collect()
}

pub(crate) async fn write_person(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    p: &Person,
    insert: bool,
) -> Result<u64, StoreError> {
    let sql = if insert {
        "INSERT INTO people (id, source_id, source_key, user_name, email, given_name, family_name, display_name, \
         department, title, employee_id, manager_key, org_unit, status, start_date, leave_date, custom, updated_ms, tenant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    } else {
        "UPDATE people SET source_id = $2, source_key = $3, user_name = $4, email = $5, given_name = $6, family_name = $7, \
         display_name = $8, department = $9, title = $10, employee_id = $11, manager_key = $12, org_unit = $13, status = $14, \
         start_date = $15, leave_date = $16, custom = $17, updated_ms = $18 WHERE id = $1 AND tenant_id = $19"
    };
    let done = sqlx::query(sql)
        .bind(p.id.to_string())
        .bind(p.source_id.to_string())
        .bind(&p.source_key)
        .bind(&p.user_name)
        .bind(&p.email)
        .bind(&p.given_name)
        .bind(&p.family_name)
        .bind(&p.display_name)
        .bind(&p.department)
        .bind(&p.title)
        .bind(&p.employee_id)
        .bind(&p.manager_key)
        .bind(p.org_unit.as_ref().map(|o| o.as_str().to_owned()))
        .bind(p.status.as_str())
        .bind(date_text(p.start_date))
        .bind(date_text(p.leave_date))
        .bind(to_json(&p.custom))
        .bind(now_ms())
        .bind(tenant.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::any::AnyQueryResult::rows_affected(&done))
}

impl Store {
    pub async fn add_source(
        &self,
        tenant: TenantId,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> Result<SourceId, StoreError> {
        let id = SourceId::new();
        let stored = crate::sealed_config::seal(&self.keyring, &tenant.to_string(), &id.to_string(), name, config)?;
        sqlx::query("INSERT INTO sources (id, tenant_id, name, kind, config) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(name)
            .bind(kind)
            .bind(to_json(&stored))
            .execute(&self.pool)
            .await
            .map_err(crate::error::on_unique(format!("source {name}")))?;
        Ok(id)
    }

    /// Replaces a source's settings (`tenure source set`).
    pub async fn set_source_config(
        &self,
        tenant: TenantId,
        source: SourceId,
        config: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let stored = crate::sealed_config::seal(
            &self.keyring,
            &tenant.to_string(),
            &source.to_string(),
            &source.to_string(),
            config,
        )?;
        let done =
            sqlx::query("UPDATE sources SET config = $1, version = version + 1 WHERE id = $2 AND tenant_id = $3")
                .bind(to_json(&stored))
                .bind(source.to_string())
                .bind(tenant.to_string())
                .execute(&self.pool)
                .await?;
        if sqlx::any::AnyQueryResult::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound(format!("source {source}")));
        }
        Ok(())
    }

    pub async fn list_sources(&self, tenant: TenantId) -> Result<Vec<SourceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, kind, config, last_sync_ms, last_count, cursor, version FROM sources \
             WHERE tenant_id = $1 AND removed_ms IS NULL ORDER BY name",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        let tenant_text = tenant.to_string();
        rows.iter()
            .map(|r| {
                let (id, name) = (text(r, "id")?, text(r, "name")?);
                let config = crate::sealed_config::open(&self.keyring, &tenant_text, &id, &name, json(r, "config")?)?;
                Ok(SourceRecord {
                    id: parsed(r, "id")?,
                    name,
                    kind: text(r, "kind")?,
                    config,
                    last_sync_ms: opt_int(r, "last_sync_ms")?,
                    last_count: opt_int(r, "last_count")?,
                    cursor: opt_text(r, "cursor")?,
                    version: int(r, "version")?,
                })
            })
            .collect()
    }

    /// Replaces what a source contributed to the directory with `batch`, in one transaction:
    /// either all of it lands or none of it does. People absent from the batch are marked as
    /// having left (never deleted: their accounts must be deprovisioned with that reason).
    pub async fn apply_import(
        &self,
        tenant: TenantId,
        source: SourceId,
        batch: &ImportBatch,
    ) -> Result<ImportSummary, StoreError> {
        self.apply_import_audited(tenant, source, batch, &[]).await
    }

    /// [`Store::apply_import`], appending `audit` in the import's own transaction: the import and
    /// its entries are kept together or not at all.
    pub async fn apply_import_audited(
        &self,
        tenant: TenantId,
        source: SourceId,
        batch: &ImportBatch,
        audit: &[ImportAudit<'_>],
    ) -> Result<ImportSummary, StoreError> {
        self.apply_import_under(tenant, source, batch, audit, None).await
    }

    /// [`Store::apply_import_audited`] made under a duty: refused whole unless `fence` is still
    /// the duty's current term (a scheduled sync of a node that lost the source schedule).
    pub async fn apply_import_under(
        &self,
        tenant: TenantId,
        source: SourceId,
        batch: &ImportBatch,
        audit: &[ImportAudit<'_>],
        fence: Option<&crate::Fence>,
    ) -> Result<ImportSummary, StoreError> {
        Ok(self.apply_import_from(tenant, source, batch, audit, fence, None).await?.summary)
    }

    /// [`Store::apply_import_under`], compared with `known` (the state the source's last import
    /// returned) rather than with the source read back from the database, when `known` is still
    /// current: the tenant's directory version has not moved since. Returns the state after
    /// this import, for the next one.
    pub async fn apply_import_from(
        &self,
        tenant: TenantId,
        source: SourceId,
        batch: &ImportBatch,
        audit: &[ImportAudit<'_>],
        fence: Option<&crate::Fence>,
        known: Option<SourceState>,
    ) -> Result<ImportDone, StoreError> {
        let started = std::time::Instant::now();
        let mut tx = self.write_tx().await?;
        if let Some(fence) = fence {
            crate::nodes::check_fence_in(&mut tx, fence).await?;
        }
        let t = tenant.to_string();
        let s = source.to_string();
        let backend = self.backend();
        let version = lock_directory_version(&mut tx, backend, &t).await?;
        let read_started = std::time::Instant::now();
        let (mut state, reused) = match known {
            Some(state) if state.version() == version => (state, true),
            _ => (SourceState::read(&mut tx, &t, &s, version).await?, false),
        };
        let diff_started = std::time::Instant::now();
        let changes = state.diff(source, batch);
        let diffed = std::time::Instant::now();
        write_changes(&mut tx, backend, &t, &s, &changes).await?;
        crate::queue::mark_dirty_in(&mut tx, tenant, &changes.marks).await?;

        sqlx::query("UPDATE sources SET last_sync_ms = $1, last_count = $2 WHERE id = $3 AND tenant_id = $4")
            .bind(now_ms())
            .bind(batch.people.len() as i64)
            .bind(&s)
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        let summary = changes.summary;
        for entry in audit {
            let detail = (entry.detail)(&summary, entry.context);
            let new = crate::NewAuditEntry::new(entry.actor, entry.action, entry.subject, &detail);
            crate::audit::append_audit_in(&mut tx, tenant, &new).await?;
        }
        // Read after every write of this transaction and, the tenant's row being locked, before
        // any other writer's: the state below is the database's at this version.
        let after = lock_directory_version(&mut tx, backend, &t).await?;
        tx.commit().await?;
        state.apply(changes, after);
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let (read_ms, diff_ms) = (ms(diff_started - read_started), ms(diffed - diff_started));
        let timings = ImportTimings { read_ms, diff_ms, write_ms: ms(started.elapsed()) - read_ms - diff_ms };
        Ok(ImportDone { summary, state, reused, timings })
    }

    /// Stores where an incremental source resumes (`None`: the next sync is a full one).
    pub async fn set_source_cursor(
        &self,
        tenant: TenantId,
        source: SourceId,
        cursor: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE sources SET cursor = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(cursor)
            .bind(source.to_string())
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("source {source}")));
        }
        Ok(())
    }

    /// What the source last delivered, as it was applied: its people who have not left and its
    /// groups, with memberships and nesting. An incremental sync applies its delta to this.
    pub async fn source_snapshot(&self, tenant: TenantId, source: SourceId) -> Result<ImportBatch, StoreError> {
        let t = tenant.to_string();
        let s = source.to_string();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND source_id = $2 AND status <> 'deleted' ORDER BY source_key"
        )))
        .bind(&t)
        .bind(&s)
        .fetch_all(&self.pool)
        .await?;
        let mut people = Vec::with_capacity(rows.len());
        let mut by_id: HashMap<PersonId, usize> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let p = person_from_row(row)?;
            by_id.insert(p.id, people.len());
            people.push(import_from_person(p));
        }
        let group_rows =
            sqlx::query("SELECT id, name FROM groups WHERE tenant_id = $1 AND source_id = $2 ORDER BY name")
                .bind(&t)
                .bind(&s)
                .fetch_all(&self.pool)
                .await?;
        let mut names: HashMap<GroupId, String> = HashMap::with_capacity(group_rows.len());
        let mut groups = Vec::with_capacity(group_rows.len());
        for row in &group_rows {
            let name = text(row, "name")?;
            names.insert(parsed(row, "id")?, name.clone());
            groups.push(ImportGroup { name, parents: Vec::new() });
        }
        let members = sqlx::query(
            "SELECT m.group_id, m.person_id FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.tenant_id = $1 AND g.source_id = $2",
        )
        .bind(&t)
        .bind(&s)
        .fetch_all(&self.pool)
        .await?;
        for row in &members {
            let (group, person): (GroupId, PersonId) = (parsed(row, "group_id")?, parsed(row, "person_id")?);
            if let (Some(name), Some(&i)) = (names.get(&group), by_id.get(&person)) {
                people[i].groups.push(name.clone());
            }
        }
        let nesting = sqlx::query(
            "SELECT n.parent_id, n.child_id FROM group_nesting n JOIN groups g ON g.id = n.child_id \
             WHERE n.tenant_id = $1 AND g.source_id = $2",
        )
        .bind(&t)
        .bind(&s)
        .fetch_all(&self.pool)
        .await?;
        let position: HashMap<&str, usize> = groups.iter().enumerate().map(|(i, g)| (g.name.as_str(), i)).collect();
        let mut parents: Vec<(usize, String)> = Vec::new();
        for row in &nesting {
            let (parent, child): (GroupId, GroupId) = (parsed(row, "parent_id")?, parsed(row, "child_id")?);
            if let (Some(parent), Some(child)) = (names.get(&parent), names.get(&child))
                && let Some(&i) = position.get(child.as_str())
            {
                parents.push((i, parent.clone()));
            }
        }
        for (i, parent) in parents {
            groups[i].parents.push(parent);
        }
        for p in &mut people {
            p.groups.sort();
        }
        for g in &mut groups {
            g.parents.sort();
        }
        Ok(ImportBatch { people, groups })
    }

    /// Every person of the tenant, those who left included (as tombstones).
    pub async fn list_people(&self, tenant: TenantId) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 ORDER BY email"
        )))
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(person_from_row).collect()
    }

    /// The people with these ids (those who left included), in no particular order.
    pub async fn people_by_ids(&self, tenant: TenantId, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        // Bounded statements: a plan's losses may name thousands of people.
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(self.read_pool()).await? {
                out.push(person_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// The person with this email (case-insensitive), preferring one who has not left.
    pub async fn person_by_email(&self, tenant: TenantId, email: &str) -> Result<Option<Person>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND LOWER(email) = LOWER($2)"
        )))
        .bind(tenant.to_string())
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        let mut people = rows.iter().map(person_from_row).collect::<Result<Vec<_>, _>>()?;
        people.sort_by_key(|p| p.status == PersonStatus::Deleted);
        Ok(people.into_iter().next())
    }

    /// Every group with its direct members and nested groups.
    pub async fn list_groups(&self, tenant: TenantId) -> Result<Vec<Group>, StoreError> {
        self.read_groups(&self.pool, tenant, true).await
    }

    /// The tenant's groups with their nesting, and their direct members when `members` (the
    /// largest read, which a cached directory that only needs the groups' shape leaves out).
    pub(crate) async fn read_groups(
        &self,
        pool: &sqlx::AnyPool,
        tenant: TenantId,
        members: bool,
    ) -> Result<Vec<Group>, StoreError> {
        let t = tenant.to_string();
        let rows = sqlx::query("SELECT id, source_id, name FROM groups WHERE tenant_id = $1 ORDER BY name")
            .bind(&t)
            .fetch_all(pool)
            .await?;
        let mut groups = Vec::with_capacity(rows.len());
        let mut index: HashMap<GroupId, usize> = HashMap::new();
        for row in &rows {
            let id: GroupId = parsed(row, "id")?;
            index.insert(id, groups.len());
            groups.push(Group {
                id,
                source_id: parsed(row, "source_id")?,
                name: text(row, "name")?,
                members: Vec::new(),
                member_groups: Vec::new(),
            });
        }
        if members {
            let members = sqlx::query("SELECT group_id, person_id FROM group_members WHERE tenant_id = $1")
                .bind(&t)
                .fetch_all(pool)
                .await?;
            for row in &members {
                let gid: GroupId = parsed(row, "group_id")?;
                if let Some(&i) = index.get(&gid) {
                    groups[i].members.push(parsed(row, "person_id")?);
                }
            }
        }
        let nesting = sqlx::query("SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = $1")
            .bind(&t)
            .fetch_all(pool)
            .await?;
        for row in &nesting {
            let parent: GroupId = parsed(row, "parent_id")?;
            if let Some(&i) = index.get(&parent) {
                groups[i].member_groups.push(parsed(row, "child_id")?);
            }
        }
        Ok(groups)
    }

    /// A group by name; an error if two sources both have a group of that name.
    pub async fn group_by_name(&self, tenant: TenantId, name: &str) -> Result<Option<GroupId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM groups WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(name)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(parsed(one, "id")?)),
            _ => Err(StoreError::Conflict(format!("several groups are named {name}"))),
        }
    }
}
