//! How an export is written: field delimiter, text encoding and date format. HR systems differ
//! (a German Excel export is `;`-separated Windows-1252 with `DD.MM.YYYY` dates; Workday writes
//! UTF-8 with `,`), so each can be configured, and the delimiter and a BOM are detected when not.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// The delimiter, encoding and extra date format of a source's files. `None` fields are
/// detected (delimiter) or defaulted (UTF-8, ISO dates only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvFormat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<Delimiter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// Accepted for dates besides `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<DateFormat>,
}

impl CsvFormat {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The field delimiters HR exports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
    Pipe,
}

impl Delimiter {
    pub const ALL: [Delimiter; 4] = [Self::Comma, Self::Semicolon, Self::Tab, Self::Pipe];

    pub fn byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Semicolon => b';',
            Self::Tab => b'\t',
            Self::Pipe => b'|',
        }
    }

    /// The delimiter of a file whose header line is `header`: the candidate that occurs most
    /// often outside quotes, `,` when none occurs (a one-column file). A header names columns,
    /// so a delimiter inside a column name is rare enough not to outvote the real one.
    pub fn detect(header: &[u8]) -> Delimiter {
        let mut counts = [0usize; 4];
        let mut quoted = false;
        for &b in header {
            match b {
                b'"' => quoted = !quoted,
                b'\r' | b'\n' if !quoted => break,
                _ if !quoted => {
                    if let Some(i) = Self::ALL.iter().position(|d| d.byte() == b) {
                        counts[i] += 1;
                    }
                }
                _ => {}
            }
        }
        let mut best = Self::Comma;
        let mut best_count = 0;
        for (d, n) in Self::ALL.into_iter().zip(counts) {
            if n > best_count {
                (best, best_count) = (d, n);
            }
        }
        best
    }
}

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "," | "comma" => Self::Comma,
            ";" | "semicolon" => Self::Semicolon,
            "\t" | "\\t" | "tab" => Self::Tab,
            "|" | "pipe" => Self::Pipe,
            other => return Err(format!("unknown delimiter {other:?}: expected , ; tab or |")),
        })
    }
}

/// Text encodings. A byte-order mark always wins over the configured encoding: it is
/// unambiguous, and Excel writes one for "CSV UTF-8" and "Unicode Text".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    /// What Excel on Windows writes in western locales; a superset of ISO-8859-1's printable
    /// characters.
    #[serde(rename = "windows-1252")]
    Windows1252,
    #[serde(rename = "iso-8859-1")]
    Latin1,
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Self::Utf8,
            "utf-16le" | "utf-16-le" => Self::Utf16Le,
            "utf-16be" | "utf-16-be" => Self::Utf16Be,
            "windows-1252" | "cp1252" => Self::Windows1252,
            "iso-8859-1" | "latin1" | "latin-1" => Self::Latin1,
            other => {
                return Err(format!(
                    "unknown encoding {other:?}: expected utf-8, utf-16le, utf-16be, windows-1252 or iso-8859-1"
                ));
            }
        })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utf8 => "utf-8",
            Self::Utf16Le => "utf-16le",
            Self::Utf16Be => "utf-16be",
            Self::Windows1252 => "windows-1252",
            Self::Latin1 => "iso-8859-1",
        })
    }
}

/// Why bytes could not be decoded; `line` is physical and 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub line: u64,
    pub message: String,
}

