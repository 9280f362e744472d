//! `tenure bench memory`: the resident memory of a real `tenure serve` process at the size of a
//! real company. The set-up of `bench propagation` (N people pushed by an IdP, A apps each
//! granted to a fifth of them, every account in a sandbox app and Tenure's links) is loaded in
//! bulk by this process, which then closes the database and starts `tenure serve` on it as a
//! child. The child's VmRSS (from `/proc/PID/status`) is read when it has started, after its
//! first propagation pass (a change pushed to its SCIM endpoint, waited for until every app
//! holding the person has it: the pass read the directory), after more changes, and after a
//! page of every app's live user list was read through its API (which keeps each app's stored
//! accounts in memory); its VmHWM (peak) at the end. The sandbox app, the bulk load and the
//! measuring live in this process, not in the child.
//!
//! One JSON line: `people`, `apps`, `accounts`, `load_s`, `rss_started_mb`,
//! `rss_after_first_pass_mb`, `rss_after_changes_mb`, `rss_after_live_list_mb`, `peak_rss_mb`,
//! `goal_mb` (1024).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tenure_connectors::{ClientOptions, ScimClient};
use tenure_core::Secret;
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::crypto::{Keyring, MASTER_KEYS_VAR};
use tenure_store::{Store, TokenScope};

use crate::bench_nodes::Node;
use crate::bench_propagation::{Measured, load_company};
use crate::bench_queue::round1;
use crate::cli::BenchMemoryArgs;

/// The goal of issue 18: `serve` at 100,000 people x 50 apps under 1 GiB resident.
const GOAL_MB: f64 = 1024.0;

pub async fn run(args: BenchMemoryArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    let app_count = usize::try_from(args.apps)?;
    // The child must open the credentials this process seals: the operator's keys, or a key
    // made for the run.
    let keys = match std::env::var(MASTER_KEYS_VAR) {
        Ok(keys) if !keys.trim().is_empty() => keys,
        _ => Keyring::generate_entry("bench")?.expose().to_owned(),
    };
    let home = tempfile::tempdir()?;
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", home.path().join("bench.db").display()),
    };
    let store = Store::connect_with_keys(&database_url, Keyring::parse(&keys, MASTER_KEYS_VAR)?).await?;
    let tenant = store.ensure_tenant(tenure_engine::admin::DEFAULT_TENANT).await?;
    let sandbox = SandboxApp::spawn(SandboxOptions {
        profile: Profile::Notion,
        token: "bench-token".into(),
        rate_limit_per_sec: None,
        faults: None,
    })
    .await?;
    let started = Instant::now();
    let (ids, accounts) = load_company(&store, tenant, &sandbox, args.people, app_count).await?;
    let load_s = started.elapsed().as_secs_f64();
    eprintln!("loaded {} people, {} apps and {accounts} accounts in {load_s:.1} s", args.people, args.apps);
    let scim_token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Scim, &tenure_server::tokens::hash(&scim_token), Some("bench")).await?;
    let admin_token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Admin, &tenure_server::tokens::hash(&admin_token), Some("bench")).await?;
    // One process on an SQLite file: the child's, from here on.
    store.close().await;

    let exe = std::env::current_exe().context("the tenure binary")?;
    let node = Node::start(&exe, &database_url, &keys, home.path(), 0).await?;
    let pid = node.pid().context("tenure serve has no process id")?;
    let measured = measure(&node, pid, &sandbox, &ids, app_count, &scim_token, &admin_token, args.changes).await;
    node.stop().await;
    sandbox.shutdown().await;
    let figures = measured?;
    let peak = figures.peak_mb;
    eprintln!(
        "tenure serve at {} people x {} apps: {:.0} MB resident after the live list, peak {peak:.0} MB (goal: < {GOAL_MB:.0} MB)",
        args.people, args.apps, figures.after_live_list_mb
    );
    println!(
        "{}",
        json!({
            "bench": "memory",
            "people": args.people,
            "apps": args.apps,
            "accounts": accounts,
            "backend": if database_url.starts_with("sqlite") { "sqlite" } else { "postgres" },
            "load_s": round1(load_s),
            "rss_started_mb": figures.started_mb,
            "rss_after_first_pass_mb": figures.after_first_pass_mb,
            "first_pass_ms": round1(figures.first_pass_ms),
            "rss_after_changes_mb": figures.after_changes_mb,
            "changes": args.changes,
            "rss_after_live_list_mb": figures.after_live_list_mb,
            "live_list_pages": app_count,
            "peak_rss_mb": peak,
            "goal_mb": GOAL_MB,
        })
    );
    Ok(ExitCode::SUCCESS)
}

struct Figures {
    started_mb: f64,
    after_first_pass_mb: f64,
    first_pass_ms: f64,
    after_changes_mb: f64,
    after_live_list_mb: f64,
    peak_mb: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    node: &Node,
    pid: u32,
    sandbox: &SandboxApp,
    ids: &[tenure_core::PersonId],
    apps: usize,
    scim_token: &str,
    admin_token: &str,
    changes: usize,
) -> anyhow::Result<Figures> {
    let started_mb = memory_mb(pid, "VmRSS")?;
    let idp = ScimClient::new(
        &format!("{}/scim/v2", node.url),
        Secret::new(scim_token.to_owned()),
        ClientOptions::default(),
    )?;
    let bench = Measured { sandbox, idp: &idp, ids, apps };
    let (_, first) = bench.change(changes + 1).await?;
    let after_first_pass_mb = memory_mb(pid, "VmRSS")?;
    for n in 0..changes {
        bench.change(n).await?;
    }
    let after_changes_mb = memory_mb(pid, "VmRSS")?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    for a in 0..apps {
        let url = format!("{}/api/v1/apps/app{a:02}/users?count=100", node.url);
        let response = http.get(&url).bearer_auth(admin_token).send().await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "{url}: {status} {}", response.text().await.unwrap_or_default());
        let page: serde_json::Value = response.json().await?;
        let listed = page["accounts"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(listed == 100.min(ids.len()), "{url}: {listed} accounts");
    }
    let after_live_list_mb = memory_mb(pid, "VmRSS")?;
    let peak_mb = memory_mb(pid, "VmHWM")?;
    Ok(Figures {
        started_mb,
        after_first_pass_mb,
        first_pass_ms: first.as_secs_f64() * 1e3,
        after_changes_mb,
        after_live_list_mb,
        peak_mb,
    })
}

/// A `/proc/PID/status` figure (`VmRSS`: resident now, `VmHWM`: the peak), in MB.
fn memory_mb(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc (Linux only)")?;
    let kb: f64 = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok((kb / 1024.0).round())
}
