//! Several nodes on one database: duty leases with fencing terms, and request budgets shared by
//! every node.
//!
//! A duty (the source schedule, the periodic reconciliation) is held by one node at a time: the
//! one whose id is in the duty's lease row and whose lease has not run out. Taking, renewing and
//! taking over are one compare-and-set statement each, so no two nodes can both believe they
//! won; a takeover increments the term. A write made under a duty names the term it was started
//! under ([`Fence`]) and checks it in its own transaction: the check updates the lease row, so
//! on PostgreSQL it holds the row lock until commit, and a takeover waits for that write to
//! commit or sees it never happen. A holder that stalled past its lease is refused
//! ([`StoreError::Fenced`]) rather than writing beside its successor.
//!
//! Request budgets are GCRA: a row per bucket keeps the time of the next free request slot; a
//! node reserves a slice of consecutive slots by moving that time forward in one statement, so
//! the slots every node is handed are disjoint and no more than the rate (plus the burst) fall in
//! any interval, however many nodes ask. A 429's Retry-After is stored on the same row and every
//! reservation starts after it.

use std::time::Duration;

use tenure_core::TenantId;

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// The proof a write is made under a duty's current term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub tenant: TenantId,
    pub duty: String,
    pub holder: String,
    pub term: i64,
}

/// A lease this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyLease {
    pub fence: Fence,
    pub expires_ms: i64,
    /// When the duty's periodic work was last recorded done (0: never).
    pub last_run_ms: i64,
}

/// A duty's lease row, whoever holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DutyHolder {
    pub duty: String,
    pub holder: String,
    pub term: i64,
    pub expires_ms: i64,
    pub last_run_ms: i64,
}

/// Request slots reserved from a shared budget: `count` slots, the first at `first_us`, one
/// every `interval_us` (microseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSlots {
    pub first_us: i64,
    pub interval_us: i64,
    pub count: u32,
    /// The app's stored Retry-After (ms since the epoch; 0 when none).
    pub held_until_ms: i64,
}

