//! The audit log's query language and export encoding, shared by `tenure audit` and the API's
//! `GET /api/v1/audit` and `/audit/export`, so both read and write exactly the same rows in the
//! same form: filters as people and scripts write them (emails, ages such as `7d`, action
//! families), pages by cursor, JSON lines and CSV.

use std::str::FromStr;

use serde_json::{Value, json};
use tenure_core::TenantId;
use tenure_store::{AuditCursor, AuditEntry, AuditFilter, BadCursor, MAX_AUDIT_PAGE, Store, StoreError};

/// Rows per page when no limit is given.
pub const DEFAULT_LIMIT: i64 = 100;
/// Rows an export reads per round trip to the database.
pub const EXPORT_PAGE: i64 = 1_000;

/// A query parameter that cannot be used; the message says which, what was given and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("{param}={value:?}: {reason}")]
    Invalid { param: &'static str, value: String, reason: String },
    #[error("{param} must not be empty")]
    Empty { param: &'static str },
    #[error("since ({since}) must be before until ({until})")]
    EmptyRange { since: String, until: String },
    #[error(
        "unknown parameter {0:?}; the audit log takes person, app, action, actor, since, until, limit, cursor (and format for an export)"
    )]
    Unknown(String),
    #[error("parameter {0:?} is given more than once")]
    Repeated(String),
    #[error(transparent)]
    Cursor(#[from] BadCursor),
}

impl ParamError {
    /// A bad parameter stays bad: asking again the same way fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// The filters, as a person or a script writes them.
#[derive(Debug, Clone, Default)]
pub struct AuditParams {
    /// An email or a person id.
    pub person: Option<String>,
    pub app: Option<String>,
    /// An action (`plan.apply`) or a family (`plan`, `plan.`, `plan.*`).
    pub action: Option<String>,
    pub actor: Option<String>,
    /// RFC 3339 (`2024-05-01T12:00:00Z`), a date (`2024-05-01`, midnight UTC) or an age (`24h`).
    pub since: Option<String>,
    /// Like `since`; rows strictly before it.
    pub until: Option<String>,
}

impl AuditParams {
    /// The store's filter; relative times count back from `now_ms`.
    pub fn to_filter(&self, now_ms: i64) -> Result<AuditFilter, ParamError> {
        let text = |param: &'static str, value: &Option<String>| -> Result<Option<String>, ParamError> {
            match value.as_deref().map(str::trim) {
                Some("") => Err(ParamError::Empty { param }),
                other => Ok(other.map(str::to_owned)),
            }
        };
        let since = text("since", &self.since)?.map(|s| parse_instant("since", &s, now_ms)).transpose()?;
        let until = text("until", &self.until)?.map(|s| parse_instant("until", &s, now_ms)).transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(ParamError::EmptyRange {
                since: self.since.clone().unwrap_or_default(),
                until: self.until.clone().unwrap_or_default(),
            });
        }
        Ok(AuditFilter {
            person: text("person", &self.person)?,
            app: text("app", &self.app)?,
            action: text("action", &self.action)?,
            actor: text("actor", &self.actor)?,
            since_ms: since,
            until_ms: until,
        })
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An instant: RFC 3339, a date (midnight UTC) or an age counted back from `now_ms` (`90s`,
/// `15m`, `24h`, `7d`, `2w`).
pub fn parse_instant(param: &'static str, raw: &str, now_ms: i64) -> Result<i64, ParamError> {
    let invalid = |reason: String| ParamError::Invalid { param, value: raw.to_owned(), reason };
    let raw = raw.trim();
    if let Some(unit) = raw.chars().last().filter(char::is_ascii_alphabetic)
        && raw.len() > 1
        && raw[..raw.len() - 1].bytes().all(|b| b.is_ascii_digit())
    {
        let unit_ms: i64 = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            other => return Err(invalid(format!("unknown unit {other:?}; use s, m, h, d or w"))),
        };
        let amount: i64 = raw[..raw.len() - 1].parse().map_err(|_| invalid("too large".into()))?;
        return amount
            .checked_mul(unit_ms)
            .and_then(|back| now_ms.checked_sub(back))
            .ok_or_else(|| invalid("too far back".into()));
    }
    if let Ok(at) = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        return Ok((at.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(raw, date_format) {
        return Ok(date.midnight().assume_utc().unix_timestamp() * 1_000);
    }
    Err(invalid(
        "not an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01) or an age such as 90m, 24h, 7d".into(),
    ))
}

/// A page size: 1 to [`MAX_AUDIT_PAGE`].
pub fn parse_limit(raw: &str) -> Result<i64, ParamError> {
    let invalid = |reason: String| ParamError::Invalid { param: "limit", value: raw.to_owned(), reason };
    let limit: i64 = raw.trim().parse().map_err(|_| invalid("not a whole number".into()))?;
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(invalid(format!("must be between 1 and {MAX_AUDIT_PAGE}")));
    }
    Ok(limit)
}

/// The RFC 3339 form of a stored instant (UTC, milliseconds).
pub fn rfc3339(at_ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

/// One row as the API and JSON lines show it.
pub fn entry_json(e: &AuditEntry) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(e.at_ms),
        "at_ms": e.at_ms,
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "person": e.person,
        "person_id": e.person_id,
        "app": e.app,
        "detail": e.detail,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line (`entry_json`).
    Jsonl,
    /// Columns at, actor, action, subject, person, app, detail (as JSON), with a header row.
    Csv,
}

impl FromStr for ExportFormat {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            other => {
                Err(ParamError::Invalid { param: "format", value: other.to_owned(), reason: "use jsonl or csv".into() })
            }
        }
    }
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

const CSV_HEADER: [&str; 7] = ["at", "actor", "action", "subject", "person", "app", "detail"];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding the export: {0}")]
    Encode(String),
}

