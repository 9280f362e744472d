//! Loading everything one plan needs and asking the reconciler for it.

use std::collections::HashSet;

use serde::Serialize;
use tenure_core::reconcile::{AppState, DirectoryIndex, Explanation, Prepared, explain, plan_apps};
use tenure_core::{App, Plan, RemoteAccount, RemoteGroup};
use tenure_store::AppRecord;

use crate::{Clock, Engine, EngineError};

/// One app's plan, with the accounts the app held when it was computed.
#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    pub app: App,
    pub plan: Plan,
    #[serde(skip)]
    pub observed: Vec<RemoteAccount>,
    /// Accounts Tenure manages (has linked) in the app: what the deprovisioning guard weighs the
    /// plan's losses against.
    pub managed: usize,
    /// Whose pairs the plan answers for: the deprovisioning guard lets a held loss go only when
    /// a plan that covers its person no longer has it.
    #[serde(skip)]
    pub covered: tenure_core::guard::Coverage,
    /// When the state the plan was made from was read (the system's clock, as the store's
    /// timestamps): an operation settled since then makes the plan stale for its pair.
    #[serde(skip)]
    pub read_at_ms: i64,
    /// What the app's catalog profile says about this plan: losses that cannot be undone,
    /// accounts its list cannot show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
        self.plan_from(app, today, &[]).await
    }

    /// [`Self::plan`], except that an app whose user list may not be read again yet (its
    /// minimum interval between full reads) is planned from its read in `saved` when there is
    /// one, as of when that read was made, instead of refused.
    pub(crate) async fn plan_from(
        &self,
        app: Option<&str>,
        today: time::Date,
        saved: &[tenure_store::PlanRead],
    ) -> Result<Vec<AppPlan>, EngineError> {
        let apps: Vec<AppRecord> =
            self.store.list_apps(self.tenant).await?.into_iter().map(crate::app_auth::for_planning).collect();
        let selected: Vec<AppRecord> = apps.into_iter().filter(|a| app.is_none_or(|n| a.app.name == n)).collect();
        if let (Some(n), true) = (app, selected.is_empty()) {
            return Err(EngineError::NotFound(format!("app {n}")));
        }
        // A disabled app is paused: nothing is planned for it, so nothing can be deprovisioned.
        if let (Some(n), Some(true)) = (app, selected.first().map(|a| a.disabled)) {
            return Err(EngineError::Refused(format!(
                "app {n} is disabled: nothing is planned or carried out for it until it is enabled"
            )));
        }
        let selected: Vec<AppRecord> = selected.into_iter().filter(|a| !a.disabled).collect();
        let read_at_ms = crate::SystemClock.now_ms();
        let snapshot = self.planning_directory(today).await?;
        let dir =
            DirectoryIndex::new(&snapshot.people, &snapshot.groups).with_pushed_sources(self.pushed_sources().await?);

        let mut policies = Vec::with_capacity(selected.len());
        let mut externals = Vec::with_capacity(selected.len());
        for record in &selected {
            let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
            let links: Vec<_> =
                self.store.list_accounts(self.tenant, record.app.id).await?.into_iter().map(|a| a.link).collect();
            policies.push((assignments, links));
            externals.push(self.known_externals(record.app.id).await?);
        }

        // Reading apps is network-bound: all of them at once. Groups only where an assignment
        // names one: most apps' groups are none of Tenure's business.
        // An app whose probed profile says its list cannot be read whole is not read at all.
        let mut refused: Vec<Option<String>> = selected.iter().map(refusal_of).collect();
        let mut reads = tokio::task::JoinSet::new();
        let mut observed: Vec<Option<(Vec<RemoteAccount>, Vec<RemoteGroup>)>> = vec![None; selected.len()];
        let mut read_at: Vec<i64> = vec![read_at_ms; selected.len()];
        for (index, record) in selected.iter().enumerate() {
            if refused[index].is_some() {
                continue;
            }
            // A manual app has no connector: what it holds is what its closed tasks recorded.
            if record.app.settings.manual() {
                observed[index] = Some((self.recorded_accounts(record.app.id).await?, Vec::new()));
                continue;
            }
            if let Some(reason) = self.claim_list_read(&record.app).await? {
                match saved.iter().find(|r| r.app_id == record.app.id) {
                    Some(read) => {
                        observed[index] = Some((read.accounts.clone(), Vec::new()));
                        read_at[index] = read.read_at_ms;
                    }
                    None => refused[index] = Some(reason),
                }
                continue;
            }
            let client = self.client(record)?;
            let name = record.app.name.clone();
            let wants_groups = policies[index].0.iter().any(|a| !a.params.groups.is_empty());
            reads.spawn(async move {
                let read = async {
                    let users = client.list_users().await?;
                    let groups = if wants_groups { client.list_groups().await? } else { Vec::new() };
                    Ok((users, groups))
                };
                (index, read.await.map_err(|source| EngineError::Connector { app: name, source }))
            });
        }
        let mut changing = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let (index, read) = joined.map_err(|e| EngineError::Internal(format!("app read task: {e}")))?;
            match read {
                Ok(read) => observed[index] = Some(read),
                // The list moved while read, most likely under Tenure's own writes: read again
                // below with them held back (quiet_read.rs).
                Err(EngineError::Connector { source, .. }) if source.is_list_changing() => changing.push(index),
                // A list that does not add up is refused, app by app: planning from it would
                // propose a create for every account it left out.
                Err(EngineError::Connector { app, source }) if source.is_paging_fault() => {
                    let reason = format!("its user list cannot be read completely: {source}");
                    tracing::warn!(app = %app, reason = %reason, "app not planned");
                    self.note_refusal(&selected[index], &reason).await;
                    refused[index] = Some(reason);
                }
                // A spent hourly or daily budget holds this app's plan, not every app's: it is
                // planned again once the window frees.
                Err(EngineError::Connector { app, source }) if source.is_window_spent() => {
                    let reason = format!("its user list is not read now: {source}");
                    tracing::info!(app = %app, reason = %reason, "app not planned");
                    refused[index] = Some(reason);
                }
                Err(e) => return Err(e),
            }
        }
        // One app at a time: each holds its own writes back only while it is read.
        for index in changing {
            let record = &selected[index];
            let wants_groups = policies[index].0.iter().any(|a| !a.params.groups.is_empty());
            let client = self.client(record)?;
            match self.read_quietly(record.app.id, &record.app.name, client, wants_groups).await {
                Ok(read) => observed[index] = Some(read),
                Err(EngineError::Connector { app, source }) if source.is_paging_fault() || source.is_window_spent() => {
                    let reason = if source.is_list_changing() {
                        format!(
                            "its user list kept changing while read, even with Tenure's writes to it held back: {source}"
                        )
                    } else {
                        format!("its user list cannot be read completely: {source}")
                    };
                    tracing::warn!(app = %app, reason = %reason, "app not planned");
                    if !source.is_window_spent() {
                        self.note_refusal(record, &reason).await;
                    }
                    refused[index] = Some(reason);
                }
                Err(e) => return Err(e),
            }
        }
        let (observed, groups): (Vec<Vec<RemoteAccount>>, Vec<Vec<RemoteGroup>>) =
            observed.into_iter().map(Option::unwrap_or_default).unzip();
        // Accounts an admin marked as known externals are nobody's: the planner never sees them,
        // so it cannot match one to a person (and later deprovision it with them).
        let without_externals: Vec<Option<Vec<RemoteAccount>>> =
            observed.iter().zip(&externals).map(|(accounts, marked)| without_marked(accounts, marked)).collect();
        let states: Vec<AppState<'_>> = selected
            .iter()
            .zip(&policies)
            .zip(observed.iter().zip(&without_externals).zip(&groups))
            .zip(&refused)
            .filter(|(_, refused)| refused.is_none())
            .map(|(((record, (assignments, links)), ((accounts, filtered), groups)), _)| AppState {
                app: &record.app,
                assignments,
                links,
                observed: filtered.as_deref().unwrap_or(accounts),
                groups,
            })
            .collect();
        // CPU-bound, spread over the cores by scoped threads. It blocks this async task while it
        // runs (tens of milliseconds at demo size; seconds at 100,000 people, see `tenure bench`).
        let mut planned = plan_apps(&dir, &states, today).into_iter();
        drop(states);
        let holds = self.legal_holds().await?;
        let computed: Vec<Plan> = refused
            .into_iter()
            .map(|reason| match reason {
                Some(reason) => Plan { refused: Some(reason), ..Plan::default() },
                None => {
                    let mut plan = planned.next().unwrap_or_default();
                    holds.apply(&mut plan);
                    plan
                }
            })
            .collect();
        let plans = selected
            .into_iter()
            .zip(computed)
            .zip(observed)
            .zip(&policies)
            .zip(read_at)
            .map(|((((record, plan), observed), (_, links)), read_at_ms)| AppPlan {
                notes: crate::profile::notes(&record.app, &plan, links, Some(&observed)),
                app: record.app,
                plan,
                observed,
                managed: links.len(),
                covered: tenure_core::guard::Coverage::Everyone { except: HashSet::new() },
                read_at_ms,
            })
            .collect::<Vec<AppPlan>>();
        let mut plans = plans;
        // Who would wait for a seat of a full pool, and where in line.
        self.seat_for_display(&mut plans).await?;
        Ok(plans)
    }
}

