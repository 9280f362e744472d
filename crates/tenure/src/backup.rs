//! `tenure backup FILE` and `tenure restore FILE`: the store's portable snapshot of every
//! table (`tenure_store::backup`), written to a file that appears only once complete; and
//! `tenure db copy --to URL`, the same snapshot restored straight into an empty PostgreSQL
//! database, every table's rows counted on both sides.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use tenure_store::Store;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup; it appears only once complete.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file `tenure backup` wrote.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every tenant of this database (the embedded SQLite one) into an empty PostgreSQL
    /// database, from one consistent snapshot, and check every table's row count on both sides.
    /// Credentials stay sealed under the same master key: give the new deployment that key.
    Copy(DbCopyArgs),
}

#[derive(Debug, Args)]
pub struct DbCopyArgs {
    /// The PostgreSQL database to copy into (`postgres://USER@HOST/DB`); it must be empty.
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

pub async fn copy(store: &Store, args: DbCopyArgs) -> anyhow::Result<ExitCode> {
    let shown = tenure_store::redact_url(&args.to);
    if tenure_store::Backend::from_url(&args.to)? != tenure_store::Backend::Postgres {
        anyhow::bail!("--to {shown}: copy into a PostgreSQL database (postgres://USER@HOST/DB)");
    }
    if shown != args.to {
        tracing::warn!("the password in --to is visible to other users of this machine while the copy runs");
    }
    let target = store.connect_with_same_keys(&args.to).await?;
    let result = store.copy_to(&target).await;
    target.close().await;
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = summary.tables.keys().map(String::len).max().unwrap_or(5).max(5);
    println!("{:width$}  {:>10}  {:>10}", "table", "source", "target");
    for (table, rows) in &summary.tables {
        println!("{table:width$}  {:>10}  {:>10}", rows.source, rows.target);
    }
    let rows: u64 = summary.tables.values().map(|t| t.target).sum();
    println!("copied {rows} rows in {} tables to {shown}; every table's count matches", summary.tables.len());
    println!(
        "credentials stay sealed: run Tenure on it with this database's master key \
         (TENURE_MASTER_KEYS, or TENURE_MASTER_KEY_FILE naming the data directory's master.key)"
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn backup(store: &Store, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let dir = args.file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("a file in {}", dir.display()))?;
    let summary = {
        let mut out = std::io::BufWriter::new(temp.as_file_mut());
        let summary = store.backup(&mut out).await?;
        out.flush()?;
        summary
    };
    temp.as_file().sync_all()?;
    // Like the database itself: only its owner reads it (it holds sealed credentials and the
    // whole directory).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    temp.persist(&args.file).with_context(|| format!("writing {}", args.file.display()))?;
    report(&summary, args.json, &format!("backed up to {}", args.file.display()))
}

pub async fn restore(store: &Store, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let summary = store.restore(&args.file).await?;
    report(&summary, args.json, &format!("restored from {}", args.file.display()))
}

fn report(summary: &tenure_store::backup::BackupSummary, json: bool, what: &str) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        let rows: u64 = summary.tables.values().sum();
        println!("{what}: {rows} rows in {} tables", summary.tables.len());
    }
    Ok(ExitCode::SUCCESS)
}