impl ExportError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }
}

fn encode(format: ExportFormat, header: bool, entries: &[AuditEntry]) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Jsonl => {
            let mut out = Vec::with_capacity(entries.len() * 256);
            for e in entries {
                serde_json::to_writer(&mut out, &entry_json(e)).map_err(|e| ExportError::Encode(e.to_string()))?;
                out.push(b'\n');
            }
            Ok(out)
        }
        ExportFormat::Csv => {
            let mut w =
                csv::WriterBuilder::new().has_headers(false).from_writer(Vec::with_capacity(entries.len() * 200));
            let fail = |e: csv::Error| ExportError::Encode(e.to_string());
            if header {
                w.write_record(CSV_HEADER).map_err(fail)?;
            }
            for e in entries {
                let at = rfc3339(e.at_ms).unwrap_or_else(|| e.at_ms.to_string());
                let detail = e.detail.to_string();
                let record = [
                    at.as_str(),
                    &e.actor,
                    &e.action,
                    &e.subject,
                    e.person.as_deref().unwrap_or(""),
                    e.app.as_deref().unwrap_or(""),
                    &detail,
                ];
                w.write_record(record).map_err(fail)?;
            }
            w.into_inner().map_err(|e| ExportError::Encode(e.to_string()))
        }
    }
}

/// Every row matching a filter, newest first, encoded a page at a time: memory stays bounded
/// by one page however long the log is.
pub struct Export {
    store: Store,
    tenant: TenantId,
    filter: AuditFilter,
    format: ExportFormat,
    cursor: Option<AuditCursor>,
    /// Rows still wanted, when a limit was given.
    remaining: Option<i64>,
    started: bool,
    /// Set once the export is complete, or cut short by an error.
    pub done: bool,
}

impl Export {
    pub fn new(
        store: Store,
        tenant: TenantId,
        filter: AuditFilter,
        format: ExportFormat,
        cursor: Option<AuditCursor>,
        limit: Option<i64>,
    ) -> Self {
        Self { store, tenant, filter, format, cursor, remaining: limit, started: false, done: false }
    }

