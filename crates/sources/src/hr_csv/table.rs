//! A decoded CSV file: trimmed header names and trimmed values, every row as wide as the header,
//! each with its physical line number.

use std::collections::HashMap;

use csv::ByteRecord;

use super::error::{CsvError, RowErrors};
use super::format::{CsvFormat, Delimiter, decode};

pub(crate) struct Table {
    pub(crate) header_line: u64,
    pub(crate) columns: Vec<String>,
    /// Every kept row's trimmed values one after another: one allocation for the file rather
    /// than one per field (a million and a half at 100,000 people, most of parsing's time).
    text: String,
    /// Where each value ends in `text`, after a leading 0: row `r`'s values lie between
    /// `ends[r * width ..= (r + 1) * width]`.
    ends: Vec<usize>,
    /// Each kept row's physical line.
    lines: Vec<u64>,
}

/// One row of a [`Table`], borrowed.
#[derive(Clone, Copy)]
pub(crate) struct Row<'t> {
    pub(crate) line: u64,
    text: &'t str,
    /// This row's `width + 1` bounds.
    bounds: &'t [usize],
}

impl<'t> Row<'t> {
    /// The trimmed value of field `index`.
    pub(crate) fn field(&self, index: usize) -> &'t str {
        &self.text[self.bounds[index]..self.bounds[index + 1]]
    }
}

impl Table {
    /// `None` for a file without even a header. Rows that are malformed (wrong width, bad
    /// UTF-8, a value under an unnamed column) go to `errors` and are left out.
    pub(crate) fn read(bytes: &[u8], format: &CsvFormat, errors: &mut RowErrors) -> Result<Option<Self>, CsvError> {
        let (bytes, validate) =
            decode(bytes, format.encoding).map_err(|e| CsvError::Decode { line: e.line, message: e.message })?;
        let bytes = &*bytes;
        let delimiter = format.delimiter.unwrap_or_else(|| {
            let header_start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(bytes.len());
            Delimiter::detect(&bytes[header_start..])
        });
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter.byte()).from_reader(bytes);
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
                let mut header = Self::header(&record, line)?;
                header.text.reserve(bytes.len());
                table = Some(header);
                continue;
            };
            if record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            if record.len() != table.columns.len() {
                errors.push(CsvError::FieldCount { line, expected: table.columns.len(), found: record.len() });
                continue;
            }
            let (text_len, ends_len) = (table.text.len(), table.ends.len());
            let mut ok = true;
            for (i, raw) in record.iter().enumerate() {
                let value = if validate {
                    match std::str::from_utf8(raw) {
                        Ok(v) => v,
                        Err(_) => {
                            errors.push(CsvError::InvalidUtf8 { line, column: table.field_label(i) });
                            ok = false;
                            continue;
                        }
                    }
                } else {
                    // Decoded from another encoding into UTF-8 by us, and the csv reader splits
                    // only at ASCII bytes, so a field cannot cut a character in two.
                    std::str::from_utf8(raw).unwrap_or_default()
                };
                let value = value.trim();
                if table.columns[i].is_empty() && !value.is_empty() {
                    errors.push(CsvError::UnnamedColumn { line, field: i + 1 });
                    ok = false;
                }
                table.text.push_str(value);
                table.ends.push(table.text.len());
            }
            if ok {
                table.lines.push(line);
            } else {
                table.text.truncate(text_len);
                table.ends.truncate(ends_len);
            }
        }
        Ok(table)
    }

    /// How many rows were kept.
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    pub(crate) fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        let width = self.columns.len();
        self.lines.iter().enumerate().map(move |(r, &line)| Row {
            line,
            text: &self.text,
            bounds: &self.ends[r * width..=(r + 1) * width],
        })
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
        Ok(Self { header_line: line, columns, text: String::new(), ends: vec![0], lines: Vec::new() })
    }

    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        if name.is_empty() {
            return None;
        }
        self.columns.iter().position(|c| c == name)
    }

    pub(crate) fn named_columns(&self) -> Vec<String> {
        self.columns.iter().filter(|c| !c.is_empty()).cloned().collect()
    }

    pub(crate) fn column_name(&self, index: Option<usize>) -> String {
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
