//! Long work started from the console (a sync, an apply) runs in a task of its own; its page
//! shows how far it has come, refreshed by htmx polling, and its outcome once it ends. The work
//! is the engine's command, run as the admin who asked. The job's record is in the store, so its
//! page answers from whichever node the browser reaches; the node running it beats a heartbeat,
//! and a job whose node died reads as interrupted, not as running for ever.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tenure_engine::admin::Need;
use tenure_store::{ConsoleJob, ConsoleJobStatus, Store};

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when};
use crate::ServerState;

/// How long a finished job's outcome stays to be read.
const KEPT: Duration = Duration::from_secs(3600);
/// How often the running node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A running job without a heartbeat for this long was on a node that stopped.
const STALE: Duration = Duration::from_secs(30);

/// Jobs running in this server process: each holds a task and the store's connections.
#[derive(Default)]
pub struct Jobs {
    running: Arc<AtomicUsize>,
}

/// The most jobs running at once in one server.
const MAX_RUNNING: usize = 16;

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Counts a job as running in this process until dropped, and beats its heartbeat meanwhile.
struct Running {
    count: Arc<AtomicUsize>,
    beat: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.beat.abort();
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn start(
    state: &ServerState,
    signed: &Signed,
    kind: &'static str,
    subject: &str,
    planned: usize,
) -> Result<(String, Running), Failure> {
    let count = state.console_jobs.running.clone();
    if count.fetch_add(1, Ordering::Relaxed) >= MAX_RUNNING {
        count.fetch_sub(1, Ordering::Relaxed);
        return Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many syncs and applies are running on this server; try again when one has ended.",
        ));
    }
    let now = signed.engine.now_ms();
    let job = ConsoleJob {
        id: tenure_engine::tokens::random_token(16),
        tenant: signed.session.tenant,
        admin: signed.session.admin.email.clone(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        planned: planned as i64,
        status: ConsoleJobStatus::Running,
        outcome: String::new(),
        started_ms: now,
        heartbeat_ms: now,
        ended_ms: None,
    };
    let beat = {
        let (store, id) = (state.store.clone(), job.id.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = store.beat_console_job(&id).await {
                    tracing::warn!(error = %e, job = %id, "console: could not record a job's heartbeat");
                }
            }
        })
    };
    let running = Running { count, beat };
    if let Err(e) = state.store.insert_console_job(&job, now - ms(KEPT)).await {
        return Err(Failure::from(tenure_engine::EngineError::from(e)));
    }
    Ok((job.id, running))
}

/// Records how the job ended; the running guard goes with it.
async fn finish(store: &Store, id: &str, running: Running, outcome: Result<String, String>) {
    let (status, text) = match outcome {
        Ok(text) => (ConsoleJobStatus::Done, text),
        Err(text) => (ConsoleJobStatus::Failed, text),
    };
    if let Err(e) = store.finish_console_job(id, status, &text).await {
        tracing::warn!(error = %e, job = %id, "console: could not record how a job ended");
    }
    drop(running);
}

/// Starts a sync of one source (org admins, as the sync command requires).
pub async fn start_sync(state: &ServerState, signed: &Signed, source: &str) -> Result<String, Failure> {
    signed.actor.require(Need::OrgAdmin)?;
    signed.admin().show_source(source).await?;
    let (id, running) = start(state, signed, "sync", source, 0).await?;
    let (store, engine, actor, name, job) =
        (state.store.clone(), signed.engine.clone(), signed.actor.clone(), source.to_owned(), id.clone());
    tokio::spawn(async move {
        let outcome = match engine.admin(&actor).sync(Some(&name), tenure_engine::SyncOptions::default()).await {
            Ok(reports) => Ok(reports
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
                .join("; ")),
            Err(e) => Err(e.to_string()),
        };
        finish(&store, &job, running, outcome).await;
    });
    Ok(id)
}