impl Store {
    /// Takes the duty for `holder`, renews it if `holder` has it, or takes it over if its
    /// lease ran out (or at once with `steal`: the one node of an embedded database); `None`
    /// while another node holds it. One statement: two nodes asking at once cannot both get it.
    pub async fn take_duty(
        &self,
        tenant: TenantId,
        duty: &str,
        holder: &str,
        lease: Duration,
        steal: bool,
    ) -> Result<Option<DutyLease>, StoreError> {
        if steal {
            // The one node of an embedded database renews by reading: a write every few
            // seconds from `serve` would make the CLI's transactions beside it meet "database is
            // locked" (SQLite cannot wait when a read transaction must become a write one after
            // another process committed).
            let held = sqlx::query(
                "SELECT term, expires_ms, last_run_ms FROM duty_leases WHERE tenant_id = $1 AND duty = $2 AND holder = $3",
            )
            .bind(tenant.to_string())
            .bind(duty)
            .bind(holder)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = held {
                return Ok(Some(DutyLease {
                    fence: Fence { tenant, duty: duty.to_owned(), holder: holder.to_owned(), term: int(&r, "term")? },
                    expires_ms: int(&r, "expires_ms")?,
                    last_run_ms: int(&r, "last_run_ms")?,
                }));
            }
        }
        let now = now_ms();
        let expired_before = if steal { i64::MAX } else { now };
        let expires = now + lease.as_millis() as i64;
        let row = sqlx::query(
            "INSERT INTO duty_leases (tenant_id, duty, holder, term, expires_ms, last_run_ms) \
             VALUES ($1, $2, $3, 1, $4, 0) \
             ON CONFLICT (tenant_id, duty) DO UPDATE SET \
                 term = CASE WHEN duty_leases.holder = excluded.holder THEN duty_leases.term ELSE duty_leases.term + 1 END, \
                 holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE duty_leases.holder = excluded.holder OR duty_leases.expires_ms < $5 \
             RETURNING term, expires_ms, last_run_ms",
        )
        .bind(tenant.to_string())
        .bind(duty)
        .bind(holder)
        .bind(expires)
        .bind(expired_before)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DutyLease {
                fence: Fence { tenant, duty: duty.to_owned(), holder: holder.to_owned(), term: int(&r, "term")? },
                expires_ms: int(&r, "expires_ms")?,
                last_run_ms: int(&r, "last_run_ms")?,
            })
        })
        .transpose()
    }

    /// Gives the duty up (a clean shutdown), so another node takes it at once instead of after
    /// the lease. Only the holder's own term is released.
    pub async fn release_duty(&self, fence: &Fence) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE duty_leases SET expires_ms = 0 WHERE tenant_id = $1 AND duty = $2 AND holder = $3 AND term = $4",
        )
        .bind(fence.tenant.to_string())
        .bind(&fence.duty)
        .bind(&fence.holder)
        .bind(fence.term)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every duty's lease row of the tenant, by duty.
    pub async fn duty_holders(&self, tenant: TenantId) -> Result<Vec<DutyHolder>, StoreError> {
        let rows = sqlx::query(
            "SELECT duty, holder, term, expires_ms, last_run_ms FROM duty_leases WHERE tenant_id = $1 ORDER BY duty",
        )
        .bind(tenant.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DutyHolder {
                    duty: text(r, "duty")?,
                    holder: text(r, "holder")?,
                    term: int(r, "term")?,
                    expires_ms: int(r, "expires_ms")?,
                    last_run_ms: int(r, "last_run_ms")?,
                })
            })
            .collect()
    }

    /// Records the duty's periodic work done at `at_ms`, under its fence.
    pub async fn record_duty_run(&self, fence: &Fence, at_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE duty_leases SET last_run_ms = $1 WHERE tenant_id = $2 AND duty = $3 AND holder = $4 AND term = $5",
        )
        .bind(at_ms)
        .bind(fence.tenant.to_string())
        .bind(&fence.duty)
        .bind(&fence.holder)
        .bind(fence.term)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)
        .and_then(|done| if done.rows_affected() == 1 { Ok(()) } else { Err(fenced(fence)) })?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks for propagation under a duty's fence (the periodic reconciliation's marks).
    pub async fn mark_dirty_fenced(&self, fence: &Fence, marks: &[crate::DirtyMark]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        check_fence_in(&mut tx, fence).await?;
        crate::queue::mark_dirty_in(&mut tx, fence.tenant, marks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Self::mark_dirty_fenced`] for marks that ask for nothing newer than a pending one: a
    /// mark already there keeps its time. The periodic reconciliation marks this way, so a full
    /// plan that takes longer than the interval clears what it answered instead of finding it
    /// refreshed on every tick (and the app marked for ever).
    pub async fn mark_absent_fenced(&self, fence: &Fence, marks: &[crate::DirtyMark]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        check_fence_in(&mut tx, fence).await?;
        crate::queue::mark_absent_in(&mut tx, fence.tenant, marks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reserves `count` consecutive request slots of the tenant's `bucket`, paced at
    /// `per_second` with up to `burst` slots already due after a quiet spell. One statement.
    pub async fn reserve_budget(
        &self,
        tenant: TenantId,
        bucket: &str,
        per_second: f64,
        burst: u32,
        count: u32,
    ) -> Result<BudgetSlots, StoreError> {
        let interval_us = budget_interval_us(per_second);
        let count = count.max(1);
        let now_us = now_ms() * 1000;
        // A slot may be at most `burst - 1` intervals in the past: that is the burst.
        let earliest = now_us - i64::from(burst.max(1) - 1) * interval_us;
        let span = i64::from(count) * interval_us;
        let row = sqlx::query(
            "INSERT INTO rate_budgets (tenant_id, bucket, next_free_us, held_until_ms) VALUES ($1, $2, $3 + $4, 0) \
             ON CONFLICT (tenant_id, bucket) DO UPDATE SET next_free_us = \
                 (CASE WHEN rate_budgets.next_free_us > $3 THEN \
                     (CASE WHEN rate_budgets.next_free_us > rate_budgets.held_until_ms * 1000 \
                           THEN rate_budgets.next_free_us ELSE rate_budgets.held_until_ms * 1000 END) \
                  ELSE (CASE WHEN $3 > rate_budgets.held_until_ms * 1000 \
                           THEN $3 ELSE rate_budgets.held_until_ms * 1000 END) END) + $4 \
             RETURNING next_free_us, held_until_ms",
        )
        .bind(tenant.to_string())
        .bind(bucket)
        .bind(earliest)
        .bind(span)
        .fetch_one(&self.pool)
        .await?;
        let end = int(&row, "next_free_us")?;
        Ok(BudgetSlots { first_us: end - span, interval_us, count, held_until_ms: int(&row, "held_until_ms")? })
    }

    /// The app asked every client to wait until `until_ms` (a 429's Retry-After): no slot is
    /// handed out before it, on any node.
    pub async fn pause_budget(&self, tenant: TenantId, bucket: &str, until_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rate_budgets (tenant_id, bucket, next_free_us, held_until_ms) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (tenant_id, bucket) DO UPDATE SET held_until_ms = \
                 CASE WHEN rate_budgets.held_until_ms > $3 THEN rate_budgets.held_until_ms ELSE $3 END",
        )
        .bind(tenant.to_string())
        .bind(bucket)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Microseconds between two requests at `per_second` (at least one).
fn budget_interval_us(per_second: f64) -> i64 {
    let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
    ((1_000_000.0 / per_second).ceil() as i64).max(1)
}

impl crate::Tx {
    /// Refuses this transaction's writes unless `fence` is still its duty's current term
    /// ([`StoreError::Fenced`]); on PostgreSQL the lease row stays locked until the transaction
    /// ends, so a takeover waits for it or sees it never happen.
    pub async fn check_fence(&mut self, fence: &Fence) -> Result<(), StoreError> {
        check_fence_in(&mut self.tx, fence).await
    }
}

fn fenced(fence: &Fence) -> StoreError {
    StoreError::Fenced { duty: fence.duty.clone(), term: fence.term }
}

/// Refuses the transaction's writes unless `fence` is still the duty's current term. The
/// no-op update takes the lease row's lock (PostgreSQL) until the transaction ends, so a
/// takeover cannot slip in between this check and the commit.
pub(crate) async fn check_fence_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, fence: &Fence) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE duty_leases SET term = term WHERE tenant_id = $1 AND duty = $2 AND holder = $3 AND term = $4",
    )
    .bind(fence.tenant.to_string())
    .bind(&fence.duty)
    .bind(&fence.holder)
    .bind(fence.term)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(fenced(fence)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_whole_microseconds_and_never_zero() {
        assert_eq!(budget_interval_us(100.0), 10_000);
        assert_eq!(budget_interval_us(3.0), 333_334);
        assert_eq!(budget_interval_us(0.0), 1_000_000);
        assert_eq!(budget_interval_us(f64::NAN), 1_000_000);
        assert_eq!(budget_interval_us(1e9), 1);
    }
}
