//! Evaluation of a compiled program against one person. Values borrow from the program (string
//! literals) and from the context (attributes) and are copied only when a function changes them;
//! a missing attribute is `None`, and an empty attribute counts as missing.

use std::borrow::Cow;

use super::Context;
use super::compile::{Cond, List, Text};
use super::diacritics;
use super::error::EvalError;
use super::functions::{self, check_len};

type TextResult<'a> = Result<Option<Cow<'a, str>>, EvalError>;

pub(crate) fn text<'a, C: Context + ?Sized>(node: &'a Text, ctx: &'a C) -> TextResult<'a> {
    let map = |inner: &'a Text, f: fn(Cow<'a, str>) -> Result<Cow<'a, str>, EvalError>| -> TextResult<'a> {
        text(inner, ctx)?.map(f).transpose()
    };
    match node {
        Text::Lit(s) => Ok(Some(Cow::Borrowed(s))),
        Text::Null => Ok(None),
        Text::Attr(name) => Ok(ctx.attribute(name).filter(|v| !v.is_empty())),
        Text::Lower(inner) => map(inner, functions::lower),
        Text::Upper(inner) => map(inner, functions::upper),
        Text::Trim(inner) => map(inner, |v| Ok(functions::trim(v))),
        Text::Diacritics(inner) => map(inner, diacritics::normalize),
        Text::Concat(parts) => concat(parts, ctx),
        Text::Coalesce(options) => {
            for option in options {
                if let Some(v) = text(option, ctx)?.filter(|v| !v.is_empty()) {
                    return Ok(Some(v));
                }
            }
            Ok(None)
        }
        Text::Join(list, sep) => {
            let items = self::list(list, ctx)?;
            let sep = text(sep, ctx)?.unwrap_or_default();
            functions::join(&items, &sep)
        }
        Text::Replace(value, from, to) => {
            let Some(value) = text(value, ctx)? else { return Ok(None) };
            let from = text(from, ctx)?.unwrap_or_default();
            let to = text(to, ctx)?.unwrap_or_default();
            functions::replace(value, &from, &to).map(Some)
        }
        Text::RegexReplace(value, regex, replacement) => {
            let Some(value) = text(value, ctx)? else { return Ok(None) };
            let replacement = text(replacement, ctx)?.unwrap_or_default();
            functions::regex_replace(value, regex, &replacement).map(Some)
        }
        Text::Left(inner, n) => Ok(text(inner, ctx)?.map(|v| functions::left(v, *n))),
        Text::Truncate(inner, n) => Ok(text(inner, ctx)?.map(|v| functions::truncate(v, *n))),
        Text::Switch { subject, cases, default } => {
            if let Some(subject) = text(subject, ctx)? {
                for (key, value) in cases {
                    if text(key, ctx)?.is_some_and(|k| k == subject) {
                        return text(value, ctx);
                    }
                }
            }
            match default {
                Some(d) => text(d, ctx),
                None => Ok(None),
            }
        }
        Text::If(c, then, otherwise) => {
            if cond(c, ctx)? {
                text(then, ctx)
            } else {
                text(otherwise, ctx)
            }
        }
        // Outside `Expr::eval_unique` nothing counts as taken: the preferred candidate wins.
        Text::Unique(candidates) => first_present(candidates, ctx),
    }
}

/// All parts or nothing: a userName built from a missing family name would be wrong, not short.
fn concat<'a, C: Context + ?Sized>(parts: &'a [Text], ctx: &'a C) -> TextResult<'a> {
    let mut out: Option<Cow<'a, str>> = None;
    for part in parts {
        let Some(value) = text(part, ctx)? else { return Ok(None) };
        out = Some(match out {
            None => value,
            Some(acc) => {
                check_len(acc.len() + value.len())?;
                Cow::Owned(match acc {
                    Cow::Owned(mut s) => {
                        s.push_str(&value);
                        s
                    }
                    Cow::Borrowed(first) => {
                        // Room for a typical rest (a separator and a family name): one allocation
                        // for the usual `concat(givenName, ".", familyName)`.
                        let mut s = String::with_capacity(first.len() + value.len() + 24);
                        s.push_str(first);
                        s.push_str(&value);
                        s
                    }
                })
            }
        });
    }
    Ok(out)
}

pub(crate) fn first_present<'a, C: Context + ?Sized>(candidates: &'a [Text], ctx: &'a C) -> TextResult<'a> {
    for candidate in candidates {
        if let Some(v) = text(candidate, ctx)?.filter(|v| !v.is_empty()) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

pub(crate) fn list<'a, C: Context + ?Sized>(node: &'a List, ctx: &'a C) -> Result<Vec<Cow<'a, str>>, EvalError> {
    match node {
        List::Items(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = text(item, ctx)?.filter(|v| !v.is_empty()) {
                    out.push(v);
                }
            }
            Ok(out)
        }
        List::Split(value, sep) => {
            let Some(value) = text(value, ctx)? else { return Ok(Vec::new()) };
            let sep = text(sep, ctx)?.unwrap_or_default();
            if sep.is_empty() {
                return Ok(vec![value]);
            }
            Ok(match value {
                Cow::Borrowed(v) => v.split(&*sep).map(Cow::Borrowed).collect(),
                Cow::Owned(v) => v.split(&*sep).map(|s| Cow::Owned(s.to_owned())).collect(),
            })
        }
    }
}

pub(crate) fn cond<'a, C: Context + ?Sized>(node: &'a Cond, ctx: &'a C) -> Result<bool, EvalError> {
    let both = |a: &'a Text, b: &'a Text, f: fn(&str, &str) -> bool| -> Result<bool, EvalError> {
        // A missing operand makes every comparison false; `!=` is `!(==)` and so true.
        let Some(a) = text(a, ctx)? else { return Ok(false) };
        let Some(b) = text(b, ctx)? else { return Ok(false) };
        Ok(f(&a, &b))
    };
    match node {
        Cond::Lit(b) => Ok(*b),
        Cond::Not(inner) => Ok(!cond(inner, ctx)?),
        Cond::And(items) => {
            for item in items {
                if !cond(item, ctx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Cond::Or(items) => {
            for item in items {
                if cond(item, ctx)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Cond::Eq(a, b) => both(a, b, |a, b| a == b),
        Cond::StartsWith(a, b) => both(a, b, |a, b| a.starts_with(b)),
        Cond::EndsWith(a, b) => both(a, b, |a, b| a.ends_with(b)),
        Cond::Contains(a, b) => both(a, b, |a, b| a.contains(b)),
        Cond::Matches(value, regex) => Ok(text(value, ctx)?.is_some_and(|v| regex.is_match(&v))),
        Cond::In(value, candidates) => {
            let Some(value) = text(value, ctx)? else { return Ok(false) };
            match &**candidates {
                // The usual case, `department in ["Sales", "Support"]`, needs no list built.
                List::Items(items) => {
                    for item in items {
                        if text(item, ctx)?.is_some_and(|i| i == value) {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                }
                split => Ok(list(split, ctx)?.contains(&value)),
            }
        }
        Cond::EmptyText(value) => Ok(text(value, ctx)?.is_none_or(|v| v.is_empty())),
        Cond::EmptyList(items) => Ok(list(items, ctx)?.is_empty()),
        Cond::If(c, then, otherwise) => {
            if cond(c, ctx)? {
                cond(then, ctx)
            } else {
                cond(otherwise, ctx)
            }
        }
    }
}
