//! Pulling a source's snapshot into the directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tenure_core::import::SyncScope;
use tenure_sources::CsvMapping;
use tenure_store::{ImportSummary, SourceRecord};

use crate::{Engine, EngineError};

/// What `tenure source add csv` stores: where the files are and how the columns map.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    pub file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_file: Option<PathBuf>,
    #[serde(default)]
    pub mapping: CsvMapping,
    #[serde(default, skip_serializing_if = "SyncScope::is_unrestricted")]
    pub scope: SyncScope,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub source: String,
    pub people: usize,
    /// People the source delivered that its sync scope leaves out.
    pub out_of_scope: usize,
    #[serde(flatten)]
    pub summary: ImportSummary,
}

impl Engine {
    /// Reads the source and applies its snapshot in one transaction.
    pub async fn sync_source(&self, source: &SourceRecord) -> Result<SyncReport, EngineError> {
        let name = source.name.clone();
        let (mut batch, scope) = match source.kind.as_str() {
            "csv" => {
                let config: CsvSourceConfig = serde_json::from_value(source.config.clone())
                    .map_err(|e| EngineError::SourceConfig { source_name: name.clone(), reason: e.to_string() })?;
                let scope = config.scope.clone();
                // Parsing is CPU-bound and the files may be large: keep it off the async workers.
                let batch = tokio::task::spawn_blocking(move || {
                    tenure_sources::hr_csv::load_files(&config.file, config.groups_file.as_deref(), &config.mapping)
                })
                .await
                .map_err(|e| EngineError::SourceConfig {
                    source_name: name.clone(),
                    reason: format!("reader crashed: {e}"),
                })?
                .map_err(|error| EngineError::Source { source_name: name.clone(), error })?;
                (batch, scope)
            }
            other => {
                return Err(EngineError::SourceConfig {
                    source_name: name,
                    reason: format!("unknown source kind {other}"),
                });
            }
        };
        // Out of scope is as good as not in the source: whoever leaves the scope leaves.
        let out_of_scope = scope.apply(&mut batch);
        // The minimal source guard: an empty snapshot after a non-empty one is almost always a
        // broken export (or a scope that excludes everyone), and applying it would mark everyone
        // as having left.
        if batch.people.is_empty() && source.last_count.is_some_and(|n| n > 0) {
            return Err(EngineError::SourceGuard {
                source_name: name,
                got: 0,
                previous: source.last_count.unwrap_or(0),
            });
        }
        let summary = self.store.apply_import(self.tenant, source.id, &batch).await?;
        self.store
            .append_audit(self.tenant, "sync", "source.sync", &name, &serde_json::to_value(summary).unwrap_or_default())
            .await?;
        tracing::info!(source = %name, people = batch.people.len(), ?summary, "source synced");
        Ok(SyncReport { source: name, people: batch.people.len(), out_of_scope, summary })
    }

    /// Syncs one named source, or all of them.
    pub async fn sync(&self, name: Option<&str>) -> Result<Vec<SyncReport>, EngineError> {
        let sources = self.store.list_sources(self.tenant).await?;
        // A SCIM source is pushed into by the IdP, one write at a time; there is nothing to pull.
        let selected: Vec<&SourceRecord> =
            sources.iter().filter(|s| s.kind != "scim" && name.is_none_or(|n| s.name == n)).collect();
        if let (Some(n), true) = (name, selected.is_empty()) {
            return Err(EngineError::NotFound(format!("source {n}")));
        }
        let mut reports = Vec::with_capacity(selected.len());
        for source in selected {
            reports.push(self.sync_source(source).await?);
        }
        Ok(reports)
    }
}
