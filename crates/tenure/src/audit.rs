//! `tenure audit`: the audit log as a table, or exported as JSON lines or CSV, to stdout or to a
//! file that appears only once the export is complete. Parsing and encoding are the engine's
//! (`tenure_engine::audit_query`), which the API uses too, so both give the same rows in the
//! same form.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use tenure_engine::audit_query::{AuditParams, ExportFormat, now_ms, rfc3339};
use tenure_engine::{Actor, Engine};
use tenure_store::{AuditCursor, AuditEntry, MAX_AUDIT_PAGE};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Rows about this person, by email or person id.
    #[arg(long)]
    pub person: Option<String>,
    /// Rows about this app, by name.
    #[arg(long)]
    pub app: Option<String>,
    /// An action (plan.apply) or a family of them (plan, plan. or plan.*).
    #[arg(long)]
    pub action: Option<String>,
    /// Who did it: an admin's email, token:LABEL:ID, cli, system (schedules), tenure (the
    /// queue), scim:LABEL (an IdP's pushes).
    #[arg(long)]
    pub actor: Option<String>,
    /// From this time on: RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01, midnight UTC) or
    /// an age (90m, 24h, 7d, 2w).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many rows (a table shows 50 unless told; an export has every row).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: Option<i64>,
    /// Continue after the rows a previous run showed (it prints the cursor to use).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
    /// Write to this file instead of stdout; it appears only once everything is written.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain: exits 0 when every entry chains, 1 naming the first
    /// entry that does not (changed, removed or inserted by hand).
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Table,
    Jsonl,
    Csv,
}

const TABLE_DEFAULT: i64 = 50;
/// Widest detail a table row shows; exports carry all of it.
const DETAIL_WIDTH: usize = 100;

pub async fn run(engine: &Engine, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    let admin = engine.admin(&actor);
    if let Some(AuditCommand::Verify { json }) = args.command {
        return verify(&admin, json).await;
    }
    let params = AuditParams {
        person: args.person,
        app: args.app,
        action: args.action,
        actor: args.actor,
        since: args.since,
        until: args.until,
    };
    let filter = params.to_filter(now_ms())?;
    let cursor = args.cursor.as_deref().map(str::parse::<AuditCursor>).transpose()?;
    let mut out = Output::open(args.output.as_deref())?;
    let export_format = match args.format {
        AuditFormat::Table => {
            let limit = args.limit.unwrap_or(TABLE_DEFAULT);
            if limit > MAX_AUDIT_PAGE {
                bail!(
                    "--limit {limit}: a table shows at most {MAX_AUDIT_PAGE} rows; use --format jsonl or csv for more"
                );
            }
            let page = admin.audit(&filter, cursor.as_ref(), limit).await?;
            table(out.writer(), &page.entries)?;
            out.finish()?;
            if let Some(next) = page.next_cursor {
                eprintln!("More rows match: add --cursor {next} to see the next {limit}.");
            }
            return Ok(ExitCode::SUCCESS);
        }
        AuditFormat::Jsonl => ExportFormat::Jsonl,
        AuditFormat::Csv => ExportFormat::Csv,
    };
    let mut export = admin.audit_export(filter, export_format, cursor, args.limit)?;
    while let Some(chunk) = export.next_chunk().await? {
        out.writer().write_all(&chunk).context("writing the export")?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn table(w: &mut dyn Write, entries: &[AuditEntry]) -> anyhow::Result<()> {
    if entries.is_empty() {
        writeln!(w, "No audit events match.")?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            let about = match (&e.person, &e.app) {
                (Some(p), Some(a)) => format!("{p} in {a}"),
                (Some(p), None) => p.clone(),
                (None, Some(a)) => a.clone(),
                (None, None) => String::new(),
            };
            let mut detail = e.detail.to_string();
            if detail.chars().count() > DETAIL_WIDTH {
                detail = detail.chars().take(DETAIL_WIDTH - 1).chain(['…']).collect();
            }
            [
                rfc3339(e.at_ms).unwrap_or_else(|| e.at_ms.to_string()),
                e.actor.clone(),
                e.action.clone(),
                e.subject.clone(),
                about,
                detail,
            ]
        })
        .collect();
    let header = ["AT", "ACTOR", "ACTION", "SUBJECT", "ABOUT", "DETAIL"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: [&str; 6]| -> std::io::Result<()> {
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                writeln!(w, "{cell}")?;
            } else {
                write!(w, "{cell:width$}  ", width = widths[i])?;
            }
        }
        Ok(())
    };
    line(w, header)?;
    for row in &rows {
        line(w, row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

/// Stdout, or a file written beside its destination under a temporary name and renamed into
/// place once complete: an export cut short never leaves a file that looks whole.
enum Output {
    Stdout(BufWriter<std::io::Stdout>),
    File { writer: BufWriter<File>, temp: PathBuf, dest: PathBuf, done: bool },
}

impl Output {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(dest) = path else { return Ok(Self::Stdout(BufWriter::new(std::io::stdout()))) };
        let name = dest.file_name().with_context(|| format!("--output {}: not a file name", dest.display()))?;
        let temp = dest.with_file_name(format!(".{}.{}.partial", name.to_string_lossy(), std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("--output {}: cannot create {}", dest.display(), temp.display()))?;
        Ok(Self::File { writer: BufWriter::new(file), temp, dest: dest.to_owned(), done: false })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Self::Stdout(w) => w,
            Self::File { writer, .. } => writer,
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Stdout(w) => w.flush().context("writing to stdout"),
            Self::File { writer, temp, dest, done } => {
                writer.flush().with_context(|| format!("writing {}", temp.display()))?;
                writer.get_ref().sync_all().with_context(|| format!("writing {}", temp.display()))?;
                std::fs::rename(&*temp, &*dest)
                    .with_context(|| format!("moving {} to {}", temp.display(), dest.display()))?;
                *done = true;
                Ok(())
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Self::File { temp, done: false, .. } = self {
            let _ = std::fs::remove_file(temp);
        }
    }
}

async fn verify(admin: &tenure_engine::admin::Admin<'_>, json: bool) -> anyhow::Result<ExitCode> {
    let report = admin.verify_audit().await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.first_bad.is_none() {
        println!(
            "audit log intact: {} chained entries{}",
            report.chained,
            if report.legacy > 0 { format!(" after {} older entries", report.legacy) } else { String::new() }
        );
    }
    let Some(bad) = &report.first_bad else { return Ok(ExitCode::SUCCESS) };
    let at = bad.at_ms.and_then(rfc3339).map(|t| format!(" at {t}")).unwrap_or_default();
    let what = match (&bad.id, &bad.action) {
        (Some(id), Some(action)) => format!("entry {} ({id}, {action}{at})", bad.seq),
        _ => format!("entry {}", bad.seq),
    };
    eprintln!("audit log TAMPERED: {what} does not chain: {}", bad.reason);
    Ok(ExitCode::from(1))
}
