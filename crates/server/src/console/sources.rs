//! Sources: each with its last sync; for org admins "sync now" (a job with live progress),
//! adding a CSV source fed by uploads, a source's sync scope (with a preview of who it leaves
//! out), and uploading an HR export, whose every row problem is shown in a table.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tenure_engine::admin::{Need, NewSource, Origin, SourceEdit};
use tenure_engine::{CsvData, CsvUpload, EngineError};

use super::auth::Signed;
use super::jobs;
use super::multipart;
use super::view::{Failure, Nav, Notice, PageResult, render, segment, when};
use crate::ServerState;

pub struct SourceLine {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub last_sync: String,
    pub count: String,
    pub sync_href: String,
    pub config: String,
}

#[derive(Template)]
#[template(path = "console/sources.html")]
struct SourcesPage {
    nav: Nav,
    notice: Option<Notice>,
    sources: Vec<SourceLine>,
}

pub async fn page(signed: Signed) -> PageResult {
    sources_page(&signed, None).await
}

async fn sources_page(signed: &Signed, notice: Option<Notice>) -> PageResult {
    let sources = signed
        .admin()
        .sources()
        .await?
        .into_iter()
        .map(|s| SourceLine {
            href: format!("/sources/{}", segment(&s.name)),
            sync_href: format!("/sources/{}/sync", segment(&s.name)),
            last_sync: when(s.last_sync_ms),
            count: s.last_count.map_or_else(|| "-".into(), |n| n.to_string()),
            config: serde_json::to_string(&s.config).unwrap_or_default(),
            name: s.name,
            kind: s.kind,
        })
        .collect();
    Ok(render(&SourcesPage { nav: signed.nav("sources"), notice, sources }))
}

/// Syncs the source in a job whose page shows how it goes.
pub async fn sync(State(state): State<ServerState>, signed: Signed, Path(name): Path<String>) -> PageResult {
    let id = jobs::start_sync(&state, &signed, &name).await?;
    jobs::shown(&state, &signed, &id).await
}

#[derive(Debug, Deserialize)]
pub struct NewCsv {
    name: String,
}

/// Adds a CSV source fed by uploads (its files live in the server's files directory).
pub async fn add(signed: Signed, Form(form): Form<NewCsv>) -> PageResult {
    let spec = NewSource { name: form.name.trim().to_owned(), kind: "csv".into(), config: json!({}) };
    match signed.admin().create_source(spec, Origin::Remote).await {
        Ok(source) => added(&signed, &source.name).await,
        Err(e @ EngineError::Forbidden(_)) => Err(e.into()),
        Err(e) => sources_page(&signed, Notice::error(e.to_string())).await,
    }
}

/// A source just added, on its page: a CSV source waits for an upload, others for a sync.
pub async fn added(signed: &Signed, name: &str) -> PageResult {
    let kind = signed.admin().show_source(name).await?.kind;
    let notice = Notice::ok(if kind == "csv" {
        format!("{name} added: upload its people export below.")
    } else {
        format!("{name} added ({kind}): Sync now reads it.")
    });
    source_page(signed, name, Shown { notice, ..Default::default() }).await
}

/// The scope's lists as the form writes them: comma-separated.
const SCOPE_LISTS: [&str; 6] = [
    "include_org_units",
    "exclude_org_units",
    "include_departments",
    "exclude_departments",
    "include_groups",
    "exclude_groups",
];

/// One row problem of a refused file.
pub struct ProblemLine {
    pub file: String,
    pub line: String,
    pub column: String,
    pub message: String,
}

