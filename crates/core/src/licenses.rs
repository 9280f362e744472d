//! License pools and the money view: seats bought per app and tier, what the app really holds,
//! what is wasted and why, and what that costs a month. Pure: the engine counts the accounts
//! (read live or as last stored) and this module turns counts and pools into the report.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AccountClass;
use crate::money::Money;

/// How often a price is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[default]
    Month,
    Year,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Months one price pays for.
    pub fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Year => 12,
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "month" | "monthly" => Ok(Self::Month),
            "year" | "yearly" | "annual" => Ok(Self::Year),
            other => Err(format!("{other:?} is not a period: use month or year")),
        }
    }
}

/// An ISO 4217 code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Currency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(format!("{s:?} is not a currency: use an ISO 4217 code such as EUR or USD"))
        }
    }
}

/// The thresholds of "unused for N days" the report counts.
pub const UNUSED_DAYS: [u16; 3] = [30, 60, 90];

/// Where a pool's seat goes when someone leaving or moving frees it: the first in line (`line`,
/// the default), or first the earliest waiting person of the leaver's department
/// (`department`) or org unit (`team`), else the first in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FreedTo {
    #[default]
    Line,
    Department,
    Team,
}

impl FreedTo {
    pub const SPELLINGS: &'static str = "line, department or team";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Department => "department",
            Self::Team => "team",
        }
    }
}

impl fmt::Display for FreedTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FreedTo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "line" => Ok(Self::Line),
            "department" => Ok(Self::Department),
            "team" | "org-unit" => Ok(Self::Team),
            other => Err(format!("{other:?} is not where a freed seat goes: use {}", Self::SPELLINGS)),
        }
    }
}

/// Seats of one app bought together: the whole app, or one tier (SKU) of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicensePool {
    pub app: String,
    /// The tier as the app names it in its accounts (SCIM `entitlements`); `None` is the pool
    /// for every account of the app that no tier's pool takes.
    pub tier: Option<String>,
    pub seats: u64,
    pub cost_per_seat: Money,
    pub currency: Currency,
    pub period: Period,
    pub renews: Option<time::Date>,
    /// The license admin who owns the pool, by email.
    pub owner: Option<String>,
    /// An account whose last activity is older than this many days counts as unused waste:
    /// 30, 60 or 90.
    pub unused_days: u16,
    /// Where a seat freed by someone leaving or moving goes first.
    pub freed_to: FreedTo,
}

/// Accounts of one app with the same tier, class and state, and what is known of their use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeatCount {
    /// The account's license value (its first SCIM entitlement), when the app tells.
    pub tier: Option<String>,
    pub class: Option<AccountClass>,
    pub active: bool,
    pub accounts: u64,
    /// Of them, those whose last activity is known.
    pub activity_known: u64,
    /// Of them, unused for more than 30, 60 and 90 days.
    pub unused: [u64; 3],
}

/// What one app holds, counted, or why it could not be read.
#[derive(Debug, Clone, Default)]
pub struct AppUsage {
    pub app: String,
    pub counts: Vec<SeatCount>,
    /// The app's list could not be read whole: counts are as last stored.
    pub unread: Option<String>,
}

/// Why a seat is wasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WasteReason {
    /// The person left, the account is still active.
    LeftButActive,
    /// Nothing grants the account any more, and it is still active.
    UnassignedButActive,
    /// Deactivated, but still holding a license.
    InactiveButLicensed,
    /// Nobody accounts for the account (not a known external either).
    Unmanaged,
    /// Managed, but not used for longer than the pool's threshold.
    Unused,
    /// Bought, held by no account.
    UnusedSeats,
}

impl WasteReason {
    pub const ALL: [WasteReason; 6] = [
        Self::LeftButActive,
        Self::UnassignedButActive,
        Self::InactiveButLicensed,
        Self::Unmanaged,
        Self::Unused,
        Self::UnusedSeats,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeftButActive => "left_but_active",
            Self::UnassignedButActive => "unassigned_but_active",
            Self::InactiveButLicensed => "inactive_but_licensed",
            Self::Unmanaged => "unmanaged",
            Self::Unused => "unused",
            Self::UnusedSeats => "unused_seats",
        }
    }

    /// The waste a seat-holding account of `class` is, before its activity is looked at.
    fn of_class(class: Option<AccountClass>) -> Option<WasteReason> {
        match class? {
            AccountClass::LeftButActive => Some(Self::LeftButActive),
            AccountClass::UnassignedButActive => Some(Self::UnassignedButActive),
            AccountClass::InactiveButLicensed => Some(Self::InactiveButLicensed),
            AccountClass::Unmanaged => Some(Self::Unmanaged),
            _ => None,
        }
    }
}