impl Engine {
    /// For an app that penalises reading its user list in full too often: claims this read, or
    /// says why it must wait and until when. Other apps are read whenever asked.
    pub(crate) async fn claim_list_read(&self, app: &App) -> Result<Option<String>, EngineError> {
        let Some(interval_s) = app.settings.min_list_interval_s.filter(|s| *s > 0) else { return Ok(None) };
        let interval_ms = i64::try_from(interval_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let now_ms = crate::SystemClock.now_ms();
        let Some(last_ms) = self.store.claim_list_read(self.tenant, app.id, now_ms, interval_ms).await? else {
            return Ok(None);
        };
        let why = crate::profile::entry_of(app)
            .filter(|e| e.min_list_interval_s().is_some())
            .and_then(|e| e.rate_limit_text().map(|t| format!(" ({}: {t})", e.display_name)))
            .unwrap_or_default();
        Ok(Some(format!(
            "its user list was read in full at {} and may be read at most once every {interval_s} s{why}: the next \
             full read is allowed at {}",
            rfc3339(last_ms),
            rfc3339(last_ms.saturating_add(interval_ms))
        )))
    }
}

fn rfc3339(ms: i64) -> String {
    crate::audit_query::rfc3339(ms).unwrap_or_else(|| format!("{ms} ms"))
}

/// Why the app's stored profile forbids planning it, if it does.
pub(crate) fn refusal_of(record: &AppRecord) -> Option<String> {
    record.app.settings.capabilities.as_ref().and_then(|c| c.paging.refusal())
}

impl Engine {
    /// The directory every plan reads, from the cache kept between passes (brought up to date
    /// with the database first).
    pub(crate) async fn planning_directory(
        &self,
        today: time::Date,
    ) -> Result<std::sync::Arc<crate::planning_cache::DirectorySnapshot>, EngineError> {
        self.planning.lock().await.directory(self, today).await
    }