#[derive(Default)]
struct Shown {
    notice: Option<Notice>,
    /// The scope as typed (after a refusal or with a preview).
    scope: Option<Vec<(&'static str, String)>>,
    condition: Option<String>,
    leaving: Option<Vec<String>>,
    problems: Vec<ProblemLine>,
    condition_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/source.html")]
struct SourcePage {
    nav: Nav,
    notice: Option<Notice>,
    name: String,
    href: String,
    kind: String,
    version: i64,
    last_sync: String,
    count: String,
    config: String,
    csv: bool,
    scope: Vec<(&'static str, String)>,
    condition: String,
    condition_error: Option<String>,
    leaving: Option<Vec<String>>,
    problems: Vec<ProblemLine>,
}

fn scope_of(config: &Value) -> (Vec<(&'static str, String)>, String) {
    let scope = config.get("scope");
    let lists = SCOPE_LISTS
        .iter()
        .map(|key| {
            let items = scope
                .and_then(|s| s.get(*key))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            (*key, items)
        })
        .collect();
    let condition = scope.and_then(|s| s.get("condition")).and_then(Value::as_str).unwrap_or_default().to_owned();
    (lists, condition)
}

async fn source_page(signed: &Signed, name: &str, shown: Shown) -> PageResult {
    let source = signed.admin().show_source(name).await?;
    let (scope, condition) = scope_of(&source.config);
    Ok(render(&SourcePage {
        nav: signed.nav("sources"),
        notice: shown.notice,
        href: format!("/sources/{}", segment(&source.name)),
        csv: source.kind == "csv",
        kind: source.kind.clone(),
        version: source.version,
        last_sync: when(source.last_sync_ms),
        count: source.last_count.map_or_else(|| "-".into(), |n| n.to_string()),
        config: serde_json::to_string_pretty(&source.config).unwrap_or_default(),
        scope: shown.scope.unwrap_or(scope),
        condition: shown.condition.unwrap_or(condition),
        condition_error: shown.condition_error,
        leaving: shown.leaving,
        problems: shown.problems,
        name: source.name,
    }))
}

pub async fn show(signed: Signed, Path(name): Path<String>) -> PageResult {
    source_page(&signed, &name, Shown::default()).await
}

/// Replaces the source's sync scope, or previews who the new one leaves out.
pub async fn scope(signed: Signed, Path(name): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let expected = match field("version").trim() {
        "" => None,
        v => Some(v.parse().map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "version: not one this page gave"))?),
    };
    let preview = field("action") == "preview";
    let typed: Vec<(&'static str, String)> = SCOPE_LISTS.iter().map(|k| (*k, field(k).trim().to_owned())).collect();
    let condition = field("condition").trim().to_owned();
    let mut scope = serde_json::Map::new();
    for (key, text) in &typed {
        let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if !items.is_empty() {
            scope.insert((*key).to_owned(), json!(items));
        }
    }
    if !condition.is_empty() {
        scope.insert("condition".into(), json!(condition));
    }
    let mut config = signed.admin().show_source(&name).await?.config;
    if let Some(fields) = config.as_object_mut() {
        if scope.is_empty() {
            fields.remove("scope");
        } else {
            fields.insert("scope".into(), Value::Object(scope));
        }
    }
    let condition_typed = condition.clone();
    let mut shown = Shown { scope: Some(typed), condition: Some(condition), ..Default::default() };
    match signed
        .admin()
        .edit_source(&name, SourceEdit { config: Some(config), sync_every: None }, expected, preview, Origin::Remote)
        .await
    {
        Ok(edited) => {
            let leaving: Vec<String> = edited
                .leaving
                .iter()
                .take(500)
                .map(|l| {
                    if l.accounts.is_empty() {
                        l.person.clone()
                    } else {
                        format!("{} (loses {})", l.person, l.accounts.join(", "))
                    }
                })
                .collect();
            shown.notice = Notice::ok(match (preview, leaving.len()) {
                (true, 0) => "Preview: the new scope leaves nobody out. Nothing saved yet.".to_owned(),
                (true, n) => format!("Preview: {n} person(s) would leave at the next sync. Nothing saved yet."),
                (false, 0) => "Scope saved.".to_owned(),
                (false, n) => format!("Scope saved: {n} person(s) leave at the next sync."),
            });
            shown.leaving = Some(leaving);
            if !preview {
                shown.scope = None;
                shown.condition = None;
            }
        }
        Err(e @ EngineError::Forbidden(_)) => return Err(e.into()),
        Err(EngineError::Expression { line, column, message, rendered, .. }) => {
            shown.condition_error = Some(format!("Line {line}, column {column}: {message}\n{rendered}"));
            shown.notice = Notice::error("Not saved: the scope rule does not read (see under it).");
        }
        // The settings the scope lives in are refused whole; a rule that does not read is said
        // under the rule.
        Err(EngineError::BadField { field, message }) if field.starts_with("config") && !condition_typed.is_empty() => {
            shown.condition_error = Some(message.clone());
            shown.notice = Notice::error(format!("Not saved: {field}: {message}"));
        }
        Err(e) => shown.notice = Notice::error(e.to_string()),
    }
    source_page(&signed, &name, shown).await
}

/// Imports an uploaded export (people, and groups if given); a bad file's every row problem is
/// shown in a table and nothing is imported.
pub async fn upload(
    signed: Signed,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PageResult {
    signed.actor.require(Need::OrgAdmin)?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary)
        .ok_or_else(|| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload the files with the page's form"))?;
    let parts = multipart::parse(&body, &boundary).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e))?;
    let file =
        |name: &str| parts.iter().find(|p| p.name == name && !p.data.is_empty()).map(|p| CsvData::from(p.data.clone()));
    let force = parts.iter().any(|p| p.name == "force");
    let files = CsvUpload { people: file("people"), groups: file("groups") };
    let mut shown = Shown::default();
    if files.people.is_none() && files.groups.is_none() {
        shown.notice = Notice::error("Choose the people export (and the groups file, if any) to upload.");
        return source_page(&signed, &name, shown).await;
    }
    match signed.admin().upload_csv(&name, files, force).await {
        Ok(r) => {
            shown.notice = Notice::ok(format!(
                "Imported: {} people read ({} new, {} updated, {} unchanged, {} left, {} returned), {} groups.",
                r.people,
                r.summary.created,
                r.summary.updated,
                r.summary.unchanged,
                r.summary.left,
                r.summary.returned,
                r.summary.groups
            ));
        }
        Err(e @ EngineError::Forbidden(_)) => return Err(e.into()),
        Err(EngineError::Source { error: tenure_sources::SourceError::Csv(csv), .. }) if !csv.is_retryable() => {
            let problems = csv.problems();
            shown.notice = Notice::error(format!(
                "Nothing was imported: the file has {} problem(s), listed below. Fix them and upload it again.",
                problems.len()
            ));
            shown.problems = problems
                .into_iter()
                .map(|p| ProblemLine {
                    file: p.file.unwrap_or_default(),
                    line: p.line.map(|l| l.to_string()).unwrap_or_default(),
                    column: p.column.unwrap_or_default(),
                    message: p.message,
                })
                .collect();
        }
        Err(e) => shown.notice = Notice::error(e.to_string()),
    }
    source_page(&signed, &name, shown).await
}