/// Seats wasted for one reason, and their cost a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Waste {
    pub seats: u64,
    pub monthly_cost: Money,
}

/// The figures every level of the report shows (a tier, an app, the tenant in one currency).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SeatFigures {
    /// Seats bought.
    pub seats: u64,
    /// Seats the app's accounts hold.
    pub used: u64,
    /// Seats bought and held by nobody (0 when over-allocated).
    pub free: u64,
    /// Seats wasted, every reason together (free seats included).
    pub wasted: u64,
    /// More seats held than bought.
    pub over_allocated: bool,
    /// What the seats bought cost a month (yearly prices divided by 12), rounded to the cent.
    pub monthly_cost: Money,
    /// What a reclaim would save a month: the wasted seats' cost, rounded to the cent.
    pub reclaimable_monthly: Money,
    pub wasted_by_reason: BTreeMap<&'static str, Waste>,
    /// Seat-holding managed accounts unused for more than 30, 60, 90 days (by the last
    /// activity the app or an uploaded file tells).
    pub unused_for_days: BTreeMap<String, u64>,
    /// Seat-holding accounts whose last activity is known.
    pub activity_known: u64,
}

/// One pool's line: its terms and figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierReport {
    /// `null` for the pool of every tier.
    pub tier: Option<String>,
    /// False for accounts of a tier no pool is bought for: counted, costing nothing known.
    pub pooled: bool,
    pub cost_per_seat: Money,
    pub period: Period,
    pub renews: Option<time::Date>,
    pub owner: Option<String>,
    pub unused_days: u16,
    /// Where a seat freed by someone leaving or moving goes first: `line`, `department`, `team`.
    pub freed_to: FreedTo,
    #[serde(flatten)]
    pub figures: SeatFigures,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppLicenseReport {
    pub app: String,
    pub currency: Currency,
    #[serde(flatten)]
    pub figures: SeatFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
    pub tiers: Vec<TierReport>,
}

/// The tenant's totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    pub currency: Currency,
    #[serde(flatten)]
    pub figures: SeatFigures,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseReport {
    /// `live` (the apps were read now) or `stored` (as the last live reading left them).
    pub read: &'static str,
    pub apps: Vec<AppLicenseReport>,
    pub totals: Vec<CurrencyTotals>,
}

/// Per pool, as the report fills it.
#[derive(Default)]
struct Tally {
    used: u64,
    waste: BTreeMap<WasteReason, u64>,
    unused: [u64; 3],
    activity_known: u64,
}

/// The report of the apps in `usage` against their `pools` (an app's pools share one currency).
/// An account takes the pool of its tier, else the app's pool of every tier; accounts of a
/// tier with neither are shown under their tier, unpooled.
pub fn report(read: &'static str, pools: &[LicensePool], usage: &[AppUsage]) -> LicenseReport {
    let mut apps = Vec::new();
    for app in usage {
        let mut mine: Vec<LicensePool> = pools.iter().filter(|p| p.app == app.app).cloned().collect();
        let currency = mine.first().map(|p| p.currency.clone()).unwrap_or_else(|| Currency("EUR".into()));
        let mut tallies: BTreeMap<Option<String>, Tally> = BTreeMap::new();
        let mut unpooled_tiers = std::collections::BTreeSet::new();
        for count in &app.counts {
            if !count.class.is_some_and(|c| c.holds_seat(count.active)) {
                continue;
            }
            let pool = if mine.iter().any(|p| p.tier == count.tier) {
                count.tier.clone()
            } else if mine.iter().any(|p| p.tier.is_none()) {
                None
            } else {
                // An unpooled tier, shown so the seats are not silently missing.
                mine.push(unpooled(&app.app, count.tier.clone(), &currency));
                unpooled_tiers.insert(count.tier.clone());
                count.tier.clone()
            };
            let tally = tallies.entry(pool.clone()).or_default();
            tally.used += count.accounts;
            tally.activity_known += count.activity_known;
            match WasteReason::of_class(count.class) {
                Some(reason) => *tally.waste.entry(reason).or_default() += count.accounts,
                None if matches!(count.class, Some(AccountClass::Managed | AccountClass::Matched)) => {
                    for (total, n) in tally.unused.iter_mut().zip(count.unused) {
                        *total += n;
                    }
                    let threshold = mine.iter().find(|p| p.tier == pool).map_or(90, |p| p.unused_days);
                    let at = UNUSED_DAYS.iter().position(|d| *d == threshold).unwrap_or(2);
                    *tally.waste.entry(WasteReason::Unused).or_default() += count.unused[at];
                }
                None => {}
            }
        }
        mine.sort_by(|a, b| a.tier.cmp(&b.tier));
        let tiers: Vec<TierReport> = mine
            .iter()
            .map(|pool| {
                let tally = tallies.remove(&pool.tier).unwrap_or_default();
                TierReport {
                    tier: pool.tier.clone(),
                    pooled: !unpooled_tiers.contains(&pool.tier),
                    cost_per_seat: pool.cost_per_seat,
                    period: pool.period,
                    renews: pool.renews,
                    owner: pool.owner.clone(),
                    unused_days: pool.unused_days,
                    freed_to: pool.freed_to,
                    figures: figures(pool, &tally),
                }
            })
            .collect();
        let figures = sum(tiers.iter().map(|t| &t.figures));
        apps.push(AppLicenseReport { app: app.app.clone(), currency, figures, unread: app.unread.clone(), tiers });
    }
    apps.sort_by(|a, b| a.app.cmp(&b.app));
    let mut by_currency: BTreeMap<Currency, Vec<&SeatFigures>> = BTreeMap::new();
    for app in &apps {
        by_currency.entry(app.currency.clone()).or_default().push(&app.figures);
    }
    let totals = by_currency
        .into_iter()
        .map(|(currency, figures)| CurrencyTotals { currency, figures: sum(figures.into_iter()) })
        .collect();
    LicenseReport { read, apps, totals }
}