/// The file as UTF-8 without a BOM, and whether the bytes still need UTF-8 validation (left to
/// the table reader, which can then name the line and column of a bad field).
pub(crate) fn decode(bytes: &[u8], configured: Option<Encoding>) -> Result<(Cow<'_, [u8]>, bool), DecodeError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return Ok((Cow::Borrowed(rest), true));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes).map(|s| (Cow::Owned(s.into_bytes()), false));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes).map(|s| (Cow::Owned(s.into_bytes()), false));
    }
    match configured {
        None | Some(Encoding::Utf8) => Ok((Cow::Borrowed(bytes), true)),
        Some(Encoding::Utf16Le) => utf16(bytes, u16::from_le_bytes).map(|s| (Cow::Owned(s.into_bytes()), false)),
        Some(Encoding::Utf16Be) => utf16(bytes, u16::from_be_bytes).map(|s| (Cow::Owned(s.into_bytes()), false)),
        Some(Encoding::Windows1252) => Ok((Cow::Owned(single_byte(bytes, windows_1252).into_bytes()), false)),
        Some(Encoding::Latin1) => Ok((Cow::Owned(single_byte(bytes, char::from).into_bytes()), false)),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, DecodeError> {
    let (pairs, rest) = bytes.as_chunks::<2>();
    let mut out = String::with_capacity(bytes.len());
    let mut line = 1;
    let mut after_cr = false;
    for c in char::decode_utf16(pairs.iter().map(|p| unit(*p))) {
        let c = c.map_err(|e| DecodeError {
            line,
            message: format!("invalid UTF-16: unpaired surrogate {:#06x}", e.unpaired_surrogate()),
        })?;
        if c == '\n' && !after_cr || c == '\r' {
            line += 1;
        }
        after_cr = c == '\r';
        out.push(c);
    }
    if !rest.is_empty() {
        return Err(DecodeError { line, message: "invalid UTF-16: the file ends in the middle of a character".into() });
    }
    Ok(out)
}

fn single_byte(bytes: &[u8], map: fn(u8) -> char) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    out.extend(bytes.iter().map(|&b| map(b)));
    out
}

/// Windows-1252 as the WHATWG Encoding Standard maps it: 0x80–0x9F hold typographic characters,
/// the five bytes it leaves undefined map to the C1 controls of the same value, everything else
/// is ISO-8859-1. https://encoding.spec.whatwg.org/index-windows-1252.txt
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
        '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
        '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
        '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// A date format such as `DD.MM.YYYY` or `MM/DD/YYYY`: `YYYY`, `MM` and `DD` once each, in any
/// order, separated by single non-alphanumeric characters. Strict on width, like the ISO form:
/// `1.2.2024` is not `01.02.2024`, since a lenient reading is how day and month get swapped
/// unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DateFormat {
    pattern: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Year,
    Month,
    Day,
    Literal(u8),
}

impl DateFormat {
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn parse_date(&self, raw: &str) -> Option<Date> {
        let mut rest = raw.as_bytes();
        let (mut year, mut month, mut day) = (0i32, 0u8, 0u8);
        for part in &self.parts {
            let width = match part {
                Part::Year => 4,
                Part::Month | Part::Day => 2,
                Part::Literal(c) => {
                    rest = rest.strip_prefix(&[*c])?;
                    continue;
                }
            };
            let (digits, tail) = rest.split_at_checked(width)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = digits.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
            match part {
                Part::Year => year = n,
                Part::Month => month = u8::try_from(n).ok()?,
                _ => day = u8::try_from(n).ok()?,
            }
            rest = tail;
        }
        if !rest.is_empty() {
            return None;
        }
        Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
    }
}

impl FromStr for DateFormat {
    type Err = String;

    fn from_str(pattern: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        while !rest.is_empty() {
            let (part, len) = if rest.starts_with("YYYY") {
                (Part::Year, 4)
            } else if rest.starts_with("MM") {
                (Part::Month, 2)
            } else if rest.starts_with("DD") {
                (Part::Day, 2)
            } else {
                let c = rest.as_bytes()[0];
                if c.is_ascii_alphanumeric() || !c.is_ascii() {
                    return Err(format!(
                        "date format {pattern:?}: unexpected {:?}; use YYYY, MM and DD with separators, e.g. DD.MM.YYYY",
                        rest.chars().next().unwrap_or_default()
                    ));
                }
                (Part::Literal(c), 1)
            };
            if !matches!(part, Part::Literal(_)) && parts.contains(&part) {
                return Err(format!("date format {pattern:?}: {} appears twice", &rest[..len]));
            }
            parts.push(part);
            rest = &rest[len..];
        }
        for (part, name) in [(Part::Year, "YYYY"), (Part::Month, "MM"), (Part::Day, "DD")] {
            if !parts.contains(&part) {
                return Err(format!("date format {pattern:?}: {name} is missing"));
            }
        }
        Ok(Self { pattern: pattern.to_owned(), parts })
    }
}

