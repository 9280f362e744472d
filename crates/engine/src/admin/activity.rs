//! What the apps' queues did lately, for the apps the actor may see the queue of: when each
//! last settled an operation and how many settled in each recent hour.

use super::views::{AppActivityView, SettledView};
use super::{Admin, Need};
use crate::EngineError;

/// The hours `app_activity` covers: the last day.
pub const ACTIVITY_HOURS: usize = 24;

impl Admin<'_> {
    /// Each app's recent work, by app name, for the apps whose queue the actor may see (an app
    /// admin theirs); apps that never ran an operation have no last activity and empty hours.
    pub async fn app_activity(&self) -> Result<Vec<AppActivityView>, EngineError> {
        let now = self.engine.now_ms();
        let mut activity = self.store().app_activity(self.tenant(), now, ACTIVITY_HOURS).await?;
        let mut out = Vec::new();
        for record in self.store().list_apps(self.tenant()).await? {
            if !self.actor.allows(Need::AppPlans(record.app.id)) {
                continue;
            }
            let seen = activity.remove(&record.app.id).unwrap_or_default();
            let hours = if seen.hours.is_empty() { vec![(0, 0); ACTIVITY_HOURS] } else { seen.hours };
            out.push(AppActivityView {
                app: record.app.name,
                last_ms: seen.last_ms,
                until_ms: now,
                succeeded: hours.iter().map(|h| h.0).collect(),
                failed: hours.iter().map(|h| h.1).collect(),
            });
        }
        Ok(out)
    }

    /// Operations of one app (or of every app the actor sees the queue of) settled since
    /// `since_ms`: how far a long apply has come.
    pub async fn settled_since(&self, app: Option<&str>, since_ms: i64) -> Result<SettledView, EngineError> {
        let id = match app {
            Some(name) => {
                let id = self.store().app_by_name(self.tenant(), name).await?.app.id;
                self.actor.require(Need::AppPlans(id))?;
                Some(id)
            }
            None => {
                self.actor.require(Need::TenantRead)?;
                None
            }
        };
        let (succeeded, failed) = self.store().settled_since(self.tenant(), id, since_ms).await?;
        Ok(SettledView { succeeded, failed })
    }
}
