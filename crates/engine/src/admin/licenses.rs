//! License pools and the money view, as license admins (and org admins) keep them: set and
//! remove an app's pools, upload last activity, and the license report.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenure_core::licenses::{Currency, FreedTo, LicensePool, LicenseReport, Period, UNUSED_DAYS};
use tenure_core::money::Money;
use tenure_core::{AppId, Role};
use tenure_store::AuditRecord;
use utoipa::ToSchema;

use super::{Admin, Need};
use crate::EngineError;

/// The default currency of an app's first pool.
pub const DEFAULT_CURRENCY: &str = "EUR";
/// More seats than any vendor sells in one pool: a typo guard, not a business rule.
const MAX_SEATS: u64 = 10_000_000;
/// Rows of one activity upload.
pub const MAX_ACTIVITY_ROWS: usize = 1_000_000;

/// A pool's terms: what is given replaces the pool of that app and tier (or makes it).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseSpec {
    /// The tier as the app names it in its accounts' entitlements; absent for the pool of
    /// every account no tier's pool takes.
    #[serde(default)]
    pub tier: Option<String>,
    pub seats: u64,
    /// A decimal (number or string), at most 4 decimals.
    #[schema(value_type = f64)]
    pub cost_per_seat: Money,
    /// ISO 4217; default: the app's other pools' currency, else EUR.
    #[serde(default)]
    pub currency: Option<String>,
    /// `month` (default) or `year`.
    #[serde(default)]
    pub period: Option<String>,
    /// The renewal date, `YYYY-MM-DD`.
    #[serde(default)]
    pub renews: Option<String>,
    /// The license admin (or org admin) who owns the pool, by email.
    #[serde(default)]
    pub owner: Option<String>,
    /// 30, 60 or 90 (default): unused for longer is waste.
    #[serde(default)]
    pub unused_days: Option<u16>,
    /// Where a seat freed by someone leaving or moving goes first: `line` (the first in line,
    /// the default for a new pool), `department` or `team` (the earliest waiting person of the
    /// leaver's department or org unit, else the first in line). Absent: the pool keeps its own.
    #[serde(default)]
    pub freed_to: Option<String>,
}

/// Last activity of an app's accounts, replacing the previous upload.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityUpload {
    pub entries: Vec<ActivityEntry>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityEntry {
    /// The account's userName or email.
    pub user: String,
    /// `YYYY-MM-DD`.
    pub last_active: String,
}

impl ActivityUpload {
    /// `user,last_active` rows (a header line is recognised and skipped; blank lines too), as
    /// `tenure license activity --csv` and the console's upload read them; a row's problem is
    /// named by its line.
    pub fn from_csv(bytes: &[u8]) -> Result<Self, EngineError> {
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
        let mut entries = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| EngineError::field("csv", format!("line {}: {e}", i + 1)))?;
            if record.iter().all(str::is_empty) {
                continue;
            }
            let (Some(user), Some(date)) = (record.get(0), record.get(1)) else {
                return Err(EngineError::field("csv", format!("line {}: expected user,last_active", i + 1)));
            };
            if i == 0 && date.eq_ignore_ascii_case("last_active") {
                continue;
            }
            entries.push(ActivityEntry { user: user.to_owned(), last_active: date.to_owned() });
        }
        Ok(Self { entries })
    }
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn parse_date(field: &str, raw: &str) -> Result<time::Date, EngineError> {
    time::Date::parse(raw.trim(), DATE)
        .map_err(|_| EngineError::field(field, format!("{raw:?} is not a date (YYYY-MM-DD)")))
}

fn entry<'a>(actor: &'a super::Actor, action: &'a str, app: &'a str, detail: &'a serde_json::Value) -> AuditRecord<'a> {
    AuditRecord { actor: &actor.name, action, subject: app, person: None, app: Some(app), detail }
}

