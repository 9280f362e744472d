//! Scheduled syncs: `tenure serve` reads every pull source on its own interval (incrementally
//! where the source can), so the directory follows the sources without anyone running
//! `tenure sync`. What a sync changes is marked for propagation in the same transaction.

use std::collections::HashMap;
use std::time::Duration;

use tenure_core::SourceId;
use tokio::sync::watch;

use crate::Engine;

/// How often a source is read when its configuration does not say (`sync_every_s`).
pub const DEFAULT_SYNC_EVERY: Duration = Duration::from_secs(15 * 60);

/// The interval a source's stored configuration asks for.
pub fn sync_interval(config: &serde_json::Value) -> Duration {
    config
        .get("sync_every_s")
        .and_then(serde_json::Value::as_u64)
        .filter(|&s| s > 0)
        .map_or(DEFAULT_SYNC_EVERY, Duration::from_secs)
}

impl Engine {
    /// Syncs each pull source when its interval has passed since its last sync (at once for a
    /// source never synced), until `shutdown`. A failed sync is logged, audited by the sync
    /// itself where it got that far, and tried again at the next interval; the source guard
    /// keeps refusing a broken delivery however often it comes.
    ///
    /// With several nodes, one runs the schedule: the holder of its duty (`nodes.rs`); the
    /// others look every [`crate::nodes::DUTY_RENEW`] whether it is still alive.
    pub async fn run_source_schedule(&self, mut shutdown: watch::Receiver<bool>) {
        let mut failed_at: HashMap<SourceId, tokio::time::Instant> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let duty = match self.hold_duty(crate::nodes::SOURCE_SCHEDULE).await {
                Ok(duty) => duty,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the source schedule's duty");
                    None
                }
            };
            let listed = match &duty {
                Some(duty) => Some((duty, self.store.list_sources(self.tenant).await)),
                None => None,
            };
            match listed {
                None => {}
                Some((duty, Ok(sources))) => {
                    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
                    for source in sources.iter().filter(|s| s.kind != "scim") {
                        let every = sync_interval(&source.config);
                        let due = source.last_sync_ms.is_none_or(|last| now_ms - last >= every.as_millis() as i64);
                        let recently_failed = failed_at.get(&source.id).is_some_and(|t| t.elapsed() < every);
                        if !due || recently_failed {
                            continue;
                        }
                        match self.sync_source_under(source, duty.fence()).await {
                            Ok(report) => {
                                failed_at.remove(&source.id);
                                tracing::info!(source = %source.name, people = report.people, incremental = report.incremental, "scheduled sync");
                            }
                            Err(e) => {
                                failed_at.insert(source.id, tokio::time::Instant::now());
                                tracing::warn!(source = %source.name, error = %e, retry_in_s = every.as_secs(), "scheduled sync failed");
                            }
                        }
                    }
                }
                Some((_, Err(e))) => tracing::error!(error = %e, "cannot list sources for the sync schedule"),
            }
            drop(duty);
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(crate::nodes::DUTY_RENEW) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_comes_from_the_config_or_the_default() {
        assert_eq!(sync_interval(&serde_json::json!({"sync_every_s": 300})), Duration::from_secs(300));
        assert_eq!(sync_interval(&serde_json::json!({"sync_every_s": 0})), DEFAULT_SYNC_EVERY);
        assert_eq!(sync_interval(&serde_json::json!({})), DEFAULT_SYNC_EVERY);
    }
}
