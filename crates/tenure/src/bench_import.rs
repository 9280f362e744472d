//! `tenure bench import`: a generated HR export (the sample organization: names, departments,
//! org units, managers, nested groups) imported through the CSV source into a fresh store, the
//! same path `tenure sync` takes: read, decode, parse, validate, scope, guard, one transaction.
//! Then the same export with 100 changed rows (`--changed`), as the next day's export would be,
//! by the same engine (which compares it with the source's state its first import kept in
//! memory); then once more by a fresh engine, as after a restart (which reads the source's state
//! from the database first). Prints its figures on stderr and ends with one JSON line on stdout.
//!
//! The store is a temporary SQLite file, or, with `--database-url`, a fresh tenant of that
//! database (so PostgreSQL can be measured without touching other tenants' data).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;
use tenure_engine::{CsvSourceConfig, Engine, SyncPhases, SyncReport};
use tenure_store::Store;

use crate::cli::BenchImportArgs;

pub async fn run(args: BenchImportArgs, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    let figures = measure(&args, database_url).await?;
    println!("{figures}");
    Ok(ExitCode::SUCCESS)
}

/// Runs the bench and returns its figures (the JSON line).
pub async fn measure(args: &BenchImportArgs, database_url: Option<String>) -> anyhow::Result<serde_json::Value> {
    let people = usize::try_from(args.people)?;
    let changed = usize::try_from(args.changed)?;
    anyhow::ensure!(people >= changed, "--changed ({changed}) must not exceed --people ({people})");
    let dir = tempfile::Builder::new().prefix("tenure-bench-import").tempdir()?;

    let started = Instant::now();
    let org = tenure_sources::sample_org(people, args.seed);
    let people_file = dir.path().join("people.csv");
    let groups_file = dir.path().join("groups.csv");
    std::fs::write(&people_file, &org.people_csv).context("writing the people CSV")?;
    std::fs::write(&groups_file, &org.groups_csv).context("writing the groups CSV")?;
    eprintln!(
        "generated {people} people ({:.1} MB CSV) in {} ms",
        org.people_csv.len() as f64 / 1e6,
        started.elapsed().as_millis()
    );

    let (url, tenant_name) = match database_url {
        Some(url) => (url, format!("bench-import-{}", uuid_suffix())),
        None => (format!("sqlite://{}", dir.path().join("bench.db").display()), "bench".to_owned()),
    };
    let store = Store::connect(&url).await?;
    if tenant_name != "bench" {
        eprintln!("importing into the new tenant {tenant_name} of the configured {} database", store.backend().name());
    }
    let result = run_on(&store, &tenant_name, &people_file, &groups_file, people, changed).await;
    store.close().await;
    result
}

