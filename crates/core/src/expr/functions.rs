//! The function catalogue (names and arities, for validation and suggestions) and the string
//! operations behind the functions. Every operation that can grow a string checks
//! [`MAX_VALUE_LEN`] before it allocates, so no expression can build an unbounded value.
//!
//! Operations take and return `Cow` so that a value passing through unchanged (already
//! lowercase, already ASCII, nothing to replace) is never copied.

use std::borrow::Cow;

use regex_lite::Regex;

use super::MAX_VALUE_LEN;
use super::error::EvalError;

pub(crate) struct Signature {
    pub name: &'static str,
    pub min: usize,
    /// `None`: any number of arguments from `min` on.
    pub max: Option<usize>,
}

const fn sig(name: &'static str, min: usize, max: Option<usize>) -> Signature {
    Signature { name, min, max }
}

pub(crate) const FUNCTIONS: &[Signature] = &[
    sig("lower", 1, Some(1)),
    sig("upper", 1, Some(1)),
    sig("trim", 1, Some(1)),
    sig("normalize_diacritics", 1, Some(1)),
    sig("concat", 1, None),
    sig("join", 2, Some(2)),
    sig("coalesce", 1, None),
    sig("default", 2, Some(2)),
    sig("replace", 3, Some(3)),
    sig("regex_replace", 3, Some(3)),
    sig("left", 2, Some(2)),
    sig("truncate", 2, Some(2)),
    sig("split", 2, Some(2)),
    sig("switch", 3, None),
    sig("if", 3, Some(3)),
    sig("unique", 1, None),
    sig("is_empty", 1, Some(1)),
    sig("present", 1, Some(1)),
];

pub(crate) fn lookup(name: &str) -> Option<&'static Signature> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl Signature {
    /// `'left' takes 2 arguments, got 1`, or `None` when the count fits.
    pub(crate) fn arity_error(&self, got: usize) -> Option<String> {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match self.max {
            Some(max) if got < self.min || got > max => {
                let expected = if self.min == max {
                    format!("{max} {}", plural(max))
                } else {
                    format!("{} to {max} arguments", self.min)
                };
                Some(format!("'{}' takes {expected}, got {got}", self.name))
            }
            None if got < self.min => {
                Some(format!("'{}' takes at least {} {}, got {got}", self.name, self.min, plural(self.min)))
            }
            _ => None,
        }
    }
}

pub(crate) fn check_len(len: usize) -> Result<(), EvalError> {
    if len > MAX_VALUE_LEN { Err(EvalError::TooLong { limit: MAX_VALUE_LEN }) } else { Ok(()) }
}

/// Keeps the `[start, end)` byte range of a value, reusing the buffer when it is owned.
pub(crate) fn slice(value: Cow<'_, str>, start: usize, end: usize) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..end]),
        Cow::Owned(mut s) => {
            s.truncate(end);
            s.drain(..start);
            Cow::Owned(s)
        }
    }
}

