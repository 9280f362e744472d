//! License pools, uploaded last activity, and each app's seats as the last live license report
//! read them (what the stored report counts).

use std::collections::HashMap;

use tenure_core::licenses::{LicensePool, SeatCount, UNUSED_DAYS};
use tenure_core::{AccountClass, AppId, TenantId};

use crate::bulk::{self, Param};
use crate::row::*;
use crate::{Store, StoreError, Tx, now_ms};

/// One account of an app as a live license report classified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub remote_id: String,
    pub tier: Option<String>,
    pub class: AccountClass,
    pub active: bool,
    pub last_active: Option<time::Date>,
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn date_text(date: time::Date) -> String {
    date.format(DATE).unwrap_or_default()
}

impl Store {
    /// Every pool of the tenant, with its app's id, by app name and tier.
    pub async fn license_pools(&self, tenant: TenantId) -> Result<Vec<(AppId, LicensePool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.app_id, a.name, l.tier, l.seats, l.cost_per_seat, l.currency, l.period, l.renews, l.owner, \
             l.unused_days, l.freed_to FROM license_pools l JOIN apps a ON a.id = l.app_id \
             WHERE l.tenant_id = $1 ORDER BY a.name, l.tier",
        )
        .bind(tenant.to_string())
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                let tier = text(r, "tier")?;
                let seats = int(r, "seats")?;
                let unused = int(r, "unused_days")?;
                Ok((
                    parsed(r, "app_id")?,
                    LicensePool {
                        app: text(r, "name")?,
                        tier: (!tier.is_empty()).then_some(tier),
                        seats: u64::try_from(seats).map_err(|_| StoreError::corrupt(format!("seats {seats}")))?,
                        cost_per_seat: parsed(r, "cost_per_seat")?,
                        currency: parsed(r, "currency")?,
                        period: parsed(r, "period")?,
                        renews: opt_date(r, "renews")?,
                        owner: opt_text(r, "owner")?,
                        unused_days: u16::try_from(unused)
                            .map_err(|_| StoreError::corrupt(format!("unused_days {unused}")))?,
                        freed_to: text(r, "freed_to")?.parse().map_err(StoreError::corrupt)?,
                    },
                ))
            })
            .collect()
    }

    /// Uploaded last activity of an app's accounts, by lower-case userName or email.
    pub async fn license_activity(
        &self,
        tenant: TenantId,
        app: AppId,
    ) -> Result<HashMap<String, time::Date>, StoreError> {
        let rows =
            sqlx::query("SELECT user_key, last_active FROM license_activity WHERE tenant_id = $1 AND app_id = $2")
                .bind(tenant.to_string())
                .bind(app.to_string())
                .fetch_all(self.read_pool())
                .await?;
        rows.iter()
            .filter_map(|r| match (text(r, "user_key"), opt_date(r, "last_active")) {
                (Ok(key), Ok(Some(date))) => Some(Ok((key, date))),
                (Err(e), _) | (_, Err(e)) => Some(Err(e)),
                _ => None,
            })
            .collect()
    }

    /// Replaces what is stored of an app's seats with a new reading, in one transaction.
    pub async fn replace_license_seats(
        &self,
        tenant: TenantId,
        app: AppId,
        rows: &[SeatRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM license_seats WHERE tenant_id = $1 AND app_id = $2")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .execute(&mut *tx)
            .await?;
        let (t, a, read_ms) = (tenant.to_string(), app.to_string(), now_ms());
        bulk::insert(
            &mut tx,
            self.backend,
            (
                "INSERT INTO license_seats (tenant_id, app_id, remote_id, tier, class, active, last_active_day, read_ms) \
                 VALUES ",
                "",
            ),
            &[],
            8,
            rows,
            |row: &SeatRow, params: &mut Vec<Param<'_>>| {
                params.push(Param::from(t.as_str()));
                params.push(Param::from(a.as_str()));
                params.push(Param::from(row.remote_id.as_str()));
                params.push(Param::from(row.tier.as_deref().unwrap_or("")));
                params.push(Param::from(row.class.as_str()));
                params.push(Param::from(i64::from(row.active)));
                params.push(Param::OptInt(row.last_active.map(|d| i64::from(d.to_julian_day()))));
                params.push(Param::from(read_ms));
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored seats of every app, counted by tier, class and state, with how many were
    /// unused for 30, 60 and 90 days before `today`: the aggregate runs in the database.
    pub async fn license_seat_counts(
        &self,
        tenant: TenantId,
        today: time::Date,
    ) -> Result<Vec<(AppId, SeatCount)>, StoreError> {
        let cutoff = |days: u16| i64::from(today.to_julian_day()) - i64::from(days);
        let rows = sqlx::query(
            "SELECT app_id, tier, class, active, COUNT(*) AS accounts, COUNT(last_active_day) AS known, \
             SUM(CASE WHEN last_active_day < $2 THEN 1 ELSE 0 END) AS unused_a, \
             SUM(CASE WHEN last_active_day < $3 THEN 1 ELSE 0 END) AS unused_b, \
             SUM(CASE WHEN last_active_day < $4 THEN 1 ELSE 0 END) AS unused_c \
             FROM license_seats WHERE tenant_id = $1 GROUP BY app_id, tier, class, active",
        )
        .bind(tenant.to_string())
        .bind(cutoff(UNUSED_DAYS[0]))
        .bind(cutoff(UNUSED_DAYS[1]))
        .bind(cutoff(UNUSED_DAYS[2]))
        .fetch_all(self.read_pool())
        .await?;
        let count = |r: &sqlx::any::AnyRow, col: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(opt_int(r, col)?.unwrap_or(0)).unwrap_or(0))
        };
        rows.iter()
            .map(|r| {
                let tier = text(r, "tier")?;
                Ok((
                    parsed(r, "app_id")?,
                    SeatCount {
                        tier: (!tier.is_empty()).then_some(tier),
                        class: Some(parsed(r, "class")?),
                        active: int(r, "active")? != 0,
                        accounts: count(r, "accounts")?,
                        activity_known: count(r, "known")?,
                        unused: [count(r, "unused_a")?, count(r, "unused_b")?, count(r, "unused_c")?],
                    },
                ))
            })
            .collect()
    }
}

