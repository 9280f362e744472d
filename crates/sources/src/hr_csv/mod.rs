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
//! - CRLF line endings and quoted fields (with delimiters or line breaks) are fine.
//! - [`CsvFormat`]: the delimiter (`,` `;` tab `|`) is detected from the header unless set; the
//!   encoding is UTF-8 unless set (windows-1252, iso-8859-1, utf-16le/be), and a byte-order mark
//!   (UTF-8, UTF-16 LE/BE) always wins; dates are `YYYY-MM-DD`, or a configured format such as
//!   `DD.MM.YYYY`. With `;` as the delimiter, a `groups` cell listing several groups is quoted.
//! - Every row problem is reported, up to [`MAX_ROW_ERRORS`], each with its line and column;
//!   a problem with the file as a whole (encoding, header, a missing column) stops at once.
//! - A file that is empty or has only a header yields no people; deciding whether an empty
//!   snapshot is plausible is the caller's job.

mod error;
mod format;
mod table;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tenure_core::import::{ImportBatch, ImportGroup, ImportedPerson};
use tenure_core::model::{OrgUnitPath, PersonStatus};
use time::Date;

pub use error::{CsvError, MAX_ROW_ERRORS, Problem};
pub use format::{CsvFormat, DateFormat, Delimiter, Encoding};

use error::RowErrors;
use table::Table;

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

/// Reads the people file and, when given, the groups file into one batch.
pub fn load(
    people: &[u8],
    groups: Option<&[u8]>,
    mapping: &CsvMapping,
    format: &CsvFormat,
) -> Result<ImportBatch, CsvError> {
    let people = parse_people(people, mapping, format).map_err(|e| e.in_file("people CSV"))?;
    let groups = match groups {
        Some(bytes) => parse_groups(bytes, format).map_err(|e| e.in_file("groups CSV"))?,
        None => Vec::new(),
    };
    Ok(ImportBatch { people, groups })
}

/// [`load`] from files; errors name the file.
pub fn load_files(
    people_path: &Path,
    groups_path: Option<&Path>,
    mapping: &CsvMapping,
    format: &CsvFormat,
) -> Result<ImportBatch, CsvError> {
    let people_bytes = read_file(people_path)?;
    let groups_bytes = groups_path.map(|path| read_file(path).map(|bytes| (path, bytes))).transpose()?;
    let people =
        parse_people(&people_bytes, mapping, format).map_err(|e| e.in_file(people_path.display().to_string()))?;
    let groups = match groups_bytes {
        Some((path, bytes)) => parse_groups(&bytes, format).map_err(|e| e.in_file(path.display().to_string()))?,
        None => Vec::new(),
    };
    Ok(ImportBatch { people, groups })
}

/// Reads a whole file; the error names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CsvError> {
    std::fs::read(path).map_err(|source| CsvError::Io { path: path.to_owned(), source })
}

/// Parses the people file. Every row problem is reported (up to [`MAX_ROW_ERRORS`]), not only
/// the first, so a file can be fixed in one pass.
///
/// Rows are built on every core (each person from its own fields: most of parsing's time at
/// 100,000 people is making their records); only the uniqueness of keys and addresses needs the
/// rows before, and is checked after, in file order, so the first of two rows keeps its value.
pub fn parse_people(bytes: &[u8], mapping: &CsvMapping, format: &CsvFormat) -> Result<Vec<ImportedPerson>, CsvError> {
    let mut errors = RowErrors::default();
    let Some(table) = Table::read(bytes, format, &mut errors)? else {
        return Ok(Vec::new());
    };
    let columns = PeopleColumns::resolve(&table, mapping)?;
    let expected_date = match &format.date_format {
        Some(f) => format!("YYYY-MM-DD or {f}"),
        None => "YYYY-MM-DD".to_owned(),
    };
    let rows: Vec<table::Row<'_>> = table.rows().collect();
    let builder = RowBuilder { table: &table, columns: &columns, format, expected_date: &expected_date };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_PARSE_THREADS);
    let chunk = rows.len().div_ceil(threads).max(MIN_ROWS_PER_THREAD);
    let built: Vec<Vec<BuiltRow<'_>>> = if rows.len() <= chunk {
        vec![builder.build_all(&rows)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = rows.chunks(chunk).map(|part| scope.spawn(|| builder.build_all(part))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    };

    let name = |index: usize| table.columns[index].clone();
    let mut seen_keys: HashMap<&str, u64> = HashMap::with_capacity(rows.len());
    // Keyed by the lowercased address, borrowed from the file when it is lowercase already.
    let mut seen_emails: HashMap<Cow<'_, str>, u64> = HashMap::with_capacity(rows.len());
    let mut people = Vec::with_capacity(rows.len());
    for row in built.into_iter().flatten() {
        let BuiltRow { line, key, email, user_name, email_problem, problems, person } = row;
        let problems_before = errors.len();
        if key.is_empty() {
            errors.push(CsvError::EmptyValue { line, column: name(columns.employee_id) });
        } else if let Some(&first_line) = seen_keys.get(key) {
            errors.push(CsvError::Duplicate {
                line,
                column: name(columns.employee_id),
                value: key.to_owned(),
                first_line,
            });
        } else {
            seen_keys.insert(key, line);
        }
        match email_problem {
            Some(problem) => errors.push(problem),
            None => match seen_emails.get(&user_name) {
                Some(&first_line) => errors.push(CsvError::Duplicate {
                    line,
                    column: name(columns.email),
                    value: email.to_owned(),
                    first_line,
                }),
                None => {
                    seen_emails.insert(user_name, line);
                }
            },
        }
        for problem in problems {
            errors.push(problem);
        }
        if errors.len() > problems_before {
            continue;
        }
        if let Some(person) = person {
            people.push(person);
        }
    }
    errors.finish()?;
    Ok(people)
}

