//! Watched directories: an HR system (or a script) drops exports into a CSV source's
//! `watch_dir`, and Tenure imports them.
//!
//! The convention, for writers: write the file under another name (`people.csv.part`, a dot
//! file) and rename it to `*.csv` when complete; a rename within a directory is atomic. For
//! writers that cannot, a `*.csv` file is also only taken once it has not been modified for
//! [`SETTLE`], so a file still being copied in is left for the next look.
//!
//! Of the complete files, the newest (by modification time) is imported, as an upload would be
//! (see `csv_import.rs`): all-or-nothing, scope and source guard applied, and on success it
//! becomes the source's current file. It is then moved to `processed/`; a file that cannot be
//! imported goes to `failed/` with `NAME.error.txt` beside it, listing every problem. Older
//! complete files are superseded by the newest (each export is a complete snapshot) and moved to
//! `processed/` unimported. Moved files get a UTC time stamp prefix, so names never collide.
//! The import's `source.drop` audit entry names the file and its SHA-256: a file found again
//! that is the source's last imported drop (its importer stopped between the import and the
//! move) is moved to `processed/` and not imported twice.
//! A failure that may pass (the database unreachable) leaves the file where it is, for the next
//! look.
//!
//! With several `serve` nodes on one database, every node sees the directory (a shared volume)
//! but only one looks into it: the holder of the source schedule's duty (`nodes.rs`), the node
//! that reads the sources anyway. Its import is made under the duty's fence, so a holder that
//! stalled past its lease is refused and leaves the file where it is for the node that took over.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tenure_store::{AuditFilter, Fence, SourceRecord, StoreError};

use crate::csv_import::{CsvData, CsvUpload, csv_config};
use crate::{Engine, EngineError, SyncOptions, SyncReport};

/// How long a dropped file must stay unmodified before it is taken.
pub const SETTLE: Duration = Duration::from_secs(2);

/// How often `watch_sources` looks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What became of a dropped file.
#[derive(Debug)]
pub struct Dropped {
    pub source: String,
    /// Where the file was dropped.
    pub file: PathBuf,
    /// Where it is now (`processed/…`, `failed/…`, or unchanged for a retryable failure).
    pub moved_to: PathBuf,
    pub outcome: Result<SyncReport, EngineError>,
}

impl Engine {
    /// Looks into every watched directory until `shutdown` resolves, every `interval`.
    pub async fn watch_sources(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            let duty = match self.hold_duty(crate::nodes::SOURCE_SCHEDULE).await {
                Ok(Some(duty)) => duty,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "watching source directories: cannot take the source schedule's duty");
                    continue;
                }
            };
            match self.store.list_sources(self.tenant).await {
                Ok(sources) => {
                    for source in sources.iter().filter(|s| s.kind == "csv") {
                        // Outcomes are logged where they happen.
                        let _ = self
                            .import_dropped_under(source, SyncOptions::default(), "system", Some(duty.fence()))
                            .await;
                    }
                }
                Err(error) => tracing::warn!(%error, "watching source directories: cannot list sources"),
            }
        }
    }

    /// Imports the newest complete export in `source`'s watched directory, if it has one and
    /// something is there. `Some` says what became of it.
    pub async fn import_dropped(&self, source: &SourceRecord, options: SyncOptions) -> Option<Dropped> {
        self.import_dropped_as(source, options, "system").await
    }

    /// [`Engine::import_dropped`], audited as done by `actor`.
    pub async fn import_dropped_as(&self, source: &SourceRecord, options: SyncOptions, actor: &str) -> Option<Dropped> {
        self.import_dropped_under(source, options, actor, None).await
    }

    /// [`Engine::import_dropped_as`], the import made under `fence` when given (refused, and the
    /// file left in place, once another node took the duty over).
    pub async fn import_dropped_under(
        &self,
        source: &SourceRecord,
        options: SyncOptions,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Option<Dropped> {
        let config = csv_config(source).ok()?;
        let dir = config.watch_dir?;
        let current = config.file.clone();
        // The source's own files may live in the watched directory; they are not drops.
        let own: Vec<PathBuf> = std::iter::once(config.file).chain(config.groups_file).collect();
        let mut complete = match complete_exports(&dir, &own, SystemTime::now()) {
            Ok(files) => files,
            Err(error) => {
                tracing::warn!(source = %source.name, dir = %dir.display(), %error, "cannot read the watched directory");
                return None;
            }
        };
        let newest = complete.pop()?;
        for older in complete {
            tracing::info!(source = %source.name, file = %older.display(), newer = %newest.display(),
                "superseded by a newer export; moved to processed/ without importing it");
            if let Err(error) = move_into(&older, "processed") {
                tracing::warn!(source = %source.name, file = %older.display(), %error, "cannot move a superseded export");
            }
        }
        // Read once here: its digest names the export in the import's `source.drop` entry, by
        // which a file imported by a node that stopped before moving it is known again.
        let path = newest.clone();
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path)).await.ok().and_then(Result::ok);
        let (people, audit) = match bytes {
            Some(bytes) => {
                let name = newest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                if self.last_drop_is(source, &name, &digest).await {
                    tracing::info!(source = %source.name, file = %newest.display(),
                        "already imported (its importer stopped before moving it); moved to processed/, not imported again");
                    // The importer may have stopped before making it the source's file, too.
                    if let Err(error) = crate::csv_import::replace_file(&current, &bytes) {
                        tracing::warn!(source = %source.name, %error, "cannot make the dropped export the source's file");
                    }
                    if let Err(error) = move_into(&newest, "processed") {
                        tracing::warn!(source = %source.name, file = %newest.display(), %error, "cannot move the dropped export");
                    }
                    return None;
                }
                let audit = crate::sync::ExtraAudit {
                    action: "source.drop",
                    context: serde_json::json!({"file": name, "sha256": digest}),
                    detail: crate::sync::context_with_summary,
                };
                (CsvData::Bytes(bytes), Some(audit))
            }
            // Unreadable: the import says why.
            None => (CsvData::File(newest.clone()), None),
        };
        let upload = CsvUpload { people: Some(people), groups: None };
        let outcome = self.import_csv_audited(source, upload, options, actor, audit, fence).await;
        let moved_to = match &outcome {
            Ok(report) => {
                tracing::info!(source = %source.name, file = %newest.display(), ?report.summary, "imported a dropped export");
                move_into(&newest, "processed")
            }
            Err(EngineError::Store(StoreError::Fenced { .. })) => {
                tracing::info!(source = %source.name, file = %newest.display(),
                    "another node took the source schedule over; the dropped export is left for it");
                Ok(newest.clone())
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(source = %source.name, file = %newest.display(), %error, "dropped export not imported; will try again");
                Ok(newest.clone())
            }
            Err(error) => {
                tracing::warn!(source = %source.name, file = %newest.display(), %error, "dropped export rejected; moved to failed/");
                move_into(&newest, "failed").inspect(|moved| write_error_file(moved, error))
            }
        };
        let moved_to = moved_to.unwrap_or_else(|error| {
            tracing::error!(source = %source.name, file = %newest.display(), %error,
                "cannot move the dropped export out of the watched directory");
            newest.clone()
        });
        Some(Dropped { source: source.name.clone(), file: newest, moved_to, outcome })
    }
}

