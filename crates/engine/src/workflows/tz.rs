//! The tenant's timezone: dates (leave, start, a workflow's offsets) act on the day as it is
//! where the organization is, not in UTC. The tz database is the one `jiff` embeds, so a host
//! without /usr/share/zoneinfo (a distroless container) gives the same answers.

use crate::{Engine, EngineError};

pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A timezone by its IANA name (`Europe/Berlin`).
pub fn parse(name: &str) -> Result<jiff::tz::TimeZone, EngineError> {
    let name = name.trim();
    jiff::tz::TimeZone::get(name).map_err(|_| {
        EngineError::field("timezone", format!("{name:?} is not a known IANA timezone (e.g. Europe/Berlin, UTC)"))
    })
}

/// The calendar day at `now_ms` in `tz`.
pub fn day_at(now_ms: i64, tz: &jiff::tz::TimeZone) -> Result<time::Date, EngineError> {
    let at = jiff::Timestamp::from_millisecond(now_ms)
        .map_err(|e| EngineError::Internal(format!("the clock reads {now_ms} ms: {e}")))?;
    let day = at.to_zoned(tz.clone()).date();
    let month = time::Month::try_from(day.month() as u8).map_err(|e| EngineError::Internal(e.to_string()))?;
    time::Date::from_calendar_date(i32::from(day.year()), month, day.day() as u8)
        .map_err(|e| EngineError::Internal(e.to_string()))
}

impl Engine {
    /// The tenant's timezone's name (UTC when none was set).
    pub async fn timezone_name(&self) -> Result<String, EngineError> {
        Ok(self.store.timezone(self.tenant).await?.unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned()))
    }

    /// The tenant's day at `now_ms`.
    pub async fn local_day(&self, now_ms: i64) -> Result<time::Date, EngineError> {
        day_at(now_ms, &self.zone().await?)
    }

    /// The tenant's timezone, read again once [`ZONE_KEPT`] has passed: this engine's change
    /// of it is seen at once ([`Engine::forget_timezone`]), another node's within that time.
    pub(crate) async fn zone(&self) -> Result<jiff::tz::TimeZone, EngineError> {
        let kept = self.timezone.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((read_at, zone)) = kept
            && read_at.elapsed() < ZONE_KEPT
        {
            return Ok(zone);
        }
        let zone = parse(&self.timezone_name().await?)?;
        *self.timezone.lock().unwrap_or_else(|p| p.into_inner()) = Some((tokio::time::Instant::now(), zone.clone()));
        Ok(zone)
    }

    pub(crate) fn forget_timezone(&self) {
        *self.timezone.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// How long a read of the tenant's timezone is used before it is read again.
const ZONE_KEPT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_local_midnight() {
        let berlin = parse("Europe/Berlin").unwrap();
        // 2026-03-09 23:30 UTC is 00:30 on the 10th in Berlin (UTC+1 in March before DST).
        let ms = 1_773_099_000_000;
        assert_eq!(day_at(ms, &parse("UTC").unwrap()).unwrap().to_string(), "2026-03-09");
        assert_eq!(day_at(ms, &berlin).unwrap().to_string(), "2026-03-10");
        assert!(parse("Mars/Olympus").unwrap_err().to_string().starts_with("timezone: \"Mars/Olympus\""));
    }
}