    /// Records a refusal found while reading the app as the app's health, so `ops status` shows
    /// it. It never pauses the app: nothing is queued from a refused plan anyway.
    async fn note_refusal(&self, record: &AppRecord, reason: &str) {
        let never = std::time::Duration::ZERO;
        if let Err(e) = self.store.record_app_failure(self.tenant, record.app.id, reason, i64::MAX, never, never).await
        {
            tracing::warn!(app = %record.app.name, error = %e, "could not record why the app was not planned");
        }
    }

    /// The accounts of the app an admin marked as known externals.
    pub(crate) async fn known_externals(&self, app: tenure_core::AppId) -> Result<HashSet<String>, EngineError> {
        Ok(self.store.account_marks(self.tenant, app).await?.into_iter().map(|m| m.remote_id).collect())
    }
}

/// `accounts` without the marked ones, or `None` when none is marked (no copy needed).
pub(crate) fn without_marked(accounts: &[RemoteAccount], marked: &HashSet<String>) -> Option<Vec<RemoteAccount>> {
    if marked.is_empty() || !accounts.iter().any(|a| marked.contains(&a.remote_id)) {
        return None;
    }
    Some(accounts.iter().filter(|a| !marked.contains(&a.remote_id)).cloned().collect())
}

/// One app's state as read for a single-app question (explain, preview).
struct Loaded {
    record: AppRecord,
    observed: Vec<RemoteAccount>,
    groups: Vec<RemoteGroup>,
    links: Vec<tenure_core::AccountLink>,
    assignments: Vec<tenure_core::Assignment>,
}

impl Engine {
    /// The accounts Tenure recorded for an app, as a reading of it (manual apps').
    pub(crate) async fn recorded_accounts(&self, app: tenure_core::AppId) -> Result<Vec<RemoteAccount>, EngineError> {
        Ok(self
            .store
            .list_accounts(self.tenant, app)
            .await?
            .into_iter()
            .map(|a| RemoteAccount { remote_id: a.link.remote_id, active: a.active, attributes: a.attributes })
            .collect())
    }