/// A stand-in pool for accounts of a tier nobody bought seats for.
fn unpooled(app: &str, tier: Option<String>, currency: &Currency) -> LicensePool {
    LicensePool {
        app: app.to_owned(),
        tier,
        seats: 0,
        cost_per_seat: Money::ZERO,
        currency: currency.clone(),
        period: Period::Month,
        renews: None,
        owner: None,
        unused_days: 90,
        freed_to: FreedTo::Line,
    }
}

fn figures(pool: &LicensePool, tally: &Tally) -> SeatFigures {
    let months = pool.period.months();
    let cost = |seats: u64| pool.cost_per_seat.times_over(seats, months);
    let free = pool.seats.saturating_sub(tally.used);
    let mut wasted_by_reason = BTreeMap::new();
    let mut wasted = 0;
    for reason in WasteReason::ALL {
        let seats =
            if reason == WasteReason::UnusedSeats { free } else { tally.waste.get(&reason).copied().unwrap_or(0) };
        wasted += seats;
        wasted_by_reason.insert(reason.as_str(), Waste { seats, monthly_cost: cost(seats) });
    }
    SeatFigures {
        seats: pool.seats,
        used: tally.used,
        free,
        wasted,
        over_allocated: tally.used > pool.seats,
        monthly_cost: cost(pool.seats),
        reclaimable_monthly: cost(wasted),
        wasted_by_reason,
        unused_for_days: unused_map(tally.unused),
        activity_known: tally.activity_known,
    }
}

fn unused_map(unused: [u64; 3]) -> BTreeMap<String, u64> {
    UNUSED_DAYS.iter().zip(unused).map(|(d, n)| (d.to_string(), n)).collect()
}

/// Figures added up: counts and amounts (each already rounded) sum; over-allocated if any part is.
fn sum<'a>(parts: impl Iterator<Item = &'a SeatFigures>) -> SeatFigures {
    let mut total = SeatFigures { unused_for_days: unused_map([0; 3]), ..SeatFigures::default() };
    for part in parts {
        total.seats += part.seats;
        total.used += part.used;
        total.free += part.free;
        total.wasted += part.wasted;
        total.over_allocated |= part.over_allocated;
        total.monthly_cost = total.monthly_cost.checked_add(part.monthly_cost);
        total.reclaimable_monthly = total.reclaimable_monthly.checked_add(part.reclaimable_monthly);
        total.activity_known += part.activity_known;
        for (reason, waste) in &part.wasted_by_reason {
            let entry = total.wasted_by_reason.entry(reason).or_default();
            entry.seats += waste.seats;
            entry.monthly_cost = entry.monthly_cost.checked_add(waste.monthly_cost);
        }
        for (days, n) in &part.unused_for_days {
            *total.unused_for_days.entry(days.clone()).or_default() += n;
        }
    }
    total
}

#[cfg(test)]
mod tests;

pub mod waiting;
