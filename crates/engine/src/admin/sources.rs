//! Directory sources: create (every kind), edit (with a preview of who a new sync scope leaves
//! out), remove (refused while its people hold accounts, unless forced), sync now, uploads.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};
use tenure_store::{AuditRecord, SourceRecord};
use utoipa::ToSchema;

use super::views::{Leaving, SourceEdited, SourceRemoval, SourceView};
use super::{Admin, Need, check_version};
use crate::{CsvSourceConfig, CsvUpload, EngineError, SyncOptions, SyncReport};

/// A new source: its kind (`csv`, `ldap`, `google`, `graph`) and its settings as that kind
/// stores them (see `tenure source add KIND --help`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    pub name: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub config: Value,
}

/// A source's new settings, replacing the current ones whole (absent: the current ones stay),
/// and how often `serve` syncs it. A stored `sync_every_s` stays unless the new settings or
/// `sync_every` change it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceEdit {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// How often `serve` syncs the source: a whole number and a unit, `30s`, `5m`, `1h`, `1d`
    /// (at least 30s, at most 7d); `default` goes back to every 15 minutes. Event channels
    /// (Google push, Graph change notifications) sync sooner; this stays the safety net.
    #[serde(default)]
    #[schema(example = "5m")]
    pub sync_every: Option<String>,
}

/// Where a source's settings come from. The CLI runs on the server, as the operator: its
/// settings may name files and environment variables there. Over the API they may not (an
/// admin of one tenant must not read the server's files or environment); a CSV source created
/// there is fed by uploads, its files kept in the tenant's files directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    Remote,
}

/// Settings fields that name something on the server, by source kind.
fn server_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "csv" => &["file", "groups_file", "watch_dir"],
        "ldap" => &["ca_file"],
        "google" => &["key_file"],
        "graph" => &["credential"],
        _ => &[],
    }
}

/// Replaces credentials in a stored source config (an LDAP bind password, a client secret)
/// before it is shown.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), "password" | "client_secret" | "private_key" | "token") && v.is_string() {
                    *v = json!("***");
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

pub(crate) fn source_view(s: &SourceRecord) -> SourceView {
    let mut config = s.config.clone();
    redact_secrets(&mut config);
    SourceView {
        id: s.id,
        name: s.name.clone(),
        kind: s.kind.clone(),
        config,
        last_sync_ms: s.last_sync_ms,
        last_count: s.last_count,
        version: s.version,
    }
}

fn entry<'a>(actor: &'a super::Actor, action: &'a str, source: &'a str, detail: &'a Value) -> AuditRecord<'a> {
    AuditRecord { actor: &actor.name, action, subject: source, person: None, app: None, detail }
}

/// Checks `config` for its kind by reading it the way syncs will; returns it as stored.
fn checked_config(kind: &str, config: &Value) -> Result<Value, EngineError> {
    let bad = |e: serde_json::Error| EngineError::field("config", e.to_string());
    let every = crate::sync_every::stored_interval(config)?;
    let config = &crate::kind_settings(config);
    let normal = match kind {
        "csv" => serde_json::to_value(serde_json::from_value::<CsvSourceConfig>(config.clone()).map_err(bad)?),
        "ldap" => {
            let parsed: crate::LdapSourceConfig = serde_json::from_value(config.clone()).map_err(bad)?;
            parsed.ldap.validate().map_err(|e| EngineError::field("config", e.to_string()))?;
            serde_json::to_value(parsed)
        }
        "google" => {
            let parsed: crate::GoogleSourceConfig = serde_json::from_value(config.clone()).map_err(bad)?;
            serde_json::to_value(parsed)
        }
        "graph" => {
            serde_json::to_value(serde_json::from_value::<crate::GraphSourceConfig>(config.clone()).map_err(bad)?)
        }
        "scim" => return Err(EngineError::field("kind", "a SCIM source is made by the IdP's first push, not by hand")),
        other => return Err(EngineError::field("kind", format!("{other:?}: use csv, ldap, google or graph"))),
    };
    let mut normal = normal.map_err(|e| EngineError::Internal(format!("re-encoding source settings: {e}")))?;
    if let (Some(seconds), Some(fields)) = (every, normal.as_object_mut()) {
        fields.insert(crate::SYNC_EVERY_FIELD.to_owned(), json!(seconds));
    }
    Ok(normal)
}

