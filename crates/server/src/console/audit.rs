//! The audit log, newest first, filtered by person, app, action, actor and time, a page at a
//! time (the store's keyset cursor); the current query exported whole as CSV or JSON lines (the
//! engine's export, as the API's `/api/v1/audit/export` streams it).

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use serde::Deserialize;
use tenure_engine::audit_query::{ExportFormat, ParamError};
use tenure_store::{AuditCursor, AuditFilter};

use super::auth::Signed;
use super::view::{Failure, Nav, Notice, PageResult, render, when};

const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// The export's format: `csv` or `jsonl`.
    #[serde(default)]
    format: Option<String>,
}

pub struct Row {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub person: String,
    pub app: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    notice: Option<Notice>,
    person: String,
    app: String,
    action: String,
    actor: String,
    since: String,
    until: String,
    rows: Vec<Row>,
    next: Option<String>,
}

impl AuditPage {
    /// The export of the query shown, in `format`.
    fn export_href(&self, format: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs().iter().filter(|(_, v)| !v.is_empty()) {
            query.append_pair(k, v);
        }
        query.append_pair("format", format);
        format!("/audit/export?{}", query.finish())
    }

    fn pairs(&self) -> [(&'static str, &String); 6] {
        [
            ("person", &self.person),
            ("app", &self.app),
            ("action", &self.action),
            ("actor", &self.actor),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }
}

impl AuditPage {
    fn next_href(&self, cursor: &str) -> String {
        let pairs = self.pairs();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            query.append_pair(k, v);
        }
        query.append_pair("cursor", cursor);
        format!("/audit?{}", query.finish())
    }
}

fn day_ms(field: &str, text: &str) -> Result<Option<i64>, Failure> {
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format)
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("{field}: {text:?} is not a date (YYYY-MM-DD)")))?;
    Ok(Some((date.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64))
}

/// The query's words, trimmed, and the filter they make.
type Words = (String, String, String, String, String, String);

fn filter_of(f: &Filters) -> Result<(Words, AuditFilter), Failure> {
    let clean = |v: &Option<String>| v.as_deref().map(|s| s.trim().to_owned()).unwrap_or_default();
    let (person, app, action, actor) = (clean(&f.person), clean(&f.app), clean(&f.action), clean(&f.actor));
    let (since, until) = (clean(&f.since), clean(&f.until));
    let filter = AuditFilter {
        person: Some(person.clone()).filter(|s| !s.is_empty()),
        app: Some(app.clone()).filter(|s| !s.is_empty()),
        action: Some(action.clone()).filter(|s| !s.is_empty()),
        actor: Some(actor.clone()).filter(|s| !s.is_empty()),
        since_ms: day_ms("since", &since)?,
        until_ms: day_ms("until", &until)?,
    };
    Ok(((person, app, action, actor, since, until), filter))
}

/// Every entry the query matches, downloaded as CSV or JSON lines.
pub async fn export(signed: Signed, Query(f): Query<Filters>) -> PageResult {
    let (_, filter) = filter_of(&f)?;
    let format: ExportFormat = match f.format.as_deref().map(str::trim) {
        None | Some("") => ExportFormat::Csv,
        Some(raw) => raw.parse().map_err(|e: ParamError| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?,
    };
    let mut export = signed.admin().audit_export(filter, format, None, None)?;
    // The first page before the status line: a database that fails at once is an error page,
    // not a download cut short.
    let first = export
        .next_chunk()
        .await
        .map_err(|e| Failure::new(StatusCode::SERVICE_UNAVAILABLE, format!("the audit log could not be read: {e}")))?;
    Ok(crate::routes::audit::export_download(export, first, format))
}

pub async fn page(signed: Signed, Query(f): Query<Filters>) -> PageResult {
    let ((person, app, action, actor, since, until), filter) = filter_of(&f)?;
    let cursor: Option<AuditCursor> = match f.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(c.parse().map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "cursor: not one this page gave"))?)
        }
        None => None,
    };
    let page = signed.admin().audit(&filter, cursor.as_ref(), PAGE).await?;
    let rows = page
        .entries
        .into_iter()
        .map(|e| Row {
            at: when(Some(e.at_ms)),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            person: e.person.unwrap_or_default(),
            app: e.app.unwrap_or_default(),
            detail: e.detail.to_string(),
        })
        .collect();
    Ok(render(&AuditPage {
        nav: signed.nav("audit"),
        notice: None,
        person,
        app,
        action,
        actor,
        since,
        until,
        rows,
        next: page.next_cursor.map(|c| c.to_string()),
    }))
}
