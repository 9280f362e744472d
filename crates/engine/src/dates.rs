//! Dates act on the tenant's day: a leave date, a start date or a dated offboarding takes effect
//! when the day begins where the organization is (the tenant's timezone), within seconds of its
//! midnight, not at the next hourly reconciliation nor at midnight UTC.
//!
//! The holder of the [`DATES`] duty looks every [`crate::nodes::DUTY_RENEW`]; when the tenant's
//! day has turned since the day recorded in the duty's row, it marks for propagation exactly the
//! people whose dates fall in the days that began since, then records the new day. The day lives
//! in the row, not in a process, so a node taking over after the holder died neither skips a
//! day's people nor marks them twice in the same day (and a mark twice would only plan again).

use std::collections::HashSet;

use tenure_core::{Person, PersonId};
use tenure_store::{DirtyMark, Offboarding};

use crate::workflows::tz;
use crate::{Engine, EngineError};

/// Marking the people whose dates begin when the tenant's day turns.
pub const DATES: &str = "dates";

impl Engine {
    /// The tenant's day now, by the engine's clock and the tenant's timezone: the day every plan
    /// compares leave and start dates with.
    pub async fn today(&self) -> Result<time::Date, EngineError> {
        self.local_day(self.clock.now_ms()).await
    }

    /// [`Engine::today`], or the UTC day when the timezone cannot be read (logged): for loops
    /// that must go on, where a day late by some hours beats no pass at all.
    pub(crate) async fn today_or_utc(&self) -> time::Date {
        match self.today().await {
            Ok(day) => day,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tenant's timezone; using the UTC day");
                crate::today()
            }
        }
    }

    /// When this node holds the [`DATES`] duty and the tenant's day has turned since it was last
    /// recorded, marks the people whose dates begin in the new days; returns how many. The
    /// first holder ever records the day and marks nobody: the reconciliation that follows
    /// every start plans everyone anyway.
    pub async fn mark_dates_if_day_turned(&self) -> Result<usize, EngineError> {
        let Some(duty) = self.hold_duty(DATES).await? else { return Ok(0) };
        let now = self.clock.now_ms();
        let zone = self.zone().await?;
        let today = tz::day_at(now, &zone)?;
        let recorded = duty.last_run_ms();
        let mut marked = 0;
        if recorded > 0 {
            let last_day = tz::day_at(recorded, &zone)?;
            if last_day >= today {
                return Ok(0);
            }
            let directory = self.planning_directory(today).await?;
            let offboardings = self.store.offboardings(self.tenant).await?;
            let leads: Vec<u32> =
                self.store.list_apps(self.tenant).await?.iter().filter_map(|a| a.app.settings.pre_start_days).collect();
            let people = dated_people(&directory.people, &offboardings, &leads, last_day, today);
            if !people.is_empty() {
                let marks: Vec<DirtyMark> = people.iter().map(|&p| DirtyMark::person(p)).collect();
                self.store.mark_dirty_fenced(duty.fence(), &marks).await?;
                marked = marks.len();
            }
            tracing::info!(node = %self.node(), day = %today, people = marked, "the tenant's day turned; marked the people whose dates begin");
        }
        self.store.record_duty_run(duty.fence(), now).await?;
        Ok(marked)
    }
}

/// The people whose start date, leave date or offboarding falls after `after` and on or before
/// `until`, or whose start date is that many days of an app's pre-start lead (`leads`) away:
/// whose plans change because those days began.
pub(crate) fn dated_people(
    people: &[Person],
    offboardings: &[Offboarding],
    leads: &[u32],
    after: time::Date,
    until: time::Date,
) -> Vec<PersonId> {
    let began = |day: Option<time::Date>| day.is_some_and(|d| after < d && d <= until);
    let lead_began = |start: Option<time::Date>| {
        leads.iter().any(|&days| began(start.map(|s| s - time::Duration::days(i64::from(days)))))
    };
    let mut found: HashSet<PersonId> = people
        .iter()
        .filter(|p| began(p.start_date) || began(p.leave_date) || lead_began(p.start_date))
        .map(|p| p.id)
        .collect();
    found.extend(offboardings.iter().filter(|o| began(Some(o.effective))).map(|o| o.person_id));
    let mut found: Vec<PersonId> = found.into_iter().collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn person(start_date: Option<time::Date>, leave_date: Option<time::Date>) -> Person {
        Person {
            id: PersonId::new(),
            source_id: tenure_core::SourceId::new(),
            source_key: String::new(),
            user_name: String::new(),
            email: String::new(),
            given_name: None,
            family_name: None,
            display_name: None,
            department: None,
            title: None,
            employee_id: None,
            manager_key: None,
            org_unit: None,
            status: tenure_core::PersonStatus::Active,
            start_date,
            leave_date,
            custom: Default::default(),
        }
    }

    #[test]
    fn only_the_days_that_began_count() {
        let leaves_today = person(None, Some(date!(2026 - 12 - 07)));
        let left_yesterday = person(None, Some(date!(2026 - 12 - 06)));
        let starts_today = person(Some(date!(2026 - 12 - 07)), None);
        let starts_later = person(Some(date!(2026 - 12 - 08)), None);
        let undated = person(None, None);
        let offboarded_today = person(None, None);
        let offboarding = Offboarding {
            person_id: offboarded_today.id,
            email: "o@example.com".into(),
            effective: date!(2026 - 12 - 07),
            actor: "admin".into(),
            created_ms: 0,
        };
        let people = [
            leaves_today.clone(),
            left_yesterday,
            starts_today.clone(),
            starts_later,
            undated,
            offboarded_today.clone(),
        ];
        let mut want = vec![leaves_today.id, starts_today.id, offboarded_today.id];
        want.sort();
        assert_eq!(dated_people(&people, &[offboarding], &[], date!(2026 - 12 - 06), date!(2026 - 12 - 07)), want);
        // Two days turned at once (a node down over a midnight): both days' people.
        assert_eq!(dated_people(&people, &[], &[], date!(2026 - 12 - 05), date!(2026 - 12 - 07)).len(), 3);
        // An app preparing accounts a day ahead: tomorrow's starter's lead began today.
        let with_lead = dated_people(&people, &[], &[1], date!(2026 - 12 - 06), date!(2026 - 12 - 07));
        assert_eq!(with_lead.len(), 3, "today's leaver and starter, and tomorrow's starter");
    }
}
