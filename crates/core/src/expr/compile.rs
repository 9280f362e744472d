//! Syntax tree → typed program. Everything that can be known before seeing a person is checked
//! here: attribute and function names, arities, argument types, regexes (compiled once), and
//! comparisons that can never be true. Evaluation then has no error paths besides the bounds.

use std::ops::Range;

use regex_lite::{Regex, RegexBuilder};

use super::error::ExprError;
use super::functions::{self, FUNCTIONS};
use super::parser::{BinOp, Node, NodeKind, RESERVED};
use super::{MAX_DEPTH, Schema, ValueType};

#[derive(Debug, Clone)]
pub(crate) enum Text {
    Lit(Box<str>),
    Null,
    Attr(Box<str>),
    Lower(Box<Text>),
    Upper(Box<Text>),
    Trim(Box<Text>),
    Diacritics(Box<Text>),
    Concat(Vec<Text>),
    Join(Box<List>, Box<Text>),
    /// `coalesce` and `default`: the first present value.
    Coalesce(Vec<Text>),
    Replace(Box<Text>, Box<Text>, Box<Text>),
    RegexReplace(Box<Text>, Regex, Box<Text>),
    Left(Box<Text>, usize),
    Truncate(Box<Text>, usize),
    Switch {
        subject: Box<Text>,
        cases: Vec<(Text, Text)>,
        default: Option<Box<Text>>,
    },
    If(Box<Cond>, Box<Text>, Box<Text>),
    /// Only ever the root of an expression (checked here), so the taken-check sees the final value.
    Unique(Vec<Text>),
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Lit(bool),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Eq(Box<Text>, Box<Text>),
    StartsWith(Box<Text>, Box<Text>),
    EndsWith(Box<Text>, Box<Text>),
    Contains(Box<Text>, Box<Text>),
    Matches(Box<Text>, Regex),
    In(Box<Text>, Box<List>),
    EmptyText(Box<Text>),
    EmptyList(Box<List>),
    If(Box<Cond>, Box<Cond>, Box<Cond>),
}

#[derive(Debug, Clone)]
pub(crate) enum List {
    /// Missing and empty items are dropped, so `join([givenName, middleName, familyName], " ")`
    /// needs no special case for a missing middle name.
    Items(Vec<Text>),
    Split(Box<Text>, Box<Text>),
}

#[derive(Debug, Clone)]
pub(crate) enum Program {
    Text(Text),
    Cond(Cond),
    List(List),
}

impl Program {
    pub(crate) fn value_type(&self) -> ValueType {
        match self {
            Program::Text(_) => ValueType::Text,
            Program::Cond(_) => ValueType::Bool,
            Program::List(_) => ValueType::List,
        }
    }
}

pub(crate) fn compile(src: &str, schema: &Schema, root: &Node) -> Result<Program, ExprError> {
    let compiler = Compiler { src, schema };
    match &root.kind {
        NodeKind::Call { name, args, .. } if name == "unique" => {
            compiler.check_arity(root)?;
            let candidates = args.iter().map(|a| compiler.text(a)).collect::<Result<_, _>>()?;
            Ok(Program::Text(Text::Unique(candidates)))
        }
        _ => compiler.any(root),
    }
}

struct Compiler<'a> {
    src: &'a str,
    schema: &'a Schema,
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Text => "text",
        ValueType::Bool => "a condition (true/false)",
        ValueType::List => "a list",
    }
}

