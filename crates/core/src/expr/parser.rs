//! Tokens → syntax tree, with spans for error messages. Knows the grammar only: names of
//! attributes and functions, arities and types are checked by `compile`.
//!
//! ```text
//! expr    := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | compare
//! compare := primary [ ("==" | "!=" | "starts_with" | "ends_with" | "contains" | "matches" | "in") primary ]
//! primary := STRING | NUMBER | "true" | "false" | "null" | "(" expr ")" | "[" [expr ("," expr)*] "]"
//!          | NAME "(" [expr ("," expr)*] ")" | NAME
//! ```
//!
//! `!` binds looser than a comparison, so `!department == "Sales"` reads as
//! `!(department == "Sales")`, which is the only reading that type-checks.

use std::ops::Range;

use super::MAX_DEPTH;
use super::error::ExprError;
use super::lexer::{Tok, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    In,
}

impl BinOp {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "starts_with" => Self::StartsWith,
            "ends_with" => Self::EndsWith,
            "contains" => Self::Contains,
            "matches" => Self::Matches,
            "in" => Self::In,
            _ => return None,
        })
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::Contains => "contains",
            Self::Matches => "matches",
            Self::In => "in",
        }
    }
}

/// Words that can never be attribute names.
pub(crate) const RESERVED: &[&str] =
    &["true", "false", "null", "starts_with", "ends_with", "contains", "matches", "in"];

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Str(String),
    Num(u32),
    Bool(bool),
    Null,
    Attr(String),
    Call { name: String, name_span: Range<usize>, args: Vec<Node> },
    List(Vec<Node>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Binary { op: BinOp, op_span: Range<usize>, lhs: Box<Node>, rhs: Box<Node> },
}

