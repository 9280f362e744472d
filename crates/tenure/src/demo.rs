//! `tenure demo`: the newcomer's first command. A fresh embedded database, a generated
//! organization imported through the real CSV source, four sandbox apps that behave like Slack,
//! Notion, Jira and GitHub Enterprise Managed Users, assignments by group and org unit, and
//! provisioning through the real SCIM client, with the server running so the admin API and
//! metrics can be explored.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use tenure_core::*;
use tenure_engine::{CsvSourceConfig, Engine};
use tenure_sandbox::{Profile, SandboxApp, SandboxOptions};
use tenure_store::{Store, TokenScope};

use crate::cli::DemoArgs;
use crate::config::{Settings, sqlite_url_in};
use crate::serve::{DEFAULT_LISTEN, bind, shutdown_signal};

/// How each sandbox app is set up and granted: what an admin would do for the real vendor.
struct DemoApp {
    profile: Profile,
    deprovision: DeprovisionPolicy,
    user_name: UserNameFormat,
    grants: &'static [(&'static str, &'static str)],
}

const DEMO_APPS: [DemoApp; 4] = [
    DemoApp {
        profile: Profile::Slack,
        // Slack userNames are handles: at most 21 characters, no '@' (the vendor profile's).
        deprovision: DeprovisionPolicy::Deactivate,
        user_name: UserNameFormat::Handle { max_len: 21 },
        grants: &[("group", "slack-users")],
    },
    DemoApp {
        profile: Profile::Notion,
        deprovision: DeprovisionPolicy::Delete,
        user_name: UserNameFormat::Email,
        grants: &[("org_unit", "/Engineering"), ("org_unit", "/Marketing")],
    },
    DemoApp {
        profile: Profile::Jira,
        deprovision: DeprovisionPolicy::Deactivate,
        user_name: UserNameFormat::Email,
        grants: &[("group", "jira-users")],
    },
    DemoApp {
        profile: Profile::GitHub,
        // GitHub EMU's DELETE is permanent: the profile deactivates.
        deprovision: DeprovisionPolicy::Deactivate,
        user_name: UserNameFormat::Email,
        grants: &[("org_unit", "/Engineering")],
    },
];

/// Plan-and-apply rounds before the demo gives up converging (failed operations are retried in
/// the next round).
const MAX_ROUNDS: usize = 5;

/// The demo's console sign-in.
const DEMO_ADMIN: &str = "admin@demo.example";

/// A random password for the demo's admin: 24 hex digits (96 bits).
fn demo_password() -> String {
    tenure_server::tokens::generate().trim_start_matches("tnr_").chars().take(24).collect()
}