/// Threads one people file is built on, at most.
const MAX_PARSE_THREADS: usize = 4;
/// Below this many rows a thread costs more than it saves.
const MIN_ROWS_PER_THREAD: usize = 4_096;

/// What building a row found: its person when the row itself has no problem, and what the
/// uniqueness checks need.
struct BuiltRow<'t> {
    line: u64,
    key: &'t str,
    email: &'t str,
    /// The lowercased address (borrowed when the file's is lowercase already).
    user_name: Cow<'t, str>,
    /// An empty or malformed address: checked for uniqueness only when there is none.
    email_problem: Option<CsvError>,
    /// The row's other problems, in the order of its columns below.
    problems: Vec<CsvError>,
    person: Option<ImportedPerson>,
}

/// Builds rows of one table, sharing nothing mutable, so parts of a file build on threads.
struct RowBuilder<'a> {
    table: &'a Table,
    columns: &'a PeopleColumns,
    format: &'a CsvFormat,
    expected_date: &'a str,
}

impl<'a> RowBuilder<'a> {
    fn build_all(&self, rows: &[table::Row<'a>]) -> Vec<BuiltRow<'a>> {
        // Org units repeat from person to person: each distinct value is checked once.
        let mut org_units: HashMap<&'a str, Option<OrgUnitPath>> = HashMap::new();
        rows.iter().map(|row| self.build(*row, &mut org_units)).collect()
    }

    fn build(&self, row: table::Row<'a>, org_units: &mut HashMap<&'a str, Option<OrgUnitPath>>) -> BuiltRow<'a> {
        let (table, columns, format) = (self.table, self.columns, self.format);
        let line = row.line;
        let value = |index: Option<usize>| index.map(|i| row.field(i)).filter(|v| !v.is_empty());
        let optional = |index: Option<usize>| value(index).map(str::to_owned);
        let mut problems = Vec::new();

        let key = row.field(columns.employee_id);
        let email = row.field(columns.email);
        let user_name = if email.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) {
            Cow::Owned(email.to_lowercase())
        } else {
            Cow::Borrowed(email)
        };
        let email_problem = if email.is_empty() {
            Some(CsvError::EmptyValue { line, column: table.columns[columns.email].clone() })
        } else {
            check_email(email).err().map(|reason| CsvError::InvalidEmail {
                line,
                column: table.columns[columns.email].clone(),
                value: email.to_owned(),
                reason,
            })
        };

        let org_unit = value(columns.org_unit).and_then(|raw| {
            let parsed = org_units.entry(raw).or_insert_with(|| OrgUnitPath::parse(raw).ok()).clone();
            if parsed.is_none() {
                problems.push(CsvError::InvalidOrgUnit {
                    line,
                    column: table.column_name(columns.org_unit),
                    value: raw.to_owned(),
                });
            }
            parsed
        });
        let status = match value(columns.status) {
            None => PersonStatus::Active,
            Some(raw) if raw.eq_ignore_ascii_case("active") => PersonStatus::Active,
            Some(raw) if raw.eq_ignore_ascii_case("suspended") => PersonStatus::Suspended,
            Some(raw) => {
                problems.push(CsvError::InvalidStatus {
                    line,
                    column: table.column_name(columns.status),
                    value: raw.to_owned(),
                });
                PersonStatus::Active
            }
        };
        let mut date = |index: Option<usize>| {
            let raw = value(index)?;
            let parsed = parse_date(raw).or_else(|| format.date_format.as_ref().and_then(|f| f.parse_date(raw)));
            if parsed.is_none() {
                problems.push(CsvError::InvalidDate {
                    line,
                    column: table.column_name(index),
                    value: raw.to_owned(),
                    expected: self.expected_date.to_owned(),
                });
            }
            parsed
        };
        let start_date = date(columns.start_date);
        let leave_date = date(columns.leave_date);
        let clean = !key.is_empty() && email_problem.is_none() && problems.is_empty();
        let person = clean.then(|| {
            let groups = value(columns.groups).map(split_list).unwrap_or_default();
            let custom: BTreeMap<String, String> = columns
                .custom
                .iter()
                .filter(|&&i| !row.field(i).is_empty())
                .map(|&i| (table.columns[i].clone(), row.field(i).to_owned()))
                .collect();
            ImportedPerson {
                source_key: key.to_owned(),
                user_name: user_name.clone().into_owned(),
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
            }
        });
        BuiltRow { line, key, email, user_name, email_problem, problems, person }
    }
}