    async fn load_app(&self, app: &str) -> Result<Loaded, EngineError> {
        let record = crate::app_auth::for_planning(self.store.app_by_name(self.tenant, app).await?);
        if record.app.settings.manual() {
            let observed = self.recorded_accounts(record.app.id).await?;
            let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
            let links =
                self.store.list_accounts(self.tenant, record.app.id).await?.into_iter().map(|a| a.link).collect();
            return Ok(Loaded { record, observed, groups: Vec::new(), links, assignments });
        }
        let client = self.client(&record)?;
        let failed = |source| EngineError::Connector { app: app.to_owned(), source };
        let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
        let wants_groups = assignments.iter().any(|a| !a.params.groups.is_empty());
        let (observed, groups) = match client.list_users().await {
            Ok(observed) => {
                let groups = if wants_groups { client.list_groups().await.map_err(failed)? } else { Vec::new() };
                (observed, groups)
            }
            Err(e) if e.is_list_changing() => {
                self.read_quietly(record.app.id, &record.app.name, client, wants_groups).await?
            }
            Err(e) => return Err(failed(e)),
        };
        // Known externals are nobody's, as in `plan`.
        let marked = self.known_externals(record.app.id).await?;
        let observed = without_marked(&observed, &marked).unwrap_or(observed);
        let links = self.store.list_accounts(self.tenant, record.app.id).await?.into_iter().map(|a| a.link).collect();
        Ok(Loaded { record, observed, groups, links, assignments })
    }

    /// Why one person has, lacks or will lose an account in one app, against the app's live
    /// accounts.
    pub async fn explain(&self, email: &str, app: &str, today: time::Date) -> Result<Explanation, EngineError> {
        let loaded = self.load_app(app).await?;
        let people = self.people(today).await?;
        let groups = self.store.list_groups(self.tenant).await?;
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let person = dir
            .person_by_email(email)
            .or_else(|| people.iter().find(|p| p.email.eq_ignore_ascii_case(email)))
            .ok_or_else(|| EngineError::NotFound(format!("person {email}")))?;
        let state = AppState {
            app: &loaded.record.app,
            assignments: &loaded.assignments,
            links: &loaded.links,
            observed: &loaded.observed,
            groups: &loaded.groups,
        };
        let prepared = Prepared::new(&dir, &state);
        Ok(explain(&dir, &prepared, person, today))
    }

    /// What changing an app's settings would do, before anything is saved: the plan with the
    /// current settings and the plan with `changed`, against one reading of the app. Assignment
    /// changes go through `preview_assignments` the same way. (An app group a change introduces
    /// is planned as if the app lacked it.)
    pub async fn preview_app(
        &self,
        app: &str,
        changed: tenure_core::App,
        today: time::Date,
    ) -> Result<(Plan, Plan), EngineError> {
        let loaded = self.load_app(app).await?;
        let people = self.people(today).await?;
        let groups = self.store.list_groups(self.tenant).await?;
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let mut then = loaded.record.clone();
        then.app = changed;
        let then = crate::app_auth::for_planning(then);
        let plan_of = |app: &tenure_core::App| {
            let state = AppState {
                app,
                assignments: &loaded.assignments,
                links: &loaded.links,
                observed: &loaded.observed,
                groups: &loaded.groups,
            };
            tenure_core::reconcile::plan_app(&dir, &state, today)
        };
        Ok((plan_of(&loaded.record.app), plan_of(&then.app)))
    }

    /// What changing an app's assignments would do: the plan with the current assignments and
    /// the plan with `change` applied to them, against one reading of the app.
    pub async fn preview_assignments(
        &self,
        app: &str,
        change: impl FnOnce(&mut Vec<tenure_core::Assignment>),
        today: time::Date,
    ) -> Result<(Plan, Plan), EngineError> {
        let loaded = self.load_app(app).await?;
        let people = self.people(today).await?;
        let groups = self.store.list_groups(self.tenant).await?;
        let dir = DirectoryIndex::new(&people, &groups).with_pushed_sources(self.pushed_sources().await?);
        let mut changed = loaded.assignments.clone();
        change(&mut changed);
        let plan_with = |assignments: &[tenure_core::Assignment]| {
            let state = AppState {
                app: &loaded.record.app,
                assignments,
                links: &loaded.links,
                observed: &loaded.observed,
                groups: &loaded.groups,
            };
            tenure_core::reconcile::plan_app(&dir, &state, today)
        };
        Ok((plan_with(&loaded.assignments), plan_with(&changed)))
    }
}
