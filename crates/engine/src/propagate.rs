//! Propagation: turning what changed (dirty marks) into queued operations, within a second.
//!
//! Every change that can alter someone's access marks it in the same transaction as the change:
//! a directory import or SCIM push marks the people it changed, an assignment change marks its
//! app. Marks coalesce (one row per person, app or pair), so a burst of changes to one group is
//! planned once per person, not once per change. A pass reads the marks, plans them and queues
//! the operations while clearing the marks, in one transaction (the outbox): a change is either
//! still marked or its operations are queued.
//!
//! - A person's mark is planned incrementally against the accounts Tenure last saw or wrote
//!   (`Prepared::plan_person`), which costs microseconds per person and app.
//! - An app's mark (policy change, periodic reconciliation) reads the app live and plans everyone:
//!   this is also what catches drift, an account changed by hand in the app.
//! - A pair with an operation still queued is not planned again until it has run (planning it
//!   now would plan the same work twice); its mark waits.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use tenure_core::guard::Coverage;
use tenure_core::reconcile::{AppState, DirectoryIndex, Prepared};
use tenure_core::*;
use tenure_store::DirtyMark;
use tokio::sync::watch;

use crate::{AppPlan, Clock, Engine, EngineError, Executor};

#[derive(Debug, Clone)]
pub struct PropagationOptions {
    /// How often the marks are looked at.
    pub poll: Duration,
    /// How often every app is read in full and reconciled (drift, anything missed).
    pub reconcile_every: Duration,
    /// Marks read per pass.
    pub batch: i64,
}