impl Engine {
    /// Whether the newest dropped export imported into `source` (its `source.drop` entry) is the
    /// file `name` with the SHA-256 `digest`.
    async fn last_drop_is(&self, source: &SourceRecord, name: &str, digest: &str) -> bool {
        let filter = AuditFilter { action: Some("source.drop".to_owned()), ..Default::default() };
        match self.store.query_audit(self.tenant, &filter, None, 50).await {
            Ok(page) => page
                .entries
                .iter()
                .find(|e| e.subject == source.name)
                .is_some_and(|e| e.detail["file"] == name && e.detail["sha256"] == digest),
            Err(error) => {
                // The import that follows meets the same database and says so.
                tracing::warn!(source = %source.name, %error, "cannot read which export was imported last");
                false
            }
        }
    }
}

/// The complete exports in `dir` other than the files in `own`, oldest first.
fn complete_exports(dir: &Path, own: &[PathBuf], now: SystemTime) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.to_ascii_lowercase().ends_with(".csv") {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() || own.iter().any(|o| same_file(o, &entry.path())) {
            continue;
        }
        let modified = meta.modified()?;
        // A modification time in the future (a skewed clock) counts as just modified.
        let settled = now.duration_since(modified).is_ok_and(|age| age >= SETTLE);
        if settled {
            files.push((modified, entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// Moves `file` into the subdirectory `sub` of its directory, under a time-stamped name.
fn move_into(file: &Path, sub: &str) -> std::io::Result<PathBuf> {
    let dir = file.parent().unwrap_or(Path::new(".")).join(sub);
    std::fs::create_dir_all(&dir)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .unwrap_or_default();
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut target = dir.join(format!("{stamp}-{name}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{stamp}-{n}-{name}"));
    }
    std::fs::rename(file, &target)?;
    Ok(target)
}

/// `NAME.error.txt` beside a failed export: the error, then one problem per line.
fn write_error_file(failed: &Path, error: &EngineError) {
    let mut text = format!("{error}\n");
    if let EngineError::Source { error: tenure_sources::SourceError::Csv(csv), .. } = error {
        let problems = csv.problems();
        if problems.len() > 1 {
            text.push('\n');
            for p in problems {
                let line = p.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                text.push_str(&format!("{line}{}\n", p.message));
            }
        }
    }
    let mut path = failed.as_os_str().to_owned();
    path.push(".error.txt");
    if let Err(e) = std::fs::write(&path, text) {
        tracing::warn!(file = %Path::new(&path).display(), error = %e, "cannot write the error file");
    }
}
