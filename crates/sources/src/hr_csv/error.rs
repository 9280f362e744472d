//! Why an export could not be imported. Row problems are collected (up to [`MAX_ROW_ERRORS`])
//! so whoever fixes the file can fix it in one pass; problems with the file as a whole (unreadable,
//! undecodable, a missing column) stop at once, since every row would repeat them.

use std::path::PathBuf;

/// How many row problems an error lists; the rest are counted.
pub const MAX_ROW_ERRORS: usize = 100;

/// Lines are physical, 1-based line numbers; the header is line 1 unless blank lines precede it.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Another error, with the file it came from.
    #[error("{file}: {error}")]
    InFile { file: String, error: Box<CsvError> },
    /// Several row problems, sorted by line; `omitted` more were found but not listed.
    #[error("{}", rows_message(.errors, *.omitted))]
    Rows { errors: Vec<CsvError>, omitted: usize },
    #[error("line {line}: malformed CSV: {message}")]
    Malformed { line: u64, message: String },
    #[error("line {line}: {message}")]
    Decode { line: u64, message: String },
    #[error(
        "line {line}: {column} is not valid UTF-8 (if the file is in another encoding, configure it, e.g. \
         --encoding windows-1252)"
    )]
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
    #[error("line {line}: invalid {column} {value:?}: {reason}")]
    InvalidEmail { line: u64, column: String, value: String, reason: &'static str },
    #[error("line {line}: invalid {column} {value:?}: expected a date as {expected}")]
    InvalidDate { line: u64, column: String, value: String, expected: String },
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

/// One problem as an API reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file it is in (`people CSV`, `groups CSV` or a path), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The problem, without the file and line (those are fields of their own).
    pub message: String,
}

impl CsvError {
    /// The line the error is about (the first one, for several).
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Io { .. } => None,
            Self::InFile { error, .. } => error.line(),
            Self::Rows { errors, .. } => errors.first().and_then(CsvError::line),
            Self::Malformed { line, .. }
            | Self::Decode { line, .. }
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

    /// The column the error is about, when it is about one.
    pub fn column(&self) -> Option<String> {
        match self {
            Self::InFile { error, .. } => error.column(),
            Self::InvalidUtf8 { column, .. } => {
                Some(column.strip_prefix("column ").map_or(column.clone(), |c| c.trim_matches('"').to_owned()))
            }
            Self::DuplicateColumn { column, .. }
            | Self::MissingColumn { column, .. }
            | Self::UnexpectedColumn { column, .. }
            | Self::EmptyValue { column, .. }
            | Self::InvalidEmail { column, .. }
            | Self::InvalidDate { column, .. }
            | Self::InvalidStatus { column, .. }
            | Self::InvalidOrgUnit { column, .. }
            | Self::Duplicate { column, .. } => Some(column.clone()),
            Self::DuplicateGroup { .. } | Self::SelfParent { .. } => Some("name".to_owned()),
            Self::UnnamedColumn { field, .. } => Some(format!("field {field}")),
            _ => None,
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

    /// How many problems the error stands for (listed or not).
    pub fn problem_count(&self) -> usize {
        match self {
            Self::InFile { error, .. } => error.problem_count(),
            Self::Rows { errors, omitted } => errors.len() + omitted,
            _ => 1,
        }
    }

    /// Every problem, one per row problem, with its file, line and column apart.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        self.collect_problems(None, &mut out);
        out
    }

    fn collect_problems(&self, file: Option<&str>, out: &mut Vec<Problem>) {
        match self {
            Self::InFile { file, error } => error.collect_problems(Some(file), out),
            Self::Rows { errors, omitted } => {
                for e in errors {
                    e.collect_problems(file, out);
                }
                if *omitted > 0 {
                    out.push(Problem {
                        file: file.map(str::to_owned),
                        line: None,
                        column: None,
                        message: format!("{omitted} more problems not listed"),
                    });
                }
            }
            other => {
                let text = other.to_string();
                let line = other.line();
                let message = match line.and_then(|l| text.strip_prefix(&format!("line {l}: "))) {
                    Some(rest) => rest.to_owned(),
                    None => text.clone(),
                };
                out.push(Problem { file: file.map(str::to_owned), line, column: other.column(), message });
            }
        }
    }

    pub(crate) fn in_file(self, file: impl Into<String>) -> Self {
        Self::InFile { file: file.into(), error: Box::new(self) }
    }
}

/// Row problems found while reading a file: all of them are kept until the end, then sorted by
/// line (the reader and the field checks find them in two passes) and capped.
#[derive(Default)]
pub(crate) struct RowErrors(Vec<CsvError>);

impl RowErrors {
    pub(crate) fn push(&mut self, e: CsvError) {
        self.0.push(e);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok` when there were none; one problem is returned as itself.
    pub(crate) fn finish(mut self) -> Result<(), CsvError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            n => {
                self.0.sort_by_key(|e| e.line().unwrap_or(0));
                self.0.truncate(MAX_ROW_ERRORS);
                Err(CsvError::Rows { errors: self.0, omitted: n.saturating_sub(MAX_ROW_ERRORS) })
            }
        }
    }
}

fn rows_message(errors: &[CsvError], omitted: usize) -> String {
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let more = if omitted > 0 { format!("; and {omitted} more") } else { String::new() };
    format!("{} problems: {}{more}", errors.len() + omitted, listed.join("; "))
}

fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
}