pub(crate) fn lower(value: Cow<'_, str>) -> Result<Cow<'_, str>, EvalError> {
    if value.is_ascii() {
        if !value.bytes().any(|b| b.is_ascii_uppercase()) {
            return Ok(value);
        }
        let mut s = value.into_owned();
        s.make_ascii_lowercase();
        return Ok(Cow::Owned(s));
    }
    if !value.chars().any(char::is_uppercase) {
        return Ok(value);
    }
    let s = value.to_lowercase();
    check_len(s.len())?;
    Ok(Cow::Owned(s))
}

pub(crate) fn upper(value: Cow<'_, str>) -> Result<Cow<'_, str>, EvalError> {
    if value.is_ascii() {
        if !value.bytes().any(|b| b.is_ascii_lowercase()) {
            return Ok(value);
        }
        let mut s = value.into_owned();
        s.make_ascii_uppercase();
        return Ok(Cow::Owned(s));
    }
    if !value.chars().any(char::is_lowercase) {
        return Ok(value);
    }
    let s = value.to_uppercase();
    check_len(s.len())?;
    Ok(Cow::Owned(s))
}

pub(crate) fn trim(value: Cow<'_, str>) -> Cow<'_, str> {
    let start = value.len() - value.trim_start().len();
    let end = value.trim_end().len().max(start);
    slice(value, start, end)
}

/// The first `n` characters.
pub(crate) fn left(value: Cow<'_, str>, n: usize) -> Cow<'_, str> {
    match value.char_indices().nth(n) {
        Some((end, _)) => slice(value, 0, end),
        None => value,
    }
}

/// At most `n` characters, without the separators a cut can leave dangling: `truncate("anna.maria
/// .lindqvist", 11)` gives `anna.maria`, not `anna.maria.`.
pub(crate) fn truncate(value: Cow<'_, str>, n: usize) -> Cow<'_, str> {
    let cut = left(value, n);
    let end = cut.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '-' | '_')).len();
    let len = cut.len();
    if end == len { cut } else { slice(cut, 0, end) }
}

pub(crate) fn replace<'a>(value: Cow<'a, str>, from: &str, to: &str) -> Result<Cow<'a, str>, EvalError> {
    if from.is_empty() || !value.contains(from) {
        return Ok(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = &*value;
    while let Some(at) = rest.find(from) {
        check_len(out.len() + at + to.len())?;
        out.push_str(&rest[..at]);
        out.push_str(to);
        rest = &rest[at + from.len()..];
    }
    check_len(out.len() + rest.len())?;
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Every match replaced by `replacement`, in which `$1`, `${name}` refer to capture groups.
pub(crate) fn regex_replace<'a>(
    value: Cow<'a, str>,
    regex: &Regex,
    replacement: &str,
) -> Result<Cow<'a, str>, EvalError> {
    if !regex.is_match(&value) {
        return Ok(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    for caps in regex.captures_iter(&value) {
        let Some(whole) = caps.get(0) else { continue };
        out.push_str(&value[last..whole.start()]);
        // `expand` writes the whole replacement at once; checking before it would need a second
        // expansion, and one replacement is bounded by the value limit it was built under.
        caps.expand(replacement, &mut out);
        check_len(out.len())?;
        last = whole.end();
    }
    check_len(out.len() + value.len() - last)?;
    out.push_str(&value[last..]);
    Ok(Cow::Owned(out))
}

pub(crate) fn join<'a>(items: &[Cow<'a, str>], sep: &str) -> Result<Option<Cow<'a, str>>, EvalError> {
    match items {
        [] => Ok(None),
        [only] => Ok(Some(only.clone())),
        _ => {
            let total = items.iter().map(|s| s.len()).sum::<usize>() + sep.len() * (items.len() - 1);
            check_len(total)?;
            let mut out = String::with_capacity(total);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push_str(item);
            }
            Ok(Some(Cow::Owned(out)))
        }
    }
}

/// Edit distance counting a swap of neighbours as one edit (`mial` → `mail`), for "did you
/// mean" suggestions on short names.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            let mut d = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate when it is close enough to be a likely typo.
pub(crate) fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (if c.eq_ignore_ascii_case(name) { 0 } else { edit_distance(&name.to_lowercase(), &c.to_lowercase()) }, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_messages() {
        let msg = |name: &str, got| lookup(name).and_then(|s| s.arity_error(got));
        assert_eq!(msg("left", 1).as_deref(), Some("'left' takes 2 arguments, got 1"));
        assert_eq!(msg("lower", 0).as_deref(), Some("'lower' takes 1 argument, got 0"));
        assert_eq!(msg("switch", 2).as_deref(), Some("'switch' takes at least 3 arguments, got 2"));
        assert_eq!(msg("concat", 9), None);
        assert!(FUNCTIONS.iter().all(|f| f.max.is_none_or(|max| max >= f.min)));
    }

    #[test]
    fn suggestions_tolerate_one_typo_per_three_letters() {
        assert_eq!(edit_distance("mial", "mail"), 1);
        assert_eq!(edit_distance("lowr", "lower"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let names = ["lower", "left", "trim"];
        assert_eq!(suggest("LOWER", names), Some("lower"));
        assert_eq!(suggest("lft", names), Some("left"));
        assert_eq!(suggest("xyz", names), None);
    }

    #[test]
    fn slicing_reuses_owned_buffers_and_borrows_borrowed_ones() {
        assert!(matches!(trim(Cow::Borrowed("  a ")), Cow::Borrowed("a")));
        assert_eq!(trim(Cow::Owned("  a ".into())), "a");
        assert_eq!(left(Cow::Owned("éèê".into()), 2), "éè");
        assert_eq!(truncate(Cow::Borrowed("ab.cd"), 3), "ab");
        assert_eq!(truncate(Cow::Borrowed("..."), 2), "");
        assert!(matches!(lower(Cow::Borrowed("abc")), Ok(Cow::Borrowed("abc"))));
        assert_eq!(upper(Cow::Borrowed("ß")).ok().as_deref(), Some("SS"));
    }

    #[test]
    fn growth_is_checked_before_it_happens() {
        let long = "x".repeat(MAX_VALUE_LEN);
        assert!(replace(Cow::Borrowed(&long), "x", "yy").is_err());
        assert!(replace(Cow::Borrowed(&long), "x", "y").is_ok());
        let re = Regex::new("x").ok();
        assert!(re.is_some_and(|re| regex_replace(Cow::Borrowed(&long), &re, "$0$0").is_err()));
        let items = [Cow::Borrowed(long.as_str()), Cow::Borrowed("")];
        assert!(join(&items, "").is_ok() && join(&items, "-").is_err());
    }
}
