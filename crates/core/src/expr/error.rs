//! Errors of the expression language: [`ExprError`] when an expression is saved (it points at the
//! offending text), [`EvalError`] when a valid expression cannot produce a value for one person.

use std::ops::Range;

/// A parse or validation error. `line` and `column` are 1-based and count characters, so an
/// editor can put a caret under `span` (a byte range into the source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ExprError {
    pub line: usize,
    pub column: usize,
    pub span: Range<usize>,
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(src: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = floor_char_boundary(src, span.start.min(src.len()));
        let end = floor_char_boundary(src, span.end.clamp(start, src.len()));
        let before = &src[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = src[line_start..start].chars().count() + 1;
        Self { line, column, span: start..end, message: message.into() }
    }

    /// The offending source line with a caret line under the span, for terminals and logs:
    ///
    /// ```text
    /// lowr(givenName)
    /// ^^^^ unknown function 'lowr' (did you mean 'lower'?)
    /// ```
    pub fn render(&self, src: &str) -> String {
        let start = floor_char_boundary(src, self.span.start.min(src.len()));
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_text = src[line_start..].split('\n').next().unwrap_or_default();
        let line_end = line_start + line_text.len();
        let end = floor_char_boundary(src, self.span.end.clamp(start, line_end.max(start)));
        let width = src[start..end].chars().count().max(1);
        format!("{line_text}\n{}{} {}", " ".repeat(self.column - 1), "^".repeat(width), self.message)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why a valid expression produced no value for one person. Rare by construction: the language
/// has no runtime type errors, so only the bounds and unique-value generation can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("value too long: more than {limit} bytes")]
    TooLong { limit: usize },
    #[error("no unique value: '{base}' and its numbered forms up to '{base}{last}' are all taken")]
    UniqueExhausted { base: String, last: u32 },
}
