//! The audit log: appended to by every plan, apply, sync and admin action, never changed (the
//! database refuses UPDATE and DELETE on `audit`, see the migrations), read back newest first by
//! person, app, action, actor and time, one keyset page at a time.
//!
//! Rows carry the person (email, lower-cased), the person's id and the app as columns beside the
//! free-form JSON `detail`, so both backends filter them through the same plain indexes instead
//! of each dialect's JSON operators.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use tenure_core::{AuditEvent, AuditId, PersonId, TenantId};

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// Largest page a query returns; an export pages through with the cursor instead.
pub const MAX_AUDIT_PAGE: i64 = 10_000;

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: AuditId,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who or what did it: `cli`, `api`, `tenure` (the engine), `sync`.
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The person the row is about, by email (lower-cased), when it is about one.
    pub person: Option<String>,
    pub person_id: Option<String>,
    /// The app the row is about, by name.
    pub app: Option<String>,
    pub detail: serde_json::Value,
}

/// Which rows a query returns; every field narrows, `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// A person's email or id: rows naming them in `person`, `person_id` or `subject`, under
    /// either identifier (the directory resolves one to the other).
    pub person: Option<String>,
    pub app: Option<String>,
    /// An action (`plan.apply`) or a family of them: `plan`, `plan.` and `plan.*` all mean
    /// `plan` and every `plan.…` action.
    pub action: Option<String>,
    pub actor: Option<String>,
    /// Rows at or after this instant (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Rows strictly before this instant.
    pub until_ms: Option<i64>,
}

/// Where the next page starts: the last row returned, by its (time, id) key. Its text form
/// (`AT_MS.ID`) is opaque to callers; they hand back what they were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    at_ms: i64,
    id: AuditId,
}

impl AuditCursor {
    pub fn after(entry: &AuditEntry) -> Self {
        Self { at_ms: entry.at_ms, id: entry.id }
    }
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at_ms, self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid audit cursor {0:?}: pass back the next_cursor of a previous page unchanged")]
pub struct BadCursor(pub String);

impl FromStr for AuditCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(s.to_owned());
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self { at_ms: at.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
    }
}

/// One page of a query, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Set when more rows match: pass it back for the next page.
    pub next_cursor: Option<AuditCursor>,
}

const COLUMNS: &str = "id, at_ms, actor, action, subject, person, person_id, app, detail";

/// A value bound to a `$n` placeholder of a statement built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// A WHERE clause under construction: the SQL text only ever holds placeholders and column
/// names, every value goes through a bind.
struct Clause {
    sql: String,
    binds: Vec<Bind>,
}

impl Clause {
    fn new() -> Self {
        Self { sql: String::new(), binds: Vec::new() }
    }

    fn placeholder(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn placeholders(&mut self, values: &[String]) -> String {
        let list: Vec<String> = values.iter().map(|v| self.placeholder(Bind::Text(v.clone()))).collect();
        list.join(", ")
    }

    fn and(&mut self, condition: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(condition);
    }
}

fn bound<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: parsed(row, "id")?,
        at_ms: int(row, "at_ms")?,
        actor: text(row, "actor")?,
        action: text(row, "action")?,
        subject: text(row, "subject")?,
        person: opt_text(row, "person")?,
        person_id: opt_text(row, "person_id")?,
        app: opt_text(row, "app")?,
        detail: json(row, "detail")?,
    })
}

/// An audit row to append inside a caller's transaction, so that a change and its record are
/// written together or not at all.
#[derive(Debug, Clone, Copy)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// The person (an email); `None` falls back to `detail.person`.
    pub person: Option<&'a str>,
    /// The app's name; `None` falls back to `detail.app`, or the subject of an `app.*` action.
    pub app: Option<&'a str>,
    pub detail: &'a serde_json::Value,
}

impl<'a> NewAuditEntry<'a> {
    pub fn new(actor: &'a str, action: &'a str, subject: &'a str, detail: &'a serde_json::Value) -> Self {
        Self { actor, action, subject, person: None, app: None, detail }
    }
}

/// Appends an audit row inside `tx`.
pub(crate) async fn append_audit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    entry: &NewAuditEntry<'_>,
) -> Result<(), StoreError> {
    let NewAuditEntry { actor, action, subject, person, app, detail } = *entry;
    insert_audit(tx, tenant, actor, action, subject, person, app, detail).await
}

/// The string at `detail[key]`, if there is one.
fn detail_str<'a>(detail: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    detail.get(key).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty())
}

/// `plan`, `plan.` and `plan.*` name the family `plan`; anything else is one action.
fn action_family(action: &str) -> (&str, bool) {
    if let Some(family) = action.strip_suffix(".*").or_else(|| action.strip_suffix('.')) {
        (family, true)
    } else {
        (action, !action.contains('.'))
    }
}

