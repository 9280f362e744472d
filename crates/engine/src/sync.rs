//! Pulling a source's snapshot into the directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tenure_core::import::{ImportBatch, ImportDelta, SyncScope};
use tenure_sources::{CsvFormat, CsvMapping};
use tenure_store::{ImportAudit, ImportSummary, SourceRecord};

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
    /// The source guard's share: a sync delivering fewer than this percent of the people the
    /// last one did is not applied. `None`: only an empty delivery is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_share_percent: Option<u8>,
    /// Delimiter, encoding and date format (detected or defaulted when unset).
    #[serde(default, skip_serializing_if = "CsvFormat::is_default")]
    pub format: CsvFormat,
    /// A directory where new exports are dropped (see `watch.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_dir: Option<PathBuf>,
}

/// How a sync runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Apply even what the source guard would refuse (an admin who knows the export is right).
    pub force: bool,
    /// Read everything even where the source could deliver only its changes.
    pub full: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub source: String,
    pub people: usize,
    /// People the source delivered that its sync scope leaves out.
    pub out_of_scope: usize,
    /// Whether the source delivered only its changes since the last sync.
    pub incremental: bool,
    #[serde(flatten)]
    pub summary: ImportSummary,
    /// Where the sync's time went (`tenure bench import` prints it); not part of the report's JSON.
    #[serde(skip)]
    pub phases: SyncPhases,
}

/// A sync's time by phase, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncPhases {
    /// Reading what the source delivered: for a CSV source, reading, decoding and parsing its files.
    pub parse_ms: f64,
    /// Scope and source guard.
    pub check_ms: f64,
    /// The import's transaction, by part.
    pub import: tenure_store::ImportTimings,
}

/// What a source delivered.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Everyone the source has: whoever is missing has left.
    Full(ImportBatch),
    /// What changed since the cursor the source was given.
    Delta(ImportDelta),
}

/// An audit entry beside `source.sync` in an import's transaction (an upload's `source.upload`).
pub(crate) struct ExtraAudit {
    pub action: &'static str,
    pub context: serde_json::Value,
    pub detail: fn(&ImportSummary, &serde_json::Value) -> serde_json::Value,
}

/// An [`ExtraAudit`]'s detail: its context with the import's summary.
pub(crate) fn context_with_summary(summary: &ImportSummary, context: &serde_json::Value) -> serde_json::Value {
    let mut detail = context.clone();
    detail["summary"] = serde_json::to_value(summary).unwrap_or_default();
    detail
}

/// The settings every kind of source has, read from its stored configuration whatever its kind.
#[derive(Debug, Default, Deserialize)]
struct CommonSourceConfig {
    #[serde(default)]
    scope: SyncScope,
    #[serde(default)]
    min_share_percent: Option<u8>,
}

impl Engine {
    /// Reads one source: a full delivery, or (for an incremental source given its cursor) the
    /// changes since. Returns the cursor to resume from next time.
    async fn read_source(
        &self,
        source: &SourceRecord,
        options: SyncOptions,
    ) -> Result<(Delivery, Option<String>), EngineError> {
        let name = source.name.clone();
        let config_error =
            |e: serde_json::Error| EngineError::SourceConfig { source_name: name.clone(), reason: e.to_string() };
        // A full sync ignores the cursor: the delivery is complete, and its new cursor replaces it.
        let cursor = if options.full { None } else { source.cursor.as_deref() };
        match source.kind.as_str() {
            "csv" => {
                let config: CsvSourceConfig =
                    serde_json::from_value(crate::kind_settings(&source.config)).map_err(config_error)?;
                // Parsing is CPU-bound and the files may be large: keep it off the async workers.
                let batch = tokio::task::spawn_blocking(move || {
                    tenure_sources::hr_csv::load_files(
                        &config.file,
                        config.groups_file.as_deref(),
                        &config.mapping,
                        &config.format,
                    )
                })
                .await
                .map_err(|e| EngineError::SourceConfig {
                    source_name: name.clone(),
                    reason: format!("reader crashed: {e}"),
                })?
                .map_err(|error| EngineError::Source { source_name: name.clone(), error: error.into() })?;
                Ok((Delivery::Full(batch), None))
            }
            "ldap" => self.read_ldap(source, cursor).await,
            "google" => self.read_google(source).await,
            "graph" => self.read_graph(source, cursor).await,
            other => {
                Err(EngineError::SourceConfig { source_name: name, reason: format!("unknown source kind {other}") })
            }
        }
    }

    /// Reads the source and applies what it delivered in one transaction: a delta is applied to
    /// the source's last snapshot, so scope, source guard and "who left" work the same for both.
    pub async fn sync_source(&self, source: &SourceRecord, options: SyncOptions) -> Result<SyncReport, EngineError> {
        self.sync_source_as(source, options, "system").await
    }

