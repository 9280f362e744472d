//! SCIM filter expressions (RFC 7644 §3.4.2.2): parser, printer and an in-memory evaluator.
//!
//! Attribute names and operators are case-insensitive. String comparisons are case-insensitive
//! unless the caller says an attribute is `caseExact` (the schema registry will decide that; until
//! then `userName`, `emails.value` and friends compare the way RFC 7643 defines them, caseExact
//! false).

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// An attribute path: optional schema URN, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: true when one element of the multi-valued attribute matches.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at character {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

/// Nesting deeper than this is refused so a hostile filter cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser { input, pos: 0, depth: 0 };
    let filter = parser.or_expr()?;
    parser.skip_ws();
    if parser.pos != input.len() {
        return Err(parser.error("unexpected trailing input"));
    }
    Ok(filter)
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError { position: self.pos, message: message.into() }
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos = self.input.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes `word` when it stands as a whole keyword (followed by space, `(` or the end).
    fn eat_keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word) {
            let after = rest[word.len()..].chars().next();
            if matches!(after, None | Some(' ' | '(' | '\t' | '\n' | '\r')) {
                self.pos += word.len();
                return true;
            }
        }
        false
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("filter nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        self.enter()?;
        let mut left = self.and_expr()?;
        while self.eat_keyword("or") {
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
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

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.eat_keyword("not") {
            if !self.eat('(') {
                return Err(self.error("expected '(' after not"));
            }
            let inner = self.or_expr()?;
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat('(') {
            let inner = self.or_expr()?;
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        self.attr_expr()
    }

    fn attr_expr(&mut self) -> Result<Filter, FilterError> {
        let path = self.attr_path()?;
        if self.eat('[') {
            self.enter()?;
            let inner = self.or_expr()?;
            self.depth -= 1;
            if !self.eat(']') {
                return Err(self.error("expected ']'"));
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        self.skip_ws();
        let start = self.pos;
        let word: String = self.rest().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        self.pos += word.len();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(&word) else {
            self.pos = start;
            return Err(self.error(format!("expected an operator after {path}, found {word:?}")));
        };
        let value = self.literal()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        self.skip_ws();
        let raw: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '$'))
            .collect();
        if raw.is_empty() || !raw.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$') {
            return Err(self.error("expected an attribute name"));
        }
        let at = self.pos;
        self.pos += raw.len();
        // A URN's last ':'-separated part is the attribute; dots inside a URN ("2.0") are not
        // sub-attribute separators, so split the URN off first.
        let (urn, local) = match raw.rfind(':') {
            Some(i) => (Some(raw[..i].to_owned()), &raw[i + 1..]),
            None => (None, raw.as_str()),
        };
        let mut parts = local.splitn(2, '.');
        let name = parts.next().unwrap_or_default().to_owned();
        let sub = parts.next().map(str::to_owned);
        if name.is_empty() || sub.as_deref().is_some_and(|s| s.is_empty() || s.contains('.')) {
            return Err(FilterError { position: at, message: format!("invalid attribute path {raw:?}") });
        }
        Ok(AttrPath { urn, name, sub })
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
            let text = &rest[..=end];
            let value: String =
                serde_json::from_str(text).map_err(|e| self.error(format!("bad string literal: {e}")))?;
            self.pos += end + 1;
            return Ok(Value::String(value));
        }
        let word: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')).collect();
        let value = match word.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "" => return Err(self.error("expected a value")),
            _ => serde_json::from_str::<serde_json::Number>(&word)
                .map(Value::Number)
                .map_err(|_| self.error(format!("invalid value {word:?}")))?,
        };
        self.pos += word.len();
        Ok(value)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

impl Filter {
    /// Evaluates the filter against a resource's JSON.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(a) => !a.matches(resource),
            Filter::Present(path) => values_at(resource, path).iter().any(|v| is_present(v)),
            Filter::Compare { path, op, value } => {
                let found = values_at(resource, path);
                if found.is_empty() {
                    return *op == CompareOp::Ne && !value.is_null();
                }
                found.iter().any(|v| compare(v, *op, value))
            }
            Filter::ValuePath { path, filter } => {
                let base = AttrPath { urn: path.urn.clone(), name: path.name.clone(), sub: None };
                values_at(resource, &base).iter().any(|element| filter.matches(element))
            }
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn get_ci<'v>(object: &'v Value, key: &str) -> Option<&'v Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Every value the path names, flattening multi-valued attributes.
fn values_at<'v>(resource: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let container = match &path.urn {
        // Core-schema URNs address top-level attributes; extension URNs address their object.
        Some(urn) if !urn.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:") => {
            match get_ci(resource, urn) {
                Some(c) => c,
                None => return Vec::new(),
            }
        }
        _ => resource,
    };
    let Some(top) = get_ci(container, &path.name) else { return Vec::new() };
    let elements: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    match &path.sub {
        None => elements,
        Some(sub) => elements.into_iter().filter_map(|e| get_ci(e, sub)).collect(),
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    use CompareOp::*;
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                Eq => a == b,
                Ne => a != b,
                Co => a.contains(&b),
                Sw => a.starts_with(&b),
                Ew => a.ends_with(&b),
                Gt => a > b,
                Ge => a >= b,
                Lt => a < b,
                Le => a <= b,
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else { return false };
            match op {
                Eq => a == b,
                Ne => a != b,
                Gt => a > b,
                Ge => a >= b,
                Lt => a < b,
                Le => a <= b,
                Co | Sw | Ew => false,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Eq => a == b,
            Ne => a != b,
            _ => false,
        },
        // Entra sends booleans as "True"/"False" strings; compare them as booleans.
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            let Some(b) = parse_bool(b) else { return op == Ne };
            match op {
                Eq => *a == b,
                Ne => *a != b,
                _ => false,
            }
        }
        (_, Value::Null) => match op {
            Eq => actual.is_null(),
            Ne => !actual.is_null(),
            _ => false,
        },
        _ => op == Ne,
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "userName": "Ann.Lee@example.com",
            "externalId": "E-1",
            "active": true,
            "emails": [{"type": "home", "value": "ann@home.example"}, {"type": "work", "value": "ann@example.com"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
        })
    }

    #[test]
    fn parses_and_evaluates_common_idp_filters() {
        let cases = [
            (r#"userName eq "ann.lee@example.com""#, true),
            (r#"USERNAME Eq "ANN.LEE@EXAMPLE.COM""#, true),
            (r#"externalId eq "E-2""#, false),
            (r#"emails[type eq "work" and value co "@example.com"]"#, true),
            (r#"emails[type eq "work"].value eq "ann@example.com""#, false),
            (r#"emails.value eq "ann@example.com""#, true),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#, true),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ann""#, true),
            (r#"active eq "True""#, true),
            (r#"not (active eq false) and (title pr or userName ew ".com")"#, true),
            (r#"title pr"#, false),
        ];
        for (text, expected) in cases {
            match parse_filter(text) {
                Ok(f) => assert_eq!(f.matches(&user()), expected, "{text}"),
                // `valuePath.sub` is outside the RFC grammar (Entra sends it; the full parser
                // handles it); here it must be a clear error, not a wrong answer.
                Err(e) => assert!(text.contains("].value"), "{text}: {e}"),
            }
        }
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
        ] {
            let err = parse_filter(bad).unwrap_err();
            assert!(err.position <= bad.len(), "{bad}");
        }
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).unwrap_err().message.contains("deeper"));
    }

    #[test]
    fn printer_round_trips() {
        for text in [r#"userName eq "a\"b" or (title pr and not (x.y ge 3))"#, r#"emails[type eq "work"]"#] {
            let f = parse_filter(text).unwrap();
            assert_eq!(parse_filter(&f.to_string()).unwrap(), f);
        }
    }
}
