//! Importing a CSV export handed over whole: uploaded through the API or dropped in a watched
//! directory. The files are validated completely and applied like a sync (scope, source guard,
//! one transaction); only then do they become the source's current files, so a later
//! `tenure sync` reads what was imported rather than an older export.

use std::path::{Path, PathBuf};

use tenure_core::import::ImportBatch;
use tenure_sources::hr_csv::{self, CsvError};
use tenure_store::SourceRecord;

use crate::sync::Delivery;
use crate::{CsvSourceConfig, Engine, EngineError, SyncOptions, SyncReport};

/// The files of a CSV export; `None` keeps the source's current file.
#[derive(Debug, Default)]
pub struct CsvUpload {
    pub people: Option<CsvData>,
    pub groups: Option<CsvData>,
}

/// One file of an export: its bytes, or a file holding them (an upload the server wrote to disk
/// as it arrived, a dropped export), read only when it is parsed, off the async workers.
#[derive(Debug)]
pub enum CsvData {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl From<Vec<u8>> for CsvData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl CsvData {
    /// Its size in bytes (0 when the file cannot be read; reading it will say why).
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(self) -> Result<Vec<u8>, CsvError> {
        match self {
            Self::Bytes(b) => Ok(b),
            Self::File(path) => hr_csv::read_file(&path),
        }
    }
}

impl Engine {
    /// The CSV source named `name`, with its settings.
    pub async fn csv_source(&self, name: &str) -> Result<(SourceRecord, CsvSourceConfig), EngineError> {
        let source = self
            .store
            .list_sources(self.tenant)
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| EngineError::NotFound(format!("source {name}")))?;
        let config = csv_config(&source)?;
        Ok((source, config))
    }

    /// Imports `upload` into the CSV source `source`: nothing is written (neither the directory
    /// nor the source's files) unless every row is valid and the source guard lets it through.
    pub async fn import_csv(
        &self,
        source: &SourceRecord,
        upload: CsvUpload,
        options: SyncOptions,
    ) -> Result<SyncReport, EngineError> {
        self.import_csv_as(source, upload, options, "system").await
    }

    /// [`Engine::import_csv`], audited as done by `actor`.
    pub async fn import_csv_as(
        &self,
        source: &SourceRecord,
        upload: CsvUpload,
        options: SyncOptions,
        actor: &str,
    ) -> Result<SyncReport, EngineError> {
        self.import_csv_audited(source, upload, options, actor, None, None).await
    }

    /// [`Engine::import_csv_as`], with `upload` (the entry of an admin's upload) appended in the
    /// import's own transaction, and made under `fence` when given (a watched directory's drop,
    /// imported by the source schedule's holder).
    pub(crate) async fn import_csv_audited(
        &self,
        source: &SourceRecord,
        upload: CsvUpload,
        options: SyncOptions,
        actor: &str,
        audit: Option<crate::sync::ExtraAudit>,
        fence: Option<&tenure_store::Fence>,
    ) -> Result<SyncReport, EngineError> {
        let name = source.name.clone();
        let config = csv_config(source)?;
        if upload.groups.is_some() && config.groups_file.is_none() {
            return Err(EngineError::SourceConfig {
                source_name: name.clone(),
                reason: format!(
                    "it has no groups file to replace; give it one with `tenure source set {name} --groups-file PATH`"
                ),
            });
        }
        let source_error = |error: CsvError| EngineError::Source { source_name: name.clone(), error: error.into() };
        let people_target = config.file.clone();
        let groups_target = config.groups_file.clone();
        let CsvUpload { people, groups } = upload;
        let started = std::time::Instant::now();
        // Parsing is CPU-bound and an export may be large: keep it off the async workers. The
        // bytes come back for staging.
        let parsed = tokio::task::spawn_blocking(move || -> Result<_, CsvError> {
            let people = match people {
                Some(data) => Uploaded::New(data.read()?),
                None => Uploaded::Current(hr_csv::read_file(&config.file)?),
            };
            let groups = match (groups, &config.groups_file) {
                (Some(data), _) => Some(Uploaded::New(data.read()?)),
                (None, Some(path)) => Some(Uploaded::Current(hr_csv::read_file(path)?)),
                (None, None) => None,
            };
            let batch =
                hr_csv::load(people.bytes(), groups.as_ref().map(Uploaded::bytes), &config.mapping, &config.format)?;
            Ok((batch, people, groups))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("CSV reader crashed: {e}")))?;
        let (batch, people, groups): (ImportBatch, Uploaded, Option<Uploaded>) = parsed.map_err(source_error)?;
        let parse_ms = started.elapsed().as_secs_f64() * 1000.0;

        // Staged next to their targets (same file system, so the final rename is atomic), and
        // removed again if the import is refused.
        let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
        let uploads = [(Some(people), Some(people_target)), (groups, groups_target)];
        for (uploaded, target) in uploads {
            if let (Some(Uploaded::New(bytes)), Some(target)) = (uploaded, target) {
                match stage(&target, &bytes) {
                    Ok(temp) => staged.push((temp, target)),
                    Err(error) => {
                        discard(&staged);
                        return Err(source_error(error));
                    }
                }
            }
        }
        let mut report =
            match self.apply_delivery_under(source, Delivery::Full(batch), None, options, actor, audit, fence).await {
                Ok(report) => report,
                Err(e) => {
                    discard(&staged);
                    return Err(e);
                }
            };
        report.phases.parse_ms = parse_ms;
        for (temp, target) in &staged {
            // The import has committed; failing here leaves the old file, which the next sync
            // would read again. Say so loudly rather than fail a request whose data is in.
            if let Err(error) = std::fs::rename(temp, target) {
                tracing::error!(source = %name, file = %target.display(), %error,
                    "imported, but could not replace the source's file; the next sync reads the old one");
                let _ = std::fs::remove_file(temp);
            }
        }
        Ok(report)
    }
}

/// A file's bytes, and whether they are new (to become the source's file) or its current ones.
enum Uploaded {
    New(Vec<u8>),
    Current(Vec<u8>),
}

impl Uploaded {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::New(b) | Self::Current(b) => b,
        }
    }
}

pub(crate) fn csv_config(source: &SourceRecord) -> Result<CsvSourceConfig, EngineError> {
    if source.kind != "csv" {
        return Err(EngineError::SourceConfig {
            source_name: source.name.clone(),
            reason: format!("it is a {} source, not a CSV source", source.kind),
        });
    }
    serde_json::from_value(crate::kind_settings(&source.config))
        .map_err(|e| EngineError::SourceConfig { source_name: source.name.clone(), reason: e.to_string() })
}

/// Makes `bytes` the content of `target` in one step (staged beside it, renamed over it).
pub(crate) fn replace_file(target: &Path, bytes: &[u8]) -> Result<(), CsvError> {
    let temp = stage(target, bytes)?;
    std::fs::rename(&temp, target).map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        CsvError::Io { path: target.to_owned(), source }
    })
}

/// Writes `bytes` to a hidden temporary file beside `target`.
fn stage(target: &Path, bytes: &[u8]) -> Result<PathBuf, CsvError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", tenure_core::SourceId::new()));
    std::fs::write(&temp, bytes).map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        CsvError::Io { path: temp.clone(), source }
    })?;
    Ok(temp)
}

fn discard(staged: &[(PathBuf, PathBuf)]) {
    for (temp, _) in staged {
        let _ = std::fs::remove_file(temp);
    }
}