impl Compiler<'_> {
    fn error<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError::new(self.src, span, message))
    }

    fn text(&self, node: &Node) -> Result<Text, ExprError> {
        match self.any(node)? {
            Program::Text(t) => Ok(t),
            other => {
                self.error(node.span.clone(), format!("expected text here, got {}", type_name(other.value_type())))
            }
        }
    }

    fn cond(&self, node: &Node) -> Result<Cond, ExprError> {
        match self.any(node)? {
            Program::Cond(c) => Ok(c),
            other => {
                let hint = match other {
                    Program::Text(_) => ": compare it (x == \"value\") or test it (present(x))",
                    _ => "",
                };
                self.error(
                    node.span.clone(),
                    format!("expected a condition, got {}{hint}", type_name(other.value_type())),
                )
            }
        }
    }

    fn list(&self, node: &Node) -> Result<List, ExprError> {
        match self.any(node)? {
            Program::List(l) => Ok(l),
            other => self.error(node.span.clone(), format!("expected a list, got {}", type_name(other.value_type()))),
        }
    }

    fn literal_str<'n>(&self, node: &'n Node, what: &str) -> Result<&'n str, ExprError> {
        match &node.kind {
            NodeKind::Str(s) => Ok(s),
            _ => self.error(node.span.clone(), format!("{what} must be a string literal, e.g. \"^[a-z]+$\"")),
        }
    }

    fn regex(&self, node: &Node, anchored: bool) -> Result<Regex, ExprError> {
        let pattern = self.literal_str(node, "a regex")?;
        let full = if anchored { format!("^(?:{pattern})$") } else { pattern.to_owned() };
        // Generous for admin-written patterns, small enough that a pathological one is refused
        // when saved rather than costing memory on every evaluation.
        RegexBuilder::new(&full)
            .size_limit(1 << 20)
            .nest_limit(MAX_DEPTH as u32)
            .build()
            .or_else(|e| self.error(node.span.clone(), format!("invalid regex: {}", one_line(&e.to_string()))))
    }

    fn check_arity(&self, node: &Node) -> Result<(), ExprError> {
        let NodeKind::Call { name, name_span, args } = &node.kind else { return Ok(()) };
        let Some(sig) = functions::lookup(name) else {
            let mut message = format!("unknown function '{name}'");
            if let Some(s) = functions::suggest(name, FUNCTIONS.iter().map(|f| f.name)) {
                message.push_str(&format!(" (did you mean '{s}'?)"));
            }
            return self.error(name_span.clone(), message);
        };
        match sig.arity_error(args.len()) {
            Some(message) => self.error(name_span.clone(), message),
            None => Ok(()),
        }
    }

    fn any(&self, node: &Node) -> Result<Program, ExprError> {
        Ok(match &node.kind {
            NodeKind::Str(s) => Program::Text(Text::Lit(s.as_str().into())),
            NodeKind::Null => Program::Text(Text::Null),
            NodeKind::Bool(b) => Program::Cond(Cond::Lit(*b)),
            NodeKind::Num(_) => {
                return self
                    .error(node.span.clone(), "a number can only be a length, as in left(x, 3); quote it for text");
            }
            NodeKind::Attr(name) => Program::Text(Text::Attr(self.attribute(name, &node.span)?.into())),
            NodeKind::List(items) => {
                Program::List(List::Items(items.iter().map(|i| self.text(i)).collect::<Result<_, _>>()?))
            }
            NodeKind::Not(inner) => Program::Cond(Cond::Not(Box::new(self.cond(inner)?))),
            NodeKind::And(items) => {
                Program::Cond(Cond::And(items.iter().map(|i| self.cond(i)).collect::<Result<_, _>>()?))
            }
            NodeKind::Or(items) => {
                Program::Cond(Cond::Or(items.iter().map(|i| self.cond(i)).collect::<Result<_, _>>()?))
            }
            NodeKind::Binary { op, op_span, lhs, rhs } => Program::Cond(self.binary(*op, op_span, lhs, rhs)?),
            NodeKind::Call { name, args, name_span } => {
                self.check_arity(node)?;
                self.call(name, name_span, args)?
            }
        })
    }

    fn attribute<'n>(&self, name: &'n str, span: &Range<usize>) -> Result<&'n str, ExprError> {
        if self.schema.contains(name) {
            return Ok(name);
        }
        if RESERVED.contains(&name) {
            return self.error(span.clone(), format!("'{name}' is a reserved word"));
        }
        let mut message = format!("unknown attribute '{name}'");
        if functions::lookup(name).is_some() {
            message = format!("'{name}' is a function: call it as {name}(...)");
        } else if let Some(s) = functions::suggest(name, self.schema.names()) {
            message.push_str(&format!(" (did you mean '{s}'?)"));
        } else if self.schema.allows_custom() && !name.contains('.') {
            message.push_str(&format!(" (custom attributes are written custom.{name})"));
        }
        self.error(span.clone(), message)
    }

    fn binary(&self, op: BinOp, op_span: &Range<usize>, lhs: &Node, rhs: &Node) -> Result<Cond, ExprError> {
        if matches!(lhs.kind, NodeKind::Null) || matches!(rhs.kind, NodeKind::Null) {
            return self.error(
                op_span.clone(),
                "comparing with null is never true; test a value with is_empty(x) or present(x)",
            );
        }
        let left = Box::new(self.operand(op, lhs)?);
        if op != BinOp::Matches && op != BinOp::In {
            self.check_case_fold(lhs, rhs)?;
            self.check_case_fold(rhs, lhs)?;
        }
        Ok(match op {
            BinOp::Eq => Cond::Eq(left, Box::new(self.operand(op, rhs)?)),
            BinOp::Ne => Cond::Not(Box::new(Cond::Eq(left, Box::new(self.operand(op, rhs)?)))),
            BinOp::StartsWith => Cond::StartsWith(left, Box::new(self.operand(op, rhs)?)),
            BinOp::EndsWith => Cond::EndsWith(left, Box::new(self.operand(op, rhs)?)),
            BinOp::Contains => Cond::Contains(left, Box::new(self.operand(op, rhs)?)),
            BinOp::Matches => Cond::Matches(left, self.regex(rhs, true)?),
            BinOp::In => match self.any(rhs)? {
                Program::List(list) => Cond::In(left, Box::new(list)),
                _ => {
                    return self
                        .error(rhs.span.clone(), "'in' needs a list, e.g. department in [\"Sales\", \"Support\"]");
                }
            },
        })
    }

    fn operand(&self, op: BinOp, node: &Node) -> Result<Text, ExprError> {
        match self.any(node)? {
            Program::Text(t) => Ok(t),
            other => self.error(
                node.span.clone(),
                format!("'{}' compares text, but this is {}", op.symbol(), type_name(other.value_type())),
            ),
        }
    }

    /// `lower(department) == "Sales"` can never be true; say so when the rule is saved instead of
    /// silently matching nobody.
    fn check_case_fold(&self, call: &Node, literal: &Node) -> Result<(), ExprError> {
        let (NodeKind::Call { name, .. }, NodeKind::Str(s)) = (&call.kind, &literal.kind) else { return Ok(()) };
        let offending = match name.as_str() {
            "lower" => s.chars().any(char::is_uppercase),
            "upper" => s.chars().any(char::is_lowercase),
            _ => false,
        };
        if offending {
            let case = if name == "lower" { "uppercase" } else { "lowercase" };
            return self.error(
                literal.span.clone(),
                format!("this is compared with {name}(...) but has {case} letters, so it never matches"),
            );
        }
        Ok(())
    }

    /// Only called after `check_arity`, so `args` has as many items as the catalogue requires and
    /// the indexing below cannot fail.
    fn call(&self, name: &str, name_span: &Range<usize>, args: &[Node]) -> Result<Program, ExprError> {
        let text = |i: usize| self.text(&args[i]).map(Box::new);
        let texts = || args.iter().map(|a| self.text(a)).collect::<Result<Vec<_>, _>>();
        let t = Program::Text;
        Ok(match name {
            "lower" => t(Text::Lower(text(0)?)),
            "upper" => t(Text::Upper(text(0)?)),
            "trim" => t(Text::Trim(text(0)?)),
            "normalize_diacritics" => t(Text::Diacritics(text(0)?)),
            "concat" => t(Text::Concat(texts()?)),
            "coalesce" | "default" => t(Text::Coalesce(texts()?)),
            "join" => t(Text::Join(Box::new(self.list(&args[0])?), text(1)?)),
            "replace" => {
                if matches!(&args[1].kind, NodeKind::Str(s) if s.is_empty()) {
                    return self.error(args[1].span.clone(), "the text to replace must not be empty");
                }
                t(Text::Replace(text(0)?, text(1)?, text(2)?))
            }
            "regex_replace" => t(Text::RegexReplace(text(0)?, self.regex(&args[1], false)?, text(2)?)),
            "left" => t(Text::Left(text(0)?, self.count(name, &args[1])?)),
            "truncate" => t(Text::Truncate(text(0)?, self.count(name, &args[1])?)),
            "split" => {
                if matches!(&args[1].kind, NodeKind::Str(s) if s.is_empty()) {
                    return self.error(args[1].span.clone(), "the separator must not be empty");
                }
                Program::List(List::Split(text(0)?, text(1)?))
            }
            "switch" => {
                let mut rest = texts()?.into_iter();
                let subject = Box::new(rest.next().unwrap_or(Text::Null));
                let mut cases = Vec::new();
                let mut default = None;
                while let Some(key) = rest.next() {
                    match rest.next() {
                        Some(value) => cases.push((key, value)),
                        None => default = Some(Box::new(key)),
                    }
                }
                t(Text::Switch { subject, cases, default })
            }
            "if" => {
                let cond = Box::new(self.cond(&args[0])?);
                match (self.any(&args[1])?, self.any(&args[2])?) {
                    (Program::Text(a), Program::Text(b)) => t(Text::If(cond, Box::new(a), Box::new(b))),
                    (Program::Cond(a), Program::Cond(b)) => Program::Cond(Cond::If(cond, Box::new(a), Box::new(b))),
                    (a, b) => {
                        let message = format!(
                            "'if' branches must both be text or both be conditions, got {} and {}",
                            type_name(a.value_type()),
                            type_name(b.value_type())
                        );
                        return self.error(args[2].span.clone(), message);
                    }
                }
            }
            "is_empty" | "present" => {
                let test = match self.any(&args[0])? {
                    Program::Text(x) => Cond::EmptyText(Box::new(x)),
                    Program::List(l) => Cond::EmptyList(Box::new(l)),
                    Program::Cond(_) => {
                        return self
                            .error(args[0].span.clone(), format!("'{name}' tests text or a list, not a condition"));
                    }
                };
                Program::Cond(if name == "present" { Cond::Not(Box::new(test)) } else { test })
            }
            "unique" => {
                return self.error(name_span.clone(), "'unique' must be the outermost function of a mapping");
            }
            _ => {
                // check_arity rejected every name not in the catalogue; this is a catalogue entry
                // without an implementation, a bug to report rather than a panic.
                return self.error(name_span.clone(), format!("function '{name}' is not implemented"));
            }
        })
    }

    fn count(&self, name: &str, node: &Node) -> Result<usize, ExprError> {
        match node.kind {
            NodeKind::Num(n) => Ok(n as usize),
            _ => self.error(node.span.clone(), format!("the length in '{name}' must be a whole number, e.g. 20")),
        }
    }
}

/// regex-lite errors span several lines (pattern, caret, message); one line reads better after
/// our own position prefix.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(": ")
}
