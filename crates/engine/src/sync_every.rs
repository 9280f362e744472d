//! A source's sync interval as admins give it (`--sync-every 5m`) and as its settings store it
//! (`sync_every_s`, read by `schedule.rs`). The field sits beside the kind's own settings, which
//! are read without it.

use serde_json::Value;

use crate::EngineError;

/// The settings field `schedule::sync_interval` reads.
pub const SYNC_EVERY_FIELD: &str = "sync_every_s";

/// The shortest interval: a source read more often gains nothing the event channels do not give
/// sooner, and spends the source's API quota.
pub const MIN_SYNC_EVERY_S: u64 = 30;

/// The longest: a week. Longer means the source is not really followed.
pub const MAX_SYNC_EVERY_S: u64 = 7 * 24 * 3600;

/// `30s`, `5m`, `1h`, `1d` (a whole number and one unit) in seconds, within the bounds.
pub fn parse_sync_every(text: &str) -> Result<u64, EngineError> {
    let bad = |why: String| EngineError::field("sync_every", why);
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| bad(format!("{text:?} is not a duration: write a whole number and a unit, as 30s, 5m or 1h")))?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "" => return Err(bad(format!("{text:?} has no unit: write 30s, 5m, 1h or 1d"))),
        other => return Err(bad(format!("unknown unit {other:?} in {text:?}: use s, m, h or d"))),
    };
    checked_seconds(n.saturating_mul(unit_s)).map_err(|why| bad(format!("{text}: {why}")))
}

/// Whether a number of seconds is a usable interval.
pub fn checked_seconds(seconds: u64) -> Result<u64, String> {
    if seconds < MIN_SYNC_EVERY_S {
        return Err(format!("at least {MIN_SYNC_EVERY_S}s between syncs"));
    }
    if seconds > MAX_SYNC_EVERY_S {
        return Err(format!("at most {}d between syncs", MAX_SYNC_EVERY_S / 86_400));
    }
    Ok(seconds)
}

/// The kind's own settings: the stored ones without the interval.
pub fn kind_settings(config: &Value) -> Value {
    let mut settings = config.clone();
    if let Some(fields) = settings.as_object_mut() {
        fields.remove(SYNC_EVERY_FIELD);
    }
    settings
}

/// The interval a settings value carries, checked; `None` when it carries none.
pub(crate) fn stored_interval(config: &Value) -> Result<Option<u64>, EngineError> {
    let Some(value) = config.get(SYNC_EVERY_FIELD) else { return Ok(None) };
    let field = format!("config.{SYNC_EVERY_FIELD}");
    let seconds = value.as_u64().ok_or_else(|| EngineError::field(field.clone(), "a whole number of seconds"))?;
    checked_seconds(seconds).map(Some).map_err(|why| EngineError::field(field, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_each_unit() {
        assert_eq!(parse_sync_every("30s").ok(), Some(30));
        assert_eq!(parse_sync_every("5m").ok(), Some(300));
        assert_eq!(parse_sync_every("1h").ok(), Some(3600));
        assert_eq!(parse_sync_every(" 2d ").ok(), Some(172_800));
    }

    #[test]
    fn too_short_or_garbage_says_why() {
        let message = |text: &str| parse_sync_every(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message("29s").contains("at least 30s"), "{}", message("29s"));
        assert!(message("0m").contains("at least 30s"));
        assert!(message("5").contains("no unit"));
        assert!(message("5 minutes").contains("unknown unit"));
        assert!(message("fast").contains("not a duration"));
        assert!(message("").contains("not a duration"));
        assert!(message("8d").contains("at most 7d"));
        assert!(message("99999999999999999999h").contains("not a duration"));
    }

    #[test]
    fn the_kind_reads_its_settings_without_the_interval() {
        let config = serde_json::json!({"file": "a.csv", "sync_every_s": 300});
        assert_eq!(kind_settings(&config), serde_json::json!({"file": "a.csv"}));
        assert_eq!(stored_interval(&config).ok(), Some(Some(300)));
        assert!(stored_interval(&serde_json::json!({"sync_every_s": 5})).is_err());
        assert!(stored_interval(&serde_json::json!({"sync_every_s": "5m"})).is_err());
    }
}