async fn run_on(
    store: &Store,
    tenant_name: &str,
    people_file: &Path,
    groups_file: &Path,
    people: usize,
    changed: usize,
) -> anyhow::Result<serde_json::Value> {
    let backend = store.backend().name();
    let tenant = store.ensure_tenant(tenant_name).await?;
    let config = CsvSourceConfig {
        file: people_file.to_owned(),
        groups_file: Some(groups_file.to_owned()),
        mapping: Default::default(),
        scope: Default::default(),
        min_share_percent: None,
        format: Default::default(),
        watch_dir: None,
    };
    store.add_source(tenant, "hr", "csv", &serde_json::to_value(&config)?).await?;
    let engine = Engine::new(store.clone(), tenant);

    // Parsing alone, to tell the figures apart; not part of the timed import.
    let started = Instant::now();
    let batch = tenure_sources::hr_csv::load_files(people_file, Some(groups_file), &config.mapping, &config.format)?;
    let parse_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(batch);

    let started = Instant::now();
    let cpu_before = cpu_ms();
    let full = sync_one(&engine).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ms().zip(cpu_before).map(|(after, before)| after - before);
    if full.summary.created != people {
        bail!("the import created {} people, expected {people}", full.summary.created);
    }
    let people_per_s = people as f64 / elapsed;
    eprintln!(
        "{backend}: imported {people} people and {} groups in {:.0} ms ({people_per_s:.0} people/s; {} ms of CPU; parsing alone {parse_ms:.0} ms)",
        full.summary.groups,
        elapsed * 1000.0,
        cpu.map_or("?".to_owned(), |c| c.to_string()),
    );

    change_rows(people_file, changed)?;
    let (incremental_ms, incremental_cpu, warm) = reimport(&engine, people, changed).await?;
    eprintln!(
        "{backend}: the same export with {changed} changed rows in {incremental_ms:.0} ms ({} ms of CPU; {})",
        incremental_cpu.map_or("?".to_owned(), |c| c.to_string()),
        phases_text(&warm),
    );

    // A fresh engine keeps nothing: as after a restart, or on a node that did not import last.
    change_rows(people_file, changed)?;
    let restarted = Engine::new(store.clone(), tenant);
    let (cold_ms, cold_cpu, cold) = reimport(&restarted, people, changed).await?;
    eprintln!(
        "{backend}: again with {changed} changed rows by a restarted engine (the source read from the database) in \
         {cold_ms:.0} ms ({} ms of CPU; {})",
        cold_cpu.map_or("?".to_owned(), |c| c.to_string()),
        phases_text(&cold),
    );

    Ok(json!({
        "people": people,
        "elapsed_ms": round1(elapsed * 1000.0),
        "people_per_s": people_per_s.round(),
        "cpu_ms": cpu,
        "parse_ms": round1(parse_ms),
        "incremental_changes": changed,
        "incremental_ms": round1(incremental_ms),
        "incremental_cpu_ms": incremental_cpu,
        "incremental_restarted_ms": round1(cold_ms),
        "incremental_restarted_cpu_ms": cold_cpu,
        "incremental_parse_ms": round1(warm.parse_ms),
        "incremental_diff_ms": round1(warm.import.diff_ms),
        "incremental_write_ms": round1(warm.import.write_ms),
        "incremental_restarted_read_ms": round1(cold.import.read_ms),
        "backend": backend,
    }))
}

fn phases_text(p: &SyncPhases) -> String {
    let read = if p.import.read_ms > 0.0 {
        format!("reading the source back {:.0} ms, ", p.import.read_ms)
    } else {
        String::new()
    };
    format!(
        "parsing {:.0} ms, scope and guard {:.0} ms, {read}comparing {:.0} ms, writing {:.0} ms",
        p.parse_ms, p.check_ms, p.import.diff_ms, p.import.write_ms
    )
}

/// Syncs the export again, in which `changed` rows differ: its wall-clock and CPU figures, and
/// where the time went.
async fn reimport(engine: &Engine, people: usize, changed: usize) -> anyhow::Result<(f64, Option<u64>, SyncPhases)> {
    let started = Instant::now();
    let cpu_before = cpu_ms();
    let report = sync_one(engine).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let cpu = cpu_ms().zip(cpu_before).map(|(after, before)| after - before);
    let s = &report.summary;
    if s.updated != changed || s.unchanged != people - changed {
        bail!("the re-import updated {} and left {} unchanged, expected {changed} updated", s.updated, s.unchanged);
    }
    Ok((ms, cpu, report.phases))
}

async fn sync_one(engine: &Engine) -> anyhow::Result<SyncReport> {
    let mut reports = engine.sync(Some("hr")).await?;
    reports.pop().context("the sync reported nothing")
}

/// Changes the title of `count` rows spread over the file, as a day of promotions would.
fn change_rows(path: &Path, count: usize) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_path(path)?;
    let headers = reader.headers()?.clone();
    let title = headers.iter().position(|h| h == "title").context("the sample has no title column")?;
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let step = records.len() / count;
    let mut writer = csv::Writer::from_path(path)?;
    writer.write_record(&headers)?;
    for (i, record) in records.iter().enumerate() {
        if i % step == 0 && i / step < count {
            let changed: Vec<String> = record
                .iter()
                .enumerate()
                .map(|(c, v)| if c == title { format!("Senior {v}") } else { v.to_owned() })
                .collect();
            writer.write_record(&changed)?;
        } else {
            writer.write_record(record)?;
        }
    }
    writer.flush()?;
    Ok(())
}

/// CPU time this process has used (all threads), in ms: on a shared machine the wall-clock
/// figure includes waiting for a core, this one does not. Linux only.
fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of the whole line, in clock ticks (100 per second on
    // every Linux architecture Tenure runs on).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

fn uuid_suffix() -> String {
    tenure_core::SourceId::new().to_string().chars().take(8).collect()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