impl Tx {
    /// Sets a pool (app and tier), replacing its terms.
    pub async fn upsert_license_pool(
        &mut self,
        tenant: TenantId,
        app: AppId,
        pool: &LicensePool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO license_pools (tenant_id, app_id, tier, seats, cost_per_seat, currency, period, renews, \
             owner, unused_days, updated_ms, freed_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (app_id, tier) DO UPDATE SET seats = excluded.seats, \
             cost_per_seat = excluded.cost_per_seat, currency = excluded.currency, period = excluded.period, \
             renews = excluded.renews, owner = excluded.owner, unused_days = excluded.unused_days, \
             updated_ms = excluded.updated_ms, freed_to = excluded.freed_to",
        )
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(pool.tier.as_deref().unwrap_or(""))
        .bind(i64::try_from(pool.seats).map_err(|_| StoreError::corrupt(format!("seats {}", pool.seats)))?)
        .bind(pool.cost_per_seat.to_string())
        .bind(pool.currency.as_str())
        .bind(pool.period.as_str())
        .bind(pool.renews.map(date_text))
        .bind(pool.owner.as_deref())
        .bind(i64::from(pool.unused_days))
        .bind(now_ms())
        .bind(pool.freed_to.as_str())
        .execute(&mut **self.inner())
        .await?;
        Ok(())
    }

    /// Removes a pool; true when there was one.
    pub async fn delete_license_pool(
        &mut self,
        tenant: TenantId,
        app: AppId,
        tier: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM license_pools WHERE tenant_id = $1 AND app_id = $2 AND tier = $3")
            .bind(tenant.to_string())
            .bind(app.to_string())
            .bind(tier.unwrap_or(""))
            .execute(&mut **self.inner())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces an app's uploaded last activity (keys lower case, one date each).
    pub async fn replace_license_activity(
        &mut self,
        tenant: TenantId,
        app: AppId,
        entries: &[(String, time::Date)],
    ) -> Result<(), StoreError> {
        let (t, a) = (tenant.to_string(), app.to_string());
        sqlx::query("DELETE FROM license_activity WHERE tenant_id = $1 AND app_id = $2")
            .bind(&t)
            .bind(&a)
            .execute(&mut **self.inner())
            .await?;
        let backend = self.backend();
        bulk::insert(
            self.inner(),
            backend,
            ("INSERT INTO license_activity (tenant_id, app_id, user_key, last_active) VALUES ", ""),
            &[],
            4,
            entries,
            |(key, date): &(String, time::Date), params: &mut Vec<Param<'_>>| {
                params.push(Param::from(t.as_str()));
                params.push(Param::from(a.as_str()));
                params.push(Param::from(key.as_str()));
                params.push(Param::from(date_text(*date)));
            },
        )
        .await
    }
}
