//! The console's state shared by every node: failed sign-ins counted per key over a window, and
//! the console's long jobs with their outcome and the heartbeat of the node running them.

use tenure_core::TenantId;

use crate::row::*;
use crate::{Store, StoreError, now_ms};

/// Where a console job stands, as its page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleJobStatus {
    Running,
    Done,
    Failed,
    /// It was running when its node stopped beating: the work may have partly happened.
    Interrupted,
}

impl ConsoleJobStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            other => return Err(StoreError::Corrupt(format!("console job status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone)]
pub struct ConsoleJob {
    pub id: String,
    pub tenant: TenantId,
    pub admin: String,
    pub kind: String,
    pub subject: String,
    pub planned: i64,
    pub status: ConsoleJobStatus,
    pub outcome: String,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    pub ended_ms: Option<i64>,
}

impl Store {
    /// Counts the failures recorded under `key` since `since_ms`.
    pub async fn sign_in_failures(&self, key: &str, since_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM sign_in_failures WHERE key = $1 AND at_ms >= $2")
            .bind(key)
            .bind(since_ms)
            .fetch_one(self.read_pool())
            .await?;
        int(&row, "n")
    }

    /// Records one failure under each key, and forgets every failure older than `forget_before_ms`.
    pub async fn record_sign_in_failure(&self, keys: &[String], forget_before_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE at_ms < $1").bind(forget_before_ms).execute(&mut *tx).await?;
        let now = now_ms();
        for key in keys {
            sqlx::query("INSERT INTO sign_in_failures (key, at_ms) VALUES ($1, $2)")
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the failures under `key` (a successful sign-in forgets its email's).
    pub async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Records a job that has just started, and forgets ended jobs older than `forget_before_ms`.
    pub async fn insert_console_job(&self, job: &ConsoleJob, forget_before_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM console_jobs WHERE ended_ms IS NOT NULL AND ended_ms < $1")
            .bind(forget_before_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_jobs (id, tenant_id, admin, kind, subject, planned, status, outcome, started_ms, \
             heartbeat_ms, ended_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&job.id)
        .bind(job.tenant.to_string())
        .bind(&job.admin)
        .bind(&job.kind)
        .bind(&job.subject)
        .bind(job.planned)
        .bind(job.status.as_str())
        .bind(&job.outcome)
        .bind(job.started_ms)
        .bind(job.heartbeat_ms)
        .bind(job.ended_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The running node's sign of life for its job.
    pub async fn beat_console_job(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_jobs SET heartbeat_ms = $1 WHERE id = $2 AND status = 'running'")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a job ended (`Done` or `Failed`).
    pub async fn finish_console_job(
        &self,
        id: &str,
        status: ConsoleJobStatus,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE console_jobs SET status = $1, outcome = $2, ended_ms = $3, heartbeat_ms = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(outcome)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job, to the admin of the tenant who started it only. A running job whose heartbeat is
    /// older than `stale_before_ms` reads as interrupted (and is recorded so).
    pub async fn console_job(
        &self,
        id: &str,
        tenant: TenantId,
        admin: &str,
        stale_before_ms: i64,
    ) -> Result<Option<ConsoleJob>, StoreError> {
        sqlx::query(
            "UPDATE console_jobs SET status = 'interrupted', ended_ms = heartbeat_ms, \
             outcome = 'The server running it stopped before it ended; some of its work may have been done.' \
             WHERE id = $1 AND status = 'running' AND heartbeat_ms < $2",
        )
        .bind(id)
        .bind(stale_before_ms)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT id, tenant_id, admin, kind, subject, planned, status, outcome, started_ms, heartbeat_ms, ended_ms \
             FROM console_jobs WHERE id = $1 AND tenant_id = $2 AND admin = $3",
        )
        .bind(id)
        .bind(tenant.to_string())
        .bind(admin)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsoleJob {
                id: text(&r, "id")?,
                tenant: parsed(&r, "tenant_id")?,
                admin: text(&r, "admin")?,
                kind: text(&r, "kind")?,
                subject: text(&r, "subject")?,
                planned: int(&r, "planned")?,
                status: ConsoleJobStatus::parse(&text(&r, "status")?)?,
                outcome: text(&r, "outcome")?,
                started_ms: int(&r, "started_ms")?,
                heartbeat_ms: int(&r, "heartbeat_ms")?,
                ended_ms: opt_int(&r, "ended_ms")?,
            })
        })
        .transpose()
    }
}