impl Admin<'_> {
    /// Every pool of the tenant.
    pub async fn licenses(&self) -> Result<Vec<LicensePool>, EngineError> {
        self.actor.require(Need::Reports)?;
        Ok(self.store().license_pools(self.tenant()).await?.into_iter().map(|(_, p)| p).collect())
    }

    async fn licensed_app(&self, app: &str) -> Result<(AppId, String), EngineError> {
        self.actor.require(Need::Licenses)?;
        let record = self.store().app_by_name(self.tenant(), app).await?;
        Ok((record.app.id, record.app.name))
    }

    /// Sets a pool of `app`: seats below what the app uses are allowed (reported as
    /// over-allocated).
    pub async fn set_license(&self, app: &str, spec: LicenseSpec) -> Result<LicensePool, EngineError> {
        let (app_id, app_name) = self.licensed_app(app).await?;
        let tier = match spec.tier.as_deref().map(str::trim) {
            Some("") => return Err(EngineError::field("tier", "a tier's name, or no tier for the whole app")),
            Some(t) if t.len() > 200 => return Err(EngineError::field("tier", "at most 200 bytes")),
            t => t.map(str::to_owned),
        };
        if spec.seats > MAX_SEATS {
            return Err(EngineError::field("seats", format!("at most {MAX_SEATS}")));
        }
        let (same, others): (Vec<LicensePool>, Vec<LicensePool>) = self
            .store()
            .license_pools(self.tenant())
            .await?
            .into_iter()
            .filter(|(id, _)| *id == app_id)
            .map(|(_, p)| p)
            .partition(|p| p.tier == tier);
        let freed_to: FreedTo = match &spec.freed_to {
            Some(raw) => raw.parse().map_err(|e: String| EngineError::field("freed_to", e))?,
            None => same.first().map(|p| p.freed_to).unwrap_or_default(),
        };
        let currency: Currency = match (&spec.currency, others.first()) {
            (Some(c), _) => c.parse().map_err(|e: String| EngineError::field("currency", e))?,
            (None, Some(other)) => other.currency.clone(),
            (None, None) => DEFAULT_CURRENCY.parse().map_err(|e: String| EngineError::Internal(e))?,
        };
        if let Some(other) = others.iter().find(|p| p.currency != currency) {
            return Err(EngineError::field(
                "currency",
                format!("{app_name}'s other pools are in {}: one currency per app", other.currency),
            ));
        }
        let period: Period = match &spec.period {
            Some(p) => p.parse().map_err(|e: String| EngineError::field("period", e))?,
            None => Period::Month,
        };
        let renews = spec.renews.as_deref().map(|d| parse_date("renews", d)).transpose()?;
        let unused_days = spec.unused_days.unwrap_or(90);
        if !UNUSED_DAYS.contains(&unused_days) {
            return Err(EngineError::field("unused_days", "30, 60 or 90"));
        }
        let owner = match spec.owner.as_deref().map(str::trim) {
            None => None,
            Some(email) => {
                let admin =
                    self.store().admin_by_email(self.tenant(), email).await?.ok_or_else(|| {
                        EngineError::field("owner", format!("{email:?} is not an admin of this tenant"))
                    })?;
                if !matches!(admin.role, Role::OrgAdmin | Role::LicenseAdmin) {
                    return Err(EngineError::field(
                        "owner",
                        format!("{email} is an {}: a pool's owner is a license admin or an org admin", admin.role),
                    ));
                }
                Some(admin.email)
            }
        };
        let pool = LicensePool {
            app: app_name.clone(),
            tier,
            seats: spec.seats,
            cost_per_seat: spec.cost_per_seat,
            currency,
            period,
            renews,
            owner,
            unused_days,
            freed_to,
        };
        let mut tx = self.store().begin().await?;
        tx.upsert_license_pool(self.tenant(), app_id, &pool).await?;
        let detail = json!({"app": app_name, "pool": pool});
        tx.audit(self.tenant(), entry(self.actor, "license.set", &app_name, &detail)).await?;
        tx.commit().await?;
        Ok(pool)
    }

    /// Removes a pool of `app` (the whole app's with no tier).
    pub async fn remove_license(&self, app: &str, tier: Option<&str>) -> Result<(), EngineError> {
        let (app_id, app_name) = self.licensed_app(app).await?;
        let mut tx = self.store().begin().await?;
        if !tx.delete_license_pool(self.tenant(), app_id, tier).await? {
            let what =
                tier.map_or_else(|| "no pool for the whole app".to_owned(), |t| format!("no pool for tier {t:?}"));
            return Err(EngineError::NotFound(format!("{app_name} has {what}")));
        }
        let detail = json!({"app": app_name, "tier": tier});
        tx.audit(self.tenant(), entry(self.actor, "license.remove", &app_name, &detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the last activity known of `app`'s accounts; a user given twice keeps their
    /// latest date. Returns how many accounts it names.
    pub async fn set_license_activity(&self, app: &str, upload: ActivityUpload) -> Result<usize, EngineError> {
        let (app_id, app_name) = self.licensed_app(app).await?;
        if upload.entries.len() > MAX_ACTIVITY_ROWS {
            return Err(EngineError::field("entries", format!("at most {MAX_ACTIVITY_ROWS}")));
        }
        let mut latest: std::collections::BTreeMap<String, time::Date> = std::collections::BTreeMap::new();
        for (i, e) in upload.entries.iter().enumerate() {
            let user = e.user.trim().to_lowercase();
            if user.is_empty() {
                return Err(EngineError::field(format!("entries[{i}].user"), "a userName or email"));
            }
            let date = parse_date(&format!("entries[{i}].last_active"), &e.last_active)?;
            let slot = latest.entry(user).or_insert(date);
            *slot = (*slot).max(date);
        }
        let entries: Vec<(String, time::Date)> = latest.into_iter().collect();
        let mut tx = self.store().begin().await?;
        tx.replace_license_activity(self.tenant(), app_id, &entries).await?;
        let detail = json!({"app": app_name, "accounts": entries.len()});
        tx.audit(self.tenant(), entry(self.actor, "license.activity", &app_name, &detail)).await?;
        tx.commit().await?;
        Ok(entries.len())
    }

    /// The license report of every pooled app (or of the one named): read live, or from the
    /// seats the last live reading stored.
    pub async fn license_report(
        &self,
        app: Option<&str>,
        stored: bool,
        progress: crate::licenses::Progress<'_>,
    ) -> Result<LicenseReport, EngineError> {
        match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppRead(id))?;
            }
            None => self.actor.require(Need::Reports)?,
        }
        if stored {
            self.engine.license_report_stored(app, self.engine.today().await?).await
        } else {
            self.engine.license_report_live(app, self.engine.today().await?, progress).await
        }
    }
}

