//! The license report's counting: each pooled app's accounts, read live and classified exactly
//! as `tenure report` classifies them (the same plan), with their tier and last activity, kept
//! as the app's stored seats; or those stored seats counted in the database without reading the
//! apps. `core::licenses` turns the counts into seats, waste and money.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tenure_core::AccountClass;
use tenure_core::licenses::{self, AppUsage, LicenseReport, SeatCount, UNUSED_DAYS};
use tenure_store::SeatRow;

use crate::{AccountRow, Engine, EngineError};

/// Told before each app is read live: (app, its position from 1, how many).
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Send + Sync);

impl Engine {
    /// Reads every app with a pool (and `app`, if named, with or without one) live, stores
    /// what each holds, and reports.
    pub async fn license_report_live(
        &self,
        app: Option<&str>,
        today: time::Date,
        progress: Progress<'_>,
    ) -> Result<LicenseReport, EngineError> {
        let pools = self.store.license_pools(self.tenant).await?;
        let names = self.reported_apps(app, pools.iter().map(|(_, p)| p.app.clone())).await?;
        let mut usage = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            progress(name, i + 1, names.len());
            let record = self.store.app_by_name(self.tenant, name).await?;
            let rows = self.classified_accounts(Some(name), today, false).await?;
            let activity = self.store.license_activity(self.tenant, record.app.id).await?;
            // A refused create is a person without an account: no seat.
            let seats: Vec<SeatRow> =
                rows.iter().filter(|r| r.class != AccountClass::Refused).map(|row| seat_row(row, &activity)).collect();
            self.store.replace_license_seats(self.tenant, record.app.id, &seats).await?;
            let unread = rows.iter().find(|r| r.class == AccountClass::Unread).and_then(|r| r.note.clone());
            usage.push(AppUsage { app: name.clone(), counts: count_seats(&seats, today), unread });
        }
        let pools: Vec<_> = pools.into_iter().map(|(_, p)| p).collect();
        Ok(licenses::report("live", &pools, &usage))
    }

    /// The report from each app's stored seats (the last live reading), counted in the
    /// database: no app is read.
    pub async fn license_report_stored(
        &self,
        app: Option<&str>,
        today: time::Date,
    ) -> Result<LicenseReport, EngineError> {
        let pools = self.store.license_pools(self.tenant).await?;
        let names = self.reported_apps(app, pools.iter().map(|(_, p)| p.app.clone())).await?;
        let apps: HashMap<tenure_core::AppId, String> =
            self.store.list_apps(self.tenant).await?.into_iter().map(|r| (r.app.id, r.app.name)).collect();
        let mut counts: BTreeMap<String, Vec<SeatCount>> = names.iter().map(|n| (n.clone(), Vec::new())).collect();
        for (app_id, count) in self.store.license_seat_counts(self.tenant, today).await? {
            if let Some(list) = apps.get(&app_id).and_then(|name| counts.get_mut(name)) {
                list.push(count);
            }
        }
        let usage: Vec<AppUsage> = counts
            .into_iter()
            .map(|(app, counts)| {
                let unread = counts
                    .iter()
                    .any(|c| c.class == Some(AccountClass::Unread))
                    .then(|| "the app's list could not be read whole at the last reading".to_owned());
                AppUsage { app, counts, unread }
            })
            .collect();
        let pools: Vec<_> = pools.into_iter().map(|(_, p)| p).collect();
        Ok(licenses::report("stored", &pools, &usage))
    }

    /// The apps a report covers: the one named (which must exist), else every app with a pool.
    async fn reported_apps(
        &self,
        app: Option<&str>,
        pooled: impl Iterator<Item = String>,
    ) -> Result<Vec<String>, EngineError> {
        match app {
            Some(name) => Ok(vec![self.store.app_by_name(self.tenant, name).await?.app.name]),
            None => Ok(pooled.collect::<BTreeSet<_>>().into_iter().collect()),
        }
    }
}

/// An account's last activity: the later of what the app tells (Graph's `signInActivity`) and
/// the uploaded file (by userName then email, lower case).
pub(crate) fn last_active_of(row: &AccountRow, activity: &HashMap<String, time::Date>) -> Option<time::Date> {
    let uploaded = activity
        .get(&row.user_name.to_lowercase())
        .or_else(|| row.email.as_ref().and_then(|e| activity.get(&e.to_lowercase())))
        .copied();
    uploaded.max(row.last_active)
}

/// An account's seat: its tier, class and last activity.
fn seat_row(row: &AccountRow, activity: &HashMap<String, time::Date>) -> SeatRow {
    let last_active = last_active_of(row, activity);
    SeatRow {
        remote_id: row.remote_id.clone(),
        tier: row.license.clone(),
        class: row.class,
        active: row.active,
        last_active,
    }
}

/// Seats counted by tier, class and state, as the stored report's query counts them: unused
/// for N days when the last activity is before today minus N days.
pub(crate) fn count_seats(seats: &[SeatRow], today: time::Date) -> Vec<SeatCount> {
    let cutoffs = UNUSED_DAYS.map(|d| today - time::Duration::days(i64::from(d)));
    let mut counts: BTreeMap<(Option<String>, AccountClass, bool), SeatCount> = BTreeMap::new();
    for seat in seats {
        let count = counts.entry((seat.tier.clone(), seat.class, seat.active)).or_insert_with(|| SeatCount {
            tier: seat.tier.clone(),
            class: Some(seat.class),
            active: seat.active,
            ..SeatCount::default()
        });
        count.accounts += 1;
        if let Some(last) = seat.last_active {
            count.activity_known += 1;
            for (n, cutoff) in count.unused.iter_mut().zip(cutoffs) {
                *n += u64::from(last < cutoff);
            }
        }
    }
    counts.into_values().collect()
}