pub async fn run(args: DemoArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let dir = std::env::temp_dir().join(format!("tenure-demo-{stamp}-{}", std::process::id()));
    // The sample files (and the embedded database, unless TENURE_DATABASE_URL names one) live
    // in a directory of their own, removed on exit unless --keep.
    let _cleanup = RemoveOnExit { dir: dir.clone(), keep: args.keep };
    let database_url = match settings.explicit_database_url() {
        Some(url) => url,
        None => sqlite_url_in(&dir)?,
    };
    let store = Store::connect(&database_url).await?;
    let tenant = store.ensure_tenant(&settings.tenant).await?;
    let engine = Engine::new(store.clone(), tenant);

    // The organization, through the same CSV import a real HR export takes.
    let sample = tenure_sources::sample_org(args.people as usize, 42);
    let people_file = dir.join("people.csv");
    let groups_file = dir.join("groups.csv");
    std::fs::write(&people_file, &sample.people_csv).with_context(|| people_file.display().to_string())?;
    std::fs::write(&groups_file, &sample.groups_csv).with_context(|| groups_file.display().to_string())?;
    let config = CsvSourceConfig {
        file: people_file.clone(),
        groups_file: Some(groups_file),
        mapping: Default::default(),
        scope: Default::default(),
        min_share_percent: None,
        format: Default::default(),
        watch_dir: None,
    };
    store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
    engine.sync(Some("hr")).await?;

    let mut sandboxes = Vec::new();
    for demo_app in &DEMO_APPS {
        let sandbox = SandboxApp::spawn(SandboxOptions::new(demo_app.profile, tenure_server::tokens::generate()))
            .await
            .with_context(|| format!("starting the {} sandbox", demo_app.profile.name()))?;
        let app = store
            .add_app(
                tenant,
                demo_app.profile.name(),
                AppKind::Scim,
                &sandbox.base_url(),
                &Secret::new(sandbox.token()),
                &AppSettings {
                    deprovision: demo_app.deprovision,
                    user_name: demo_app.user_name,
                    // The vendor profile, as `app add scim --vendor` records it: its DELETE
                    // meaning, its documented errors and its page cap.
                    vendor: Some(demo_app.profile.name().to_owned()),
                    ..AppSettings::default()
                },
            )
            .await?;
        for (kind, target) in demo_app.grants {
            let target = match *kind {
                "group" => AssignmentTarget::Group(
                    store
                        .group_by_name(tenant, target)
                        .await?
                        .with_context(|| format!("the sample organization lacks group {target}"))?,
                ),
                _ => AssignmentTarget::OrgUnit(OrgUnitPath::parse(target)?),
            };
            store.assign(tenant, app.id, &target, false, &AssignmentParams::default()).await?;
        }
        sandboxes.push(sandbox);
    }

    let admin_token = tenure_server::tokens::generate();
    store.insert_token(tenant, TokenScope::Admin, &tenure_server::tokens::hash(&admin_token), Some("demo")).await?;
    // An org admin for the console, with a password made now and printed once.
    let console_password = demo_password();
    engine
        .admin(&tenure_engine::Actor::cli())
        .add_admin(tenure_engine::admin::NewAdmin {
            email: DEMO_ADMIN.into(),
            role: Role::OrgAdmin,
            apps: Vec::new(),
            password: Some(Secret::new(console_password.clone())),
        })
        .await?;
    let listener = match &args.listen {
        Some(listen) => bind(listen).await?,
        // The usual port may be taken by another program; the demo should still just work.
        None => match bind(DEFAULT_LISTEN).await {
            Ok(l) => l,
            Err(_) => bind("127.0.0.1:0").await?,
        },
    };
    let addr = listener.local_addr()?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(tenure_server::serve(listener, tenure_server::ServerState::new(store.clone()), async move {
            let _ = server_stopped.await;
        }));

    let convergence = converge(&engine).await?;
    print_summary(&store, tenant, &sandboxes, &convergence, started.elapsed()).await?;
    demo_licenses(&engine, &sandboxes).await?;
    println!("  server     http://{addr} (admin API, /healthz, /metrics)");
    println!("  console    http://{addr}/  sign in as {DEMO_ADMIN} with password {console_password}");
    let ok =
        convergence.converged && convergence.failures.is_empty() && sandboxes.iter().all(|s| !s.users().is_empty());

    if !args.once {
        println!();
        println!("Where to look (Ctrl-C stops the demo and its sandbox apps):");
        println!("  admin API  curl -H 'Authorization: Bearer {admin_token}' http://{addr}/api/v1/apps");
        println!("  database   export TENURE_DATABASE_URL={database_url}");
        println!("             then: tenure plan | tenure app users slack | tenure unassign slack --group slack-users");
        println!("  files      {}", people_file.display());
        if !args.keep {
            println!("             (removed when the demo stops; --keep keeps them)");
        }
        println!("The demo re-plans every 5 seconds, so changes made with the commands above are provisioned.");
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let stop = shutdown_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => reconcile_round(&engine).await,
            }
        }
    }
    let _ = stop_server.send(());
    let _ = server.await;
    for sandbox in sandboxes {
        sandbox.shutdown().await;
    }
    store.close().await;
    if !ok {
        eprintln!("error: the demo did not converge cleanly; see the failures above");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the demo's directory when the demo ends, however it ends.
struct RemoveOnExit {
    dir: std::path::PathBuf,
    keep: bool,
}

impl Drop for RemoveOnExit {
    fn drop(&mut self) {
        if !self.keep && self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

struct Convergence {
    rounds: usize,
    converged: bool,
    /// Operation kind → count, per app.
    done: BTreeMap<String, BTreeMap<String, usize>>,
    /// Failures of the last round, as "app: op person: error".
    failures: Vec<String>,
}

async fn converge(engine: &Engine) -> anyhow::Result<Convergence> {
    let mut result = Convergence { rounds: 0, converged: false, done: BTreeMap::new(), failures: Vec::new() };
    for _ in 0..MAX_ROUNDS {
        let plans = engine.plan(None, engine.today().await?).await?;
        if plans.iter().all(|p| p.plan.ops.is_empty()) {
            result.converged = true;
            result.failures.clear();
            break;
        }
        result.rounds += 1;
        let report = engine.apply(plans).await?;
        result.failures.clear();
        for app in report.apps {
            let done = result.done.entry(app.app.clone()).or_default();
            for (kind, n) in app.succeeded {
                *done.entry(kind).or_default() += n;
            }
            result
                .failures
                .extend(app.failed.iter().map(|f| format!("{}: {} {}: {}", app.app, f.op, f.person, f.error)));
        }
    }
    Ok(result)
}

/// Seats bought for each app, as a license admin would set them (Jira's pool is short, as
/// happens when people are granted faster than seats are bought), and the license report of the
/// apps as they now are.
async fn demo_licenses(engine: &Engine, sandboxes: &[SandboxApp]) -> anyhow::Result<()> {
    let actor = tenure_engine::Actor::cli();
    let admin = engine.admin(&actor);
    let prices = [("8.25", "month", 1.2), ("120", "year", 1.1), ("7.75", "month", 0.9), ("252", "year", 1.0)];
    for ((demo_app, sandbox), (price, period, share)) in DEMO_APPS.iter().zip(sandboxes).zip(prices) {
        let active = sandbox.users().iter().filter(|u| u.active).count() as f64;
        let spec = tenure_engine::admin::LicenseSpec {
            tier: None,
            seats: (active * share).ceil() as u64,
            cost_per_seat: price.parse()?,
            currency: Some(if demo_app.profile == Profile::GitHub { "USD" } else { "EUR" }.into()),
            period: Some(period.into()),
            renews: None,
            owner: None,
            unused_days: None,
            freed_to: None,
        };
        admin.set_license(demo_app.profile.name(), spec).await?;
    }
    let quiet = |_: &str, _: usize, _: usize| {};
    let report = admin.license_report(None, false, &quiet).await?;
    println!("  licenses   seats bought, used and wasted (tenure license report):");
    let mut table = Vec::new();
    crate::licenses::write_table(&mut table, &report)?;
    for line in String::from_utf8_lossy(&table).lines() {
        println!("             {line}");
    }
    Ok(())
}

/// One background round of the running demo; problems are printed, never fatal.
async fn reconcile_round(engine: &Engine) {
    let today = match engine.today().await {
        Ok(day) => day,
        Err(e) => return eprintln!("cannot read the tenant's day: {e}"),
    };
    let plans = match engine.plan(None, today).await {
        Ok(p) => p,
        Err(e) => return eprintln!("plan failed: {e}"),
    };
    if plans.iter().all(|p| p.plan.ops.is_empty()) {
        return;
    }
    match engine.apply(plans).await {
        Ok(report) => crate::output::apply_summary(&report),
        Err(e) => eprintln!("apply failed: {e}"),
    }
}

async fn print_summary(
    store: &Store,
    tenant: TenantId,
    sandboxes: &[SandboxApp],
    c: &Convergence,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let people = store.list_people(tenant).await?;
    let groups = store.list_groups(tenant).await?;
    let active = people.iter().filter(|p| p.status == PersonStatus::Active).count();
    let org_units: BTreeSet<&str> = people.iter().filter_map(|p| p.org_unit.as_ref()).map(|o| o.as_str()).collect();
    println!("Tenure demo");
    println!(
        "  directory  {} people ({active} active) in {} org units, {} groups (nested), imported from an HR CSV export",
        people.len(),
        org_units.len(),
        groups.len()
    );
    for (demo_app, sandbox) in DEMO_APPS.iter().zip(sandboxes) {
        let name = demo_app.profile.name();
        let created = c.done.get(name).and_then(|d| d.get("create")).copied().unwrap_or(0);
        let users = sandbox.users();
        let active_users = users.iter().filter(|u| u.active).count();
        let grants: Vec<String> = demo_app.grants.iter().map(|(k, t)| format!("{} {t}", k.replace('_', " "))).collect();
        println!(
            "  {name:<7}    {created} accounts created ({active_users} active in the app), granted to {}; {} requests, {} throttled (429) and retried",
            grants.join(" and "),
            sandbox.request_count(),
            sandbox.throttled_count()
        );
    }
    let status = if c.converged { "converged" } else { "did NOT converge" };
    println!("  provisioning {status} in {} round(s), {:.1} s", c.rounds, elapsed.as_secs_f64());
    for f in &c.failures {
        println!("  FAILED {f}");
    }
    Ok(())
}