impl Store {
    /// Appends a row. The person (`detail.person`, an email), their id (`detail.person_id`) and
    /// the app (`detail.app`, or the subject of an `app.*` action) are taken from `detail` when
    /// it names them, so they can be queried.
    pub async fn append_audit(
        &self,
        tenant: TenantId,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.append_audit_for(tenant, actor, action, subject, None, None, detail).await
    }

    /// Appends a row about this person (by email) and app; `None` falls back to what `detail`
    /// names (see [`Store::append_audit`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn append_audit_for(
        &self,
        tenant: TenantId,
        actor: &str,
        action: &str,
        subject: &str,
        person: Option<&str>,
        app: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        insert_audit(&mut tx, tenant, actor, action, subject, person, app, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Walks the tenant's audit chain and names the first entry that does not hold.
    pub async fn verify_audit(&self, tenant: TenantId) -> Result<crate::audit_chain::AuditVerification, StoreError> {
        crate::audit_chain::verify(&self.read, tenant).await
    }

    /// The newest `limit` audit events, oldest first.
    pub async fn list_audit(&self, tenant: TenantId, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let page = self.query_audit(tenant, &AuditFilter::default(), None, limit.clamp(1, MAX_AUDIT_PAGE)).await?;
        Ok(page
            .entries
            .into_iter()
            .rev()
            .map(|e| AuditEvent {
                id: e.id,
                at_ms: e.at_ms,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                detail: e.detail,
            })
            .collect())
    }

    /// Up to `limit` rows matching `filter`, newest first, starting after `cursor`.
    pub async fn query_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        cursor: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<AuditPage, StoreError> {
        let (sql, binds) = self.audit_select(tenant, filter, cursor, limit).await?;
        let rows = bound(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(self.read_pool()).await?;
        let mut entries = rows.iter().map(entry_from_row).collect::<Result<Vec<_>, _>>()?;
        let more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let next_cursor = if more { entries.last().map(AuditCursor::after) } else { None };
        Ok(AuditPage { entries, next_cursor })
    }

    /// The database's plan for [`Store::query_audit`] (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
    /// on PostgreSQL), one line per step: lets tests check that queries use an index.
    #[doc(hidden)]
    pub async fn explain_audit_query(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        cursor: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, binds) = self.audit_select(tenant, filter, cursor, limit).await?;
        let (explain, column) = match self.backend() {
            crate::Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
            crate::Backend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        };
        let rows = bound(sqlx::query(sqlx::AssertSqlSafe(format!("{explain} {sql}"))), binds)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter().map(|r| text(r, column)).collect()
    }

    /// The SELECT behind [`Store::query_audit`] and its binds.
    async fn audit_select(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        cursor: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<(String, Vec<Bind>), StoreError> {
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(StoreError::Invalid(format!("an audit page holds 1 to {MAX_AUDIT_PAGE} rows, not {limit}")));
        }
        let mut clause = Clause::new();
        match filter.person.as_deref() {
            Some(person) => self.person_condition(tenant, person, &mut clause).await?,
            None => {
                let t = clause.placeholder(Bind::Text(tenant.to_string()));
                clause.and(&format!("tenant_id = {t}"));
            }
        }
        if let Some(app) = &filter.app {
            let p = clause.placeholder(Bind::Text(app.clone()));
            clause.and(&format!("app = {p}"));
        }
        if let Some(action) = &filter.action {
            let (name, family) = action_family(action);
            let exact = clause.placeholder(Bind::Text(name.to_owned()));
            if family {
                let prefix = format!("{name}.");
                // substr, not LIKE: LIKE folds case on SQLite only and treats `_` as a wildcard.
                let len = prefix.chars().count();
                let p = clause.placeholder(Bind::Text(prefix));
                clause.and(&format!("(action = {exact} OR substr(action, 1, {len}) = {p})"));
            } else {
                clause.and(&format!("action = {exact}"));
            }
        }
        if let Some(actor) = &filter.actor {
            let p = clause.placeholder(Bind::Text(actor.clone()));
            clause.and(&format!("actor = {p}"));
        }
        if let Some(since) = filter.since_ms {
            let p = clause.placeholder(Bind::Int(since));
            clause.and(&format!("at_ms >= {p}"));
        }
        if let Some(until) = filter.until_ms {
            let p = clause.placeholder(Bind::Int(until));
            clause.and(&format!("at_ms < {p}"));
        }
        if let Some(c) = cursor {
            let at = clause.placeholder(Bind::Int(c.at_ms));
            let id = clause.placeholder(Bind::Text(c.id.to_string()));
            // The leading `at_ms <=` is what both planners turn into an index range.
            clause.and(&format!("at_ms <= {at} AND (at_ms < {at} OR id < {id})"));
        }
        // One row more than asked tells whether another page follows.
        let limit_p = clause.placeholder(Bind::Int(limit + 1));
        let sql =
            format!("SELECT {COLUMNS} FROM audit WHERE {} ORDER BY at_ms DESC, id DESC LIMIT {limit_p}", clause.sql);
        Ok((sql, clause.binds))
    }

    /// Rows about a person, given by email or by id: the directory supplies the other
    /// identifier, so a row that recorded only one of them is still found.
    async fn person_condition(&self, tenant: TenantId, person: &str, clause: &mut Clause) -> Result<(), StoreError> {
        let person = person.trim();
        let as_id = person.parse::<PersonId>().ok();
        let rows = match as_id {
            Some(id) => {
                sqlx::query("SELECT id, email FROM people WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string())
                    .fetch_all(self.read_pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT id, email FROM people WHERE tenant_id = $1 AND LOWER(email) = LOWER($2)")
                    .bind(tenant.to_string())
                    .bind(person)
                    .fetch_all(self.read_pool())
                    .await?
            }
        };
        let (mut emails, mut ids) = match as_id {
            Some(id) => (Vec::new(), vec![id.to_string()]),
            None => (vec![person.to_owned()], Vec::new()),
        };
        for row in &rows {
            ids.push(text(row, "id")?);
            emails.push(text(row, "email")?);
        }
        let mut lowered: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        lowered.sort();
        lowered.dedup();
        ids.sort();
        ids.dedup();
        let mut subjects: Vec<String> =
            emails.into_iter().chain(lowered.iter().cloned()).chain(ids.iter().cloned()).collect();
        subjects.sort();
        subjects.dedup();
        // The tenant in every branch (and not beside them) lets each one use its own
        // (tenant_id, column, ...) index instead of the planner settling for (tenant_id, at_ms).
        let t = clause.placeholder(Bind::Text(tenant.to_string()));
        let mut branches = Vec::new();
        if !lowered.is_empty() {
            branches.push(format!("(tenant_id = {t} AND person IN ({}))", clause.placeholders(&lowered)));
        }
        if !ids.is_empty() {
            branches.push(format!("(tenant_id = {t} AND person_id IN ({}))", clause.placeholders(&ids)));
        }
        branches.push(format!("(tenant_id = {t} AND subject IN ({}))", clause.placeholders(&subjects)));
        clause.and(&format!("({})", branches.join(" OR ")));
        Ok(())
    }
}

/// Appends a row inside a transaction (the one whose change the row records, so the change and
/// its audit entry commit together), extending the tenant's hash chain (`audit_chain.rs`).
/// Every audit append goes through here. See [`Store::append_audit_for`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_audit(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    actor: &str,
    action: &str,
    subject: &str,
    person: Option<&str>,
    app: Option<&str>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    let person = person.filter(|p| !p.is_empty()).or_else(|| detail_str(detail, "person")).map(str::to_lowercase);
    // `app.*` rows (app.add, app.quarantined, ...) are about the app their subject names.
    let app = app
        .filter(|a| !a.is_empty())
        .or_else(|| detail_str(detail, "app"))
        .or_else(|| action.starts_with("app.").then_some(subject).filter(|s| !s.is_empty()));
    // Time-ordered ids: rows of the same millisecond page in the order they were written.
    let id = AuditId(uuid::Uuid::now_v7()).to_string();
    let tenant = tenant.to_string();
    let (at_ms, detail_text, person_id) = (now_ms(), to_json(detail), detail_str(detail, "person_id"));
    let (seq, prev) = crate::audit_chain::next_link(conn, &tenant).await?;
    let hash = crate::audit_chain::entry_hash(
        &prev,
        &crate::audit_chain::Content {
            seq,
            id: &id,
            tenant: &tenant,
            at_ms,
            actor,
            action,
            subject,
            person: person.as_deref(),
            person_id,
            app,
            detail: &detail_text,
        },
    );
    sqlx::query(
        "INSERT INTO audit (id, tenant_id, at_ms, actor, action, subject, person, person_id, app, detail, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(&tenant)
    .bind(at_ms)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(person.as_deref())
    .bind(person_id)
    .bind(app)
    .bind(&detail_text)
    .bind(seq)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    crate::audit_chain::advance(conn, &tenant, &hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_families() {
        assert_eq!(action_family("plan"), ("plan", true));
        assert_eq!(action_family("plan."), ("plan", true));
        assert_eq!(action_family("plan.*"), ("plan", true));
        assert_eq!(action_family("plan.apply"), ("plan.apply", false));
        assert_eq!(action_family("account.create."), ("account.create", true));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = AuditCursor { at_ms: 1_700_000_000_123, id: AuditId::new() };
        assert_eq!(c.to_string().parse::<AuditCursor>(), Ok(c));
        for bad in ["", "12", "x.y", "12.not-a-uuid", &format!("x.{}", AuditId::new())] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad:?}");
        }
    }
}
