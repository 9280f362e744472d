//! `tenure bench licenses`: the license report from stored state at size. A generated directory
//! (100,000 people by default) and 50 apps, each holding accounts for 10% to 60% of the people
//! with a spread of classes, tiers and last activity, loaded in bulk as each app's stored seats
//! (what a live report leaves); pools set through the admin command. Then the stored report is
//! computed several times. Ends with one JSON line: `people`, `apps`, `accounts`, `load_s`,
//! `report_ms_p50`, `report_ms_max` (goal: under 2,000 ms).

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use tenure_core::AccountClass;
use tenure_core::import::ImportBatch;
use tenure_engine::admin::LicenseSpec;
use tenure_engine::{Actor, Engine};
use tenure_store::SeatRow;

use crate::bench_queue::{fresh_store, percentile};

#[derive(Debug, Args)]
pub struct BenchLicensesArgs {
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub people: u64,
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub apps: u64,
    /// Reports measured.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub runs: u64,
    /// Database to use (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

/// The class of account `j` of an app: mostly managed, a few of every kind of waste.
fn class(j: u64) -> (AccountClass, bool) {
    match j % 100 {
        0..=2 => (AccountClass::LeftButActive, true),
        3..=5 => (AccountClass::UnassignedButActive, true),
        6..=7 => (AccountClass::InactiveButLicensed, false),
        8..=11 => (AccountClass::Unmanaged, true),
        12..=14 => (AccountClass::Deactivated, false),
        15 => (AccountClass::KnownExternal, true),
        _ => (AccountClass::Managed, true),
    }
}

pub async fn run(args: BenchLicensesArgs) -> anyhow::Result<ExitCode> {
    let (store, _dir) = fresh_store(args.database_url.as_deref()).await?;
    let tenant = store.ensure_tenant("bench-licenses").await?;
    let started = Instant::now();
    let people: Vec<_> = (0..args.people as usize).map(crate::bench_queue::person).collect();
    let source = store.add_source(tenant, "hr", "csv", &json!({})).await?;
    store.apply_import(tenant, source, &ImportBatch { people, groups: vec![] }).await?;
    let engine = Engine::new(store.clone(), tenant);
    let cli = Actor::cli();
    let admin = engine.admin(&cli);
    let today = time::OffsetDateTime::now_utc().date();
    let (mut accounts, mut holding) = (0u64, 0u64);
    for i in 0..args.apps {
        let name = format!("app{i:03}");
        let secret = tenure_core::Secret::new("bench");
        let app = store
            .add_app(
                tenant,
                &name,
                tenure_core::AppKind::Scim,
                "https://bench.invalid/scim/v2",
                &secret,
                &Default::default(),
            )
            .await?;
        let tiered = i % 2 == 0;
        let held = args.people * (10 + i * 50 / args.apps.max(1)) / 100;
        let seats: Vec<SeatRow> = (0..held)
            .map(|j| {
                let (class, active) = class(j);
                SeatRow {
                    remote_id: format!("{i}-{j}"),
                    tier: tiered.then(|| if j % 5 == 0 { "premium" } else { "standard" }.to_owned()),
                    class,
                    active,
                    last_active: (j % 10 < 7).then(|| today - time::Duration::days(((j * 7 + i) % 180) as i64)),
                }
            })
            .collect();
        holding += seats.iter().filter(|s| s.class.holds_seat(s.active)).count() as u64;
        store.replace_license_seats(tenant, app.id, &seats).await?;
        accounts += held;
        let spec = |tier: Option<&str>, seats: u64, cost: &str, period: &str| LicenseSpec {
            tier: tier.map(str::to_owned),
            seats,
            cost_per_seat: cost.parse().unwrap_or_default(),
            currency: Some("EUR".into()),
            period: Some(period.into()),
            renews: None,
            owner: None,
            unused_days: Some(90),
            freed_to: None,
        };
        if tiered {
            admin.set_license(&name, spec(Some("standard"), held * 9 / 10, "8.25", "month")).await?;
            admin.set_license(&name, spec(Some("premium"), held / 4, "180", "year")).await?;
        } else {
            admin.set_license(&name, spec(None, held + held / 20, "12.5", "month")).await?;
        }
    }
    let load_s = started.elapsed().as_secs_f64();
    eprintln!("loaded {} people, {} apps, {accounts} accounts in {load_s:.1}s", args.people, args.apps);
    let quiet = |_: &str, _: usize, _: usize| {};
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..args.runs {
        let t = Instant::now();
        let report = admin.license_report(None, true, &quiet).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(report);
    }
    let report = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    let total = report.totals.first().ok_or_else(|| anyhow::anyhow!("no totals"))?;
    anyhow::ensure!(report.apps.len() as u64 == args.apps, "every app reported");
    anyhow::ensure!(
        total.figures.used == holding,
        "every seat-holding account counted: {} of {holding}",
        total.figures.used
    );
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "bench": "licenses",
            "people": args.people,
            "apps": args.apps,
            "accounts": accounts,
            "backend": store.backend().name(),
            "load_s": (load_s * 10.0).round() / 10.0,
            "report_ms_p50": (percentile(&times, 50.0) * 10.0).round() / 10.0,
            "report_ms_max": (times.last().copied().unwrap_or_default() * 10.0).round() / 10.0,
            "used": total.figures.used,
            "wasted": total.figures.wasted,
            "monthly_cost": total.figures.monthly_cost,
            "reclaimable_monthly": total.figures.reclaimable_monthly,
        })
    );
    Ok(ExitCode::SUCCESS)
}