    /// [`Engine::sync_source`], audited as done by `actor`.
    pub async fn sync_source_as(
        &self,
        source: &SourceRecord,
        options: SyncOptions,
        actor: &str,
    ) -> Result<SyncReport, EngineError> {
        let started = std::time::Instant::now();
        let (delivery, cursor) = self.read_source(source, options).await?;
        let parse_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut report = self.apply_delivery(source, delivery, cursor, options, actor, None).await?;
        report.phases.parse_ms = parse_ms;
        Ok(report)
    }

    /// A scheduled sync, made under the source schedule's duty: its import is refused if
    /// another node took the duty over meanwhile (it syncs the source itself).
    pub(crate) async fn sync_source_under(
        &self,
        source: &SourceRecord,
        fence: &tenure_store::Fence,
    ) -> Result<SyncReport, EngineError> {
        let options = SyncOptions::default();
        let started = std::time::Instant::now();
        let (delivery, cursor) = self.read_source(source, options).await?;
        let parse_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut report =
            self.apply_delivery_under(source, delivery, cursor, options, "system", None, Some(fence)).await?;
        report.phases.parse_ms = parse_ms;
        Ok(report)
    }

    /// Applies what a source delivered (read by `sync_source`, uploaded, or dropped in a watched
    /// directory): scope, source guard, one transaction with its audit entries (`extra`: an
    /// upload's), then the cursor.
    pub(crate) async fn apply_delivery(
        &self,
        source: &SourceRecord,
        delivery: Delivery,
        cursor: Option<String>,
        options: SyncOptions,
        actor: &str,
        extra: Option<ExtraAudit>,
    ) -> Result<SyncReport, EngineError> {
        self.apply_delivery_under(source, delivery, cursor, options, actor, extra, None).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_delivery_under(
        &self,
        source: &SourceRecord,
        delivery: Delivery,
        cursor: Option<String>,
        options: SyncOptions,
        actor: &str,
        extra: Option<ExtraAudit>,
        fence: Option<&tenure_store::Fence>,
    ) -> Result<SyncReport, EngineError> {
        let started = std::time::Instant::now();
        let name = source.name.clone();
        let common: CommonSourceConfig = serde_json::from_value(source.config.clone())
            .map_err(|e| EngineError::SourceConfig { source_name: name.clone(), reason: e.to_string() })?;
        let (mut batch, incremental) = match delivery {
            Delivery::Full(batch) => (batch, false),
            Delivery::Delta(delta) => {
                let mut snapshot = self.store.source_snapshot(self.tenant, source.id).await?;
                snapshot
                    .apply_delta(&delta)
                    .map_err(|error| EngineError::Delta { source_name: name.clone(), error })?;
                (snapshot, true)
            }
        };
        // Out of scope is as good as not in the source: whoever leaves the scope leaves.
        let out_of_scope = common.scope.apply(&mut batch);
        // The source guard: an empty snapshot after a non-empty one is almost always a broken
        // export (or a scope that excludes everyone), and applying it would mark everyone as
        // having left; so, with a configured share, is one far smaller than the last.
        let previous = source.last_count.unwrap_or(0).max(0) as usize;
        let got = batch.people.len();
        let too_few = match common.min_share_percent {
            Some(percent) => got * 100 < usize::from(percent) * previous,
            None => got == 0 && previous > 0,
        };
        if too_few && !options.force {
            self.tell_guard_refused(source, &batch, previous, common.min_share_percent).await;
            return Err(EngineError::SourceGuard { source_name: name, got, previous });
        }
        let overridden =
            serde_json::json!({"got": got, "previous": previous, "min_share_percent": common.min_share_percent});
        let synced = serde_json::json!({"incremental": incremental});
        let mut entries = Vec::new();
        if too_few {
            entries.push(ImportAudit {
                actor,
                action: "source.guard_overridden",
                subject: &name,
                context: &overridden,
                detail: |_, context| context.clone(),
            });
        }
        entries.push(ImportAudit {
            actor,
            action: "source.sync",
            subject: &name,
            context: &synced,
            detail: |summary, context| {
                let mut detail = serde_json::to_value(summary).unwrap_or_default();
                detail["incremental"] = context["incremental"].clone();
                detail
            },
        });
        if let Some(extra) = &extra {
            entries.push(ImportAudit {
                actor,
                action: extra.action,
                subject: &name,
                context: &extra.context,
                detail: extra.detail,
            });
        }
        let check_ms = started.elapsed().as_secs_f64() * 1000.0;
        let known = self.import_states.take(source.id);
        let done = self.store.apply_import_from(self.tenant, source.id, &batch, &entries, fence, known).await?;
        let summary = done.summary;
        self.import_states.keep(source.id, done.state, done.reused);
        // After the import committed: should the process die in between, the next run reads the
        // same changes again from the old cursor, and applying them twice changes nothing.
        if cursor != source.cursor {
            self.store.set_source_cursor(self.tenant, source.id, cursor.as_deref()).await?;
        }
        let people = batch.people.len();
        // Freeing 100,000 people's records takes about a tenth of a second: not the sync's to wait for.
        tokio::task::spawn_blocking(move || drop(batch));
        tracing::info!(source = %name, people, incremental, ?summary, "source synced");
        let phases = SyncPhases { parse_ms: 0.0, check_ms, import: done.timings };
        Ok(SyncReport { source: name, people, out_of_scope, incremental, summary, phases })
    }

    /// Tells the admins that the source guard refused a delivery, once per delivered content: a
    /// schedule retrying the same bad export every few minutes does not tell again, a different
    /// bad export does. Never fails the sync's answer (the refusal is the answer).
    async fn tell_guard_refused(
        &self,
        source: &SourceRecord,
        batch: &ImportBatch,
        previous: usize,
        min_share_percent: Option<u8>,
    ) {
        let got = batch.people.len();
        let people = |n: usize| if n == 1 { "1 person".to_owned() } else { format!("{n} people") };
        let key = format!("source.guard_refused:{}:{}", source.id, delivery_digest(batch));
        let rule = match min_share_percent {
            Some(p) => format!("a sync must deliver at least {p}% of the people the last one did"),
            None => "a sync may not deliver nobody after a sync that delivered people".to_owned(),
        };
        let mut notice = crate::notify::Notice::new(
            "source.guard_refused",
            format!("Sync of {} refused: it delivered {}, {previous} expected", source.name, people(got)),
        );
        notice.lines = vec![
            format!(
                "The source guard refused what source {} delivered: {}, where the last sync had {previous} ({rule}).",
                source.name,
                people(got)
            ),
            "Nothing was applied: nobody was marked as having left, no account was touched.".into(),
            "This is usually a broken or partial export; fix it at the source and the next sync applies it.".into(),
            format!(
                "If the smaller list is right (people really left), apply it anyway with `tenure sync {} --force`.",
                source.name
            ),
            "The same delivery refused again is not told again.".into(),
        ];
        notice.path = Some(format!("/sources/{}", source.name));
        notice.data = serde_json::json!({
            "source": source.name, "got": got, "previous": previous, "min_share_percent": min_share_percent,
        });
        if let Err(e) = self.notify_once(&key, &notice).await {
            tracing::warn!(source = %source.name, error = %e, "could not queue the guard's refusal notice");
        }
    }

    /// Syncs one named source, or all of them.
    pub async fn sync(&self, name: Option<&str>) -> Result<Vec<SyncReport>, EngineError> {
        self.sync_with(name, SyncOptions::default()).await
    }

    pub async fn sync_with(&self, name: Option<&str>, options: SyncOptions) -> Result<Vec<SyncReport>, EngineError> {
        self.sync_as(name, options, "system").await
    }

    /// [`Engine::sync_with`], audited as done by `actor`.
    pub async fn sync_as(
        &self,
        name: Option<&str>,
        options: SyncOptions,
        actor: &str,
    ) -> Result<Vec<SyncReport>, EngineError> {
        let sources = self.store.list_sources(self.tenant).await?;
        // A SCIM source is pushed into by the IdP, one write at a time; there is nothing to pull.
        let selected: Vec<&SourceRecord> =
            sources.iter().filter(|s| s.kind != "scim" && name.is_none_or(|n| s.name == n)).collect();
        if let (Some(n), true) = (name, selected.is_empty()) {
            return Err(EngineError::NotFound(format!("source {n}")));
        }
        let mut reports = Vec::with_capacity(selected.len());
        for source in selected {
            // An export dropped in a watched directory is the source's newest state.
            if let Some(dropped) = self.import_dropped_as(source, options, actor).await {
                reports.push(dropped.outcome?);
                continue;
            }
            reports.push(self.sync_source_as(source, options, actor).await?);
        }
        Ok(reports)
    }
}

/// What a delivery holds, as a short digest: equal for the same export read twice, whatever
/// order its rows came in.
fn delivery_digest(batch: &ImportBatch) -> String {
    use sha2::{Digest, Sha256};
    let mut rows: Vec<String> = batch
        .people
        .iter()
        .map(|p| format!("{}\u{1f}{}\u{1f}{}\u{1f}{:?}", p.source_key, p.email, p.user_name, p.status))
        .collect();
    rows.sort_unstable();
    let mut hash = Sha256::new();
    for row in &rows {
        hash.update(row.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}
