//! `tenure report`: every app account, read live, classified (managed, unassigned but active,
//! left but active, inactive but licensed, matched, ambiguous, unmanaged), as a table, JSON or CSV.

use std::io::Write;
use std::process::ExitCode;

use tenure_engine::{AccountRow, Engine, class_counts};

use crate::cli::{ReportArgs, ReportFormat};

pub async fn run(engine: &Engine, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let spinner = crate::output::spinner("reading the apps' accounts".to_owned());
    let rows = engine.admin(&tenure_engine::Actor::cli()).report(args.app.as_deref()).await;
    spinner.finish_and_clear();
    let rows = rows?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        ReportFormat::Csv => tenure_engine::write_report_csv(&mut out, &rows)?,
        ReportFormat::Table => write_table(&mut out, &rows)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_table(out: &mut dyn Write, rows: &[AccountRow]) -> anyhow::Result<()> {
    for (app, counts) in class_counts(rows) {
        let summary: Vec<String> = counts.iter().map(|(class, n)| format!("{n} {}", class.as_str())).collect();
        writeln!(out, "{app}: {}", summary.join(", "))?;
        let width = rows.iter().filter(|r| r.app == app).map(|r| r.user_name.len()).max().unwrap_or(8);
        for row in rows.iter().filter(|r| r.app == app && r.class != tenure_engine::AccountClass::Managed) {
            let person = row.person.as_deref().unwrap_or("-");
            writeln!(out, "  {:width$}  {:22}  {person}", row.user_name, row.class.as_str())?;
        }
    }
    Ok(())
}