pub(crate) fn parse(src: &str, tokens: &[Token]) -> Result<Node, ExprError> {
    let mut parser = Parser { src, tokens, pos: 0, depth: 0 };
    let node = parser.expr()?;
    let next = parser.peek();
    if next.tok != Tok::Eof {
        let message = match &next.tok {
            Tok::RParen => "unmatched ')'".to_owned(),
            Tok::RBracket => "unmatched ']'".to_owned(),
            other => format!("expected an operator or the end of the expression, found {}", other.describe()),
        };
        return Err(ExprError::new(src, next.span.clone(), message));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The lexer always ends the list with Eof and the parser never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn error<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError::new(self.src, span, message))
    }

    /// Every construct that nests (parentheses, calls, lists, `!`) goes through here, so the
    /// recursion of the parser, the compiler and the evaluator is bounded by [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        span: Range<usize>,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_DEPTH {
            return self.error(span, format!("expression nested too deeply (the limit is {MAX_DEPTH} levels)"));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        self.chain(Tok::OrOr, Self::and, NodeKind::Or)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.chain(Tok::AndAnd, Self::unary, NodeKind::And)
    }

    /// `a op b op c` as one n-ary node: a long chain of `&&` must not become a deep tree.
    fn chain(
        &mut self,
        op: Tok,
        operand: fn(&mut Self) -> Result<Node, ExprError>,
        make: fn(Vec<Node>) -> NodeKind,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        if self.peek().tok != op {
            return Ok(first);
        }
        let start = first.span.start;
        let mut items = vec![first];
        while self.peek().tok == op {
            self.bump();
            items.push(operand(self)?);
        }
        let end = items.last().map_or(start, |n| n.span.end);
        Ok(Node { kind: make(items), span: start..end })
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.peek().tok == Tok::Bang {
            let bang = self.bump();
            let operand = self.nested(bang.span.clone(), Self::unary)?;
            let span = bang.span.start..operand.span.end;
            return Ok(Node { kind: NodeKind::Not(Box::new(operand)), span });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, ExprError> {
        let lhs = self.primary()?;
        let next = self.peek();
        let op = match &next.tok {
            Tok::EqEq => BinOp::Eq,
            Tok::NotEq => BinOp::Ne,
            Tok::Ident(word) => match BinOp::from_word(word) {
                Some(op) => op,
                None => {
                    let message = format!("expected an operator, found '{word}'");
                    return self.error(next.span.clone(), message);
                }
            },
            _ => return Ok(lhs),
        };
        let op_span = self.bump().span;
        let rhs = self.primary()?;
        let after = self.peek();
        if matches!(after.tok, Tok::EqEq | Tok::NotEq)
            || matches!(&after.tok, Tok::Ident(word) if BinOp::from_word(word).is_some())
        {
            return self.error(after.span.clone(), "comparisons cannot be chained; combine them with '&&' or '||'");
        }
        let span = lhs.span.start..rhs.span.end;
        Ok(Node { kind: NodeKind::Binary { op, op_span, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span })
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.bump();
        let span = token.span.clone();
        let kind = match token.tok {
            Tok::Str(s) => NodeKind::Str(s),
            Tok::Num(n) => NodeKind::Num(n),
            Tok::LParen => {
                let inner = self.nested(span.clone(), Self::expr)?;
                let close = self.expect(Tok::RParen, "')' to close '('", &span)?;
                return Ok(Node { kind: inner.kind, span: span.start..close.end });
            }
            Tok::LBracket => {
                let (items, close) = self.nested(span.clone(), |p| p.items(Tok::RBracket, &span))?;
                return Ok(Node { kind: NodeKind::List(items), span: span.start..close.end });
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => NodeKind::Bool(true),
                "false" => NodeKind::Bool(false),
                "null" => NodeKind::Null,
                word if BinOp::from_word(word).is_some() => {
                    let message = if self.peek().tok == Tok::LParen {
                        format!("'{word}' is an operator, not a function: write x {word} y")
                    } else {
                        format!("expected a value before '{word}'")
                    };
                    return self.error(span, message);
                }
                _ if self.peek().tok == Tok::LParen => {
                    let open = self.bump().span;
                    let (args, close) = self.nested(open.clone(), |p| p.items(Tok::RParen, &open))?;
                    return Ok(Node {
                        kind: NodeKind::Call { name, name_span: span.clone(), args },
                        span: span.start..close.end,
                    });
                }
                _ => NodeKind::Attr(name),
            },
            Tok::Eof => return self.error(span, "unexpected end of expression: a value is missing"),
            other => return self.error(span, format!("expected a value, found {}", other.describe())),
        };
        Ok(Node { kind, span })
    }

    /// Comma-separated expressions up to `close`; a trailing comma is allowed.
    fn items(&mut self, close: Tok, open: &Range<usize>) -> Result<(Vec<Node>, Range<usize>), ExprError> {
        let mut items = Vec::new();
        loop {
            if self.peek().tok == close {
                return Ok((items, self.bump().span));
            }
            items.push(self.expr()?);
            let next = self.peek();
            if next.tok == Tok::Comma {
                self.bump();
            } else if next.tok != close {
                let what = if close == Tok::RParen { "',' or ')'" } else { "',' or ']'" };
                let message = match next.tok {
                    Tok::Eof => format!("unclosed '{}': expected {what}", if close == Tok::RParen { '(' } else { '[' }),
                    _ => format!("expected {what}, found {}", next.tok.describe()),
                };
                let span = if next.tok == Tok::Eof { open.clone() } else { next.span.clone() };
                return self.error(span, message);
            }
        }
    }

    fn expect(&mut self, tok: Tok, what: &str, open: &Range<usize>) -> Result<Range<usize>, ExprError> {
        let next = self.peek();
        if next.tok == tok {
            return Ok(self.bump().span);
        }
        if next.tok == Tok::Eof {
            return self.error(open.clone(), format!("unclosed '(': expected {what}"));
        }
        self.error(next.span.clone(), format!("expected {what}, found {}", next.tok.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::lexer::tokenize;

    /// The tree in prefix form, to check precedence and grouping.
    fn shape(src: &str) -> String {
        fn show(n: &Node) -> String {
            let list = |items: &[Node]| items.iter().map(show).collect::<Vec<_>>().join(" ");
            match &n.kind {
                NodeKind::Str(s) => format!("{s:?}"),
                NodeKind::Num(v) => v.to_string(),
                NodeKind::Bool(b) => b.to_string(),
                NodeKind::Null => "null".into(),
                NodeKind::Attr(a) => a.clone(),
                NodeKind::Call { name, args, .. } => format!("({name} {})", list(args)),
                NodeKind::List(items) => format!("[{}]", list(items)),
                NodeKind::Not(inner) => format!("(! {})", show(inner)),
                NodeKind::And(items) => format!("(&& {})", list(items)),
                NodeKind::Or(items) => format!("(|| {})", list(items)),
                NodeKind::Binary { op, lhs, rhs, .. } => format!("({} {} {})", op.symbol(), show(lhs), show(rhs)),
            }
        }
        let tokens = tokenize(src).unwrap_or_default();
        parse(src, &tokens).map(|n| show(&n)).unwrap_or_else(|e| format!("error {e}"))
    }

    #[test]
    fn precedence() {
        assert_eq!(shape("a == \"x\" || b && !c in [d]"), "(|| (== a \"x\") (&& b (! (in c [d]))))");
        assert_eq!(shape("a && b && c || d"), "(|| (&& a b c) d)");
        assert_eq!(shape("(a || b) && c"), "(&& (|| a b) c)");
        assert_eq!(shape("!!a"), "(! (! a))");
        assert_eq!(shape("f(a, g(b),)"), "(f a (g b))");
        assert_eq!(shape("[]"), "[]");
    }

    #[test]
    fn spans_cover_the_construct() {
        let src = "  lower( x )  ";
        let tokens = tokenize(src).unwrap_or_default();
        assert_eq!(parse(src, &tokens).map(|n| n.span), Ok(2..12));
    }
}
