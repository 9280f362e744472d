//! `tenure bench throughput --nodes N` and `tenure bench nodes`: real `tenure serve` processes
//! sharing one fresh PostgreSQL database provision people into a sandbox app limited to N
//! writes a second. What is measured is what the deployment promises: the app sees no more than
//! its limit (peak writes in any second, 429s it had to send) and gets close to it (achieved
//! writes a second over the limit), however many nodes share the work.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;
use tenure_core::*;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::crypto::{Keyring, MASTER_KEYS_VAR};
use tenure_store::scratch::ScratchDatabase;
use tenure_store::{Backend, ImportBatch, Store};
use tokio::io::AsyncBufReadExt;

use crate::bench_queue::{person, round1};
use crate::cli::{BenchNodesArgs, BenchThroughputArgs};

/// Where the PostgreSQL server for the bench is named when `--database-url` is not given.
const PG_URL_VAR: &str = "TENURE_BENCH_PG_URL";

/// One run's figures.
#[derive(Debug, Serialize)]
struct NodesRun {
    nodes: u32,
    people: usize,
    limit_per_s: u32,
    achieved_per_s: f64,
    achieved_over_limit: f64,
    http_429: u64,
    peak_writes_in_a_second: u32,
    elapsed_s: f64,
}

fn server_url(given: Option<&str>, nodes: u32) -> anyhow::Result<String> {
    let url = match given {
        Some(url) => url.to_owned(),
        None => std::env::var(PG_URL_VAR).map_err(|_| {
            anyhow::anyhow!(
                "several nodes share a PostgreSQL database: give --database-url postgres://... or set {PG_URL_VAR}"
            )
        })?,
    };
    match Backend::from_url(&url)? {
        Backend::Postgres => Ok(url),
        Backend::Sqlite => anyhow::bail!(
            "--nodes {nodes}: an SQLite database serves one node (a second `tenure serve` on the file is refused); give a postgres:// URL"
        ),
    }
}

pub async fn throughput(args: BenchThroughputArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let nodes = args.nodes.unwrap_or(1);
    let server = server_url(args.database_url.as_deref(), nodes)?;
    let run = run_nodes(&server, nodes, args.people, args.limit).await?;
    println!("{}", serde_json::to_string(&run)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn side_by_side(args: BenchNodesArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let server = server_url(args.database_url.as_deref(), args.max_nodes)?;
    let mut runs = Vec::new();
    for nodes in 1..=args.max_nodes {
        runs.push(run_nodes(&server, nodes, args.people, args.limit).await?);
    }
    println!("{}", json!({ "runs": runs }));
    Ok(ExitCode::SUCCESS)
}

/// A `tenure serve` child, killed when dropped.
pub(crate) struct Node {
    child: tokio::process::Child,
    /// Where it listens (`http://ADDR`), from the line it prints when it starts.
    pub(crate) url: String,
}

impl Node {
    pub(crate) async fn start(exe: &Path, database_url: &str, keys: &str, home: &Path, n: u32) -> anyhow::Result<Self> {
        let log = std::fs::File::create(home.join(format!("node{n}.log")))?;
        let mut child = tokio::process::Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TENURE_DATABASE_URL", database_url)
            .env(MASTER_KEYS_VAR, keys)
            .env("XDG_DATA_HOME", home.join(format!("node{n}")))
            .env("TENURE_LOG", "warn")
            .env_remove("TENURE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting tenure serve")?;
        let stdout = child.stdout.take().context("no stdout from tenure serve")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("tenure serve did not start within 60 s")??
            .unwrap_or_default();
        anyhow::ensure!(first.contains("listening"), "tenure serve printed {first:?} (log: {})", home.display());
        let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_default().to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, url })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn run_nodes(server: &str, nodes: u32, people: usize, limit: u32) -> anyhow::Result<NodesRun> {
    let scratch = ScratchDatabase::create(server).await?;
    let result = provision(scratch.url(), nodes, people, limit).await;
    if let Err(e) = scratch.drop_now().await {
        eprintln!("could not drop the bench database: {e}");
    }
    let run = result?;
    eprintln!(
        "{} node(s): {:.1} writes/s against a limit of {}/s ({:.2} of it), {} answered 429, peak {} writes in a second",
        run.nodes,
        run.achieved_per_s,
        run.limit_per_s,
        run.achieved_over_limit,
        run.http_429,
        run.peak_writes_in_a_second
    );
    Ok(run)
}

async fn provision(database_url: &str, nodes: u32, people: usize, limit: u32) -> anyhow::Result<NodesRun> {
    // The nodes must open the credentials this process seals: the operator's keys, or a key
    // made for the run.
    let keys = match std::env::var(MASTER_KEYS_VAR) {
        Ok(keys) if !keys.trim().is_empty() => keys,
        _ => Keyring::generate_entry("bench")?.expose().to_owned(),
    };
    let store = Store::connect_with_keys(database_url, Keyring::parse(&keys, MASTER_KEYS_VAR)?).await?;
    let tenant = store.ensure_tenant(tenure_engine::admin::DEFAULT_TENANT).await?;
    let app_sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "bench-token".into(),
        rate_limit_per_sec: Some(limit),
        faults: None,
    })
    .await?;
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let batch = ImportBatch { people: (0..people).map(person).collect(), groups: vec![] };
    store.apply_import(tenant, source, &batch).await?;
    let settings = AppSettings {
        user_name: UserNameFormat::Email,
        limits: Some(AppLimits {
            per_second: Some(f64::from(limit)),
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

    let home = tempfile::tempdir()?;
    let exe = std::env::current_exe().context("the tenure binary")?;
    let mut running = Vec::new();
    for n in 0..nodes {
        running.push(Node::start(&exe, database_url, &keys, home.path(), n).await?);
    }
    let started = Instant::now();
    store.assign(tenant, app.id, &AssignmentTarget::Group(everyone), false, &AssignmentParams::default()).await?;

    // The rate counts from the first write to the last, so planning time is not in it.
    let mut first_write: Option<(Instant, u64)> = None;
    let deadline = Instant::now() + Duration::from_secs(people as u64 / u64::from(limit).max(1) * 3 + 120);
    let mut last_report = Instant::now();
    let outcome = loop {
        let writes = app_sandbox.write_count();
        if first_write.is_none() && writes > 0 {
            first_write = Some((Instant::now(), writes));
        }
        if app_sandbox.user_count() >= people {
            break Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            break Err(anyhow::anyhow!(
                "provisioning did not finish: {} of {} (node logs in {})",
                app_sandbox.user_count(),
                people,
                home.path().display()
            ));
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!("{} node(s): {} of {people} accounts created", nodes, app_sandbox.user_count());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    for node in running {
        node.stop().await;
    }
    store.close().await;
    if outcome.is_err() {
        // Keep the logs of a failed run for whoever reads the error.
        let _ = home.keep();
    }
    let finished = outcome?;
    let (first_at, first_count) = first_write.context("no write reached the app")?;
    let writes = app_sandbox.write_count().saturating_sub(first_count);
    let seconds = finished.duration_since(first_at).as_secs_f64().max(1e-3);
    let achieved = writes as f64 / seconds;
    Ok(NodesRun {
        nodes,
        people,
        limit_per_s: limit,
        achieved_per_s: round1(achieved),
        achieved_over_limit: (achieved / f64::from(limit) * 100.0).round() / 100.0,
        http_429: app_sandbox.throttled_count(),
        peak_writes_in_a_second: app_sandbox.peak_writes_per_second(),
        elapsed_s: round1(started.elapsed().as_secs_f64()),
    })
}