/// Parses the groups file: columns `name` (required) and `parents` (groups this one is nested
/// in, separated by `;`). Groups only named as parents, or only in the people file, need no row
/// of their own. Cycles across groups are left to the reconciler, which tolerates them; a group
/// that is its own parent is rejected because it can only be a typo.
pub fn parse_groups(bytes: &[u8], format: &CsvFormat) -> Result<Vec<ImportGroup>, CsvError> {
    const EXPECTED: &str = "a groups file has the columns \"name\" and \"parents\"";
    let mut errors = RowErrors::default();
    let Some(table) = Table::read(bytes, format, &mut errors)? else {
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
    let mut groups = Vec::with_capacity(table.len());
    for row in table.rows() {
        let line = row.line;
        let name = row.field(name_column);
        if name.is_empty() {
            errors.push(CsvError::EmptyValue { line, column: "name".to_owned() });
            continue;
        }
        if let Some(&first_line) = seen.get(name) {
            errors.push(CsvError::DuplicateGroup { line, group: name.to_owned(), first_line });
            continue;
        }
        seen.insert(name, line);
        let parents = parents_column.map(|i| split_list(row.field(i))).unwrap_or_default();
        if parents.iter().any(|p| p == name) {
            errors.push(CsvError::SelfParent { line, group: name.to_owned() });
            continue;
        }
        groups.push(ImportGroup { name: name.to_owned(), parents });
    }
    errors.finish()?;
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
    // The digits are checked above; building the date from them is several times faster than
    // `Date::parse`, and a date that does not exist (2024-02-30) is refused the same.
    let number = |range: std::ops::Range<usize>| b[range].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let year = i32::try_from(number(0..4)).ok()?;
    let month = time::Month::try_from(u8::try_from(number(5..7)).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(number(8..10)).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn people(csv: &str) -> Result<Vec<ImportedPerson>, CsvError> {
        parse_people(csv.as_bytes(), &CsvMapping::default(), &CsvFormat::default())
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
        let people = parse_people(csv.as_bytes(), &mapping, &CsvFormat::default()).unwrap();
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
    fn a_file_built_on_several_threads_reads_as_one() {
        // Over MIN_ROWS_PER_THREAD rows, so parts are built apart: order, duplicates across
        // parts (the first keeps its value) and each row's problems are as from one reader.
        let mut csv = String::from("employee_id,email,start_date\n");
        for i in 0..12_000 {
            match i {
                9_000 => csv.push_str("E10,dup-key@x.io,\n"),
                10_500 => csv.push_str("E10500,P7@X.IO,\n"),
                11_000 => csv.push_str("E11000,late@x.io,2024-13-01\n"),
                _ => csv.push_str(&format!("E{i},p{i}@x.io,\n")),
            }
        }
        let Err(CsvError::Rows { errors, omitted: 0 }) = people(&csv) else { panic!("three problems") };
        let found: Vec<(Option<u64>, String)> = errors.iter().map(|e| (e.line(), e.to_string())).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(matches!(&errors[0], CsvError::Duplicate { line: 9_002, first_line: 12, .. }), "{found:?}");
        assert!(
            matches!(&errors[1], CsvError::Duplicate { line: 10_502, first_line: 9, column, .. } if column == "email"),
            "{found:?}"
        );
        assert!(matches!(&errors[2], CsvError::InvalidDate { line: 11_002, .. }), "{found:?}");

        let clean: String = csv
            .lines()
            .enumerate()
            .filter(|(n, _)| ![9_001, 10_501, 11_001].contains(n))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let read = people(&clean).unwrap();
        assert_eq!(read.len(), 11_997);
        assert_eq!((read[0].source_key.as_str(), read[11_996].source_key.as_str()), ("E0", "E11999"));
        assert!(read.windows(2).all(|w| w[0].source_key != w[1].source_key));
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
        let e = parse_people(&csv, &CsvMapping::default(), &CsvFormat::default()).unwrap_err();
        assert!(e.to_string().starts_with("line 3: column \"title\" is not valid UTF-8 (if the file is in"), "{e}");
        assert_eq!((e.line(), e.column().as_deref()), (Some(3), Some("title")));
        csv = b"employee_id,email,t\xffitle\n".to_vec();
        let e = parse_people(&csv, &CsvMapping::default(), &CsvFormat::default()).unwrap_err();
        assert!(e.to_string().starts_with("line 1: header field 3 is not valid UTF-8"), "{e}");
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
        let groups = parse_groups(csv.as_bytes(), &CsvFormat::default()).unwrap();
        assert_eq!(groups.len(), 5);
        assert_eq!(groups[0], ImportGroup { name: "everyone".into(), parents: vec![] });
        assert_eq!(groups[1].parents, vec!["slack-users".to_owned(), "jira-users".to_owned()]);
        assert_eq!(parse_groups(b"name\nsolo\n", &CsvFormat::default()).unwrap()[0].parents, Vec::<String>::new());
        assert!(parse_groups(b"", &CsvFormat::default()).unwrap().is_empty());
    }

    #[test]
    fn groups_file_errors() {
        let e = parse_groups(b"name,parents\neng,\nops,ops;eng\n", &CsvFormat::default()).unwrap_err();
        assert_eq!(e.to_string(), "line 3: group \"ops\" lists itself as a parent");
        let e = parse_groups(b"name,parents\neng,\nops,\neng,x\n", &CsvFormat::default()).unwrap_err();
        assert_eq!(e.to_string(), "line 4: group \"eng\" is listed twice (first on line 2)");
        let e = parse_groups(b"name,parents\n,eng\n", &CsvFormat::default()).unwrap_err();
        assert_eq!(e.to_string(), "line 2: empty name");
        let e = parse_groups(b"group,parents\neng,\n", &CsvFormat::default()).unwrap_err();
        assert!(matches!(&e, CsvError::UnexpectedColumn { line: 1, column, .. } if column == "group"), "{e}");
        let e = parse_groups(b"parents\neng\n", &CsvFormat::default()).unwrap_err();
        assert!(matches!(&e, CsvError::MissingColumn { column, .. } if column == "name"), "{e}");
        let e = parse_groups(b"name,parents\neng\n", &CsvFormat::default()).unwrap_err();
        assert!(matches!(e, CsvError::FieldCount { line: 2, .. }));
    }

    #[test]
    fn load_combines_files_and_names_the_failing_one() {
        let batch = load(
            b"employee_id,email,groups\nE1,a@x.io,eng\n",
            Some(b"name,parents\neng,everyone\n"),
            &CsvMapping::default(),
            &CsvFormat::default(),
        )
        .unwrap();
        assert_eq!((batch.people.len(), batch.groups.len()), (1, 1));
        let batch = load(b"employee_id,email\n", None, &CsvMapping::default(), &CsvFormat::default()).unwrap();
        assert!(batch.people.is_empty() && batch.groups.is_empty());

        let e = load(
            b"employee_id,email\nE1,a@x.io\n",
            Some(b"name,parents\nx,x\n"),
            &CsvMapping::default(),
            &CsvFormat::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "groups CSV: line 2: group \"x\" lists itself as a parent");
        assert_eq!(e.line(), Some(2));
        assert!(matches!(e.root(), CsvError::SelfParent { .. }));
        let e = load(b"employee_id,email\nE1,nope\n", None, &CsvMapping::default(), &CsvFormat::default()).unwrap_err();
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

        let e =
            load_files(&people_path, Some(&groups_path), &CsvMapping::default(), &CsvFormat::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: line 3: duplicate employee_id \"E1\" (first seen on line 2)", people_path.display())
        );
        assert!(!e.is_retryable());

        std::fs::write(&people_path, "employee_id,email\nE1,a@x.io\n").unwrap();
        let batch =
            load_files(&people_path, Some(&groups_path), &CsvMapping::default(), &CsvFormat::default()).unwrap();
        assert_eq!((batch.people.len(), batch.groups.len()), (1, 1));

        let missing = dir.join("missing.csv");
        let e = load_files(&people_path, Some(&missing), &CsvMapping::default(), &CsvFormat::default()).unwrap_err();
        assert!(matches!(&e, CsvError::Io { path, .. } if path == &missing), "{e}");
        assert!(e.to_string().contains("missing.csv"), "{e}");
        assert!(e.is_retryable());
        assert_eq!(e.line(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