    /// The next piece of the export, `None` once it is complete. The first piece carries the
    /// CSV header, even when nothing matches.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let header = !self.started;
        self.started = true;
        let want = self.remaining.map_or(EXPORT_PAGE, |r| r.min(EXPORT_PAGE));
        let page = if want > 0 {
            self.store.query_audit(self.tenant, &self.filter, self.cursor.as_ref(), want).await?
        } else {
            tenure_store::AuditPage { entries: Vec::new(), next_cursor: None }
        };
        if let Some(r) = self.remaining.as_mut() {
            *r -= page.entries.len() as i64;
        }
        self.cursor = page.next_cursor;
        self.done = page.next_cursor.is_none() || self.remaining.is_some_and(|r| r <= 0);
        let chunk = encode(self.format, header, &page.entries)?;
        Ok(if chunk.is_empty() && self.done { None } else { Some(chunk) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    #[test]
    fn instants_in_every_accepted_form() {
        assert_eq!(parse_instant("since", "2024-05-01T12:00:00Z", 0), Ok(NOW));
        assert_eq!(parse_instant("since", "2024-05-01T14:00:00.250+02:00", 0), Ok(NOW + 250));
        assert_eq!(parse_instant("since", "2024-05-01", 0), Ok(NOW - 12 * 3_600_000));
        assert_eq!(parse_instant("since", "24h", NOW), Ok(NOW - 86_400_000));
        assert_eq!(parse_instant("since", "7d", NOW), Ok(NOW - 7 * 86_400_000));
        assert_eq!(parse_instant("since", "90s", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_instant("since", "15m", NOW), Ok(NOW - 900_000));
        assert_eq!(parse_instant("since", "2w", NOW), Ok(NOW - 14 * 86_400_000));
        assert_eq!(parse_instant("since", "0h", NOW), Ok(NOW));
    }

    #[test]
    fn bad_instants_say_what_is_wrong() {
        for (raw, needle) in [
            ("yesterday", "not an RFC 3339 time"),
            ("24y", "unknown unit 'y'"),
            ("h", "not an RFC 3339 time"),
            ("-5h", "not an RFC 3339 time"),
            ("2024-13-01", "not an RFC 3339 time"),
            ("99999999999999999999d", "too large"),
            ("9999999999999999d", "too far back"),
        ] {
            let err = parse_instant("until", raw, NOW).unwrap_err().to_string();
            assert!(err.starts_with(&format!("until={raw:?}")), "{err}");
            assert!(err.contains(needle), "{raw}: {err}");
        }
    }

    #[test]
    fn filters_are_checked_as_a_whole() {
        let params = AuditParams { since: Some("1h".into()), until: Some("2h".into()), ..Default::default() };
        assert_eq!(params.to_filter(NOW).unwrap_err().to_string(), "since (1h) must be before until (2h)");
        let params = AuditParams { person: Some("  ".into()), ..Default::default() };
        assert_eq!(params.to_filter(NOW).unwrap_err(), ParamError::Empty { param: "person" });
        let params = AuditParams {
            person: Some(" ada@x.com ".into()),
            since: Some("2024-05-01".into()),
            until: Some("2024-05-02".into()),
            ..Default::default()
        };
        let filter = params.to_filter(NOW).unwrap();
        assert_eq!(filter.person.as_deref(), Some("ada@x.com"));
        assert_eq!(filter.until_ms.zip(filter.since_ms).map(|(u, s)| u - s), Some(86_400_000));
    }

    #[test]
    fn limits_and_formats() {
        assert_eq!(parse_limit("25"), Ok(25));
        assert!(parse_limit("0").unwrap_err().to_string().contains("between 1 and 10000"));
        assert!(parse_limit("10001").is_err());
        assert!(parse_limit("ten").unwrap_err().to_string().contains("not a whole number"));
        assert_eq!("csv".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
        assert!("xml".parse::<ExportFormat>().unwrap_err().to_string().contains("use jsonl or csv"));
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_keeps_detail_as_json() {
        let entry = AuditEntry {
            id: tenure_core::AuditId::new(),
            at_ms: NOW,
            actor: "cli".into(),
            action: "app.add".into(),
            subject: "slack, \"the\" app\nsecond line".into(),
            person: None,
            person_id: None,
            app: Some("slack".into()),
            detail: json!({"base_url": "https://x", "n": [1, 2]}),
        };
        let bytes = encode(ExportFormat::Csv, true, std::slice::from_ref(&entry)).unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().unwrap(), &csv::StringRecord::from(CSV_HEADER.to_vec()));
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][0], "2024-05-01T12:00:00Z");
        assert_eq!(&rows[0][3], entry.subject);
        assert_eq!(serde_json::from_str::<Value>(&rows[0][6]).unwrap(), entry.detail);
        let line = encode(ExportFormat::Jsonl, true, &[entry]).unwrap();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line, newlines escaped");
    }
}
