//! `tenure bench offboard`: people with an account in each of N sandbox apps (Slack, Notion,
//! Jira, GitHub EMU in turn), offboarded one at a time through the admin command the CLI
//! and the API call; each offboarding timed from the command to the last app's answer. Ends with
//! one JSON line: `apps`, `runs`, `p50_ms`, `max_ms`, `accounts_left_active`.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use tenure_core::import::{ImportBatch, ImportedPerson};
use tenure_engine::admin::{AssignmentSpec, NewApp, NewAppKind, OffboardSpec, SettingsSpec};
use tenure_engine::{Actor, Engine};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};

use crate::bench_queue::{fresh_store, percentile, round1};
use crate::cli::BenchOffboardArgs;

fn person(i: u64) -> ImportedPerson {
    let mut p = crate::bench_queue::person(i as usize);
    p.org_unit = tenure_core::OrgUnitPath::parse("/Eng").ok();
    // Short enough for Slack's 21-character userNames.
    p.email = format!("p{i}@b.example");
    p.user_name = p.email.clone();
    p
}

pub async fn run(args: BenchOffboardArgs) -> anyhow::Result<ExitCode> {
    let (store, _dir) = fresh_store(None).await?;
    let tenant = store.ensure_tenant("bench").await?;
    let engine = Engine::new(store.clone(), tenant);
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    // Zoom's sandbox takes OAuth tokens only; the others take the static token.
    let profiles = [
        (Profile::Slack, "slack"),
        (Profile::Notion, "notion"),
        (Profile::Jira, "atlassian"),
        (Profile::GitHub, "github"),
    ];
    let mut sandboxes = Vec::new();
    for n in 0..args.apps {
        let (profile, vendor) = profiles[n as usize % profiles.len()];
        let token = format!("bench-{n}");
        let sandbox =
            SandboxApp::spawn(SandboxOptions { rate_limit_per_sec: None, ..SandboxOptions::new(profile, token) })
                .await?;
        let name = format!("app{n}");
        admin
            .create_app(NewApp {
                name: name.clone(),
                kind: NewAppKind::Scim,
                base_url: Some(sandbox.base_url()),
                token: Some(sandbox.token().into()),
                oauth: None,
                google: None,
                github: None,
                owner: None,
                // The vendor's profile (userName rules, DELETE meaning), not its documented pace:
                // the sandbox is not rate limited, and the figure is Tenure's own time.
                settings: SettingsSpec { vendor: Some(vendor.into()), rate_limit: Some(1000.0), ..Default::default() },
                disabled: false,
            })
            .await?;
        admin.assign(&name, &AssignmentSpec { org_unit: Some("/".into()), ..Default::default() }, false).await?;
        sandboxes.push(sandbox);
    }
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    let people: Vec<ImportedPerson> = (0..args.people + args.runs).map(person).collect();
    store.apply_import(tenant, source, &ImportBatch { people, groups: vec![] }).await?;
    let applied = engine.apply(engine.plan(None, tenure_engine::today()).await?).await?;
    if let Some(failure) = applied.apps.iter().flat_map(|a| a.failed.iter()).next() {
        anyhow::bail!(
            "setting up the accounts failed ({} failures), e.g. {}: {}",
            applied.failed(),
            failure.person,
            failure.error
        );
    }
    eprintln!("{} accounts in {} apps", applied.succeeded("create"), args.apps);

    let mut times = Vec::new();
    let mut left_active = 0;
    for i in 0..args.runs {
        let email = person(args.people + i).email;
        let started = Instant::now();
        let view = admin.offboard(&email, OffboardSpec::default()).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(view.status == "done", "offboarding of {email}: {} ({:?})", view.status, view.apps);
        for sandbox in &sandboxes {
            left_active += sandbox.users().iter().filter(|u| u.user_name == email && u.active).count();
        }
    }
    times.sort_by(f64::total_cmp);
    let line = json!({
        "bench": "offboard",
        "apps": args.apps,
        "people_per_app": args.people + args.runs,
        "runs": args.runs,
        "p50_ms": round1(percentile(&times, 50.0)),
        "max_ms": round1(times.last().copied().unwrap_or_default()),
        "accounts_left_active": left_active,
    });
    println!("{line}");
    for sandbox in sandboxes {
        sandbox.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}
