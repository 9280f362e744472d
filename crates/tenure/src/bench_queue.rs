//! `tenure bench propagation` and `tenure bench throughput`: the queue and propagation measured
//! end to end, in one process, the way `tenure serve` runs them (the same executor and
//! propagation loop), against a built-in sandbox app over HTTP.
//!
//! - propagation (`bench_propagation.rs`): an IdP pushes a change to one person through Tenure's
//!   SCIM endpoint; the time until every app holding the person has it (p50/p99).
//! - throughput: a sandbox app limited to N writes/s, Tenure configured with the same limit,
//!   provisioning many people; the achieved rate and the 429s the app had to send.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_core::*;
use tenure_engine::{Engine, Executor, PropagationOptions, WorkerOptions};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::Store;

use crate::bench_scim::{RemoveOnDrop, uuid_suffix};
use crate::cli::BenchThroughputArgs;

/// A fresh SQLite store in a temporary directory, removed afterwards, or the given database.
pub(crate) async fn fresh_store(database_url: Option<&str>) -> anyhow::Result<(Store, Option<RemoveOnDrop>)> {
    match database_url {
        Some(url) => Ok((Store::connect(url).await?, None)),
        None => {
            let dir = std::env::temp_dir().join(format!("tenure-bench-{}", uuid_suffix()));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            Ok((Store::connect(&url).await?, Some(RemoveOnDrop(dir))))
        }
    }
}

/// The executor and the propagation loop, as `tenure serve` runs them.
pub(crate) struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Workers {
    pub(crate) fn start(engine: &Engine, poll: Duration) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let executor = Executor::new(engine.clone(), WorkerOptions::default());
        let worker = executor.clone();
        let watch = stopped.clone();
        tasks.spawn(async move { worker.run(watch).await });
        let engine = engine.clone();
        let options = PropagationOptions { poll, ..PropagationOptions::default() };
        tasks.spawn(async move { engine.run_propagation(options, Some(executor), stopped).await });
        Self { stop, tasks }
    }

    /// Lets in-flight operations finish and be recorded before the store closes.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub(crate) fn person(i: usize) -> ImportedPerson {
    ImportedPerson {
        source_key: format!("E{i}"),
        user_name: format!("person{i}@bench.example"),
        email: format!("person{i}@bench.example"),
        given_name: Some(format!("Given{i}")),
        family_name: Some(format!("Family{i}")),
        display_name: None,
        department: Some(format!("Department{}", i % 20)),
        title: Some("Engineer".into()),
        employee_id: Some(format!("E{i}")),
        manager_key: None,
        org_unit: None,
        status: PersonStatus::Active,
        start_date: None,
        leave_date: None,
        custom: Default::default(),
        groups: vec!["everyone".into()],
    }
}

pub async fn throughput(args: BenchThroughputArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let (store, _dir) = fresh_store(args.database_url.as_deref()).await?;
    let tenant = store.ensure_tenant("bench").await?;
    let engine = Engine::new(store.clone(), tenant);
    let app_sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "bench-token".into(),
        rate_limit_per_sec: Some(args.limit),
        faults: None,
    })
    .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: (0..args.people).map(person).collect(), groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    // Tenure is told the app's documented limit, and keeps to it.
    let settings = AppSettings {
        user_name: UserNameFormat::Email,
        limits: Some(AppLimits {
            per_second: Some(f64::from(args.limit)),
            burst: Some(1),
            concurrency: Some(16),
            shared_key: None,
            creates_per_second: None,
            updates_per_second: None,
            deletes_per_second: None,
            windows: Vec::new(),
        }),
        ..AppSettings::default()
    };
    let app = store
        .add_app(tenant, "notion", AppKind::Scim, &app_sandbox.base_url(), &Secret::new("bench-token"), &settings)
        .await?;
    let everyone = store.group_by_name(tenant, "everyone").await?.context("the everyone group")?;
    let started = Instant::now();
    store.assign(tenant, app.id, &AssignmentTarget::Group(everyone), false, &AssignmentParams::default()).await?;
    let workers = Workers::start(&engine, Duration::from_millis(50));

    // The rate counts from the first write to the last, so planning time is not in it.
    let mut first_write: Option<(Instant, u64)> = None;
    let deadline = Instant::now() + Duration::from_secs(args.people as u64 / u64::from(args.limit).max(1) * 3 + 120);
    let mut last_report = Instant::now();
    loop {
        let users = app_sandbox.write_count();
        if first_write.is_none() && users > 0 {
            first_write = Some((Instant::now(), users));
        }
        if app_sandbox.user_count() >= args.people {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "provisioning did not finish: {} of {}",
            app_sandbox.user_count(),
            args.people
        );
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!("{} of {} accounts created", app_sandbox.user_count(), args.people);
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let finished = Instant::now();
    workers.stop().await;
    let (first_at, first_count) = first_write.context("no write reached the app")?;
    let writes = app_sandbox.write_count().saturating_sub(first_count);
    let seconds = finished.duration_since(first_at).as_secs_f64().max(1e-3);
    let achieved = writes as f64 / seconds;
    let http_429 = app_sandbox.throttled_count();
    eprintln!(
        "{} accounts in {:.1} s ({:.1} s since the first write): {achieved:.1} writes/s against a limit of {}/s, {http_429} answered 429 (goal: >= {:.0}/s, no 429)",
        args.people,
        started.elapsed().as_secs_f64(),
        seconds,
        args.limit,
        f64::from(args.limit) * 0.9
    );
    println!(
        "{}",
        json!({
            "people": args.people,
            "limit_per_s": args.limit,
            "achieved_per_s": round1(achieved),
            "http_429": http_429,
            "peak_writes_in_a_second": app_sandbox.peak_writes_per_second(),
            "elapsed_s": round1(started.elapsed().as_secs_f64()),
        })
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
