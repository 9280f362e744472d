//! The audit log's hash chain, per tenant: entry `n` stores the hash of entry `n - 1` and its
//! own hash, SHA-256 over that previous hash and the entry's content as stored. The hash is
//! computed inside the transaction that appends the entry, after taking the tenant's
//! `audit_chain` row (an UPDATE, so PostgreSQL appenders of one tenant queue on it; SQLite has
//! one writer anyway), so two appends can never claim the same place.
//!
//! Entries from before the chain (no `seq`) are folded into the first link: the chain starts
//! from a digest of them, so altering one of them breaks the first chained entry.
//!
//! [`verify`] walks the chain and names the first entry that does not hold: content changed
//! (its hash), an entry removed or inserted (the sequence or the previous hash), the tail cut
//! off (the chain head).

use ring::digest::{Context, SHA256};
use sqlx::any::AnyRow;
use tenure_core::TenantId;

use crate::StoreError;
use crate::row::*;

/// The content of an entry that its hash covers, as stored.
pub(crate) struct Content<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub tenant: &'a str,
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub person: Option<&'a str>,
    pub person_id: Option<&'a str>,
    pub app: Option<&'a str>,
    pub detail: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Length-prefixed fields, so no two different entries hash the same bytes.
fn feed(ctx: &mut Context, field: Option<&str>) {
    match field {
        None => ctx.update(&[0]),
        Some(text) => {
            ctx.update(&[1]);
            ctx.update(&(text.len() as u64).to_be_bytes());
            ctx.update(text.as_bytes());
        }
    }
}

pub(crate) fn entry_hash(prev: &str, c: &Content<'_>) -> String {
    let mut ctx = Context::new(&SHA256);
    ctx.update(b"tenure-audit-v1");
    let (seq, at) = (c.seq.to_string(), c.at_ms.to_string());
    for field in [
        Some(prev),
        Some(seq.as_str()),
        Some(c.id),
        Some(c.tenant),
        Some(at.as_str()),
        Some(c.actor),
        Some(c.action),
        Some(c.subject),
        c.person,
        c.person_id,
        c.app,
        Some(c.detail),
    ] {
        feed(&mut ctx, field);
    }
    hex(ctx.finish().as_ref())
}

/// The hash of a stored row following `prev`, at place `seq`.
fn row_hash(prev: &str, r: &AnyRow, seq: i64) -> Result<String, StoreError> {
    let (id, tenant, actor, action, subject, detail) = (
        text(r, "id")?,
        text(r, "tenant_id")?,
        text(r, "actor")?,
        text(r, "action")?,
        text(r, "subject")?,
        text(r, "detail")?,
    );
    let (person, person_id, app) = (opt_text(r, "person")?, opt_text(r, "person_id")?, opt_text(r, "app")?);
    let content = Content {
        seq,
        id: &id,
        tenant: &tenant,
        at_ms: int(r, "at_ms")?,
        actor: &actor,
        action: &action,
        subject: &subject,
        person: person.as_deref(),
        person_id: person_id.as_deref(),
        app: app.as_deref(),
        detail: &detail,
    };
    Ok(entry_hash(prev, &content))
}

const LEGACY_COLUMNS: &str = "id, tenant_id, at_ms, actor, action, subject, person, person_id, app, detail";

/// The chain's starting point for a tenant: a digest of the entries written before the chain.
async fn genesis(conn: &mut sqlx::AnyConnection, tenant: &str) -> Result<String, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEGACY_COLUMNS} FROM audit WHERE tenant_id = $1 AND seq IS NULL ORDER BY at_ms, id"
    )))
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await?;
    genesis_of(tenant, &rows)
}

fn genesis_of(tenant: &str, rows: &[AnyRow]) -> Result<String, StoreError> {
    let mut prev = {
        let mut ctx = Context::new(&SHA256);
        ctx.update(b"tenure-audit-genesis-v1");
        feed(&mut ctx, Some(tenant));
        hex(ctx.finish().as_ref())
    };
    for r in rows {
        prev = row_hash(&prev, r, 0)?;
    }
    Ok(prev)
}

