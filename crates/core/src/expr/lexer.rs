//! Source text → tokens with byte spans. The whole token list is built up front: the source is
//! at most [`super::MAX_SOURCE_LEN`] bytes, so it stays small, and the parser gets free lookahead.

use std::ops::Range;

use super::error::ExprError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An attribute, function or operator word. May contain dots (`custom.costCenter`).
    Ident(String),
    Str(String),
    Num(u32),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    EqEq,
    NotEq,
    AndAnd,
    OrOr,
    Bang,
    Eof,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Num(n) => format!("the number {n}"),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::LBracket => "'['".to_owned(),
            Tok::RBracket => "']'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::EqEq => "'=='".to_owned(),
            Tok::NotEq => "'!='".to_owned(),
            Tok::AndAnd => "'&&'".to_owned(),
            Tok::OrOr => "'||'".to_owned(),
            Tok::Bang => "'!'".to_owned(),
            Tok::Eof => "the end of the expression".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Range<usize>,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        let start = i;
        let two = bytes.get(i + 1).copied();
        let single = |tok| (tok, 1);
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += c.len_utf8();
                continue;
            }
            '(' => single(Tok::LParen),
            ')' => single(Tok::RParen),
            '[' => single(Tok::LBracket),
            ']' => single(Tok::RBracket),
            ',' => single(Tok::Comma),
            '=' if two == Some(b'=') => (Tok::EqEq, 2),
            '!' if two == Some(b'=') => (Tok::NotEq, 2),
            '&' if two == Some(b'&') => (Tok::AndAnd, 2),
            '|' if two == Some(b'|') => (Tok::OrOr, 2),
            '!' => single(Tok::Bang),
            '=' => return Err(ExprError::new(src, start..start + 1, "'=' is not an operator; compare with '=='")),
            '&' => return Err(ExprError::new(src, start..start + 1, "'&' is not an operator; use '&&'")),
            '|' => return Err(ExprError::new(src, start..start + 1, "'|' is not an operator; use '||'")),
            '"' | '\'' => string(src, start, c)?,
            '0'..='9' => number(src, start)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let len = ident_len(&bytes[start..]);
                (Tok::Ident(src[start..start + len].to_owned()), len)
            }
            c => {
                let message = format!("unexpected character '{c}'");
                return Err(ExprError::new(src, start..start + c.len_utf8(), message));
            }
        };
        i += len;
        tokens.push(Token { tok, span: start..i });
    }
    tokens.push(Token { tok: Tok::Eof, span: src.len()..src.len() });
    Ok(tokens)
}

/// Identifier characters, with single dots between segments so `custom.costCenter` is one name
/// while a trailing dot is left for the parser to reject.
fn ident_len(rest: &[u8]) -> usize {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut n = 0;
    loop {
        while rest.get(n).is_some_and(|&b| is_ident(b)) {
            n += 1;
        }
        if rest.get(n) == Some(&b'.') && rest.get(n + 1).is_some_and(|&b| is_ident(b)) {
            n += 1;
        } else {
            return n;
        }
    }
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let digits = src[start..].bytes().take_while(u8::is_ascii_digit).count();
    let end = start + digits;
    if src.as_bytes().get(end).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'.') {
        return Err(ExprError::new(src, start..end + 1, "a number must be a whole number, e.g. 20"));
    }
    match src[start..end].parse::<u32>() {
        Ok(n) => Ok((Tok::Num(n), digits)),
        Err(_) => Err(ExprError::new(src, start..end, "number too large")),
    }
}

/// A string in double or single quotes. Escapes: `\\`, `\"`, `\'`, `\n`, `\t`; any other backslash
/// is kept as written, so regex patterns such as `"\d+\.\w"` need no doubling.
fn string(src: &str, start: usize, quote: char) -> Result<(Tok, usize), ExprError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((Tok::Str(out), off + 2)),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\'')) => out.push('\''),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(ExprError::new(src, start..start + 1, "unterminated string: missing closing quote"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).map(|t| t.into_iter().map(|t| t.tok).collect()).unwrap_or_default()
    }

    #[test]
    fn names_keep_dotted_segments() {
        assert_eq!(toks("custom.cost_center"), [Tok::Ident("custom.cost_center".into()), Tok::Eof]);
        assert_eq!(tokenize("custom.").err().map(|e| e.column), Some(7));
    }

    #[test]
    fn operators_and_spans() {
        let tokens = tokenize("a==\"é\"&&!b").unwrap_or_default();
        let spans: Vec<_> = tokens.iter().map(|t| t.span.clone()).collect();
        assert_eq!(spans, [0..1, 1..3, 3..7, 7..9, 9..10, 10..11, 11..11]);
        assert_eq!(
            toks("x != 'y' || 12"),
            [Tok::Ident("x".into()), Tok::NotEq, Tok::Str("y".into()), Tok::OrOr, Tok::Num(12), Tok::Eof]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(toks(r#""a\"b\\c\d\n""#), [Tok::Str("a\"b\\c\\d\n".into()), Tok::Eof]);
        assert_eq!(
            tokenize("'abc\\").err().map(|e| e.message).as_deref(),
            Some("unterminated string: missing closing quote")
        );
        assert_eq!(tokenize("12ab").err().map(|e| e.column), Some(1));
    }
}
