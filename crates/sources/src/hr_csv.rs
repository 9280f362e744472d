//! The HR-export CSV source: a people file (one row per person) and an optional groups file
//! (`name,parents`) that says how groups nest.
//!
//! Why it is strict: an import is a complete snapshot, so a row silently skipped would look like
//! a person who left, and their accounts would be deprovisioned. Every problem is therefore an
//! error for the whole file, naming the physical line (the header is line 1) and the reason, so
//! whoever exports the file can fix it. The only rows skipped are those with every field empty,
//! which spreadsheets like to leave at the end and which cannot describe anyone.
//!
//! Conventions:
//! - Column names are matched exactly (after trimming); [`CsvMapping`] renames them. An optional
//!   column that is absent, or mapped to `""`, is simply not read.
//! - Values are trimmed; an empty value means "not set".
//! - Every column the mapping does not name becomes a custom attribute (key = header name) on
//!   the rows where it has a value.
//! - A UTF-8 BOM, CRLF line endings and quoted fields (with commas or line breaks) are fine.
//! - A file that is empty or has only a header yields no people; deciding whether an empty
//!   snapshot is plausible is the caller's job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use serde::{Deserialize, Serialize};
use tenure_core::import::{ImportBatch, ImportGroup, ImportedPerson};
use tenure_core::model::{OrgUnitPath, PersonStatus};
use time::Date;
use time::macros::format_description;

