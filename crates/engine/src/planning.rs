//! Loading everything one plan needs and asking the reconciler for it.

use serde::Serialize;
use tenure_core::reconcile::{AppState, DirectoryIndex, plan_app};
use tenure_core::{App, Plan, RemoteAccount};
use tenure_store::AppRecord;

use crate::{Engine, EngineError};

/// One app's plan, with the accounts the app held when it was computed.
#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    pub app: App,
    pub plan: Plan,
    #[serde(skip)]
    pub observed: Vec<RemoteAccount>,
}

impl AppPlan {
    pub fn observed_count(&self) -> usize {
        self.observed.len()
    }
}

impl Engine {
    /// Plans every app, or the one named. Reads each app's live accounts: a plan against what the
    /// app really holds, never against what Tenure last wrote.
    pub async fn plan(&self, app: Option<&str>, today: time::Date) -> Result<Vec<AppPlan>, EngineError> {
        let apps = self.store.list_apps(self.tenant).await?;
        let selected: Vec<AppRecord> = apps.into_iter().filter(|a| app.is_none_or(|n| a.app.name == n)).collect();
        if let (Some(n), true) = (app, selected.is_empty()) {
            return Err(EngineError::NotFound(format!("app {n}")));
        }
        let people = self.store.list_people(self.tenant).await?;
        let groups = self.store.list_groups(self.tenant).await?;
        let dir = DirectoryIndex::new(&people, &groups);

        // Reading apps is network-bound: all of them at once.
        let mut reads = tokio::task::JoinSet::new();
        for (index, record) in selected.iter().enumerate() {
            let client = self.client(record)?;
            let name = record.app.name.clone();
            reads.spawn(async move {
                (index, client.list_users().await.map_err(|source| EngineError::Connector { app: name, source }))
            });
        }
        let mut observed: Vec<Option<Vec<RemoteAccount>>> = vec![None; selected.len()];
        while let Some(joined) = reads.join_next().await {
            let (index, accounts) = joined.map_err(|e| EngineError::NotFound(format!("app read task: {e}")))?;
            observed[index] = Some(accounts?);
        }

        let mut plans = Vec::with_capacity(selected.len());
        for (record, accounts) in selected.into_iter().zip(observed) {
            let accounts = accounts.unwrap_or_default();
            let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
            let links: Vec<_> =
                self.store.list_accounts(self.tenant, record.app.id).await?.into_iter().map(|a| a.link).collect();
            let state = AppState { app: &record.app, assignments: &assignments, links: &links, observed: &accounts };
            let plan = plan_app(&dir, &state, today);
            plans.push(AppPlan { app: record.app, plan, observed: accounts });
        }
        Ok(plans)
    }
}