impl TryFrom<String> for DateFormat {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DateFormat> for String {
    fn from(f: DateFormat) -> String {
        f.pattern
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn delimiter_is_detected_from_the_header_outside_quotes() {
        assert_eq!(Delimiter::detect(b"employee_id,email,title\n1;2;3;4;5"), Delimiter::Comma);
        assert_eq!(Delimiter::detect(b"employee_id;email;\"a,b,c\"\r\n"), Delimiter::Semicolon);
        assert_eq!(Delimiter::detect(b"employee_id\temail\n"), Delimiter::Tab);
        assert_eq!(Delimiter::detect(b"employee_id|email|x"), Delimiter::Pipe);
        assert_eq!(Delimiter::detect(b"employee_id\n"), Delimiter::Comma);
        assert_eq!(Delimiter::detect(b""), Delimiter::Comma);
        assert_eq!("tab".parse::<Delimiter>(), Ok(Delimiter::Tab));
        assert_eq!(";".parse::<Delimiter>(), Ok(Delimiter::Semicolon));
        assert!(":".parse::<Delimiter>().is_err());
    }

    #[test]
    fn boms_win_and_utf8_is_left_for_validation() {
        let (out, validate) = decode(b"\xEF\xBB\xBFa,b", Some(Encoding::Windows1252)).unwrap();
        assert_eq!((&*out, validate), (&b"a,b"[..], true));
        let (out, validate) = decode(b"a,\xe9", None).unwrap();
        assert_eq!((&*out, validate), (&b"a,\xe9"[..], true));
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "name,title\nJosé,Ingénieur 🚀\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let with_bom = |bom: &[u8], body: &[u8]| [bom, body].concat();
        for (bytes, configured) in [
            (with_bom(b"\xFF\xFE", &le), None),
            (with_bom(b"\xFE\xFF", &be), None),
            (le.clone(), Some(Encoding::Utf16Le)),
            (be, Some(Encoding::Utf16Be)),
        ] {
            let (out, validate) = decode(&bytes, configured).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
            assert!(!validate);
        }
        // An unpaired surrogate on the second line, and a truncated file.
        let mut bad: Vec<u8> = "a\r\nb".encode_utf16().flat_map(u16::to_le_bytes).collect();
        bad.extend(0xD800u16.to_le_bytes());
        bad.extend(u16::from(b'x').to_le_bytes());
        let e = decode(&with_bom(b"\xFF\xFE", &bad), None).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.message.contains("unpaired surrogate 0xd800"), "{e:?}");
        let e = decode(&with_bom(b"\xFF\xFE", &le[..le.len() - 1]), None).unwrap_err();
        assert!(e.message.contains("middle of a character"), "{e:?}");
    }

    #[test]
    fn windows_1252_and_latin1() {
        let bytes = b"Andr\xe9 \x80 \x93 \x9f \x81";
        let (out, _) = decode(bytes, Some(Encoding::Windows1252)).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), "André € “ Ÿ \u{81}");
        let (out, _) = decode(bytes, Some(Encoding::Latin1)).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), "André \u{80} \u{93} \u{9f} \u{81}");
        assert_eq!("Windows-1252".parse::<Encoding>(), Ok(Encoding::Windows1252));
        assert_eq!("latin1".parse::<Encoding>(), Ok(Encoding::Latin1));
        assert!("ebcdic".parse::<Encoding>().is_err());
    }

    #[test]
    fn date_formats() {
        let de: DateFormat = "DD.MM.YYYY".parse().unwrap();
        assert_eq!(de.parse_date("31.12.2024"), Some(date!(2024 - 12 - 31)));
        for bad in ["1.2.2024", "31.12.24", "31-12-2024", "30.02.2024", "31.12.2024 ", "aa.bb.cccc", "00.01.2024"] {
            assert_eq!(de.parse_date(bad), None, "{bad}");
        }
        let us: DateFormat = "MM/DD/YYYY".parse().unwrap();
        assert_eq!(us.parse_date("02/29/2024"), Some(date!(2024 - 02 - 29)));
        assert_eq!(us.parse_date("13/01/2024"), None);
        let compact: DateFormat = "YYYYMMDD".parse().unwrap();
        assert_eq!(compact.parse_date("20240131"), Some(date!(2024 - 01 - 31)));
        for bad in ["DD.MM", "DD.MM.YY", "DD.DD.YYYY", "D.M.YYYY", "DD.MM.YYYYé"] {
            assert!(bad.parse::<DateFormat>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&de).unwrap();
        assert_eq!(json, "\"DD.MM.YYYY\"");
        assert_eq!(serde_json::from_str::<DateFormat>(&json).unwrap(), de);
        assert!(serde_json::from_str::<DateFormat>("\"DD.MM\"").is_err());
    }
}
