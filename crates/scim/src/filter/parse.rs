//! The filter grammar of RFC 7644 §3.4.2.2, recursive descent:
//!
//! ```text
//! filter    = and *( "or" and )
//! and       = unary *( "and" unary )
//! unary     = "not" "(" filter ")" / "(" filter ")" / attrExp
//! attrExp   = attrPath "[" valFilter "]" [ "." subAttr ( "pr" / compareOp compValue ) ]
//!           / attrPath "pr" / attrPath compareOp compValue
//! ```
//!
//! Keywords, operators and attribute names are case-insensitive. Nesting and the number of terms
//! are bounded so hostile input cannot exhaust the stack of the parser or of anything that walks
//! the tree afterwards.

use serde_json::Value;

use super::{CompareOp, Filter, FilterError};
use crate::path::{AttrPath, PatchPath};

/// Groups, `not`s and value paths nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;
/// Comparisons in one filter; chains of `and`/`or` grow the tree one level per term, so this also
/// bounds the depth the printer and evaluator recurse to.
pub const MAX_TERMS: usize = 1000;

pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input, &[]);
    let filter = parser.filter()?;
    parser.expect_end()?;
    Ok(filter)
}

pub(crate) struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
    /// Inside `[...]`: value paths may not nest.
    in_value_filter: bool,
    known_urns: &'a [&'a str],
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$')
}

