//! Long work started from the console (a sync, an apply) runs in a task of its own; its page
//! shows how far it has come, refreshed by htmx polling, and its outcome once it ends. The work
//! is the engine's command, run as the admin who asked; this registry only remembers, in this
//! server process, which task is whose and how it ended.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tenure_core::TenantId;
use tenure_engine::admin::Need;

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when};
use crate::ServerState;

/// How long a finished job's outcome stays to be read.
const KEPT: Duration = Duration::from_secs(3600);
/// Bounds the memory jobs take: the oldest finished ones go first.
const MAX_JOBS: usize = 1000;

#[derive(Debug, Clone)]
enum Outcome {
    Running,
    Done(String),
    Failed(String),
}

#[derive(Debug, Clone)]
struct Job {
    tenant: TenantId,
    admin: String,
    /// `sync` or `apply`.
    kind: &'static str,
    /// What it works on: a source or an app, or empty for all of them.
    subject: String,
    started: Instant,
    started_ms: i64,
    /// Operations the plan held when an apply started.
    planned: usize,
    outcome: Outcome,
    ended: Option<Instant>,
}

/// The console's jobs, by id.
#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Job>>,
}

impl Jobs {
    fn insert(&self, job: Job) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, j| j.ended.is_none_or(|at| at.elapsed() < KEPT));
        if jobs.len() >= MAX_JOBS
            && let Some(oldest) =
                jobs.iter().filter(|(_, j)| j.ended.is_some()).min_by_key(|(_, j)| j.started).map(|(k, _)| *k)
        {
            jobs.remove(&oldest);
        }
        jobs.insert(id, job);
        id
    }

    fn finish(&self, id: u64, outcome: Outcome) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = jobs.get_mut(&id) {
            job.outcome = outcome;
            job.ended = Some(Instant::now());
        }
    }

    /// The job, to the admin who started it only.
    fn get(&self, id: u64, tenant: TenantId, admin: &str) -> Option<Job> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(&id).filter(|j| j.tenant == tenant && j.admin == admin).cloned()
    }

    fn running(&self) -> usize {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.values().filter(|j| matches!(j.outcome, Outcome::Running)).count()
    }
}

/// The most jobs running at once in one server: each holds a task and the store's connections.
const MAX_RUNNING: usize = 16;

fn start(
    state: &ServerState,
    signed: &Signed,
    kind: &'static str,
    subject: &str,
    planned: usize,
) -> Result<u64, Failure> {
    if state.console_jobs.running() >= MAX_RUNNING {
        return Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many syncs and applies are running on this server; try again when one has ended.",
        ));
    }
    Ok(state.console_jobs.insert(Job {
        tenant: signed.session.tenant,
        admin: signed.session.admin.email.clone(),
        kind,
        subject: subject.to_owned(),
        started: Instant::now(),
        started_ms: signed.engine.now_ms(),
        planned,
        outcome: Outcome::Running,
        ended: None,
    }))
}