/// One person waiting for a seat of a full pool.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitingView {
    pub app: String,
    /// The pool's tier (`None`: the whole app's pool).
    pub tier: Option<String>,
    /// The pool as people read it: "jira standard".
    pub pool: String,
    /// Their place in the pool's line, from 1.
    pub place: usize,
    pub person: String,
    /// When they started waiting (ms since the epoch): the line's order.
    pub since_ms: i64,
}

impl Admin<'_> {
    /// Who waits for a seat, per pool in line order (every pooled app's, or one app's).
    pub async fn license_waiting(&self, app: Option<&str>) -> Result<Vec<WaitingView>, EngineError> {
        let app_id = match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppRead(id))?;
                Some(id)
            }
            None => {
                self.actor.require(Need::Reports)?;
                None
            }
        };
        let names: std::collections::HashMap<tenure_core::AppId, String> =
            self.store().list_apps(self.tenant()).await?.into_iter().map(|r| (r.app.id, r.app.name)).collect();
        let mut views: Vec<WaitingView> = Vec::new();
        for row in self.store().license_waiting(self.tenant(), app_id).await? {
            let app = names.get(&row.app_id).cloned().unwrap_or_else(|| row.app_id.to_string());
            let place = 1 + views.iter().filter(|v| v.app == app && v.tier == row.tier).count();
            let pool = match &row.tier {
                Some(tier) => format!("{app} {tier}"),
                None => app.clone(),
            };
            views.push(WaitingView { app, tier: row.tier, pool, place, person: row.email, since_ms: row.since_ms });
        }
        views.sort_by(|a, b| (&a.app, &a.tier, a.place).cmp(&(&b.app, &b.tier, b.place)));
        Ok(views)
    }
}

/// A reclaim run's terms (`tenure license reclaim APP`, `POST /api/v1/apps/{app}/licenses/reclaim`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReclaimSpec {
    /// One tier's pool (default: every pool of the app).
    #[serde(default)]
    pub tier: Option<String>,
    /// Say who would be asked; write and send nothing.
    #[serde(default)]
    pub preview: bool,
    /// Days the question waits for an answer (default 7, at most 90).
    #[serde(default)]
    pub deadline_days: Option<u32>,
}

impl Admin<'_> {
    /// Asks the holders of `app`'s accounts unused for their pool's days whether they still need
    /// them (org admins and license admins, a preview too: it reads the app live).
    pub async fn license_reclaim(
        &self,
        app: &str,
        spec: ReclaimSpec,
    ) -> Result<crate::license_reclaim::ReclaimRun, EngineError> {
        self.actor.require(Need::Licenses)?;
        let days = spec.deadline_days.unwrap_or(crate::license_reclaim::DEFAULT_DEADLINE_DAYS);
        self.engine.start_reclaim(app, spec.tier.as_deref(), spec.preview, days, &self.actor.name).await
    }

    /// Every reclaim question of the tenant (or of one app), newest first.
    pub async fn license_reclaims(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<crate::license_reclaim::ReclaimView>, EngineError> {
        let app_id = match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppRead(id))?;
                Some(id)
            }
            None => {
                self.actor.require(Need::Reports)?;
                None
            }
        };
        self.engine.reclaim_views(app_id).await
    }
}