impl Admin<'_> {
    pub async fn sources(&self) -> Result<Vec<SourceView>, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(self.store().list_sources(self.tenant()).await?.iter().map(source_view).collect())
    }

    async fn source(&self, name: &str) -> Result<SourceRecord, EngineError> {
        self.store()
            .list_sources(self.tenant())
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| EngineError::NotFound(format!("source {name}")))
    }

    pub async fn show_source(&self, name: &str) -> Result<SourceView, EngineError> {
        self.actor.require(Need::TenantRead)?;
        Ok(source_view(&self.source(name).await?))
    }

    /// Adds a source (org admins).
    pub async fn create_source(&self, spec: NewSource, origin: Origin) -> Result<SourceView, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let name = spec.name.trim();
        if name.is_empty() || name.len() > 100 || name.contains('#') || name.chars().any(char::is_control) {
            return Err(EngineError::field("name", "1 to 100 characters, no '#' or control characters"));
        }
        let mut config = spec.config.clone();
        if origin == Origin::Remote {
            config = self.remote_config(&spec.kind, name, config)?;
        }
        let config = checked_config(&spec.kind, &config)?;
        let mut tx = self.store().begin().await?;
        tx.insert_source(self.tenant(), name, &spec.kind, &config).await?;
        // The audit entry keeps the settings, never a password.
        let mut audited = json!({"kind": spec.kind, "config": config});
        redact_secrets(&mut audited);
        tx.audit(self.tenant(), entry(self.actor, "source.add", name, &audited)).await?;
        tx.commit().await?;
        self.show_source(name).await
    }

    /// Over the API, no setting may name the server's files or variables; a CSV source's files
    /// are placed in the tenant's files directory, to be filled by uploads.
    fn remote_config(&self, kind: &str, name: &str, mut config: Value) -> Result<Value, EngineError> {
        let Some(fields) = config.as_object_mut() else {
            return Err(EngineError::field("config", "a JSON object"));
        };
        for field in server_fields(kind) {
            if fields.contains_key(*field) {
                return Err(EngineError::field(
                    format!("config.{field}"),
                    "names a file or variable on the server, which only the command line may do (`tenure source \
                     add`); over the API a CSV source is fed by uploads",
                ));
            }
        }
        if kind == "csv" {
            let dir = self.files_dir(name)?;
            fields.insert("file".into(), json!(dir.join("people.csv")));
            fields.insert("groups_file".into(), json!(dir.join("groups.csv")));
        } else if matches!(kind, "google" | "graph") {
            return Err(EngineError::field(
                "kind",
                format!(
                    "a {kind} source reads its credential from a file or variable on the server: add it with \
                     `tenure source add {kind}`"
                ),
            ));
        }
        Ok(config)
    }

    /// Where an API-made CSV source keeps its files: created, empty, under the engine's files
    /// directory.
    fn files_dir(&self, source: &str) -> Result<PathBuf, EngineError> {
        let root = self.engine.files_dir.as_ref().ok_or_else(|| {
            EngineError::field(
                "kind",
                "this server keeps no files for uploads; add CSV sources with `tenure source add csv`",
            )
        })?;
        let safe: String =
            source.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let dir = root.join(self.tenant().to_string()).join(format!("{safe}-{}", tenure_core::SourceId::new()));
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::Internal(format!("creating {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Replaces a source's settings. `preview`: who the new sync scope would leave out, nothing
    /// saved. Over the API, settings naming server files keep their current values.
    pub async fn edit_source(
        &self,
        name: &str,
        edit: SourceEdit,
        expected: Option<i64>,
        preview: bool,
        origin: Origin,
    ) -> Result<SourceEdited, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let source = self.source(name).await?;
        let version = check_version(&format!("source {name}"), expected, source.version)?;
        let mut config = edit.config.unwrap_or_else(|| source.config.clone());
        if let Some(fields) = config.as_object_mut() {
            let field = crate::SYNC_EVERY_FIELD;
            match edit.sync_every.as_deref().map(str::trim) {
                Some("default") => {
                    fields.remove(field);
                }
                Some(text) => {
                    fields.insert(field.to_owned(), json!(crate::parse_sync_every(text)?));
                }
                None => {
                    if let (false, Some(stored)) = (fields.contains_key(field), source.config.get(field)) {
                        fields.insert(field.to_owned(), stored.clone());
                    }
                }
            }
        }
        if origin == Origin::Remote {
            let Some(fields) = config.as_object_mut() else {
                return Err(EngineError::field("config", "a JSON object"));
            };
            for field in server_fields(&source.kind) {
                match (fields.get(*field), source.config.get(*field)) {
                    (Some(given), Some(current)) if given == current => {}
                    (None, None) => {}
                    (None, Some(current)) => {
                        fields.insert((*field).to_owned(), current.clone());
                    }
                    _ => {
                        return Err(EngineError::field(
                            format!("config.{field}"),
                            "names a file or variable on the server, which only the command line may change",
                        ));
                    }
                }
            }
            // Credentials shown as *** keep their stored value.
            keep_redacted(&mut config, &source.config);
        }
        let config = checked_config(&source.kind, &config)?;
        let leaving = self.leaving(&source, &config).await?;
        let mut view = source_view(&source);
        if preview || config == source.config {
            view.config = config;
            redact_secrets(&mut view.config);
            return Ok(SourceEdited { saved: false, source: view, leaving });
        }
        let mut tx = self.store().begin().await?;
        tx.update_source(self.tenant(), source.id, version, &config).await?;
        let mut detail = json!({"before": source.config, "after": config, "leaving_at_next_sync": leaving.len()});
        redact_secrets(&mut detail);
        tx.audit(self.tenant(), entry(self.actor, "source.set", name, &detail)).await?;
        tx.commit().await?;
        Ok(SourceEdited { saved: true, source: self.show_source(name).await?, leaving })
    }

    /// The source's people the scope in `config` leaves out, with their accounts.
    async fn leaving(&self, source: &SourceRecord, config: &Value) -> Result<Vec<Leaving>, EngineError> {
        #[derive(Deserialize, Default)]
        struct Scoped {
            #[serde(default)]
            scope: tenure_core::import::SyncScope,
        }
        let scope = serde_json::from_value::<Scoped>(config.clone()).unwrap_or_default().scope;
        if scope.is_unrestricted() {
            return Ok(Vec::new());
        }
        let mut snapshot = self.store().source_snapshot(self.tenant(), source.id).await?;
        let before: std::collections::HashSet<String> = snapshot.people.iter().map(|p| p.source_key.clone()).collect();
        scope.apply(&mut snapshot);
        let kept: std::collections::HashSet<&str> = snapshot.people.iter().map(|p| p.source_key.as_str()).collect();
        let people = self.store().list_people(self.tenant()).await?;
        let apps = self.store().list_apps(self.tenant()).await?;
        let mut out = Vec::new();
        for person in people.iter().filter(|p| {
            p.source_id == source.id && before.contains(&p.source_key) && !kept.contains(p.source_key.as_str())
        }) {
            let mut accounts = Vec::new();
            for app in &apps {
                if let Some(a) = self
                    .store()
                    .list_accounts(self.tenant(), app.app.id)
                    .await?
                    .into_iter()
                    .find(|a| a.link.person_id == person.id)
                {
                    accounts.push(format!("{}: {}", app.app.name, a.link.remote_id));
                }
            }
            out.push(Leaving { person: person.email.clone(), accounts });
        }
        Ok(out)
    }

    /// Removes a source: its people leave the directory. Refused while any of them holds an
    /// account Tenure manages, unless `force`.
    pub async fn remove_source(&self, name: &str, force: bool) -> Result<SourceRemoval, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let source = self.source(name).await?;
        if source.kind == "scim" && !force {
            return Err(EngineError::Refused(format!(
                "source {name} is the IdP's SCIM push: its people belong to the IdP; remove it with force only after \
                 the IdP stopped pushing"
            )));
        }
        let holders = self.account_holders(&source).await?;
        if holders > 0 && !force {
            return Err(EngineError::Refused(format!(
                "source {name} is the only source of {holders} people who hold accounts: removing it makes them leave \
                 and deprovisions their accounts; force it if that is what you want"
            )));
        }
        let mut tx = self.store().begin().await?;
        let people_left = tx.remove_source(self.tenant(), source.id).await?;
        let detail =
            json!({"kind": source.kind, "people_left": people_left, "account_holders": holders, "force": force});
        tx.audit(self.tenant(), entry(self.actor, "source.remove", name, &detail)).await?;
        tx.commit().await?;
        self.engine.import_states.forget(source.id);
        Ok(SourceRemoval { source: name.to_owned(), people_left })
    }

    async fn account_holders(&self, source: &SourceRecord) -> Result<usize, EngineError> {
        let people: std::collections::HashSet<tenure_core::PersonId> = self
            .store()
            .list_people(self.tenant())
            .await?
            .into_iter()
            .filter(|p| p.source_id == source.id && p.status != tenure_core::PersonStatus::Deleted)
            .map(|p| p.id)
            .collect();
        let mut holders = std::collections::HashSet::new();
        for app in self.store().list_apps(self.tenant()).await? {
            for a in self.store().list_accounts(self.tenant(), app.app.id).await? {
                if people.contains(&a.link.person_id) {
                    holders.insert(a.link.person_id);
                }
            }
        }
        Ok(holders.len())
    }

    /// Syncs one source now, or every source (org admins).
    pub async fn sync(&self, name: Option<&str>, options: SyncOptions) -> Result<Vec<SyncReport>, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        self.engine.sync_as(name, options, &self.actor.name).await
    }

    /// Imports an uploaded CSV export into a CSV source (org admins).
    pub async fn upload_csv(&self, name: &str, files: CsvUpload, force: bool) -> Result<SyncReport, EngineError> {
        self.actor.require(Need::OrgAdmin)?;
        let (source, _) = self.engine.csv_source(name).await?;
        let bytes = files.people.as_ref().or(files.groups.as_ref()).map_or(0, crate::CsvData::len);
        let which = if files.people.is_some() { "people" } else { "groups" };
        // In the import's own transaction, beside its `source.sync` entry.
        let audit = crate::sync::ExtraAudit {
            action: "source.upload",
            context: json!({"file": which, "bytes": bytes, "force": force}),
            detail: crate::sync::context_with_summary,
        };
        let options = SyncOptions { force, ..Default::default() };
        self.engine.import_csv_audited(&source, files, options, &self.actor.name, Some(audit), None).await
    }
}

/// Puts back stored credentials where `given` shows them as `***` (as listings show them).
fn keep_redacted(given: &mut Value, stored: &Value) {
    match (given, stored) {
        (Value::Object(g), Value::Object(s)) => {
            for (k, v) in g.iter_mut() {
                if v == "***" {
                    if let Some(original) = s.get(k) {
                        *v = original.clone();
                    }
                } else if let Some(original) = s.get(k) {
                    keep_redacted(v, original);
                }
            }
        }
        (Value::Array(g), Value::Array(s)) => {
            for (v, original) in g.iter_mut().zip(s) {
                keep_redacted(v, original);
            }
        }
        _ => {}
    }
}