impl Default for PropagationOptions {
    fn default() -> Self {
        Self { poll: Duration::from_millis(50), reconcile_every: Duration::from_secs(3600), batch: 10_000 }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PropagationPass {
    pub marks: usize,
    /// Apps planned in full (read live).
    pub full_apps: usize,
    /// People planned incrementally.
    pub people: usize,
    pub queued_ops: usize,
    /// Pairs left marked because an operation of theirs is still queued.
    pub deferred: usize,
    /// Losses this pass planned that wait for an admin (the deprovisioning guard); the rest of
    /// the pass went ahead.
    pub held: usize,
    /// In-app group changes queued.
    pub group_ops: usize,
}

impl Engine {
    /// Plans and queues whatever is marked. An app that cannot be read keeps its mark (and the
    /// pass reports the error after queuing the rest).
    pub async fn propagate_once(&self, today: time::Date) -> Result<PropagationPass, EngineError> {
        let mut marks = self.store.dirty_marks(self.tenant, 10_000).await?;
        // The first in line of pools that have free seats again are planned now: they get them.
        for mark in self.freed_seats().await? {
            if !marks.contains(&mark) {
                marks.push(mark);
            }
        }
        let mut pass = PropagationPass { marks: marks.len(), ..Default::default() };
        if marks.is_empty() {
            return Ok(pass);
        }
        // A disabled app is paused: not planned, so nothing is queued for it (its marks are
        // answered; enabling it marks it again).
        let apps: Vec<tenure_store::AppRecord> = self
            .store
            .list_apps(self.tenant)
            .await?
            .into_iter()
            .filter(|a| !a.disabled)
            .map(crate::app_auth::for_planning)
            .collect();
        let everything = marks.iter().any(|m| m.app.is_none() && m.person.is_none());
        let mut full: HashSet<AppId> = if everything {
            apps.iter().map(|a| a.app.id).collect()
        } else {
            marks.iter().filter(|m| m.person.is_none()).filter_map(|m| m.app).collect()
        };
        // Apps whose assignments name in-app groups are planned in full when anyone in them
        // changes: memberships need the app's groups read live, which a person's plan does not do.
        // The assignments are read once here and reused by the people's plans below.
        let mut assignments_of: HashMap<AppId, Vec<tenure_core::Assignment>> = HashMap::new();
        if marks.iter().any(|m| m.person.is_some()) {
            for record in &apps {
                if full.contains(&record.app.id) {
                    continue;
                }
                let assignments = self.store.list_assignments(self.tenant, record.app.id).await?;
                if assignments.iter().any(|a| !a.params.groups.is_empty()) {
                    full.insert(record.app.id);
                } else {
                    assignments_of.insert(record.app.id, assignments);
                }
            }
        }
        let read_at_ms = crate::SystemClock.now_ms();
        let busy = self.store.unfinished_pairs(self.tenant).await?;
        let mut plans: Vec<AppPlan> = Vec::new();
        let mut deferred: Vec<DirtyMark> = Vec::new();
        let mut kept: HashSet<AppId> = HashSet::new();
        let mut first_error = None;
        let defer_busy = |plan: &mut Plan, deferred: &mut Vec<DirtyMark>| {
            plan.ops.retain(|o| {
                let is_busy = busy.contains(&(o.app_id, o.person_id));
                if is_busy {
                    deferred.push(DirtyMark::pair(o.app_id, o.person_id));
                }
                !is_busy
            });
        };

        // One node plans an app in full at a time: every node reading every app at each
        // reconciliation multiplied the reads of a large app by the nodes (and spent its rate
        // limit as many times). An app another node is planning keeps its marks for that node.
        let mut claims = Vec::new();
        let mut elsewhere: HashSet<AppId> = HashSet::new();
        // On SQLite there is one node: nothing to claim from, and two more writes per app and
        // pass on its one write connection.
        let several_nodes = self.store.backend() == tenure_store::Backend::Postgres;
        for record in apps.iter().filter(|a| full.contains(&a.app.id)) {
            if several_nodes {
                match self.hold_duty(&crate::nodes::full_plan_duty(record.app.id)).await? {
                    Some(claim) => claims.push(claim),
                    None => {
                        elsewhere.insert(record.app.id);
                        continue;
                    }
                }
            }
            match self.plan(Some(&record.app.name), today).await {
                Ok(mut planned) => {
                    for p in &mut planned {
                        defer_busy(&mut p.plan, &mut deferred);
                        let except = busy.iter().filter(|(a, _)| *a == p.app.id).map(|(_, person)| *person).collect();
                        p.covered = Coverage::Everyone { except };
                    }
                    pass.full_apps += 1;
                    plans.extend(planned);
                }
                Err(e) => {
                    tracing::warn!(app = %record.app.name, error = %e, "cannot plan the app; it stays marked");
                    kept.insert(record.app.id);
                    first_error.get_or_insert(e);
                }
            }
        }

        let person_marks: Vec<&DirtyMark> = marks.iter().filter(|m| m.person.is_some()).collect();
        // Marks of directory changes are cleared by this pass: the cache is brought up to date
        // before and held until they are, so it knows that clearing was its own (after the full
        // plans above, which read it themselves).
        let mut cache = None;
        if !person_marks.is_empty() || marks.iter().any(|m| m.app.is_none()) {
            let mut held = self.planning.lock().await;
            held.keep_apps(&apps.iter().map(|a| a.app.id).collect());
            let snapshot = held.directory(self, today).await?;
            cache = Some((held, snapshot));
        }
        if let Some((held, snapshot)) = cache.as_mut().filter(|_| !person_marks.is_empty()) {
            let dir = DirectoryIndex::new(&snapshot.people, &snapshot.groups)
                .with_pushed_sources(self.pushed_sources().await?);
            let marked: Vec<PersonId> =
                person_marks.iter().filter_map(|m| m.person).collect::<HashSet<_>>().into_iter().collect();
            let mut theirs = self.store.accounts_of_people(self.tenant, &marked).await?;
            for record in apps.iter().filter(|a| !full.contains(&a.app.id)) {
                let app = &record.app;
                // Once each: a person can be marked for every app and for this one (a change
                // after a deferral), and planning them twice would queue their work twice.
                let mut once = HashSet::new();
                let wanted: Vec<PersonId> = person_marks
                    .iter()
                    .filter(|m| m.app.is_none_or(|a| a == app.id))
                    .filter_map(|m| m.person)
                    .filter(|person| once.insert(*person))
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let assignments = match assignments_of.remove(&app.id) {
                    Some(read) => read,
                    None => self.store.list_assignments(self.tenant, app.id).await?,
                };
                // A person's plan needs their own accounts, unless new userNames must avoid
                // every name the app holds.
                let whole;
                let (mine_links, mine_observed): (Vec<AccountLink>, Vec<RemoteAccount>);
                let (links, observed): (&[AccountLink], &[RemoteAccount]) = if needs_every_name(app) {
                    whole = held.accounts(self, app.id).await?;
                    (&whole.links, &whole.observed)
                } else {
                    let mine = theirs.remove(&app.id).unwrap_or_default();
                    mine_links = mine.iter().map(|a| a.link.clone()).collect();
                    mine_observed = mine
                        .into_iter()
                        .map(|a| RemoteAccount {
                            remote_id: a.link.remote_id,
                            active: a.active,
                            attributes: a.attributes,
                        })
                        .collect();
                    (&mine_links, &mine_observed)
                };
                let managed = held.managed(self, app.id).await?;
                let state = AppState { app, assignments: &assignments, links, observed, groups: &[] };
                let prepared = Prepared::new(&dir, &state);
                let mut plan = Plan::default();
                let mut covered = HashSet::new();
                for id in wanted {
                    let Some(person) = dir.person(id) else { continue };
                    if busy.contains(&(app.id, id)) {
                        deferred.push(DirtyMark::pair(app.id, id));
                        continue;
                    }
                    pass.people += 1;
                    covered.insert(id);
                    plan.ops.extend(prepared.plan_person(&dir, person, today).ops);
                }
                // App groups need the app's groups read live: the next full reconciliation
                // brings memberships in line.
                plans.push(AppPlan {
                    notes: crate::profile::notes(app, &plan, links, None),
                    app: app.clone(),
                    plan,
                    observed: Vec::new(),
                    managed,
                    covered: Coverage::People(covered),
                    read_at_ms,
                });
            }
        }

        // A person's change is the full plan's elsewhere only if that plan read the directory
        // after it: kept as the pair's own mark, planned once that plan is done.
        for mark in marks.iter().filter(|m| m.app.is_none()) {
            if let Some(person) = mark.person {
                deferred.extend(elsewhere.iter().map(|&app| DirtyMark::pair(app, person)));
            }
        }
        pass.deferred = deferred.len();
        if !deferred.is_empty() {
            // Before the originals are cleared: a crash in between leaves both, never neither.
            self.store.mark_dirty(self.tenant, &deferred).await?;
        }
        let answered: Vec<DirtyMark> = marks
            .iter()
            .filter(|m| match (m.app, m.person) {
                (Some(app), _) => !kept.contains(&app) && !elsewhere.contains(&app),
                (None, Some(_)) => kept.is_empty(),
                (None, None) => kept.is_empty() && elsewhere.is_empty(),
            })
            .copied()
            .collect();
        let enqueued = self.enqueue(&plans, &answered).await;
        // Released once the marks the plans answered are cleared (or left, on failure): another
        // node taking the app before would plan it again from the same marks.
        for claim in claims {
            // Its renewals stop first, so none takes the lease back after the release.
            let fence = claim.fence().clone();
            drop(claim);
            if let Err(e) = self.store.release_duty(&fence).await {
                tracing::warn!(error = %e, "cannot release an app's full plan; it lapses on its own");
            }
        }
        if let Some((cache, _)) = &mut cache {
            match &enqueued {
                Ok(_) if answered.iter().any(|m| m.app.is_none()) => cache.answered_own_marks(),
                Ok(_) => {}
                // Whether the marks were cleared is unknown: read the directory again.
                Err(_) => cache.forget_directory(),
            }
        }
        drop(cache);
        let enqueued = enqueued?;
        pass.held = enqueued.held_losses;
        pass.group_ops = enqueued.group_ops;
        if let Some(plan) = enqueued.plan_id {
            pass.queued_ops = self.store.plan_operations(self.tenant, plan).await?.len();
        }
        match first_error {
            Some(e) if pass.queued_ops == 0 => Err(e),
            _ => Ok(pass),
        }
    }

    /// Runs propagation until `shutdown` turns true: a pass whenever marks wait, a full
    /// reconciliation of every app every `reconcile_every`. Wakes `executor` when it queued work.
    pub async fn run_propagation(
        &self,
        options: PropagationOptions,
        executor: Option<Executor>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // The reconciliation and the dates are duties of one node at a time, on the deployment's
        // rhythm (nodes.rs), looked at by a task of their own: between passes, a pass of
        // thousands of people on a loaded node kept a dead holder's duties waiting for it.
        let calendar = {
            let engine = self.clone();
            let (shutdown, every) = (shutdown.clone(), options.reconcile_every);
            tokio::spawn(async move { engine.run_calendar_duties(every, shutdown).await })
        };
        let mut backoff = options.poll;
        loop {
            if *shutdown.borrow() {
                calendar.abort();
                return;
            }
            match self.propagate_once(self.today_or_utc().await).await {
                Ok(pass) => {
                    backoff = options.poll;
                    if pass.queued_ops > 0 {
                        tracing::debug!(?pass, "propagated");
                        if let Some(executor) = &executor {
                            executor.notify();
                        }
                    }
                }
                Err(e) => {
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "propagation pass failed");
                }
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }
}

impl Engine {
    /// Looks every [`crate::nodes::DUTY_RENEW`] whether this node should mark every app for the
    /// periodic reconciliation, or the people whose dates began, until `shutdown`.
    async fn run_calendar_duties(&self, reconcile_every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.reconcile_if_due(reconcile_every).await {
                tracing::error!(error = %e, "cannot schedule the periodic reconciliation");
            }
            if let Err(e) = self.mark_dates_if_day_turned().await {
                tracing::error!(error = %e, "cannot mark the people whose dates began today");
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(crate::nodes::DUTY_RENEW.min(reconcile_every)) => {}
            }
        }
    }
}

/// Whether creating an account in the app picks a userName no account of the app may hold
/// (numbered userNames, `unique` or on-create mappings): then planning a person needs every
/// account's name, not just theirs.
pub(crate) fn needs_every_name(app: &App) -> bool {
    let settings = &app.settings;
    settings.user_name.deduplicates()
        || settings.mappings.as_ref().is_some_and(|m| {
            m.mappings().iter().any(|m| m.expr.is_unique() || m.apply == tenure_core::expr::Apply::OnCreate)
        })
}