/// Starts a sync of one source (org admins, as the sync command requires).
pub async fn start_sync(state: &ServerState, signed: &Signed, source: &str) -> Result<u64, Failure> {
    signed.actor.require(Need::OrgAdmin)?;
    signed.admin().show_source(source).await?;
    let id = start(state, signed, "sync", source, 0)?;
    let (jobs, engine, actor, name) =
        (state.console_jobs.clone(), signed.engine.clone(), signed.actor.clone(), source.to_owned());
    tokio::spawn(async move {
        let outcome = match engine.admin(&actor).sync(Some(&name), tenure_engine::SyncOptions::default()).await {
            Ok(reports) => Outcome::Done(
                reports
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {} people read{}",
                            r.source,
                            r.people,
                            if r.incremental { " (changes only)" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        jobs.finish(id, outcome);
    });
    Ok(id)
}

/// Starts an apply of one app's plan, or of every app's: whoever may change the app (org admins
/// for every app), as the apply command requires.
pub async fn start_apply(state: &ServerState, signed: &Signed, app: Option<&str>) -> Result<u64, Failure> {
    let admin = signed.admin();
    match app {
        Some(name) => signed.actor.require(Need::AppWrite(admin.app(name).await?.id))?,
        None => signed.actor.require(Need::OrgAdmin)?,
    }
    let (plans, _) = admin.plan(app).await?;
    let planned = plans.iter().map(|p| p.plan.ops.len()).sum();
    let id = start(state, signed, "apply", app.unwrap_or_default(), planned)?;
    let (jobs, engine, actor, app) =
        (state.console_jobs.clone(), signed.engine.clone(), signed.actor.clone(), app.map(str::to_owned));
    tokio::spawn(async move {
        let outcome = match engine.admin(&actor).apply(app.as_deref()).await {
            Ok(report) => {
                let done: usize = report.apps.iter().flat_map(|a| a.succeeded.values()).sum();
                let failed: usize = report.apps.iter().map(|a| a.failed.len()).sum();
                let mut text = format!("{done} operation(s) carried out, {failed} failed");
                if report.queued > 0 {
                    text.push_str(&format!(", {} waiting in the queue for a retry", report.queued));
                }
                if report.held_losses > 0 {
                    text.push_str(&format!(", {} loss(es) held for an admin (see Plans)", report.held_losses));
                }
                if report.dry_run > 0 {
                    text.push_str(&format!(", {} of dry-run apps logged only", report.dry_run));
                }
                Outcome::Done(format!("{text}."))
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        jobs.finish(id, outcome);
    });
    Ok(id)
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    nav: Nav,
    notice: Option<Notice>,
    id: u64,
    title: String,
    running: bool,
    failed: bool,
    started: String,
    elapsed_s: u64,
    /// Operations settled since the apply started, of those it planned.
    progress: Option<(u64, u64, usize)>,
    percent: u64,
    outcome: String,
    back: String,
}

pub async fn page(State(state): State<ServerState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let missing = || {
        Failure::new(
            StatusCode::NOT_FOUND,
            format!("job {id} not found (jobs are kept an hour, by the server that ran them)"),
        )
    };
    let number: u64 = id.parse().map_err(|_| missing())?;
    let job = state.console_jobs.get(number, signed.session.tenant, &signed.session.admin.email).ok_or_else(missing)?;
    job_page(&signed, number, &job, None).await
}

/// The job's page: also what the form that started it answers.
pub async fn shown(state: &ServerState, signed: &Signed, id: u64) -> PageResult {
    let job = state
        .console_jobs
        .get(id, signed.session.tenant, &signed.session.admin.email)
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("job {id} not found")))?;
    job_page(signed, id, &job, Notice::ok("Started.")).await
}

async fn job_page(signed: &Signed, id: u64, job: &Job, notice: Option<Notice>) -> PageResult {
    let (running, failed, outcome) = match &job.outcome {
        Outcome::Running => (true, false, String::new()),
        Outcome::Done(text) => (false, false, text.clone()),
        Outcome::Failed(text) => (false, true, text.clone()),
    };
    let subject = if job.subject.is_empty() { "every app".to_owned() } else { job.subject.clone() };
    let progress = if job.kind == "apply" {
        let app = Some(job.subject.as_str()).filter(|s| !s.is_empty());
        let settled = signed.admin().settled_since(app, job.started_ms).await?;
        Some((settled.succeeded, settled.failed, job.planned))
    } else {
        None
    };
    let percent = match progress {
        Some((ok, bad, planned)) if planned > 0 => ((ok + bad) * 100 / planned as u64).min(100),
        _ if !running => 100,
        _ => 0,
    };
    let back = match (job.kind, job.subject.is_empty()) {
        ("sync", _) => "/sources".to_owned(),
        (_, false) => format!("/apps/{}?tab=activity", segment(&job.subject)),
        _ => "/plans".to_owned(),
    };
    let elapsed = job.ended.map_or_else(|| job.started.elapsed(), |end| end.duration_since(job.started));
    Ok(render(&JobPage {
        nav: signed.nav(if job.kind == "sync" { "sources" } else { "plans" }),
        notice,
        id,
        title: format!("{} {subject}", if job.kind == "sync" { "Sync of" } else { "Apply of" }),
        running,
        failed,
        started: when(Some(job.started_ms)),
        elapsed_s: elapsed.as_secs(),
        progress,
        percent,
        outcome,
        back,
    }))
}
