//! `tenure backup FILE` and `tenure restore FILE`: the store's portable snapshot of every
//! table (`tenure_store::backup`), written to a file that appears only once complete.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
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