/// Takes the tenant's next place in the chain: its sequence number and the previous hash. The
/// caller inserts the entry and then calls [`advance`] in the same transaction.
pub(crate) async fn next_link(conn: &mut sqlx::AnyConnection, tenant: &str) -> Result<(i64, String), StoreError> {
    for _ in 0..2 {
        let taken = sqlx::query("UPDATE audit_chain SET seq = seq + 1 WHERE tenant_id = $1 RETURNING seq, hash")
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(r) = taken {
            return Ok((int(&r, "seq")?, text(&r, "hash")?));
        }
        // The tenant's first chained entry: start from the digest of what came before.
        let start = genesis(conn, tenant).await?;
        sqlx::query("INSERT INTO audit_chain (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING")
            .bind(tenant)
            .bind(start)
            .execute(&mut *conn)
            .await?;
    }
    Err(StoreError::Concurrent("the audit chain head".into()))
}

pub(crate) async fn advance(conn: &mut sqlx::AnyConnection, tenant: &str, hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_chain SET hash = $1 WHERE tenant_id = $2").bind(hash).bind(tenant).execute(conn).await?;
    Ok(())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditVerification {
    /// Entries checked (chained ones; older entries are covered through the chain's start).
    pub chained: u64,
    pub legacy: u64,
    /// The first entry that does not chain, if any.
    pub first_bad: Option<BadEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadEntry {
    /// The entry's id (absent when what is missing is the entry itself, at the end).
    pub id: Option<String>,
    pub seq: i64,
    pub at_ms: Option<i64>,
    pub action: Option<String>,
    pub reason: String,
}

/// Walks a tenant's chain from its start; reads only.
pub(crate) async fn verify(pool: &sqlx::AnyPool, tenant: TenantId) -> Result<AuditVerification, StoreError> {
    let tenant_text = tenant.to_string();
    let mut conn = pool.acquire().await?;
    let legacy = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEGACY_COLUMNS} FROM audit WHERE tenant_id = $1 AND seq IS NULL ORDER BY at_ms, id"
    )))
    .bind(&tenant_text)
    .fetch_all(&mut *conn)
    .await?;
    let chained = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEGACY_COLUMNS}, seq, prev_hash, hash FROM audit WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq"
    )))
    .bind(&tenant_text)
    .fetch_all(&mut *conn)
    .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_chain WHERE tenant_id = $1")
        .bind(&tenant_text)
        .fetch_optional(&mut *conn)
        .await?;
    let mut report = AuditVerification { chained: 0, legacy: legacy.len() as u64, first_bad: None };
    let mut prev = genesis_of(&tenant_text, &legacy)?;
    let mut expected_seq = 1i64;
    for r in &chained {
        let id = text(r, "id")?;
        let seq = int(r, "seq")?;
        let at_ms = int(r, "at_ms")?;
        let action = text(r, "action")?;
        let bad = |reason: String| BadEntry {
            id: Some(id.clone()),
            seq,
            at_ms: Some(at_ms),
            action: Some(action.clone()),
            reason,
        };
        let stored_prev = opt_text(r, "prev_hash")?.unwrap_or_default();
        let stored_hash = opt_text(r, "hash")?.unwrap_or_default();
        let problem = if seq != expected_seq {
            Some(format!("expected entry number {expected_seq} here, found {seq}: an entry is missing"))
        } else if stored_prev != prev {
            Some(if seq == 1 {
                "does not follow from the entries before the chain: one of them was changed, removed or added"
                    .to_owned()
            } else {
                "does not carry the previous entry's hash: an entry before it was changed, removed or added".to_owned()
            })
        } else if row_hash(&prev, r, seq)? != stored_hash {
            Some("its content does not match its hash: it was changed after it was written".to_owned())
        } else {
            None
        };
        if let Some(reason) = problem {
            report.first_bad = Some(bad(reason));
            return Ok(report);
        }
        prev = stored_hash;
        expected_seq += 1;
        report.chained += 1;
    }
    let head_ok = match &head {
        None => chained.is_empty(),
        Some(h) => int(h, "seq")? == expected_seq - 1 && text(h, "hash")? == prev,
    };
    if !head_ok {
        let head_seq = head.as_ref().map(|h| int(h, "seq")).transpose()?.unwrap_or(0);
        report.first_bad = Some(BadEntry {
            id: None,
            seq: expected_seq,
            at_ms: None,
            action: None,
            reason: format!(
                "the chain ends at entry {} but its head records entry {head_seq}: entries at the end were removed, or the head was altered",
                expected_seq - 1
            ),
        });
    }
    Ok(report)
}
