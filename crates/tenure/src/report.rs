//! `tenure report`: every app account, read live, classified (managed, unassigned but active,
//! left but active, inactive but licensed, matched, ambiguous, unmanaged), as a table, JSON or CSV.

use std::io::Write;
use std::process::ExitCode;

use tenure_engine::{AccountRow, Engine, class_counts};

use crate::cli::{ReportArgs, ReportFormat};

pub async fn run(engine: &Engine, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let spinner = crate::output::spinner("reading the apps' accounts".to_owned());
    let rows = engine.account_report(args.app.as_deref(), tenure_engine::today()).await;
    spinner.finish_and_clear();
    let rows = rows?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        ReportFormat::Csv => write_csv(&mut out, &rows)?,
        ReportFormat::Table => write_table(&mut out, &rows)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn class_name(row: &AccountRow) -> String {
    serde_json::to_value(row.class).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn write_csv(out: &mut dyn Write, rows: &[AccountRow]) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["app", "user_name", "email", "active", "class", "person", "other_apps", "remote_id"])?;
    for row in rows {
        csv.write_record([
            row.app.as_str(),
            row.user_name.as_str(),
            row.email.as_deref().unwrap_or(""),
            if row.active { "true" } else { "false" },
            class_name(row).as_str(),
            row.person.as_deref().unwrap_or(""),
            row.other_apps.join(";").as_str(),
            row.remote_id.as_str(),
        ])?;
    }
    csv.flush()?;
    Ok(())
}

fn write_table(out: &mut dyn Write, rows: &[AccountRow]) -> anyhow::Result<()> {
    for (app, counts) in class_counts(rows) {
        let summary: Vec<String> = counts
            .iter()
            .map(|(class, n)| {
                format!(
                    "{n} {}",
                    serde_json::to_value(class).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                )
            })
            .collect();
        writeln!(out, "{app}: {}", summary.join(", "))?;
        let width = rows.iter().filter(|r| r.app == app).map(|r| r.user_name.len()).max().unwrap_or(8);
        for row in rows.iter().filter(|r| r.app == app && r.class != tenure_engine::AccountClass::Managed) {
            let person = row.person.as_deref().unwrap_or("-");
            writeln!(out, "  {:width$}  {:22}  {person}", row.user_name, class_name(row))?;
        }
    }
    Ok(())
}
