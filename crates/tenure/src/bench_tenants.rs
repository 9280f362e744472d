//! `tenure bench tenants`: one tenant with a backlog of creates queued against a slow app (two
//! requests a second), another tenant whose joiners are measured from the import that adds
//! them until its app holds them, with every tenant's background work running as under
//! `tenure serve`. Ends with one JSON line: `backlog_ops`, `backlog_left`, `changes`,
//! `p50_ms`, `p99_ms` (goal: p99 under a second, whatever the other tenant's backlog).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use tenure_core::import::ImportBatch;
use tenure_engine::admin::{AssignmentSpec, NewApp, NewAppKind, SettingsSpec};
use tenure_engine::{Actor, BackgroundOptions, PropagationOptions, TenantContexts};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};

use crate::bench_queue::{fresh_store, percentile};
use crate::cli::BenchTenantsArgs;

async fn app(
    contexts: &TenantContexts,
    tenant: tenure_core::TenantId,
    sandbox: &SandboxApp,
    rate: Option<f64>,
) -> anyhow::Result<()> {
    let engine = contexts.engine(tenant);
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    let spec = NewApp {
        name: "app".into(),
        kind: NewAppKind::Scim,
        base_url: Some(sandbox.base_url()),
        token: Some(sandbox.token().into()),
        oauth: None,
        google: None,
        github: None,
        owner: None,
        settings: SettingsSpec { rate_limit: rate, ..Default::default() },
        disabled: false,
    };
    admin.create_app(spec).await?;
    admin.assign("app", &AssignmentSpec { org_unit: Some("/Eng".into()), ..Default::default() }, false).await?;
    Ok(())
}

/// The bench's people, all in `/Eng`, which each app is assigned to.
fn person(i: usize) -> tenure_core::import::ImportedPerson {
    let mut p = crate::bench_queue::person(i);
    p.org_unit = tenure_core::OrgUnitPath::parse("/Eng").ok();
    p
}

pub async fn run(args: BenchTenantsArgs) -> anyhow::Result<ExitCode> {
    let (store, _dir) = fresh_store(args.database_url.as_deref()).await?;
    let busy = store.ensure_tenant("bench-busy").await?;
    let quiet = store.ensure_tenant("bench-quiet").await?;
    let contexts = TenantContexts::new(store.clone());
    let unthrottled =
        |token: &str| SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(Profile::Notion, token) };
    let slow = SandboxApp::spawn(unthrottled("slow")).await?;
    let fast = SandboxApp::spawn(unthrottled("fast")).await?;
    app(&contexts, busy, &slow, Some(2.0)).await?;
    app(&contexts, quiet, &fast, None).await?;
    let busy_source = store.add_source(busy, "hr", "csv", &json!({})).await?;
    let people = (0..usize::try_from(args.backlog)?).map(person).collect();
    store.apply_import(busy, busy_source, &ImportBatch { people, groups: vec![] }).await?;
    let queued = contexts.engine(busy).propagate_once(tenure_engine::today()).await?.queued_ops;
    eprintln!("{queued} operations queued in the busy tenant");
    let quiet_source = store.add_source(quiet, "hr", "csv", &json!({})).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = BackgroundOptions {
        propagation: PropagationOptions { poll: Duration::from_millis(50), ..Default::default() },
        tenant_poll: Duration::from_millis(200),
        ..Default::default()
    };
    let runner = contexts.clone();
    let background = tokio::spawn(async move { runner.run_background(options, stopped).await });
    let mut latencies = Vec::with_capacity(args.changes);
    let mut joined = Vec::new();
    for n in 0..args.changes {
        let mut p = person(1_000_000 + n);
        p.email = format!("joiner{n}@quiet.example");
        p.user_name = p.email.clone();
        joined.push(p);
        let started = Instant::now();
        store.apply_import(quiet, quiet_source, &ImportBatch { people: joined.clone(), groups: vec![] }).await?;
        let deadline = started + Duration::from_secs(30);
        while fast.user_count() < joined.len() {
            anyhow::ensure!(Instant::now() < deadline, "joiner {n} did not arrive within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let left = store.queue_counts(busy, None).await?;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), background).await;
    latencies.sort_by(f64::total_cmp);
    let out = json!({
        "backlog_ops": queued,
        "backlog_left": left.ready + left.waiting,
        "changes": args.changes,
        "p50_ms": (percentile(&latencies, 50.0) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&latencies, 99.0) * 10.0).round() / 10.0,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