/// Starts an apply of one app's plan, or of every app's: whoever may change the app (org admins
/// for every app), as the apply command requires.
pub async fn start_apply(state: &ServerState, signed: &Signed, app: Option<&str>) -> Result<String, Failure> {
    let admin = signed.admin();
    match app {
        Some(name) => signed.actor.require(Need::AppWrite(admin.app(name).await?.id))?,
        None => signed.actor.require(Need::OrgAdmin)?,
    }
    let (plans, _) = admin.plan(app).await?;
    let planned = plans.iter().map(|p| p.plan.ops.len()).sum();
    let (id, running) = start(state, signed, "apply", app.unwrap_or_default(), planned).await?;
    let (store, engine, actor, app, job) =
        (state.store.clone(), signed.engine.clone(), signed.actor.clone(), app.map(str::to_owned), id.clone());
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
                Ok(format!("{text}."))
            }
            Err(e) => Err(e.to_string()),
        };
        finish(&store, &job, running, outcome).await;
    });
    Ok(id)
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    nav: Nav,
    notice: Option<Notice>,
    id: String,
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

/// The job, to the admin who started it only (anyone else reads "not found").
async fn read(state: &ServerState, signed: &Signed, id: &str) -> Result<ConsoleJob, Failure> {
    let stale_before = signed.engine.now_ms() - ms(STALE);
    let job = state
        .store
        .console_job(id, signed.session.tenant, &signed.session.admin.email, stale_before)
        .await
        .map_err(|e| Failure::from(tenure_engine::EngineError::from(e)))?;
    job.ok_or_else(|| {
        Failure::new(StatusCode::NOT_FOUND, format!("job {id} not found (jobs are kept an hour after they end)"))
    })
}

pub async fn page(State(state): State<ServerState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let job = read(&state, &signed, &id).await?;
    job_page(&signed, &job, None).await
}

/// The job's page: also what the form that started it answers.
pub async fn shown(state: &ServerState, signed: &Signed, id: &str) -> PageResult {
    let job = read(state, signed, id).await?;
    job_page(signed, &job, Notice::ok("Started.")).await
}

async fn job_page(signed: &Signed, job: &ConsoleJob, notice: Option<Notice>) -> PageResult {
    let running = job.status == ConsoleJobStatus::Running;
    let failed = matches!(job.status, ConsoleJobStatus::Failed | ConsoleJobStatus::Interrupted);
    let subject = if job.subject.is_empty() { "every app".to_owned() } else { job.subject.clone() };
    let planned = usize::try_from(job.planned).unwrap_or_default();
    let progress = if job.kind == "apply" {
        let app = Some(job.subject.as_str()).filter(|s| !s.is_empty());
        let settled = signed.admin().settled_since(app, job.started_ms).await?;
        Some((settled.succeeded, settled.failed, planned))
    } else {
        None
    };
    let percent = match progress {
        Some((ok, bad, planned)) if planned > 0 => ((ok + bad) * 100 / planned as u64).min(100),
        _ if !running => 100,
        _ => 0,
    };
    let back = match (job.kind.as_str(), job.subject.is_empty()) {
        ("sync", _) => "/sources".to_owned(),
        (_, false) => format!("/apps/{}?tab=activity", segment(&job.subject)),
        _ => "/plans".to_owned(),
    };
    let end = job.ended_ms.unwrap_or_else(|| signed.engine.now_ms());
    Ok(render(&JobPage {
        nav: signed.nav(if job.kind == "sync" { "sources" } else { "plans" }),
        notice,
        id: job.id.clone(),
        title: format!("{} {subject}", if job.kind == "sync" { "Sync of" } else { "Apply of" }),
        running,
        failed,
        started: when(Some(job.started_ms)),
        elapsed_s: u64::try_from((end - job.started_ms) / 1000).unwrap_or_default(),
        progress,
        percent,
        outcome: job.outcome.clone(),
        back,
    }))
}