/// ATTRNAME = ALPHA *(nameChar); `$ref` is the one name RFC 7643 starts with `$`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')),
        Some('$') => name.eq_ignore_ascii_case("$ref"),
        _ => false,
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a str, known_urns: &'a [&'a str]) -> Self {
        Self { input, pos: 0, depth: 0, terms: 0, in_value_filter: false, known_urns }
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError { position: self.pos, message: message.into() }
    }

    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos += rest.len() - trimmed.len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        if self.eat(c) { Ok(()) } else { Err(self.error(format!("expected '{c}'"))) }
    }

    pub(crate) fn expect_end(&mut self) -> Result<(), FilterError> {
        self.skip_ws();
        if self.pos < self.input.len() { Err(self.error("unexpected trailing input")) } else { Ok(()) }
    }

    /// The next word of name characters, not consumed.
    fn peek_word(&mut self) -> &'a str {
        self.skip_ws();
        let rest = self.rest();
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Consumes `word` when it stands as a whole keyword.
    fn eat_keyword(&mut self, word: &str) -> bool {
        if self.peek_word().eq_ignore_ascii_case(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("filter nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn count_term(&mut self) -> Result<(), FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error(format!("filter has more than {MAX_TERMS} comparisons")));
        }
        Ok(())
    }

    pub(crate) fn filter(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("or") {
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.eat_keyword("and") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn group(&mut self) -> Result<Filter, FilterError> {
        self.expect('(')?;
        self.enter()?;
        let inner = self.filter()?;
        self.depth -= 1;
        self.expect(')')?;
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        // `not` is a keyword only before `(`; otherwise it is an attribute called "not".
        if self.peek_word().eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += 3;
            if self.peek() == Some('(') {
                return Ok(Filter::Not(Box::new(self.group()?)));
            }
            self.pos = save;
        }
        if self.peek() == Some('(') {
            return self.group();
        }
        self.attr_expr()
    }

    fn attr_expr(&mut self) -> Result<Filter, FilterError> {
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            if self.in_value_filter {
                return Err(self.error("value filters cannot nest"));
            }
            if path.sub.is_some() {
                return Err(self.error(format!("{path}: a value filter applies to an attribute, not a sub-attribute")));
            }
            let filter = self.value_filter()?;
            // `emails[type eq "work"].value eq "x"` is the same test as
            // `emails[type eq "work" and value eq "x"]`.
            if self.rest().starts_with('.') {
                self.pos += 1;
                let sub_start = self.pos;
                let sub = self.peek_word();
                if !valid_name(sub) || self.pos != sub_start {
                    return Err(self.error("expected a sub-attribute name after ']'"));
                }
                self.pos += sub.len();
                let test = self.attr_test(AttrPath::new(sub))?;
                return Ok(Filter::ValuePath { path, filter: Box::new(Filter::And(Box::new(filter), Box::new(test))) });
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(filter) });
        }
        self.attr_test(path)
    }

    /// `pr`, or an operator and a value, after a path.
    fn attr_test(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        self.count_term()?;
        let start = self.pos;
        let word = self.peek_word();
        if word.eq_ignore_ascii_case("pr") {
            self.pos += 2;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(word) else {
            let found = if word.is_empty() { self.rest().chars().next().map(String::from) } else { Some(word.into()) };
            return Err(match found {
                None => self.error(format!("expected an operator after {path}, found the end")),
                Some(found) => self.error(format!("expected an operator after {path}, found {found:?}")),
            });
        };
        self.pos += word.len();
        if self.pos == start {
            return Err(self.error("expected an operator"));
        }
        let value = self.literal()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value_filter(&mut self) -> Result<Filter, FilterError> {
        self.expect('[')?;
        self.enter()?;
        self.in_value_filter = true;
        let inner = self.filter();
        self.in_value_filter = false;
        let inner = inner?;
        self.depth -= 1;
        self.expect(']')?;
        Ok(inner)
    }

    pub(crate) fn patch_path(&mut self) -> Result<PatchPath, FilterError> {
        let attr = self.attr_path()?;
        let mut filter = None;
        let mut sub = None;
        if self.peek() == Some('[') {
            if attr.sub.is_some() {
                return Err(self.error(format!("{attr}: a value filter applies to an attribute, not a sub-attribute")));
            }
            filter = Some(self.value_filter()?);
            if self.rest().starts_with('.') {
                self.pos += 1;
                let name = &self.rest()[..self.rest().find(|c: char| !is_name_char(c)).unwrap_or(self.rest().len())];
                if !valid_name(name) {
                    return Err(self.error("expected a sub-attribute name after ']'"));
                }
                self.pos += name.len();
                sub = Some(name.to_owned());
            }
        }
        self.expect_end()?;
        Ok(PatchPath { attr, filter, sub })
    }

    pub(crate) fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !(is_name_char(c) || matches!(c, ':' | '.'))).unwrap_or(rest.len());
        let raw = &rest[..len];
        if raw.is_empty() {
            return Err(self.error("expected an attribute name"));
        }
        let at = self.pos;
        let invalid =
            |why: &str| FilterError { position: at, message: format!("invalid attribute path {raw:?}: {why}") };
        let known = self.known_urns.iter().find(|urn| {
            raw.get(..urn.len()).is_some_and(|head| head.eq_ignore_ascii_case(urn))
                && raw.as_bytes().get(urn.len()) == Some(&b':')
        });
        let (urn, local) = match known {
            Some(urn) => (Some(&raw[..urn.len()]), &raw[urn.len() + 1..]),
            // A URN's last ':'-separated part is the attribute; dots inside a URN ("2.0") are not
            // sub-attribute separators, so split the URN off first.
            None => match raw.rfind(':') {
                Some(i) => (Some(&raw[..i]), &raw[i + 1..]),
                None => (None, raw),
            },
        };
        if let Some(urn) = urn
            && (urn.is_empty() || urn.starts_with(':') || urn.ends_with(':') || urn.contains("::"))
        {
            return Err(invalid("malformed schema URN"));
        }
        // A bare known URN is a path naming the whole extension (PATCH uses it).
        if urn.is_some()
            && self.known_urns.iter().any(|k| k.eq_ignore_ascii_case(raw))
            && let Some(i) = raw.rfind(':')
        {
            self.pos += len;
            return Ok(AttrPath { urn: Some(raw[..i].to_owned()), name: raw[i + 1..].to_owned(), sub: None });
        }
        let (name, sub) = match local.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (local, None),
        };
        if !valid_name(name) {
            return Err(invalid("an attribute name starts with a letter and holds letters, digits, '-' and '_'"));
        }
        if let Some(sub) = sub
            && !valid_name(sub)
        {
            return Err(invalid("a path has at most one sub-attribute, named like an attribute"));
        }
        self.pos += len;
        Ok(AttrPath { urn: urn.map(str::to_owned), name: name.to_owned(), sub: sub.map(str::to_owned) })
    }

    /// JSON number syntax; fractions are read with std's correctly rounded parser (serde_json's
    /// default one is not), so printing and re-parsing gives back the same number.
    fn number(&self, word: &str) -> Result<serde_json::Number, FilterError> {
        let invalid =
            || self.error(format!("invalid value {word:?}: expected a quoted string, number, true, false or null"));
        let n: serde_json::Number = serde_json::from_str(word).map_err(|_| invalid())?;
        if !n.is_f64() {
            return Ok(n);
        }
        word.parse::<f64>().ok().and_then(serde_json::Number::from_f64).ok_or_else(invalid)
    }

    fn literal(&mut self) -> Result<Value, FilterError> {
        self.skip_ws();
        let rest = self.rest();
        if rest.starts_with('"') {
            // JSON string rules, so escapes mean what they mean in the resource itself.
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { return Err(self.error("unterminated string")) };
            let value: String =
                serde_json::from_str(&rest[..=end]).map_err(|e| self.error(format!("bad string literal: {e}")))?;
            self.pos += end + 1;
            return Ok(Value::String(value));
        }
        let len =
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))).unwrap_or(rest.len());
        let word = &rest[..len];
        let value = match word.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "" => return Err(self.error("expected a value")),
            _ => Value::Number(self.number(word)?),
        };
        self.pos += len;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Filter {
        parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = p("a pr or b pr and c pr");
        let Filter::Or(_, right) = f else { panic!("{f:?}") };
        assert!(matches!(*right, Filter::And(..)));
        let f = p("(a pr or b pr) and c pr");
        assert!(matches!(f, Filter::And(..)));
    }

    #[test]
    fn parses_every_operator_and_literal_kind_case_insensitively() {
        for op in CompareOp::ALL {
            let text = format!("userName {} \"x\"", op.as_str().to_uppercase());
            assert_eq!(p(&text), Filter::compare(AttrPath::new("userName"), op, "x"));
        }
        assert_eq!(p("a eq TRUE"), Filter::compare(AttrPath::new("a"), CompareOp::Eq, true));
        assert_eq!(p("a eq False"), Filter::compare(AttrPath::new("a"), CompareOp::Eq, false));
        assert_eq!(p("a eq null"), Filter::compare(AttrPath::new("a"), CompareOp::Eq, Value::Null));
        assert_eq!(p("a gt -1.5e3"), Filter::compare(AttrPath::new("a"), CompareOp::Gt, json!(-1500.0)));
        assert_eq!(p("a eq 42"), Filter::compare(AttrPath::new("a"), CompareOp::Eq, 42));
        assert_eq!(p(r#"a eq "\u00e9\"\\\n""#), Filter::compare(AttrPath::new("a"), CompareOp::Eq, "é\"\\\n"));
        assert_eq!(p("a PR"), Filter::Present(AttrPath::new("a")));
        assert!(matches!(p("NOT (a pr)"), Filter::Not(_)));
        assert!(matches!(p("not(a pr)"), Filter::Not(_)));
        assert_eq!(p("not pr"), Filter::Present(AttrPath::new("not")));
    }

    #[test]
    fn value_path_followed_by_a_sub_attribute_is_a_conjunction_inside_the_value_path() {
        let f = p(r#"emails[type eq "work"].value eq "x""#);
        assert_eq!(f, p(r#"emails[type eq "work" and value eq "x"]"#));
        let f = p(r#"emails[type eq "work"].value pr and userName pr"#);
        assert!(matches!(f, Filter::And(..)));
    }

    #[test]
    fn urn_paths() {
        let f = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915\"");
        let Filter::Compare { path, .. } = f else { panic!() };
        assert_eq!(path.urn.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(path.name, "manager");
        assert_eq!(path.sub.as_deref(), Some("value"));
    }

    #[test]
    fn rejects_malformed_filters_with_a_position() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName zz "x""#,
            r#"userName eq "x"#,
            "(userName pr",
            "a eq 1 )",
            "not userName pr",
            "a eq bogus",
            "emails[type eq \"w\"",
            "emails[a[b pr]]",
            "emails.value[a pr]",
            "emails[a pr].",
            "a eq \"\\x\"",
            "a eq 1e999",
            "a and b",
            "a pr and",
            "a.b.c pr",
            "ü pr",
            "a eq 1 or or b pr",
        ] {
            let err = parse_filter(bad).unwrap_err();
            assert!(err.position <= bad.len(), "{bad}");
        }
    }

    #[test]
    fn nesting_and_term_count_are_bounded() {
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).unwrap_err().message.contains("deeper"));
        let nots = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(parse_filter(&nots).is_err());
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse_filter(&ok).is_ok());
        let long = vec!["a pr"; MAX_TERMS + 1].join(" or ");
        assert!(parse_filter(&long).unwrap_err().message.contains("comparisons"));
        let fine = vec!["a pr"; MAX_TERMS].join(" and ");
        let f = parse_filter(&fine).unwrap();
        // The printer and evaluator recurse once per term; that must fit a test thread's stack.
        assert!(!f.to_string().is_empty());
        assert!(f.matches(&json!({"a": 1})));
    }
}