/// Which CSV column holds each person field. `employee_id` and `email` must be present; the
/// others are read when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvMapping {
    /// The stable key of a person: the same person must keep it across exports.
    pub employee_id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub department: String,
    pub title: String,
    /// An org unit path such as `/Sales/EMEA`.
    pub org_unit: String,
    /// The manager's employee id.
    pub manager_id: String,
    /// `active` or `suspended` (any case); empty means active.
    pub status: String,
    /// Group names separated by `;`.
    pub groups: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`.
    pub leave_date: String,
}

impl Default for CsvMapping {
    fn default() -> Self {
        Self {
            employee_id: "employee_id".to_owned(),
            email: "email".to_owned(),
            given_name: "given_name".to_owned(),
            family_name: "family_name".to_owned(),
            display_name: "display_name".to_owned(),
            department: "department".to_owned(),
            title: "title".to_owned(),
            org_unit: "org_unit".to_owned(),
            manager_id: "manager_id".to_owned(),
            status: "status".to_owned(),
            groups: "groups".to_owned(),
            start_date: "start_date".to_owned(),
            leave_date: "leave_date".to_owned(),
        }
    }
}

/// Why a CSV could not be imported. Lines are physical, 1-based line numbers; the header is
/// line 1 unless blank lines precede it.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Another error, with the file it came from.
    #[error("{file}: {error}")]
    InFile { file: String, error: Box<CsvError> },
    #[error("line {line}: malformed CSV: {message}")]
    Malformed { line: u64, message: String },
    #[error("line {line}: {column} is not valid UTF-8")]
    InvalidUtf8 { line: u64, column: String },
    #[error("line {line}: duplicate column {column:?} in the header (fields {first} and {second})")]
    DuplicateColumn { line: u64, column: String, first: usize, second: usize },
    #[error("missing required column {column:?}; found columns: {}", quoted_list(.found))]
    MissingColumn { line: u64, column: String, found: Vec<String> },
    #[error("line {line}: unexpected column {column:?}; {expected}")]
    UnexpectedColumn { line: u64, column: String, expected: &'static str },
    #[error("line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount { line: u64, expected: usize, found: usize },
    #[error("line {line}: field {field} has a value but its column has no name in the header")]
    UnnamedColumn { line: u64, field: usize },
    #[error("line {line}: empty {column}")]
    EmptyValue { line: u64, column: String },
    #[error("line {line}: invalid email {value:?}: {reason}")]
    InvalidEmail { line: u64, value: String, reason: &'static str },
    #[error("line {line}: invalid {column} {value:?}: expected a date as YYYY-MM-DD")]
    InvalidDate { line: u64, column: String, value: String },
    #[error("line {line}: invalid {column} {value:?}: expected \"active\", \"suspended\" or empty")]
    InvalidStatus { line: u64, column: String, value: String },
    #[error("line {line}: invalid {column} {value:?}: expected a path such as /Sales/EMEA with no empty segments")]
    InvalidOrgUnit { line: u64, column: String, value: String },
    /// A value that must be unique (employee id, email) appears again.
    #[error("line {line}: duplicate {column} {value:?} (first seen on line {first_line})")]
    Duplicate { line: u64, column: String, value: String, first_line: u64 },
    #[error("line {line}: group {group:?} is listed twice (first on line {first_line})")]
    DuplicateGroup { line: u64, group: String, first_line: u64 },
    #[error("line {line}: group {group:?} lists itself as a parent")]
    SelfParent { line: u64, group: String },
}

impl CsvError {
    /// The line the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Io { .. } => None,
            Self::InFile { error, .. } => error.line(),
            Self::Malformed { line, .. }
            | Self::InvalidUtf8 { line, .. }
            | Self::DuplicateColumn { line, .. }
            | Self::MissingColumn { line, .. }
            | Self::UnexpectedColumn { line, .. }
            | Self::FieldCount { line, .. }
            | Self::UnnamedColumn { line, .. }
            | Self::EmptyValue { line, .. }
            | Self::InvalidEmail { line, .. }
            | Self::InvalidDate { line, .. }
            | Self::InvalidStatus { line, .. }
            | Self::InvalidOrgUnit { line, .. }
            | Self::Duplicate { line, .. }
            | Self::DuplicateGroup { line, .. }
            | Self::SelfParent { line, .. } => Some(*line),
        }
    }

    /// Whether trying again unchanged might succeed: only reading the file can fail transiently;
    /// a bad file stays bad until someone fixes it.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { .. } => true,
            Self::InFile { error, .. } => error.is_retryable(),
            _ => false,
        }
    }

    /// The error without the file it came from.
    pub fn root(&self) -> &CsvError {
        match self {
            Self::InFile { error, .. } => error.root(),
            other => other,
        }
    }

    fn in_file(self, file: impl Into<String>) -> Self {
        Self::InFile { file: file.into(), error: Box::new(self) }
    }
}

fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
}

/// Reads the people file and, when given, the groups file into one batch.
pub fn load(people: &[u8], groups: Option<&[u8]>, mapping: &CsvMapping) -> Result<ImportBatch, CsvError> {
    let people = parse_people(people, mapping).map_err(|e| e.in_file("people CSV"))?;
    let groups = match groups {
        Some(bytes) => parse_groups(bytes).map_err(|e| e.in_file("groups CSV"))?,
        None => Vec::new(),
    };
    Ok(ImportBatch { people, groups })
}

/// [`load`] from files; errors name the file.
pub fn load_files(
    people_path: &Path,
    groups_path: Option<&Path>,
    mapping: &CsvMapping,
) -> Result<ImportBatch, CsvError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| CsvError::Io { path: path.to_owned(), source });
    let people_bytes = read(people_path)?;
    let groups_bytes = groups_path.map(|path| read(path).map(|bytes| (path, bytes))).transpose()?;
    let people = parse_people(&people_bytes, mapping).map_err(|e| e.in_file(people_path.display().to_string()))?;
    let groups = match groups_bytes {
        Some((path, bytes)) => parse_groups(&bytes).map_err(|e| e.in_file(path.display().to_string()))?,
        None => Vec::new(),
    };
    Ok(ImportBatch { people, groups })
}

/// Parses the people file.
pub fn parse_people(bytes: &[u8], mapping: &CsvMapping) -> Result<Vec<ImportedPerson>, CsvError> {
    let Some(table) = Table::read(bytes)? else {
        return Ok(Vec::new());
    };
    let columns = PeopleColumns::resolve(&table, mapping)?;
    let mut seen_keys: HashMap<&str, u64> = HashMap::new();
    let mut seen_emails: HashMap<String, u64> = HashMap::new();
    let mut people = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let line = row.line;
        let value = |index: Option<usize>| index.map(|i| row.fields[i].as_str()).filter(|v| !v.is_empty());
        let optional = |index: Option<usize>| value(index).map(str::to_owned);
        let required = |index: usize| {
            let v = row.fields[index].as_str();
            if v.is_empty() { Err(CsvError::EmptyValue { line, column: table.columns[index].clone() }) } else { Ok(v) }
        };

        let key = required(columns.employee_id)?;
        if let Some(&first_line) = seen_keys.get(key) {
            return Err(CsvError::Duplicate {
                line,
                column: table.columns[columns.employee_id].clone(),
                value: key.to_owned(),
                first_line,
            });
        }
        seen_keys.insert(key, line);

        let email = required(columns.email)?;
        if let Err(reason) = check_email(email) {
            return Err(CsvError::InvalidEmail { line, value: email.to_owned(), reason });
        }
        let user_name = email.to_lowercase();
        if let Some(&first_line) = seen_emails.get(&user_name) {
            return Err(CsvError::Duplicate {
                line,
                column: table.columns[columns.email].clone(),
                value: email.to_owned(),
                first_line,
            });
        }
        seen_emails.insert(user_name.clone(), line);

        let org_unit = match value(columns.org_unit) {
            Some(raw) => Some(OrgUnitPath::parse(raw).map_err(|_| CsvError::InvalidOrgUnit {
                line,
                column: table.column_name(columns.org_unit),
                value: raw.to_owned(),
            })?),
            None => None,
        };
        let status = match value(columns.status) {
            None => PersonStatus::Active,
            Some(raw) if raw.eq_ignore_ascii_case("active") => PersonStatus::Active,
            Some(raw) if raw.eq_ignore_ascii_case("suspended") => PersonStatus::Suspended,
            Some(raw) => {
                return Err(CsvError::InvalidStatus {
                    line,
                    column: table.column_name(columns.status),
                    value: raw.to_owned(),
                });
            }
        };
        let date = |index: Option<usize>| match value(index) {
            Some(raw) => parse_date(raw).map(Some).ok_or_else(|| CsvError::InvalidDate {
                line,
                column: table.column_name(index),
                value: raw.to_owned(),
            }),
            None => Ok(None),
        };
        let start_date = date(columns.start_date)?;
        let leave_date = date(columns.leave_date)?;
        let groups = value(columns.groups).map(split_list).unwrap_or_default();
        let custom: BTreeMap<String, String> = columns
            .custom
            .iter()
            .filter(|&&i| !row.fields[i].is_empty())
            .map(|&i| (table.columns[i].clone(), row.fields[i].clone()))
            .collect();

        people.push(ImportedPerson {
            source_key: key.to_owned(),
            user_name,
            email: email.to_owned(),
            given_name: optional(columns.given_name),
            family_name: optional(columns.family_name),
            display_name: optional(columns.display_name),
            department: optional(columns.department),
            title: optional(columns.title),
            employee_id: Some(key.to_owned()),
            manager_key: optional(columns.manager_id),
            org_unit,
            status,
            start_date,
            leave_date,
            custom,
            groups,
        });
    }
    Ok(people)
}

/// Parses the groups file: columns `name` (required) and `parents` (groups this one is nested
/// in, separated by `;`). Groups only named as parents, or only in the people file, need no row
/// of their own. Cycles across groups are left to the reconciler, which tolerates them; a group
/// that is its own parent is rejected because it can only be a typo.
pub fn parse_groups(bytes: &[u8]) -> Result<Vec<ImportGroup>, CsvError> {
    const EXPECTED: &str = "a groups file has the columns \"name\" and \"parents\"";
    let Some(table) = Table::read(bytes)? else {
        return Ok(Vec::new());
    };
    let mut name_column = None;
    let mut parents_column = None;
    for (i, column) in table.columns.iter().enumerate() {
        match column.as_str() {
            "name" => name_column = Some(i),
            "parents" => parents_column = Some(i),
            "" => {}
            other => {
                return Err(CsvError::UnexpectedColumn {
                    line: table.header_line,
                    column: other.to_owned(),
                    expected: EXPECTED,
                });
            }
        }
    }
    let Some(name_column) = name_column else {
        return Err(CsvError::MissingColumn {
            line: table.header_line,
            column: "name".to_owned(),
            found: table.named_columns(),
        });
    };

    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut groups = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let line = row.line;
        let name = row.fields[name_column].as_str();
        if name.is_empty() {
            return Err(CsvError::EmptyValue { line, column: "name".to_owned() });
        }
        if let Some(&first_line) = seen.get(name) {
            return Err(CsvError::DuplicateGroup { line, group: name.to_owned(), first_line });
        }
        seen.insert(name, line);
        let parents = parents_column.map(|i| split_list(&row.fields[i])).unwrap_or_default();
        if parents.iter().any(|p| p == name) {
            return Err(CsvError::SelfParent { line, group: name.to_owned() });
        }
        groups.push(ImportGroup { name: name.to_owned(), parents });
    }
    Ok(groups)
}

/// Where each mapped field lives in the header; `None` when the column is absent.
struct PeopleColumns {
    employee_id: usize,
    email: usize,
    given_name: Option<usize>,
    family_name: Option<usize>,
    display_name: Option<usize>,
    department: Option<usize>,
    title: Option<usize>,
    org_unit: Option<usize>,
    manager_id: Option<usize>,
    status: Option<usize>,
    groups: Option<usize>,
    start_date: Option<usize>,
    leave_date: Option<usize>,
    custom: Vec<usize>,
}

impl PeopleColumns {
    fn resolve(table: &Table, mapping: &CsvMapping) -> Result<Self, CsvError> {
        let mut used = HashSet::new();
        let mut find = |name: &str| {
            let index = table.find(name.trim());
            used.extend(index);
            index
        };
        let employee_id = find(&mapping.employee_id);
        let email = find(&mapping.email);
        let mut columns = Self {
            employee_id: 0,
            email: 0,
            given_name: find(&mapping.given_name),
            family_name: find(&mapping.family_name),
            display_name: find(&mapping.display_name),
            department: find(&mapping.department),
            title: find(&mapping.title),
            org_unit: find(&mapping.org_unit),
            manager_id: find(&mapping.manager_id),
            status: find(&mapping.status),
            groups: find(&mapping.groups),
            start_date: find(&mapping.start_date),
            leave_date: find(&mapping.leave_date),
            custom: Vec::new(),
        };
        let missing = |name: &str| CsvError::MissingColumn {
            line: table.header_line,
            column: name.trim().to_owned(),
            found: table.named_columns(),
        };
        columns.employee_id = employee_id.ok_or_else(|| missing(&mapping.employee_id))?;
        columns.email = email.ok_or_else(|| missing(&mapping.email))?;
        columns.custom =
            (0..table.columns.len()).filter(|i| !used.contains(i) && !table.columns[*i].is_empty()).collect();
        Ok(columns)
    }
}

/// A decoded CSV file: trimmed header names and trimmed values, every row as wide as the header.
struct Table {
    header_line: u64,
    columns: Vec<String>,
    rows: Vec<Row>,
}

struct Row {
    line: u64,
    fields: Vec<String>,
}

impl Table {
    /// `None` for a file without even a header.
    fn read(bytes: &[u8]) -> Result<Option<Self>, CsvError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut record = ByteRecord::new();
        let mut table: Option<Table> = None;
        let mut lines = LineCounter::new(bytes);
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = lines.line_at(e.position().map_or(lines.offset, |p| p.byte()));
                    return Err(CsvError::Malformed { line, message: e.to_string() });
                }
            }
            let line = lines.line_at(record.position().map_or(lines.offset, |p| p.byte()));
            let Some(table) = table.as_mut() else {
                table = Some(Self::header(&record, line)?);
                continue;
            };
            if record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            if record.len() != table.columns.len() {
                return Err(CsvError::FieldCount { line, expected: table.columns.len(), found: record.len() });
            }
            let mut fields = Vec::with_capacity(record.len());
            for (i, raw) in record.iter().enumerate() {
                let value = std::str::from_utf8(raw)
                    .map_err(|_| CsvError::InvalidUtf8 { line, column: table.field_label(i) })?
                    .trim();
                if table.columns[i].is_empty() && !value.is_empty() {
                    return Err(CsvError::UnnamedColumn { line, field: i + 1 });
                }
                fields.push(value.to_owned());
            }
            table.rows.push(Row { line, fields });
        }
        Ok(table)
    }

    fn header(record: &ByteRecord, line: u64) -> Result<Self, CsvError> {
        let mut columns: Vec<String> = Vec::with_capacity(record.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, raw) in record.iter().enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| CsvError::InvalidUtf8 { line, column: format!("header field {}", i + 1) })?
                .trim()
                .to_owned();
            if !name.is_empty() {
                if let Some(&first) = seen.get(&name) {
                    return Err(CsvError::DuplicateColumn { line, column: name, first, second: i + 1 });
                }
                seen.insert(name.clone(), i + 1);
            }
            columns.push(name);
        }
        Ok(Self { header_line: line, columns, rows: Vec::new() })
    }

    fn find(&self, name: &str) -> Option<usize> {
        if name.is_empty() {
            return None;
        }
        self.columns.iter().position(|c| c == name)
    }

    fn named_columns(&self) -> Vec<String> {
        self.columns.iter().filter(|c| !c.is_empty()).cloned().collect()
    }

    fn column_name(&self, index: Option<usize>) -> String {
        index.map(|i| self.columns[i].clone()).unwrap_or_default()
    }

    fn field_label(&self, index: usize) -> String {
        match self.columns.get(index) {
            Some(name) if !name.is_empty() => format!("column {name:?}"),
            _ => format!("field {}", index + 1),
        }
    }
}

/// Physical line numbers from byte offsets. The csv crate's own line count skips blank lines and
/// miscounts CRLF, and a record's byte position is where the reader resumed, which may be on the
/// line breaks before the record; so this counts `\n`, `\r\n` and lone `\r` itself, after
/// stepping over those line breaks.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Where counting stopped; never moves backwards, so a whole file is scanned once.
    offset: u64,
    /// The line `offset` is on.
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0, line: 1 }
    }

    /// The line of the first character at or after `offset` that is not a line break.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut start = usize::try_from(offset.max(self.offset)).unwrap_or(usize::MAX).min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        let from = usize::try_from(self.offset).unwrap_or(usize::MAX).min(start);
        let scanned = &self.bytes[from..start];
        let breaks = scanned
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && self.bytes.get(from + i + 1) != Some(&b'\n')))
            .count();
        self.line += breaks as u64;
        self.offset = start as u64;
        self.line
    }
}

/// Splits a `;`-separated list, trimming items, dropping empty ones and repeats.
fn split_list(raw: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        if !items.iter().any(|seen| seen == item) {
            items.push(item.to_owned());
        }
    }
    items
}

/// Not an RFC 5322 validator: it catches the mistakes an export actually contains (a name in
/// the email column, two addresses in one cell, a missing domain).
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.chars().any(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (_, None, _) => Err("it has no '@'"),
        (_, Some(_), Some(_)) => Err("it has more than one '@'"),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err("the part before or after the '@' is empty"),
    }
}

/// Exactly `YYYY-MM-DD`: other ISO 8601 forms (week dates, signed years) are more likely a
/// mistake than intended.
fn parse_date(raw: &str) -> Option<Date> {
    let b = raw.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !shape_ok {
        return None;
    }
    Date::parse(raw, format_description!("[year]-[month]-[day]")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn people(csv: &str) -> Result<Vec<ImportedPerson>, CsvError> {
        parse_people(csv.as_bytes(), &CsvMapping::default())
    }

    fn err(csv: &str) -> CsvError {
        people(csv).expect_err("the CSV should be rejected")
    }

    const HEADER: &str = "employee_id,email,given_name,family_name,status,org_unit,start_date,leave_date,groups";

    #[test]
    fn happy_path_with_bom_crlf_quotes_and_custom_attributes() {
        let csv = "\u{feff}employee_id,email,given_name,family_name,display_name,department,title,org_unit,manager_id,status,groups,start_date,leave_date,cost_center,location\r\n\
                   E1, Ada.Lovelace@Example.com ,Ada,Lovelace,,Engineering,\"Engineer, Senior\",/Engineering/Platform/,,active,\"everyone; platform-team;;everyone\",2020-01-06,,CC-1100,\"London, UK\"\r\n\
                   E2,grace@example.com,Grace,Hopper,Grace H.,Engineering,Manager,Engineering,E1,SUSPENDED,,2019-03-01,2027-01-31,,\r\n";
        let people = people(csv).unwrap();
        assert_eq!(people.len(), 2);

        let ada = &people[0];
        assert_eq!(ada.source_key, "E1");
        assert_eq!(ada.employee_id.as_deref(), Some("E1"));
        assert_eq!(ada.email, "Ada.Lovelace@Example.com");
        assert_eq!(ada.user_name, "ada.lovelace@example.com");
        assert_eq!(ada.given_name.as_deref(), Some("Ada"));
        assert_eq!(ada.display_name, None);
        assert_eq!(ada.title.as_deref(), Some("Engineer, Senior"));
        assert_eq!(ada.org_unit.as_ref().map(OrgUnitPath::as_str), Some("/Engineering/Platform"));
        assert_eq!(ada.manager_key, None);
        assert_eq!(ada.status, PersonStatus::Active);
        assert_eq!(ada.groups, vec!["everyone".to_owned(), "platform-team".to_owned()]);
        assert_eq!(ada.start_date, Some(date!(2020 - 01 - 06)));
        assert_eq!(ada.leave_date, None);
        assert_eq!(
            ada.custom,
            BTreeMap::from([
                ("cost_center".to_owned(), "CC-1100".to_owned()),
                ("location".to_owned(), "London, UK".to_owned())
            ])
        );

        let grace = &people[1];
        assert_eq!(grace.display_name.as_deref(), Some("Grace H."));
        assert_eq!(grace.manager_key.as_deref(), Some("E1"));
        assert_eq!(grace.org_unit.as_ref().map(OrgUnitPath::as_str), Some("/Engineering"));
        assert_eq!(grace.status, PersonStatus::Suspended);
        assert!(grace.groups.is_empty());
        assert_eq!(grace.leave_date, Some(date!(2027 - 01 - 31)));
        assert!(grace.custom.is_empty(), "empty custom values are not attributes");
    }

    #[test]
    fn only_required_columns_are_needed_and_optional_ones_default() {
        let people = people("email,employee_id\na@x.io,1\n").unwrap();
        let p = &people[0];
        assert_eq!((p.source_key.as_str(), p.email.as_str()), ("1", "a@x.io"));
        assert_eq!(p.status, PersonStatus::Active);
        assert_eq!((p.org_unit.clone(), p.start_date, p.given_name.clone()), (None, None, None));
        assert!(p.groups.is_empty() && p.custom.is_empty());
    }

    #[test]
    fn mapping_renames_columns_and_deserializes_with_defaults() {
        let mapping: CsvMapping = serde_json::from_value(
            serde_json::json!({"employee_id": "Employee Number", "email": "Work Email", "groups": ""}),
        )
        .unwrap();
        assert_eq!(mapping.title, "title");
        let csv = "Employee Number,Work Email,title,groups\n42,a@x.io,CEO,founders\n";
        let people = parse_people(csv.as_bytes(), &mapping).unwrap();
        assert_eq!(people[0].source_key, "42");
        assert_eq!(people[0].title.as_deref(), Some("CEO"));
        assert!(people[0].groups.is_empty(), "an unmapped column is not read as groups");
        assert_eq!(people[0].custom.get("groups").map(String::as_str), Some("founders"));

        let unknown = serde_json::from_value::<CsvMapping>(serde_json::json!({"emial": "x"}));
        assert!(unknown.is_err(), "a typo in the mapping is reported");
    }

    #[test]
    fn empty_file_and_header_only_yield_no_people() {
        assert!(people("").unwrap().is_empty());
        assert!(people("\u{feff}").unwrap().is_empty());
        assert!(people("employee_id,email\n").unwrap().is_empty());
        assert!(people("employee_id,email\r\n\r\n").unwrap().is_empty());
    }

    #[test]
    fn rows_with_every_field_empty_are_skipped() {
        let people = people("employee_id,email,title\n1,a@x.io,\n,,\n , ,\n,\n").unwrap();
        assert_eq!(people.len(), 1);
    }

    #[test]
    fn duplicate_employee_id_names_both_lines() {
        let e = err("employee_id,email\nE1,a@x.io\nE2,b@x.io\nE1,c@x.io\n");
        assert_eq!(e.to_string(), "line 4: duplicate employee_id \"E1\" (first seen on line 2)");
        assert_eq!(e.line(), Some(4));
        assert!(!e.is_retryable());
    }

    #[test]
    fn duplicate_email_is_case_insensitive() {
        let e = err("employee_id,email\nE1,a@x.io\nE2,A@X.io\n");
        assert!(
            matches!(&e, CsvError::Duplicate { line: 3, first_line: 2, column, value } if column == "email" && value == "A@X.io"),
            "{e}"
        );
    }

    #[test]
    fn missing_required_column_lists_what_was_found() {
        let e = err("employee_id,mail,title\nE1,a@x.io,CEO\n");
        assert_eq!(
            e.to_string(),
            "missing required column \"email\"; found columns: \"employee_id\", \"mail\", \"title\""
        );
        assert_eq!(e.line(), Some(1));
        let e = err("email\na@x.io\n");
        assert!(matches!(&e, CsvError::MissingColumn { column, .. } if column == "employee_id"), "{e}");
    }

    #[test]
    fn empty_required_values_are_rejected() {
        let e = err("employee_id,email\nE1,a@x.io\n ,b@x.io\n");
        assert_eq!(e.to_string(), "line 3: empty employee_id");
        let e = err("employee_id,email\nE1,\n");
        assert_eq!(e.to_string(), "line 2: empty email");
    }

    #[test]
    fn invalid_emails_are_rejected_with_a_reason() {
        for (email, reason) in [
            ("ada", "no '@'"),
            ("a@b@c", "more than one '@'"),
            ("@x.io", "empty"),
            ("ada@", "empty"),
            ("\"ada lovelace@x.io\"", "whitespace"),
        ] {
            let e = err(&format!("employee_id,email\nE1,{email}\n"));
            assert!(matches!(&e, CsvError::InvalidEmail { line: 2, .. }), "{email}: {e}");
            assert!(e.to_string().contains(reason), "{email}: {e}");
        }
    }

    #[test]
    fn invalid_dates_are_rejected() {
        for date in ["2024-02-30", "2024/01/01", "24-01-01", "2024-1-1", "+2024-01-01", "2024-W01-1", "soon"] {
            let e = err(&format!("{HEADER}\nE1,a@x.io,A,B,,,{date},,\n"));
            assert!(
                matches!(&e, CsvError::InvalidDate { line: 2, column, .. } if column == "start_date"),
                "{date}: {e}"
            );
        }
        let e = err(&format!("{HEADER}\nE1,a@x.io,A,B,,,,31.12.2024,\n"));
        assert_eq!(e.to_string(), "line 2: invalid leave_date \"31.12.2024\": expected a date as YYYY-MM-DD");
    }

    #[test]
    fn status_must_be_active_suspended_or_empty() {
        let e = err(&format!("{HEADER}\nE1,a@x.io,A,B,deleted,,,,\n"));
        assert_eq!(e.to_string(), "line 2: invalid status \"deleted\": expected \"active\", \"suspended\" or empty");
        let e = err(&format!("{HEADER}\nE1,a@x.io,A,B,on leave,,,,\n"));
        assert!(matches!(e, CsvError::InvalidStatus { line: 2, .. }));
    }

    #[test]
    fn invalid_org_unit_is_rejected() {
        let e = err(&format!("{HEADER}\nE1,a@x.io,A,B,,/Sales//EMEA,,,\n"));
        assert!(matches!(&e, CsvError::InvalidOrgUnit { line: 2, value, .. } if value == "/Sales//EMEA"), "{e}");
    }

    #[test]
    fn wrong_field_count_is_rejected() {
        let e = err("employee_id,email,title\nE1,a@x.io,CEO\nE2,b@x.io\n");
        assert_eq!(e.to_string(), "line 3: expected 3 fields as in the header, found 2");
        let e = err("employee_id,email\nE1,a@x.io,extra\n");
        assert!(matches!(e, CsvError::FieldCount { line: 2, expected: 2, found: 3 }));
    }

    #[test]
    fn invalid_utf8_names_the_line_and_column() {
        let mut csv = b"employee_id,email,title\nE1,a@x.io,CEO\nE2,b@x.io,Ing\xe9nieur\n".to_vec();
        let e = parse_people(&csv, &CsvMapping::default()).unwrap_err();
        assert_eq!(e.to_string(), "line 3: column \"title\" is not valid UTF-8");
        csv = b"employee_id,email,t\xffitle\n".to_vec();
        let e = parse_people(&csv, &CsvMapping::default()).unwrap_err();
        assert_eq!(e.to_string(), "line 1: header field 3 is not valid UTF-8");
    }

    #[test]
    fn duplicate_header_names_are_rejected() {
        let e = err("employee_id,email,title, email\nE1,a@x.io,CEO,b@x.io\n");
        assert_eq!(e.to_string(), "line 1: duplicate column \"email\" in the header (fields 2 and 4)");
    }

    #[test]
    fn unnamed_columns_may_exist_but_not_hold_values() {
        assert_eq!(people("employee_id,email,,\nE1,a@x.io,,\n").unwrap().len(), 1);
        let e = err("employee_id,email,\nE1,a@x.io,\nE2,b@x.io,oops\n");
        assert_eq!(e.to_string(), "line 3: field 3 has a value but its column has no name in the header");
    }

    #[test]
    fn line_numbers_are_physical_across_quoted_line_breaks_and_blank_lines() {
        let csv = "employee_id,email,title\r\nE1,a@x.io,\"Head of\r\nEverything\"\r\n\r\nE2,bad,x\r\n";
        let e = err(csv);
        assert_eq!(e.line(), Some(5), "{e}");
        assert_eq!(err("\n\nemployee_id,email\n\nE1,bad\n").line(), Some(5), "blank lines before the header count");
        assert_eq!(err("employee_id,email\rE1,a@x.io\rE2,bad\r").line(), Some(3), "old Mac line endings");
        assert_eq!(
            err("employee_id,email\r\nE1,a@x.io\r\n\r\n\r\nE1,b@x.io").to_string(),
            "line 5: duplicate employee_id \"E1\" (first seen on line 2)"
        );
        let ok = people("employee_id,email,title\nE1,a@x.io,\"Head of\nEverything\"\n").unwrap();
        assert_eq!(ok[0].title.as_deref(), Some("Head of\nEverything"));
    }

    #[test]
    fn groups_file_parses_nesting_and_tolerates_cycles() {
        let csv = "\u{feff}name,parents\r\neveryone,\r\nengineering, slack-users ; jira-users;\r\nplatform-team,engineering\r\na,b\r\nb,a\r\n";
        let groups = parse_groups(csv.as_bytes()).unwrap();
        assert_eq!(groups.len(), 5);
        assert_eq!(groups[0], ImportGroup { name: "everyone".into(), parents: vec![] });
        assert_eq!(groups[1].parents, vec!["slack-users".to_owned(), "jira-users".to_owned()]);
        assert_eq!(parse_groups(b"name\nsolo\n").unwrap()[0].parents, Vec::<String>::new());
        assert!(parse_groups(b"").unwrap().is_empty());
    }

    #[test]
    fn groups_file_errors() {
        let e = parse_groups(b"name,parents\neng,\nops,ops;eng\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3: group \"ops\" lists itself as a parent");
        let e = parse_groups(b"name,parents\neng,\nops,\neng,x\n").unwrap_err();
        assert_eq!(e.to_string(), "line 4: group \"eng\" is listed twice (first on line 2)");
        let e = parse_groups(b"name,parents\n,eng\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: empty name");
        let e = parse_groups(b"group,parents\neng,\n").unwrap_err();
        assert!(matches!(&e, CsvError::UnexpectedColumn { line: 1, column, .. } if column == "group"), "{e}");
        let e = parse_groups(b"parents\neng\n").unwrap_err();
        assert!(matches!(&e, CsvError::MissingColumn { column, .. } if column == "name"), "{e}");
        let e = parse_groups(b"name,parents\neng\n").unwrap_err();
        assert!(matches!(e, CsvError::FieldCount { line: 2, .. }));
    }

    #[test]
    fn load_combines_files_and_names_the_failing_one() {
        let batch = load(
            b"employee_id,email,groups\nE1,a@x.io,eng\n",
            Some(b"name,parents\neng,everyone\n"),
            &CsvMapping::default(),
        )
        .unwrap();
        assert_eq!((batch.people.len(), batch.groups.len()), (1, 1));
        let batch = load(b"employee_id,email\n", None, &CsvMapping::default()).unwrap();
        assert!(batch.people.is_empty() && batch.groups.is_empty());

        let e =
            load(b"employee_id,email\nE1,a@x.io\n", Some(b"name,parents\nx,x\n"), &CsvMapping::default()).unwrap_err();
        assert_eq!(e.to_string(), "groups CSV: line 2: group \"x\" lists itself as a parent");
        assert_eq!(e.line(), Some(2));
        assert!(matches!(e.root(), CsvError::SelfParent { .. }));
        let e = load(b"employee_id,email\nE1,nope\n", None, &CsvMapping::default()).unwrap_err();
        assert!(e.to_string().starts_with("people CSV: line 2: invalid email"), "{e}");
    }

    #[test]
    fn load_files_reports_paths() {
        let dir = std::env::temp_dir().join(format!("tenure-sources-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let people_path = dir.join("people.csv");
        let groups_path = dir.join("groups.csv");
        std::fs::write(&people_path, "employee_id,email\nE1,a@x.io\nE1,b@x.io\n").unwrap();
        std::fs::write(&groups_path, "name,parents\neng,\n").unwrap();

        let e = load_files(&people_path, Some(&groups_path), &CsvMapping::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: line 3: duplicate employee_id \"E1\" (first seen on line 2)", people_path.display())
        );
        assert!(!e.is_retryable());

        std::fs::write(&people_path, "employee_id,email\nE1,a@x.io\n").unwrap();
        let batch = load_files(&people_path, Some(&groups_path), &CsvMapping::default()).unwrap();
        assert_eq!((batch.people.len(), batch.groups.len()), (1, 1));

        let missing = dir.join("missing.csv");
        let e = load_files(&people_path, Some(&missing), &CsvMapping::default()).unwrap_err();
        assert!(matches!(&e, CsvError::Io { path, .. } if path == &missing), "{e}");
        assert!(e.to_string().contains("missing.csv"), "{e}");
        assert!(e.is_retryable());
        assert_eq!(e.line(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
