//! `tenure license`: pools of seats per app and tier, uploaded last activity, and the license
//! report (seats bought, used, free, wasted by reason, monthly cost, what a reclaim saves).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use tenure_core::licenses::{LicensePool, LicenseReport, SeatFigures};
use tenure_core::money::Money;
use tenure_engine::admin::{ActivityEntry, ActivityUpload, LicenseSpec};
use tenure_engine::{Actor, Engine};

use crate::cli::ReportFormat;

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Set an app's pool of seats (the whole app, or one tier as the app names it).
    Set(SetArgs),
    /// Who waits for a seat of a full pool, per pool in line order.
    Waiting {
        /// One app (default: every app).
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every pool (also `tenure license pools`).
    #[command(alias = "pools")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a pool.
    Remove {
        app: String,
        #[arg(long)]
        tier: Option<String>,
    },
    /// Seats bought, used, free, wasted by reason, monthly cost and what a reclaim would save,
    /// per app and tier and for the tenant; the apps are read live unless --stored.
    Report(LicenseReportArgs),
    /// Upload the last activity of an app's accounts (CSV: user,last_active) where the app
    /// does not tell it; replaces the previous upload.
    Activity {
        app: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Ask the holders of an app's accounts unused for their pool's days "still needed?" (keep /
    /// release links); with no answer by the deadline the seat is released.
    Reclaim(ReclaimArgs),
    /// Every reclaim question (or one app's), newest first, with its answer.
    Reclaims {
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ReclaimArgs {
    pub app: String,
    /// One tier's pool (default: every pool of the app).
    #[arg(long)]
    pub tier: Option<String>,
    /// Who would be asked, and who told; sends and writes nothing.
    #[arg(long)]
    pub preview: bool,
    /// How long the question waits for an answer: 7d (default), at most 90d.
    #[arg(long, value_name = "DAYS", default_value = "7d")]
    pub deadline: String,
    #[arg(long)]
    pub json: bool,
}

/// `7d` or `7`: whole days.
fn deadline_days(raw: &str) -> anyhow::Result<u32> {
    let digits = raw.trim().strip_suffix('d').unwrap_or(raw.trim());
    digits.parse::<u32>().map_err(|_| anyhow::anyhow!("--deadline: {raw:?} is not a number of days such as 7d"))
}

#[derive(Debug, Args)]
pub struct SetArgs {
    pub app: String,
    /// The tier (SKU) as the app names it in its accounts' entitlements.
    #[arg(long)]
    pub tier: Option<String>,
    #[arg(long)]
    pub seats: u64,
    /// A decimal, e.g. 8.25.
    #[arg(long, value_name = "AMOUNT")]
    pub cost_per_seat: Money,
    /// ISO 4217 (default: the app's other pools', else EUR).
    #[arg(long)]
    pub currency: Option<String>,
    /// What the price pays for: month (default) or year.
    #[arg(long, value_name = "month|year")]
    pub period: Option<String>,
    /// The renewal date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub renews: Option<String>,
    /// The license admin who owns the pool.
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// Unused for longer than 30, 60 or 90 (default) days is waste.
    #[arg(long, value_name = "DAYS")]
    pub unused_days: Option<u16>,
    /// Where a seat freed by someone leaving or moving goes first: line (the first in line, the
    /// default), department or team (the earliest waiting person of the leaver's department or
    /// org unit, else the first in line). Not given: the pool keeps its own.
    #[arg(long, value_name = "line|department|team")]
    pub freed_to: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LicenseReportArgs {
    /// One app (default: every app with a pool).
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// From the seats the last live report stored, without reading the apps.
    #[arg(long)]
    pub stored: bool,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub async fn run(engine: &Engine, command: LicenseCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    match command {
        LicenseCommand::Set(args) => {
            let spec = LicenseSpec {
                tier: args.tier,
                seats: args.seats,
                cost_per_seat: args.cost_per_seat,
                currency: args.currency,
                period: args.period,
                renews: args.renews,
                owner: args.owner,
                unused_days: args.unused_days,
                freed_to: args.freed_to,
            };
            let pool = admin.set_license(&args.app, spec).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&pool)?);
            } else {
                println!("Set {}", describe(&pool));
            }
        }
        LicenseCommand::List { json } => {
            let pools = admin.licenses().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
            } else if pools.is_empty() {
                println!("No license pools: tenure license set APP --seats N --cost-per-seat X");
            } else {
                pools.iter().for_each(|p| println!("{}", describe(p)));
            }
        }
        LicenseCommand::Remove { app, tier } => {
            admin.remove_license(&app, tier.as_deref()).await?;
            println!("Removed {app}'s pool{}", tier.map(|t| format!(" for tier {t}")).unwrap_or_default());
        }
        LicenseCommand::Activity { app, file } => {
            let entries = read_activity(&file)?;
            let n = admin.set_license_activity(&app, ActivityUpload { entries }).await?;
            println!("Last activity of {n} accounts of {app} stored");
        }
        LicenseCommand::Report(args) => return report(engine, args).await,
        LicenseCommand::Reclaim(args) => {
            let spec = tenure_engine::admin::ReclaimSpec {
                tier: args.tier,
                preview: args.preview,
                deadline_days: Some(deadline_days(&args.deadline)?),
            };
            let run = admin.license_reclaim(&args.app, spec).await?;
            if !run.preview && !run.asked.is_empty() {
                // The questions go out now, as an offboarding's notices do, not at serve's next drain.
                engine.drain_notifications(std::time::Duration::from_secs(30)).await?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                let verb = if run.preview { "would ask" } else { "asked" };
                for q in &run.asked {
                    println!(
                        "{verb} {} ({}, {}): unused since {} ({} days)",
                        q.person, q.user_name, q.pool, q.last_active, q.unused_days
                    );
                }
                for s in &run.skipped {
                    println!("skipped {} ({}): {}", s.person, s.user_name, s.why);
                }
                if run.activity_unknown > 0 {
                    println!("{} managed account(s) without known activity: not asked", run.activity_unknown);
                }
                if run.asked.is_empty() {
                    println!("Nobody to ask in {}", run.app);
                } else {
                    println!(
                        "Told: {}",
                        if run.audience.is_empty() {
                            "nobody (no channel sends license.reclaim)".to_owned()
                        } else {
                            run.audience.join(", ")
                        }
                    );
                }
            }
        }
        LicenseCommand::Reclaims { app, json } => {
            let list = admin.license_reclaims(app.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("No reclaim questions");
            } else {
                for q in &list {
                    let by = if q.answered_by.is_empty() { String::new() } else { format!(" by {}", q.answered_by) };
                    println!("{}  {}  {}  {}{by}", q.pool, q.person, q.user_name, q.state);
                }
            }
        }
        LicenseCommand::Waiting { app, json } => {
            let line = admin.license_waiting(app.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&line)?);
            } else if line.is_empty() {
                println!("Nobody waits for a seat");
            } else {
                let width = line.iter().map(|w| w.pool.len()).max().unwrap_or(0);
                for w in &line {
                    println!("{:width$}  {:>3}  {}", w.pool, w.place, w.person);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(p: &LicensePool) -> String {
    let mut line = format!(
        "{}{}: {} seats at {} {} a {}",
        p.app,
        p.tier.as_deref().map(|t| format!(" [{t}]")).unwrap_or_default(),
        p.seats,
        p.cost_per_seat,
        p.currency,
        p.period.as_str()
    );
    if let Some(renews) = p.renews {
        line.push_str(&format!(", renews {renews}"));
    }
    if let Some(owner) = &p.owner {
        line.push_str(&format!(", owned by {owner}"));
    }
    line.push_str(&format!(", freed seats to {}", p.freed_to));
    line
}

/// `user,last_active` rows (a header line is recognised and skipped).
fn read_activity(path: &std::path::Path) -> anyhow::Result<Vec<ActivityEntry>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let upload = ActivityUpload::from_csv(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(upload.entries)
}

async fn report(engine: &Engine, args: LicenseReportArgs) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let spinner = crate::output::spinner("reading the apps' accounts".to_owned());
    let bar = spinner.clone();
    let progress = move |app: &str, i: usize, n: usize| bar.set_message(format!("reading {app} ({i} of {n})"));
    let report = engine.admin(&actor).license_report(args.app.as_deref(), args.stored, &progress).await;
    spinner.finish_and_clear();
    let report = report?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        ReportFormat::Csv => write_csv(&mut out, &report)?,
        ReportFormat::Table => write_table(&mut out, &report)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

const REASONS: [&str; 6] =
    ["left_but_active", "unassigned_but_active", "inactive_but_licensed", "unmanaged", "unused", "unused_seats"];

/// One line per app and tier, then the tenant's totals (app `*`).
fn write_csv(out: &mut dyn Write, report: &LicenseReport) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    let mut header: Vec<String> =
        ["app", "tier", "currency", "seats", "used", "free", "wasted", "over_allocated"].map(str::to_owned).to_vec();
    header.extend(["monthly_cost", "reclaimable_monthly"].map(str::to_owned));
    header.extend(REASONS.map(|r| format!("wasted_{r}")));
    csv.write_record(&header)?;
    let mut line = |app: &str, tier: &str, currency: &str, f: &SeatFigures| -> anyhow::Result<()> {
        let mut cells = vec![
            app.to_owned(),
            tier.to_owned(),
            currency.to_owned(),
            f.seats.to_string(),
            f.used.to_string(),
            f.free.to_string(),
            f.wasted.to_string(),
            f.over_allocated.to_string(),
            f.monthly_cost.to_string(),
            f.reclaimable_monthly.to_string(),
        ];
        cells.extend(REASONS.map(|r| f.wasted_by_reason.get(r).map_or(0, |w| w.seats).to_string()));
        // App and tier names come from admins and apps: never let a spreadsheet run them.
        csv.write_record(cells.iter().map(|c| tenure_engine::spreadsheet_safe(c).into_owned()))?;
        Ok(())
    };
    for app in &report.apps {
        for tier in &app.tiers {
            line(&app.app, tier.tier.as_deref().unwrap_or(""), app.currency.as_str(), &tier.figures)?;
        }
    }
    for total in &report.totals {
        line("*", "", total.currency.as_str(), &total.figures)?;
    }
    csv.flush()?;
    Ok(())
}

pub(crate) fn write_table(out: &mut dyn Write, report: &LicenseReport) -> anyhow::Result<()> {
    if report.apps.is_empty() {
        writeln!(out, "No license pools: tenure license set APP --seats N --cost-per-seat X")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:24} {:>7} {:>7} {:>7} {:>7} {:>13} {:>13}",
        "app [tier]", "seats", "used", "free", "wasted", "monthly", "reclaimable"
    )?;
    let row = |out: &mut dyn Write, name: &str, currency: &str, f: &SeatFigures| -> std::io::Result<()> {
        let over = if f.over_allocated { "  over-allocated" } else { "" };
        writeln!(
            out,
            "{name:24} {:>7} {:>7} {:>7} {:>7} {:>13} {:>13}{over}",
            f.seats,
            f.used,
            f.free,
            f.wasted,
            format!("{} {currency}", f.monthly_cost),
            format!("{} {currency}", f.reclaimable_monthly)
        )
    };
    for app in &report.apps {
        row(out, &app.app, app.currency.as_str(), &app.figures)?;
        if app.tiers.len() > 1 || app.tiers.iter().any(|t| t.tier.is_some()) {
            for tier in &app.tiers {
                let name =
                    format!("  [{}]{}", tier.tier.as_deref().unwrap_or("*"), if tier.pooled { "" } else { " no pool" });
                row(out, &name, app.currency.as_str(), &tier.figures)?;
            }
        }
        let reasons: Vec<String> = app
            .figures
            .wasted_by_reason
            .iter()
            .filter(|(_, w)| w.seats > 0)
            .map(|(r, w)| format!("{} {r} ({} {})", w.seats, w.monthly_cost, app.currency))
            .collect();
        if !reasons.is_empty() {
            writeln!(out, "  wasted: {}", reasons.join(", "))?;
        }
        if app.figures.activity_known > 0 {
            let unused: Vec<String> =
                app.figures.unused_for_days.iter().map(|(d, n)| format!("{n} over {d} days")).collect();
            writeln!(out, "  unused: {}", unused.join(", "))?;
        }
        if let Some(reason) = &app.unread {
            writeln!(out, "  not read whole, counted as last stored: {reason}")?;
        }
    }
    for total in &report.totals {
        row(out, &format!("total ({})", total.currency), total.currency.as_str(), &total.figures)?;
    }
    if report.read == "stored" {
        writeln!(out, "(from the seats stored by the last live report)")?;
    }
    Ok(())
}
